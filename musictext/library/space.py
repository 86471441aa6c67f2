"""A model's view of the library: the concept matrix and joint vectors of every indexed track.

Derived from the store and cached as .npy files beside the HNSW index, keyed by the store's
generation counter, so a cold search maps a few files instead of decoding thousands of blobs.
Every file carries its sha256 (library/derived.py); a cache that does not match is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from musictext.atomic import atomic_path
from musictext.audio.mood import MOOD_AXES
from musictext.concepts import DESCRIPTOR_COLUMNS, Concept, build_concepts, concept_matrix, standardise
from musictext.library import derived
from musictext.library.store import Store
from musictext.model.bundle import Bundle, model_filename
from musictext.model.probes import learned_concepts, probe_columns, probes_owner

TOP_SAMPLE = 8192  # scores sampled to find a threshold for the top k


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """The rows of the ``k`` highest scores, best first, ties by row: exactly
    ``np.argsort(-scores, kind="stable")[:k]``, without sorting or partitioning a large library.

    A threshold that at least ``k`` scores reach is taken from a strided sample (or, for a small
    library, by partitioning); only the scores at or above it (a few thousand of a million) are
    sorted. Every score equal to the k-th best is at or above the threshold, so ties come out in
    row order, as the stable sort puts them."""
    n = len(scores)
    k = max(0, min(int(k), n))
    if k == 0:
        return np.zeros(0, np.int64)
    step = n // TOP_SAMPLE
    threshold = None
    if step >= 4:
        sample = scores[::step]
        j = int(np.ceil(4 * k * len(sample) / n)) + 16  # expect ~4k + 16·step candidates
        if j < len(sample) // 2:
            threshold = np.partition(sample, len(sample) - j)[len(sample) - j]
    if threshold is None:
        threshold = -np.partition(-scores, k - 1)[k - 1]
    candidates = np.flatnonzero(scores >= threshold)
    if len(candidates) < k:  # NaN scores, or too few at or above a sampled threshold
        return np.argsort(-scores, kind="stable")[:k]
    order = np.lexsort((candidates, -scores[candidates]))[:k]
    return candidates[order]


class RowLookup:
    """track id -> row, as a read-only mapping (``in``, ``[]``, ``get``). A search looks up a few
    dozen ids: a binary search over the (sorted) ids serves those without building a dict of the
    whole library (25 ms at 100k tracks, 250 ms at 1M); a caller that looks up thousands gets the
    dict after the first 1,000."""

    DICT_AFTER = 1000

    def __init__(self, ids: np.ndarray):
        ids = np.asarray(ids, dtype=np.int64)
        self._ids = ids
        self._order = None if len(ids) < 2 or bool(np.all(ids[1:] > ids[:-1])) else np.argsort(ids, kind="stable")
        self._keys = ids if self._order is None else ids[self._order]
        self._dict: dict[int, int] | None = None
        self._calls = 0

    def get(self, tid, default=None):
        if self._dict is None:
            self._calls += 1
            if self._calls > self.DICT_AFTER:
                self._dict = {int(t): i for i, t in enumerate(self._ids)}
        if self._dict is not None:
            return self._dict.get(int(tid), default)
        i = int(np.searchsorted(self._keys, int(tid)))
        if i >= len(self._keys) or int(self._keys[i]) != int(tid):
            return default
        return i if self._order is None else int(self._order[i])

    def __contains__(self, tid) -> bool:
        return self.get(tid) is not None

    def __getitem__(self, tid) -> int:
        row = self.get(tid)
        if row is None:
            raise KeyError(tid)
        return row

    def __len__(self) -> int:
        return len(self._ids)


@dataclass(frozen=True)
class JointFactor:
    """``joint ≈ coords @ basis`` (orthonormal basis rows) and each row's distance from that: an
    exact top-k reads the r coordinates instead of the d dimensions, then rescores only the rows
    that could be in it. The built-in model's joint vectors are mixes of its 100 tag embeddings,
    so r = 100 of d = 384: a quarter of the bytes."""

    coords: np.ndarray  # [n, r]
    basis: np.ndarray  # [r, d]
    residual: np.ndarray  # [n] |joint_i - coords_i @ basis|


FACTOR_MIN_TRACKS = 50_000  # below this an exact scan of the joint vectors is fast enough as it is
FACTOR_SAMPLE = 20_000  # rows the basis is found on (rows off it only widen the rescoring)
FACTOR_MAX_SHARE = 0.5  # no factor when the vectors need more than half the dimensions
FACTOR_SLACK = 1e-4  # rounding allowance per unit of |query| on the approximate scores
FACTOR_LOOSE = 1e-3  # rows farther than this from the basis are scored exactly, not bounded
FACTOR_LOOSE_SHARE = 0.01  # past this share of loose rows, each row gets its own bound instead


def joint_factor(joint: np.ndarray) -> JointFactor | None:
    """The low-rank factor of ``joint``, or None when it would not save reading (full rank)."""
    n, d = joint.shape
    if n == 0:
        return None
    sample = np.asarray(joint[:: max(1, n // FACTOR_SAMPLE)], np.float64)
    values, vectors = np.linalg.eigh(sample.T @ sample)
    keep = values > max(float(values.max()), 1e-30) * 1e-9
    if keep.sum() > d * FACTOR_MAX_SHARE:
        return None
    basis = np.ascontiguousarray(vectors[:, keep].T, np.float32)
    coords = np.empty((n, basis.shape[0]), np.float32)
    residual = np.empty(n, np.float32)
    for start in range(0, n, 65536):
        block = np.asarray(joint[start : start + 65536], np.float32)
        c = block @ basis.T
        coords[start : start + len(block)] = c
        residual[start : start + len(block)] = np.linalg.norm(block - c @ basis, axis=1)
    return JointFactor(coords, basis, residual)


@dataclass
class Space:
    model: str
    ids: np.ndarray  # [n] track ids
    raw: np.ndarray  # [n, columns] concept matrix (tag log-odds + descriptors), column-major (see LAYOUT)
    mu: np.ndarray
    sd: np.ndarray
    joint: np.ndarray  # [n, d] unit joint vectors
    factor: JointFactor | None = None  # joint's low-rank factor, for exact top-k (large libraries)

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def row_of(self) -> RowLookup:
        return RowLookup(self.ids)

    def concept_scores(self, column_weights: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Σ weight·z over columns, z standardised over the whole library (not just the filtered rows).

        A query names a handful of concepts: only their columns are read, each one contiguous in
        the column-major matrix (at 1M tracks 4 MB a column instead of the whole 500 MB matrix)."""
        w = (column_weights / self.sd).astype(np.float32)
        named = np.flatnonzero(w)
        offset = float(self.mu[named].astype(np.float32) @ w[named])
        if not self.raw.flags.f_contiguous or len(named) * 4 > self.raw.shape[1]:
            raw = self.raw if rows is None else self.raw[rows]
            return raw @ w - offset  # row-major (an old cache) or a query naming most columns
        out = np.zeros(len(self.ids) if rows is None else len(rows), np.float32)
        tmp = np.empty_like(out)
        for j in named:
            column = self.raw[:, j] if rows is None else self.raw[rows, j]
            np.multiply(column, w[j], out=tmp)
            out += tmp
        out -= np.float32(offset)
        return out

    @cached_property
    def _loose_rows(self) -> tuple[np.ndarray, float]:
        """The rows whose distance from the factor's basis exceeds FACTOR_LOOSE, and the largest
        distance among the others (the one bound joint_top needs for them)."""
        residual = np.asarray(self.factor.residual)
        loose = np.flatnonzero(residual > FACTOR_LOOSE)
        tight = float(np.max(residual, initial=0.0, where=residual <= FACTOR_LOOSE))
        return loose, tight

    def joint_scores(self, vec: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        joint = self.joint if rows is None else self.joint[rows]
        return joint @ vec.astype(np.float32)

    def joint_top(self, vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the ``k`` tracks most similar to ``vec``, best first, ties by row:
        exact, the same as the top k of ``joint_scores``. With a factor, the approximate scores
        bound every exact one (|error| <= residual·|vec| + slack), the k-th best lower bound
        rules the rest out, and only the rows that could still be in the top k are rescored."""
        q = np.asarray(vec, np.float32)
        if k <= 0 or len(self) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if self.factor is None:
            scores = self.joint_scores(q)
            top = top_rows(scores, k)
            return top, scores[top]
        f = self.factor
        qn = float(np.linalg.norm(q))
        approx = f.coords @ (f.basis @ q)
        loose, tight_residual = self._loose_rows
        if len(loose) <= FACTOR_LOOSE_SHARE * len(self):
            # One bound for every row: the rows far off the basis (few or none) are scored exactly
            # here, so no per-row slack array is made, added or compared.
            if len(loose):
                approx[loose] = np.asarray(self.joint[loose], np.float32) @ q
            slack = np.float32(tight_residual * qn * 1.001 + FACTOR_SLACK * max(qn, 1e-9))
            best = top_rows(approx, k)
            floor = float(approx[best].min()) - float(slack)  # the k-th best exact score is at least this
            rows = np.flatnonzero(approx >= np.float32(floor - float(slack)))
            exact = np.asarray(self.joint[rows], np.float32) @ q
            order = np.lexsort((rows, -exact))[:k]
            return rows[order], exact[order]
        slack = f.residual * np.float32(qn * 1.001) + np.float32(FACTOR_SLACK * max(qn, 1e-9))
        best = top_rows(approx, k)
        floor = float((approx[best] - slack[best]).min())  # the k-th best exact score is at least this
        np.add(approx, slack, out=approx)
        rows = np.flatnonzero(approx >= floor)
        exact = np.asarray(self.joint[rows], np.float32) @ q
        order = np.lexsort((rows, -exact))[:k]
        return rows[order], exact[order]


# How the cached concept matrix is laid out on disk and in memory: one column after another, so a
# query reads only the columns of the concepts it names. A cache of another layout is rebuilt.
LAYOUT = "columns"


# Below two musicnn windows (2 x 2.976 s) a track is too short to judge: its one window is partly
# zero padding (log-mel 0, which the taggers hear as silence), a truncated file's sampled window
# reaches past the real end, and a tempo or onset rate over under 6 s is a handful of beats. Such a
# track is ranked by what was measured, not by the padding: its descriptor columns are set to the
# library's mean (z = 0), and its tag and learned columns are shrunk toward the mean in proportion
# to the real audio behind them (a 3 s clip keeps half its distance from the mean; one noisy window
# cannot outrank tracks measured on eight). Tracks of SHORT_SECONDS or more are left exactly as measured.
SHORT_SECONDS = 2 * 187 * 256 / 16000


def measured_seconds(store: Store, audio_model: str, ids: np.ndarray) -> np.ndarray:
    """[n] seconds of real audio behind the features of each of ``ids`` (inf where unknown)."""
    known, seconds = store.measured_seconds(audio_model)
    out = np.full(len(ids), np.inf)
    if len(ids) and len(known):
        at = np.clip(np.searchsorted(known, ids), 0, len(known) - 1)
        hit = known[at] == ids
        out[hit] = seconds[at][hit]
    return out


def short_count(store: Store, audio_model: str) -> int:
    """How many tracks analysed with ``audio_model`` are too short to judge (see SHORT_SECONDS)."""
    return int((store.measured_seconds(audio_model)[1] < SHORT_SECONDS).sum())


def judge_short(raw: np.ndarray, seconds: np.ndarray, n_tags: int, mean: np.ndarray) -> np.ndarray:
    """``raw`` with short tracks' rows set to ``mean`` (the library's column means, so z = 0) in
    the descriptor columns and shrunk toward it in the others. The means and spreads are those of
    the measured matrix, so every other track scores exactly as it would without this."""
    short = seconds < SHORT_SECONDS
    if not short.any() or short.all():
        return raw  # nothing short, or nothing long enough to compare with
    raw = raw.copy()
    keep = np.clip(seconds[short] / SHORT_SECONDS, 0.0, 1.0)[:, None].astype(np.float32)
    raw[short] = mean + keep * (raw[short] - mean)
    desc = slice(n_tags, n_tags + len(DESCRIPTOR_COLUMNS))
    raw[np.ix_(short, np.arange(raw.shape[1])[desc])] = mean[desc]
    return raw


def active_mood() -> str | None:
    """The mood model id whose axes are concept columns: the installed vibenet's, else None."""
    from musictext.audio.mood import find_mood_model

    model = find_mood_model()
    return model.model_id if model.available else None


def bundle_concepts(bundle: Bundle) -> list[Concept]:
    from musictext.audio.mood import MOOD_AXES

    tags = bundle.manifest["tags"]
    learned = learned_concepts(bundle)
    pairs = tuple(zip(learned.names, learned.phrases)) if learned else ()
    mood = MOOD_AXES if active_mood() else ()
    return build_concepts([t["name"] for t in tags], [t["source"] for t in tags], pairs, mood)


def describe_concepts(bundle: Bundle) -> list[dict]:
    """Every concept a query can name: name, phrasings, where its columns come from (the tagger
    networks, "descriptor", "learned") and, for a learned concept, its validation ROC-AUC."""
    tags = bundle.manifest["tags"]
    first_learned = len(tags) + len(DESCRIPTOR_COLUMNS)
    learned = learned_concepts(bundle)
    first_mood = first_learned + (len(learned) if learned else 0)
    listed = probes_owner(bundle).manifest.get("learned_concepts") or []
    auc = {c["name"]: c.get("validation_auc") for c in listed}
    out = []
    for c in bundle_concepts(bundle):
        sources = []
        for col, _ in c.columns:
            if col < len(tags):
                src = tags[col]["source"]
            else:
                src = "descriptor" if col < first_learned else "learned" if col < first_mood else "mood"
            if src not in sources:
                sources.append(src)
        entry = {"name": c.name, "sources": sources, "phrases": [p for p in c.phrases if p != c.name]}
        if "learned" in sources:
            entry["validation_auc"] = auc.get(c.name)
        out.append(entry)
    return out


def concepts_signature(bundle: Bundle) -> str:
    """What the concept matrix's columns depend on besides the store: the learned concepts file,
    and which mood model's axes are columns (installing or removing vibenet rebuilds the cache)."""
    learned = learned_concepts(bundle)
    mood = active_mood()
    return (learned.signature if learned else "") + (f"|{mood}" if mood else "")


FACTOR_KEYS = ("coords", "basis", "residual")  # JointFactor's arrays, cached beside the space


def _cache_paths(index_dir: Path, model: str) -> dict[str, Path]:
    safe = model_filename(model)
    return {k: index_dir / f"{safe}.{k}.npy" for k in ("ids", "raw", "joint", *FACTOR_KEYS)} | {
        "meta": index_dir / f"{safe}.space.json"
    }


def build_space(store: Store, bundle: Bundle, audio_model: str) -> Space:
    ids, probs, pooled, desc = store.features_matrix(audio_model)
    vec_ids, vecs = store.vectors(bundle.model_id)
    if len(ids) and len(vec_ids):
        keep = np.isin(ids, vec_ids)
        ids, probs, pooled = ids[keep], probs[keep], pooled[keep]
        desc = {k: v[keep] for k, v in desc.items()}
        order = np.searchsorted(vec_ids, ids)
        vecs = vecs[order]
    else:
        ids = np.zeros(0, np.int64)
    learned = learned_concepts(bundle)
    mood_model = active_mood()
    width = len(bundle.manifest["tags"]) + len(DESCRIPTOR_COLUMNS) + (len(learned) if learned else 0)
    width += len(MOOD_AXES) if mood_model else 0
    if len(ids):
        mood = store.mood_matrix(mood_model, ids) if mood_model else None
        raw = concept_matrix(probs, desc, probe_columns(learned, probs, pooled) if learned else None, mood)
        mu, sd = standardise(raw)
        raw = judge_short(raw, measured_seconds(store, audio_model, ids), len(bundle.manifest["tags"]), mu)
    else:
        raw = np.zeros((0, width), np.float32)
        mu, sd = standardise(raw)
    joint = vecs if len(ids) else np.zeros((0, int(bundle.manifest["dims"]["joint"])), np.float32)
    joint = joint.astype(np.float32)
    factor = joint_factor(joint) if len(ids) >= FACTOR_MIN_TRACKS else None
    return Space(bundle.model_id, ids, np.asfortranarray(raw), mu, sd, joint, factor)


def space_health(store: Store, bundle: Bundle, index_dir: Path, force: bool = False) -> str:
    """The cached space's state: "ok", "missing", "stale" (the store moved on) or "damaged" (a file
    that does not match its checksum, or arrays that do not fit together). ``force`` hashes every
    file whatever its stamp says (`status` does)."""
    return _cached(store, bundle, index_dir, force)[1]


def load_space(store: Store, bundle: Bundle, audio_model: str, index_dir: Path) -> Space:
    """The cached space if it matches the store's generation and its checksums, else rebuilt from
    the store and cached."""
    space, _ = _cached(store, bundle, index_dir)
    if space is not None:
        return space
    space = build_space(store, bundle, audio_model)
    save_space(space, index_dir, store.generation(bundle.model_id), concepts_signature(bundle))
    return space


def _cached(store: Store, bundle: Bundle, index_dir: Path, force: bool = False) -> tuple[Space | None, str]:
    paths = _cache_paths(index_dir, bundle.model_id)
    if not paths["meta"].exists():
        return None, "missing"
    meta = derived.read_meta(paths["meta"])
    if meta is None:
        return None, derived.unusable_reason(paths["meta"])
    if (
        meta.get("generation") != store.generation(bundle.model_id)
        or meta.get("concepts", "") != concepts_signature(bundle)
        or meta.get("layout") != LAYOUT
    ):
        return None, "stale"
    files = meta.get("files") or {}
    confirmed_before = {k: bool(r.get("confirmed")) for k, r in files.items()}
    for key in ("ids", "raw", "joint"):
        if key not in files or not derived.check(paths[key], files[key], force):
            return None, "damaged"
    try:
        ids = np.load(paths["ids"])
        raw = np.load(paths["raw"], mmap_mode="r")
        joint = np.load(paths["joint"], mmap_mode="r")
        mu = np.array(meta["mu"], np.float32)
        sd = np.array(meta["sd"], np.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None, "damaged"
    n = meta.get("count")
    fits = (
        ids.shape == (n,)
        and raw.ndim == 2
        and raw.shape[0] == n
        and joint.ndim == 2
        and joint.shape[0] == n
        and mu.shape == sd.shape == (raw.shape[1],)
        and bool(np.isfinite(mu).all() and np.isfinite(sd).all() and (sd > 0).all())
        and bool(n < 2 or (np.diff(ids) > 0).all())
    )
    if not fits:
        return None, "damaged"
    factor = None
    if meta.get("factor"):
        try:
            arrays = {}
            for key in FACTOR_KEYS:
                if key not in files or not derived.check(paths[key], files[key], force):
                    return None, "damaged"
                arrays[key] = np.load(paths[key], mmap_mode="r")
        except (OSError, ValueError):
            return None, "damaged"
        factor = JointFactor(**arrays)
        r = factor.basis.shape[0] if factor.basis.ndim == 2 else -1
        if not (
            factor.coords.shape == (n, r)
            and factor.basis.shape == (r, joint.shape[1])
            and factor.residual.shape == (n,)
        ):
            return None, "damaged"
    if any(r.get("confirmed") and not confirmed_before[k] for k, r in files.items()):
        try:
            derived.write_meta(paths["meta"], meta)  # hashed and old enough: no hash next time
        except OSError:
            pass
    return Space(bundle.model_id, ids, raw, mu, sd, joint, factor), "ok"


def save_space(space: Space, index_dir: Path, generation: int, signature: str = "") -> None:
    paths = _cache_paths(index_dir, space.model)
    try:
        files = {}
        for key in ("ids", "raw", "joint"):
            with atomic_path(paths[key]) as tmp:
                array = getattr(space, key)
                np.save(tmp, np.asfortranarray(array) if key == "raw" else np.ascontiguousarray(array))
            files[key] = derived.record(paths[key])
        if space.factor is not None:
            for key in FACTOR_KEYS:
                with atomic_path(paths[key]) as tmp:
                    np.save(tmp, np.ascontiguousarray(getattr(space.factor, key)))
                files[key] = derived.record(paths[key])
        meta = {
            "generation": generation,
            "mu": space.mu.tolist(),
            "sd": space.sd.tolist(),
            "count": len(space),
            "concepts": signature,
            "layout": LAYOUT,
            "factor": space.factor is not None,
            "files": files,
        }
        derived.write_meta(paths["meta"], meta)
    except OSError:
        pass  # a read-only data folder still searches, just without the cache
