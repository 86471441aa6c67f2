import os
from pathlib import Path

from musictext.library.scan import ScanProblem, TrackFile, scan


def touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_extensions_case_insensitive_hidden_and_excluded(tmp_path):
    touch(tmp_path / "a.MP3")
    touch(tmp_path / "b.Flac")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".hidden.mp3")
    touch(tmp_path / ".cache" / "c.mp3")
    touch(tmp_path / "Podcasts" / "d.mp3")
    found = [r for r in scan([tmp_path], ["Podcasts/*"]) if isinstance(r, TrackFile)]
    assert sorted(Path(f.path).name for f in found) == ["a.MP3", "b.Flac"]


def test_symlink_loops_dangling_and_duplicates(tmp_path):
    real = touch(tmp_path / "music" / "song.wav")
    os.symlink(tmp_path / "music", tmp_path / "music" / "loop")  # folder link to itself
    os.symlink(tmp_path / "music" / "b.mp3", tmp_path / "music" / "a.mp3")
    os.symlink(tmp_path / "music" / "a.mp3", tmp_path / "music" / "b.mp3")
    os.symlink(tmp_path / "nowhere.flac", tmp_path / "music" / "dangling.flac")
    os.symlink(real, tmp_path / "music" / "alias.wav")
    results = list(scan([tmp_path / "music"]))
    files = [r for r in results if isinstance(r, TrackFile)]
    problems = {Path(r.path).name: r.reason for r in results if isinstance(r, ScanProblem)}
    assert len(files) == 1  # song.wav once, though reachable by three names
    assert problems == {"a.mp3": "symlink loop", "b.mp3": "symlink loop", "dangling.flac": "dangling symlink"}


def test_file_roots_and_missing_roots(tmp_path):
    f = touch(tmp_path / "x.opus")
    results = list(scan([f, tmp_path / "missing"]))
    assert isinstance(results[0], TrackFile) and results[0].path == str(f)
    assert isinstance(results[1], ScanProblem)


def test_unicode_names(tmp_path):
    touch(tmp_path / "Tëst clip – ünïcødé 日本語 🎵.wav")
    found = [r for r in scan([tmp_path]) if isinstance(r, TrackFile)]
    assert len(found) == 1 and "日本語" in found[0].path
