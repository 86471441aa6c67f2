"""`musictext tag` end to end on real files of every taggable format."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from musictext.errors import MusictextError
from musictext.tags.tagging import load_vocab
from tests.conftest import AUDIO
from tests.test_cli_index_search import json_lines, mt

FORMATS = [
    "tone.mp3",
    "tone_v24.mp3",
    "tone.flac",
    "tone.ogg",
    "tone.opus",
    "tone.m4a",
    "tone.wav",
    "tone.aiff",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tagged_library(tmp_path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    for name in FORMATS:
        shutil.copy(AUDIO / name, root / name)
    mt("index", str(root))
    return root


def test_vocab_file_format(tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("# my words\nrock\njazz = smooth jazz  # inline comment\n[mood]\nhappy\n\n[instrument]\npiano\nrock\n")
    terms = load_vocab(str(f))
    assert [(t.term, t.prompt, t.field) for t in terms] == [
        ("rock", "rock", "genre"),
        ("jazz", "smooth jazz", "genre"),
        ("happy", "happy", "mood"),
        ("piano", "piano", "instrument"),
        ("rock", "rock", "instrument"),
    ]
    assert {t.field for t in load_vocab("moods")} == {"mood"}
    with pytest.raises(MusictextError):
        load_vocab(str(tmp_path / "missing.txt"))


def test_scores_json_and_selection(tagged_library, tmp_path):
    vocab = tmp_path / "v.txt"
    vocab.write_text("piano\ndrums\nclassical\nrock\n")
    proc = mt("tag", "--vocab", str(vocab), "--json", "--scores")
    rows = json_lines(proc.stdout)
    assert len(rows) == len(FORMATS)
    for r in rows:
        # evidence: every term has some (tags, descriptors); a tag needs 0.5 of it, 3 is a cap
        assert set(r["scores"]) == set(r["relative"]) == {"piano", "drums", "classical", "rock"}
        assert all(0 <= v <= 1 for v in [*r["scores"].values(), *r["relative"].values()])
        assert len(r["tags"]) <= 3 and all(t["score"] >= 0.5 for t in r["tags"])
        assert [t["score"] for t in r["tags"]] == sorted((t["score"] for t in r["tags"]), reverse=True)
        assert {t["tag"] for t in r["tags"]} == {k for k, v in r["scores"].items() if v >= 0.5}
    untagged = sum(not r["tags"] for r in rows)
    assert f"{untagged} of {len(FORMATS)} track(s) got no tag" in proc.stderr
    # --relative: the library-relative view, a quota of K per track
    rel = json_lines(mt("tag", "--vocab", str(vocab), "--json", "--scores", "--relative").stdout)
    for r in rel:
        assert len(r["tags"]) == 3 and r["tags"][0]["score"] >= r["tags"][-1]["score"]
        assert "relative" not in r
    one = json_lines(
        mt("tag", "--vocab", str(vocab), "--json", "--relative", "--top-k", "1", "--threshold", "0.999").stdout
    )
    assert all(len(r["tags"]) <= 1 for r in one)
    csv_out = mt("tag", "--vocab", str(vocab), "--csv", "--relative", "-k", "1").stdout.splitlines()
    assert csv_out[0] == "path,tag,field,score" and len(csv_out) == 1 + len(FORMATS)


def test_dry_run_changes_nothing_then_write_then_undo(tagged_library, tmp_path):
    vocab = tmp_path / "v.txt"
    vocab.write_text("[genre]\npiano\nclassical\n[mood]\ncalm\n")
    before = {p.name: (digest(p), p.stat().st_mtime_ns) for p in tagged_library.iterdir()}
    dry = mt("tag", "--vocab", str(vocab), "--dry-run", "--relative", "-k", "3")
    assert "dry run: nothing written" in dry.stderr and "genre:" in dry.stderr
    assert {p.name: (digest(p), p.stat().st_mtime_ns) for p in tagged_library.iterdir()} == before

    wrote = mt("tag", "--vocab", str(vocab), "--write", "--relative", "-k", "3")
    assert f"{len(FORMATS)} written" in wrote.stderr
    import mutagen

    for p in tagged_library.iterdir():
        assert p.stat().st_mtime_ns == before[p.name][1]  # mtime kept
        assert digest(p) != before[p.name][0]
    mp3 = mutagen.File(tagged_library / "tone_v24.mp3")
    assert {"piano", "classical"} <= set(mp3.tags["TCON"].text) and mp3.tags["TMOO"].text == ["calm"]
    flac = mutagen.File(tagged_library / "tone.flac")
    assert "piano" in flac["GENRE"] and flac["MOOD"] == ["calm"]
    m4a = mutagen.File(tagged_library / "tone.m4a")
    assert bytes(m4a.tags["----:com.apple.iTunes:MOOD"][0]) == b"calm"

    # indexing afterwards does not re-analyse the tagged files
    again = json_lines(mt("index", str(tagged_library), "--json").stdout)[-1]
    assert again["unchanged"] == len(FORMATS) and again["indexed"] == 0

    history = mt("tag", "--history").stdout
    assert "done" in history and "--write" in history
    undone = mt("tag", "--undo")
    assert f"restored {len(FORMATS)} file(s)" in undone.stderr
    assert {p.name: (digest(p), p.stat().st_mtime_ns) for p in tagged_library.iterdir()} == before
    assert "undone" in mt("tag", "--history").stdout
    assert mt("tag", "--undo", "1", check=False).returncode == 1  # already undone


def test_read_only_and_vanished_files_are_skipped(tagged_library, tmp_path):
    vocab = tmp_path / "v.txt"
    vocab.write_text("piano\n")
    ro = tagged_library / "tone.flac"
    ro_hash = digest(ro)
    os.chmod(ro, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    (tagged_library / "tone.ogg").unlink()
    proc = mt("tag", "--vocab", str(vocab), "--write", "--relative")
    assert proc.returncode == 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("skipping ")]
    assert any("tone.flac" in line and "read-only" in line for line in lines)
    assert any("tone.ogg" in line and "vanished" in line for line in lines)
    assert digest(ro) == ro_hash
    assert f"{len(FORMATS) - 2} written" in proc.stderr
