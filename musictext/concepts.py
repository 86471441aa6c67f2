"""Concepts: what the default model can measure about a track, each with words that name it.

A concept is a tag of one of the two musicnn taggers (tags named alike in both are one concept),
a measured audio descriptor (tempo, key mode, loudness, brightness, percussiveness) where the
taggers are weak, or a learned concept (a probe for a word no tagger knows, see probes.py).
Each concept reads one or more columns of a track's *concept matrix* with a sign. Scores are
standardised over the library, so "rock" is not everywhere just because its raw probability is
high, and two concepts in one query add on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musictext.audio.descriptors import SCALAR_DESCRIPTORS

# Extra phrasings for tags whose bare name is cryptic to a sentence encoder.
TAG_ALIASES: dict[str, tuple[str, ...]] = {
    "00s": ("2000s", "music from the 2000s"),
    "60s": ("1960s", "sixties", "music from the 1960s"),
    "70s": ("1970s", "seventies", "music from the 1970s"),
    "80s": ("1980s", "eighties", "music from the 1980s"),
    "90s": ("1990s", "nineties", "music from the 1990s"),
    "rnb": ("r&b", "rhythm and blues"),
    "hip-hop": ("hip hop", "rap"),
    "no vocals": ("instrumental, no singing",),
    "no vocal": ("instrumental, no singing",),
    "no voice": ("instrumental, no singing",),
    "beats": ("beat",),
    "synth": ("synthesizer",),
    "drums": ("drum kit", "percussion"),
    "classic": ("classical",),
    "choral": ("choir",),
    "female vocalists": ("female singer",),
    "male vocalists": ("male singer",),
    "chillout": ("chill out", "relaxing"),
    "mellow": ("calm", "gentle"),
    "solo": ("alone", "unaccompanied", "solo instrument"),
}

# Measured descriptors, as columns after the 100 tag columns: name -> how it is derived.
DESCRIPTOR_COLUMNS = SCALAR_DESCRIPTORS

# Descriptor concepts: name -> (phrases, {column: weight}). Names equal to a tag merge with it.
DESCRIPTOR_CONCEPTS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "fast": (("fast", "fast tempo", "quick", "up-tempo"), {"onset_rate": 1.0, "bpm": 0.5}),
    "slow": (("slow", "slow tempo", "unhurried"), {"onset_rate": -1.0, "bpm": -0.5}),
    "major key": (("major key", "major", "in a major key"), {"major": 1.0}),
    "minor key": (("minor key", "minor", "in a minor key"), {"major": -1.0}),
    "loud": (("loud", "loudness"), {"loudness": 1.0}),
    "quiet": (("quiet", "soft and quiet"), {"loudness": -1.0}),
    "bright": (("bright", "bright sound", "bright timbre", "brilliant"), {"brightness": 1.0}),
    "dark": (("dark", "dark sound", "dull", "muffled"), {"brightness": -1.0}),
    "percussive": (("percussive", "rhythmic percussion"), {"percussive": 1.0}),
}


# Mood axes (musictext.audio.mood, only when vibenet is installed), as columns after the learned
# concepts, in MOOD_AXES order. Concepts: name -> (phrases, {axis: weight}); a name equal to a tag
# ("happy", "sad", "party", "acoustic", "instrumental", "dance") joins the tag with the axis beside it.
MOOD_CONCEPTS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "valence": (("valence", "cheerful", "joyful", "positive", "upbeat mood", "feel-good"), {"valence": 1.0}),
    "low valence": (("low valence", "gloomy", "negative mood", "unhappy"), {"valence": -1.0}),
    "happy": ((), {"valence": 1.0}),
    "sad": ((), {"valence": -1.0}),
    "energy": (("energy", "energetic", "intense", "workout", "high energy", "powerful"), {"energy": 1.0}),
    "low energy": (("low energy", "gentle and soft", "subdued"), {"energy": -1.0}),
    "danceability": (("danceability", "danceable", "groovy", "good to dance to"), {"danceability": 1.0}),
    "party": ((), {"danceability": 1.0}),
    "dance": ((), {"danceability": 1.0}),
    "acousticness": (("acousticness", "acoustic instruments", "unplugged"), {"acousticness": 1.0}),
    "acoustic": ((), {"acousticness": 1.0}),
    "instrumentalness": (("instrumentalness", "purely instrumental"), {"instrumentalness": 1.0}),
    "instrumental": ((), {"instrumentalness": 1.0}),
    "liveness": (("liveness", "live recording", "live performance", "recorded live", "in concert"), {"liveness": 1.0}),
    "speechiness": (("speechiness", "spoken word", "speech", "talking"), {"speechiness": 1.0}),
}


@dataclass(frozen=True)
class Concept:
    name: str
    phrases: tuple[str, ...]
    columns: tuple[tuple[int, float], ...]  # (column of the concept matrix, sign/weight)


def build_concepts(
    tag_labels: list[str],
    tag_sources: list[str],
    learned: tuple[tuple[str, tuple[str, ...]], ...] = (),
    mood_axes: tuple[str, ...] = (),
) -> list[Concept]:
    """Concepts for a bundle's tag list (``tag_sources[i]`` names the network of tag i), its
    learned concepts ``(name, phrases)``, whose columns follow the descriptor columns, and the mood
    axes (``MOOD_AXES`` when vibenet is installed, else none), whose columns follow those."""
    by_name: dict[str, dict] = {}
    for i, label in enumerate(tag_labels):
        key = label.lower()
        entry = by_name.setdefault(key, {"phrases": [key], "columns": []})
        entry["columns"].append((i, 1.0))
        for alias in TAG_ALIASES.get(key, ()):
            if alias not in entry["phrases"]:
                entry["phrases"].append(alias)
    base = len(tag_labels)
    for name, (phrases, cols) in DESCRIPTOR_CONCEPTS.items():
        entry = by_name.setdefault(name, {"phrases": [], "columns": []})
        for p in phrases:
            if p not in entry["phrases"]:
                entry["phrases"].append(p)
        # A descriptor joins a tag of the same name with the tag's own weight beside it.
        entry["columns"].extend((base + DESCRIPTOR_COLUMNS.index(c), w) for c, w in cols.items())
    first = base + len(DESCRIPTOR_COLUMNS)
    for j, (name, phrases) in enumerate(learned):
        entry = by_name.setdefault(name, {"phrases": [], "columns": []})
        entry["phrases"].extend(p for p in (name, *phrases) if p not in entry["phrases"])
        entry["columns"].append((first + j, 1.0))
    first_mood = first + len(learned)
    for name, (phrases, axes) in MOOD_CONCEPTS.items() if mood_axes else ():
        entry = by_name.setdefault(name, {"phrases": [], "columns": []})
        entry["phrases"].extend(p for p in (phrases or (name,)) if p not in entry["phrases"])
        entry["columns"].extend((first_mood + mood_axes.index(a), w) for a, w in axes.items())
    return [Concept(n, tuple(e["phrases"]), tuple(e["columns"])) for n, e in by_name.items()]


def concept_matrix(
    probs: np.ndarray, desc: dict[str, np.ndarray], learned: np.ndarray | None = None, mood: np.ndarray | None = None
) -> np.ndarray:
    """Per-track raw concept columns: tag log-odds, transformed descriptors (NaN -> column mean),
    the learned concepts' log-odds (``learned`` [n, k]), if any, then the mood axes (``mood``
    [n, 7] in MOOD_AXES order, NaN for a track without them -> column mean), if any: log-odds of
    the likelihood axes, the others as they are."""
    p = np.clip(probs.astype(np.float64), 1e-6, 1 - 1e-6)
    logits = np.log(p / (1 - p))
    n = len(probs)

    def col(name: str, transform) -> np.ndarray:
        v = desc.get(name)
        if v is None:
            return np.zeros(n)
        v = transform(np.asarray(v, dtype=np.float64))
        v = np.where(np.isfinite(v), v, np.nan)
        fill = np.nanmean(v) if np.isfinite(v).any() else 0.0
        return np.where(np.isnan(v), fill, v)

    extra = [
        col("bpm", lambda x: np.log(np.clip(x, 20, 400))),
        col("onset_rate", lambda x: np.log(np.clip(x, 0.05, 50))),
        col("major", lambda x: x),
        col("loudness", lambda x: x),
        col("brightness", lambda x: np.log(np.clip(x, 20, 20000))),
        col("percussive", lambda x: x),
    ]
    parts = [logits, np.stack(extra, axis=1)] + ([learned.astype(np.float64)] if learned is not None else [])
    if mood is not None:
        from musictext.audio.mood import LIKELIHOODS, MOOD_AXES

        cols = []
        for j, axis in enumerate(MOOD_AXES):
            v = mood[:, j].astype(np.float64)
            if axis in LIKELIHOODS:
                q = np.clip(v, 1e-6, 1 - 1e-6)
                v = np.log(q / (1 - q))
            fill = np.nanmean(v) if np.isfinite(v).any() else 0.0
            cols.append(np.where(np.isfinite(v), v, fill))
        parts.append(np.stack(cols, axis=1))
    return np.concatenate(parts, axis=1).astype(np.float32)


def standardise(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations (floored, so a constant column scores zero)."""
    if len(matrix) == 0:
        return np.zeros(matrix.shape[1], np.float32), np.ones(matrix.shape[1], np.float32)
    mu = matrix.mean(axis=0)
    sd = matrix.std(axis=0)
    return mu.astype(np.float32), np.maximum(sd, 1e-3).astype(np.float32)


def concept_weights_to_columns(concepts: list[Concept], weights: dict[int, float], width: int) -> np.ndarray:
    """A query's weights over concepts -> one weight per concept-matrix column."""
    w = np.zeros(width, dtype=np.float32)
    for ci, cw in weights.items():
        cols = concepts[ci].columns
        norm = np.sqrt(sum(s * s for _, s in cols)) or 1.0
        for col, sign in cols:
            w[col] += cw * sign / norm
    return w
