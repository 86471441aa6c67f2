"""`models import-clap`: a small random-weights LAION-CLAP checkpoint (published key layout,
reduced sizes) goes import -> bundle -> index -> search -> verify; bad inputs are refused in one line."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.clap_fixture import save_checkpoint, write_tokenizer
from tests.conftest import make_library
from tests.test_cli_index_search import json_lines, mt

pytest.importorskip("torch")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clap")
    return save_checkpoint(folder / "music_test.pt"), write_tokenizer(folder / "roberta")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_import_index_search_verify(made, tmp_path, musictext_home):
    checkpoint, tokenizer = made
    proc = mt(
        "models",
        "import-clap",
        str(checkpoint),
        "--tokenizer",
        str(tokenizer),
        "--name",
        "clap-tiny",
        "--licence",
        "CC0-1.0 (test weights)",
    )
    assert "ONNX vs torch" in proc.stdout
    folder = musictext_home / "models" / "clap-tiny"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "clap" and manifest["scoring"] == "joint"
    assert manifest["sources"]["checkpoint_sha256"] == sha(checkpoint)
    assert manifest["sources"]["tokenizer"]["vocab.json"] == sha(tokenizer / "vocab.json")
    assert manifest["licenses"]["clap"] == "CC0-1.0 (test weights)"
    assert manifest["frontend"]["sample_rate"] == 48000 and manifest["frontend"]["window_samples"] == 480000
    assert manifest["dims"]["joint"] == 32
    assert set(manifest["files"]) == {"audio", "text", "tokenizer"}
    for entry in manifest["files"].values():
        assert sha(folder / entry["path"]) == entry["sha256"]
    assert max(manifest["clap"]["onnx_max_abs_diff"].values()) <= 1e-4
    assert "reduced" in manifest["clap"]["architecture"]
    assert "CC0-1.0" in (folder / "MODEL_CARD.md").read_text()
    assert "CLAP, concepts from musicnn-minilm" in mt("models", "list").stdout

    root = make_library(tmp_path)
    report = json.loads(mt("index", str(root), "--model", "clap-tiny", "--json", "-q").stdout.splitlines()[-1])
    assert report["indexed"] >= 5
    db = sqlite3.connect(musictext_home / "library.sqlite3") if (musictext_home / "library.sqlite3").exists() else None
    if db is None:
        db = sqlite3.connect(next(musictext_home.rglob("*.sqlite3")))
    model_id = f"clap-tiny@{manifest['version']}+p1"
    rows = dict(
        db.execute(
            "SELECT t.path, v.vector FROM vectors v JOIN tracks t ON t.id=v.track_id WHERE model=?", (model_id,)
        ).fetchall()
    )
    base = db.execute("SELECT COUNT(*) FROM audio_features WHERE audio_model LIKE 'musicnn-minilm@%'").fetchone()[0]
    assert len(rows) == base >= 5  # every track the base measured has its CLAP vector
    # The stored vectors are the CLAP tower's, not the base's joint head: recompute one directly.
    from musictext.model.bundle import get_bundle
    from musictext.model.clap import file_vector

    path = next(p for p in rows if p.endswith("chord.flac"))
    stored = np.frombuffer(rows[path], np.float32)
    assert stored.shape == (32,)
    assert np.allclose(stored, file_vector(get_bundle("clap-tiny"), path), atol=1e-5)

    hits = json_lines(mt("search", "calm piano chords", "--model", "clap-tiny", "--json").stdout)
    assert len(hits) >= 5 and all(Path(h["path"]).exists() for h in hits)
    hits = json_lines(mt("search", "slow", "--model", "clap-tiny", "--json", "--explain").stdout)
    assert hits  # concepts (tempo) still answer, from the base's measurements
    similar = json_lines(mt("similar", path, "--model", "clap-tiny", "--json").stdout)
    assert similar and all(h["path"] != path for h in similar)

    vocab = tmp_path / "v.txt"
    vocab.write_text("piano\ndrums\nnoise\n")
    tagged = json_lines(mt("tag", "--vocab", str(vocab), "--model", "clap-tiny", "--json", "--scores").stdout)
    assert len(tagged) == len(rows) and all(set(r["scores"]) == {"piano", "drums", "noise"} for r in tagged)
    listed = tmp_path / "p.m3u8"
    mt("playlist", "calm piano", "--model", "clap-tiny", "-n", "3", "-o", str(listed))
    assert len([x for x in listed.read_text().splitlines() if x and not x.startswith("#")]) == 3
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"audio": p, "text": t}) + "\n"
            for p, t in zip(sorted(rows), ["hum", "chords", "clicks", "noise", "tone", "tone"])
        )
    )
    (evaluated,) = json_lines(mt("eval", "--pairs", str(pairs), "--model", "clap-tiny", "--json").stdout)
    assert evaluated["model"] == "clap-tiny" and 0 <= evaluated["r@1"] <= evaluated["r@10"] <= 1

    ok = mt("models", "verify", "clap-tiny")
    assert "audio graph answers" in ok.stdout and "tokenizer has 50265 tokens" in ok.stdout
    with open(folder / "audio.onnx", "ab") as fh:
        fh.write(b"\0")
    bad = mt("models", "verify", "clap-tiny", check=False)
    assert bad.returncode != 0 and "checksum mismatch" in bad.stderr and "Traceback" not in bad.stderr


def _refused(proc, words: str, home: Path) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith("converting")]
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert not any((home / "models").glob("*/manifest.json")) if (home / "models").exists() else True


def test_wrong_tokenizer_refused(made, tmp_path, musictext_home):
    checkpoint, _ = made
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "vocab.json").write_text(json.dumps({"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "a": 4}))
    (stub / "merges.txt").write_text("#version: 0.2\n")
    proc = mt("models", "import-clap", str(checkpoint), "--tokenizer", str(stub), check=False)
    _refused(proc, "tokenizer has 5 tokens", musictext_home)


class Settings:  # pickled by reference: torch.load(weights_only=True) will not build it
    lr = 1e-4


def test_pickle_only_checkpoint_refused(tmp_path, musictext_home):
    import torch

    path = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"module.logit_scale_a": torch.tensor(1.0)}, "args": Settings()}, str(path))
    proc = mt("models", "import-clap", str(path), "--tokenizer", str(write_tokenizer(tmp_path / "tok")), check=False)
    _refused(proc, "needs code unpickled", musictext_home)


def test_tampered_checkpoint_refused(made, tmp_path, musictext_home):
    import torch

    checkpoint, tokenizer = made
    proc = mt(
        "models", "import-clap", str(checkpoint), "--tokenizer", str(tokenizer), "--sha256", "0" * 64, check=False
    )
    _refused(proc, "checkpoint sha256 is", musictext_home)

    state = torch.load(str(checkpoint), weights_only=True)["state_dict"]
    key = "module.audio_branch.layers.1.blocks.0.attn.qkv.weight"
    state[key] = state[key][:-3]
    torch.save({"state_dict": state}, str(tmp_path / "cut.pt"))
    proc = mt("models", "import-clap", str(tmp_path / "cut.pt"), "--tokenizer", str(tokenizer), check=False)
    _refused(proc, "layers.1.blocks.0.attn.qkv.weight has shape", musictext_home)


def test_windows_cover_the_track_and_repeat_short_audio():
    from musictext.model.clap import WINDOW, window_count, windows

    short = np.linspace(-0.5, 0.5, WINDOW // 3 + 7, dtype=np.float32)
    (w,) = windows(short, 3)
    assert w.shape == (WINDOW,) and np.allclose(w[: len(short)], w[len(short) : 2 * len(short)], atol=1e-4)
    assert not w[3 * len(short) :].any()  # repeated 3 times, then zero padded
    long = np.random.default_rng(0).uniform(-1, 1, WINDOW * 5 + 123).astype(np.float32)
    assert windows(long, 3).shape == (3, WINDOW) and windows(long, None).shape == (5, WINDOW)
    assert np.allclose(windows(long, 3)[0], long[:WINDOW], atol=1e-4)  # first window at the start
    assert np.allclose(windows(long, 3)[-1], long[-WINDOW:], atol=1e-4)  # last one at the end
    assert window_count(8) == 3 and window_count(1) == 1 and window_count(None) is None


def test_changed_content_drops_stored_vectors(tmp_path):
    from musictext.library.store import Store

    with Store(tmp_path / "lib.sqlite3") as store, store.batch():
        tid = store.upsert_track("/m/a.flac", 10, 1, "hash-a", 30.0, {})
        store.put_vector(tid, "clap-x@1+p1", np.ones(4, np.float32))
        assert store.upsert_track("/m/a.flac", 10, 2, "hash-a", 30.0, {}) == tid  # same content: kept
        assert len(store.vectors("clap-x@1+p1")[0]) == 1
        store.upsert_track("/m/a.flac", 11, 3, "hash-b", 30.0, {})  # new content: the old vector is stale
        assert len(store.vectors("clap-x@1+p1")[0]) == 0
