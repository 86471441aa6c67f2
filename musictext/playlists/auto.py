"""``--auto K``: the library split into K playlists by k-means on centred joint vectors, each
named from its most characteristic tags."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from musictext.errors import MusictextError, NotFoundError
from musictext.playlists.choose import Pool, choose, library_centre, pool_of, unit
from musictext.playlists.records import Playlist, PlaylistEntry

NAME_TERMS = 3  # tags in an --auto playlist's name
NAME_EPS = 0.02  # damps the lift of tags the tagger almost never fires (noise in tiny probabilities)
KMEANS_SEED = 0
KMEANS_ITERATIONS = 100

# Where a tag goes in an --auto name: mood, then sound (instruments, voices), era, genre last,
# as in "mellow acoustic folk" or "sad piano 80s".
MOOD_TAGS = frozenset(
    {
        "beautiful",
        "mellow",
        "chill",
        "sexy",
        "catchy",
        "party",
        "sad",
        "happy",
        "slow",
        "fast",
        "loud",
        "quiet",
        "soft",
        "weird",
    }
)
ERA_TAGS = frozenset({"60s", "70s", "80s", "90s", "00s", "oldies"})
GENRE_TAGS = frozenset(
    {
        "rock",
        "pop",
        "alternative",
        "indie",
        "electronic",
        "dance",
        "alternative rock",
        "jazz",
        "metal",
        "classic rock",
        "soul",
        "indie rock",
        "electronica",
        "folk",
        "punk",
        "blues",
        "hard rock",
        "ambient",
        "experimental",
        "hip-hop",
        "country",
        "funk",
        "electro",
        "heavy metal",
        "progressive rock",
        "rnb",
        "indie pop",
        "house",
        "classical",
        "techno",
        "opera",
        "new age",
        "indian",
        "chillout",
        "easy listening",
    }
)

# Tag words that say the same thing in a name ("male vocal man" is one idea, not three).
_WORD_FAMILY = {"man": "male", "woman": "female", "voice": "vocal", "singing": "vocal", "choral": "choir"}


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


def name_cluster(
    cluster_probs: np.ndarray, library_probs: np.ndarray, tag_names: Sequence[str], terms: int = NAME_TERMS
) -> list[str]:
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


def auto_playlists(
    k: int,
    *,
    artist_gap: int = 0,
    where: list[str] | None = None,
    exclude: Sequence[str] = (),
    model: str | None = None,
) -> list[Playlist]:
    """The library split into ``k`` playlists (k-means on centred joint vectors, fixed seed) that
    cover it without overlap, each named from its most characteristic tags; largest first."""
    from musictext.library.view import Library

    lib = Library(model)
    try:
        joint = np.asarray(lib.space.joint)
        pool, empty_reason = pool_of(lib, where, exclude, set(), set(), library_centre(joint))
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
            sub = Pool(
                pool.rows[members],
                [pool.tracks[i] for i in members],
                pool.vecs[members],
                pool.artists[members],
                pool.files[members],
            )
            centroid = unit(sub.vecs.mean(0))
            closeness = sub.vecs @ centroid
            choice = choose(sub, closeness, None, None, 0.0, artist_gap, relax_gap=True)
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
                warnings.append(
                    f"{name!r}: --artist-gap {artist_gap} could not be kept in {choice.gap_breaks} place(s)"
                )
            entries = [
                PlaylistEntry(p, sub.tracks[i], round(float(closeness[i]), 4)) for p, i in enumerate(choice.picks, 1)
            ]
            out.append(Playlist(name, entries, warnings))
        return out
    finally:
        lib.close()
