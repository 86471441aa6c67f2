"""Measured audio descriptors (tempo, key, loudness, brightness, ...) from 16 kHz mono audio.

The input is what :func:`musictext.audio.decode.track_patches` analysed: usually several ~3 s windows
laid end to end (``window_starts`` says how many), so every estimate is made per window and then
aggregated (autocorrelations averaged, chroma summed, energies summed); nothing straddles the
joins between windows.

Everything is plain NumPy on three short-time spectra (librosa is used only for its mel and chroma
filter banks, built once and cached), so 24 s of audio costs a few tens of milliseconds on one core.

Undefined values are NaN (callers map non-finite to NULL/None): ``bpm`` when there is no clear
pulse (a drone, noise, silence), ``key`` when there is no pitched content (silence). Audio with no
signal (below -90 dBFS) gives ``onset_rate``/``brightness``/``percussive_ratio``/``major_score``/
``pulse_strength``/``key_strength`` 0.0 and ``loudness_db`` floored at -120. Every field is a float,
so ``json.dumps(dataclasses.asdict(d))`` works (NaN is written as ``NaN``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

SR = 16000
N_FFT = 1024  # onset/HPSS/brightness spectrum: 64 ms window
HOP = 256  # 16 ms hop -> 62.5 onset frames per second
N_MELS = 64
CHROMA_N_FFT = 4096  # 3.9 Hz bins, enough to tell semitones apart from ~100 Hz up
CHROMA_HOP = 2048
BPM_MIN, BPM_MAX = 40.0, 220.0
PITCH_FLUX_BINS = (3, 400)  # linear-spectrum bins the tempo novelty looks at (47 Hz..6.2 kHz)
MIN_PULSE = 0.1  # averaged, normalised onset autocorrelation needed to report a tempo
ONSET_DELTA_DB = 1.0  # an onset must rise this much (mean dB flux) above its local mean
SILENT_DB = -90.0
FLOOR_DB = -120.0

# Krumhansl-Kessler key profiles (C major, C minor); rotate for the other tonics.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Descriptor names as stored, in order (the audio_features columns of musictext.library.store).
DESCRIPTOR_NAMES = ("bpm", "onset_rate", "key", "major", "loudness", "brightness", "percussive")
# The ones a trained head and the concept space use: the key's pitch class is categorical and left out.
SCALAR_DESCRIPTORS = tuple(n for n in DESCRIPTOR_NAMES if n != "key")


@dataclass(frozen=True)
class Descriptors:
    bpm: float  # tempo in 40..220; NaN: no clear pulse (a drone, noise, silence)
    pulse_strength: float  # height of the chosen onset-autocorrelation peak, in [0, 1]
    onset_rate: float  # detected onsets per second
    key: float  # tonic pitch class 0..11 (C=0); NaN when undefined
    major_score: float  # in [-1, 1]: best major-profile correlation minus best minor
    key_strength: float  # correlation of the best key profile, in [-1, 1]
    loudness_db: float  # RMS level in dBFS
    brightness: float  # mean spectral centroid in Hz
    percussive_ratio: float  # HPSS percussive energy / total energy, in [0, 1]


def _empty(loudness_db: float) -> Descriptors:
    """The descriptors of audio with no usable signal."""
    return Descriptors(
        bpm=math.nan,
        pulse_strength=0.0,
        onset_rate=0.0,
        key=math.nan,
        major_score=0.0,
        key_strength=0.0,
        loudness_db=float(loudness_db),
        brightness=0.0,
        percussive_ratio=0.0,
    )


def key_name(d: Descriptors) -> str:
    """E.g. "A minor"; "" when the key is undefined."""
    if not math.isfinite(d.key):
        return ""
    return f"{KEY_NAMES[int(d.key)]} {'major' if d.major_score >= 0 else 'minor'}"


@functools.lru_cache(maxsize=4)
def _mel_basis(sr: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS, fmin=30.0, fmax=sr / 2).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _chroma_basis(sr: int) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=CHROMA_N_FFT).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def _power_spec(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """[frames, n_fft/2+1] power spectrum of frames that lie wholly inside ``y`` (no padding)."""
    if y.shape[0] < n_fft:
        y = np.concatenate([y, np.zeros(n_fft - y.shape[0], dtype=np.float32)])
    import scipy.fft

    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    spec = scipy.fft.rfft(frames * _hann(n_fft), axis=1, workers=1)  # float32 in, complex64 out
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def _median_filter(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Running median of odd length ``k`` along ``axis`` (edges reflected)."""
    h = k // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (h, h)
    xp = np.pad(x, pad, mode="reflect") if x.shape[axis] > h else np.pad(x, pad, mode="edge")
    w = np.lib.stride_tricks.sliding_window_view(xp, k, axis=axis)
    return np.partition(w, h, axis=-1)[..., h]


def _windows(samples: np.ndarray, window_starts) -> list[np.ndarray]:
    if not window_starts or len(window_starts) <= 1:
        return [samples]
    k = len(window_starts)
    n = samples.shape[0] // k
    return [samples[i * n : (i + 1) * n] for i in range(k)]


def _pitch_flux(P: np.ndarray, ref: float) -> np.ndarray:
    """Tempo novelty: SuperFlux-style positive flux of the log magnitude on the linear bins.

    A legato line changes pitch without an energy rise, which the 64 mel bands average away; on
    the 15.6 Hz bins (47 Hz..6.2 kHz) the new note's partials rise where the old ones were absent.
    Each bin is compared with the maximum of its neighbours one frame earlier (a vibrato or a
    glide within a bin does not count). One value per frame transition, like the mel flux.
    """
    L = np.log1p(1000.0 * np.sqrt(P[:, PITCH_FLUX_BINS[0] : PITCH_FLUX_BINS[1]] / ref))
    mx = np.maximum(np.maximum(L[:, :-2], L[:, 1:-1]), L[:, 2:])
    return np.maximum(L[1:, 1:-1] - mx[:-1], 0.0).sum(axis=1)


def _tempo(acs: list[np.ndarray], fps: float) -> tuple[float, float]:
    """BPM from averaged onset autocorrelations, weighted by a log-normal prior around 120."""
    if not acs:
        return math.nan, 0.0
    max_lag = max(a.shape[0] for a in acs)
    ac = np.zeros(max_lag)
    for a in acs:
        ac[: a.shape[0]] += a
    ac /= len(acs)
    lo = max(1, int(math.floor(60.0 * fps / BPM_MAX)))
    hi = min(max_lag - 2, int(math.ceil(60.0 * fps / BPM_MIN)))
    if hi <= lo or ac[0] <= 0:
        return math.nan, 0.0
    lags = np.arange(lo, hi + 1)
    bpms = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpms / 120.0) / 1.0) ** 2)  # librosa's default: 1 octave
    score = np.maximum(ac[lags], 0.0) * prior
    i = int(np.argmax(score))
    strength = float(max(0.0, ac[lags[i]]))
    if strength < MIN_PULSE:
        return math.nan, strength
    lag = float(lags[i])
    if 0 < i < len(lags) - 1:  # parabolic interpolation of the autocorrelation peak
        a, b, c = ac[lags[i] - 1], ac[lags[i]], ac[lags[i] + 1]
        den = a - 2 * b + c
        if den < 0:
            lag += 0.5 * (a - c) / den
    return float(min(BPM_MAX, max(BPM_MIN, 60.0 * fps / lag))), strength


def describe(samples: np.ndarray, sr: int = SR, window_starts=None) -> Descriptors:
    """Measure tempo, onset rate, key/mode, loudness, brightness and percussiveness.

    ``samples``: mono float audio at ``sr`` (16 kHz expected; others work). ``window_starts``:
    one entry per window when ``samples`` is several equal windows laid end to end (only its
    length is used); None means one contiguous excerpt.
    """
    y = np.ascontiguousarray(samples, dtype=np.float32).ravel()
    if y.size == 0:
        return _empty(FLOOR_DB)
    rms = math.sqrt(float(np.dot(y, y)) / y.size)
    loudness = max(FLOOR_DB, 20.0 * math.log10(rms)) if rms > 0 else FLOOR_DB
    if loudness <= SILENT_DB:
        return _empty(loudness)

    mel_basis = _mel_basis(sr)
    chroma_basis = _chroma_basis(sr)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sr).astype(np.float32)
    fps = sr / HOP

    envs, specs, powers = [], [], []
    centroid_num = centroid_den = 0.0
    perc_energy = total_energy = 0.0
    chroma = np.zeros(12, dtype=np.float64)
    for w in _windows(y, window_starts):
        if w.shape[0] < N_FFT:
            continue
        P = _power_spec(w, N_FFT, HOP)  # [frames, 513]
        mag = np.sqrt(P)
        # Brightness: magnitude-weighted centroid over all frames of all windows (silent
        # frames carry no weight, so they do not drag the mean towards 0 Hz).
        centroid_num += float(mag.sum(axis=0) @ freqs)
        centroid_den += float(mag.sum())
        M = P @ mel_basis.T  # [frames, 64] mel power
        specs.append(M)
        powers.append(P)
        # HPSS on the mel spectrogram (soft masks, power 2), librosa-style kernels of ~0.27 s
        # in time and 9 bands in frequency: percussive share of the energy.
        H = _median_filter(M, 17, axis=0)
        Pm = _median_filter(M, 9, axis=1)
        mask = Pm**2 / np.maximum(H**2 + Pm**2, 1e-30)
        perc_energy += float((mask * M).sum())
        total_energy += float(M.sum())
        # Chroma for the key: long frames for semitone resolution.
        if w.shape[0] >= CHROMA_N_FFT:
            C = _power_spec(w, CHROMA_N_FFT, CHROMA_HOP)
            chroma += (np.sqrt(C) @ chroma_basis.T).sum(axis=0)

    if not specs:
        return _empty(loudness)

    # Onset strength: positive log-mel flux (dB, floored 80 dB under the loudest bin overall).
    ref = max(float(max(m.max() for m in specs)), 1e-20)
    acs, onsets, seconds = [], 0, 0.0
    env_max = 0.0
    for M in specs:
        S = 10.0 * np.log10(np.maximum(M, ref * 1e-8) / ref)
        env = np.maximum(np.diff(S, axis=0), 0.0).mean(axis=1)
        envs.append(env)
        env_max = max(env_max, float(env.max()) if env.size else 0.0)
        seconds += M.shape[0] / fps
    p_ref = max(float(max(P.max() for P in powers)), 1e-20)
    for env, P in zip(envs, powers):
        if env.size < 8:
            continue
        e = _pitch_flux(P, p_ref)
        e = e - e.mean()
        n = e.size
        f = np.fft.rfft(e, 2 * n)
        ac = np.fft.irfft(f * np.conj(f))[:n]  # biased autocorrelation
        if ac[0] > 0:
            acs.append(ac / ac[0])
        onsets += _count_onsets(env, env_max, fps)
    bpm, pulse = _tempo(acs, fps)
    if env_max < ONSET_DELTA_DB:  # no onset anywhere (a drone, a sine): any periodicity is an
        bpm, pulse = math.nan, 0.0  # artefact of the hop beating against the waveform, not a tempo
    onset_rate = onsets / seconds if seconds > 0 else 0.0

    brightness = centroid_num / centroid_den if centroid_den > 0 else 0.0
    percussive = perc_energy / total_energy if total_energy > 0 else 0.0

    key, major_score, strength = math.nan, 0.0, 0.0
    if chroma.sum() > 0 and chroma.std() > 0:
        c = (chroma - chroma.mean()) / chroma.std()
        best = {}
        for name, prof in (("major", _MAJOR), ("minor", _MINOR)):
            p = (prof - prof.mean()) / prof.std()
            corr = np.array([np.dot(c, np.roll(p, k)) / 12.0 for k in range(12)])
            best[name] = (float(corr.max()), int(corr.argmax()))
        mode = "major" if best["major"][0] >= best["minor"][0] else "minor"
        key = float(best[mode][1])
        strength = best[mode][0]
        major_score = float(np.clip(best["major"][0] - best["minor"][0], -1.0, 1.0))

    return Descriptors(
        bpm=round(bpm, 2) if math.isfinite(bpm) else math.nan,
        pulse_strength=round(pulse, 4),
        onset_rate=round(float(onset_rate), 3),
        key=key,
        major_score=round(major_score, 4),
        key_strength=round(float(strength), 4),
        loudness_db=round(float(loudness), 2),
        brightness=round(float(brightness), 1),
        percussive_ratio=round(float(min(1.0, max(0.0, percussive))), 4),
    )


def _count_onsets(env: np.ndarray, env_max: float, fps: float) -> int:
    """librosa.util.peak_pick-like: local maxima above a local mean + delta, 30 ms apart.

    ``delta`` is 7% of the loudest onset (librosa's 0.07 on a normalised envelope) but at least
    ONSET_DELTA_DB, so the flux noise of a steady tone or of noise does not count as onsets.
    """
    if env_max <= 0 or env.size < 3:
        return 0
    e = env
    pre_max = max(1, int(round(0.03 * fps)))
    avg = max(1, int(round(0.10 * fps)))
    delta, wait = max(0.07 * env_max, ONSET_DELTA_DB), max(1, int(round(0.03 * fps)))
    padded = np.pad(e, (pre_max, 0), mode="edge")
    local_max = np.lib.stride_tricks.sliding_window_view(padded, pre_max + 1).max(axis=1)
    kernel = np.ones(2 * avg + 1) / (2 * avg + 1)
    local_mean = np.convolve(np.pad(e, avg, mode="edge"), kernel, mode="valid")
    cand = np.flatnonzero((e >= local_max) & (e >= local_mean + delta))
    count, last = 0, -(10**9)
    for i in cand:
        if i - last > wait:
            count += 1
            last = i
    return count
