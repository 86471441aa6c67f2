"""Mood axes (valence, energy, danceability, ...) from vibenet's ONNX network, when it is installed.

vibenet (GPL-3.0-or-later, Jaeheon Shim) ships an EfficientNet student distilled on the Free Music
Archive that predicts seven perceptual attributes from a log-mel spectrogram. It is an opt-in
extra: `pip install --no-deps vibenet==0.1.0` (its declared dependencies would put the CPU ONNX
runtime over onnxruntime-gpu; what it needs at run time, numpy, librosa and an ONNX runtime, is
already musictext's). musictext never copies the model: it loads the ONNX file from the installed
package, after checking its sha256, and none of vibenet's Python code runs.

The front end is vibenet 0.1.0's ``vibenet.core.extract_mel`` reproduced here: 16 kHz mono,
periodic Hann window of 640 samples zero-padded to n_fft 1024, hop 320, no centring, power
spectrum, 128 Slaney mel bands 0-8000 Hz (librosa.filters.mel), 10·log10(max(1e-10, mel)) floored
80 dB under the excerpt's maximum. Outputs: likelihood axes (acousticness, instrumentalness,
liveness) through a sigmoid, the others clipped to [0, 1], as ``InferenceResult.from_logits`` does.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musictext.errors import ModelError
from musictext.model.runtime import LazyGraph

# In the order the network outputs them (vibenet.labels).
VIBENET_LABELS = (
    "acousticness",
    "danceability",
    "energy",
    "instrumentalness",
    "liveness",
    "speechiness",
    "valence",
)
LIKELIHOODS = frozenset({"acousticness", "instrumentalness", "liveness"})
# As stored and shown: the order users read them in.
MOOD_AXES = ("valence", "energy", "danceability", "acousticness", "instrumentalness", "liveness", "speechiness")
SUPPORTED = {
    # version -> sha256 of vibenet/artifacts/efficientnet_model.onnx (its wheel's RECORD says the same)
    "0.1.0": "efa88450153863a1461989a00846526ac9230665b19fbf82f33e46fdeef7d275",
}
INSTALL = "pip install --no-deps vibenet==0.1.0"
FRONTEND_VERSION = 1  # bump when the excerpt or the front end changes: stored mood axes are redone
SR = 16000
N_FFT, HOP, WIN, N_MELS, FMAX, TOP_DB = 1024, 320, 640, 128, 8000.0, 80.0
MIN_SECONDS = 1.0


@dataclass(frozen=True)
class MoodModel:
    """Where the installed vibenet's network is, or why there is none."""

    version: str | None
    path: Path | None
    problem: str | None = None  # why the axes are unavailable although vibenet is there

    @property
    def available(self) -> bool:
        return self.path is not None and self.problem is None

    @property
    def model_id(self) -> str:
        """What stored mood axes are labelled with (a different network or excerpt never mixes)."""
        return f"vibenet@{self.version}+m{FRONTEND_VERSION}"


def _installed_version(package: Path) -> str | None:
    """vibenet's version from the dist-info folder beside the package (what importlib.metadata
    reads, without the ~15 ms its import costs a cold `search`); importlib.metadata otherwise."""
    infos = list(package.parent.glob("vibenet-*.dist-info"))
    if len(infos) == 1 and (infos[0] / "METADATA").is_file():
        return infos[0].name[len("vibenet-") : -len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vibenet")
    except PackageNotFoundError:
        return None


@functools.cache
def find_mood_model() -> MoodModel:
    """The installed vibenet's ONNX file (checked), without importing vibenet."""
    # find_spec first: it is cheap, and importlib.metadata alone costs ~15 ms to import (a cold
    # `search` pays it). No importable package is "not installed", whatever metadata is left over.
    spec = importlib.util.find_spec("vibenet")
    if spec is None or not spec.origin:
        return MoodModel(None, None)
    found = _installed_version(Path(spec.origin).parent)
    if found is None:
        return MoodModel(None, None)
    path = Path(spec.origin).parent / "artifacts" / "efficientnet_model.onnx"
    expected = SUPPORTED.get(found)
    if expected is None:
        return MoodModel(found, None, f"vibenet {found} is not supported (supported: {', '.join(SUPPORTED)})")
    if not path.is_file():
        return MoodModel(found, None, f"vibenet {found} has no {path.name}")
    from musictext.model.bundle import verify_file

    try:  # hashed once, then trusted by its stamp (size, mtime, ctime, inode), as bundle files are
        verify_file(path, expected)
    except ModelError:
        return MoodModel(found, None, f"vibenet's {path.name} does not match vibenet {found}'s checksum")
    return MoodModel(found, path)


@functools.lru_cache(maxsize=2)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=FMAX).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _window() -> np.ndarray:
    n = np.arange(WIN)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / WIN)).astype(np.float32)  # periodic Hann (fftbins=True)


def log_mel(y: np.ndarray) -> np.ndarray:
    """[128, frames] vibenet log-mel (dB) of 16 kHz mono audio."""
    import scipy.fft

    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.shape[0] < WIN:
        y = np.pad(y, (0, WIN - y.shape[0]))
    frames = np.lib.stride_tricks.sliding_window_view(y, WIN)[::HOP] * _window()[None, :]
    spec = scipy.fft.rfft(frames, n=N_FFT, axis=-1, workers=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    mel = (_mel_basis() @ power.T).astype(np.float32)
    db = 10.0 * np.log10(np.maximum(1e-10, mel))
    return np.maximum(db, db.max() - TOP_DB).astype(np.float32)


def axes_from_logits(logits: np.ndarray) -> dict[str, float]:
    """The network's seven outputs as vibenet reports them, keyed by axis."""
    out = {}
    for i, name in enumerate(VIBENET_LABELS):
        x = float(logits[i])
        out[name] = 1.0 / (1.0 + np.exp(-x)) if name in LIKELIHOODS else float(np.clip(x, 0.0, 1.0))
    return {name: float(out[name]) for name in MOOD_AXES}


class MoodTower(LazyGraph):
    """vibenet's network, loaded on first use (single-threaded, like the audio tower's workers)."""

    def __init__(self, model: MoodModel, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int = 1):
        if not model.available:
            raise ModelError(model.problem or f"mood axes need vibenet: {INSTALL}")
        super().__init__(providers, threads)
        self.model = model

    def graph_path(self) -> Path:
        return self.model.path

    def axes(self, excerpt: np.ndarray) -> dict[str, float] | None:
        """The seven axes of a contiguous 16 kHz excerpt; None when it is too short to judge."""
        if excerpt is None or excerpt.shape[0] < MIN_SECONDS * SR:
            return None
        (out,) = self.session.run(None, {"x": log_mel(excerpt)[None]})
        return axes_from_logits(np.asarray(out)[0])
