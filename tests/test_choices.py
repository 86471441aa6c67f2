"""Choices the user makes without a flag: the default model from $MUSICTEXT_MODEL, a library from a
newer musictext, and the HNSW path of `similar` on large libraries."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from musictext.errors import MusictextError, NotFoundError
from tests.test_cli_index_search import json_lines, mt

BUILTIN = Path(__file__).resolve().parents[1] / "models" / "musicnn-minilm"


def _alias_bundle(home: Path, name: str) -> Path:
    """A user bundle that is the shipped one under another name (its files linked, not copied)."""
    folder = home / "models" / name
    folder.mkdir(parents=True)
    for f in BUILTIN.iterdir():
        if f.name == "manifest.json":
            manifest = json.loads(f.read_text())
            manifest["name"] = name
            (folder / f.name).write_text(json.dumps(manifest))
        elif f.is_file():
            (folder / f.name).symlink_to(f)
    return folder


def test_musictext_model_picks_the_default(musictext_home, monkeypatch):
    from musictext.model.bundle import get_bundle

    _alias_bundle(musictext_home, "alias")
    monkeypatch.delenv("MUSICTEXT_MODEL", raising=False)
    assert get_bundle().name == "musicnn-minilm"
    monkeypatch.setenv("MUSICTEXT_MODEL", "alias")
    assert get_bundle().name == "alias"
    assert get_bundle("musicnn-minilm").name == "musicnn-minilm"  # an explicit name wins
    monkeypatch.setenv("MUSICTEXT_MODEL", "no-such-model")
    with pytest.raises(NotFoundError, match="no-such-model"):
        get_bundle()


def test_musictext_model_reaches_the_cli(musictext_home):
    _alias_bundle(musictext_home, "alias")
    env = {**os.environ, "MUSICTEXT_MODEL": "alias"}
    listed = {m["name"]: m for m in json_lines(mt("models", "list", "--json", env=env).stdout)}
    assert listed["alias"]["default"] is True and listed["musicnn-minilm"]["default"] is False
    proc = mt("search", "rock", env={**os.environ, "MUSICTEXT_MODEL": "no-such-model"}, check=False)
    assert proc.returncode != 0 and "no-such-model" in proc.stderr and "Traceback" not in proc.stderr


def test_a_newer_schema_is_refused(musictext_home):
    from musictext.config import db_path
    from musictext.library.store import SCHEMA_VERSION, Store

    Store(db_path()).close()
    with sqlite3.connect(db_path()) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(MusictextError, match="newer musictext"):
        Store(db_path())
    with pytest.raises(MusictextError, match="newer musictext"):
        Store(db_path(), readonly=True)
    proc = mt("status", check=False)
    assert proc.returncode != 0 and "newer musictext" in proc.stderr and "Traceback" not in proc.stderr


def test_similar_takes_the_hnsw_path_on_large_libraries(library, monkeypatch):
    """Above EXACT_BELOW tracks `similar` asks the HNSW index; its answer matches the exact scan."""
    from musictext import search
    from musictext.library import ann
    from musictext.library.index import index_library

    seed = str(library / "busy" / "clicks.wav")
    index_library([library], jobs=1)
    exact = search.similar(seed, n=5)
    monkeypatch.setattr(ann, "EXACT_BELOW", 2)
    index_library([library], jobs=1)  # nothing to analyse; the derived index is built now
    asked = []
    real_query = ann.query

    def spy(*args, **kwargs):
        asked.append(args)
        return real_query(*args, **kwargs)

    monkeypatch.setattr(ann, "query", spy)
    approx = search.similar(seed, n=5)
    assert asked, "similar did not use the HNSW index"
    assert [r.track.path for r in approx.results] == [r.track.path for r in exact.results]
    assert np.allclose([r.score for r in approx.results], [r.score for r in exact.results], atol=1e-4)
    assert seed not in {r.track.path for r in approx.results}


def test_half_written_bundles_are_not_listed(musictext_home):
    """`musictext train` builds a bundle in .NAME.partial and sets the old one aside as .NAME.old:
    neither is a model a user can pick."""
    from musictext.model.bundle import list_bundles

    _alias_bundle(musictext_home, ".mine.partial")
    _alias_bundle(musictext_home, "mine")
    names = {b.path.name for b in list_bundles()}
    assert "mine" in names and ".mine.partial" not in names
