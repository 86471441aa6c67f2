"""Absolute evidence that a concept holds for a track, and which concepts exclude each other.

Ranking may be relative to the library ("in the top tenth for rock"), but a written tag needs
evidence of its own: a tagger's probability, a learned probe's probability calibrated on its
validation renders, or a measured descriptor past a fixed, musically conventional bound. Every
concept's evidence is a number in [0, 1] where 0.5 is the bound (EVIDENCE_THRESHOLD); a concept
with no such rule (a probe without calibration) gives none; a mood axis (vibenet's value, 0..1) is
its own evidence.

The bounds below were fixed from musical convention before any measurement on the evaluation
corpus, and are not tuned on it: allegro starts near 120 bpm and adagio/andante lie under 80;
eighth notes at 120 bpm are 4 onsets/s; mastered popular music sits around -14 dBFS RMS and
under -30 dBFS is quiet; a spectral centroid over 3 kHz is bright, under 1.2 kHz dull.
"""

from __future__ import annotations

import math

import numpy as np

EVIDENCE_THRESHOLD = 0.5

# Concepts that cannot both hold for one recording (unless the evidence for each is stronger
# than for the other side): a vocal tag on a track the model hears as instrumental, and so on.
VOCAL = frozenset(
    {
        "vocals", "vocal", "singing", "voice", "female", "male", "woman", "man", "opera", "choir", "choral",
        "female vocalists", "male vocalists", "female vocalist", "male vocal", "female vocal", "male voice",
        "female voice",
    }
)  # fmt: skip
NO_VOCALS = frozenset({"instrumental", "no vocals", "no vocal", "no voice"})
OPPOSITES: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (VOCAL, NO_VOCALS),
    (frozenset({"fast"}), frozenset({"slow"})),
    (frozenset({"major key"}), frozenset({"minor key"})),
    (frozenset({"loud"}), frozenset({"quiet", "soft"})),
    (frozenset({"bright"}), frozenset({"dark"})),
    (frozenset({"happy"}), frozenset({"sad"})),
)
# At most one of each group per track (a recording is from one decade).
EXCLUSIVE: tuple[frozenset[str], ...] = (frozenset({"60s", "70s", "80s", "90s", "00s"}),)

# Measured descriptor concepts: every condition must hold; (descriptor, direction, bound, scale),
# evidence sigmoid(direction * (f(value) - f(bound)) / scale), f = log for the ratio-scale ones.
_LOG = frozenset({"bpm", "onset_rate", "brightness"})
DESCRIPTOR_EVIDENCE: dict[str, tuple[tuple[str, int, float, float], ...]] = {
    "fast": (("bpm", +1, 120.0, 0.05), ("onset_rate", +1, 4.0, 0.1)),
    "slow": (("bpm", -1, 80.0, 0.05), ("onset_rate", -1, 2.0, 0.1)),
    "major key": (("major", +1, 0.1, 0.03),),
    "minor key": (("major", -1, -0.1, 0.03),),
    "loud": (("loudness", +1, -14.0, 1.5),),
    "quiet": (("loudness", -1, -30.0, 1.5),),
    "bright": (("brightness", +1, 3000.0, 0.1),),
    "dark": (("brightness", -1, 1200.0, 0.1),),
    "percussive": (("percussive", +1, 0.5, 0.04),),
}


def opposite(a: str, b: str) -> bool:
    """Do concepts ``a`` and ``b`` exclude each other?"""
    return any((a in x and b in y) or (a in y and b in x) for x, y in OPPOSITES)


def opposite_side(names: set[str]) -> frozenset[str]:
    """The concepts opposite to a term whose concepts are ``names`` (empty when it has no side)."""
    for x, y in OPPOSITES:
        if names and names <= x:
            return y
        if names and names <= y:
            return x
    return frozenset()


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def descriptor_evidence(name: str, values: dict[str, np.ndarray], judged: np.ndarray) -> np.ndarray | None:
    """[n] evidence for descriptor concept ``name`` from measured ``values`` (NaN: not measured,
    no evidence), 0 where the track is too short to judge (``judged`` False). None: no rule."""
    rule = DESCRIPTOR_EVIDENCE.get(name)
    if rule is None:
        return None
    out = None
    for column, direction, bound, scale in rule:
        v = np.asarray(values[column], np.float64)
        if column in _LOG:
            z = (np.log(np.clip(v, 1e-6, None)) - math.log(bound)) / scale
        else:
            z = (v - bound) / scale
        p = np.where(np.isfinite(v), sigmoid(direction * z), 0.0)
        out = p if out is None else np.minimum(out, p)
    return np.where(judged, out, 0.0)


def evidence_sources(bundle, concept) -> list[str]:
    """What could give ``concept`` evidence in ``bundle``: "measured", "tagger", "probe"
    (calibrated); empty when nothing can, so a term that means only it is never written."""
    from musictext.concepts import DESCRIPTOR_COLUMNS
    from musictext.model.probes import learned_concepts, probes_owner

    if concept.name in DESCRIPTOR_EVIDENCE:
        return ["measured"]
    n_tags = len(bundle.manifest["tags"])
    first_learned = n_tags + len(DESCRIPTOR_COLUMNS)
    learned = learned_concepts(bundle)
    names = learned.names if learned else ()
    listed = probes_owner(bundle).manifest.get("learned_concepts") or []
    calibrated = {c["name"] for c in listed if c.get("calibration")}
    out = []
    for col, _ in concept.columns:
        if col < n_tags:
            out.append("tagger")
        elif first_learned <= col < first_learned + len(names) and names[col - first_learned] in calibrated:
            out.append("probe")
        elif col >= first_learned + len(names):  # a mood axis (only there when vibenet is installed)
            out.append("mood")
    return list(dict.fromkeys(out))


class TrackEvidence:
    """Every concept's evidence for every track of a ``Library`` (its ``space`` rows), computed once."""

    def __init__(self, lib):
        from musictext.concepts import DESCRIPTOR_COLUMNS
        from musictext.library.space import SHORT_SECONDS, measured_seconds
        from musictext.model.probes import learned_concepts, probes_owner

        self.lib = lib
        lib.matcher  # noqa: B018 - sets lib.concepts
        self.n_tags = len(lib.bundle.manifest["tags"])
        self.first_learned = self.n_tags + len(DESCRIPTOR_COLUMNS)
        learned = learned_concepts(lib.bundle)
        self.learned_names = learned.names if learned else ()
        listed = probes_owner(lib.bundle).manifest.get("learned_concepts") or []
        self.calibration = {c["name"]: c.get("calibration") for c in listed}
        ids, values = lib.store.descriptor_values(lib.audio_model)
        at = np.clip(np.searchsorted(ids, lib.space.ids), 0, max(len(ids) - 1, 0))
        found = (ids[at] == lib.space.ids) if len(ids) else np.zeros(len(lib.space), bool)
        self.values = {k: np.where(found, v[at], np.nan) if len(ids) else v for k, v in values.items()}
        self.judged = measured_seconds(lib.store, lib.audio_model, lib.space.ids) >= SHORT_SECONDS
        self._cache: dict[int, np.ndarray | None] = {}
        # The mood axes as stored (0..1; NaN where a track has none): vibenet's likelihoods and degrees
        # are absolute, so an axis is its own evidence (0.5 the bound), a negative weight 1 - it.
        from musictext.library.space import active_mood

        mood = active_mood()
        self.first_mood = self.first_learned + len(self.learned_names)
        self.mood = lib.store.mood_matrix(mood, lib.space.ids).astype(np.float64) if mood else None

    def concept(self, ci: int) -> np.ndarray | None:
        """[tracks] evidence for concept ``ci``: its measured rule if it has one, else the mean
        probability of its tagger tags and calibrated probes; None when it has no evidence."""
        if ci in self._cache:
            return self._cache[ci]
        concept = self.lib.concepts[ci]
        out = descriptor_evidence(concept.name, self.values, self.judged)
        if out is None:
            probs = []
            for col, weight in concept.columns:
                raw = np.asarray(self.lib.space.raw[:, col], np.float64)
                if col < self.n_tags:
                    probs.append(sigmoid(raw))  # the column is the tag's log-odds
                elif self.first_learned <= col < self.first_learned + len(self.learned_names):
                    cal = self.calibration.get(self.learned_names[col - self.first_learned])
                    if cal:  # Platt scaling fitted on the probe's validation renders
                        probs.append(sigmoid(cal["a"] * raw + cal["b"]))
                elif self.mood is not None and col >= self.first_mood:
                    axis = self.mood[:, col - self.first_mood]
                    probs.append(np.where(np.isnan(axis), 0.0, axis if weight > 0 else 1.0 - axis))
            out = np.mean(probs, axis=0) if probs else None
        self._cache[ci] = out
        return out

    def side(self, names: frozenset[str]) -> np.ndarray | None:
        """[tracks] the strongest evidence for any of the concepts ``names`` (None: none has any)."""
        found = [self.concept(self.lib.matcher.index[n]) for n in names if n in self.lib.matcher.index]
        found = [f for f in found if f is not None]
        return np.max(found, axis=0) if found else None

    def plans(self, plans) -> tuple[np.ndarray | None, set[str]]:
        """Evidence for a whole vocabulary prompt (its term plans) and the concepts it asserts.

        Each matched word must hold: the evidence is the least over the words. A broad word holds
        when any of its concepts does (the most); a lexicon entry by its weights (the weighted mean
        of its concepts' evidence, a subtracted concept's taken as 1 - evidence); a subtracted term
        as 1 - its evidence. Words that matched nothing with evidence do not count; a prompt none
        of whose words has any gets None: nothing to write."""
        words: list[np.ndarray] = []
        asserted: set[str] = set()
        for plan in plans:
            spans: dict[tuple[str, str], list] = {}
            for m in plan.matches:
                spans.setdefault((m.span, m.entry), []).append(m)
            for (_, entry), matches in spans.items():
                if entry:
                    parts = [(self.concept(m.concept), m.share) for m in matches]
                    parts = [(e if w > 0 else 1 - e, abs(w)) for e, w in parts if e is not None]
                    value = sum(e * w for e, w in parts) / sum(w for _, w in parts) if parts else None
                else:
                    found = [e for e in (self.concept(m.concept) for m in matches) if e is not None]
                    value = np.max(found, axis=0) if found else None
                    if plan.term.weight > 0:
                        asserted |= {self.lib.concepts[m.concept].name for m in matches}
                if value is not None:
                    words.append(value if plan.term.weight > 0 else 1 - value)
        return (np.min(words, axis=0) if words else None), asserted
