"""End to end: the real CLI, the real committed models, tiny real audio."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import SR, make_library, tone

ROOT = Path(__file__).resolve().parents[1]


def mt(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "musictext", *args],
        capture_output=True,
        text=True,
        env=env or os.environ.copy(),
        cwd=ROOT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"musictext {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


_mt = mt  # the module-level runner, for tests that wrap it with their own environment


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """The tiny library, indexed once for the tests that only read it: (root, env, index report)."""
    root = make_library(tmp_path_factory.mktemp("indexed"))
    env = {**os.environ, "MUSICTEXT_HOME": str(tmp_path_factory.mktemp("indexed-home"))}
    return root, env, last_json(mt("index", str(root), "--json", env=env).stdout)


def test_index_then_search_every_format(indexed):
    library, env, report = indexed

    def mt(*args, **kwargs):
        return _mt(*args, env=env, **kwargs)

    assert report["indexed"] == 6 and report["failed"] == 0
    assert report["audio_seconds"] > 30 and report["wall_seconds"] > 0
    hits = json_lines(mt("search", "noise", "-n", "10", "--json").stdout)
    assert len(hits) == 6 and [h["rank"] for h in hits] == list(range(1, 7))
    assert all(Path(h["path"]).is_absolute() and Path(h["path"]).exists() for h in hits)
    # a ranking, not only an order: the percussive clicks answer "drums", the white noise "loud"
    drums = json_lines(mt("search", "drums", "-n", "6", "--json").stdout)
    assert Path(drums[0]["path"]).name == "clicks.wav" and drums[0]["score"] > drums[1]["score"] + 0.5
    loud = json_lines(mt("search", "loud", "-n", "6", "--json").stdout)
    assert Path(loud[0]["path"]).name == "noise.flac" and Path(loud[-1]["path"]).name != "noise.flac"
    assert {"artist", "title", "duration"} <= set(hits[0])
    paths = mt("search", "piano", "--paths", "-n", "3").stdout.split("\n")
    assert len([p for p in paths if p]) == 3
    # unchanged the second time
    again = last_json(mt("index", str(library), "--json").stdout)
    assert again["indexed"] == 0 and again["unchanged"] == 6


def test_search_explain_where_and_unknown_words(indexed):
    library, env, _ = indexed

    def mt(*args, **kwargs):
        return _mt(*args, env=env, **kwargs)

    out = json_lines(mt("search", "slow quiet", "--explain", "--json", "-n", "2").stdout)
    assert out[0]["why"] and {w["concept"] for w in out[0]["why"]} <= {"slow", "quiet"}
    filtered = json_lines(mt("search", "rock", "--where", "duration<5", "--json").stdout)
    assert filtered and all(h["duration"] < 5 for h in filtered)
    none = mt("search", "rock", "--where", "year>=3000", "--json")
    assert none.returncode == 0 and json_lines(none.stdout) == [] and "no track matches" in none.stderr
    junk = mt("search", "qwzxv blorft", "--json")
    assert "nothing in the model is close" in junk.stderr
    bad = mt("search", "rock", "--where", "colour=red", check=False)
    assert bad.returncode == 1 and "unknown field" in bad.stderr and "Traceback" not in bad.stderr
    # --explain says something for every result: a lexicon entry, a concept, the joint space, with signs
    sunny = json_lines(mt("search", "sunny beach day", "--explain", "--json", "-n", "6").stdout)
    assert len(sunny) == 6 and all(r["why"] for r in sunny)
    assert any(w["concept"].startswith("lexicon: sunny → happy +") for w in sunny[0]["why"])
    mixed = json_lines(mt("search", "noise - drums + zebra stripes", "--explain", "--json", "-n", "3").stdout)
    labels = {w["concept"] for r in mixed for w in r["why"]}
    assert "−drums" in labels and any(label.startswith("joint space: ") for label in labels)


def test_tag_needs_evidence_and_reports_terms_without_any(indexed, tmp_path):
    _, env, _ = indexed
    vocab = tmp_path / "v.txt"
    vocab.write_text("[instrument]\npiano\nvocals\nzebra crossing\n[era]\n1960s = 60s\n1980s = 80s\n")
    proc = _mt("tag", "--vocab", str(vocab), "--json", "--scores", env=env)
    assert "no evidence in the model for 'zebra crossing': never written" in proc.stderr
    rows = json_lines(proc.stdout)
    assert len(rows) == 6 and all("zebra crossing" not in r["scores"] for r in rows)
    for r in rows:
        tags = [t["tag"] for t in r["tags"]]
        assert "zebra crossing" not in tags and not {"1960s", "1980s"} <= set(tags)  # one decade at most
        assert all(t["score"] >= 0.5 for t in r["tags"])
    assert f"{sum(not r['tags'] for r in rows)} of 6 track(s) got no tag" in proc.stderr


def test_learned_concept_words_are_understood(library, musictext_home):
    """ "organ" names no tag: the shipped learned concept answers it, --explain names it, and the
    cached space is rebuilt when the learned concepts change."""
    import json

    mt("index", str(library))
    res = mt("search", "a church organ", "--explain", "--json", "-n", "3")
    assert "nothing in the model is close" not in res.stderr
    assert any(w["concept"] in ("organ", "church organ") for w in json_lines(res.stdout)[0]["why"])
    meta = next((musictext_home / "index").glob("*.space.json"))
    stale = json.loads(meta.read_text()) | {"concepts": "an older probes file"}
    meta.write_text(json.dumps(stale))
    again = json_lines(mt("search", "a church organ", "--json", "-n", "3").stdout)
    assert [h["path"] for h in again] == [h["path"] for h in json_lines(res.stdout)]
    assert json.loads(meta.read_text())["concepts"] != "an older probes file"


def test_similar_indexed_and_outside_file(indexed, tmp_path):
    library, env, _ = indexed

    def mt(*args, **kwargs):
        return _mt(*args, env=env, **kwargs)

    seed = library / "busy" / "clicks.wav"
    hits = json_lines(mt("similar", str(seed), "--json", "-n", "3").stdout)
    assert len(hits) == 3 and all(h["path"] != str(seed) for h in hits)
    outside = tmp_path / "outside.wav"
    sf.write(outside, tone(6, (440.0,), seed=2, clicks_per_s=6), SR)
    hits = json_lines(mt("similar", str(outside), "--json", "-n", "2").stdout)
    assert len(hits) == 2


def test_moved_renamed_deleted_and_copied(library):
    mt("index", str(library))
    (library / "calm" / "chord.flac").rename(library / "busy" / "renamed chord.flac")
    (library / "busy" / "noise.flac").unlink()
    shutil.copy(library / "calm" / "low hum.wav", library / "calm" / "low hum copy.wav")
    os.utime(library / "busy" / "clicks.wav")  # touched, same content: not analysed again
    report = last_json(mt("index", str(library), "--json").stdout)
    # the copy is indexed from the features it shares with its original, without decoding
    assert report["moved"] == 1 and report["removed"] == 1 and report["indexed"] == 1
    assert report["unchanged"] == 4 and report["audio_seconds"] == 0
    status = last_json(mt("status", "--json").stdout)
    assert status["tracks"] == 6


def test_bad_files_are_skipped_with_one_line_each(library):
    bad = library / "bad"
    bad.mkdir()
    (bad / "empty.mp3").write_bytes(b"")
    (bad / "text.flac").write_text("not audio at all\n" * 50)
    sf.write(bad / "short.wav", tone(0.2), SR)
    sf.write(bad / "silence.wav", np.zeros(SR * 5, np.float32), SR)
    shutil.copy(library / "busy" / "tone.mp3", bad / "mp3 named.wav")
    os.symlink(bad / "missing.mp3", bad / "dangling.mp3")
    proc = mt("index", str(library), "--json")
    report = last_json(proc.stdout)
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("skipping ")]
    assert report["failed"] == 5 and report["indexed"] == 7, proc.stderr
    assert len(skipped) == 5 and "Traceback" not in proc.stderr
    status = last_json(mt("status", "--json").stdout)
    assert {Path(e["path"]).name for e in status["errors"]} == {
        "empty.mp3",
        "text.flac",
        "short.wav",
        "silence.wav",
        "dangling.mp3",
    }
    # unchanged bad files are not retried, but still reported
    again = mt("index", str(library), "--json")
    assert last_json(again.stdout)["failed"] == 5 and "unchanged since the last run" in again.stderr


def test_empty_library_and_missing_path(tmp_path):
    proc = mt("search", "jazz", check=False)
    assert proc.returncode == 3 and "musictext index" in proc.stderr
    proc = mt("index", str(tmp_path / "nope"), check=False)
    assert proc.returncode == 3 and "no such file" in proc.stderr


def _many_tracks(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(root / f"t{i:03d}.wav", tone(6, (110.0 * (1 + i % 7) + i,), seed=i, clicks_per_s=i % 5), SR)


def test_kill_mid_index_then_resume(tmp_path):
    music = tmp_path / "many"
    _many_tracks(music, 40)
    proc = subprocess.Popen(
        [sys.executable, "-m", "musictext", "index", str(music), "--json", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    home = Path(os.environ["MUSICTEXT_HOME"])
    deadline = time.time() + 120
    import sqlite3

    def count() -> int:
        try:
            con = sqlite3.connect(home / "library.sqlite3", timeout=1)
            return con.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
        except sqlite3.Error:
            return 0

    while time.time() < deadline and count() < 16 and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = count()
    assert 0 < done < 40, "kill came too late or too early to test resuming"
    report = last_json(mt("index", str(music), "--json").stdout)
    assert report["unchanged"] == done and report["indexed"] == 40 - done
    assert last_json(mt("status", "--json").stdout)["tracks"] == 40


def test_concurrent_index_exits_with_message(library):
    from musictext.library.files import library_lock

    with library_lock():
        proc = mt("index", str(library), check=False)
    assert proc.returncode == 4 and "another musictext process" in proc.stderr


def test_full_mode_streams_whole_tracks_and_upgrades_sampled_ones(tmp_path):
    music = tmp_path / "full"
    music.mkdir()
    sf.write(music / "tune.flac", tone(12, (220.0, 330.0), clicks_per_s=2), SR)
    sf.write(music / "silence.wav", np.zeros(SR * 6, np.float32), SR)
    sampled = last_json(mt("index", str(music), "--json").stdout)
    assert sampled["indexed"] == 1 and sampled["failed"] == 1
    full = mt("index", str(music), "--full", "--json")
    report = last_json(full.stdout)
    assert report["indexed"] == 1  # analysed again, every 3 s this time
    assert "silent" in full.stderr
    again = last_json(mt("index", str(music), "--json").stdout)
    assert again["unchanged"] == 1  # a whole-track analysis satisfies the sampled mode too


def test_piped_explain_keeps_the_reasons(tmp_path, musictext_home):
    """`search --explain | less`: a path and its reasons per line, tab-separated (paths alone without it)."""
    from tests.conftest import make_library

    mt("index", str(make_library(tmp_path)), "-q")
    plain = mt("search", "calm piano", "-n", "3").stdout.splitlines()
    explained = mt("search", "calm piano", "-n", "3", "--explain").stdout.splitlines()
    assert len(plain) == len(explained) == 3 and all("\t" not in line for line in plain)
    assert [line.split("\t")[0] for line in explained] == plain
    assert all(line.split("\t")[1].strip() for line in explained)


class _Exited(Exception):
    def __init__(self, code: int):
        self.code = code


def test_read_only_commands_skip_the_teardown_and_keep_their_output(tmp_path, musictext_home, monkeypatch):
    """search/similar/status end with os._exit once their output is flushed (the interpreter's tear-down
    was a fifth of a cold search); index does not (its pools and exit hooks clean up); codes are kept."""
    import signal

    from musictext.cli import app

    lib = make_library(tmp_path)
    indexed = last_json(mt("index", str(lib), "--json", "-q").stdout)["indexed"]
    big = mt("search", "calm piano", "-n", "500", "--json")  # a pipe: nothing lost in a buffer
    rows = [json.loads(line) for line in big.stdout.splitlines()]  # one JSON object per result
    assert len(rows) == indexed > 1 and all(r["path"] for r in rows)
    empty = mt("search", "jazz", check=False, env={**os.environ, "MUSICTEXT_HOME": str(tmp_path / "none")})
    assert empty.returncode not in (0, 1) and empty.stderr.strip().count("\n") == 0, empty.stderr

    def fake_exit(code):
        raise _Exited(code)

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        monkeypatch.setattr(app.os, "_exit", fake_exit)
        monkeypatch.setattr(sys, "argv", ["musictext", "status", "--json"])
        with pytest.raises(_Exited) as fast:
            app.run()
        assert fast.value.code == 0
        monkeypatch.setattr(sys, "argv", ["musictext", "index", str(lib), "-q", "-j", "1"])
        with pytest.raises(SystemExit) as normal:
            app.run()
        assert normal.value.code == 0
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
