"""The head's input: audio features of each pair's file, from the store or analysed and cached.

A row is ``probs [100] | pooled [400] | descriptors [6]`` as the base bundle's audio tower and
descriptors measured them. Files already in the library cost nothing; other files are analysed
once (like `index` does) and kept in ``MUSICTEXT_HOME/cache/`` keyed by path, size and mtime, so
a second training run decodes nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from musictext.atomic import atomic_path
from musictext.model.bundle import Bundle, model_filename
from musictext.model.heads import DESCRIPTORS, descriptor_matrix, head_inputs
from musictext.progress import Reporter


@dataclass
class FeatureTable:
    paths: list[str]
    probs: np.ndarray  # [n, tags]
    pooled: np.ndarray  # [n, d]
    descriptors: np.ndarray  # [n, 6], NaN where not measured
    # [n, 7] mood axes (MOOD_AXES order) of library tracks when the mood extra is installed, NaN rows
    # for the rest; None without the extra. They are concept columns, as in the library's own Space.
    mood: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def rows(self, fill: np.ndarray | None = None) -> np.ndarray:
        """[n, tags + d + 6] head inputs; unmeasured descriptors become ``fill`` (the training means)."""
        return head_inputs(self.probs, self.pooled, self.descriptors, fill)


def _cache_file(audio_model: str):
    from musictext.config import home

    folder = home() / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    safe = model_filename(audio_model)
    return folder / f"train-features-{safe}.npz"


def _load_cache(path) -> dict[str, tuple]:
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = json.loads(str(data["keys"]))
            return {
                k[0]: (k[1], k[2], data["probs"][i], data["pooled"][i], data["desc"][i]) for i, k in enumerate(keys)
            }
    except (OSError, ValueError, KeyError):
        return {}


def _save_cache(path, cache: dict[str, tuple]) -> None:
    if not cache:
        return
    keys = [[p, v[0], v[1]] for p, v in cache.items()]
    try:
        with atomic_path(path) as tmp:
            np.savez(
                tmp,
                keys=json.dumps(keys),
                probs=np.stack([v[2] for v in cache.values()]),
                pooled=np.stack([v[3] for v in cache.values()]),
                desc=np.stack([v[4] for v in cache.values()]),
            )
    except OSError:
        pass


def gather_features(
    paths: list[str],
    base: Bundle,
    reporter: Reporter,
    jobs: int | None = None,
) -> FeatureTable:
    """Features of ``paths`` under ``base``'s audio tower; files that cannot be read are skipped
    (reported through ``reporter.skip``) and left out of the table."""
    from musictext.config import db_path
    from musictext.library.store import Store

    skip, note = reporter.skip, reporter.note

    from musictext.audio.mood import MOOD_AXES
    from musictext.library.space import active_mood

    wanted = list(dict.fromkeys(paths))
    found: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    mood_model, moods = active_mood(), {}
    with Store(db_path(), readonly=True) as store:
        ids = {}
        for p in wanted:
            row = store.track_by_path(p)
            if row is not None:
                ids[row.id] = p
        if ids:
            tids, probs, pooled, desc = store.features_matrix(base.model_id, list(ids))
            dm = descriptor_matrix(desc, len(tids))
            for i, tid in enumerate(tids):
                found[ids[int(tid)]] = (probs[i], pooled[i], dm[i])
            if mood_model:
                for tid, row in zip(tids, store.mood_matrix(mood_model, tids)):
                    moods[ids[int(tid)]] = row
    missing = [p for p in wanted if p not in found]
    if missing:
        cache_path = _cache_file(base.model_id)
        cache = _load_cache(cache_path)
        todo = []
        for p in missing:
            try:
                st = os.stat(p)
            except OSError as exc:
                skip(p, exc.strerror or "cannot read")
                continue
            hit = cache.get(p)
            if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
                found[p] = hit[2:]
            else:
                todo.append((p, st.st_size, st.st_mtime_ns))
        if todo:
            found.update(_analyse(todo, base, cache, skip, note, jobs))
            _save_cache(cache_path, cache)
    kept = [p for p in wanted if p in found]
    if not kept:
        return FeatureTable(
            [], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), np.zeros((0, len(DESCRIPTORS)), np.float32)
        )
    blank = np.full(len(MOOD_AXES), np.nan, np.float32)
    return FeatureTable(
        kept,
        np.stack([found[p][0] for p in kept]).astype(np.float32),
        np.stack([found[p][1] for p in kept]).astype(np.float32),
        np.stack([found[p][2] for p in kept]).astype(np.float32),
        np.stack([moods.get(p, blank) for p in kept]).astype(np.float32) if mood_model else None,
    )


def _analyse(todo, base: Bundle, cache: dict, skip, note, jobs) -> dict:
    """Analyse files outside the library the way `index` does, in worker processes."""
    from musictext.audio.tower import analyse_all
    from musictext.library.index import DEFAULT_BUDGET
    from musictext.model.runtime import choose_device

    note(f"analysing {len(todo)} file(s) that are not in the library")
    stats = {p: (size, mtime) for p, size, mtime in todo}
    out = {}
    for path, feats, reason in analyse_all(base, choose_device("cpu").providers, DEFAULT_BUDGET, list(stats), jobs):
        if feats is None:
            skip(path, reason or "cannot analyse")
            continue
        desc = np.array(
            [np.nan if feats.descriptors.get(k) is None else feats.descriptors[k] for k in DESCRIPTORS], np.float32
        )
        out[path] = (feats.probs.astype(np.float32), feats.pooled.astype(np.float32), desc)
        cache[path] = (*stats[path], *out[path])
    return out
