"""Copies and duplicates: byte-identical copies and symlinks count once in results; `duplicates`
finds the same recording across formats and bitrates, best copy first, and deletes nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from tests.test_cli_index_search import json_lines, mt


def encode(path, y: np.ndarray, sr: int, codec: str, fmt: str, bitrate: int | None = None) -> None:
    """Mono float audio -> a lossy file through PyAV (FFmpeg), as tests/make_audio.py does
    (FFmpeg's own Vorbis encoder wants two channels: the mono signal is written to both)."""
    import av

    layout = "stereo" if codec == "vorbis" else "mono"
    planes = np.stack([y, y]) if layout == "stereo" else y[None]
    with av.open(str(path), "w", format=fmt) as out:
        out.flags |= 0x0400  # AVFMT_FLAG_BITEXACT
        stream = out.add_stream(codec, rate=sr, layout=layout, options={"strict": "experimental"})
        if bitrate:
            stream.bit_rate = bitrate
        cc = stream.codec_context
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes, np.float32), format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = 0
        resampler = av.AudioResampler(format=cc.format.name, layout=layout, rate=sr, frame_size=cc.frame_size or 1024)
        for fr in list(resampler.resample(frame)) + list(resampler.resample(None)):
            for packet in stream.encode(fr):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _content(path: str) -> bytes:
    return Path(path).read_bytes()


def test_copies_and_symlinks_count_once(library):
    shutil.copy(library / "calm" / "tone.ogg", library / "calm" / "THEME.OGG")
    os.rename(library / "calm" / "tone.ogg", library / "calm" / "theme.ogg")
    shutil.copy(library / "busy" / "tone.mp3", library / "busy" / "a.mp3")
    shutil.copy(library / "busy" / "tone.mp3", library / "busy" / "a (copy).mp3")
    elsewhere = library.parent / "elsewhere"  # indexed on its own, so the link is a track of its own
    elsewhere.mkdir()
    os.symlink(library / "calm" / "low hum.wav", elsewhere / "hum link.wav")
    mt("index", str(library))
    mt("index", str(elsewhere))
    every = json_lines(mt("search", "quiet", "-n", "50", "--json", "--all-copies").stdout)
    assert len(every) == 10  # 6 tracks + 2 copies of tone.mp3, 1 of tone.ogg, 1 symlink
    hits = json_lines(mt("search", "quiet", "-n", "50", "--json").stdout)
    contents = [_content(h["path"]) for h in hits]
    assert len(hits) == 6 and len(set(contents)) == 6
    assert [h["rank"] for h in hits] == list(range(1, 7))
    # a group keeps the rank of its best-placed copy, and is shown as its original (the oldest file)
    order = []
    for h in every:
        if _content(h["path"]) not in order:
            order.append(_content(h["path"]))
    assert contents == order
    names = {Path(h["path"]).name for h in hits}
    assert {"tone.mp3", "theme.ogg"} <= names and not {"a.mp3", "a (copy).mp3", "THEME.OGG"} & names

    seed = str(library / "busy" / "a.mp3")
    like = json_lines(mt("similar", seed, "-n", "20", "--json").stdout)
    assert all(_content(h["path"]) != _content(seed) for h in like)
    assert len(like) == 5
    also = json_lines(mt("similar", seed, "-n", "20", "--json", "--all-copies").stdout)
    assert all(_content(h["path"]) != _content(seed) for h in also) and len(also) == 7  # both .ogg copies, the link too

    for link in (elsewhere / "hum link.wav", elsewhere / "another link.wav"):  # indexed, and not
        if not link.exists():
            os.symlink(library / "calm" / "low hum.wav", link)
        like = json_lines(mt("similar", str(link), "-n", "20", "--json", "--all-copies").stdout)
        assert all(os.path.realpath(h["path"]) != os.path.realpath(link) for h in like) and len(like) == 8

    # a file outside the library that is a byte-identical copy of a track: not its own neighbour
    outside = library.parent / "outside.mp3"
    shutil.copy(library / "busy" / "tone.mp3", outside)
    like = json_lines(mt("similar", str(outside), "-n", "20", "--json", "--all-copies").stdout)
    assert all(_content(h["path"]) != _content(str(outside)) for h in like) and len(like) == 7


def test_duplicates_groups_one_recording_across_formats_best_first(tmp_path):
    import soundfile as sf

    from tests.conftest import SR, tone

    music = tmp_path / "music"
    (music / "rips").mkdir(parents=True)
    (music / "downloads").mkdir()
    song = tone(12, (220.0, 277.2, 329.6), seed=1, clicks_per_s=2)
    sf.write(music / "rips" / "song.wav", song, SR)
    sf.write(music / "rips" / "song.flac", song, SR)
    encode(music / "downloads" / "song 128k.mp3", song, SR, "libmp3lame", "mp3", 128_000)
    encode(music / "downloads" / "song.ogg", song, SR, "vorbis", "ogg", 64_000)
    encode(music / "downloads" / "song 48k.mp3", song, SR, "libmp3lame", "mp3", 48_000)
    sf.write(music / "downloads" / "song remaster.flac", song * 0.7, SR)  # a master 3 dB quieter
    # unrelated tracks, one with the same notes in another rhythm, and the song cut 1.5 s shorter
    for i in range(6):
        y = tone(12, (196.0 + 23 * i, 294.0 + 31 * i), seed=10 + i, clicks_per_s=1 + i % 4, amp=0.25 + 0.02 * i)
        sf.write(music / f"other {i}.flac", y, SR)
    sf.write(music / "same notes.flac", tone(12, (220.0, 277.2, 329.6), seed=5, clicks_per_s=3), SR)
    sf.write(music / "shorter.flac", song[: 10 * SR + SR // 2], SR)
    before = {p: p.read_bytes() for p in music.rglob("*") if p.is_file()}
    mt("index", str(music))

    groups = json_lines(mt("duplicates", "--json").stdout)
    assert len(groups) == 1, groups
    copies = groups[0]["copies"]
    names = [Path(c["path"]).name for c in copies]
    assert set(names) == {"song.wav", "song.flac", "song remaster.flac", "song 128k.mp3", "song.ogg", "song 48k.mp3"}
    assert [c["lossless"] for c in copies] == [True, True, True, False, False, False] and copies[0]["best"]
    assert names[3:] == ["song 128k.mp3", "song.ogg", "song 48k.mp3"]  # higher bitrate first
    assert 0.0 < groups[0]["confidence"] < 1.0 and all(c["similarity"] >= 0.98 for c in copies)

    listed = mt("duplicates", "--paths").stdout.splitlines()
    assert listed == [c["path"] for c in copies]
    text = mt("duplicates")
    assert "best" in text.stdout and "nothing was changed" in text.stderr
    assert {p: p.read_bytes() for p in music.rglob("*") if p.is_file()} == before  # nothing deleted or touched


def test_duplicates_on_an_empty_library():
    proc = mt("duplicates", "--json")
    assert proc.returncode == 0 and proc.stdout == ""
