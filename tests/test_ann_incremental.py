"""The HNSW index is updated in place of being rebuilt: same answers as a fresh build, deleted
tracks never come back, and a killed update leaves the previous index usable."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from musictext.library import ann, derived

ROOT = Path(__file__).resolve().parents[1]
DIM = 24


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def library(n: int, seed: int = 0) -> np.ndarray:
    """Clustered vectors, as a music library's are (genres), so neighbours are not all ties."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    return unit(centres[rng.integers(0, 20, n)] + 0.45 * rng.normal(size=(n, DIM)))


def recall(index_dir: Path, ids: np.ndarray, vecs: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    hits = 0
    for q in queries:
        truth = set(ids[np.argsort(-(vecs @ q), kind="stable")[:k]].tolist())
        found, _ = ann.query(index_dir, "m@1", q, k, DIM)
        hits += len(truth & set(found.tolist()))
    return hits / (k * len(queries))


@pytest.fixture
def small_exact(monkeypatch):
    monkeypatch.setattr(ann, "EXACT_BELOW", 10)


def meta(index_dir: Path) -> dict:
    return json.loads((index_dir / "m_1.json").read_text())


def test_update_matches_a_rebuild_and_deleted_tracks_never_return(tmp_path, small_exact):
    vecs = library(3000)
    ids = np.arange(10, 3010, dtype=np.int64)
    base = tmp_path / "inc"
    base.mkdir()
    assert ann.ensure(base, "m@1", 1, ids[:2400], vecs[:2400]) == "rebuilt"
    # the library moves on: 600 tracks added, 150 gone, 100 re-analysed (new vectors, same ids)
    keep = np.ones(3000, bool)
    keep[np.arange(0, 1500, 10)] = False
    changed = np.arange(5, 1000, 10)
    vecs2 = vecs.copy()
    vecs2[changed] = library(len(changed), seed=7)
    now_ids, now_vecs = ids[keep], vecs2[keep]
    assert ann.index_health(base, "m@1", 2, len(now_ids)) == "stale"
    assert ann.ensure(base, "m@1", 2, now_ids, now_vecs) == "updated"
    info = meta(base)
    assert info["count"] == len(now_ids) and info["elements"] == 3000  # resized by the 600, not rebuilt
    assert ann.index_health(base, "m@1", 2, len(now_ids)) == "ok"

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    ann.build(fresh, "m@1", 2, now_ids, now_vecs)
    queries = np.concatenate([library(60, seed=3), vecs2[changed[:20]], vecs[~keep][:20]])
    r_inc, r_fresh = recall(base, now_ids, now_vecs, queries), recall(fresh, now_ids, now_vecs, queries)
    assert r_inc >= 0.95 and r_inc >= r_fresh - 0.01, (r_inc, r_fresh)

    gone = set(ids[~keep].tolist())
    for q in vecs[~keep]:  # asked for exactly a deleted track's vector: it is not there
        found, _ = ann.query(base, "m@1", q, 30, DIM)
        assert not gone & set(found.tolist())
    for row in changed[:20]:  # a re-analysed track is found by its new vector, not its old one
        found, sims = ann.query(base, "m@1", vecs2[row], 1, DIM)
        assert found[0] == ids[row] and sims[0] > 0.999


def test_returning_track_unchanged_library_and_rebuild_threshold(tmp_path, small_exact):
    vecs = library(1000)
    ids = np.arange(1000, dtype=np.int64)
    ann.build(tmp_path, "m@1", 1, ids, vecs)
    serial = meta(tmp_path)["serial"]
    assert ann.ensure(tmp_path, "m@1", 2, ids, vecs) == "ok"  # only the generation moved
    assert meta(tmp_path)["serial"] == serial and ann.index_health(tmp_path, "m@1", 2, 1000) == "ok"
    assert ann.ensure(tmp_path, "m@1", 3, ids[1:], vecs[1:]) == "updated"
    assert 0 not in ann.query(tmp_path, "m@1", vecs[0], 50, DIM)[0]
    assert ann.ensure(tmp_path, "m@1", 4, ids, vecs) == "updated"  # the track is back (un-deleted)
    assert ann.query(tmp_path, "m@1", vecs[0], 1, DIM)[0][0] == 0
    assert meta(tmp_path)["elements"] == 1000
    share = int(1000 * ann.REBUILD_DELETED_SHARE) + 10
    assert ann.ensure(tmp_path, "m@1", 5, ids[share:], vecs[share:]) == "rebuilt"
    assert meta(tmp_path)["elements"] == meta(tmp_path)["count"] == 1000 - share
    assert len(list(tmp_path.glob("m_1*.hnsw"))) == len(list(tmp_path.glob("m_1*.labels"))) == 1


def test_damaged_labels_file_means_a_rebuild(tmp_path, small_exact):
    vecs = library(500)
    ids = np.arange(500, dtype=np.int64)
    ann.build(tmp_path, "m@1", 1, ids, vecs)
    labels = next(tmp_path.glob("m_1*.labels"))
    data = bytearray(labels.read_bytes())
    data[-5] ^= 0xFF
    labels.write_bytes(bytes(data))
    assert ann.ensure(tmp_path, "m@1", 2, ids[:-10], vecs[:-10]) == "rebuilt"
    assert meta(tmp_path)["elements"] == 490


KILLED_UPDATE = """
import os, signal, sys
import numpy as np
from musictext.library import ann, derived
ann.EXACT_BELOW = 10
real = derived.write_meta
def write_meta(path, meta):
    if path.name == "m_1.json":
        os.kill(os.getpid(), signal.SIGKILL)  # killed after the new graph and labels are written
    real(path, meta)
derived.write_meta = write_meta
vecs = np.load(sys.argv[2])
ann.ensure(__import__("pathlib").Path(sys.argv[1]), "m@1", 2, np.arange(len(vecs)), vecs)
"""


def test_killed_update_leaves_the_old_index_usable(tmp_path, small_exact):
    vecs = library(1200)
    ids = np.arange(1200, dtype=np.int64)
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    ann.build(index_dir, "m@1", 1, ids[:1000], vecs[:1000])
    np.save(tmp_path / "vecs.npy", vecs)
    run = subprocess.run([sys.executable, "-c", KILLED_UPDATE, str(index_dir), str(tmp_path / "vecs.npy")], cwd=ROOT)
    assert run.returncode == -9
    assert len(list(index_dir.glob("m_1*.hnsw"))) == 2  # the killed write's graph is there, unused
    assert ann.index_health(index_dir, "m@1", 1, 1000) == "ok"  # the old index, whole
    assert ann.index_health(index_dir, "m@1", 2, 1200) == "stale"
    assert ann.query(index_dir, "m@1", vecs[3], 1, DIM)[0][0] == 3
    assert ann.ensure(index_dir, "m@1", 2, ids, vecs) == "updated"
    assert ann.query(index_dir, "m@1", vecs[1100], 1, DIM)[0][0] == 1100
    assert len(list(index_dir.glob("m_1*.hnsw"))) == 1  # the orphan is cleared by the next write
    assert derived.read_meta(index_dir / "m_1.json")["count"] == 1200


def test_fingerprints_see_any_bit():
    vecs = library(50)
    fps = ann.fingerprints(vecs)
    assert len(set(fps.tolist())) == 50 and (fps != 0).all()
    assert np.array_equal(fps, ann.fingerprints(vecs.copy()))
    bits = vecs.view(np.uint32).copy()
    bits[7, 11] ^= 1  # the last bit of one float
    assert (ann.fingerprints(bits.view(np.float32)) != fps).tolist() == [i == 7 for i in range(50)]


def test_an_update_leaves_other_models_files_alone(tmp_path, small_exact):
    vecs = library(300)
    ids = np.arange(300, dtype=np.int64)
    ann.build(tmp_path, "m@10", 1, ids, vecs)  # "m_10...": a prefix of this model's names plus a digit
    ann.build(tmp_path, "m@1.x", 1, ids, vecs)
    ann.build(tmp_path, "m@1", 1, ids, vecs)
    ann.update(tmp_path, "m@1", 2, ids[1:], vecs[1:])
    for model in ("m@10", "m@1.x"):
        assert ann.index_health(tmp_path, model, 1, 300) == "ok"
        assert ann.query(tmp_path, model, vecs[5], 1, DIM)[0][0] == 5


def test_index_updates_the_graph_and_a_removed_file_never_comes_back(library, monkeypatch):
    """Through `index` itself: the second run updates the graph in place (no rebuild), and the file
    that is gone is not among `similar`'s answers."""
    from musictext import search
    from musictext.library.index import index_library

    monkeypatch.setattr(ann, "EXACT_BELOW", 2)
    index_library([library], jobs=1)
    outcomes = []
    real_ensure = ann.ensure
    monkeypatch.setattr(ann, "ensure", lambda *a, **k: outcomes.append(real_ensure(*a, **k)) or outcomes[-1])
    gone = library / "calm" / "chord.flac"
    gone.unlink()
    index_library([library], jobs=1)
    assert outcomes == ["updated"]
    asked = []
    real_query = ann.query
    monkeypatch.setattr(ann, "query", lambda *a, **k: asked.append(a) or real_query(*a, **k))
    seed = str(library / "busy" / "clicks.wav")
    paths = [r.track.path for r in search.similar(seed, n=50).results]
    assert asked and paths and str(gone) not in paths
