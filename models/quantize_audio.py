"""Static int8 on only the two timbral convolutions of each musicnn net (front.0, front.1).

PERFORMANCE.md: quantizing the whole graph was slower and moved tag probabilities by up to 0.35;
only the two large timbral convolutions (208 filters, 7x38 and 7x67) gave ~135 vs ~225 ms per net
per audio minute with <= 0.024 probability change. This script makes that graph from the bundle's
float graph: per-channel QDQ weights, activations calibrated on synthetic renders (deterministic,
no data fetched, nothing from the eval corpus). It prints the timing and probability change.

    python models/quantize_audio.py models/musicnn-minilm/audio.onnx /tmp/audio.int8.onnx
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TIMBRAL = [f"/{net}/front.{i}/Conv" for net in ("msd", "mtt") for i in (0, 1)]


def synthetic_clip(rng: np.random.Generator, seconds: float = 3.2, sr: int = 16000) -> np.ndarray:
    """A few harmonic notes, a noise-burst percussion line and a bass: audio-like spectra."""
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for _ in range(rng.integers(2, 6)):
        f0 = 55.0 * 2 ** (rng.integers(0, 48) / 12)
        start, dur = rng.uniform(0, seconds * 0.7), rng.uniform(0.2, 2.0)
        env = np.clip((t - start) / 0.01, 0, 1) * np.exp(-np.clip(t - start, 0, None) / dur) * (t >= start)
        for h in range(1, rng.integers(2, 12)):
            y += env * rng.uniform(0.1, 1.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28))
    beat = rng.uniform(0.25, 0.6)
    for s in np.arange(0, seconds, beat):
        i = int(s * sr)
        m = min(n - i, int(0.08 * sr))
        y[i : i + m] += rng.normal(0, rng.uniform(0.1, 0.6), m) * np.exp(-np.arange(m) / (0.015 * sr))
    y /= max(1e-6, np.abs(y).max()) / rng.uniform(0.2, 0.9)
    return y.astype(np.float32)


def calibration_patches(count: int, seed: int = 0) -> np.ndarray:
    from musictext.audio.frontend import log_mel, patches

    rng = np.random.default_rng(seed)
    return np.concatenate([patches(log_mel(synthetic_clip(rng)))[:1] for _ in range(count)])


def quantize(src: Path, dst: Path, count: int = 64, nodes: list[str] | None = None) -> None:
    """Write the timbral-int8 graph of ``src`` to ``dst`` (QDQ, per channel, MinMax calibration);
    ``nodes``: other convolutions to quantise instead (benchmarks/bench_onnx_budget.py tries some)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    data = calibration_patches(count)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"mel": data[i : i + 1]} for i in range(len(data))])

        def get_next(self):
            return next(self.items, None)

    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        nodes_to_quantize=nodes or TIMBRAL,
    )


def _session(path: Path, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def probs(sess, x: np.ndarray) -> np.ndarray:
    msd, _, mtt, _ = sess.run(None, {"mel": x})
    return 1 / (1 + np.exp(-np.concatenate([msd, mtt], axis=1)))


def compare(src: Path, dst: Path, threads: int = 1, repeats: int = 5) -> dict:
    """Timing (ms per audio minute, both nets) and tag-probability change on held-out synthetic clips."""
    a, b = _session(src, threads), _session(dst, threads)
    x = calibration_patches(40, seed=1)  # not the calibration clips
    pa, pb = probs(a, x), probs(b, x)
    top = lambda p: np.sort(np.argsort(-p, axis=1)[:, :3], axis=1)  # noqa: E731
    batch = np.ascontiguousarray(np.repeat(x, 2, axis=0)[:64])
    minutes = len(batch) * 187 * 256 / 16000 / 60
    out = {}
    for name, s in (("float", a), ("int8", b)):
        s.run(None, {"mel": batch})
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            s.run(None, {"mel": batch})
            t.append(time.perf_counter() - t0)
        out[name + "_ms_per_audio_minute"] = float(np.median(t) * 1000 / minutes)
    out["max_prob_change"] = float(np.abs(pa - pb).max())
    out["clips_top3_changed"] = int((top(pa) != top(pb)).any(axis=1).sum())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--calibration", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    quantize(args.src, args.dst, args.calibration)
    for k, v in compare(args.src, args.dst, args.threads).items():
        print(f"{k:>30}: {v:.4g}")


if __name__ == "__main__":
    main()
