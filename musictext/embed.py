"""Audio tower: decoded patches -> musicnn tag probabilities, pooled features and descriptors.

One track is one unit of work. Workers are separate processes, each with a single-threaded ONNX
session, so decoding, the mel front end and inference of different tracks overlap on both cores
(measured faster than one process with a two-thread session; see benchmarks/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.bundle import Bundle
from musictext.errors import DecodeError, ModelError, MusictextError

DESCRIPTOR_WINDOWS = 8  # 3-second windows the descriptors are measured on, in every mode
PATCH_SECONDS = 187 * 256 / 16000
BATCH = 8  # larger batches are no faster and need ~300 MB per batch for the timbral convs
# Descriptor names as stored, in order (musictext.store.audio_features columns).
DESCRIPTORS = ("bpm", "onset_rate", "key", "major", "loudness", "brightness", "percussive")


@dataclass
class TrackFeatures:
    mode: str
    duration: float
    analysed_s: float
    probs: np.ndarray  # [100] mean sigmoid over patches: MSD tags then MTT tags
    pooled: np.ndarray  # [400] mean penultimate over patches: MSD 200 then MTT 200
    descriptors: dict = field(default_factory=dict)

    def as_store_dict(self) -> dict:
        return {
            "mode": self.mode,
            "analysed_s": self.analysed_s,
            "probs": self.probs,
            "pooled": self.pooled,
            "descriptors": self.descriptors,
        }


class AudioTower:
    """The bundle's audio ONNX graph, loaded on first use."""

    def __init__(
        self, bundle: Bundle, providers: tuple[str, ...] = ("CPUExecutionProvider",), threads: int = 1
    ):
        self.bundle = bundle
        self.providers = providers
        self.threads = threads
        self._session = None

    @property
    def session(self):
        if self._session is None:
            from musictext.runtime import make_session

            self._session = make_session(self.bundle.file("audio"), self.providers, self.threads)
        return self._session

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[n,187,96] log-mel patches -> (sigmoid tag probabilities [n,100], penultimate [n,400])."""
        probs, pooled = [], []
        for i in range(0, len(patches), BATCH):
            msd_l, msd_p, mtt_l, mtt_p = self.session.run(
                ["msd_logits", "msd_penultimate", "mtt_logits", "mtt_penultimate"],
                {"mel": np.ascontiguousarray(patches[i : i + BATCH], dtype=np.float32)},
            )
            logits = np.concatenate([msd_l, mtt_l], axis=1)
            probs.append(1.0 / (1.0 + np.exp(-logits)))
            pooled.append(np.concatenate([msd_p, mtt_p], axis=1))
        return np.concatenate(probs).astype(np.float32), np.concatenate(pooled).astype(np.float32)


def analyse(path: str | Path, tower: AudioTower, budget: int | None) -> TrackFeatures:
    """Decode ``path`` (``budget`` windows, or all of it when None) and run the audio tower."""
    from musictext.decode import is_silent, iter_patches, track_patches
    from musictext.descriptors import describe

    if budget is None:
        # Whole track: patches stream through the tower and only running sums are kept, so memory
        # does not grow with the track's length; descriptors come from the sampled windows.
        audio = track_patches(path, DESCRIPTOR_WINDOWS)
        sum_probs, sum_pooled, n, loudest = 0.0, 0.0, 0, 0.0
        for chunk in iter_patches(path):
            p, f = tower.run(chunk)
            sum_probs, sum_pooled, n = sum_probs + p.sum(axis=0), sum_pooled + f.sum(axis=0), n + len(p)
            loudest = max(loudest, float(chunk.max()))
        if n == 0 or loudest <= 0.01:  # log-mel of a signal below about -85 dBFS: nothing to hear
            raise DecodeError("silent: nothing to analyse", path)
        probs, pooled = (sum_probs / n)[None], (sum_pooled / n)[None]
        analysed_s = n * PATCH_SECONDS
    else:
        audio = track_patches(path, budget)
        if is_silent(audio):
            # Every sampled window fell on silence (a track with long pauses): look at all of it
            # before calling the track silent.
            return analyse(path, tower, None)
        probs, pooled = tower.run(audio.patches)
        analysed_s = audio.analysed_s
    d = describe(audio.samples, window_starts=audio.window_starts or None)
    descriptors = {
        "bpm": d.bpm,
        "onset_rate": d.onset_rate,
        "key": d.key,
        "major": d.major_score,
        "loudness": d.loudness_db,
        "brightness": d.brightness,
        "percussive": d.percussive_ratio,
    }
    return TrackFeatures(
        mode="full" if budget is None else f"sampled:{budget}",
        duration=float(audio.duration_s),
        analysed_s=float(analysed_s),
        probs=probs.mean(axis=0),
        pooled=pooled.mean(axis=0),
        descriptors={
            k: (None if v is None or not np.isfinite(v) else (int(v) if k == "key" else float(v)))
            for k, v in descriptors.items()
        },
    )


# Worker-process side ------------------------------------------------------------------------------
_tower: AudioTower | None = None
_budget: int | None = None


def worker_init(bundle: Bundle, providers: tuple[str, ...], threads: int, budget: int | None) -> None:
    global _tower, _budget
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _tower = AudioTower(bundle, providers, threads)
    _budget = budget


def worker_analyse(path: str) -> tuple[str, TrackFeatures | None, str | None]:
    """(path, features, None) or (path, None, one-line reason); never raises for a bad file."""
    assert _tower is not None
    try:
        return path, analyse(path, _tower, _budget), None
    except ModelError:
        raise  # a broken model is not a bad file: stop the run
    except MusictextError as exc:
        return path, None, exc.message
    except MemoryError:
        return path, None, "out of memory while decoding"
    except Exception as exc:  # a decoder bug must not stop a library scan
        return path, None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip(": ")
