"""What reaches the terminal cannot be abused: file names and tag values with terminal escape
sequences or Rich markup are shown as text, playlist files keep one entry per track, and paths
with line breaks have a NUL-separated listing."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import soundfile as sf

from tests.conftest import SR, tone
from tests.test_cli_index_search import ROOT, json_lines, mt

EVIL_TITLE = "\x1b]0;pwned\x07[bold red]RED[/] \x1b[2J[link=http://127.0.0.1/]click[/link] \x9b31m"
EVIL_ARTIST = "[blink]Band[/blink]"
NEWLINE_NAME = "two\nlines.wav"
HASH_NAME = "#hash.wav"
BAD_NAME = "bad\x1b[2J[bold]X.wav"  # no closing tag: "/" would make a folder


class Indexed:
    def __init__(self, root: Path, env: dict, index_stderr: str):
        self.root = root
        self.env = env
        self.index_stderr = index_stderr

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return mt(*args, check=check, env=self.env)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Indexed:
    """A small library, indexed once: a tagged FLAC with a hostile title, a name with a line break,
    a name starting with '#', a plain track and a broken file with escapes in its name."""
    from mutagen.flac import FLAC

    root = tmp_path_factory.mktemp("lib") / "Music"
    root.mkdir()
    evil = root / "evil.flac"
    sf.write(evil, tone(6, (220.0, 330.0)), SR)
    f = FLAC(str(evil))
    f["title"] = [EVIL_TITLE]
    f["artist"] = [EVIL_ARTIST]
    f.save()
    sf.write(root / NEWLINE_NAME, tone(6, (110.0,), seed=1), SR)
    sf.write(root / HASH_NAME, tone(6, (440.0,), seed=2, clicks_per_s=4), SR)
    sf.write(root / "plain.wav", tone(6, (261.6, 392.0), seed=3), SR)
    (root / BAD_NAME).write_bytes(b"RIFF not really audio")
    env = {**os.environ, "MUSICTEXT_HOME": str(tmp_path_factory.mktemp("home")), "COLUMNS": "250"}
    proc = mt("index", str(root), "--json", check=False, env=env)
    report = json_lines(proc.stdout)[-1]
    assert report["indexed"] == 4, proc.stderr
    return Indexed(root, env, proc.stderr)


def _on_a_terminal(env: dict, *args: str) -> tuple[str, str]:
    """Run the CLI with stdout on a wide pseudo-terminal (so tables are drawn), and drop Rich's own
    styling (SGR sequences): any other escape byte in what is left came from the data."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "musictext", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "250"},
        cwd=ROOT,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    stderr = proc.stderr.read().decode("utf-8", "replace")
    assert proc.wait() == 0, stderr
    shown = b"".join(chunks).decode("utf-8", "replace")
    return re.sub("\x1b\\[[0-9;]*m", "", shown), stderr


def _no_control(text: str) -> None:
    bad = sorted({hex(ord(c)) for c in text if (ord(c) < 0x20 and c not in "\n\r\t") or 0x7F <= ord(c) <= 0x9F})
    assert not bad, f"control characters reached the terminal: {bad}"


def test_search_table_shows_hostile_tags_as_text(indexed):
    shown, _ = _on_a_terminal(indexed.env, "search", "[bold]calm[/bold]", "-n", "10")
    _no_control(shown)
    assert "\\x1b]0;pwned\\x07" in shown and "\\x1b[2J" in shown and "\\x9b31m" in shown
    assert "[bold red]RED[/]" in shown and "[link=http://127.0.0.1/]click[/link]" in shown
    assert EVIL_ARTIST in shown
    assert "[bold]calm[/bold]" in shown  # the query, as the table's title
    assert "two\\nlines.wav" in shown  # the path column: one row, not two lines


def test_playlist_table_shows_hostile_tags_as_text(indexed):
    shown, _ = _on_a_terminal(indexed.env, "playlist", "calm", "-n", "10")
    _no_control(shown)
    assert "[bold red]RED[/]" in shown and "\\x1b]0;pwned\\x07" in shown and EVIL_ARTIST in shown


def test_json_keeps_the_exact_text_and_no_terminal_control(indexed):
    proc = indexed.run("search", "calm", "-n", "10", "--json")
    _no_control(proc.stdout)
    titles = {json.loads(line)["title"] for line in proc.stdout.splitlines()}
    assert EVIL_TITLE in titles  # escaped in JSON, the same string once parsed


def test_skip_lines_are_escaped(indexed):
    stderr = indexed.index_stderr
    line = next(line for line in stderr.splitlines() if line.startswith("skipping"))
    _no_control(line)
    assert "bad\\x1b[2J[bold]X.wav" in line


def test_paths_skips_a_line_break_and_paths0_lists_it(indexed):
    proc = indexed.run("search", "calm", "-n", "10", "--paths")
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all(Path(p).exists() for p in lines)  # never "…/two" and "lines.wav"
    assert "skipping" in proc.stderr and "two\\nlines.wav" in proc.stderr
    newline_path = str(indexed.root / NEWLINE_NAME)
    for args in (
        ("search", "calm", "-n", "10"),
        ("similar", str(indexed.root / "plain.wav"), "-n", "10"),
        ("playlist", "calm", "-n", "10"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "musictext", *args, "--paths0"], capture_output=True, env=indexed.env, cwd=ROOT
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.endswith(b"\0")
        listed = out.stdout[:-1].split(b"\0")
        assert os.fsencode(newline_path) in listed, args
        assert all(os.path.exists(os.fsdecode(p)) for p in listed)


def test_m3u8_keeps_one_entry_per_track(indexed):
    dest = indexed.root / "list.m3u8"
    proc = indexed.run("playlist", "calm", "-n", "10", "-o", str(dest), "--force")
    lines = dest.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    entries = [line for line in lines[:-1] if not line.startswith("#")]
    extinf = [line for line in lines if line.startswith("#EXTINF:")]
    assert len(entries) == len(extinf) == 3  # the newline name is left out, not split in two
    assert any("[bold red]RED[/]" in line for line in extinf)
    _no_control("".join(extinf))  # tag text in the file: no escape sequences either
    assert f".{os.sep}{HASH_NAME}" in entries  # not a comment line
    for entry in entries:
        assert (dest.parent / entry).exists(), entry
    skip = [line for line in proc.stderr.splitlines() if line.startswith("skipping")]
    assert len(skip) == 1 and "two\\nlines.wav" in skip[0] and "line break" in skip[0]
    # Read back as an --exclude list, the '#' entry is a track, not a comment.
    from musictext.playlists import read_m3u

    assert str(indexed.root / HASH_NAME) in read_m3u(dest)


def test_project_text_keeps_its_brackets(tmp_path):
    help_text = mt("tag", "--help", env={**os.environ, "COLUMNS": "250"}).stdout
    assert "Field for terms outside any [section]." in help_text
    assert "`--undo [RUN]`" in help_text
    # No ONNX runtime: the install hint keeps its extras, in check lines and in the error line.
    blocker = tmp_path / "block" / "onnxruntime"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    verify = mt("models", "verify", check=False, env=env)
    assert verify.returncode != 0
    assert 'pip install "musictext[cpu]" (or "musictext[gpu]"' in verify.stderr
    music = tmp_path / "music"
    music.mkdir()
    sf.write(music / "a.wav", tone(4), SR)
    index = mt("index", str(music), check=False, env=env)
    assert index.returncode != 0 and '"musictext[cpu]"' in index.stderr


def test_models_list_columns_stay_aligned(musictext_home):
    name = "my-own-model-trained-on-the-whole-record-collection"
    bundle = musictext_home / "models" / name
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text(
        json.dumps({"name": name, "version": "2", "kind": "trained", "base": "musicnn-minilm@1.0", "files": {}})
    )
    lines = mt("models", "list").stdout.splitlines()
    assert len(lines) >= 2 and any(name in line for line in lines)
    kinds = [line.index("built-in") if "built-in" in line else line.index("trained from") for line in lines]
    assert len(set(kinds)) == 1, lines
    paths = [line.index(os.sep) for line in lines]
    assert len(set(paths)) == 1, lines
