"""Text tower: the committed ONNX + tokenizer against sentence-transformers reference vectors.

No torch: the reference embeddings were stored by models/convert_minilm.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from musictext.text_model import TextEncoder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "models" / "musicnn-minilm"
ONNX = BUNDLE / "text.onnx"
TOKENIZER = BUNDLE / "tokenizer.json"
REFERENCE = ROOT / "tests" / "data" / "minilm_reference.npz"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    if not ONNX.is_file() or not TOKENIZER.is_file():
        pytest.fail(f"committed text model missing: {ONNX} / {TOKENIZER}")
    return TextEncoder(ONNX, TOKENIZER, threads=2)


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE, allow_pickle=False) as data:
        return [str(t) for t in data["texts"]], data["embeddings"].astype(np.float32)


def test_module_does_not_import_heavy_libraries():
    import subprocess

    code = (
        "import sys, musictext; before=set(sys.modules); import musictext.text_model; "
        "new=set(sys.modules)-before; "
        "print(','.join(x for x in ('torch','onnxruntime','tokenizers') if x in new))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"musictext.text_model imported at module load: {out}"


def test_session_is_lazy():
    enc = TextEncoder(ONNX, TOKENIZER)
    assert enc._session is None and enc._tokenizer is None
    assert enc.threads >= 1


def test_matches_sentence_transformers(encoder, reference):
    texts, ref = reference
    assert len(texts) >= 8 and ref.shape == (len(texts), 384)
    got = encoder.encode(texts)
    assert got.dtype == np.float32 and got.shape == ref.shape
    cos = np.sum(got * ref, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.9999, f"{texts[worst][:40]!r}: cosine {cos[worst]:.6f}"


def test_unit_norm(encoder):
    v = encoder.encode(["rock", "a slow church organ piece in a minor key", "  ", ""])
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(v).all()


def test_semantics(encoder):
    piano, solo, metal = encoder.encode(["piano", "a solo piano piece", "heavy metal drums"])
    assert piano @ solo > piano @ metal + 0.1


def test_batch_equals_single(encoder):
    texts = [
        "sunny beach day",
        "rainy sunday jazz",
        "x",
        "Musique française des années 60",
        "epic orchestral film score with choir and timpani",
    ]
    fresh = TextEncoder(ONNX, TOKENIZER, threads=2, cache_size=0)
    batch = fresh.encode(texts, batch_size=64)
    single = np.stack([fresh.encode([t])[0] for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    small = fresh.encode(texts, batch_size=2)
    np.testing.assert_allclose(batch, small, atol=1e-5)


def test_long_input_is_truncated(encoder):
    long = " ".join(["guitar solo with distorted feedback and thunderous drums"] * 100)
    ids = encoder.tokenize([long])[0]
    assert len(ids) == 256
    v = encoder.encode([long])
    assert v.shape == (1, 384) and np.isfinite(v).all()
    # Beyond the cut-off nothing matters: same vector as a shorter prefix that also truncates.
    w = encoder.encode([" ".join(["guitar solo with distorted feedback and thunderous drums"] * 60)])
    assert float(v[0] @ w[0]) > 0.9999


def test_cache_and_order(encoder):
    texts = ["jazz", "techno", "jazz", "ambient"]
    a = encoder.encode(texts)
    b = encoder.encode(texts[::-1])
    np.testing.assert_allclose(a, b[::-1], atol=1e-6)
    np.testing.assert_array_equal(a[0], a[2])
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.encode("jazz").shape == (1, 384)
    assert encoder.dim == 384


def test_rejects_non_strings(encoder):
    with pytest.raises(TypeError):
        encoder.encode([None])
