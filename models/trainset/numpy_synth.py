"""numpy renderer (--renderer numpy): every note synthesised here (our own code, MIT); no soundfont,
no fluidsynth. Instruments are recipes over a few building blocks: wavetable/additive partials,
band-limited saw/square (polyBLEP), Karplus-Strong strings, RBJ biquads, formant filters."""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import fftconvolve, lfilter

from . import SR
from .instruments import CLAP, CRASH, HH, OHH, PHH, RIDE, RIM, SN, THI, TLO, TMID, K
from .midi import PPQ, Part

NP_SOUNDFONT = "numpy-synth"
NP_INFO = {
    "licence": "MIT",
    "copyright": "musictext authors",
    "note": "note-by-note synthesis in numpy/scipy (models/make_training_set.py); no samples, no soundfont",
}
NYQ = SR / 2 - 500


def _hz(p: float) -> float:
    return 440.0 * 2 ** ((p - 69) / 12)


def _biquad(kind: str, f0: float, q: float = 0.707, gain_db: float = 0.0):
    f0 = min(max(f0, 20.0), SR / 2 * 0.95)
    w0 = 2 * math.pi * f0 / SR
    al, cw = math.sin(w0) / (2 * q), math.cos(w0)
    if kind == "lp":
        b, a = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2], [1 + al, -2 * cw, 1 - al]
    elif kind == "hp":
        b, a = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + al, -2 * cw, 1 - al]
    elif kind == "bp":
        b, a = [al, 0.0, -al], [1 + al, -2 * cw, 1 - al]
    else:  # peaking
        A = 10 ** (gain_db / 40)
        b, a = [1 + al * A, -2 * cw, 1 - al * A], [1 + al / A, -2 * cw, 1 - al / A]
    return np.array(b) / a[0], np.array(a) / a[0]


def _filt(x: np.ndarray, kind: str, f0: float, q: float = 0.707, gain_db: float = 0.0) -> np.ndarray:
    b, a = _biquad(kind, f0, q, gain_db)
    return lfilter(b, a, x)


def _formants(x: np.ndarray, forms: list[tuple[float, float, float]]) -> np.ndarray:
    """Parallel band-pass resonators: (centre Hz, Q, linear gain)."""
    return sum(g * _filt(x, "bp", f, q) for f, q, g in forms)


def _env(n_on: int, rel: float, a: float = 0.01, d: float = 0.2, s: float = 1.0) -> np.ndarray:
    n = n_on + int(rel * SR)
    t = np.arange(n) / SR
    e = np.where(t < a, t / max(a, 1e-4), s + (1 - s) * np.exp(-(t - a) / max(d, 1e-3)))
    if n > n_on:
        lvl = e[max(0, n_on - 1)]
        e[n_on:] = lvl * np.exp(-(t[n_on:] - t[n_on]) * 6.9 / max(rel, 1e-3))
    return e


def _phase(
    hz: float,
    n: int,
    rng,
    vib_hz: float = 0.0,
    vib_cents: float = 0.0,
    vib_delay: float = 0.25,
    drift: float = 0.0,
    bend: float = 0.0,
    bend_t: float = 0.05,
) -> np.ndarray:
    """Instantaneous phase in cycles (vibrato, onset pitch bend in semitones, slow random drift in cents)."""
    t = np.arange(n) / SR
    cents = np.zeros(n)
    if vib_cents:
        ramp = np.clip((t - vib_delay) / 0.4, 0, 1)
        cents += vib_cents * ramp * np.sin(2 * math.pi * vib_hz * t + rng.uniform(0, 6.28))
    if drift:
        cents += drift * np.sin(2 * math.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.28))
    if bend:
        cents += 100 * bend * np.exp(-t / bend_t)
    f = hz * 2 ** (cents / 1200) if (vib_cents or drift or bend) else np.full(n, hz)
    return np.cumsum(f) / SR + rng.uniform(0, 1)


def _blep(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    out = np.zeros_like(t)
    m = t < dt
    x = t[m] / dt[m]
    out[m] = 2 * x - x * x - 1
    m = t > 1 - dt
    x = (t[m] - 1) / dt[m]
    out[m] = x * x + 2 * x + 1
    return out


def _saw(ph: np.ndarray) -> np.ndarray:
    dt = np.maximum(np.diff(ph, prepend=ph[0] - (ph[1] - ph[0] if len(ph) > 1 else 0.01)), 1e-5)
    t = ph % 1.0
    return 2 * t - 1 - _blep(t, dt)


def _square(ph: np.ndarray, width: float = 0.5) -> np.ndarray:
    return 0.5 * (_saw(ph) - _saw(ph + width))


def _wavetable(ph: np.ndarray, hz: float, harms: dict[int, float]) -> np.ndarray:
    """Harmonic series (integer multiples of hz -> amplitude) through a 4096-point table."""
    tbl_x = np.arange(4096) / 4096
    tbl = np.zeros(4096)
    for k, amp in harms.items():
        if k * hz < NYQ:
            tbl += amp * np.sin(2 * math.pi * k * tbl_x)
    return tbl[((ph % 1.0) * 4096).astype(np.int64) & 4095]


def _partials(
    n: int, hz: float, rng, parts: list[tuple[float, float, float]], damp_from: int | None = None, damp: float = 0.1
) -> np.ndarray:
    """Decaying sine partials (ratio, amplitude, decay time constant s); optional damping after note-off."""
    t = np.arange(n) / SR
    y = np.zeros(n)
    for ratio, amp, tau in parts:
        f = hz * ratio
        if f >= NYQ:
            continue
        y += amp * np.sin(2 * math.pi * f * t + rng.uniform(0, 6.28)) * np.exp(-t / tau)
    if damp_from is not None and damp_from < n:
        y[damp_from:] *= np.exp(-(t[damp_from:] - t[damp_from]) / damp)
    return y


def _noise(rng, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def _ks(hz: float, n: int, rng, bright: float = 0.5, decay: float = 2.0, pick: float = 0.13) -> np.ndarray:
    """Karplus-Strong plucked string (two-tap loop filter, fractional delay through the tap weights)."""
    D = SR / hz
    P = max(2, int(D))
    w = min(max(D - P, 0.05), 0.95)
    exc = rng.uniform(-1, 1, P + 1)
    exc = lfilter([bright], [1, -(1 - bright)], exc)  # tone control: darker excitation
    k = max(1, int(pick * P))  # pluck position comb
    exc = exc - np.roll(exc, k) * 0.6
    g = 10 ** (-3 / (decay * hz))
    buf = np.zeros(n + P + 1)
    buf[: P + 1] = exc
    pos = P + 1
    total = len(buf)
    while pos < total:
        m = min(P, total - pos)
        buf[pos : pos + m] = g * ((1 - w) * buf[pos - P : pos - P + m] + w * buf[pos - P - 1 : pos - P - 1 + m])
        pos += m
    return buf[P + 1 :]


def _soft_clip(x: np.ndarray, drive: float) -> np.ndarray:
    return np.tanh(drive * x / (np.max(np.abs(x)) + 1e-9)) / math.tanh(drive)


# recipes: key -> (family, params)
NP_RECIPES: dict[str, tuple[str, dict]] = {
    # organs: harmonic multiples of the 16' (sub-octave) foot -> level
    "church_organ": (
        "organ",
        {
            "bars": {
                1: 0.5,
                2: 1.0,
                3: 0.45,
                4: 0.7,
                6: 0.35,
                8: 0.45,
                10: 0.15,
                12: 0.25,
                16: 0.15,
                20: 0.05,
                24: 0.08,
            },
            "chorus": 4.0,
            "chiff": 0.25,
            "rel": 0.6,
            "att": 0.05,
            "rev": 0.9,
        },
    ),
    "drawbar_organ": (
        "organ",
        {
            "bars": {1: 0.7, 2: 1.0, 3: 0.8, 4: 0.4, 6: 0.2},
            "perc": 6,
            "leslie": 0.25,
            "click": 0.3,
            "rel": 0.05,
            "att": 0.004,
        },
    ),
    "rock_organ": (
        "organ",
        {
            "bars": {1: 0.8, 2: 1.0, 3: 0.9, 4: 0.7, 6: 0.5, 8: 0.4, 16: 0.3},
            "perc": 6,
            "leslie": 0.45,
            "click": 0.5,
            "drive": 3.0,
            "rel": 0.05,
            "att": 0.004,
        },
    ),
    "reed_organ": (
        "reed",
        {
            "mix": 0.6,
            "forms": [(900, 2.0, 1.0), (2200, 3.0, 0.6)],
            "vib": (5.0, 4),
            "att": 0.06,
            "det": 3,
            "rel": 0.2,
            "lp": 3500,
        },
    ),
    "accordion": (
        "reed",
        {
            "mix": 0.4,
            "forms": [(1200, 2.5, 1.0), (2600, 3.0, 0.7)],
            "vib": (0, 0),
            "att": 0.03,
            "det": 9,
            "trem": (6.0, 0.15),
            "rel": 0.08,
            "lp": 5000,
        },
    ),
    "harmonica": (
        "reed",
        {
            "mix": 0.2,
            "forms": [(1500, 2.0, 1.0), (3000, 3.0, 0.5)],
            "vib": (5.5, 18),
            "att": 0.04,
            "det": 0,
            "breath": 0.12,
            "rel": 0.08,
            "lp": 4500,
        },
    ),
    # struck / plucked-keyboard / mallets
    "acoustic_grand_piano": ("piano", {"bright": 0.7, "B": 0.0004, "decay": 3.5}),
    "bright_piano": ("piano", {"bright": 1.2, "B": 0.0005, "decay": 3.0}),
    "electric_piano": ("epiano", {}),
    "harpsichord": ("pluck", {"bright": 0.9, "decay": 1.6, "octave": 0.45, "hp": 200, "damp": 0.05}),
    "clavinet": ("pluck", {"bright": 0.8, "decay": 0.9, "hp": 350, "peaks": [(1500, 1.5, 8)], "damp": 0.02}),
    "celesta": ("mallet", {"parts": [(1, 1, 1.2), (2, 0.15, 0.4), (4.1, 0.25, 0.15)], "click": 0.1}),
    "glockenspiel": ("mallet", {"parts": [(1, 1, 2.0), (2.71, 0.5, 0.8), (5.1, 0.3, 0.3)], "click": 0.15}),
    "music_box": ("mallet", {"parts": [(1, 1, 1.2), (3.0, 0.3, 0.2), (5.9, 0.25, 0.06)], "click": 0.25}),
    "vibraphone": (
        "mallet",
        {"parts": [(1, 1, 2.8), (4.0, 0.3, 0.5), (10.0, 0.08, 0.1)], "click": 0.05, "trem": (5.0, 0.45), "damp": 0.25},
    ),
    "marimba": ("mallet", {"parts": [(1, 1, 0.5), (3.93, 0.35, 0.1), (9.2, 0.08, 0.03)], "click": 0.12, "thump": 0.5}),
    "xylophone": ("mallet", {"parts": [(1, 1, 0.25), (3.0, 0.5, 0.08), (6.2, 0.2, 0.03)], "click": 0.3}),
    "tubular_bells": (
        "mallet",
        {
            "parts": [
                (1, 1, 4.0),
                (2.0, 0.7, 3.0),
                (3.0, 0.5, 2.5),
                (4.16, 0.45, 1.8),
                (5.43, 0.3, 1.2),
                (6.79, 0.2, 0.8),
            ],
            "click": 0.1,
        },
    ),
    "kalimba": ("mallet", {"parts": [(1, 1, 0.8), (5.8, 0.25, 0.05)], "click": 0.3, "thump": 0.3}),
    "steel_drums": (
        "mallet",
        {"parts": [(1, 1, 1.0), (2.0, 0.7, 0.6), (3.0, 0.35, 0.4), (4.52, 0.1, 0.2)], "click": 0.05, "bend": 0.3},
    ),
    "timpani": (
        "mallet",
        {
            "parts": [(1, 1, 1.6), (1.5, 0.6, 1.1), (1.98, 0.4, 0.8), (2.44, 0.25, 0.6)],
            "click": 0.0,
            "thump": 1.0,
            "bend": 0.4,
        },
    ),
    # plucked strings (Karplus-Strong)
    "nylon_guitar": ("pluck", {"bright": 0.35, "decay": 2.5, "peaks": [(110, 2.0, 6), (220, 2.0, 4)], "lp": 4000}),
    "steel_guitar": ("pluck", {"bright": 0.65, "decay": 3.0, "peaks": [(100, 2.0, 5), (2500, 1.0, 3)]}),
    "jazz_guitar": ("pluck", {"bright": 0.25, "decay": 2.0, "lp": 2200, "peaks": [(250, 1.0, 3)]}),
    "clean_guitar": ("pluck", {"bright": 0.5, "decay": 2.5, "lp": 4500, "chorus": 0.4}),
    "overdriven_guitar": ("pluck", {"bright": 0.5, "decay": 5.0, "drive": 5.0, "lp": 3500, "hp": 90}),
    "distortion_guitar": (
        "pluck",
        {"bright": 0.6, "decay": 6.0, "drive": 18.0, "lp": 3000, "hp": 100, "peaks": [(800, 1.0, -4)], "chorus": 0.7},
    ),
    "acoustic_bass": ("pluck", {"bright": 0.2, "decay": 1.5, "lp": 1200, "peaks": [(90, 1.5, 4)]}),
    "electric_bass": ("pluck", {"bright": 0.3, "decay": 2.5, "lp": 2000}),
    "picked_bass": ("pluck", {"bright": 0.6, "decay": 2.2, "lp": 3000, "click": 0.2}),
    "fretless_bass": ("pluck", {"bright": 0.2, "decay": 3.0, "lp": 1500, "peaks": [(700, 2.0, 5)]}),
    "harp": ("pluck", {"bright": 0.3, "decay": 4.0, "lp": 5000, "damp": 1.5}),
    "banjo": ("pluck", {"bright": 0.85, "decay": 0.8, "hp": 250, "peaks": [(1800, 1.2, 8)]}),
    "sitar": ("pluck", {"bright": 0.8, "decay": 3.0, "buzz": 0.6, "peaks": [(2500, 2.0, 8)], "bend": 0.15}),
    "koto": ("pluck", {"bright": 0.6, "decay": 1.6, "peaks": [(400, 1.5, 5)], "bend": 0.12}),
    "pizzicato_strings": (
        "pluck",
        {"bright": 0.35, "decay": 0.45, "peaks": [(300, 1.5, 5), (1000, 1.5, 3)], "voices": 3},
    ),
    # bowed strings: saw + vibrato + body resonances
    "violin": ("bowed", {"att": 0.09, "vib": (5.8, 18), "body": [(290, 2, 6), (1000, 1.5, 3), (2800, 2, 5)]}),
    "viola": ("bowed", {"att": 0.1, "vib": (5.5, 16), "body": [(230, 2, 6), (800, 1.5, 3), (2200, 2, 4)]}),
    "cello": ("bowed", {"att": 0.12, "vib": (5.2, 15), "body": [(150, 2, 6), (500, 1.5, 3), (1800, 2, 3)], "lp": 4000}),
    "contrabass": ("bowed", {"att": 0.15, "vib": (5.0, 10), "body": [(80, 2, 6), (300, 1.5, 3)], "lp": 2000}),
    "fiddle": ("bowed", {"att": 0.04, "vib": (6.2, 8), "body": [(300, 2, 5), (1200, 1.5, 4), (3000, 2, 6)]}),
    "string_ensemble": (
        "bowed",
        {
            "att": 0.2,
            "vib": (5.5, 14),
            "voices": 4,
            "det": 9,
            "body": [(250, 1.5, 4), (900, 1.5, 2), (2600, 1.5, 3)],
            "lp": 6000,
        },
    ),
    "slow_strings": (
        "bowed",
        {
            "att": 0.55,
            "vib": (5.2, 12),
            "voices": 4,
            "det": 10,
            "rel": 0.8,
            "body": [(250, 1.5, 4), (900, 1.5, 2)],
            "lp": 4500,
        },
    ),
    "synth_strings": ("bowed", {"att": 0.3, "vib": (0, 0), "voices": 3, "det": 14, "body": [], "lp": 3000, "rel": 0.6}),
    # brass: brightness follows the envelope, lip blat at onset
    "trumpet": ("brass", {"dark": 900, "bright": 5000, "att": 0.03, "blat": 0.8}),
    "trombone": ("brass", {"dark": 500, "bright": 3000, "att": 0.05, "blat": 0.8}),
    "tuba": ("brass", {"dark": 250, "bright": 1200, "att": 0.07, "blat": 0.6}),
    "muted_trumpet": ("brass", {"dark": 1200, "bright": 4000, "att": 0.02, "blat": 0.4, "mute": True}),
    "french_horn": ("brass", {"dark": 400, "bright": 1500, "att": 0.08, "blat": 0.3}),
    "brass_section": ("brass", {"dark": 700, "bright": 4000, "att": 0.04, "blat": 0.7, "voices": 3}),
    # reeds and flutes
    "soprano_sax": ("sax", {"forms": [(700, 2, 1.0), (1700, 3, 0.7), (3000, 4, 0.4)], "lp": 6000}),
    "alto_sax": ("sax", {"forms": [(550, 2, 1.0), (1400, 3, 0.7), (2700, 4, 0.35)], "lp": 5000}),
    "tenor_sax": ("sax", {"forms": [(450, 2, 1.0), (1200, 3, 0.6), (2500, 4, 0.3)], "lp": 4500}),
    "baritone_sax": ("sax", {"forms": [(300, 2, 1.0), (900, 3, 0.6), (2200, 4, 0.25)], "lp": 3500}),
    "clarinet": ("pulse", {"width": 0.5, "lp": 2500, "forms": [(1500, 2, 0.3)], "vib": (0, 0), "breath": 0.03}),
    "oboe": (
        "pulse",
        {"width": 0.15, "lp": 5000, "forms": [(1100, 3, 1.0), (2900, 4, 0.5)], "vib": (5.5, 10), "breath": 0.02},
    ),
    "english_horn": (
        "pulse",
        {"width": 0.18, "lp": 4000, "forms": [(950, 3, 1.0), (2400, 4, 0.4)], "vib": (5.2, 9), "breath": 0.02},
    ),
    "bassoon": (
        "pulse",
        {"width": 0.2, "lp": 2500, "forms": [(480, 3, 1.0), (1200, 4, 0.4)], "vib": (5.0, 6), "breath": 0.02},
    ),
    "flute": ("flute", {"h": {1: 1.0, 2: 0.25, 3: 0.08, 4: 0.03}, "breath": 0.09, "vib": (5.0, 14)}),
    "piccolo": ("flute", {"h": {1: 1.0, 2: 0.15, 3: 0.05}, "breath": 0.07, "vib": (5.5, 12)}),
    "recorder": ("flute", {"h": {1: 1.0, 2: 0.1, 3: 0.15}, "breath": 0.05, "vib": (0, 0), "chiff": 0.3}),
    "pan_flute": ("flute", {"h": {1: 1.0, 2: 0.1, 3: 0.03}, "breath": 0.25, "vib": (4.5, 8), "chiff": 0.5}),
    "ocarina": ("flute", {"h": {1: 1.0, 3: 0.03}, "breath": 0.03, "vib": (5.0, 6)}),
    "bagpipe": (
        "pulse",
        {
            "width": 0.25,
            "lp": 6000,
            "forms": [(1300, 3, 1.0), (3000, 4, 0.6)],
            "vib": (0, 0),
            "breath": 0.02,
            "drone": True,
        },
    ),
    # voices: glottal pulses through formants
    "choir_aahs": (
        "voice",
        {"forms": [(750, 8, 1.0), (1200, 10, 0.6), (2600, 14, 0.25), (3400, 16, 0.12)], "voices": 4},
    ),
    "voice_oohs": ("voice", {"forms": [(330, 6, 1.0), (750, 8, 0.35), (2300, 14, 0.06)], "voices": 4}),
    # synths
    "square_lead": ("synth", {"osc": "square", "lp": 5000, "att": 0.005, "vib": (5.5, 10)}),
    "saw_lead": ("synth", {"osc": "saw", "voices": 2, "det": 8, "lp": 4500, "fenv": 3000, "att": 0.005}),
    "new_age_pad": ("synth", {"osc": "saw", "voices": 2, "det": 6, "lp": 1800, "att": 0.35, "rel": 1.0, "bell": 0.5}),
    "warm_pad": ("synth", {"osc": "saw", "voices": 3, "det": 9, "lp": 1100, "att": 0.5, "rel": 1.0}),
    "polysynth": ("synth", {"osc": "saw", "voices": 2, "det": 10, "lp": 1500, "fenv": 3500, "att": 0.01, "rel": 0.3}),
    "sweep_pad": ("synth", {"osc": "saw", "voices": 3, "det": 8, "lp": 600, "sweep": 3500, "att": 0.4, "rel": 1.0}),
    "synth_bass": ("synth", {"osc": "sawsq", "lp": 400, "fenv": 2500, "att": 0.003, "rel": 0.05, "fdec": 0.12}),
}


def _syn_organ(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    base = hz / 2  # 16' foot
    e = _env(n_on, p["rel"], a=p["att"], s=1.0)
    n = len(e)
    ph = _phase(base, n, rng)
    y = _wavetable(ph, base, p["bars"])
    if p.get("chorus"):
        ph2 = _phase(base * 2 ** (p["chorus"] / 1200), n, rng)
        y = 0.6 * y + 0.4 * _wavetable(ph2, base, p["bars"])
    if p.get("leslie"):
        t = np.arange(n) / SR
        rot = rng.uniform(5.5, 7.0)
        lfo = np.sin(2 * math.pi * rot * t + rng.uniform(0, 6.28))
        ph = _phase(base, n, rng, vib_hz=rot, vib_cents=8, vib_delay=0)
        y = _wavetable(ph, base, p["bars"]) * (1 + p["leslie"] * lfo)
    if p.get("perc"):
        t = np.arange(n) / SR
        y = y + 0.6 * _wavetable(ph, base, {p["perc"]: 1.0}) * np.exp(-t / 0.18)
    y = y * e
    if p.get("chiff"):
        m = min(n, int(0.08 * SR))
        ch = _filt(_noise(rng, m), "bp", min(hz * 4, 6000), 1.5) * np.exp(-np.arange(m) / (0.025 * SR))
        y[:m] += p["chiff"] * ch * np.max(np.abs(y))
    if p.get("click"):
        m = min(n, int(0.004 * SR))
        y[:m] += p["click"] * rng.uniform(-1, 1, m) * np.max(np.abs(y))
    if p.get("drive"):
        y = _filt(_soft_clip(y, p["drive"]), "lp", 5000)
    return y


def _syn_reed(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, p["rel"], a=p["att"], s=1.0)
    n = len(e)
    vh, vc = p["vib"]
    y = np.zeros(n)
    for det in (-p["det"], p["det"]) if p["det"] else (0,):
        ph = _phase(hz * 2 ** (det / 1200), n, rng, vh, vc, 0.15)
        y += p["mix"] * _saw(ph) + (1 - p["mix"]) * _square(ph, 0.5)
    y = 0.4 * y + _formants(y, p["forms"])
    y = _filt(y, "lp", p["lp"])
    if p.get("breath"):
        y += p["breath"] * _filt(_noise(rng, n), "bp", 2000, 0.7) * np.std(y) * 3
    if p.get("trem"):
        th, td = p["trem"]
        y *= 1 + td * np.sin(2 * math.pi * th * np.arange(n) / SR)
    return y * e


def _syn_piano(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    decay = p["decay"] * (1.6 - min(1.2, hz / 800))
    n = n_on + int(0.25 * SR)
    n = min(n, int((decay * 2 + 0.3) * SR) + n_on // 4 + 1) if n_on > decay * 2 * SR else n
    b = p["B"]
    br = p["bright"] * (0.5 + vel / 127)
    parts = []
    for k in range(1, 16):
        ratio = k * math.sqrt(1 + b * k * k)
        amp = (1 / k**1.1) * math.exp(-(k - 1) / (4 * br))
        parts.append((ratio, amp, decay / (1 + 0.35 * (k - 1))))
        parts.append((ratio * 2 ** (rng.uniform(0.5, 1.5) / 1200), amp * 0.7, decay / (1 + 0.35 * (k - 1)) * 1.4))
    y = _partials(n, hz, rng, parts, damp_from=n_on, damp=0.08)
    m = min(n, int(0.03 * SR))
    ham = _filt(_noise(rng, m), "lp", 1500 + 2000 * br) * np.exp(-np.arange(m) / (0.006 * SR))
    y[:m] += 0.3 * ham * np.max(np.abs(y))
    return y


def _syn_epiano(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    n = n_on + int(0.3 * SR)
    t = np.arange(n) / SR
    idx = (0.5 + 2.0 * vel / 127) * np.exp(-t / 0.25)
    ph0 = rng.uniform(0, 6.28)
    car = np.sin(2 * math.pi * hz * t + ph0 + idx * np.sin(2 * math.pi * hz * t))
    y = car * np.exp(-t / 1.8)
    if hz * 14 < NYQ:
        y += 0.12 * np.sin(2 * math.pi * hz * 14 * t) * np.exp(-t / 0.03)
    y *= 1 + 0.25 * np.sin(2 * math.pi * 4.5 * t)
    y[n_on:] *= np.exp(-(t[n_on:] - t[n_on]) / 0.07)
    return y


def _syn_mallet(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    tau = max(x[2] for x in p["parts"])
    n = min(n_on + int(0.4 * SR), int((tau * 5 + 0.1) * SR)) if "damp" in p else int((tau * 5 + 0.1) * SR)
    n = max(n, int(0.05 * SR))
    y = _partials(n, hz, rng, p["parts"], damp_from=n_on if "damp" in p else None, damp=p.get("damp", 0.1))
    if p.get("bend"):
        ph = _phase(hz, n, rng, bend=p["bend"], bend_t=0.03)
        y = 0.6 * y + 0.4 * np.sin(2 * math.pi * ph) * np.exp(-np.arange(n) / SR / p["parts"][0][2])
    peak = np.max(np.abs(y)) + 1e-9
    m = min(n, int(0.02 * SR))
    if p.get("click"):
        y[:m] += p["click"] * peak * _filt(_noise(rng, m), "hp", 2000) * np.exp(-np.arange(m) / (0.002 * SR))
    if p.get("thump"):
        m = min(n, int(0.08 * SR))
        y[:m] += p["thump"] * peak * _filt(_noise(rng, m), "lp", 300) * np.exp(-np.arange(m) / (0.015 * SR))
    if p.get("trem"):
        th, td = p["trem"]
        y *= 1 + td * np.sin(2 * math.pi * th * np.arange(n) / SR + rng.uniform(0, 6.28))
    return y


def _syn_pluck(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    ring = p.get("damp", 0.12)
    n = min(n_on + int(ring * 4 * SR), int((p["decay"] * 1.2 + 0.2) * SR))
    n = max(n, int(0.05 * SR))
    bright = min(0.98, p["bright"] * (0.6 + 0.6 * vel / 127))
    y = np.zeros(n)
    for v in range(p.get("voices", 1)):
        f = hz * 2 ** (rng.uniform(-6, 6) / 1200) if v else hz
        s = _ks(f, n, rng, bright, p["decay"])
        if v:
            off = int(rng.uniform(0.0, 0.025) * SR)
            s = np.concatenate([np.zeros(off), s[: n - off]])
        y += s
    if p.get("octave"):
        y += p["octave"] * _ks(hz * 2, n, rng, bright, p["decay"] * 0.7)
    if p.get("chorus"):
        y += p["chorus"] * _ks(hz * 2 ** (7 / 1200), n, rng, bright, p["decay"])
    if p.get("bend"):  # slight onset pitch glide via a second string (sitar/koto meend-ish colour)
        ph = _phase(hz, n, rng, bend=-p["bend"], bend_t=0.08)
        y += 0.2 * np.std(y) * _saw(ph) * np.exp(-np.arange(n) / SR / p["decay"])
    if p.get("buzz"):
        y = y + p["buzz"] * np.sign(y) * y * y / (np.max(np.abs(y)) + 1e-9)
    if p.get("click"):
        m = min(n, int(0.004 * SR))
        y[:m] += p["click"] * np.max(np.abs(y)) * rng.uniform(-1, 1, m)
    for f0, q, g in p.get("peaks", []):
        y = _filt(y, "pk", f0, q, g)
    if p.get("drive"):
        y = _soft_clip(_filt(y, "hp", 120), p["drive"])
    if p.get("hp"):
        y = _filt(y, "hp", p["hp"])
    if p.get("lp"):
        y = _filt(y, "lp", p["lp"])
        if p.get("drive"):
            y = _filt(y, "lp", p["lp"] * 1.3)  # cabinet: steeper roll-off
    if n > n_on:
        y[n_on:] *= np.exp(-np.arange(n - n_on) / SR / ring)
    return y


def _syn_bowed(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, p.get("rel", 0.25), a=p["att"], s=1.0)
    n = len(e)
    vh, vc = p["vib"]
    nv, det = p.get("voices", 1), p.get("det", 0)
    y = np.zeros(n)
    for _v in range(nv):
        d = rng.uniform(-det, det) if nv > 1 else 0
        ph = _phase(hz * 2 ** (d / 1200), n, rng, vh * rng.uniform(0.9, 1.1), vc, 0.2, drift=3)
        s = _saw(ph)
        if nv > 1:
            off = int(rng.uniform(0, 0.04) * SR)
            s = np.concatenate([np.zeros(off), s[: n - off]])
        y += s
    y = y / math.sqrt(nv)
    for f0, q, g in p["body"]:
        y = _filt(y, "pk", f0, q, g)
    y = _filt(y, "lp", p.get("lp", 7000))
    y += 0.01 * _filt(_noise(rng, n), "bp", 3000, 0.8)  # bow noise
    return y * e


def _syn_brass(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.12, a=p["att"], d=0.25, s=0.8)
    n = len(e)
    nv = p.get("voices", 1)
    y = np.zeros(n)
    for _v in range(nv):
        d = rng.uniform(-7, 7) if nv > 1 else 0
        ph = _phase(hz * 2 ** (d / 1200), n, rng, 5.0, 8, 0.3, bend=-0.6 * p["blat"], bend_t=0.03)
        y += _saw(ph)
    dark = _filt(_filt(y, "lp", p["dark"]), "lp", p["dark"])
    bright = _filt(y, "lp", p["bright"] * (0.6 + 0.5 * vel / 127))
    w = e**2
    y = dark * (1 - w) + bright * w
    m = min(n, int(0.04 * SR))
    y[:m] += p["blat"] * 0.3 * np.std(y) * _filt(_noise(rng, m), "bp", hz * 3, 2) * np.linspace(1, 0, m)
    if p.get("mute"):
        y = _filt(_filt(y, "hp", 700), "pk", 1800, 2, 10)
    return y * e


def _syn_sax(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.1, a=0.03, d=0.2, s=0.85)
    n = len(e)
    ph = _phase(hz, n, rng, 5.0, 12, 0.3, bend=-0.3, bend_t=0.03)
    y = 0.7 * _saw(ph) + 0.3 * _square(ph, 0.35)
    y = 0.3 * y + _formants(y, p["forms"])
    y = _filt(y, "lp", p["lp"] * (0.6 + 0.5 * vel / 127))
    y += 0.06 * np.std(y) * 3 * _filt(_noise(rng, n), "bp", 2500, 0.8)
    return y * e


def _syn_pulse(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.08, a=0.03, d=0.2, s=0.9)
    n = len(e)
    vh, vc = p["vib"]
    ph = _phase(hz, n, rng, vh, vc, 0.3)
    y = _square(ph, p["width"])
    y = 0.5 * y + _formants(y, p["forms"])
    y = _filt(y, "lp", p["lp"])
    y += p["breath"] * np.std(y) * 4 * _filt(_noise(rng, n), "bp", 2500, 0.8)
    return y * e


def _syn_flute(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.08, a=0.05, d=0.2, s=0.9)
    n = len(e)
    vh, vc = p["vib"]
    ph = _phase(hz, n, rng, vh, vc, 0.25)
    y = _wavetable(ph, hz, p["h"])
    y += p["breath"] * 2 * _filt(_noise(rng, n), "bp", min(hz * 2, 8000), 1.2)
    if p.get("chiff"):
        m = min(n, int(0.05 * SR))
        y[:m] += p["chiff"] * _filt(_noise(rng, m), "bp", min(hz * 4, 8000), 2) * np.linspace(1, 0, m)
    return y * e


def _glottal(ph: np.ndarray) -> np.ndarray:
    t = ph % 1.0
    return np.where(t < 0.6, 0.5 - 0.5 * np.cos(math.pi * t / 0.6), np.cos(math.pi * (t - 0.6) / 0.8)) - 0.35


def _syn_voice(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.25, a=0.15, s=1.0)
    n = len(e)
    nv = p.get("voices", 1)
    y = np.zeros(n)
    for _ in range(nv):
        ph = _phase(hz * 2 ** (rng.uniform(-10, 10) / 1200), n, rng, rng.uniform(4.5, 6), 20, 0.2, drift=4)
        y += _glottal(ph)
    y = _filt(y, "hp", 80)
    y = _formants(y, p["forms"])
    y += 0.03 * np.std(y) * 3 * _filt(_noise(rng, n), "bp", 3000, 1)
    return y * e


def _syn_synth(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, p.get("rel", 0.1), a=p["att"], d=0.3, s=0.85)
    n = len(e)
    nv, det = p.get("voices", 1), p.get("det", 0)
    vh, vc = p.get("vib", (0, 0))
    y = np.zeros(n)
    for v in range(nv):
        d = (v / max(1, nv - 1) * 2 - 1) * det if nv > 1 else 0
        ph = _phase(hz * 2 ** (d / 1200), n, rng, vh, vc, 0.3)
        if p["osc"] == "square":
            y += _square(ph)
        elif p["osc"] == "sawsq":
            y += 0.6 * _saw(ph) + 0.6 * _square(_phase(hz / 2, n, rng))
        else:
            y += _saw(ph)
    dark = _filt(_filt(y, "lp", p["lp"]), "lp", p["lp"])
    t = np.arange(n) / SR
    if p.get("fenv"):
        bright = _filt(_filt(y, "lp", p["lp"] + p["fenv"]), "lp", p["lp"] + p["fenv"])
        w = np.exp(-t / p.get("fdec", 0.3))
        y = dark * (1 - w) + bright * w
    elif p.get("sweep"):
        bright = _filt(_filt(y, "lp", p["sweep"]), "lp", p["sweep"])
        w = 0.5 - 0.5 * np.cos(2 * math.pi * 0.25 * t)
        y = dark * (1 - w) + bright * w
    else:
        y = dark
    if p.get("bell"):
        y += p["bell"] * np.std(y) * 3 * np.sin(2 * math.pi * hz * 2 * t) * np.exp(-t / 0.8)
    return y * e


NP_FAMILY = {
    "organ": _syn_organ,
    "reed": _syn_reed,
    "piano": _syn_piano,
    "epiano": _syn_epiano,
    "mallet": _syn_mallet,
    "pluck": _syn_pluck,
    "bowed": _syn_bowed,
    "brass": _syn_brass,
    "sax": _syn_sax,
    "pulse": _syn_pulse,
    "flute": _syn_flute,
    "voice": _syn_voice,
    "synth": _syn_synth,
}


def _drum(note: int, vel: int, kit: int, rng) -> np.ndarray:
    """Synthesised kit pieces; the kit number (standard, room, power, electronic, 808, brush) shifts the recipes."""
    e808 = kit in (24, 25)
    brush = kit == 40
    power = kit == 16

    def tt(sec: float) -> np.ndarray:
        return np.arange(int(sec * SR)) / SR

    def metal(sec: float, tau: float, hp: float) -> np.ndarray:
        t = tt(sec)
        fs = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
        sq = sum(np.sign(np.sin(2 * math.pi * f * 1.7 * t + rng.uniform(0, 6.28))) for f in fs)
        y = 0.5 * sq / 6 + (0.3 if e808 else 0.8) * _noise(rng, len(t))
        return _filt(_filt(y, "hp", hp), "hp", hp) * np.exp(-t / tau)

    if note == K:
        t = tt(0.9 if kit == 25 else 0.45)
        f0, f1 = (55, 160) if kit == 25 else (50, 130 if not power else 110)
        f = f0 + (f1 - f0) * np.exp(-t / 0.03)
        y = np.sin(2 * math.pi * np.cumsum(f) / SR) * np.exp(-t / (0.45 if kit == 25 else 0.18 if not brush else 0.12))
        m = int(0.005 * SR)
        y[:m] += 0.4 * rng.uniform(-1, 1, m) * (0.2 if brush else 1)
        if power:
            y = _soft_clip(y, 2.5)
    elif note in (SN, RIM, CLAP):
        if note == RIM:
            t = tt(0.08)
            y = np.sin(2 * math.pi * 1700 * t) * np.exp(-t / 0.01) + 0.3 * _noise(rng, len(t)) * np.exp(-t / 0.005)
        elif note == CLAP:
            t = tt(0.35)
            env = sum(np.where(t >= d, np.exp(-(t - d) / 0.008), 0) for d in (0, 0.011, 0.022))
            env = env + 0.6 * np.where(t >= 0.03, np.exp(-(t - 0.03) / 0.09), 0)
            y = _filt(_noise(rng, len(t)), "bp", 1200, 1.2) * env
        elif brush:
            t = tt(0.35)
            y = _filt(_noise(rng, len(t)), "bp", 3500, 0.6) * (np.exp(-t / 0.12) * np.minimum(1, t / 0.015))
        else:
            t = tt(0.3)
            tone = np.sin(2 * math.pi * (180 + 60 * np.exp(-t / 0.01)) * t) * np.exp(-t / 0.05)
            nz = _filt(_noise(rng, len(t)), "hp", 1500 if e808 else 900) * np.exp(-t / (0.07 if not power else 0.12))
            y = 0.6 * tone + 0.8 * nz
            if power:
                y = _soft_clip(y, 2.0)
    elif note in (HH, PHH):
        y = metal(0.12, 0.03 if note == HH else 0.02, 7000)
    elif note == OHH:
        y = metal(0.5, 0.16, 6500)
    elif note == RIDE:
        y = metal(1.2, 0.5, 4000)
        t = tt(1.2)
        y += 0.25 * np.sin(2 * math.pi * 3200 * t) * np.exp(-t / 0.4)
    elif note == CRASH:
        y = metal(2.0, 0.7, 2500)
    elif note in (TLO, TMID, THI):
        t = tt(0.5)
        f0 = {TLO: 90, TMID: 125, THI: 170}[note] * (1.3 if e808 else 1.0)
        f = f0 * (1 + 0.5 * np.exp(-t / 0.04))
        y = np.sin(2 * math.pi * np.cumsum(f) / SR) * np.exp(-t / 0.22) + 0.15 * _noise(rng, len(t)) * np.exp(-t / 0.02)
    else:
        t = tt(0.2)
        y = _noise(rng, len(t)) * np.exp(-t / 0.05)
    return y * (vel / 127) ** 1.6


def _reverb_ir(rng, rt60: float) -> np.ndarray:
    t = np.arange(int(rt60 * SR)) / SR
    ir = _noise(rng, len(t)) * np.exp(-t * 6.9 / rt60)
    ir = lfilter([0.35], [1, -0.65], ir)  # darker tail
    ir[: int(0.012 * SR)] = 0  # pre-delay
    return ir / np.sqrt(np.sum(ir**2))


def render_numpy(parts: list[Part], labels: dict, seed: int) -> np.ndarray:
    """Synthesise the clip's note events (the same Part lists write_midi gets) into a mono float32 signal."""
    rng = np.random.default_rng(seed)
    sec_per_tick = 60.0 / (labels["bpm"] * PPQ)
    total = int(labels["end_tick"] * sec_per_tick * SR) + 1
    dry = np.zeros(total)
    send = np.zeros(total)
    church = False
    for part in parts:
        bus = np.zeros(total)
        if part.channel == 9:
            kit = part.program
            for s, _d, pitch, vel in part.notes:
                y = _drum(pitch, vel, kit, rng)
                i0 = int((s + 10) * sec_per_tick * SR)
                m = min(len(y), total - i0)
                if m > 0:
                    bus[i0 : i0 + m] += y[:m]
            bus *= 0.5
        else:
            fam, prm = NP_RECIPES[part.inst_key]
            fn = NP_FAMILY[fam]
            church |= part.inst_key == "church_organ"
            for s, d, pitch, vel in part.notes:
                if not 0 <= pitch <= 127:
                    continue
                i0 = int((s + 10) * sec_per_tick * SR)
                n_on = max(1, int(d * sec_per_tick * SR))
                y = fn(prm, _hz(pitch), n_on, vel, rng)
                win = y[: min(len(y), n_on, int(0.5 * SR))]
                rms = float(np.sqrt(np.mean(win**2))) if win.size else 0.0
                y = y * (0.25 / (rms + 1e-6)) * (vel / 127) ** 1.5
                m = min(len(y), total - i0)
                if m > 0:
                    bus[i0 : i0 + m] += y[:m]
            if prm.get("drone"):  # bagpipe drones on the tonic (the composer ends every part on it)
                tonic = part.notes[-1][2] % 12 if part.notes else 0
                a0 = int((part.notes[0][0] + 10) * sec_per_tick * SR) if part.notes else 0
                a1 = int((part.notes[-1][0] + part.notes[-1][1] + 10) * sec_per_tick * SR) if part.notes else 0
                a1 = min(a1, total)
                if a1 > a0:
                    n = a1 - a0
                    dr = (
                        sum(_filt(_saw(_phase(_hz(36 + tonic + o), n, rng)), "lp", 1500) for o in (0, 12, 19))
                        * _env(n, 0.0, a=0.2)[:n]
                    )
                    bus[a0:a1] += 0.12 * dr
        gain = (part.volume / 127) ** 2
        dry += gain * bus
        send += gain * bus * (part.reverb / 127) * (2.5 if part.inst_key == "church_organ" else 1.0)
    rt60 = 3.2 if church else float(rng.uniform(0.6, 1.8))
    wet = fftconvolve(send, _reverb_ir(rng, rt60))[:total]
    y = dry + 0.5 * wet
    return y.astype(np.float32)
