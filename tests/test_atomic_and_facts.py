"""One fact, one place: the shared atomic write, path-under test and model-id helpers."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from musictext.atomic import atomic_path, atomic_write
from musictext.library.scan import is_under
from musictext.model.bundle import model_filename, model_name


def test_atomic_write_replaces_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    atomic_write(target, "new ✓\n")
    assert target.read_bytes() == "new ✓\n".encode()
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "p.m3u8", "#EXTM3U\n")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "p.m3u8").stat().st_mode) == 0o644


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "v.npy"
    np.save(target, np.arange(3))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            np.save(tmp, np.arange(5))
            raise RuntimeError("crash mid-write")
    assert np.load(target).tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["v.npy"]


def test_atomic_path_suffix_survives_writers_that_add_one(tmp_path):
    target = tmp_path / "cache.npz"
    with atomic_path(target) as tmp:
        np.savez(tmp, a=np.ones(2))
    assert np.load(target)["a"].tolist() == [1.0, 1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]


def test_is_under():
    assert is_under("/music/a.mp3", ["/music"])
    assert is_under("/music/a.mp3", ["/music/"])
    assert is_under("/music", ["/music"])
    assert not is_under("/musicals/a.mp3", ["/music"])
    assert not is_under("/music/a.mp3", [])


def test_model_name_and_filename():
    assert model_name("musicnn-minilm@1.0+p2") == "musicnn-minilm"
    assert model_name("mine") == "mine"
    assert model_filename("a/b@1+p2") == "a_b_1_p2"
