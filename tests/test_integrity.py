"""Integrity: an altered model file is refused, and damaged derived files are rebuilt, never used."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musictext.errors import ModelError, MusictextError
from musictext.library import ann
from musictext.model import bundle as bundle_mod
from musictext.model.bundle import get_bundle
from tests.test_cli_index_search import ROOT, json_lines, last_json, mt


def _alter_in_place(path: Path, offset: int, count: int = 100) -> None:
    """Flip ``count`` bytes at ``offset`` without changing the size, then put the times back."""
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        data = bytearray(fh.read(count))
        fh.seek(offset)
        fh.write(bytes(b ^ 0x5A for b in data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)


def _user_bundle(home: Path, name: str = "altered") -> Path:
    """A copy of the shipped bundle under another name in the data folder (the big text tower linked)."""
    src = get_bundle()
    dst = home / "models" / name
    dst.mkdir(parents=True)
    for f in src.path.iterdir():
        if f.name == "text.onnx":
            os.symlink(f, dst / f.name)
        else:
            shutil.copy2(f, dst / f.name)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["name"] = name
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_stamp_cache_sees_bytes_changed_with_mtime_put_back(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_mod, "RACY_SECONDS", 0.0)  # let the freshly made copy be stamped
    bundle_mod._verified.clear()
    src = get_bundle()
    path = tmp_path / "audio.onnx"
    shutil.copy2(src.path / "audio.onnx", path)
    expected = src.sha256("audio")
    bundle_mod.verify_file(path, expected)
    assert any(k.startswith(f"{path}|") for k in bundle_mod._verified), "the good file should be stamped"
    _alter_in_place(path, 4096)
    with pytest.raises(ModelError, match="checksum mismatch"):
        bundle_mod.verify_file(path, expected)


def test_racy_stamp_is_not_trusted(tmp_path):
    """A file changed within the last couple of seconds is hashed, not stamped."""
    bundle_mod._verified.clear()
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    import hashlib

    bundle_mod.verify_file(path, hashlib.sha256(b"x" * 1000).hexdigest())
    assert not any(k.startswith(f"{path}|") for k in bundle_mod._verified)


def test_models_verify_and_index_refuse_a_model_altered_in_place(library, musictext_home):
    copy = _user_bundle(musictext_home)
    assert mt("models", "verify", "altered").returncode == 0
    _alter_in_place(copy / "audio.onnx", 200_000)
    proc = mt("models", "verify", "altered", check=False)
    assert proc.returncode == 1 and "checksum mismatch" in proc.stderr and "Traceback" not in proc.stderr
    proc = mt("index", str(library), "--model", "altered", "--json", check=False)
    assert proc.returncode == 1 and "checksum mismatch" in proc.stderr and "Traceback" not in proc.stderr
    assert last_json(mt("status", "--json").stdout)["tracks"] == 0


# Derived files ------------------------------------------------------------------------------------


def _index_files(home: Path, kind: str) -> Path:
    return next((home / "index").glob(f"*.{kind}"))


def _results(*args: str) -> list[tuple[str, float]]:
    return [(h["path"], h["score"]) for h in json_lines(mt(*args, "--json", "-n", "6").stdout)]


def _garble_npy(path: Path) -> None:
    _alter_in_place(path, 128)  # just past the .npy header: the first rows' numbers


def _reverse_ids(path: Path) -> None:
    np.save(path, np.load(path)[::-1].copy())


def _zero_mu(path: Path) -> None:
    meta = json.loads(path.read_text())
    meta["mu"] = [0.0] * len(meta["mu"])
    path.write_text(json.dumps(meta))


def _random_joint(path: Path) -> None:
    joint = np.load(path)
    fake = np.random.default_rng(7).normal(size=joint.shape).astype(np.float32)
    np.save(path, fake / np.linalg.norm(fake, axis=1, keepdims=True))


def test_damaged_space_cache_is_reported_and_rebuilt(library, musictext_home):
    """A garbled raw.npy, reversed ids.npy, zeroed mu or a random joint.npy of the right shape:
    `status` says so, and search and similar answer exactly as before (the cache is rebuilt)."""
    mt("index", str(library))
    seed = str(library / "busy" / "clicks.wav")
    query = ("search", "quiet calm piano by the sea")
    before = _results(*query), _results("similar", seed)
    assert "cache" not in last_json(mt("status", "--json").stdout)["models"].popitem()[1]["index"]
    damages = [("raw.npy", _garble_npy), ("ids.npy", _reverse_ids), ("space.json", _zero_mu)]
    for kind, damage in [*damages, ("joint.npy", _random_joint)]:
        damage(_index_files(musictext_home, kind))
        model = last_json(mt("status", "--json").stdout)["models"].popitem()[1]
        assert model["cache"] == "damaged" and "cache damaged" in model["index"], kind
        assert (_results(*query), _results("similar", seed)) == before, kind
    assert last_json(mt("status", "--json").stdout)["models"].popitem()[1]["cache"] == "ok"  # rebuilt


def _fill_ann(tmp_path: Path, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    monkeypatch.setattr(ann, "EXACT_BELOW", 10)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(300, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1000, 1300)
    assert ann.ensure(tmp_path, "m@1", 1, ids, vecs) == "rebuilt"
    return ids, vecs


@pytest.mark.parametrize("offset", [0, 40, 96, 5000, -50])
def test_garbled_hnsw_graph_is_never_loaded(tmp_path, monkeypatch, offset):
    ids, vecs = _fill_ann(tmp_path, monkeypatch)
    graph = ann.graph_path(tmp_path, "m@1")
    _alter_in_place(graph, offset if offset >= 0 else graph.stat().st_size + offset, 40)
    assert ann.index_health(tmp_path, "m@1", 1, 300) == "damaged"
    with pytest.raises(MusictextError, match="damaged"):
        ann.query(tmp_path, "m@1", vecs[3], 3, 32)
    assert ann.ensure(tmp_path, "m@1", 1, ids, vecs) == "rebuilt"
    assert ann.index_health(tmp_path, "m@1", 1, 300) == "ok"
    found, _ = ann.query(tmp_path, "m@1", vecs[3], 3, 32)
    assert found[0] == 1003


def test_truncated_or_swapped_hnsw_graph_is_damaged(tmp_path, monkeypatch):
    ids, vecs = _fill_ann(tmp_path, monkeypatch)
    graph = ann.graph_path(tmp_path, "m@1")
    data = graph.read_bytes()
    graph.write_bytes(data[: len(data) // 2])
    assert ann.index_health(tmp_path, "m@1", 1, 300) == "damaged"
    ann.ensure(tmp_path, "m@1", 1, ids, vecs)
    other = tmp_path / "other"
    other.mkdir()
    ann.ensure(other, "m@1", 1, ids[::-1].copy(), vecs)  # a well-formed graph of other content
    shutil.copy(ann.graph_path(other, "m@1"), ann.graph_path(tmp_path, "m@1"))
    assert ann.index_health(tmp_path, "m@1", 1, 300) == "damaged"


_WITH_SMALL_EXACT = (
    "import sys; from musictext.library import ann; ann.EXACT_BELOW = 2; from musictext.cli.app import main; "
)


def _mt_ann(*args: str) -> subprocess.CompletedProcess:
    code = _WITH_SMALL_EXACT + f"sys.argv = ['musictext', *{list(args)!r}]; main()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_similar_with_a_garbled_hnsw_graph_does_not_crash(library, musictext_home):
    assert _mt_ann("index", str(library)).returncode == 0
    seed = str(library / "busy" / "clicks.wav")
    good = _mt_ann("similar", seed, "--json", "-n", "3")
    assert good.returncode == 0, good.stderr
    graph = _index_files(musictext_home, "hnsw")
    _alter_in_place(graph, 200)
    status = _mt_ann("status", "--json")
    assert "damaged" in last_json(status.stdout)["models"].popitem()[1]["index"]
    bad = _mt_ann("similar", seed, "--json", "-n", "3")
    assert bad.returncode == 0, bad.stderr  # answered by the exact scan: same tracks
    assert [h["path"] for h in json_lines(bad.stdout)] == [h["path"] for h in json_lines(good.stdout)]
    assert _mt_ann("index", str(library)).returncode == 0
    assert last_json(_mt_ann("status", "--json").stdout)["models"].popitem()[1]["index"] == "ok"


# Tracks too short to judge -------------------------------------------------------------------------


def test_short_clip_is_not_judged_by_its_padding(tmp_path):
    """A 2.5 s clip (one window, mostly zero padding) and a truncated mp3 whose header promises
    30 s: too short to judge, so neither outranks the tracks measured on whole windows."""
    import soundfile as sf

    from tests.conftest import SR, tone
    from tests.test_duplicates import encode

    music = tmp_path / "music"
    music.mkdir()
    for i in range(8):
        y = tone(12, (196.0 + 20 * i, 294.0 + 30 * i), seed=i, clicks_per_s=1 + i % 4, amp=0.25 + 0.01 * i)
        sf.write(music / f"song{i}.flac", y, SR)
    sf.write(music / "soft clip.wav", tone(2.5, (240.0, 360.0), seed=11, clicks_per_s=2, amp=0.05), SR)
    encode(tmp_path / "whole.mp3", tone(30, (220.0, 330.0), seed=9, clicks_per_s=2, amp=0.3), SR, "libmp3lame", "mp3")
    data = (tmp_path / "whole.mp3").read_bytes()
    (music / "cut.mp3").write_bytes(data[: len(data) // 10])
    mt("index", str(music))
    for query in ("quiet", "quiet and slow"):
        proc = mt("search", query, "--json", "--explain", "-n", "10")
        hits = json_lines(proc.stdout)
        assert len(hits) == 10 and Path(hits[0]["path"]).name.startswith("song"), (query, hits[0])
    assert "soft clip.wav: only 2.5 s of audio" in proc.stderr and "too short to judge" in proc.stderr
    model = last_json(mt("status", "--json").stdout)["models"].popitem()[1]
    assert model["short"] == 2  # the clip, and the mp3 that decodes to far less than its header says
    assert "2 track(s) under 6 s" in mt("status").stdout
