"""Playlists: tracks ranked by words and seed songs, a walk between two songs, or the whole library
clustered into named groups; written as M3U8 files that MPD, Navidrome, Jellyfin, VLC and
foobar2000 open as they are.

Every kind of playlist is chosen from the same *pool* (the indexed tracks that pass ``--where``
and are not in an ``--exclude`` playlist) under the same rules: no file twice (same path or same
content), no artist twice within ``artist_gap`` tracks (tracks without an artist tag are exempt:
a folder is no reliable stand-in for an artist), and a length by count or by time.

Similarity between tracks is measured on *centred* joint vectors (the library's mean vector
subtracted): raw joint vectors share a large common part (cosines of 0.9 to 1.0 between any two
tracks), so centring is what lets diversity, walks and clusters see how tracks differ.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.errors import MusictextError, NotFoundError
from musictext.store import TrackRow

DEFAULT_LENGTH = 20  # tracks, when neither -n nor --duration is given
DEFAULT_PATH_LENGTH = 12  # tracks in a --from/--to walk, both ends included
NAME_TERMS = 3  # tags in an --auto playlist's name
NAME_EPS = 0.02  # damps the lift of tags the tagger almost never fires (noise in tiny probabilities)
KMEANS_SEED = 0
KMEANS_ITERATIONS = 100

# Where a tag goes in an --auto name: mood, then sound (instruments, voices), era, genre last,
# as in "mellow acoustic folk" or "sad piano 80s".
MOOD_TAGS = frozenset({"beautiful", "mellow", "chill", "sexy", "catchy", "party", "sad", "happy", "slow", "fast",
                       "loud", "quiet", "soft", "weird"})
ERA_TAGS = frozenset({"60s", "70s", "80s", "90s", "00s", "oldies"})
GENRE_TAGS = frozenset({
    "rock", "pop", "alternative", "indie", "electronic", "dance", "alternative rock", "jazz", "metal",
    "classic rock", "soul", "indie rock", "electronica", "folk", "punk", "blues", "hard rock", "ambient",
    "experimental", "hip-hop", "country", "funk", "electro", "heavy metal", "progressive rock", "rnb",
    "indie pop", "house", "classical", "techno", "opera", "new age", "indian", "chillout", "easy listening",
})

# Tag words that say the same thing in a name ("male vocal man" is one idea, not three).
_WORD_FAMILY = {"man": "male", "woman": "female", "voice": "vocal", "singing": "vocal", "choral": "choir"}


@dataclass(frozen=True)
class PlaylistEntry:
    position: int  # 1-based
    track: TrackRow
    score: float  # relevance (ranked), closeness to the walk's step (--from/--to) or to the cluster centre (--auto)

    def as_json(self) -> dict:
        t = self.track
        return {"position": self.position, "path": t.path, "artist": t.artist, "title": t.title,
                "duration": t.duration, "score": self.score}


@dataclass
class Playlist:
    name: str
    entries: list[PlaylistEntry]
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Total of the known track durations, in seconds."""
        return float(sum(e.track.duration or 0.0 for e in self.entries))

    def __len__(self) -> int:
        return len(self.entries)


# --------------------------------------------------------------------------- lengths


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """Seconds in "90m", "1h30m", "45m", "3600s", "1:30:00" or "45:00"; a bare number is minutes."""
    s = text.strip().lower().replace(" ", "")
    try:
        if re.fullmatch(r"\d+(?:\.\d+)?", s):
            seconds = float(s) * 60
        elif re.fullmatch(r"\d+(?::\d{1,2}){1,2}", s):
            seconds = 0.0
            for part in s.split(":"):
                seconds = seconds * 60 + int(part)
        else:
            m = _DURATION.match(s)
            if not s or not m or not any(m.groups()):
                raise ValueError
            h, mins, secs = (float(g) if g else 0.0 for g in m.groups())
            seconds = h * 3600 + mins * 60 + secs
    except ValueError:
        raise MusictextError(f"cannot read duration {text!r} (try 90m, 1h30m, 45m or 3600s)") from None
    if seconds <= 0:
        raise MusictextError(f"duration {text!r} is not positive")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# --------------------------------------------------------------------------- the pool


@dataclass
class _Pool:
    """Tracks a playlist may draw from: space rows, their track rows and centred vectors."""

    rows: np.ndarray  # [m] rows of the library space
    tracks: list[TrackRow]
    vecs: np.ndarray  # [m, d] centred, unit
    artists: np.ndarray  # [m] artist codes (-1: no artist tag, exempt from the gap rule)
    files: np.ndarray  # [m] codes of the file's content: copies share a code

    def __len__(self) -> int:
        return len(self.rows)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _centre(joint: np.ndarray) -> np.ndarray:
    """The library's mean joint vector (zero for a library too small to have one worth removing)."""
    return np.asarray(joint, np.float64).mean(axis=0) if len(joint) >= 3 else np.zeros(joint.shape[1])


def artist_key(track: TrackRow) -> str | None:
    """What the artist-gap rule compares: the artist tag, case- and space-insensitive."""
    if not track.artist or not track.artist.strip():
        return None
    return " ".join(track.artist.casefold().split())


def _codes(keys: list) -> np.ndarray:
    seen: dict = {}
    return np.array([-1 if k is None else seen.setdefault(k, len(seen)) for k in keys], dtype=np.int64)


def read_m3u(path: str | os.PathLike) -> list[str]:
    """The absolute paths an M3U/M3U8 playlist lists (relative ones resolved from its folder)."""
    from urllib.parse import unquote, urlparse

    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError("no such playlist", path) from None
    except OSError as exc:
        raise MusictextError(f"cannot read the playlist ({exc.strerror or exc})", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # legacy .m3u files are often in the system code page
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("file://"):
            line = unquote(urlparse(line).path)
        elif re.match(r"^[a-z][a-z0-9+.-]*://", line, re.IGNORECASE):
            continue  # a stream URL: nothing in the library
        out.append(os.path.normpath(os.path.join(path.parent, os.path.expanduser(line))))
    return out


def _excluded_files(playlists: Sequence[str]) -> tuple[set[str], set[str]]:
    """Paths and content hashes of the tracks listed in ``playlists``."""
    from musictext.indexer import content_hash

    paths: set[str] = set()
    hashes: set[str] = set()
    for playlist in playlists:
        for p in read_m3u(playlist):
            paths.add(p)
            try:
                real = os.path.realpath(p)
                paths.add(real)
                hashes.add(content_hash(real, os.path.getsize(real)))
            except OSError:
                pass  # a file listed but gone: its path alone still excludes it
    return paths, hashes


def _pool(lib, where: list[str] | None, exclude: Sequence[str], skip_ids: set[int], skip_hashes: set[str],
          centre: np.ndarray) -> tuple[_Pool, str]:
    """The candidate tracks, and why it is empty when it is."""
    rows = lib.rows_for(where)
    if rows is None:
        rows = np.arange(len(lib.space), dtype=np.int64)
    reason = "no track matches the --where filters"
    ids = [int(lib.space.ids[r]) for r in rows]
    tracks = lib.store.tracks(ids)
    ex_paths, ex_hashes = _excluded_files(exclude) if exclude else (set(), set())
    skip_hashes = skip_hashes | ex_hashes
    keep = [i for i, tid in enumerate(ids)
            if tid in tracks and tid not in skip_ids and tracks[tid].content_hash not in skip_hashes
            and tracks[tid].path not in ex_paths]
    if len(rows) and not keep:
        reason = "every matching track is excluded"
    rows = rows[keep]
    kept = [tracks[ids[i]] for i in keep]
    joint = np.asarray(lib.space.joint)[rows] if len(rows) else np.zeros((0, lib.space.joint.shape[1]))
    pool = _Pool(rows, kept, _unit(joint - centre), _codes([artist_key(t) for t in kept]),
                 _codes([t.content_hash for t in kept]))
    return pool, reason


# --------------------------------------------------------------------------- choosing


@dataclass
class _Choice:
    picks: list[int]  # pool indexes, in playlist order
    blocked_by_gap: bool = False  # stopped (or, relaxed, broke the rule) because of the artist gap
    gap_breaks: int = 0


def _choose(pool: _Pool, relevance: np.ndarray, n: int | None, duration: float | None, diversity: float,
            artist_gap: int, relax_gap: bool = False) -> _Choice:
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
    choice = _Choice([])
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


def _shortfall(choice: _Choice, pool: _Pool, wanted: int | None, duration: float | None,
               artist_gap: int) -> list[str]:
    """A warning when the playlist came out shorter than asked (by -n, by --duration, by whichever
    of the two comes first)."""
    why = f"that keep --artist-gap {artist_gap}" if choice.blocked_by_gap else "that match"
    got = len(choice.picks)
    if wanted is not None and got >= wanted:
        return []
    if duration is not None:
        total = sum(pool.tracks[i].duration or 0.0 for i in choice.picks)
        if duration - total > max((pool.tracks[i].duration or 0.0 for i in choice.picks), default=0.0):
            return [f"only {format_duration(total)} of music {why} (asked for {format_duration(duration)}); "
                    f"the playlist has {got} track(s)"]
    elif wanted is not None and got < wanted:
        return [f"only {got} track(s) {why} (asked for {wanted})"]
    return []


# --------------------------------------------------------------------------- playlists


def _stem(path: str) -> str:
    return Path(path).stem


def _seed_hash(path: str) -> str | None:
    from musictext.indexer import content_hash

    try:
        return content_hash(path, os.path.getsize(path))
    except OSError:
        return None


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
) -> Playlist:
    """A playlist from words and/or seed songs (``like``), or a walk from ``start`` to ``end``.

    Words are scored as in search; each seed adds the z-scored similarity of every track to it,
    and words and seeds count equally. Seeds (and copies of them) are not in the playlist.
    ``duration`` is in seconds and ends the playlist within one track of it.
    """
    from musictext.search import Library

    if not 0.0 <= diversity <= 1.0:
        raise MusictextError("--diversity is between 0 and 1")
    if (start is None) != (end is None):
        raise MusictextError("a walk needs both --from and --to")
    if start is None and not (query and query.strip()) and not like:
        raise MusictextError("give words, --like SONG, or --from A --to B")
    lib = Library(model)
    try:
        if start is not None:
            return _walk(lib, start, end, n, duration, artist_gap, where, exclude)
        return _ranked(lib, query, like, n, duration, diversity, artist_gap, where, exclude)
    finally:
        lib.close()


def _ranked(lib, query, like, n, duration, diversity, artist_gap, where, exclude) -> Playlist:
    from musictext.search import seed_vector

    warnings: list[str] = []
    seeds = [seed_vector(lib, p) for p in like]
    skip_ids = {i for _, ids in seeds for i in ids}
    skip_hashes = {h for p in like if (h := _seed_hash(os.path.abspath(os.path.expanduser(p))))}
    joint = np.asarray(lib.space.joint)
    pool, empty_reason = _pool(lib, where, exclude, skip_ids, skip_hashes, _centre(joint))
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
    limit = n if n is not None else (None if duration is not None else DEFAULT_LENGTH)
    choice = _choose(pool, relevance, limit, duration, diversity, artist_gap)
    warnings += _shortfall(choice, pool, n, duration, artist_gap)
    entries = [PlaylistEntry(k, pool.tracks[i], round(float(relevance[i]), 4))
               for k, i in enumerate(choice.picks, 1)]
    liked = " + ".join(_stem(p) for p in like)
    name = " ".join(filter(None, [query.strip() if query else "", f"like {liked}" if liked else ""]))
    return Playlist(name, entries, list(dict.fromkeys(warnings)))


def _endpoint(lib, path: str) -> tuple[np.ndarray, TrackRow]:
    """A walk's end: its joint vector and track row (read from the file when it is not indexed)."""
    from musictext.search import seed_vector

    vec, ids = seed_vector(lib, path)
    abspath = os.path.abspath(os.path.expanduser(path))
    if ids:
        return np.asarray(vec), lib.store.tracks(ids)[next(iter(ids))]
    from musictext.decode import probe
    from musictext.indexer import read_file_tags

    tags = read_file_tags(abspath)

    def first(key: str) -> str | None:
        vals = tags.get(key) or []
        return str(vals[0]).strip() or None if vals else None

    try:
        length = probe(abspath).duration_s
    except MusictextError:
        length = None
    st = os.stat(abspath)
    row = TrackRow(id=-1, path=abspath, size=st.st_size, mtime_ns=st.st_mtime_ns,
                   content_hash=_seed_hash(abspath) or "", duration=length, artist=first("artist"),
                   title=first("title"), album=first("album"), genre=first("genre"), year=None, bpm_tag=None)
    return np.asarray(vec), row


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between unit vectors ``a`` (t=0) and ``b`` (t=1)."""
    dot = float(np.clip(a @ b, -1.0, 1.0))
    omega = math.acos(dot)
    if omega < 1e-6:
        return _unit((1 - t) * a + t * b)
    return (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)


def _walk(lib, start, end, n, duration, artist_gap, where, exclude) -> Playlist:
    """First ``start``, last ``end``; between them, for each point of the spherical interpolation
    of the two (centred) joint vectors, the nearest track not used yet."""
    va, a = _endpoint(lib, start)
    vb, b = _endpoint(lib, end)
    if a.path == b.path or (a.content_hash and a.content_hash == b.content_hash):
        raise MusictextError("--from and --to are the same song")
    centre = _centre(np.asarray(lib.space.joint))
    skip_ids = {t.id for t in (a, b) if t.id >= 0}
    skip_hashes = {t.content_hash for t in (a, b) if t.content_hash}
    pool, _ = _pool(lib, where, exclude, skip_ids, skip_hashes, centre)
    ca, cb = _unit(va - centre), _unit(vb - centre)
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
        warnings.append(f"only {format_duration(total(picks))} of music to walk through "
                        f"(asked for {format_duration(duration)})")
    tracks = [a] + [pool.tracks[i] for i in picks] + [b]
    scores = [1.0] + [round(s, 4) for s in sims] + [1.0]
    entries = [PlaylistEntry(k, t, s) for k, (t, s) in enumerate(zip(tracks, scores), 1)]
    return Playlist(f"{_stem(a.path)} to {_stem(b.path)}", entries, warnings)


# --------------------------------------------------------------------------- auto playlists


def kmeans(x: np.ndarray, k: int, seed: int = KMEANS_SEED, iterations: int = KMEANS_ITERATIONS) -> np.ndarray:
    """Cluster labels for the rows of ``x``: k-means++ seeding, Lloyd iterations, no empty cluster."""
    x = np.asarray(x, np.float64)
    m = len(x)
    rng = np.random.default_rng(seed)
    centres = [x[int(rng.integers(m))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(m, 1.0 / m)
        centres.append(x[int(rng.choice(m, p=p))])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    labels = np.full(m, -1)
    for _ in range(iterations):
        dist = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None, :]
        new = dist.argmin(1)
        # An empty cluster takes the point farthest from its own centre (in a cluster of 2 or more).
        for j in range(k):
            if not (new == j).any():
                own = dist[np.arange(m), new]
                sizes = np.bincount(new, minlength=k)
                own[sizes[new] < 2] = -np.inf
                far = int(np.argmax(own))
                new[far] = j
        if (new == labels).all():
            break
        labels = new
        c = np.stack([x[labels == j].mean(0) for j in range(k)])
    return labels


def name_cluster(cluster_probs: np.ndarray, library_probs: np.ndarray, tag_names: Sequence[str],
                 terms: int = NAME_TERMS) -> list[str]:
    """The tags most characteristic of a cluster, best first: those whose mean probability in the
    cluster is highest relative to the library's (log ratio), one per family of words."""
    lift = np.log((cluster_probs + NAME_EPS) / (library_probs + NAME_EPS))
    best: dict[str, float] = {}
    for name, value in zip(tag_names, lift):
        key = name.lower()
        best[key] = max(best.get(key, -np.inf), float(value))  # both taggers may have the tag
    chosen: list[str] = []
    words: set[str] = set()
    for name, value in sorted(best.items(), key=lambda kv: -kv[1]):
        if len(chosen) >= terms or (value <= 0 and chosen):
            break
        stems = {_WORD_FAMILY.get(w, w).rstrip("s") for w in re.split(r"[\s-]+", name)}
        if any(a.startswith(b) or b.startswith(a) for a in stems for b in words):
            continue  # "female vocalist" after "female vocalists", "rock" after "indie rock", "chill"/"chillout"
        chosen.append(name)
        words |= stems
    return chosen


def _name_order(terms: list[str]) -> list[str]:
    """Mood, sound, era, genre: "mellow acoustic folk", "sad piano 80s"."""
    slot = {t: 0 if t in MOOD_TAGS else 2 if t in ERA_TAGS else 3 if t in GENRE_TAGS else 1 for t in terms}
    return sorted(terms, key=lambda t: slot[t])  # stable: best first within a slot


def auto_playlists(k: int, *, artist_gap: int = 0, where: list[str] | None = None, exclude: Sequence[str] = (),
                   model: str | None = None) -> list[Playlist]:
    """The library split into ``k`` playlists (k-means on centred joint vectors, fixed seed) that
    cover it without overlap, each named from its most characteristic tags; largest first."""
    from musictext.search import Library

    lib = Library(model)
    try:
        joint = np.asarray(lib.space.joint)
        pool, empty_reason = _pool(lib, where, exclude, set(), set(), _centre(joint))
        if not len(pool):
            raise NotFoundError(empty_reason)
        if k > len(pool):
            raise MusictextError(f"--auto {k}: only {len(pool)} track(s) to share out")
        labels = kmeans(pool.vecs, k)
        ids, probs, _, _ = lib.store.features_matrix(lib.audio_model)
        tag_names = [t["name"] for t in lib.bundle.manifest.get("tags", [])]
        can_name = len(ids) > 0 and probs.shape[1] == len(tag_names)
        if can_name:
            at = {int(t): i for i, t in enumerate(ids)}
            library_mean = probs.mean(0)
        groups = sorted(range(k), key=lambda j: (-(labels == j).sum(), j))
        out: list[Playlist] = []
        taken: set[str] = set()
        for number, j in enumerate(groups, 1):
            members = np.flatnonzero(labels == j)
            sub = _Pool(pool.rows[members], [pool.tracks[i] for i in members], pool.vecs[members],
                        pool.artists[members], pool.files[members])
            centroid = _unit(sub.vecs.mean(0))
            closeness = sub.vecs @ centroid
            choice = _choose(sub, closeness, None, None, 0.0, artist_gap, relax_gap=True)
            name = f"playlist {number}"
            if can_name:
                rows = [at[t.id] for t in sub.tracks if t.id in at]
                terms = name_cluster(probs[rows].mean(0), library_mean, tag_names, NAME_TERMS + 2)
                name = " ".join(_name_order(terms[:NAME_TERMS])) or name
                extra = iter(terms[NAME_TERMS:])
                while name in taken:  # two clusters alike in their top tags: say a little more
                    more = next(extra, None)
                    name = f"{name} {more}" if more else f"{name} {number}"
            taken.add(name)
            warnings = []
            if choice.gap_breaks:
                warnings.append(f"{name!r}: --artist-gap {artist_gap} could not be kept in "
                                f"{choice.gap_breaks} place(s)")
            entries = [PlaylistEntry(p, sub.tracks[i], round(float(closeness[i]), 4))
                       for p, i in enumerate(choice.picks, 1)]
            out.append(Playlist(name, entries, warnings))
        return out
    finally:
        lib.close()


# --------------------------------------------------------------------------- writing


def slugify(name: str, fallback: str = "playlist") -> str:
    """A file name from a playlist name: lower case, letters, digits and dashes."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80].strip("-")
    return text or fallback


def names_folder(output: str | os.PathLike) -> bool:
    """Whether ``-o`` names a folder: an existing one, or one written with a trailing slash."""
    text = os.path.expanduser(str(output))
    return text.endswith(("/", os.sep)) or os.path.isdir(text)


def output_paths(playlists: Sequence[Playlist], output: str | os.PathLike, folder: bool = False) -> list[Path]:
    """Where each playlist goes: ``output`` itself, or with ``folder`` a ``<slug>.m3u8`` file per
    playlist in that folder, named after the playlist and made unique."""
    dest = Path(os.path.abspath(os.path.expanduser(str(output))))
    if not folder:
        if len(playlists) != 1:
            raise MusictextError("several playlists need a folder to go in", dest)
        return [dest]
    if dest.exists() and not dest.is_dir():
        raise MusictextError("not a folder", dest)
    names: list[Path] = []
    used: set[str] = set()
    for p in playlists:
        slug = base = slugify(p.name)
        count = 2
        while slug in used:
            slug = f"{base}-{count}"
            count += 1
        used.add(slug)
        names.append(dest / f"{slug}.m3u8")
    return names


def _extinf_title(track: TrackRow) -> str:
    title = track.title or _stem(track.path)
    text = f"{track.artist} - {title}" if track.artist else title
    return " ".join(text.split())  # a line break in a tag would end the line


def to_m3u8(playlist: Playlist, dest: str | os.PathLike, absolute: bool = False) -> str:
    """Extended M3U in UTF-8: ``#EXTINF:<seconds>,<artist> - <title>`` then the path, relative to
    the playlist's folder unless ``absolute`` (or unless no relative path exists)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(dest)))
    lines = ["#EXTM3U", f"#PLAYLIST:{' '.join(playlist.name.split())}"]
    for e in playlist.entries:
        t = e.track
        seconds = int(round(t.duration)) if t.duration is not None else -1  # -1: unknown, by convention
        path = t.path
        if not absolute:
            try:
                path = os.path.relpath(t.path, folder)
            except ValueError:
                pass  # another drive (Windows): only an absolute path reaches it
        lines.append(f"#EXTINF:{seconds},{_extinf_title(t)}")
        lines.append(path)
    return "\n".join(lines) + "\n"


def check_targets(targets: Sequence[Path], force: bool, make_folders: bool = False) -> None:
    """Refuse, before anything is written, to overwrite files without ``force`` or to write where
    no file can go (a missing folder is an error unless ``make_folders``)."""
    for dest in targets:
        if dest.is_dir():
            raise MusictextError("is a folder, not a playlist file", dest)
        if dest.exists() and not force:
            raise MusictextError("already exists (pass --force to overwrite)", dest)
        parent = dest.parent
        if make_folders and not parent.exists():
            blocker = next((p for p in parent.parents if p.exists()), None)
            if blocker is not None and not blocker.is_dir():
                raise MusictextError("cannot make the folder: a file is in the way", blocker)
            continue
        if not parent.is_dir():
            why = "is not a folder" if parent.exists() else "does not exist"
            raise MusictextError(f"cannot write the playlist: {parent} {why}", dest)
        if not os.access(parent, os.W_OK):
            raise MusictextError("cannot write the playlist: permission denied", dest)


def write_playlists(items: Sequence[tuple[Playlist, Path]], absolute: bool = False, force: bool = False,
                    make_folders: bool = False) -> None:
    """Write each playlist to its path atomically (a temporary file then a rename), after checking
    that every one of them can be written."""
    check_targets([dest for _, dest in items], force, make_folders)
    for playlist, dest in items:
        try:
            if make_folders:
                dest.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(dest, to_m3u8(playlist, dest, absolute))
        except OSError as exc:
            raise MusictextError(f"cannot write the playlist ({exc.strerror or exc})", dest) from None


def _write_atomically(dest: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a playlist is for the media server too
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
