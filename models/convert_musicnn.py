"""Convert the pretrained musicnn taggers (MSD_musicnn + MTT_musicnn) to one verified ONNX graph.

Developer script, not part of the runtime package (which must not import torch or TensorFlow).

What it does
------------
1. Gets the ``musicnn==0.1.0`` wheel (``pip download musicnn==0.1.0 --no-deps``, or ``--wheel``),
   records its sha256 and extracts the TF1 checkpoints ``MSD_musicnn/`` and ``MTT_musicnn/``.
2. Reads every checkpoint variable and ports musicnn's ``models.build_musicnn`` to PyTorch:
   input BatchNorm -> front end (timbral 7x38 and 7x67 convs, temporal 128/64/32 convs, each
   Conv -> ReLU -> BatchNorm -> max over frequency) -> mid end (three 7-wide convs, 64 filters,
   dense/residual connections) -> back end (max+mean temporal pooling, interleaved as musicnn's
   ``flatten(concat([max, mean], 2))``, BatchNorm, dense 200 + ReLU, BatchNorm = "penultimate",
   dense 50 = logits).  All BatchNorm epsilons are TF's default 1e-3 (read from the TF graph).
   The front end uses an exact rewrite (see PERFORMANCE.md): the kernels of channels whose BN
   scale is negative are sign-flipped so the max over frequency runs *before* the BN affine on a
   96x/59x/30x smaller tensor; this gives the same float32 numbers as Conv->ReLU->BN->max.
   The max is a MaxPool and the front-end convs are zero-padded to a multiple of 16 filters
   (sliced off after the pool) so ONNX Runtime keeps conv + pool in its blocked NCHWc layout and
   never reorders the full-size conv output (measured ~3x faster than the straight export).
3. Exports ONE ONNX graph (opset 17, weights inside the file) with input ``mel`` float32
   [batch, 187, 96] and outputs ``msd_logits`` [B,50], ``msd_penultimate`` [B,200],
   ``mtt_logits`` [B,50], ``mtt_penultimate`` [B,200].
4. Before writing anything into the repository, runs the ORIGINAL TF graph (musicnn's own
   ``models.define_model`` under ``tf.compat.v1`` with the checkpoint restored, as
   ``musicnn/extractor.py`` does) and ONNX Runtime on >= 20 patches of varied synthetic audio
   (mel patches from ``musictext/audio/frontend.py``) and requires, for both nets,
   max |sigmoid(onnx) - sigmoid(tf)| <= 1e-4 and per-patch ||pen_onnx - pen_tf|| / ||pen_tf|| <= 1e-4.
   It also checks ``musictext/audio/frontend.py`` against musicnn's ``extractor.batch_data`` (float32
   version of its math; see ``check_frontend``).
5. Writes ``models/musicnn-minilm/{audio.onnx, audio_labels.json, parity_audio.json}`` and
   ``tests/data/musicnn_reference.npz`` (used by ``tests/test_audio_model_parity.py``).

How to run
----------
TensorFlow is only needed here, so use a throwaway venv::

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu tf-keras torch==2.13.0 onnx onnxruntime librosa numpy soundfile
    /tmp/tfvenv/bin/python models/convert_musicnn.py            # convert + verify + write + quick benchmark
    /tmp/tfvenv/bin/python models/convert_musicnn.py --bench  # only time committed audio.onnx vs TF

Options: ``--wheel PATH`` (use an already downloaded wheel), ``--workdir DIR`` (scratch space,
default a temp dir), ``--no-bench`` (skip the timing), ``--straight`` (export without the
front-end rewrite, for comparison).  ``TF_USE_LEGACY_KERAS=1`` is set by the script (TF >= 2.16
needs it, plus the ``tf-keras`` package, for ``tf.compat.v1.layers``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from musictext import frontend  # noqa: E402

OUT_DIR = REPO / "models" / "musicnn-minilm"
REFERENCE_NPZ = REPO / "tests" / "data" / "musicnn_reference.npz"
NETS = ("msd", "mtt")
CKPT = {"msd": "MSD_musicnn", "mtt": "MTT_musicnn"}
N_FRAMES = frontend.PATCH_FRAMES  # 187
N_MELS = frontend.N_MELS  # 96
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default; asserted against the TF graph
OPSET = 17
SIG_TOL = 1e-4
PEN_TOL = 1e-4
# A non-overlapping patch covers 187 hops of audio.
PATCH_SECONDS = N_FRAMES * frontend.HOP / frontend.SAMPLE_RATE

# (conv, batchnorm, kernel time length) of the five front-end blocks, in musicnn's concat order.
FRONT_BLOCKS = (
    ("conv2d", "batch_normalization_1", "timbral"),  # 7 x 38, 204 filters
    ("conv2d_1", "batch_normalization_2", "timbral"),  # 7 x 67, 204 filters
    ("conv2d_2", "batch_normalization_3", "temporal"),  # 128 x 1, 51 filters
    ("conv2d_3", "batch_normalization_4", "temporal"),  # 64 x 1, 51 filters
    ("conv2d_4", "batch_normalization_5", "temporal"),  # 32 x 1, 51 filters
)
MID_BLOCKS = (
    ("conv2d_5", "batch_normalization_6"),
    ("conv2d_6", "batch_normalization_7"),
    ("conv2d_7", "batch_normalization_8"),
)


# --------------------------------------------------------------------------------------------
# wheel + checkpoints
# --------------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(workdir: Path, wheel: Path | None = None) -> tuple[Path, Path]:
    """Return (wheel path, extracted dir containing the ``musicnn`` package)."""
    if wheel is None:
        dl = workdir / "wheel"
        dl.mkdir(parents=True, exist_ok=True)
        found = sorted(dl.glob("musicnn-0.1.0-*.whl"))
        if not found:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "musicnn==0.1.0", "--no-deps", "-d", str(dl)],
                check=True,
            )
            found = sorted(dl.glob("musicnn-0.1.0-*.whl"))
        wheel = found[0]
    extract = workdir / "musicnn_pkg"
    if not (extract / "musicnn" / "models.py").exists():
        with zipfile.ZipFile(wheel) as z:
            z.extractall(extract)
    return wheel, extract


def import_musicnn(extract: Path):
    """Import musicnn's configuration / models / extractor from the extracted wheel."""
    if str(extract) not in sys.path:
        sys.path.insert(0, str(extract))
    config = importlib.import_module("musicnn.configuration")
    models = importlib.import_module("musicnn.models")
    extractor = importlib.import_module("musicnn.extractor")  # also disables eager execution, as musicnn does
    return config, models, extractor


def read_checkpoint(prefix: str) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    names = reader.get_variable_to_shape_map()
    return {n: reader.get_tensor(n) for n in names if "Adam" not in n and not n.endswith("_power")}


# --------------------------------------------------------------------------------------------
# the original TF graph
# --------------------------------------------------------------------------------------------


class TFMusicnn:
    """musicnn's own graph (models.define_model) with the checkpoint restored, as extractor.py builds it."""

    def __init__(self, extract: Path, model: str, threads: int | None = None):
        import tensorflow as tf

        _, models, _ = import_musicnn(extract)
        self.graph = tf.Graph()
        with self.graph.as_default():
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, N_MELS])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                outs = models.define_model(self.x, self.is_training, model, 50)
                self.logits, self.penultimate = outs[0], outs[-1]
                self.prob = tf.nn.sigmoid(self.logits)
            cfg = tf.compat.v1.ConfigProto()
            if threads:
                cfg.intra_op_parallelism_threads = threads
                cfg.inter_op_parallelism_threads = 1
            self.sess = tf.compat.v1.Session(graph=self.graph, config=cfg)
            self.sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().restore(self.sess, str(extract / "musicnn" / model) + "/")
            self.bn_epsilons = self._bn_epsilons()

    def _bn_epsilons(self) -> set[float]:
        gd = self.graph.as_graph_def()
        eps = set()
        for f in gd.library.function:  # fused BN lives inside the is_training cond branches
            for n in f.node_def:
                if n.op.startswith("FusedBatchNorm"):
                    eps.add(round(float(n.attr["epsilon"].f), 7))
        for op in self.graph.get_operations():  # non-fused (2-D) BN: batchnorm/add/y
            if op.type == "Const" and op.name.endswith("batchnorm/add/y"):
                eps.add(round(float(op.get_attr("value").float_val[0]), 7))
        return eps

    def run(self, mel: np.ndarray, batch: int = 64) -> dict[str, np.ndarray]:
        out = {"logits": [], "prob": [], "penultimate": []}
        for i in range(0, len(mel), batch):
            lg, pr, pe = self.sess.run(
                [self.logits, self.prob, self.penultimate],
                feed_dict={self.x: mel[i : i + batch], self.is_training: False},
            )
            out["logits"].append(lg)
            out["prob"].append(pr)
            out["penultimate"].append(pe)
        return {k: np.concatenate(v) for k, v in out.items()}


# --------------------------------------------------------------------------------------------
# PyTorch port
# --------------------------------------------------------------------------------------------


def bn_affine(w: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Inference BatchNorm as y = x*scale + shift (computed in float64, stored float32)."""
    gamma = w[f"{name}/gamma"].astype(np.float64)
    beta = w[f"{name}/beta"].astype(np.float64)
    mean = w[f"{name}/moving_mean"].astype(np.float64)
    var = w[f"{name}/moving_variance"].astype(np.float64)
    scale = gamma / np.sqrt(var + BN_EPS)
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def build_torch(weights: dict[str, dict[str, np.ndarray]], fast: bool = True):
    """Return a torch Module mapping mel [B,187,96] -> (msd_logits, msd_pen, mtt_logits, mtt_pen)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    class Musicnn(nn.Module):
        def __init__(self, w: dict[str, np.ndarray]):
            super().__init__()
            s, b = bn_affine(w, "batch_normalization")
            self.register_buffer("in_scale", t(s.reshape(())))
            self.register_buffer("in_shift", t(b.reshape(())))
            self.front = nn.ModuleList()
            self.front_kind = []
            for conv, bn, kind in FRONT_BLOCKS:
                k = w[f"{conv}/kernel"]  # [kh, kw, in, out]
                kh = k.shape[0]
                # timbral: pad 3 | 3 in time ('valid' conv after tf.pad); temporal: TF 'same' with even
                # kernel pads (kh-1)//2 before and kh//2 after -> symmetric kh//2 and drop 1st frame.
                pad = 3 if kind == "timbral" else kh // 2
                c = nn.Conv2d(1, k.shape[3], (kh, k.shape[1]), padding=(pad, 0))
                weight = t(k).permute(3, 2, 0, 1).contiguous()
                bias = t(w[f"{conv}/bias"])
                scale, shift = (t(a) for a in bn_affine(w, bn))
                c.channels = k.shape[3]
                if fast:
                    sign = torch.where(scale < 0, -1.0, 1.0)
                    weight = weight * sign[:, None, None, None]
                    bias = bias * sign
                    c.register_buffer("sign", sign[:, None])
                    # Zero filters up to a multiple of 16 (sliced off after the max): ONNX Runtime's
                    # blocked NCHWc kernels then also take the MaxPool, so the full-size conv output
                    # is never reordered back to NCHW (it pads the conv to 16 channels anyway).
                    extra = -c.channels % 16
                    weight = torch.cat([weight, weight.new_zeros((extra,) + tuple(weight.shape[1:]))])
                    bias = torch.cat([bias, bias.new_zeros(extra)])
                    c.out_channels = c.channels + extra
                c.weight = nn.Parameter(weight, requires_grad=False)
                c.bias = nn.Parameter(bias, requires_grad=False)
                c.register_buffer("bn_scale", scale[:, None])
                c.register_buffer("bn_shift", shift[:, None])
                c.freq_out = N_MELS - k.shape[1] + 1  # static width of the max over frequency
                self.front.append(c)
                self.front_kind.append(kind)
            self.mid = nn.ModuleList()
            for conv, bn in MID_BLOCKS:
                k = w[f"{conv}/kernel"][:, :, 0, :]  # [7, in, out]
                c = nn.Conv1d(k.shape[1], k.shape[2], 7, padding=3)
                c.weight = nn.Parameter(t(k).permute(2, 1, 0).contiguous(), requires_grad=False)
                c.bias = nn.Parameter(t(w[f"{conv}/bias"]), requires_grad=False)
                scale, shift = (t(a) for a in bn_affine(w, bn))
                c.register_buffer("bn_scale", scale[:, None])
                c.register_buffer("bn_shift", shift[:, None])
                self.mid.append(c)
            s9, b9 = bn_affine(w, "batch_normalization_9")
            self.register_buffer("flat_scale", t(s9))
            self.register_buffer("flat_shift", t(b9))
            self.dense = nn.Linear(1506, 200)
            self.dense.weight = nn.Parameter(t(w["dense/kernel"].T), requires_grad=False)
            self.dense.bias = nn.Parameter(t(w["dense/bias"]), requires_grad=False)
            s10, b10 = bn_affine(w, "batch_normalization_10")
            self.register_buffer("pen_scale", t(s10))
            self.register_buffer("pen_shift", t(b10))
            self.out = nn.Linear(200, 50)
            self.out.weight = nn.Parameter(t(w["dense_1/kernel"].T), requires_grad=False)
            self.out.bias = nn.Parameter(t(w["dense_1/bias"]), requires_grad=False)

        def forward(self, x):  # x: [B, 1, 187, 96], already input-batch-normalised
            feats = []
            for c, kind in zip(self.front, self.front_kind, strict=True):
                if fast:
                    # max_f(a*relu(z)+b) == a*relu(max_f z) + b for a > 0, and for a < 0 it is
                    # a*relu(min_f z) + b = a*relu(-max_f(-z)) + b: kernels were pre-multiplied by
                    # sign(a), so one max pass serves both (exact in float32: max commutes with the
                    # monotone per-channel ops and sign flips are exact).
                    # MaxPool (not ReduceMax): ONNX Runtime keeps it in its blocked NCHWc layout,
                    # so only the pooled [B, C, T] tensor is reordered, not the full conv output.
                    z = c(x)
                    m = F.max_pool2d(z, kernel_size=(1, c.freq_out)).squeeze(3)[:, : c.channels]  # [B, C, T']
                    y = F.relu(m * c.sign) * c.bn_scale + c.bn_shift
                else:
                    z = F.relu(c(x))
                    y = (z * c.bn_scale[..., None] + c.bn_shift[..., None]).amax(dim=3)
                if kind == "temporal":
                    y = y[:, :, 1:]  # TF 'same' for even kernels: one less frame of padding before
                feats.append(y)
            front = torch.cat(feats, dim=1)  # [B, 561, 187]
            h1 = F.relu(self.mid[0](front)) * self.mid[0].bn_scale + self.mid[0].bn_shift
            h2 = F.relu(self.mid[1](h1)) * self.mid[1].bn_scale + self.mid[1].bn_shift + h1
            h3 = F.relu(self.mid[2](h2)) * self.mid[2].bn_scale + self.mid[2].bn_shift + h2
            mid = torch.cat([front, h1, h2, h3], dim=1)  # [B, 753, 187]
            # musicnn: flatten(concat([max_pool, mean_pool], axis=2)) -> [max_0, mean_0, max_1, ...]
            flat = torch.stack([mid.amax(dim=2), mid.mean(dim=2)], dim=2).flatten(1)
            flat = flat * self.flat_scale + self.flat_shift
            pen = F.relu(self.dense(flat)) * self.pen_scale + self.pen_shift
            return self.out(pen), pen

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.msd = Musicnn(weights["msd"])
            self.mtt = Musicnn(weights["mtt"])

        def forward(self, mel):
            x = mel.unsqueeze(1)
            msd_l, msd_p = self.msd(x * self.msd.in_scale + self.msd.in_shift)
            mtt_l, mtt_p = self.mtt(x * self.mtt.in_scale + self.mtt.in_shift)
            return msd_l, msd_p, mtt_l, mtt_p

    return Pair().eval()


OUTPUT_NAMES = ["msd_logits", "msd_penultimate", "mtt_logits", "mtt_penultimate"]


def export_onnx(model, path: Path) -> None:
    import onnx
    import torch

    dummy = torch.zeros(2, N_FRAMES, N_MELS)
    tmp = path.with_suffix(".raw.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=["mel"],
            output_names=OUTPUT_NAMES,
            dynamic_axes={"mel": {0: "batch"}, **{n: {0: "batch"} for n in OUTPUT_NAMES}},
            do_constant_folding=True,
        )
    m = onnx.load(str(tmp))
    tmp.unlink()
    m.producer_name = "musictext/models/convert_musicnn.py"
    m.doc_string = (
        "musicnn 0.1.0 MSD_musicnn + MTT_musicnn (Pons & Serra, ISC licence), ported to ONNX. "
        "Input: log10(1+10000*mel) patches [B,187,96] (16 kHz, n_fft 512, hop 256, 96 mels). "
        "Outputs: tag logits (apply sigmoid) and the 200-d penultimate (dense->ReLU->BatchNorm)."
    )
    onnx.checker.check_model(m)
    onnx.save_model(m, str(path), save_as_external_data=False)


def ort_session(path: Path, threads: int = 2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_onnx(sess, mel: np.ndarray, batch: int = 64) -> dict[str, np.ndarray]:
    outs = [sess.run(None, {"mel": mel[i : i + batch]}) for i in range(0, len(mel), batch)]
    return {n: np.concatenate([o[j] for o in outs]) for j, n in enumerate(OUTPUT_NAMES)}


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def compare(onnx_out: dict, tf_out: dict[str, dict]) -> dict:
    res = {}
    for net in NETS:
        a_sig = sigmoid(onnx_out[f"{net}_logits"])
        b_sig = tf_out[net]["prob"].astype(np.float64)
        a_pen = onnx_out[f"{net}_penultimate"].astype(np.float64)
        b_pen = tf_out[net]["penultimate"].astype(np.float64)
        rel = np.linalg.norm(a_pen - b_pen, axis=1) / np.maximum(np.linalg.norm(b_pen, axis=1), 1e-12)
        res[net] = {
            "max_abs_sigmoid_diff": float(np.abs(a_sig - b_sig).max()),
            "max_abs_logit_diff": float(np.abs(onnx_out[f"{net}_logits"] - tf_out[net]["logits"]).max()),
            "max_rel_penultimate_err": float(rel.max()),
            "max_abs_penultimate_diff": float(np.abs(a_pen - b_pen).max()),
        }
    return res


def passes(cmp: dict) -> bool:
    return all(cmp[n]["max_abs_sigmoid_diff"] <= SIG_TOL and cmp[n]["max_rel_penultimate_err"] <= PEN_TOL for n in NETS)


# --------------------------------------------------------------------------------------------
# test audio
# --------------------------------------------------------------------------------------------


def reference_signal() -> np.ndarray:
    """Deterministic 6 s test clip (C-major chord with tremolo + clicks + noise).

    Kept identical to ``tests/test_audio_model_parity.py::reference_signal`` (the test checks the
    regenerated mel against the stored one, so any drift fails loudly).
    """
    sr = frontend.SAMPLE_RATE
    t = np.arange(6 * sr, dtype=np.float64) / sr
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) + 0.05 * np.sin(4 * np.pi * f * t) for f in (261.63, 329.63, 392.0))
    env = 0.6 + 0.4 * np.cos(2 * np.pi * 2.0 * t)
    clicks = np.zeros_like(t)
    for k in range(12):  # a decaying 60 Hz "kick" every 0.5 s
        s = int(k * 0.5 * sr)
        n = np.arange(len(t) - s) / sr
        clicks[s:] += 0.5 * np.sin(2 * np.pi * 60.0 * n) * np.exp(-n * 30.0)
    noise = 0.03 * np.random.RandomState(1234).uniform(-1.0, 1.0, len(t))
    return (chord * env + clicks + noise).astype(np.float32)


def varied_signals() -> list[tuple[str, np.ndarray]]:
    """Synthetic clips with very different spectra and dynamics (6 s = 2 patches each unless noted)."""
    sr = frontend.SAMPLE_RATE
    rs = np.random.RandomState(7)
    n = 6 * sr
    t = np.arange(n) / sr

    def norm(y, peak):
        return (peak * y / max(np.abs(y).max(), 1e-12)).astype(np.float32)

    def drums(bpm=120.0, length=n):
        y = np.zeros(length)
        beat = int(60.0 / bpm * sr)
        for i, s in enumerate(range(0, length, beat // 2)):
            m = np.arange(length - s) / sr
            if i % 2 == 0:  # kick: pitch-dropping sine
                y[s:] += np.sin(2 * np.pi * (50 + 100 * np.exp(-m * 40)) * m) * np.exp(-m * 12)
            if i % 4 == 2:  # snare: noise + tone
                y[s:] += 0.6 * (rs.uniform(-1, 1, len(m)) + 0.5 * np.sin(2 * np.pi * 190 * m)) * np.exp(-m * 25)
            y[s:] += 0.25 * rs.uniform(-1, 1, len(m)) * np.exp(-m * 200)  # hi-hat
        return y

    def pluck(freqs, dur=0.5, decay=0.996):
        out = np.zeros(n)
        for i, f in enumerate(freqs * int(6 / dur / len(freqs) + 1)):
            start = int(i * dur * sr)
            if start >= n:
                break
            period = int(sr / f)
            m = min(int(2 * sr), n - start)
            y = np.zeros(m + period + 1)
            y[: period + 1] = rs.uniform(-1, 1, period + 1)
            for s in range(period + 1, len(y), period):
                e = min(s + period, len(y))
                y[s:e] = decay * 0.5 * (y[s - period : e - period] + y[s - period - 1 : e - period - 1])
            out[start : start + m] += y[period + 1 : period + 1 + m]
        return out

    saw = lambda f: 2.0 * ((f * t) % 1.0) - 1.0  # noqa: E731
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63, 440.0))
    bass = np.sin(2 * np.pi * 55.0 * t + 2.0 * np.sin(2 * np.pi * 110.0 * t))  # FM bass
    vib = 440.0 * t + 3.0 * np.sin(2 * np.pi * 5.5 * t) / (2 * np.pi * 5.5) * 20
    formant = np.convolve(saw(130.0), np.hanning(21), mode="same")  # crude low-passed "voice"
    brown = np.cumsum(rs.standard_normal(n))
    brown -= np.convolve(brown, np.ones(801) / 801, mode="same")
    sigs = [
        ("sine_440", norm(np.sin(2 * np.pi * 440 * t), 0.5)),
        ("chord_A", norm(chord + 0.3 * np.sin(4 * np.pi * 220 * t), 0.6)),
        ("white_noise", norm(rs.uniform(-1, 1, n), 0.3)),
        ("brown_noise", norm(brown, 0.5)),
        ("drums_120bpm", norm(drums(), 0.9)),
        ("chirp_100_7000", norm(np.sin(2 * np.pi * (100 * t + (6900 / 12.0) * t**2)), 0.5)),
        ("silence_ish", norm(rs.uniform(-1, 1, n), 1e-4)),
        ("digital_silence", np.zeros(n, dtype=np.float32)),
        ("fm_bass_pad", norm(bass + 0.4 * chord * (0.5 + 0.5 * np.sin(2 * np.pi * 0.25 * t)), 0.7)),
        ("vibrato_tremolo", norm(np.sin(2 * np.pi * vib) * (0.6 + 0.4 * np.sin(2 * np.pi * 6 * t)), 0.5)),
        (
            "clipped_square_loud",
            np.clip(3.0 * np.sign(np.sin(2 * np.pi * 98 * t)) + 0.5 * saw(392.0), -1, 1).astype(np.float32),
        ),
        ("plucked_melody", norm(pluck([196.0, 246.94, 293.66, 392.0, 329.63]), 0.8)),
        ("saw_voice_like", norm(formant * (1 + 0.3 * np.sin(2 * np.pi * 4 * t)), 0.5)),
        (
            "full_mix",
            norm(
                drums() + 0.6 * bass + 0.3 * chord + 0.5 * pluck([440.0, 523.25, 659.25]) + 0.05 * rs.uniform(-1, 1, n),
                0.95,
            ),
        ),
        ("reference_signal", reference_signal()),
        ("short_1s_padded", norm(np.sin(2 * np.pi * 660 * t[:sr]), 0.5)),  # < 1 patch: frontend zero-pads
    ]
    return sigs


def mel_patches(sigs) -> tuple[np.ndarray, list[str]]:
    mels, names = [], []
    for name, y in sigs:
        p = frontend.patches(frontend.log_mel(y))
        mels.append(p)
        names += [f"{name}#{i}" for i in range(len(p))]
    return np.concatenate(mels).astype(np.float32), names


# --------------------------------------------------------------------------------------------
# frontend.py vs musicnn's batch_data
# --------------------------------------------------------------------------------------------


def check_frontend(extract: Path, workdir: Path) -> dict:
    """Compare musictext.audio.frontend with musicnn.extractor.batch_data (librosa.load of a 16 kHz file).

    musicnn casts the mel to float16 before ``10000*x``: the product then overflows to inf for mel
    power > 6.55 and small values lose precision.  We compare against the float32 version of
    their code (their source with ``np.float16`` -> ``np.float32``), and report what the float16
    original does.
    """
    import librosa
    import soundfile as sf

    _, _, extractor = import_musicnn(extract)
    src = inspect.getsource(extractor.batch_data)
    assert src.count("np.float16") == 1
    ns = {"np": np, "librosa": librosa, "config": extractor.config}
    exec(src.replace("np.float16", "np.float32"), ns)
    batch_data32 = ns["batch_data"]
    n_frames = int(librosa.time_to_frames(3, sr=16000, n_fft=512, hop_length=256)) + 1
    assert n_frames == frontend.PATCH_FRAMES, n_frames

    sr = frontend.SAMPLE_RATE
    rs = np.random.RandomState(3)
    report = {"n_frames": n_frames, "hop_frames_default": n_frames, "cases": []}
    max_diff = 0.0
    # lengths chosen around patch boundaries: 187, 373, 374, 375 frames and a long clip
    lengths = [186 * 256, 186 * 256 + 255, 372 * 256, 373 * 256, 374 * 256 + 100, 30 * sr + 123]
    for i, length in enumerate(lengths):
        t = np.arange(length) / sr
        y = (0.3 * np.sin(2 * np.pi * 330 * t) + 0.1 * rs.uniform(-1, 1, length)).astype(np.float32)
        path = workdir / f"fe_{i}.wav"
        sf.write(str(path), y, sr, subtype="FLOAT")
        ref, ref_rep = batch_data32(str(path), n_frames, n_frames)  # input_overlap=False -> hop = n_frames
        ours_mel = frontend.log_mel(y)
        ours = frontend.patches(ours_mel)
        assert ref_rep.shape == ours_mel.shape, (ref_rep.shape, ours_mel.shape)
        assert ref.shape == ours.shape, (length, ref.shape, ours.shape)
        d = float(np.abs(ref.astype(np.float32) - ours).max())
        max_diff = max(max_diff, d)
        report["cases"].append(
            {
                "samples": length,
                "frames": int(ours_mel.shape[0]),
                "patches": int(len(ours)),
                "max_abs_diff": d,
            }
        )
    # shorter than one patch: musicnn's loop never runs and batch_data raises; frontend zero-pads.
    path = workdir / "fe_short.wav"
    sf.write(str(path), np.zeros(sr, dtype=np.float32) + 0.01, sr, subtype="FLOAT")
    try:
        batch_data32(str(path), n_frames, n_frames)
        short = "musicnn returned a batch"
    except Exception as e:  # UnboundLocalError: 'batch'
        short = f"musicnn raises {type(e).__name__}; frontend.py zero-pads to one patch"
    report["shorter_than_one_patch"] = short
    report["max_abs_diff_vs_float32_batch_data"] = max_diff
    # what the float16 original does on a loud and a quiet clip
    with np.errstate(over="ignore"):
        for name, amp in (("loud_0.9", 0.9), ("quiet_0.01", 0.01)):
            t = np.arange(10 * sr) / sr
            y = (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            path = workdir / f"fe16_{name}.wav"
            sf.write(str(path), y, sr, subtype="FLOAT")
            b16, _ = extractor.batch_data(str(path), n_frames, n_frames)
            b32 = frontend.patches(frontend.log_mel(y))
            fin = np.isfinite(b16)
            report[f"float16_original_{name}"] = {
                "fraction_inf": float(1 - fin.mean()),
                "max_abs_diff_where_finite": float(np.abs(b16[fin] - b32[fin]).max()),
            }
    return report


# --------------------------------------------------------------------------------------------
# benchmark
# --------------------------------------------------------------------------------------------


def benchmark(
    onnx_path: Path,
    mel: np.ndarray,
    extract: Path | None = None,
    batches=(1, 8, 32),
    threads: int = 2,
    min_patches: int = 64,
    repeats: int = 3,
) -> dict:
    """ms per audio minute (both nets) for ONNX Runtime and, if ``extract`` is given, TF original.

    Every engine processes the same ``>= min_patches`` patches at each batch size; the best of
    ``repeats`` passes is reported.  One patch = 187 hops = 2.992 s of audio.
    """
    reps = int(np.ceil(min_patches / len(mel)))
    data = np.ascontiguousarray(np.concatenate([mel] * reps)[: max(min_patches, 32)])
    minutes = len(data) * PATCH_SECONDS / 60.0

    def timeit(fn, b):
        fn(data[:b])  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(data) - b + 1, b):
                fn(data[i : i + b])
            done = (len(data) // b) * b
            best = min(best, (time.perf_counter() - t0) / (done * PATCH_SECONDS / 60.0))
        return best * 1000.0

    res = {
        "load_avg_1min_at_start": round(os.getloadavg()[0], 2),
        "threads": threads,
        "n_patches": len(data),
        "audio_minutes": minutes,
        "onnxruntime_both_nets": {},
    }
    sess = ort_session(onnx_path, threads)
    for b in batches:
        res["onnxruntime_both_nets"][f"batch_{b}"] = round(timeit(lambda x: sess.run(None, {"mel": x}), b), 1)
    if extract is not None:
        tfm = {net: TFMusicnn(extract, CKPT[net], threads=threads) for net in NETS}
        res["tensorflow_original_both_nets"] = {}
        for b in batches:

            def both(x):
                for m in tfm.values():
                    m.sess.run([m.logits, m.penultimate], feed_dict={m.x: x, m.is_training: False})

            res["tensorflow_original_both_nets"][f"batch_{b}"] = round(timeit(both, b), 1)
        import tensorflow as tf

        res["tensorflow_version"] = tf.__version__
    res["unit"] = f"ms per minute of audio, both nets (MSD+MTT), best of {repeats}"
    return res


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def versions() -> dict:
    import librosa
    import onnx
    import onnxruntime
    import tensorflow as tf
    import torch

    return {
        "tensorflow": tf.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", type=Path, help="musicnn-0.1.0 wheel already downloaded")
    ap.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    ap.add_argument("--bench", action="store_true", help="only benchmark the existing audio.onnx vs TF")
    ap.add_argument("--no-bench", action="store_true", help="skip the timing after conversion")
    ap.add_argument("--straight", action="store_true", help="export without the front-end rewrite")
    args = ap.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="musicnn_convert_"))
    workdir.mkdir(parents=True, exist_ok=True)
    wheel, extract = fetch_wheel(workdir, args.wheel)
    wheel_sha = sha256(wheel)
    print(f"musicnn wheel {wheel.name} sha256 {wheel_sha}")
    config, _, _ = import_musicnn(extract)

    sigs = varied_signals()
    mel, names = mel_patches(sigs)
    print(f"{len(mel)} test patches from {len(sigs)} signals")

    if args.bench:
        print(json.dumps(benchmark(OUT_DIR / "audio.onnx", mel, extract), indent=2))
        return 0

    # 1. weights + TF original
    weights = {net: read_checkpoint(str(extract / "musicnn" / CKPT[net]) + "/") for net in NETS}
    tfm = {net: TFMusicnn(extract, CKPT[net]) for net in NETS}
    for net in NETS:
        assert tfm[net].bn_epsilons == {BN_EPS}, tfm[net].bn_epsilons
    tf_out = {net: tfm[net].run(mel) for net in NETS}

    # 2. torch port -> ONNX (in the scratch dir)
    import torch

    torch.set_num_threads(2)
    results = {}
    candidates = [("straight", False)] + ([] if args.straight else [("rewritten", True)])
    onnx_paths = {}
    for label, fast in candidates:
        model = build_torch(weights, fast=fast)
        with torch.no_grad():
            tout = model(torch.from_numpy(mel))
        tout = {n: v.numpy() for n, v in zip(OUTPUT_NAMES, tout, strict=True)}
        results[f"torch_{label}"] = compare(tout, tf_out)
        p = workdir / f"audio_{label}.onnx"
        export_onnx(model, p)
        onnx_paths[label] = p
        sess = ort_session(p)
        oout = run_onnx(sess, mel, batch=8)
        results[f"onnx_{label}"] = compare(oout, tf_out)
        # dynamic batch: batch-1 runs must agree with batched runs
        o1 = run_onnx(sess, mel[:5], batch=1)
        results[f"onnx_{label}"]["batch1_vs_batch8_max_abs"] = float(
            max(np.abs(o1[n] - oout[n][:5]).max() for n in OUTPUT_NAMES)
        )
        print(label, json.dumps(results[f"onnx_{label}"], indent=1))
    final = "straight" if args.straight else "rewritten"
    if not args.straight:
        a = run_onnx(ort_session(onnx_paths["straight"]), mel)
        b = run_onnx(ort_session(onnx_paths["rewritten"]), mel)
        results["rewritten_vs_straight_onnx_max_abs"] = float(max(np.abs(a[n] - b[n]).max() for n in OUTPUT_NAMES))
    for key in (f"torch_{final}", f"onnx_{final}"):
        if not passes(results[key]):
            print(f"PARITY FAILED ({key}):", json.dumps(results[key], indent=1))
            return 1

    fe = check_frontend(extract, workdir)
    print("frontend check:", json.dumps(fe, indent=1))
    if fe["max_abs_diff_vs_float32_batch_data"] > 1e-5:
        print("frontend.py does not match musicnn's batch_data")
        return 1

    bench = None if args.no_bench else benchmark(onnx_paths[final], mel, extract)
    if bench:
        bench["onnxruntime_both_nets_straight_export"] = benchmark(onnx_paths["straight"], mel)["onnxruntime_both_nets"]
        print(json.dumps(bench, indent=1))

    # 3. everything verified: write into the repository
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_paths[final], OUT_DIR / "audio.onnx")
    labels = {"msd": list(config.MSD_LABELS), "mtt": list(config.MTT_LABELS)}
    assert len(labels["msd"]) == 50 and len(labels["mtt"]) == 50
    (OUT_DIR / "audio_labels.json").write_text(json.dumps(labels, indent=1) + "\n")

    # reference data for tests/test_audio_model_parity.py (no TF at test time)
    ref_mel = frontend.patches(frontend.log_mel(reference_signal()))
    ref = {net: tfm[net].run(ref_mel) for net in NETS}
    REFERENCE_NPZ.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        REFERENCE_NPZ,
        mel=ref_mel.astype(np.float32),
        msd_prob=ref["msd"]["prob"].astype(np.float32),
        msd_penultimate=ref["msd"]["penultimate"].astype(np.float32),
        mtt_prob=ref["mtt"]["prob"].astype(np.float32),
        mtt_penultimate=ref["mtt"]["penultimate"].astype(np.float32),
    )

    parity = {
        "model": "musicnn 0.1.0 MSD_musicnn + MTT_musicnn -> one ONNX graph",
        "onnx_file": "audio.onnx",
        "onnx_sha256": sha256(OUT_DIR / "audio.onnx"),
        "opset": OPSET,
        "front_end_rewrite": final == "rewritten",
        "musicnn_wheel": wheel.name,
        "musicnn_wheel_sha256": wheel_sha,
        "versions": versions(),
        "tolerances": {"max_abs_sigmoid_diff": SIG_TOL, "max_rel_penultimate_err": PEN_TOL},
        "n_patches": int(len(mel)),
        "signals": [n for n, _ in sigs],
        "penultimate": (
            "musicnn extractor's 'penultimate' = batch_normalization_10(relu(dense_200(.))): post-ReLU, post-BN"
        ),
        "batchnorm_epsilon": BN_EPS,
        "onnx_vs_tf": {net: results[f"onnx_{final}"][net] for net in NETS},
        "details": results,
        "frontend_check": fe,
        "benchmark": bench,
    }
    (OUT_DIR / "parity_audio.json").write_text(json.dumps(parity, indent=1) + "\n")
    print(
        f"wrote {OUT_DIR / 'audio.onnx'} ({(OUT_DIR / 'audio.onnx').stat().st_size / 1e6:.1f} MB), "
        f"audio_labels.json, parity_audio.json, {REFERENCE_NPZ} ({REFERENCE_NPZ.stat().st_size / 1e3:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
