"""A walk from one song to another (``--from A --to B``): the tracks nearest to evenly spaced
points of the spherical interpolation between the two songs' centred joint vectors."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from musictext.errors import MusictextError
from musictext.library.store import TrackRow
from musictext.playlists.choose import artist_key, library_centre, pool_of, seed_hash, unit
from musictext.playlists.records import Playlist, PlaylistEntry
from musictext.units import format_duration

DEFAULT_PATH_LENGTH = 12  # tracks in a --from/--to walk, both ends included


def _endpoint(lib, path: str) -> tuple[np.ndarray, TrackRow]:
    """A walk's end: its joint vector and track row (read from the file when it is not indexed)."""
    from musictext.library.view import seed_vector

    vec, ids = seed_vector(lib, path)
    abspath = os.path.abspath(os.path.expanduser(path))
    if ids:
        return np.asarray(vec), lib.store.tracks(ids)[next(iter(ids))]
    from musictext.audio.decode import probe
    from musictext.library.files import read_file_tags

    tags = read_file_tags(abspath)

    def first(key: str) -> str | None:
        vals = tags.get(key) or []
        return str(vals[0]).strip() or None if vals else None

    try:
        length = probe(abspath).duration_s
    except MusictextError:
        length = None
    st = os.stat(abspath)
    row = TrackRow(
        id=-1,
        path=abspath,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        content_hash=seed_hash(abspath) or "",
        duration=length,
        artist=first("artist"),
        title=first("title"),
        album=first("album"),
        genre=first("genre"),
        year=None,
        bpm_tag=None,
    )
    return np.asarray(vec), row


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between unit vectors ``a`` (t=0) and ``b`` (t=1)."""
    dot = float(np.clip(a @ b, -1.0, 1.0))
    omega = math.acos(dot)
    if omega < 1e-6:
        return unit((1 - t) * a + t * b)
    return (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)


def walk_between(lib, start, end, n, duration, artist_gap, where, exclude) -> Playlist:
    """First ``start``, last ``end``; between them, for each point of the spherical interpolation
    of the two (centred) joint vectors, the nearest track not used yet."""
    va, a = _endpoint(lib, start)
    vb, b = _endpoint(lib, end)
    if a.path == b.path or (a.content_hash and a.content_hash == b.content_hash):
        raise MusictextError("--from and --to are the same song")
    mean = library_centre(np.asarray(lib.space.joint))
    skip_ids = {t.id for t in (a, b) if t.id >= 0}
    skip_hashes = {t.content_hash for t in (a, b) if t.content_hash}
    pool, _ = pool_of(lib, where, exclude, skip_ids, skip_hashes, mean)
    ca, cb = unit(va - mean), unit(vb - mean)
    code_of = {artist_key(t): int(c) for t, c in zip(pool.tracks, pool.artists) if c >= 0}
    a_code, b_code = (code_of.get(artist_key(t), -2 if artist_key(t) else -1) for t in (a, b))

    def walk(length: int) -> tuple[list[int], list[float], bool]:
        picks: list[int] = []
        sims: list[float] = []
        available = np.ones(len(pool), dtype=bool)
        gap_stop = False
        for step in range(1, length - 1):
            if not available.any():
                break
            target = slerp(ca, cb, step / (length - 1))
            score = np.where(available, pool.vecs @ target, -np.inf)
            if artist_gap > 0:
                # The gap counts from A, and B (fixed last) bans its artist from the steps before it.
                recent = [a_code] + [int(pool.artists[i]) for i in picks]
                banned = set(recent[-artist_gap:]) | ({b_code} if length - 1 - step <= artist_gap else set())
                banned -= {-1}
                if banned:
                    score = np.where(np.isin(pool.artists, list(banned)), -np.inf, score)
            if not np.isfinite(score).any():
                gap_stop = True
                break
            i = int(np.argmax(score))
            picks.append(i)
            sims.append(float(score[i]))
            available &= pool.files != pool.files[i]
        return picks, sims, gap_stop

    def total(picks: list[int]) -> float:
        return (a.duration or 0.0) + (b.duration or 0.0) + sum(pool.tracks[i].duration or 0.0 for i in picks)

    if duration is not None and n is None:
        # Steps are fixed in advance, so a length in time is met by choosing the number of steps:
        # start from the mean track length and correct a few times.
        mean = float(np.mean([t.duration for t in pool.tracks if t.duration] or [a.duration or 180.0]))
        length = max(2, round(duration / mean))
        best: tuple[float, int] | None = None
        for _ in range(6):
            length = min(max(2, length), len(pool) + 2)
            got = total(walk(length)[0])
            if best is None or abs(got - duration) < best[0]:
                best = (abs(got - duration), length)
            step = round((duration - got) / mean)
            if step == 0:
                break
            length += step
        length = best[1]
    else:
        length = n if n is not None else DEFAULT_PATH_LENGTH
    if length < 2:
        raise MusictextError("a walk has at least 2 tracks (-n 2)")
    picks, sims, gap_stop = walk(length)
    warnings = []
    if len(picks) < length - 2:
        why = f"that keep --artist-gap {artist_gap}" if gap_stop else "to walk through"
        warnings.append(f"only {len(picks)} track(s) {why} between the two songs (asked for {length - 2})")
    if duration is not None and duration - total(picks) > max((t.duration or 0 for t in pool.tracks), default=0):
        warnings.append(
            f"only {format_duration(total(picks))} of music to walk through (asked for {format_duration(duration)})"
        )
    tracks = [a] + [pool.tracks[i] for i in picks] + [b]
    scores = [1.0] + [round(s, 4) for s in sims] + [1.0]
    entries = [PlaylistEntry(k, t, s) for k, (t, s) in enumerate(zip(tracks, scores), 1)]
    return Playlist(f"{Path(a.path).stem} to {Path(b.path).stem}", entries, warnings)
