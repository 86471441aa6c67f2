"""Crashes, hangs, exit codes and indexing robustness: odd files, signals, broken data folders."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import AUDIO, SR, tone
from tests.test_cli_index_search import ROOT, last_json, mt


def _one_line_error(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("musictext: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture
def small(tmp_path) -> Path:
    root = tmp_path / "small"
    root.mkdir()
    sf.write(root / "a.wav", tone(6, (220.0,)), SR)
    shutil.copy(AUDIO / "tone.ogg", root / "b.ogg")
    return root


# Odd files -------------------------------------------------------------------------------------


def test_non_utf8_file_name_is_skipped_with_a_reason_on_every_run(small):
    bad = os.path.join(os.fsencode(small), b"\xff.wav")
    shutil.copy(small / "a.wav", bad)
    for _ in range(2):
        proc = mt("index", str(small), "--json", check=False)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert last_json(proc.stdout)["failed"] == 1
        assert "not valid UTF-8" in proc.stderr
    status = mt("status", "--json")
    assert any("\\xff" in e["path"] for e in last_json(status.stdout)["errors"])
    proc = mt("similar", os.fsdecode(bad), "--json", check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr


def test_fifo_with_an_audio_name_does_not_hang_index(small):
    os.mkfifo(small / "x.mp3")
    proc = subprocess.run(
        [sys.executable, "-m", "musictext", "index", str(small), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert last_json(proc.stdout)["failed"] == 1
    assert "only regular files are analysed; this is a FIFO" in proc.stderr


def test_user_text_files_must_be_regular_and_small(tmp_path):
    from musictext.errors import MusictextError, read_user_text

    with pytest.raises(MusictextError, match="not a regular file"):
        read_user_text("/dev/zero", "vocabulary")
    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(MusictextError, match="not a regular file"):
        read_user_text(tmp_path / "fifo.txt", "vocabulary")  # opening it must not wait for a writer
    big = tmp_path / "big.txt"
    big.write_text("jazz\n" * 1000)
    with pytest.raises(MusictextError, match="too large"):
        read_user_text(big, "vocabulary", max_bytes=1000)
    assert read_user_text(big, "vocabulary").startswith("jazz\n")


def test_tag_vocab_dev_zero_is_one_line_error():
    proc = mt("tag", "--vocab", "/dev/zero", check=False)
    assert "not a regular file" in _one_line_error(proc)


def test_exclude_patterns_match_top_level_folders_and_absolute_paths(tmp_path):
    from musictext.library.scan import scan

    root = tmp_path / "lib"
    for rel in ("Podcasts/ep1.mp3", "Music/Podcasts/ep2.mp3", "Music/song.mp3", "Live/x.mp3"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")

    def names(excludes):
        return sorted(os.path.relpath(t.path, root) for t in scan([root], excludes))

    assert names(["*/Podcasts/*"]) == ["Live/x.mp3", "Music/song.mp3"]
    assert names(["Podcasts/"]) == ["Live/x.mp3", "Music/song.mp3"]
    assert names([str(root / "Live") + "/*"]) == ["Music/Podcasts/ep2.mp3", "Music/song.mp3", "Podcasts/ep1.mp3"]
    assert names(["*.mp3"]) == []
    # a relative glob never matches the folders above the root
    assert len(names([f"*{tmp_path.name}*"])) == 4


# Signals ---------------------------------------------------------------------------------------


def _many(root: Path, n: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(root / f"t{i:03d}.wav", tone(6, (110.0 * (1 + i % 7) + i,), seed=i), SR)


def _tracks(home: Path) -> int:
    try:
        con = sqlite3.connect(home / "library.sqlite3", timeout=1)
        return con.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
    except sqlite3.Error:
        return 0


def _children(pid: int) -> list[int]:
    """Every descendant (workers are children of multiprocessing's fork server, not of the run)."""
    try:
        kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]


def _start_index(music: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "musictext", "index", str(music), "-q", "-j", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )


# Enough files that the run is still analysing when the first batch is committed: workers take
# seconds to load the model, then analyse these short files in a few milliseconds each, so with 30
# files a signal sent after the first commit could land after the run had finished (seen in CI).
MANY = 160


def _wait_for_workers(proc: subprocess.Popen, home: Path, total: int = MANY) -> list[int]:
    """The run's workers, once it has committed tracks and is still analysing more."""
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        kids = _children(proc.pid)
        done = _tracks(home)
        if done >= total:
            raise AssertionError(f"the run finished ({done} tracks) before it could be interrupted")
        if len(kids) >= 2 and done >= 1:
            return kids
        time.sleep(0.02)
    raise AssertionError("index never started its workers")


def test_ctrl_c_in_index_exits_130_with_one_line(tmp_path, musictext_home):
    music = tmp_path / "many"
    _many(music, MANY)
    proc = _start_index(music)
    _wait_for_workers(proc, musictext_home)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    out, errtext = proc.communicate(timeout=60)
    assert proc.returncode == 130, errtext
    assert errtext.strip().splitlines() == ["musictext: interrupted"], errtext


def test_sigkill_of_index_leaves_no_worker_and_no_lock(tmp_path, musictext_home):
    music = tmp_path / "many"
    _many(music, MANY)
    proc = _start_index(music)
    workers = _wait_for_workers(proc, musictext_home)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = mt("index", str(music), "--json", "-q", check=False)  # at once: not refused as busy
    assert rerun.returncode == 0 and "another musictext process" not in rerun.stderr, rerun.stderr
    assert last_json(rerun.stdout)["unchanged"] + last_json(rerun.stdout)["indexed"] == MANY
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "zombie" not in _state(w)]
    assert not alive, f"workers outlived their parent: {alive}"
    _, errtext = proc.communicate()
    assert "Traceback" not in errtext, errtext


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0].lower()
    except (OSError, IndexError):
        return "zombie"


def test_sigterm_of_index_is_quiet(tmp_path, musictext_home):
    music = tmp_path / "many"
    _many(music, MANY)
    proc = _start_index(music)
    _wait_for_workers(proc, musictext_home)
    os.killpg(proc.pid, signal.SIGTERM)
    _, errtext = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in errtext and "BrokenPipe" not in errtext, errtext


# A broken data folder --------------------------------------------------------------------------


def test_damaged_database_is_one_line_for_every_command(small, musictext_home):
    (musictext_home / "library.sqlite3").write_bytes(os.urandom(8192))
    for args in (("status",), ("search", "jazz"), ("index", str(small)), ("similar", str(small / "a.wav"))):
        line = _one_line_error(mt(*args, check=False))
        assert "library database" in line, args


def test_read_only_data_folder_still_searches(small, musictext_home):
    mt("index", str(small), "-q")
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare for a read-only mount")
    script = (
        'mount --bind "$MUSICTEXT_HOME" "$MUSICTEXT_HOME" && mount -o remount,bind,ro "$MUSICTEXT_HOME"'
        ' || exit 77; "$0" -m musictext "$@"'
    )
    for args in (("search", "jazz", "--json"), ("status", "--json")):
        proc = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script, sys.executable, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if proc.returncode == 77:
            pytest.skip("read-only bind mounts are not allowed here")
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stdout.strip()


def test_disk_full_during_index_is_one_line(small, monkeypatch, capsys):
    from musictext.cli import app
    from musictext.library.store import Store

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "put_vector", full)
    monkeypatch.setattr(sys, "argv", ["musictext", "index", str(small), "-q", "-j", "1"])
    with pytest.raises(SystemExit) as exc:
        app.main()
    assert exc.value.code == 1
    errtext = capsys.readouterr().err
    assert "Traceback" not in errtext and "database or disk is full" in errtext
    assert len([line for line in errtext.splitlines() if line.startswith("musictext: error:")]) == 1


def test_no_space_left_while_saving_the_index_is_one_line(small, monkeypatch, capsys):
    import errno

    from musictext.cli import app
    from musictext.library import index

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(index, "refresh_derived", full)
    monkeypatch.setattr(sys, "argv", ["musictext", "index", str(small), "-q", "-j", "1"])
    with pytest.raises(SystemExit) as exc:
        app.main()
    assert exc.value.code == 1
    assert "No space left on device" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_odd_lock_file_is_one_line(small, musictext_home, kind):
    lock = musictext_home / "index.lock"
    if kind == "folder":
        lock.mkdir()
    else:
        lock.symlink_to(musictext_home / "nowhere" / "lock")
    assert "lock file" in _one_line_error(mt("index", str(small), check=False))


def test_musictext_home_that_is_a_file_or_cannot_be_made(small, tmp_path):
    as_file = tmp_path / "home-file"
    as_file.write_text("not a folder")
    env = {**os.environ, "MUSICTEXT_HOME": str(as_file)}
    assert "not a folder" in _one_line_error(mt("index", str(small), check=False, env=env))
    assert mt("status", check=False, env=env).returncode == 0
    assert mt("search", "jazz", check=False, env=env).returncode == 3  # empty library, not a crash
    under_file = as_file / "sub"
    env = {**os.environ, "MUSICTEXT_HOME": str(under_file)}
    assert "cannot create the data folder" in _one_line_error(mt("index", str(small), check=False, env=env))
    missing = tmp_path / "not-yet"
    env = {**os.environ, "MUSICTEXT_HOME": str(missing)}
    assert mt("status", env=env).returncode == 0
    assert mt("search", "jazz", check=False, env=env).returncode == 3
    assert not missing.exists()  # read-only commands do not create the data folder


def test_unreadable_manifest_skips_that_bundle_with_a_warning(musictext_home):
    broken = musictext_home / "models" / "broken"
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{ not json")
    proc = mt("models", "list", check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "skipping model bundle" in proc.stderr and "musicnn-minilm" in proc.stdout
    proc = mt("status", check=False)
    assert proc.returncode == 0 and "skipping model bundle" in proc.stderr


# Usage errors ----------------------------------------------------------------------------------


def test_usage_errors_exit_2(small):
    assert mt("index", str(small), "--device", "tpu", check=False).returncode == 2
    assert mt("search", "", check=False).returncode == 2
    assert mt("search", "   ", check=False).returncode == 2
    a = str(small / "a.wav")
    assert mt("playlist", "--from", a, "--to", a, check=False).returncode == 2


def test_query_starting_with_a_minus(small):
    mt("index", str(small), "-q")
    for args in (
        ("search", "- vocals", "--json"),
        ("search", "--json", "--", "-vocals"),
        ("search", "- vocals"),
        ("playlist", "- vocals", "-n", "2"),
        ("playlist", "-n", "2", "--", "-vocals"),
    ):
        proc = mt(*args, check=False)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stdout.strip()
    glued = mt("playlist", "-vocals", check=False)  # "-v..." is an option to Click: say how to pass it
    assert glued.returncode == 2 and "go after '--'" in glued.stderr and "Traceback" not in glued.stderr


def test_eval_json_has_no_nan(tmp_path, small):
    pairs = tmp_path / "pairs.jsonl"
    rows = [{"audio": str(small / name), "text": "a calm hum", "tags": ["calm"]} for name in ("a.wav", "b.ogg")]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))  # every file has the tag: no ROC-AUC
    mt("index", str(small), "-q")
    proc = mt("eval", "--pairs", str(pairs), "--json", "--tags", check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [
        json.loads(line, parse_constant=lambda c: pytest.fail(f"invalid JSON {c}")) for line in proc.stdout.splitlines()
    ]
    assert rows and rows[0]["macro_roc_auc"] is None


# Index accounting and speed --------------------------------------------------------------------


def test_device_line_only_when_asked(small, tmp_path):
    assert "device:" not in mt("index", str(small), "-j", "1").stderr
    assert "device:" in mt("index", str(small), "-v", "-j", "1").stderr
    proc = mt("index", str(tmp_path / "nope"), "--device", "cpu", check=False)
    assert proc.returncode == 3 and "device:" not in proc.stderr


def test_known_failures_are_summarised_in_one_line(small):
    for i in range(12):
        (small / f"bad{i:02d}.mp3").write_text("not audio\n" * 20)
    first = mt("index", str(small), "--json")
    assert last_json(first.stdout)["failed"] == 12
    again = mt("index", str(small), "--json")
    report = last_json(again.stdout)
    assert report["failed"] == 12 and report["failed_before"] == 12
    assert not [line for line in again.stderr.splitlines() if line.startswith("skipping ")], again.stderr
    summary = [line for line in again.stderr.splitlines() if "failed before" in line]
    assert len(summary) == 1 and summary[0].startswith("12 file(s)")


def test_file_that_fails_its_rehash_is_not_counted_as_indexed(small, monkeypatch):
    from musictext.library import index

    calls: dict[str, int] = {}
    real = index.content_hash

    def flaky(path: str, size: int) -> str:
        calls[path] = calls.get(path, 0) + 1
        if path.endswith("a.wav") and calls[path] == 2:  # gone between analysis and storing
            raise OSError(2, "No such file or directory")
        return real(path, size)

    monkeypatch.setattr(index, "content_hash", flaky)
    report = index.index_library([small], jobs=1)
    assert (report.indexed, report.failed) == (1, 1)
    from musictext.config import db_path
    from musictext.library.store import Store

    with Store(db_path(), readonly=True) as store:
        assert store.count_tracks() == 1
        assert [Path(p).name for p, _ in store.errors()] == ["a.wav"]


def _sparse_silent_wav(path: Path, seconds: int) -> None:
    frames = seconds * 16000
    data = frames * 2
    header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    header += b"data" + struct.pack("<I", data)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + data)


def test_long_silent_file_is_called_silent_without_decoding_all_of_it(tmp_path, monkeypatch):
    from musictext.audio import decode
    from musictext.audio.tower import AudioTower, analyse
    from musictext.errors import DecodeError
    from musictext.model.bundle import get_bundle

    path = tmp_path / "silence.wav"
    _sparse_silent_wav(path, 3 * 3600)  # 3 hours, 345 MB of zeros that take no disk

    def no_whole(*args, **kwargs):
        raise AssertionError("decoded the whole silent file")

    monkeypatch.setattr(decode, "_whole", no_whole)
    monkeypatch.setattr(decode, "iter_patches", no_whole)
    with pytest.raises(DecodeError, match="silent"):
        analyse(path, AudioTower(get_bundle()), 8)
    assert stat.S_ISREG(path.stat().st_mode)


def test_pauses_before_music_are_not_silent(tmp_path):
    """The bounded re-check still finds music that the first sampled windows missed."""
    from musictext.audio.tower import AudioTower, analyse
    from musictext.model.bundle import get_bundle

    y = np.zeros(SR * 240, np.float32)
    y[SR * 50 : SR * 53] = tone(3, (330.0,))  # 3 s of music in 4 minutes of silence, between 8 windows
    sf.write(tmp_path / "pauses.wav", y, SR)
    feats = analyse(tmp_path / "pauses.wav", AudioTower(get_bundle()), 8)
    assert feats.duration > 200


def test_scoring_a_vocabulary_reports_progress(small, capsys):
    from musictext.cli.tag import TermProgress
    from musictext.library.index import index_library
    from musictext.tags import tagging

    index_library([small], jobs=1)
    terms = tagging.load_vocab("moods")
    calls = []
    tagging.score_vocab(terms, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i + 1, len(terms)) for i in range(len(terms))]

    now = [0.0]
    progress = TermProgress()
    progress.clock, progress.started, progress.last_line = (lambda: now[0]), 0.0, 0.0
    for done in range(1, 101):
        now[0] = done * 0.5  # 50 s for 100 terms: a line every 10 s, and one at the end
        progress(done, 100)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("scoring terms: 20/100") and lines[-1].startswith("scoring terms: 100/100")
    assert len(lines) == 5
