"""Text search and audio similarity over the library."""

from __future__ import annotations

import os
from collections.abc import Collection

import numpy as np

from musictext import seeds
from musictext.config import index_dir
from musictext.library import ann
from musictext.library.view import Library, SearchOutcome, SearchResult, seed_vector

__all__ = ["SearchOutcome", "SearchResult", "search", "similar", "similar_artists"]


def search(
    query: str,
    n: int = 20,
    where: list[str] | None = None,
    model: str | None = None,
    explain: bool = False,
    all_copies: bool = False,
    *,
    paths: Collection[str] | None = None,
    pick: int | None = None,
    same_album: bool = False,
    lib: Library | None = None,
) -> SearchOutcome:
    """Tracks that match ``query``; with ``paths``, only among those files (e.g. a beets query's items).
    ``lib``: a library already open (``musictext serve`` keeps one warm); it is left open."""
    own = lib is None
    lib = Library(model) if own else lib
    try:
        rows = lib.rows_for(where)
        if paths is not None:
            rows = _rows_among(lib, paths, rows)
            if len(rows) == 0:
                return SearchOutcome([], [NONE_INDEXED], total=0)
        if rows is not None and len(rows) == 0:
            return SearchOutcome([], ["no track matches the --where filters"], total=0)
        seed, notes = seeds.resolve(lib, query, pick=pick, same_album=same_album)  # "like X", "X-style"
        if seed is not None:
            scores, outcome, weights = seeds.seeded_scores(lib, seed, rows, explain)
            outcome.seed = seed.as_json(lib.store)
        else:
            scores, outcome, weights = lib.text_scores(query, rows)
        outcome.warnings[:0] = notes
        exclude = seed.exclude if seed is not None else frozenset()
        outcome.results = lib.results(
            scores, rows, n, exclude=exclude, weights=weights if explain else None, all_copies=all_copies
        )
        outcome.total = len(scores)
        if explain:
            outcome.warnings += lib.short_notes(outcome.results)
        return outcome
    finally:
        if own:
            lib.close()


def similar(
    path: str,
    n: int = 20,
    where: list[str] | None = None,
    model: str | None = None,
    all_copies: bool = False,
    *,
    paths: Collection[str] | None = None,
    lib: Library | None = None,
) -> SearchOutcome:
    """Tracks whose audio is most like ``path`` (indexed or not); the seed and its copies are not
    results, and copies of one file count once unless ``all_copies``; with ``paths``, only among those files."""
    own = lib is None
    lib = Library(model) if own else lib
    try:
        vec, exclude = seed_vector(lib, path)
        rows = lib.rows_for(where)
        if paths is not None:
            rows = _rows_among(lib, paths, rows)
            if len(rows) == 0:
                return SearchOutcome([], [NONE_INDEXED], total=0)
        use_ann = (
            rows is None
            and ann.index_health(
                index_dir(), lib.bundle.model_id, lib.store.generation(lib.bundle.model_id), len(lib.space)
            )
            == "ok"
        )
        if use_ann:
            ids, sims = ann.query(
                index_dir(), lib.bundle.model_id, vec, 2 * n + len(exclude) + 8, lib.space.joint.shape[1]
            )
            scores = np.full(len(lib.space), -np.inf)
            for tid, s in zip(ids, sims):
                scores[lib.space.row_of[int(tid)]] = s
        elif rows is None and lib.space.factor is not None:
            # exact, reading the low-rank factor and rescoring only the rows that can be in the top
            top, exact = lib.space.joint_top(vec, 2 * n + len(exclude) + 8)
            scores = np.full(len(lib.space), -np.inf)
            scores[top] = exact
        else:
            scores = lib.space.joint_scores(vec, rows)
        return SearchOutcome(lib.results(scores, rows, n, exclude=exclude, all_copies=all_copies), total=len(scores))
    finally:
        if own:
            lib.close()


def similar_artists(
    name: str, n: int = 20, where: list[str] | None = None, model: str | None = None, pick: int | None = None
) -> seeds.ArtistOutcome:
    """Artists whose tracks, on average, sound most like ``name``'s (``--where`` filters the tracks)."""
    lib = Library(model)
    try:
        return seeds.similar_artists(lib, name, n=n, rows=lib.rows_for(where), pick=pick)
    finally:
        lib.close()


NONE_INDEXED = "none of the given files is indexed"


def _rows_among(lib: Library, paths: Collection[str], rows: np.ndarray | None) -> np.ndarray:
    """The rows of ``rows`` (all when None) whose track is one of ``paths``."""
    wanted = {os.path.abspath(os.path.expanduser(p)) for p in paths}
    ids = {tid for tid, t in lib.store.tracks().items() if t.path in wanted}
    candidates = range(len(lib.space)) if rows is None else rows
    return np.array([int(i) for i in candidates if int(lib.space.ids[i]) in ids], dtype=np.int64)
