"""Playlists from words and seed songs (``make_playlist``)."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from musictext.errors import MusictextError, NotFoundError
from musictext.playlists.choose import choose, library_centre, pool_of, seed_hash, shortfall
from musictext.playlists.records import Playlist, PlaylistEntry

DEFAULT_LENGTH = 20  # tracks, when neither -n nor --duration is given


def make_playlist(
    query: str | None = None,
    like: Sequence[str] = (),
    start: str | None = None,
    end: str | None = None,
    *,
    n: int | None = None,
    duration: float | None = None,
    diversity: float = 0.0,
    artist_gap: int = 0,
    where: list[str] | None = None,
    exclude: Sequence[str] = (),
    model: str | None = None,
    pick: int | None = None,
    same_album: bool = False,
    paths: Collection[str] | None = None,
    lib=None,
) -> Playlist:
    """A playlist from words and/or seed songs (``like``), or a walk from ``start`` to ``end``.

    Words are scored as in search; each seed adds the z-scored similarity of every track to it,
    and words and seeds count equally. Seeds (and copies of them) are not in the playlist.
    ``duration`` is in seconds and ends the playlist within one track of it. A similarity
    phrase in the words ("like Hotel California but calmer", see musictext.seeds) is one more seed;
    ``pick`` and ``same_album`` are as in search; ``paths``: only these files (a beets query's
    items) may be chosen (seeds and the library's statistics stay the whole library's).
    """
    from musictext.library.view import Library

    if not 0.0 <= diversity <= 1.0:
        raise MusictextError("--diversity is between 0 and 1")
    if (start is None) != (end is None):
        raise MusictextError("a walk needs both --from and --to")
    if start is None and not (query and query.strip()) and not like:
        raise MusictextError("give words, --like SONG, or --from A --to B")
    own = lib is None
    lib = Library(model) if own else lib
    try:
        if start is not None:
            from musictext.playlists.walk import walk_between

            return walk_between(lib, start, end, n, duration, artist_gap, where, exclude)
        only = None if paths is None else {os.path.abspath(os.path.expanduser(p)) for p in paths}
        return _ranked(lib, query, like, n, duration, diversity, artist_gap, where, exclude, pick, same_album, only)
    finally:
        if own:
            lib.close()


def _ranked(lib, query, like, n, duration, diversity, artist_gap, where, exclude, pick, same_album, only) -> Playlist:
    from musictext.library.view import seed_vector
    from musictext.seeds import relative_order, resolve

    said = query.strip() if query else ""
    phrase, warnings = resolve(lib, said, pick=pick, same_album=same_album) if said else (None, [])
    if phrase is not None:  # "like X but calmer": X is a seed, "calm" the words
        query = phrase.rest
    seeds = [seed_vector(lib, p) for p in like] + ([(phrase.vector, phrase.exclude)] if phrase else [])
    skip_ids = {i for _, ids in seeds for i in ids}
    skip_hashes = {h for p in like if (h := seed_hash(os.path.abspath(os.path.expanduser(p))))}
    joint = np.asarray(lib.space.joint)
    pool, empty_reason = pool_of(lib, where, exclude, skip_ids, skip_hashes, library_centre(joint), only)
    if not len(pool):
        raise NotFoundError(empty_reason)
    parts = []
    if query and query.strip():
        scores, outcome, _ = lib.text_scores(query, pool.rows)
        parts.append(np.asarray(scores, np.float64))
        warnings += outcome.warnings
    if seeds:
        z = np.zeros(len(pool))
        for vec, _ in seeds:
            sims = joint @ np.asarray(vec, np.float32)  # z over the whole library, as search's joint_z
            z += (sims[pool.rows] - sims.mean()) / max(float(sims.std()), 1e-6)
        parts.append(z / len(seeds))
    if len(parts) > 1:  # words and seeds count equally: put both on one scale over the pool
        parts = [(p - p.mean()) / max(float(p.std()), 1e-9) for p in parts]
    relevance = sum(parts) / len(parts)
    if phrase is not None:
        relevance = relative_order(lib, phrase, pool.rows, relevance)
    limit = n if n is not None else (None if duration is not None else DEFAULT_LENGTH)
    choice = choose(pool, relevance, limit, duration, diversity, artist_gap)
    warnings += shortfall(choice, pool, n, duration, artist_gap)
    entries = [PlaylistEntry(k, pool.tracks[i], round(float(relevance[i]), 4)) for k, i in enumerate(choice.picks, 1)]
    liked = " + ".join(Path(p).stem for p in like)
    name = " ".join(
        filter(None, [said if phrase else query.strip() if query else "", f"like {liked}" if liked else ""])
    )
    seed = phrase.as_json(lib.store) if phrase else None
    return Playlist(name, entries, list(dict.fromkeys(warnings)), seed)
