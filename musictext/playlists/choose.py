"""What every kind of playlist is chosen from, and how: the *pool* (the indexed tracks that pass
``--where`` and are not in an ``--exclude`` playlist), greedy MMR selection under the playlist rules
(no file twice, no artist twice within ``artist_gap`` tracks, a length by count or by time), and the
warning when a playlist comes out shorter than asked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from musictext.library.store import TrackRow
from musictext.playlists.register import listed_paths
from musictext.units import format_duration


@dataclass
class Pool:
    """Tracks a playlist may draw from: space rows, their track rows and centred vectors."""

    rows: np.ndarray  # [m] rows of the library space
    tracks: list[TrackRow]
    vecs: np.ndarray  # [m, d] centred, unit
    artists: np.ndarray  # [m] artist codes (-1: no artist tag, exempt from the gap rule)
    files: np.ndarray  # [m] codes of the file's content: copies share a code

    def __len__(self) -> int:
        return len(self.rows)


def unit(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to length 1 (a zero row stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def library_centre(joint: np.ndarray) -> np.ndarray:
    """The library's mean joint vector (zero for a library too small to have one worth removing)."""
    return np.asarray(joint, np.float64).mean(axis=0) if len(joint) >= 3 else np.zeros(joint.shape[1])


def artist_key(track: TrackRow) -> str | None:
    """What the artist-gap rule compares: the artist tag, case- and space-insensitive."""
    if not track.artist or not track.artist.strip():
        return None
    return " ".join(track.artist.casefold().split())


def codes(keys: list) -> np.ndarray:
    seen: dict = {}
    return np.array([-1 if k is None else seen.setdefault(k, len(seen)) for k in keys], dtype=np.int64)


def _excluded_files(playlists: Sequence[str]) -> tuple[set[str], set[str]]:
    """Paths and content hashes of the tracks listed in ``playlists``."""
    from musictext.library.files import content_hash

    paths: set[str] = set()
    hashes: set[str] = set()
    for playlist in playlists:
        for p in listed_paths(playlist):
            paths.add(p)
            try:
                real = os.path.realpath(p)
                paths.add(real)
                hashes.add(content_hash(real, os.path.getsize(real)))
            except OSError:
                pass  # a file listed but gone: its path alone still excludes it
    return paths, hashes


def pool_of(
    lib,
    where: list[str] | None,
    exclude: Sequence[str],
    skip_ids: set[int],
    skip_hashes: set[str],
    centre: np.ndarray,
    only: set[str] | None = None,
) -> tuple[Pool, str]:
    """The candidate tracks, and why it is empty when it is. ``only``: absolute paths the tracks
    must be among (a beets query's items), else every track."""
    rows = lib.rows_for(where)
    if rows is None:
        rows = np.arange(len(lib.space), dtype=np.int64)
    reason = "no track matches the --where filters"
    ids = [int(lib.space.ids[r]) for r in rows]
    tracks = lib.store.tracks(ids)
    ex_paths, ex_hashes = _excluded_files(exclude) if exclude else (set(), set())
    skip_hashes = skip_hashes | ex_hashes
    keep = [
        i
        for i, tid in enumerate(ids)
        if tid in tracks
        and tid not in skip_ids
        and tracks[tid].content_hash not in skip_hashes
        and tracks[tid].path not in ex_paths
        and (only is None or tracks[tid].path in only)
    ]
    if len(rows) and not keep:
        among = only is not None and not any(tracks[t].path in only for t in ids if t in tracks)
        reason = "none of the given files is indexed" if among else "every matching track is excluded"
    rows = rows[keep]
    kept = [tracks[ids[i]] for i in keep]
    joint = np.asarray(lib.space.joint)[rows] if len(rows) else np.zeros((0, lib.space.joint.shape[1]))
    pool = Pool(
        rows, kept, unit(joint - centre), codes([artist_key(t) for t in kept]), codes([t.content_hash for t in kept])
    )
    return pool, reason


def seed_hash(path: str) -> str | None:
    """The content hash of a seed file (None when it cannot be read): copies of it are left out too."""
    from musictext.library.files import content_hash

    try:
        return content_hash(path, os.path.getsize(path))
    except OSError:
        return None


@dataclass
class Choice:
    picks: list[int]  # pool indexes, in playlist order
    blocked_by_gap: bool = False  # stopped (or, relaxed, broke the rule) because of the artist gap
    gap_breaks: int = 0


def choose(
    pool: Pool,
    relevance: np.ndarray,
    n: int | None,
    duration: float | None,
    diversity: float,
    artist_gap: int,
    relax_gap: bool = False,
) -> Choice:
    """Greedy maximal-marginal-relevance selection under the playlist rules.

    Each step takes the track maximising ``(1 - diversity) * rel - diversity * max_sim``, where
    ``rel`` is the relevance rescaled to [0, 1] over the pool and ``max_sim`` the highest (centred)
    cosine to a track already chosen (Carbonell & Goldstein, 1998). A track whose artist appears in
    the last ``artist_gap`` choices is passed over for now; when only such tracks are left the
    playlist ends there (or, with ``relax_gap``, takes the best of them anyway).
    """
    m = len(pool)
    rel = np.asarray(relevance, np.float64)
    span = float(rel.max() - rel.min()) if m else 0.0
    rel = (rel - rel.min()) / span if span > 1e-12 else np.ones(m)
    durations = np.array([t.duration if t.duration else np.nan for t in pool.tracks], dtype=np.float64)
    available = np.ones(m, dtype=bool)
    if duration is not None:
        available &= ~np.isnan(durations)  # a track of unknown length cannot fill a length
    max_sim = np.full(m, -1.0)
    limit = n if n is not None else m
    choice = Choice([])
    total = 0.0
    while len(choice.picks) < limit and available.any():
        score = rel if not choice.picks or diversity <= 0 else (1 - diversity) * rel - diversity * max_sim
        score = np.where(available, score, -np.inf)
        if artist_gap > 0 and choice.picks:
            recent = {int(pool.artists[i]) for i in choice.picks[-artist_gap:]} - {-1}
            blocked = np.isin(pool.artists, list(recent)) & available
            if blocked.any():
                allowed = np.where(blocked, -np.inf, score)
                if np.isfinite(allowed).any():
                    score = allowed
                elif relax_gap:
                    choice.gap_breaks += 1
                    choice.blocked_by_gap = True
                else:
                    choice.blocked_by_gap = True
                    break
        i = int(np.argmax(score))
        choice.picks.append(i)
        available &= pool.files != pool.files[i]  # no file twice, nor a copy of it
        if diversity > 0:
            max_sim = np.maximum(max_sim, pool.vecs @ pool.vecs[i])
        if duration is not None:
            total += durations[i]
            if total >= duration:
                break
    if duration is not None and len(choice.picks) > 1 and total >= duration:
        last = durations[choice.picks[-1]]
        if abs(total - last - duration) < abs(total - duration):
            choice.picks.pop()  # stopping short is nearer the target than running over
    return choice


def shortfall(choice: Choice, pool: Pool, wanted: int | None, duration: float | None, artist_gap: int) -> list[str]:
    """A warning when the playlist came out shorter than asked (by -n, by --duration, by whichever
    of the two comes first)."""
    why = f"that keep --artist-gap {artist_gap}" if choice.blocked_by_gap else "that match"
    got = len(choice.picks)
    if wanted is not None and got >= wanted:
        return []
    if duration is not None:
        total = sum(pool.tracks[i].duration or 0.0 for i in choice.picks)
        if duration - total > max((pool.tracks[i].duration or 0.0 for i in choice.picks), default=0.0):
            return [
                f"only {format_duration(total)} of music {why} (asked for {format_duration(duration)}); "
                f"the playlist has {got} track(s)"
            ]
    elif wanted is not None and got < wanted:
        return [f"only {got} track(s) {why} (asked for {wanted})"]
    return []
