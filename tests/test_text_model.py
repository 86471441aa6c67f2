"""Text tower: the committed ONNX + tokenizer against sentence-transformers reference vectors.

No torch: the reference embeddings were stored by models/convert_minilm.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from musictext.model.text import TextEncoder  # noqa: E402

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
        "import sys, musictext; before=set(sys.modules); import musictext.model.text; "
        "new=set(sys.modules)-before; "
        "print(','.join(x for x in ('torch','onnxruntime','tokenizers') if x in new))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"musictext.model.text imported at module load: {out}"


def test_session_is_lazy(monkeypatch):
    enc = TextEncoder(ONNX, TOKENIZER)
    assert enc._session is None and enc._tokenizer is None
    for cores, threads in ((1, 1), (2, 2), (16, 2), (None, 1)):  # two threads at most, one when unknown
        monkeypatch.setattr(os, "cpu_count", lambda c=cores: c)
        assert TextEncoder(ONNX, TOKENIZER).threads == threads


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


# --- the fast-loading copy (weights beside the graph, mapped by onnxruntime) ---------------------


def _sha() -> str:
    from musictext.model.bundle import sha256_file

    return sha256_file(ONNX)


def test_fast_copy_gives_bit_identical_vectors_and_is_remade_when_altered(tmp_path, reference, monkeypatch):
    texts, _ = reference
    monkeypatch.setenv("MUSICTEXT_MODEL_CACHE", str(tmp_path / "copies"))
    sha = _sha()
    plain = TextEncoder(ONNX, TOKENIZER, threads=2).encode(texts)
    fast = TextEncoder(ONNX, TOKENIZER, threads=2, sha256=sha)
    np.testing.assert_array_equal(fast.encode(texts), plain)
    copies = [d for d in (tmp_path / "copies").iterdir() if d.name.startswith("onnx-")]
    assert len(copies) == 1 and (copies[0] / "model.onnx.data").stat().st_size > 80e6
    assert (copies[0] / "model.onnx").stat().st_size < 1e6  # the graph alone: weights are beside it
    # Alter the copy's weights: it is found out by its checksum and made again, never used.
    with open(copies[0] / "model.onnx.data", "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\x7f" * 64)
    from musictext.model import bundle

    bundle._verified.clear()
    again = TextEncoder(ONNX, TOKENIZER, threads=2, sha256=sha)
    np.testing.assert_array_equal(again.encode(texts), plain)
    import json

    from musictext.model.bundle import sha256_file

    recorded = json.loads((copies[0] / "files.json").read_text())
    assert sha256_file(copies[0] / "model.onnx.data") == recorded["model.onnx.data"]  # made again


def test_fast_copy_needs_a_writable_data_folder(tmp_path, monkeypatch):
    from musictext.model.runtime import fast_copy

    monkeypatch.setenv("MUSICTEXT_HOME", str(tmp_path / "missing"))  # caches never create the data folder
    monkeypatch.delenv("MUSICTEXT_MODEL_CACHE", raising=False)
    assert fast_copy(ONNX, _sha()) == ONNX
    assert not (tmp_path / "missing").exists()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MUSICTEXT_HOME", str(home))  # by default the copy lives in the data folder's cache
    copy = fast_copy(ONNX, _sha())
    assert copy != ONNX and copy.is_relative_to(home / "cache")
