"""Tags that other tools read: every format musictext writes, read back by beets' mediafile and ffprobe.

Files are made by ffmpeg (as most users' files are) or soundfile in a temporary folder, then tagged
through ``tagging.plan_and_write`` (the `tag --write` path) and undone through ``tagging.undo``.
What each tool is expected to see is measured with the real tools (ffmpeg 5.1 here):

- Vorbis comments (flac, ogg, opus): ffprobe joins repeated keys with ";", so it shows every value.
- ID3 (mp3, aiff, a WAV's ID3 chunk) and MP4: several values are several strings of one frame/atom,
  the form mediafile, TagLib (Navidrome) and ATL (Jellyfin) read as a list; ffprobe shows the first.
- A WAV with a LIST/INFO chunk: ffmpeg reads only the INFO chunk ("Discarding ID3 tags because more
  suitable tags were found"), so musictext keeps IGNR/ICMT there equal to the ID3 chunk.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from musictext.errors import TagWriteError
from musictext.tags import files as tagfiles
from musictext.tags import tagging
from tests.conftest import SR, tone
from tests.test_tag_safety import add_tracks, by_status, tag_run

mediafile = pytest.importorskip("mediafile")
if not (shutil.which("ffmpeg") and shutil.which("ffprobe")):
    pytest.skip("ffmpeg/ffprobe not installed (.ci/run installs them)", allow_module_level=True)

GENRES = ["Rock", "Jazz"]
MOODS = ["happy", "calm"]
TERMS = [("Rock", "genre"), ("Jazz", "genre"), ("happy", "mood"), ("calm", "mood"), ("piano", "instrument")]

# name -> ffmpeg output options (None: written by soundfile, so no LIST/INFO chunk)
MADE = {
    "track.mp3": ["-c:a", "libmp3lame", "-b:a", "32k"],
    "track.flac": ["-c:a", "flac"],
    "track.ogg": ["-c:a", "libvorbis"],
    "track.opus": ["-c:a", "libopus", "-b:a", "24k"],
    "track.m4a": ["-c:a", "aac", "-b:a", "32k"],
    "info.wav": ["-c:a", "pcm_s16le", "-metadata", "title=Sine"],  # ffmpeg writes LIST/INFO
    "plain.wav": None,
    "track.aiff": ["-c:a", "pcm_s16be"],
}
VORBIS = (".flac", ".ogg", ".opus")


class BeetsFile(mediafile.MediaFile):
    """mediafile with the custom field declared the way a beets plugin declares one."""

    instrument = mediafile.ListMediaField(
        mediafile.MP3ListDescStorageStyle("INSTRUMENT"),
        mediafile.MP4ListStorageStyle("----:com.apple.iTunes:INSTRUMENT"),
        mediafile.ListStorageStyle("INSTRUMENT"),
    )


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("made")
    for name, options in MADE.items():
        if options is None:
            import soundfile

            soundfile.write(folder / name, tone(1.0), SR, subtype="PCM_16")
        else:
            ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ac", "1", *options, str(folder / name))
    return folder


@pytest.fixture
def music(tmp_path, originals) -> Path:
    folder = tmp_path / "Music"
    shutil.copytree(originals, folder)
    return folder


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def ffprobe_tags(path: Path) -> dict[str, str]:
    """Container and stream tags as ffprobe prints them, keys lower-cased."""
    out = subprocess.run(
        ["ffprobe", "-v", "quiet", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(out.stdout)
    tags = {k.lower(): v for k, v in probe["format"].get("tags", {}).items()}
    for stream in probe["streams"]:
        tags.update({k.lower(): v for k, v in stream.get("tags", {}).items()})
    return tags


def audio_md5(path: Path) -> str:
    """The audio packets as ffmpeg demuxes them, tags left out: equal means the audio is untouched."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def split(value: str) -> list[str]:
    return [v.strip() for v in value.split(";")]


def standard_mood(path: Path) -> list[str]:
    """The mood in the tag every ecosystem names it with: TMOO, MOOD, ----:com.apple.iTunes:MOOD."""
    import mutagen
    from mutagen.id3 import ID3

    if path.suffix in (".mp3", ".wav", ".aiff"):
        tags = ID3(path) if path.suffix == ".mp3" else mutagen.File(path).tags
        return list(tags["TMOO"].text)
    audio = mutagen.File(path)
    if path.suffix == ".m4a":
        return [bytes(v).decode() for v in audio.tags["----:com.apple.iTunes:MOOD"]]
    return list(audio.tags["MOOD"])


def riff_chunks(path: Path) -> list[tuple[bytes, bytes]]:
    """A strict RIFF walk: every chunk whole, pad bytes where sizes are odd, sizes adding up."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks, pos = [], 12
    while pos < len(data):
        ident, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        assert pos + 8 + size <= len(data), f"chunk {ident!r} runs past the end"
        chunks.append((ident, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + size % 2
    assert pos == len(data)
    return chunks


def info_lists(path: Path) -> list[list[tuple[bytes, bytes]]]:
    """The entries of each LIST/INFO chunk, each entry whole and padded to an even length."""
    lists = []
    for body in [body for ident, body in riff_chunks(path) if ident == b"LIST" and body[:4] == b"INFO"]:
        entries, pos = [], 4
        while pos < len(body):
            key, size = body[pos : pos + 4], struct.unpack("<I", body[pos + 4 : pos + 8])[0]
            entries.append((key, body[pos + 8 : pos + 8 + size]))
            pos += 8 + size + size % 2
        assert pos == len(body)
        lists.append(entries)
    return lists


def info_entries(path: Path) -> list[tuple[bytes, bytes]]:
    (entries,) = info_lists(path)
    return entries


def data_chunk(path: Path) -> bytes:
    return next(body for ident, body in riff_chunks(path) if ident == b"data")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", list(MADE))
def test_round_trip_in_mediafile_and_ffprobe(music, name):
    path = music / name
    original, audio_before = digest(path), audio_md5(path)
    tracks = add_tracks(path)
    run_id, outcomes = tag_run(tracks, TERMS)
    assert [o.status for o in outcomes] == ["written"], outcomes

    beets = BeetsFile(str(path))
    assert beets.genres == GENRES
    assert beets.instrument == ["piano"]
    if "mood" in set(mediafile.MediaFile.fields()):  # not in mediafile 0.13-0.17: the standard tag instead
        assert beets.mood == MOODS[0]
    assert standard_mood(path) == MOODS

    seen = ffprobe_tags(path)
    if path.suffix in VORBIS or name == "info.wav":
        assert split(seen["genre"]) == GENRES  # every value: joined by ffprobe, or by musictext in INFO
    else:
        assert split(seen["genre"])[0] == GENRES[0]  # ID3/MP4 lists: ffprobe shows the first value
    if name == "info.wav":
        assert seen["title"] == "Sine"  # the other INFO entries are kept
    else:
        assert split(seen.get("mood", seen.get("tmoo", "")))[0] == MOODS[0]
        assert seen["instrument"] == "piano"

    assert audio_md5(path) == audio_before
    _, undone = tagging.undo(str(run_id))
    assert by_status(undone).keys() == {"restored"}
    assert digest(path) == original


def test_info_wav_keeps_the_genre_only_info_had(music):
    """An ffmpeg-made WAV whose only genre is the INFO one: adding a genre keeps it, in both chunks."""
    path = music / "blues.wav"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=duration=1", "-metadata", "genre=Blues", "-metadata", "comment=odd one",
        "-metadata", "title=Sine", str(path),
    )  # fmt: skip
    audio = data_chunk(path)
    assert tagfiles.read_tags(path)["genre"] == ["Blues"]
    change = tagfiles.plan_write(path, {"genre": ["Électro"]})
    assert change.before["genre"] == ["Blues"] and change.after["genre"] == ["Blues", "Électro"]
    snap = tagfiles.snapshot(path)
    original = path.read_bytes()

    tagfiles.write(path, change, undo=snap)
    assert mediafile.MediaFile(str(path)).genres == ["Blues", "Électro"]
    seen = ffprobe_tags(path)
    assert seen["genre"] == "Blues; Électro" and seen["comment"] == "odd one" and seen["title"] == "Sine"
    assert dict(info_entries(path))[b"IGNR"] == "Blues; Électro".encode() + b"\0"
    assert data_chunk(path) == audio

    tagfiles.write(path, {"genre": []}, "replace")  # the chunk shrinks: what follows moves back
    assert "genre" not in ffprobe_tags(path)
    assert b"IGNR" not in dict(info_entries(path)) and data_chunk(path) == audio
    assert "genre" not in tagfiles.read_tags(path)

    tagfiles.restore(path, snap)
    assert path.read_bytes() == original


def write_wav_with_info_after_data(path: Path, lists: list[list[tuple[bytes, bytes]]]) -> None:
    """A PCM WAV with LIST/INFO chunks after the audio, entries of odd lengths (pad bytes)."""
    import soundfile

    soundfile.write(path, tone(0.5), SR, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    for entries in lists:
        body = b"INFO" + b"".join(k + struct.pack("<I", len(v)) + v + b"\0" * (len(v) % 2) for k, v in entries)
        data += b"LIST" + struct.pack("<I", len(body)) + body
    data[4:8] = struct.pack("<I", len(data) - 8)
    path.write_bytes(bytes(data))


def test_info_after_the_audio_and_a_second_info_list(tmp_path):
    path = tmp_path / "late.wav"
    write_wav_with_info_after_data(path, [[(b"INAM", b"Late\0"), (b"ISFT", b"hand\0")], [(b"IGNR", b"Old\0")]])
    audio = data_chunk(path)
    assert ffprobe_tags(path)["genre"] == "Old"
    snap = tagfiles.snapshot(path)
    original = path.read_bytes()

    tagfiles.write(path, {"genre": ["Ska", "Dub"]}, "replace", undo=snap)
    assert ffprobe_tags(path)["genre"] == "Ska; Dub"  # a later list no longer overrides it
    assert info_lists(path) == [[(b"INAM", b"Late\0"), (b"ISFT", b"hand\0"), (b"IGNR", b"Ska; Dub\0")], []]
    assert data_chunk(path) == audio
    assert mediafile.MediaFile(str(path)).genres == ["Ska", "Dub"]

    tagfiles.restore(path, snap)
    assert path.read_bytes() == original


def test_a_damaged_info_chunk_is_not_written(tmp_path):
    path = tmp_path / "bad.wav"
    write_wav_with_info_after_data(path, [[(b"INAM", b"x\0")]])
    data = bytearray(path.read_bytes())
    at = data.rindex(b"INAM")
    data[at + 4 : at + 8] = struct.pack("<I", 99)  # the entry claims more than the chunk holds
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(TagWriteError, match="LIST/INFO"):
        tagfiles.write(path, {"genre": ["Rock"]})
    assert path.read_bytes() == before


def test_a_wav_without_info_gets_none(music):
    path = music / "plain.wav"
    tagfiles.write(path, {"genre": GENRES})
    assert [ident for ident, _ in riff_chunks(path)] == [b"fmt ", b"data", b"id3 "]
    assert split(ffprobe_tags(path)["genre"])[0] == "Rock"
