import numpy as np

from musictext.library import ann
from musictext.library.store import Store


def test_hnsw_index_is_rebuilt_when_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "EXACT_BELOW", 10)
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(100, 150)
    assert ann.index_health(tmp_path, "m@1", 1, 50) == "missing"
    assert ann.ensure(tmp_path, "m@1", 1, ids, vecs) == "rebuilt"
    assert ann.index_health(tmp_path, "m@1", 1, 50) == "ok"
    found, sims = ann.query(tmp_path, "m@1", vecs[7], 3, 16)
    assert found[0] == 107 and sims[0] > 0.99
    assert ann.index_health(tmp_path, "m@1", 2, 50) == "stale"  # the store moved on
    (tmp_path / "m_1.json").write_text("not json")
    assert ann.index_health(tmp_path, "m@1", 1, 50) == "stale"
    assert ann.ensure(tmp_path, "m@1", 2, ids, vecs) == "rebuilt"
    assert ann.index_health(tmp_path, "m@1", 50, 5) == "exact"  # small libraries need no graph


def test_store_roundtrip_and_generation(tmp_path):
    with Store(tmp_path / "lib.sqlite3") as store:
        with store.batch():
            tid = store.upsert_track(
                "/m/a.flac", 10, 20, "h", 61.5, {"artist": ["A"], "year": ["1999-04-01"], "genre": ["Jazz", "Soul"]}
            )
            store.put_vector(tid, "m@1", np.ones(4, np.float32))
            store.bump_generation("m@1")
        t = store.track(tid)
        assert (t.artist, t.year, t.genre, t.duration) == ("A", 1999, "Jazz; Soul", 61.5)
        ids, vecs = store.vectors("m@1")
        assert ids.tolist() == [tid] and vecs.shape == (1, 4)
        assert store.generation("m@1") == 1
    with Store(tmp_path / "lib.sqlite3", readonly=True) as ro:
        assert ro.count_tracks() == 1
    with Store(tmp_path / "missing.sqlite3", readonly=True) as empty:
        assert empty.count_tracks() == 0
