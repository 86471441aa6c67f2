"""musictext.audio.descriptors on synthetic signals whose truth is known."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pytest

from musictext.audio.descriptors import Descriptors, describe, key_name
from musictext.audio.frontend import PATCH_SAMPLES

SR = 16000


def clicks(bpm: float, seconds: float, amp: float = 0.5) -> np.ndarray:
    n = int(seconds * SR)
    y = np.zeros(n, np.float32)
    m = int(0.01 * SR)
    burst = np.random.default_rng(0).standard_normal(m) * np.exp(-np.arange(m) / (0.002 * SR))
    burst = (amp * burst / np.abs(burst).max()).astype(np.float32)
    t = 0.0
    while int(round(t * SR)) + m < n:
        i = int(round(t * SR))
        y[i : i + m] += burst
        t += 60.0 / bpm
    return y


def tone(freqs, seconds: float, amp: float = 0.1, harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    y = sum(
        0.5**h * np.sin(2 * np.pi * f * (h + 1) * t) for f in freqs for h in range(harmonics) if f * (h + 1) < SR / 2
    )
    return (amp * y / np.abs(y).max()).astype(np.float32)


def midi(m: int) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def progression(chords, seconds_per: float = 1.5) -> np.ndarray:
    out = []
    fade = int(0.02 * SR)
    for chord in chords:
        seg = tone([midi(m) for m in chord], seconds_per, amp=0.3)
        seg[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        seg[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        out.append(seg)
    return np.concatenate(out)


C_MAJOR = [(48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 62, 67), (48, 60, 64, 67)]  # C F G C
A_MINOR = [(45, 57, 60, 64), (50, 57, 62, 65), (52, 56, 59, 64), (45, 57, 60, 64)]  # Am Dm E Am


def windows(y: np.ndarray, k: int = 8):
    """What sampled decoding hands over: k patch-length windows spread evenly, end to end."""
    starts = [int((i + 0.5) * len(y) / k - PATCH_SAMPLES / 2) for i in range(k)]
    return np.concatenate([y[s : s + PATCH_SAMPLES] for s in starts]), [s / SR for s in starts]


def run(y: np.ndarray) -> Descriptors:
    samples, starts = windows(y)
    return describe(samples, window_starts=starts)


@pytest.mark.parametrize("bpm", [120, 170, 90])
def test_click_track_tempo(bpm):
    d = run(clicks(bpm, 60))
    assert d.bpm == pytest.approx(bpm, abs=2)
    assert d.onset_rate == pytest.approx(bpm / 60, rel=0.1)
    assert d.percussive_ratio > 0.8
    assert d.pulse_strength > 0.5


def test_tempo_on_one_contiguous_excerpt():
    d = describe(clicks(120, 24))
    assert d.bpm == pytest.approx(120, abs=2)


def test_faster_click_track_has_more_onsets():
    assert run(clicks(170, 60)).onset_rate > run(clicks(120, 60)).onset_rate


def test_key_and_mode():
    c = run(np.tile(progression(C_MAJOR), 5))
    a = run(np.tile(progression(A_MINOR), 5))
    assert (c.key, key_name(c)) == (0.0, "C major") and c.major_score > 0
    assert (a.key, key_name(a)) == (9.0, "A minor") and a.major_score < 0
    assert -1 <= a.major_score <= 1 and -1 <= c.major_score <= 1


def test_loudness():
    quiet, loud = run(tone([220], 30, amp=0.01, harmonics=1)), run(tone([220], 30, amp=0.5, harmonics=1))
    assert loud.loudness_db == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=1.0)
    assert loud.loudness_db - quiet.loudness_db == pytest.approx(20 * math.log10(50), abs=0.5)


def test_brightness_and_percussiveness():
    dull = run(tone([100], 30, harmonics=1))
    bright = run((np.random.default_rng(0).standard_normal(SR * 30) * 0.1).astype(np.float32))
    assert dull.brightness == pytest.approx(100, abs=15)
    assert bright.brightness > 3000
    assert dull.percussive_ratio < 0.1
    steady = run(tone([220, 330], 30))
    assert steady.percussive_ratio < 0.2 and math.isnan(steady.bpm) and steady.onset_rate == 0


def test_silence_and_empty():
    for y in (np.zeros(SR * 10, np.float32), np.zeros(0, np.float32)):
        d = describe(y)
        assert math.isnan(d.bpm) and math.isnan(d.key) and d.loudness_db == -120.0 and key_name(d) == ""


def test_json_able_floats():
    d = run(clicks(120, 30))
    row = asdict(d)
    assert all(isinstance(v, float) for v in row.values())
    assert json.loads(json.dumps(row))["bpm"] == d.bpm


def legato(bpm: float, seconds: float) -> np.ndarray:
    """A phase-continuous line at constant loudness, one new pitch per beat: no energy rise at all
    at the note changes (what a bowed or blown legato solo gives), only the pitch moves."""
    rng = np.random.default_rng(1)
    beat = 60.0 / bpm
    n = int(seconds * SR)
    notes = [60]
    while len(notes) * beat < seconds + beat:
        notes.append(int(notes[-1] + rng.choice([-2, -1, 1, 2])) % 12 + 55)
    t = np.arange(n) / SR
    f0 = np.array([midi(m) for m in notes])[(t / beat).astype(int)]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(0.5**h * np.sin((h + 1) * phase) for h in range(4))
    return (0.2 * y / np.abs(y).max()).astype(np.float32)


@pytest.mark.parametrize("bpm", [72, 100, 132])
def test_legato_line_tempo(bpm):
    d = run(legato(bpm, 60))
    assert d.bpm == pytest.approx(bpm, rel=0.04)
