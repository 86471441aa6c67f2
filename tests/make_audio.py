"""Generate the tiny committed audio fixtures in ``tests/data/audio/``.

Run once (``python tests/make_audio.py``); the output is committed so tests do not need encoders.
The signal is deterministic: four harmonic notes (C4 E4 G4 C5, 0.5 s each, 2.0 s in all) with a
short fade on every note. Every file holds the same music in a different container/codec, at a
low rate and bitrate so that the whole folder stays small (well under 300 KB).

| file            | codec            | rate  | ch | written by          | tags            |
|-----------------|------------------|-------|----|---------------------|-----------------|
| tone.mp3        | MP3 (LAME) 32k   | 22050 | 2  | PyAV                | ID3v2.3         |
| tone_v24.mp3    | MP3 (LAME) 24k   | 22050 | 1  | PyAV                | ID3v2.4         |
| tone.flac       | FLAC 16-bit      | 22050 | 1  | soundfile           | Vorbis comments |
| tone.ogg        | Vorbis 32k       | 22050 | 2  | PyAV (ffmpeg)       | Vorbis comments |
| tone.opus       | Opus 24k         | 48000 | 1  | PyAV (libopus)      | Vorbis comments |
| tone.m4a        | AAC-LC 32k       | 22050 | 2  | PyAV                | MP4 atoms       |
| tone_alac.m4a   | ALAC 16-bit      | 8000  | 1  | PyAV                | MP4 atoms       |
| tone.wav        | PCM int16        | 8000  | 1  | soundfile           | none            |
| tone_float.wav  | PCM float32      | 6000  | 1  | by hand (struct)    | none            |
| tone.aiff       | PCM int16        | 8000  | 1  | soundfile           | ID3 chunk       |

Tags (where set): artist "Test Artist", title "Test Tone", album "Fixtures", genre "Test",
date "2024".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "data" / "audio"
DURATION = 2.0
NOTES_HZ = (261.63, 329.63, 392.00, 523.25)  # C4 E4 G4 C5
TAGS = {"artist": "Test Artist", "title": "Test Tone", "album": "Fixtures", "genre": "Test", "date": "2024"}


def signal(sr: int, channels: int = 1) -> np.ndarray:
    """Return [samples, channels] float32 in [-0.5, 0.5]: four harmonic notes, 0.5 s each."""
    n = int(round(DURATION * sr))
    t = np.arange(n) / sr
    y = np.zeros(n, dtype=np.float64)
    per = n // len(NOTES_HZ)
    fade = int(0.01 * sr)
    env = np.ones(per)
    env[:fade] = np.linspace(0, 1, fade)
    env[-fade:] = np.linspace(1, 0, fade)
    for i, f0 in enumerate(NOTES_HZ):
        seg = slice(i * per, (i + 1) * per)
        tt = t[seg]
        note = sum((0.6**k) * np.sin(2 * np.pi * f0 * (k + 1) * tt) for k in range(4) if f0 * (k + 1) < sr / 2)
        y[seg] = note * env * np.exp(-1.5 * (tt - tt[0]))
    y = 0.5 * y / np.max(np.abs(y))
    if channels == 1:
        return y.astype(np.float32)[:, None]
    # Stereo: right channel slightly quieter, so a downmix is distinguishable from one channel.
    return np.stack([y, 0.8 * y], axis=1).astype(np.float32)


def encode_pyav(
    path: Path, codec: str, sr: int, channels: int, bitrate: int | None, fmt: str, options: dict | None = None
) -> None:
    import av

    y = signal(sr, channels)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        out.flags |= 0x0400  # AVFMT_FLAG_BITEXACT: fixed Ogg serials, no "Lavf x.y" encoder tag
        stream = out.add_stream(codec, rate=sr, layout=layout, options=options or {})
        if bitrate:
            stream.bit_rate = bitrate
        cc = stream.codec_context
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y.T), format="fltp", layout=layout)
        frame.sample_rate = sr
        frame.pts = 0
        resampler = av.AudioResampler(format=cc.format.name, layout=layout, rate=sr, frame_size=cc.frame_size or 1024)
        for fr in list(resampler.resample(frame)) + list(resampler.resample(None)):
            for packet in stream.encode(fr):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def write_float_wav(path: Path, y: np.ndarray, sr: int) -> None:
    """WAVE_FORMAT_IEEE_FLOAT by hand: libsndfile adds a PEAK chunk with a timestamp (not reproducible)."""
    import struct

    data = np.ascontiguousarray(y, dtype="<f4").tobytes()
    ch = y.shape[1]
    fmt = struct.pack("<HHIIHHH", 3, ch, sr, sr * ch * 4, ch * 4, 32, 0)
    fact = struct.pack("<I", y.shape[0])
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def tag_id3(path: Path, v2_version: int) -> None:
    from mutagen.id3 import ID3, TALB, TCON, TDRC, TIT2, TPE1

    tags = ID3()
    tags.add(TPE1(encoding=3, text=TAGS["artist"]))
    tags.add(TIT2(encoding=3, text=TAGS["title"]))
    tags.add(TALB(encoding=3, text=TAGS["album"]))
    tags.add(TCON(encoding=3, text=TAGS["genre"]))
    tags.add(TDRC(encoding=3, text=TAGS["date"]))
    tags.save(str(path), v2_version=v2_version)


def tag_vorbis(path: Path) -> None:
    import mutagen

    f = mutagen.File(str(path))
    for k, v in TAGS.items():
        f[k] = [v]
    f.save()


def tag_mp4(path: Path) -> None:
    from mutagen.mp4 import MP4

    f = MP4(str(path))
    f["\xa9ART"] = [TAGS["artist"]]
    f["\xa9nam"] = [TAGS["title"]]
    f["\xa9alb"] = [TAGS["album"]]
    f["\xa9gen"] = [TAGS["genre"]]
    f["\xa9day"] = [TAGS["date"]]
    f.save()


def tag_aiff(path: Path) -> None:
    from mutagen.aiff import AIFF
    from mutagen.id3 import TALB, TCON, TDRC, TIT2, TPE1

    f = AIFF(str(path))
    f.add_tags()
    f.tags.add(TPE1(encoding=3, text=TAGS["artist"]))
    f.tags.add(TIT2(encoding=3, text=TAGS["title"]))
    f.tags.add(TALB(encoding=3, text=TAGS["album"]))
    f.tags.add(TCON(encoding=3, text=TAGS["genre"]))
    f.tags.add(TDRC(encoding=3, text=TAGS["date"]))
    f.save(v2_version=3)


def main(out: Path = OUT) -> list[Path]:
    import soundfile as sf

    out.mkdir(parents=True, exist_ok=True)
    made = []

    def p(name: str) -> Path:
        made.append(out / name)
        return out / name

    encode_pyav(p("tone.mp3"), "libmp3lame", 22050, 2, 32000, "mp3")
    tag_id3(out / "tone.mp3", 3)
    encode_pyav(p("tone_v24.mp3"), "libmp3lame", 22050, 1, 24000, "mp3")
    tag_id3(out / "tone_v24.mp3", 4)

    sf.write(p("tone.flac"), signal(22050, 1), 22050, format="FLAC", subtype="PCM_16")
    tag_vorbis(out / "tone.flac")
    # FFmpeg's own Vorbis encoder (the wheels lack libvorbis): deterministic, unlike libsndfile's
    # writer, which picks a random Ogg serial number.
    encode_pyav(p("tone.ogg"), "vorbis", 22050, 2, 32000, "ogg", {"strict": "experimental"})
    tag_vorbis(out / "tone.ogg")

    encode_pyav(p("tone.opus"), "libopus", 48000, 1, 24000, "opus")
    tag_vorbis(out / "tone.opus")

    encode_pyav(p("tone.m4a"), "aac", 22050, 2, 32000, "ipod")
    tag_mp4(out / "tone.m4a")
    encode_pyav(p("tone_alac.m4a"), "alac", 8000, 1, None, "ipod")
    tag_mp4(out / "tone_alac.m4a")

    sf.write(p("tone.wav"), signal(8000, 1), 8000, format="WAV", subtype="PCM_16")
    write_float_wav(p("tone_float.wav"), signal(6000, 1), 6000)
    sf.write(p("tone.aiff"), signal(8000, 1), 8000, format="AIFF", subtype="PCM_16")
    tag_aiff(out / "tone.aiff")
    return made


if __name__ == "__main__":
    for path in main():
        print(f"{path.name:16s} {path.stat().st_size:7d} bytes")
