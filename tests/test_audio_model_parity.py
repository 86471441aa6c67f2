"""Parity of the committed musicnn ONNX graph (models/musicnn-minilm/audio.onnx) with TensorFlow.

``tests/data/musicnn_reference.npz`` holds, for the deterministic clip made by
``reference_signal()`` below, the mel patches computed by ``musictext/audio/frontend.py`` and the
ORIGINAL musicnn TF graph's outputs on them (sigmoid tag probabilities and the 200-d
penultimate, for MSD_musicnn and MTT_musicnn). It is written by ``models/convert_musicnn.py``,
which also holds the same recipe. No TensorFlow or torch here: onnxruntime + numpy + librosa.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from musictext.audio import frontend

ROOT = Path(__file__).resolve().parents[1]
ONNX_PATH = ROOT / "models" / "musicnn-minilm" / "audio.onnx"
LABELS_PATH = ROOT / "models" / "musicnn-minilm" / "audio_labels.json"
REF_PATH = ROOT / "tests" / "data" / "musicnn_reference.npz"

SIG_TOL = 1e-4  # max |sigmoid(onnx) - sigmoid(tf)|
PEN_TOL = 1e-4  # per patch ||pen_onnx - pen_tf|| / ||pen_tf||
MEL_TOL = 1e-4  # abs, regenerated log-mel vs stored
NETS = ("msd", "mtt")
OUTPUTS = ["msd_logits", "msd_penultimate", "mtt_logits", "mtt_penultimate"]


def reference_signal() -> np.ndarray:
    """Deterministic 6 s test clip (C-major chord with tremolo + clicks + noise).

    Identical to ``models/convert_musicnn.py::reference_signal``. RandomState's stream is frozen
    by NumPy, so the noise is the same on every platform and NumPy version.
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


@pytest.fixture(scope="module")
def ref():
    with np.load(REF_PATH) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def session():
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(str(ONNX_PATH), so, providers=["CPUExecutionProvider"])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def test_graph_interface(session):
    inp = session.get_inputs()
    assert [i.name for i in inp] == ["mel"]
    assert inp[0].shape[1:] == [frontend.PATCH_FRAMES, frontend.N_MELS]
    assert not isinstance(inp[0].shape[0], int)  # dynamic batch
    outs = {o.name: o.shape for o in session.get_outputs()}
    assert list(outs) == OUTPUTS
    assert outs["msd_logits"][1] == 50 and outs["mtt_logits"][1] == 50
    assert outs["msd_penultimate"][1] == 200 and outs["mtt_penultimate"][1] == 200
    # weights live inside the single file (no external data next to it)
    assert ONNX_PATH.stat().st_size > 5_000_000


def test_frontend_matches_stored_mel(ref):
    mel = frontend.patches(frontend.log_mel(reference_signal()))
    assert mel.dtype == np.float32
    assert mel.shape == ref["mel"].shape == (2, frontend.PATCH_FRAMES, frontend.N_MELS)
    assert np.abs(mel - ref["mel"]).max() <= MEL_TOL


def test_onnx_matches_tensorflow(session, ref):
    out = dict(zip(OUTPUTS, session.run(None, {"mel": ref["mel"]}), strict=True))
    for net in NETS:
        sig_diff = np.abs(_sigmoid(out[f"{net}_logits"]) - ref[f"{net}_prob"]).max()
        assert sig_diff <= SIG_TOL, (net, sig_diff)
        a = out[f"{net}_penultimate"].astype(np.float64)
        b = ref[f"{net}_penultimate"].astype(np.float64)
        rel = (np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)).max()
        assert rel <= PEN_TOL, (net, rel)


def test_batch_size_does_not_change_results(session, ref):
    both = session.run(None, {"mel": ref["mel"]})
    for i in range(len(ref["mel"])):
        single = session.run(None, {"mel": ref["mel"][i : i + 1]})
        for a, b in zip(single, both, strict=True):
            np.testing.assert_allclose(a[0], b[i], rtol=0, atol=1e-5)


def test_labels():
    labels = json.loads(LABELS_PATH.read_text())
    assert set(labels) == {"msd", "mtt"}
    assert len(labels["msd"]) == 50 and len(labels["mtt"]) == 50
    assert labels["msd"][:3] == ["rock", "pop", "alternative"]
    assert labels["mtt"][:3] == ["guitar", "classical", "slow"]
