"""`musictext duplicates`: the same recording kept more than once (other formats, bitrates, masters).

Two tracks are one recording when their durations are near-equal and what the audio tower measured
is near-identical: the cosine of their pooled musicnn features (the 400-d penultimate layers,
averaged over the analysed windows). Measured on generated and real music (numbers in the
notes): one recording as WAV, FLAC, MP3 at 48-128 kbps and Ogg Vorbis scores 0.997 or more, and
0.985 at -3 dB; different pieces at most 0.972 (the same notes in another rhythm), a faster
re-recording of the same tune 0.95. Groups are
complete-linkage (every pair in a group is a match), best copy first. Nothing is ever deleted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from musictext.config import db_path
from musictext.library.store import Store, TrackRow
from musictext.model.bundle import get_bundle

MATCH_SIMILARITY = 0.99  # pooled-feature cosine from which two tracks are one recording
# A master at another level (-3 dB scores 0.985: the log-mel front end is level dependent) counts
# from here when the level-free measurements agree too: key, tempo within 2 %, brightness within 5 %.
MASTER_SIMILARITY = 0.98
SURE_SIMILARITY = 0.999  # ... and from which that is certain (confidence 1)
DURATION_SLACK_S = 1.0  # durations may differ by this, or by DURATION_SLACK_SHARE, whichever is more
DURATION_SLACK_SHARE = 0.01
LOSSLESS = frozenset({"flac", "wav", "aiff", "aif", "wv", "ape", "tta", "ofr", "alac", "w64", "rf64", "caf"})


@dataclass(frozen=True)
class Copy:
    track: TrackRow
    similarity: float  # to the best copy of its group
    format: str  # e.g. "flac", "mp3"
    lossless: bool
    sample_rate: int | None
    bits_per_sample: int | None
    bitrate: int | None  # bits per second, as the file's header says

    @property
    def quality(self) -> tuple:
        """Lossless before lossy; then bit depth and sample rate (lossless) or bitrate then rate."""
        if self.lossless:
            return (1, self.bits_per_sample or 0, self.sample_rate or 0, 0)
        return (0, 0, self.bitrate or 0, self.sample_rate or 0)


@dataclass
class DuplicateGroup:
    copies: list[Copy] = field(default_factory=list)  # best first
    confidence: float = 0.0  # of the least sure pair in the group, in [0, 1]


def _slack(a: float, b: float) -> float:
    return max(DURATION_SLACK_S, DURATION_SLACK_SHARE * max(a, b))


def _confidence(similarity: float, dur_a: float, dur_b: float) -> float:
    sim = (similarity - MASTER_SIMILARITY) / (SURE_SIMILARITY - MASTER_SIMILARITY)
    dur = 1.0 - 0.5 * abs(dur_a - dur_b) / _slack(dur_a, dur_b)
    return float(np.clip(sim, 0.0, 1.0) * np.clip(dur, 0.5, 1.0))


def _file_info(track: TrackRow) -> tuple[str, bool, int | None, int | None, int | None]:
    """(format, lossless, sample rate, bits per sample, bitrate) from the file's headers."""
    ext = os.path.splitext(track.path)[1].lower().lstrip(".")
    fmt, rate, bits, bitrate = ext, None, None, None
    try:
        import mutagen

        f = mutagen.File(track.path)
        info = getattr(f, "info", None)
        if info is not None:
            rate = getattr(info, "sample_rate", None) or None
            bits = getattr(info, "bits_per_sample", None) or None
            bitrate = getattr(info, "bitrate", None) or None
            codec = str(getattr(info, "codec", "") or "").lower()
            if codec.startswith("alac"):
                fmt = "alac"
            elif codec.startswith("mp4a"):
                fmt = "aac"
    except Exception:  # an unreadable header: rank it by its extension alone
        pass
    if not bitrate and track.duration:  # no nominal rate in the header (some Vorbis encoders): measure it
        bitrate = int(track.size * 8 / track.duration)
    return fmt, fmt in LOSSLESS, rate, bits, bitrate


def _pairs(durations: np.ndarray, unit: np.ndarray, block: int = 512) -> list[tuple[int, int, float]]:
    """(i, j, similarity) of every pair with near-equal durations and similarity >= MASTER_SIMILARITY.
    Rows are sorted by duration, so each row is compared with a narrow band of neighbours only."""
    order = np.argsort(durations, kind="stable")
    d = durations[order]
    x = unit[order]
    out = []
    n = len(d)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        reach = int(np.searchsorted(d, d[hi - 1] + max(DURATION_SLACK_S, DURATION_SLACK_SHARE * d[hi - 1]), "right"))
        sims = x[lo:hi] @ x[lo:reach].T
        for a, b in zip(*np.nonzero(sims >= MASTER_SIMILARITY)):
            i, j = lo + int(a), lo + int(b)
            if j > i and d[j] - d[i] <= _slack(d[i], d[j]):
                out.append((int(order[i]), int(order[j]), float(sims[a, b])))
    return out


def find_duplicates(model: str | None = None) -> list[DuplicateGroup]:
    """Groups of tracks that are one recording, best copy first, most confident groups first."""
    bundle = get_bundle(model)
    audio_model = bundle.base or bundle.model_id
    with Store(db_path(), readonly=True) as store:
        ids, _, pooled, desc = store.features_matrix(audio_model)
        if len(ids) < 2:
            return []
        tracks = store.tracks(ids.tolist())
    durations = np.array([tracks[int(t)].duration or 0.0 for t in ids], np.float64)
    unit = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    bpm, key, bright = (np.asarray(desc[k], np.float64) for k in ("bpm", "key", "brightness"))

    def agree(i: int, j: int) -> bool:
        same_key = np.isfinite(key[i]) and key[i] == key[j]
        same_tempo = (np.isnan(bpm[i]) and np.isnan(bpm[j])) or abs(np.log(bpm[i] / bpm[j])) < 0.02
        return bool(same_key and same_tempo and abs(np.log(max(bright[i], 1) / max(bright[j], 1))) < 0.05)

    def match(i: int, j: int) -> bool:
        if abs(durations[i] - durations[j]) > _slack(durations[i], durations[j]):
            return False
        sim = float(unit[i] @ unit[j])
        return sim >= MATCH_SIMILARITY or (sim >= MASTER_SIMILARITY and agree(i, j))

    # Complete linkage, most similar pairs first: two groups merge only if every cross pair matches.
    group_of: dict[int, list[int]] = {}
    for i, j, _ in sorted(_pairs(durations, unit), key=lambda p: -p[2]):
        gi, gj = group_of.get(i, [i]), group_of.get(j, [j])
        if gi is gj or not all(match(a, b) for a in gi for b in gj):  # also checks the pair itself
            continue
        merged = gi + gj
        for k in merged:
            group_of[k] = merged
    groups = []
    for members in {id(g): g for g in group_of.values()}.values():
        copies = []
        for k in members:
            fmt, lossless, rate, bits, bitrate = _file_info(tracks[int(ids[k])])
            copies.append((k, Copy(tracks[int(ids[k])], 1.0, fmt, lossless, rate, bits, bitrate)))
        copies.sort(key=lambda kc: (tuple(-q for q in kc[1].quality), kc[1].track.path))
        best = copies[0][0]
        group = DuplicateGroup()
        confidence = 1.0
        for k, c in copies:
            sim = 1.0 if k == best else float(unit[best] @ unit[k])
            group.copies.append(Copy(c.track, round(sim, 4), *_info_tuple(c)))
            for k2, _ in copies:
                if k2 != k:
                    pair = float(unit[k] @ unit[k2])
                    confidence = min(confidence, _confidence(pair, durations[k], durations[k2]))
        group.confidence = round(confidence, 2)
        groups.append(group)
    groups.sort(key=lambda g: (-g.confidence, g.copies[0].track.path))
    return groups


def _info_tuple(c: Copy) -> tuple:
    return (c.format, c.lossless, c.sample_rate, c.bits_per_sample, c.bitrate)
