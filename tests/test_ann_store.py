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


def test_moods_of_many_tracks_takes_each_tracks_newest_model(tmp_path):
    """What a Parquet shard carries: every track with mood axes, the newest model's when it has several
    (read in chunks, so a shard of 50k tracks is a hundred queries, not 50k)."""
    from musictext.audio.mood import MOOD_AXES

    with Store(tmp_path / "lib.sqlite3") as store, store.batch():
        ids = [store.upsert_track(f"/m/{i}.mp3", 1, 1, f"h{i}", 10.0, {}) for i in range(1203)]
        for i, tid in enumerate(ids):
            if i % 3:  # a third of the tracks have no mood axes
                store.put_mood(tid, "vibenet@0.1.0+m1", {a: 0.25 for a in MOOD_AXES})
            if i % 2 == 0:
                store.put_mood(tid, "vibenet@0.2.0+m1", {a: 0.75 for a in MOOD_AXES})
        got = store.moods_of(ids)
    expected = {tid for i, tid in enumerate(ids) if i % 3 or i % 2 == 0}
    assert set(got) == expected
    for i, tid in enumerate(ids):
        if tid in got:
            newest = "vibenet@0.2.0+m1" if i % 2 == 0 else "vibenet@0.1.0+m1"
            assert got[tid]["model"] == newest
            assert got[tid]["axes"]["valence"] == (0.75 if i % 2 == 0 else 0.25)
