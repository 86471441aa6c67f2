"""The shared read model: one model's view of the store (space, concepts, text side).

Search, similarity, tagging, playlists and evaluation all read the library through ``Library``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.concepts import concept_weights_to_columns
from musictext.config import db_path, index_dir
from musictext.errors import MusictextError, NotFoundError
from musictext.filters import parse_where
from musictext.library.scan import printable_path
from musictext.library.space import Space, bundle_concepts, load_space, top_rows
from musictext.library.store import Store, TrackRow
from musictext.model.bundle import Bundle, get_bundle, model_name
from musictext.query import STOPWORDS, UNKNOWN_THRESHOLD, ConceptMatcher, TermPlan, parse_terms, words_of

LOOSE_WEIGHT = 0.5  # a word that names no concept counts half as much as one that does


def blend_key(text: str) -> str:
    """A query or caption word as a trained head's per-word blend is keyed: its content words."""
    return " ".join(w for w in words_of(text) if w not in STOPWORDS)


@dataclass
class Part:
    """One reason a query scores a track: concepts (a matched word, a lexicon entry) or a vector
    in the joint space (a word that names no concept, a seed), with its signed factor."""

    label: str
    weights: dict[int, float] | None = None  # concept -> weight
    vector: np.ndarray | None = None  # unit vector, scored as a z-score over the library
    factor: float = 1.0
    _spread: tuple[float, float] | None = None


@dataclass
class Explanation:
    """How a query's score is made, part by part, for ``--explain``: every result gets a reason."""

    parts: list[Part] = field(default_factory=list)
    scale: float = 1.0  # the score is sum(parts) / scale
    view: Library | None = field(default=None, repr=False)  # whose space the parts are measured in (None: the caller's)

    def __bool__(self) -> bool:
        return bool(self.parts)


def _signed(label: str, weight: float) -> str:
    return f"−{label}" if weight < 0 else label


@dataclass(frozen=True)
class SearchResult:
    rank: int
    score: float
    track: TrackRow
    why: tuple[tuple[str, float], ...] = ()  # (concept, contribution) for --explain


@dataclass
class SearchOutcome:
    results: list[SearchResult]
    warnings: list[str] = field(default_factory=list)
    understood: list[tuple[str, str, float]] = field(default_factory=list)  # (span, concept, weight)
    total: int = 0
    seed: dict | None = None  # what a similarity phrase ("like X") resolved to (musictext.seeds)


class Library:
    """A read-only view of the store for one model: space, concepts, text side."""

    def __init__(self, model: str | None = None):
        self.bundle: Bundle = get_bundle(model)
        if self.bundle.base:
            self.bundle.base_bundle()  # a trained head whose base is gone: one line, before anything else
        self.store = Store(db_path(), readonly=True)
        self.audio_model = self.bundle.base or self.bundle.model_id
        self.space: Space = load_space(self.store, self.bundle, self.audio_model, index_dir())
        if len(self.space) == 0:
            raise NotFoundError("the library is empty for this model: run `musictext index PATH` first")
        self._matcher: ConceptMatcher | None = None
        self._base: Library | None = None

    @classmethod
    def over(cls, bundle: Bundle, space: Space, base: Library | None = None) -> Library:
        """A view of an in-memory space with no store behind it: `musictext train` scores its
        validation files through it exactly as search would (``base``: the base model's view)."""
        lib = cls.__new__(cls)
        lib.bundle, lib.store, lib.space = bundle, None, space
        lib.audio_model = bundle.base or bundle.model_id
        lib._matcher, lib._base = None, base
        return lib

    @property
    def text(self):
        from musictext.model.textspace import text_side

        return text_side(self.bundle)

    @property
    def concept_text(self):
        """The text tower that names concepts: a CLAP bundle's base's (concept matching was tuned on
        it); the CLAP text tower scores the joint space."""
        if self.bundle.manifest.get("kind") == "clap":
            from musictext.model.textspace import text_side

            return text_side(get_bundle(self.bundle.base_name))
        return self.text

    @property
    def matcher(self) -> ConceptMatcher:
        if self._matcher is None:
            from musictext.evidence import opposite
            from musictext.lexicon import bundle_lexicon

            self.concepts = bundle_concepts(self.bundle)
            phrases = [p for c in self.concepts for p in c.phrases]
            self.concept_text.encode(phrases)
            self._matcher = ConceptMatcher(
                self.concepts, self.concept_text.encode, bundle_lexicon(self.bundle), opposite
            )
        return self._matcher

    def rows_for(self, where: list[str] | None) -> np.ndarray | None:
        clause = parse_where(where)
        if clause.empty:
            return None
        mood = None
        if clause.mood_fields:
            from musictext.audio.mood import INSTALL, find_mood_model

            model = find_mood_model()
            if not model.available:
                why = model.problem or f"vibenet is not installed ({INSTALL})"
                raise MusictextError(f"--where {clause.mood_fields[0]}: mood axes are unavailable: {why}")
            mood = model.model_id
        ids = self.store.matching_ids(clause, self.audio_model, mood)
        return np.array([i for i, t in enumerate(self.space.ids) if int(t) in ids], dtype=np.int64)

    def text_scores(self, query: str, rows: np.ndarray | None) -> tuple[np.ndarray, SearchOutcome, dict]:
        """Scores of every (filtered) track for ``query``: concept scores where the query names
        concepts, joint-space similarity (standardised) for terms that name none."""
        return self.blended_scores(query, rows, self.joint_share(query))

    def joint_share(self, query: str) -> float | None:
        """How much of a trained head's joint space counts for ``query`` (the rest: concept scores),
        or None where its training chose the base model's scoring (see musictext.train.blend)."""
        if self.bundle.manifest.get("scoring") != "joint":
            return 0.0
        blend = self.bundle.manifest.get("blend")
        if blend is None:  # a head trained before blends were chosen: half and half, as then
            return 0.5
        rule = blend.get("words", {}).get(blend_key(query), blend.get("default"))
        return None if rule is None or rule == "base" else float(rule)

    def blended_scores(
        self, query: str, rows: np.ndarray | None, share: float | None
    ) -> tuple[np.ndarray, SearchOutcome, dict]:
        """``(1 - share)`` × concept scores + ``share`` × the whole query's standardised joint-space
        similarity; ``share`` None: the base model's own scores (a trained head's fallback)."""
        terms = parse_terms(query)
        if not terms:
            raise NotFoundError("empty query")
        if share is None and self.bundle.base:
            base = self.base_view()
            if base is not None:
                self.matcher  # noqa: B018 -- --explain names the base's concepts, a prefix of this bundle's
                scores, outcome, weights = base.text_scores(query, rows)
                weights.view = base  # --explain measures each part where it was scored: the base's space
                return scores, outcome, weights
        scores, outcome, weights = self._concept_path(terms, rows)
        if share:
            q = sum(t.weight * v for t, v in zip(terms, self.text.encode([t.text for t in terms])))
            everything = self.space.joint_scores(q / max(float(np.linalg.norm(q)), 1e-9))
            z = (everything - everything.mean()) / max(float(everything.std()), 1e-6)
            scores = (1 - share) * scores + share * (z if rows is None else z[rows])
            unit = q / max(float(np.linalg.norm(q)), 1e-9)
            for part in weights.parts:
                part.factor *= 1 - share
            weights.parts.append(Part("joint space (trained head): the whole query", vector=unit, factor=share))
        return scores, outcome, weights

    def base_view(self) -> Library | None:
        """The base model's view of the same tracks, row for row (None when the store holds no base
        vectors for some of them: the trained head's concept scores stand in)."""
        if self._base is None and self.store is not None:
            base = self.bundle.base_bundle()
            space = load_space(self.store, base, base.model_id, index_dir())
            if not np.array_equal(space.ids, self.space.ids):  # e.g. files indexed with the base only
                at = np.minimum(np.searchsorted(space.ids, self.space.ids), max(len(space) - 1, 0))
                if not len(space) or not np.array_equal(space.ids[at], self.space.ids):
                    return None
                raw, joint = np.asarray(space.raw)[at], np.asarray(space.joint)[at]
                space = Space(space.model, self.space.ids, raw, space.mu, space.sd, joint)
            self._base = Library.over(base, space)
            self._base.store = self.store
        return self._base

    def _concept_path(self, terms, rows: np.ndarray | None) -> tuple[np.ndarray, SearchOutcome, Explanation]:
        outcome = SearchOutcome([])
        n = len(self.space) if rows is None else len(rows)
        scores = np.zeros(n, dtype=np.float64)
        plans: list[TermPlan] = [self.matcher.plan(t) for t in terms]
        weights = self.matcher.weights(plans)
        total_weight = sum(abs(w) for w in weights.values())
        explanation = Explanation()
        if weights:
            cols = concept_weights_to_columns(self.concepts, weights, self.space.raw.shape[1])
            scores += self.space.concept_scores(cols, rows)
        for plan in plans:
            entries: dict[str, dict[int, float]] = {}
            for m in plan.matches:
                w = self.matcher.weights([TermPlan(plan.term, [m])])[m.concept]
                if m.entry:
                    entries.setdefault(m.entry, {})[m.concept] = entries.get(m.entry, {}).get(m.concept, 0.0) + w
                else:
                    outcome.understood.append((m.span, self.concepts[m.concept].name, round(m.similarity, 3)))
                    explanation.parts.append(Part(_signed(self.concepts[m.concept].name, w), {m.concept: w}))
            for entry, entry_weights in entries.items():
                word, _, meaning = entry.partition(" → ")
                outcome.understood.append((word, f"lexicon ({meaning})", 1.0))
                label = _signed(f"lexicon: {entry}", plan.term.weight)
                explanation.parts.append(Part(label, entry_weights))
            if plan.matched:
                # Words near the space that name no concept still count, softly, through the joint space.
                soft = [(w, LOOSE_WEIGHT) for w in plan.loose]
            else:
                soft = [(plan.term.text, 1.0)]
                closest, sim = plan.closest or ("", 0.0)
                if sim < UNKNOWN_THRESHOLD:
                    outcome.warnings.append(
                        f"nothing in the model is close to {plan.term.text!r} (closest: {closest!r}, "
                        f"similarity {sim:.2f}); its ranking is a guess"
                    )
            if plan.matched and plan.unknown:
                outcome.warnings.append(f"ignored {', '.join(map(repr, plan.unknown))}: nothing in the model is close")
            for text, share in soft:
                scores += plan.term.weight * share * self.joint_z(text, rows)
                total_weight += abs(plan.term.weight) * share
                outcome.understood.append((text, "(joint space)", share))
                vec = self.text.encode([text])[0]
                label = _signed(f"joint space: {text!r}", plan.term.weight)
                explanation.parts.append(Part(label, vector=vec, factor=plan.term.weight * share))
        explanation.scale = max(total_weight, 1e-9)
        return scores / explanation.scale, outcome, explanation

    def joint_z(self, text: str, rows: np.ndarray | None) -> np.ndarray:
        """Similarity of each track's joint vector to ``text``, standardised over the library."""
        vec = self.text.encode([text])[0]
        everything = self.space.joint_scores(vec)
        part = everything if rows is None else everything[rows]
        return (part - everything.mean()) / max(float(everything.std()), 1e-6)

    def explain(self, row: int, explanation: Explanation) -> tuple[tuple[str, float], ...]:
        """(reason, contribution to the score) of every part of a query, for one track, largest first.
        Parts scored by another view (a trained head's fallback to its base) are measured there, on
        the same row: its space is aligned row for row with this one."""
        lib = explanation.view or self
        parts = []
        for part in explanation.parts:
            if part.weights is not None:
                cols = concept_weights_to_columns(lib.concepts, part.weights, lib.space.raw.shape[1])
                value = float(lib.space.concept_scores(cols, np.array([row]))[0])
            else:
                if part._spread is None:
                    everything = lib.space.joint_scores(part.vector)
                    part._spread = (float(everything.mean()), max(float(everything.std()), 1e-6))
                mean, sd = part._spread
                value = (float(lib.space.joint[row] @ part.vector.astype(np.float32)) - mean) / sd
            parts.append((part.label, round(value * part.factor / explanation.scale, 2)))
        return tuple(sorted(parts, key=lambda p: -p[1]))

    def results(
        self,
        scores: np.ndarray,
        rows: np.ndarray | None,
        n: int,
        exclude: set[int] = frozenset(),
        weights: Explanation | None = None,
        all_copies: bool = False,
    ) -> list[SearchResult]:
        """The ``n`` best-scored tracks, ``exclude`` and its copies left out. Copies of one file
        (same content hash, or the same file reached through a symlink) count once, at the rank
        of the best-placed one, unless ``all_copies``."""
        n = min(n, len(scores))
        seen: set[tuple[str, str]] = set()
        for t in self.store.tracks(exclude).values():
            seen |= copy_keys(t)
        picked: list[tuple[int, TrackRow, float]] = []
        allowed = None if rows is None or all_copies else set(self.space.ids[rows].tolist())
        # Enough for the first chunk below, so that a plain query never sorts the whole library.
        ranked = _ranked(scores, max(16, 2 * n) + len(exclude) + (0 if all_copies else 8))
        while len(picked) < n:
            chunk = [int(i) for _, i in zip(range(max(16, 2 * (n - len(picked)))), ranked)]
            if not chunk:
                break
            chunk_rows = [i if rows is None else int(rows[i]) for i in chunk]
            tids = [int(self.space.ids[r]) for r in chunk_rows]
            tracks = self.store.tracks([t for t in tids if t not in exclude])
            for i, row, tid in zip(chunk, chunk_rows, tids):
                if tid in exclude or tid not in tracks or not np.isfinite(scores[i]):
                    continue
                keys = copy_keys(tracks[tid])
                if not all_copies and keys & seen:
                    continue
                seen |= keys
                track = tracks[tid] if all_copies else self._original(tracks[tid], allowed, exclude)
                picked.append((self.space.row_of.get(track.id, row), track, float(scores[i])))
                if len(picked) >= n:
                    break
        out = []
        for rank, (row, track, score) in enumerate(picked, 1):
            why = self.explain(row, weights) if weights else ()
            out.append(SearchResult(rank, round(score, 4), track, why))
        return out

    def _original(self, track: TrackRow, allowed: set[int] | None, exclude: set[int]) -> TrackRow:
        """The copy that stands for ``track``'s group: a real file before a symlink, then the oldest
        (a copy is made after its original), then the shortest path; among the (filtered) candidates."""
        members = [
            t
            for t in self.store.tracks_by_hash(track.content_hash)
            if t.id in self.space.row_of and t.id not in exclude and (allowed is None or t.id in allowed)
        ]
        if len(members) < 2:
            return track
        return min(members, key=lambda t: (os.path.islink(t.path), t.mtime_ns, len(t.path), t.path))

    def short_notes(self, results: list[SearchResult]) -> list[str]:
        """For --explain: which results are too short to judge, and how they were ranked."""
        from musictext.library.space import SHORT_SECONDS, measured_seconds

        ids = np.array([r.track.id for r in results], np.int64)
        seconds = measured_seconds(self.store, self.audio_model, ids)
        return [
            f"{r.track.path}: only {s:.1f} s of audio (under {SHORT_SECONDS:.1f} s, too short to judge): its tempo,"
            " loudness and other measured descriptors count as the library's average, its tags count less"
            for r, s in zip(results, seconds)
            if s < SHORT_SECONDS
        ]

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def copy_keys(track: TrackRow) -> set[tuple[str, str]]:
    """What makes two tracks copies of one file: the same content hash, or the same real path."""
    return {("hash", track.content_hash), ("file", os.path.realpath(track.path))}


def _ranked(scores: np.ndarray, want: int):
    """Indices of ``scores``, best first (ties by row); the top ``want`` without sorting a large library."""
    want = max(1, min(want, len(scores)))
    if want < len(scores) // 4:
        top = top_rows(scores, want)
        yield from top
        taken = set(top.tolist())
        yield from (i for i in np.argsort(-scores, kind="stable") if int(i) not in taken)
    else:
        yield from np.argsort(-scores, kind="stable")


def seed_vector(lib: Library, path: str) -> tuple[np.ndarray, set[int]]:
    """The joint vector of a file: stored if indexed (under its own path, its real path, or as a
    byte-identical copy), else analysed on the fly; and the ids of the seed and its copies."""
    abspath = os.path.abspath(os.path.expanduser(path))
    # A name that is not valid UTF-8 is never in the store (the index skips it): analyse it.
    track = None
    if printable_path(abspath) == abspath:
        track = lib.store.track_by_path(abspath) or lib.store.track_by_path(os.path.realpath(abspath))
        if track is None and Path(abspath).is_file():
            from musictext.library.files import content_hash

            try:
                same = lib.store.tracks_by_hash(content_hash(abspath, Path(abspath).stat().st_size))
            except OSError:
                same = []
            track = next((t for t in same if t.id in lib.space.row_of), None)
    if track is not None and track.id in lib.space.row_of:
        copies = {t.id for t in lib.store.tracks_by_hash(track.content_hash)}
        return np.asarray(lib.space.joint[lib.space.row_of[track.id]]), {track.id} | copies
    if not Path(abspath).exists():
        raise NotFoundError("no such file", abspath)
    from musictext.audio.tower import analyse_one
    from musictext.library.index import DEFAULT_BUDGET

    if lib.bundle.manifest.get("kind") == "clap":
        from musictext.model.clap import file_vector

        return file_vector(lib.bundle, abspath, DEFAULT_BUDGET), set()

    feats = analyse_one(abspath, get_bundle(model_name(lib.audio_model)), DEFAULT_BUDGET)
    if not lib.bundle.builtin:
        from musictext.model.heads import project_features

        desc = {k: np.array([np.nan if v is None else v], np.float32) for k, v in feats.descriptors.items()}
        return project_features(lib.bundle, feats.probs[None], feats.pooled[None], desc)[0], set()
    from musictext.model.textspace import joint_vectors

    return joint_vectors(feats.probs[None], lib.text.tag_embeddings())[0], set()
