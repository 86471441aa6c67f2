"""Tag reading and safe tag writing on real (tiny) files of every supported format."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from musictext.errors import TagReadError, TagWriteError
from musictext.tags import files as tagfiles

AUDIO = Path(__file__).parent / "data" / "audio"
FIXTURES = [
    "tone.mp3",  # ID3v2.3
    "tone_v24.mp3",
    "tone.flac",
    "tone.ogg",
    "tone.opus",
    "tone.m4a",
    "tone.wav",  # no tags yet: an id3 chunk is added
    "tone.aiff",
]
NEW_TAGS = {"genre": ["Rock", "Pop"], "mood": ["happy"], "instrument": ["piano"]}
OLD_MTIME_NS = 1_500_000_000_123_456_789


# Generators for a missing fixture, so the tests still run while fixtures are being made.
_CODECS = {
    ".mp3": ("mp3", "libmp3lame", "s16p"),
    ".flac": ("flac", "flac", "s16"),
    ".opus": ("ogg", "libopus", "s16"),
    ".m4a": ("ipod", "aac", "fltp"),
    ".wav": ("wav", "pcm_s16le", "s16"),
    ".aiff": ("aiff", "pcm_s16be", "s16"),
}


def _generate(path: Path) -> None:
    import av

    if path.suffix == ".ogg":  # no Vorbis encoder in PyAV's ffmpeg; libsndfile has one
        import soundfile

        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100) / 22050)
        soundfile.write(path, tone, 22050, format="OGG", subtype="VORBIS")
        import mutagen

        audio = mutagen.File(path)
        audio.tags.update({"artist": "Test Artist", "title": "Test Tone", "album": "Fixtures", "genre": "Test"})
        audio.save()
        return

    fmt, codec, sample_fmt = _CODECS[path.suffix]
    rate = 48000 if codec == "libopus" else 22050
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate * 2) / rate)
    pcm = (tone * 32767).astype(np.int16) if sample_fmt.startswith("s16") else tone.astype(np.float32)
    options = {"id3v2_version": "3" if path.name == "tone.mp3" else "4"} if fmt == "mp3" else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        if path.suffix != ".wav":
            out.metadata.update({"artist": "Test Artist", "title": "Test Tone", "album": "Fixtures", "genre": "Test"})
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format=sample_fmt.rstrip("p"), layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


@pytest.fixture
def copy_fixture(tmp_path):
    def copy(name: str, folder: str = ".") -> Path:
        (tmp_path / folder).mkdir(exist_ok=True)
        dest = tmp_path / folder / name
        source = AUDIO / name
        if source.exists():
            shutil.copyfile(source, dest)
        else:
            _generate(dest)
        os.utime(dest, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
        return dest

    return copy


def decode(path: Path) -> np.ndarray:
    """Decoded PCM: soundfile where libsndfile reads the format, PyAV otherwise."""
    if path.suffix in (".wav", ".flac", ".ogg", ".aiff"):
        import soundfile

        data, _ = soundfile.read(path, dtype="float32", always_2d=True)
        return data
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    return np.concatenate(frames)


def mp3_audio_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    with open(path, "rb") as f:
        start = tagfiles._id3v2_size(f, 0)
    end = len(data) - 128 if data[-128:-125] == b"TAG" else len(data)
    return data[start:end]


def id3_tags(path: Path):
    import mutagen
    from mutagen.id3 import ID3, ID3NoHeaderError

    if path.suffix != ".mp3":
        return mutagen.File(path).tags
    try:
        return ID3(path)
    except ID3NoHeaderError:
        return None


def native_check(path: Path, id3_version: tuple | None) -> None:
    """Assert the real frames/keys/atoms used, read with mutagen directly."""
    if path.suffix in (".mp3", ".wav", ".aiff"):
        tags = id3_tags(path)
        assert tags.getall("TCON")[0].text == ["Rock", "Pop"]  # one frame, two values
        assert len(tags.getall("TCON")) == 1
        assert tags.getall("TMOO")[0].text == ["happy"]
        assert tags["TXXX:INSTRUMENT"].text == ["piano"]
        assert tags.version == (id3_version or (2, 4, 0))  # v2.3 stays v2.3; new tags are v2.4
    elif path.suffix in (".flac", ".ogg", ".opus"):
        import mutagen

        tags = mutagen.File(path).tags
        assert [v for k, v in tags if k == "GENRE"] == ["Rock", "Pop"]  # repeated key
        assert [v for k, v in tags if k == "MOOD"] == ["happy"]
        assert [v for k, v in tags if k == "INSTRUMENT"] == ["piano"]
    else:
        from mutagen.mp4 import MP4, AtomDataType

        tags = MP4(path).tags
        assert tags["\xa9gen"] == ["Rock", "Pop"]
        mood = tags["----:com.apple.iTunes:MOOD"]
        assert [bytes(v) for v in mood] == [b"happy"]
        assert mood[0].dataformat == AtomDataType.UTF8
        assert [bytes(v) for v in tags["----:com.apple.iTunes:INSTRUMENT"]] == [b"piano"]


@pytest.mark.parametrize("name", FIXTURES)
def test_write_uses_native_multivalue_tags_and_keeps_audio(copy_fixture, name):
    path = copy_fixture(name)
    pcm_before = decode(path)
    mp3_before = mp3_audio_bytes(path) if path.suffix == ".mp3" else None
    old_title = tagfiles.read_tags(path).get("title")
    old_id3 = id3_tags(path) if path.suffix in (".mp3", ".wav", ".aiff") else None

    change = tagfiles.write(path, NEW_TAGS, mode="replace")

    assert change.changed
    assert change.after == NEW_TAGS
    native_check(path, old_id3.version if old_id3 is not None else None)
    tags = tagfiles.read_tags(path)
    assert {k: tags[k] for k in NEW_TAGS} == NEW_TAGS
    assert tags.get("title") == old_title
    np.testing.assert_array_equal(decode(path), pcm_before)
    if mp3_before is not None:
        assert mp3_audio_bytes(path) == mp3_before
    assert os.stat(path).st_mtime_ns == OLD_MTIME_NS
    assert not list(path.parent.glob(".*musictext-tmp"))


def test_mp3_v23_multivalue_is_null_separated(copy_fixture):
    path = copy_fixture("tone.mp3")
    tagfiles.write(path, {"genre": ["Rock", "Pop"]}, mode="replace")
    raw = path.read_bytes()
    frame = raw[raw.index(b"TCON") :]
    # UTF-16 text "Rock" NUL "Pop": real multi-value, not "Rock/Pop".
    assert "Rock\0".encode("utf-16-le") + b"\xff\xfe" + "Pop".encode("utf-16-le") in frame[:64]


def test_keep_mtime_false_updates_mtime(copy_fixture):
    path = copy_fixture("tone.flac")
    tagfiles.write(path, {"mood": ["calm"]}, keep_mtime=False)
    assert os.stat(path).st_mtime_ns > time.time_ns() - 60 * 10**9


@pytest.mark.parametrize("name", ["tone.mp3", "tone.flac", "tone.m4a"])
def test_add_mode_skips_case_insensitive_duplicates(copy_fixture, name):
    path = copy_fixture(name)  # fixture genre: "Test"
    tagfiles.write(path, {"genre": ["Rock", "Pop"]})
    change = tagfiles.write(path, {"genre": ["rock", "POP", "test", "Jazz", "jazz"]})
    assert change.before == {"genre": ["Test", "Rock", "Pop"]}
    assert change.after == {"genre": ["Test", "Rock", "Pop", "Jazz"]}
    assert tagfiles.read_tags(path)["genre"] == ["Test", "Rock", "Pop", "Jazz"]
    again = tagfiles.write(path, {"genre": ["JAZZ"]})
    assert not again.changed


@pytest.mark.parametrize("name", ["tone_v24.mp3", "tone.ogg", "tone.m4a"])
def test_replace_mode_replaces_named_fields_only(copy_fixture, name):
    path = copy_fixture(name)
    tagfiles.write(path, {"genre": ["Rock"], "mood": ["sad"]})
    tagfiles.write(path, {"genre": ["Ambient"], "mood": []}, mode="replace")
    tags = tagfiles.read_tags(path)
    assert tags["genre"] == ["Ambient"]
    assert "mood" not in tags
    assert tags["artist"] == ["Test Artist"]


def test_field_map_names_the_custom_tag(copy_fixture):
    path = copy_fixture("tone.flac")
    tagfiles.write(path, {"instrument": ["cello"]}, field_map={"instrument": "INSTR"})
    import mutagen

    assert mutagen.File(path).tags["INSTR"] == ["cello"]
    assert tagfiles.read_tags(path, field_map={"instrument": "INSTR"})["instrument"] == ["cello"]


@pytest.mark.parametrize("name", FIXTURES)
def test_plan_write_does_not_touch_the_file(copy_fixture, name):
    path = copy_fixture(name)
    before = path.read_bytes()
    plan = tagfiles.plan_write(path, {"genre": ["Rock", "test"], "mood": ["happy"]}, "add")
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime_ns == OLD_MTIME_NS
    assert plan.changed
    assert "Rock" in plan.after["genre"]
    assert plan.after["genre"].count("test") + plan.after["genre"].count("Test") == 1
    assert plan.after["mood"] == ["happy"]
    assert not list(path.parent.glob(".*musictext-tmp"))


def test_write_a_plan_and_refuse_a_stale_plan(copy_fixture):
    path = copy_fixture("tone.opus")
    plan = tagfiles.plan_write(path, {"mood": ["dark"]}, "add")
    assert tagfiles.write(path, plan).after == {"mood": ["dark"]}
    stale = tagfiles.plan_write(path, {"mood": ["bright"]}, "add")
    tagfiles.write(path, {"mood": ["eerie"]})
    before = path.read_bytes()
    with pytest.raises(TagWriteError, match="changed since"):
        tagfiles.write(path, stale)
    assert path.read_bytes() == before


def test_unchanged_write_leaves_file_alone(copy_fixture):
    path = copy_fixture("tone.flac")
    before = path.read_bytes()
    ino = os.stat(path).st_ino
    assert not tagfiles.write(path, {"genre": ["TEST"]}).changed
    assert path.read_bytes() == before
    assert os.stat(path).st_ino == ino


@pytest.mark.parametrize("name", FIXTURES)
def test_snapshot_restore_is_byte_exact(copy_fixture, name):
    path = copy_fixture(name)
    original = path.read_bytes()
    snap = json.loads(json.dumps(tagfiles.snapshot(path)))
    tagfiles.write(path, NEW_TAGS, keep_mtime=False)
    # A big value moves Ogg audio pages (renumbered) and MP4/FLAC/ID3 padding.
    tagfiles.write(path, {"lyrics_note": ["x" * 20000]})
    assert path.read_bytes() != original
    tagfiles.restore(path, snap)
    assert path.read_bytes() == original
    assert os.stat(path).st_mtime_ns == OLD_MTIME_NS


def test_restore_refuses_other_audio(copy_fixture, tmp_path):
    path = copy_fixture("tone.mp3")
    snap = tagfiles.snapshot(path)
    other = copy_fixture("tone.mp3", "other")
    tagfiles.write(other, {"genre": ["Rock"]})  # different tags, and
    data = bytearray(other.read_bytes())
    data[-500] ^= 0xFF  # one audio byte differs: same length, caught by the hash
    other.write_bytes(bytes(data))
    before = other.read_bytes()
    with pytest.raises(TagWriteError, match="audio differs"):
        tagfiles.restore(other, snap)
    assert other.read_bytes() == before
    assert not list(tmp_path.rglob(".*musictext-tmp"))


def test_read_only_file_is_refused(copy_fixture):
    path = copy_fixture("tone.flac")
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(TagWriteError, match="read-only file"):
        tagfiles.write(path, NEW_TAGS)
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime_ns == OLD_MTIME_NS


def test_vanished_and_unsupported_files(tmp_path):
    with pytest.raises(TagWriteError, match="file vanished"):
        tagfiles.write(tmp_path / "gone.flac", NEW_TAGS)
    with pytest.raises(TagReadError, match="file vanished"):
        tagfiles.read_tags(tmp_path / "gone.flac")
    odd = tmp_path / "song.xyz"
    odd.write_bytes(b"data")
    with pytest.raises(TagWriteError, match=r"unsupported format: \.xyz"):
        tagfiles.write(odd, NEW_TAGS)
    with pytest.raises(TagReadError, match=r"unsupported format: \.xyz"):
        tagfiles.read_tags(odd)


def test_corrupt_file_raises_errors_with_path(tmp_path):
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"not a flac file at all" * 10)
    with pytest.raises(TagReadError) as info:
        tagfiles.read_tags(bad)
    assert info.value.path == str(bad)
    with pytest.raises(TagWriteError):
        tagfiles.write(bad, NEW_TAGS)
    assert bad.read_bytes() == b"not a flac file at all" * 10
    assert not list(tmp_path.glob(".*musictext-tmp"))


def test_symlink_is_written_through_and_mode_kept(copy_fixture, tmp_path):
    target = copy_fixture("tone.m4a")
    os.chmod(target, 0o640)
    link = tmp_path / "link.m4a"
    link.symlink_to(target)
    tagfiles.write(link, {"mood": ["warm"]})
    assert link.is_symlink()
    assert tagfiles.read_tags(target)["mood"] == ["warm"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


def test_read_only_fields_cannot_be_written(copy_fixture):
    path = copy_fixture("tone.flac")
    with pytest.raises(TagWriteError, match="year"):
        tagfiles.plan_write(path, {"year": ["1999"]}, "replace")


# --------------------------------------------------------------------------- crash safety

WRITER = """
import os, signal, sys
from musictext.tags import files as tagfiles
if sys.argv[2] == "kill-before-replace":
    os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
print("ready", flush=True)
sys.stdin.readline()
tagfiles.write(sys.argv[1], {"genre": ["Rock", "Pop"], "mood": ["tense"]})
print("done", flush=True)
"""


def _start_writer(path: Path, how: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_kill_right_before_replace_leaves_old_file_and_an_orphan(copy_fixture):
    path = copy_fixture("tone.flac")
    before = path.read_bytes()
    proc = _start_writer(path, "kill-before-replace")
    proc.communicate("go\n", timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    [orphan] = tagfiles.leftover_paths(path.parent, path.name)
    assert orphan.exists()  # the documented orphan: removed by the next write
    tagfiles.write(path, {"mood": ["tense"]})
    assert not orphan.exists()
    assert tagfiles.read_tags(path)["mood"] == ["tense"]


@pytest.fixture(scope="module")
def big_wav(tmp_path_factory):
    import soundfile

    path = tmp_path_factory.mktemp("big") / "big.wav"
    rate = 44100
    t = np.arange(rate * 240) / rate  # 4 minutes mono 16-bit, about 21 MB
    soundfile.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05, 0.1, 0.2])
def test_sigkill_mid_write_leaves_old_or_new_file(big_wav, tmp_path, delay):
    import soundfile

    path = tmp_path / "big.wav"
    shutil.copyfile(big_wav, path)
    old_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = _start_writer(path, "normal")
    proc.stdin.write("go\n")
    proc.stdin.flush()
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    if hashlib.sha256(path.read_bytes()).hexdigest() != old_hash:  # fully new
        assert tagfiles.read_tags(path)["genre"] == ["Rock", "Pop"]
    else:
        assert tagfiles.read_tags(path) == {}
    data, _ = soundfile.read(path, dtype="int16")
    original, _ = soundfile.read(big_wav, dtype="int16")
    np.testing.assert_array_equal(data, original)
    # Whatever was left behind is cleaned up by the next write.
    tagfiles.write(path, {"mood": ["calm"]})
    assert not list(tmp_path.glob(".*musictext-tmp"))


def test_hard_linked_file_is_refused(copy_fixture, tmp_path):
    path = copy_fixture("tone.ogg")
    os.link(path, tmp_path / "second-name.ogg")
    before = path.read_bytes()
    with pytest.raises(TagWriteError, match="hard links"):
        tagfiles.write(path, NEW_TAGS)
    assert path.read_bytes() == before
