"""musictext.audio.decode: every fixture format, streaming == in-memory, sampled mode, errors, memory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from musictext.audio import decode, frontend
from musictext.errors import DecodeError

AUDIO = Path(__file__).parent / "data" / "audio"
SR = frontend.SAMPLE_RATE

# name -> (channels, backend)
FIXTURES = {
    "tone.mp3": (2, "pyav"),
    "tone_v24.mp3": (1, "pyav"),
    "tone.flac": (1, "soundfile"),
    "tone.ogg": (2, "soundfile"),
    "tone.opus": (1, "pyav"),
    "tone.m4a": (2, "pyav"),
    "tone_alac.m4a": (1, "pyav"),
    "tone.wav": (1, "soundfile"),
    "tone_float.wav": (1, "soundfile"),
    "tone.aiff": (1, "soundfile"),
}


def music(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Notes with harmonics, a little noise and some clicks: varied enough to catch misalignment."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f = 220.0 * 2 ** (np.floor(t * 4) % 12 / 12)  # a new semitone every 0.25 s
    phase = 2 * np.pi * np.cumsum(f) / sr
    y = 0.25 * np.sin(phase) + 0.1 * np.sin(2 * phase) + 0.05 * np.sin(3 * phase)
    y += 0.02 * rng.standard_normal(n)
    y[:: sr // 2] += 0.4
    return y.astype(np.float32)


def write_wav(path: Path, y: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    import soundfile as sf

    sf.write(path, y, sr, subtype=subtype)
    return path


def encode_mp3(path: Path, y: np.ndarray, sr: int, bitrate: int = 128000) -> Path:
    """Stereo MP3 (right = 0.5 x left) with PyAV's LAME."""
    import av

    stereo = np.stack([y, 0.5 * y]).astype(np.float32)
    with av.open(str(path), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=sr, layout="stereo")
        stream.bit_rate = bitrate
        cc = stream.codec_context
        frame = av.AudioFrame.from_ndarray(stereo, format="fltp", layout="stereo")
        frame.sample_rate = sr
        frame.pts = 0
        res = av.AudioResampler(format=cc.format.name, layout="stereo", rate=sr, frame_size=cc.frame_size)
        for fr in list(res.resample(frame)) + list(res.resample(None)):
            for packet in stream.encode(fr):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


# --- every fixture format -----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_decodes_to_16k_mono(name):
    channels, backend = FIXTURES[name]
    info = decode.probe(AUDIO / name)
    assert info.channels == channels
    assert info.backend == backend
    assert info.duration_s == pytest.approx(2.0, abs=0.1)

    blocks = list(decode.stream_16k(AUDIO / name))
    y = np.concatenate(blocks)
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    assert y.shape[0] / SR == pytest.approx(2.0, abs=0.1)
    assert 0.3 < np.abs(y).max() < 0.7  # the fixture peaks at 0.5 (stereo: mean of 1.0 and 0.8)

    track = decode.track_patches(AUDIO / name)
    assert track.patches.shape == (1, frontend.PATCH_FRAMES, frontend.N_MELS)
    assert track.patches.dtype == np.float32
    assert track.padded and track.mode == "whole" and track.backend == backend
    assert track.duration_s == pytest.approx(2.0, abs=0.1)
    # Short clips are padded exactly as frontend.patches pads them.
    np.testing.assert_allclose(track.patches, frontend.patches(frontend.log_mel(y)), atol=1e-4)


def test_fixture_mp3_has_both_id3_versions():
    from mutagen.id3 import ID3

    assert ID3(AUDIO / "tone.mp3").version[:2] == (2, 3)
    assert ID3(AUDIO / "tone_v24.mp3").version[:2] == (2, 4)
    assert str(ID3(AUDIO / "tone.mp3")["TPE1"]) == "Test Artist"


def test_stereo_is_averaged_not_swresample_downmixed(tmp_path):
    y = music(4.0)
    write_wav(tmp_path / "lr.wav", np.stack([y, np.zeros_like(y)], axis=1))
    out = np.concatenate(list(decode.stream_16k(tmp_path / "lr.wav")))
    np.testing.assert_allclose(out, y / 2, atol=1e-6)


# --- streaming whole-track patches ----------------------------------------------------------------


def test_whole_mode_equals_in_memory_frontend(tmp_path):
    y = music(40.3)
    path = write_wav(tmp_path / "forty.wav", y)
    ref = frontend.patches(frontend.log_mel(y))
    for block_seconds in (10.0, 0.7):  # blocks smaller than a patch, too
        track = decode.track_patches(path, block_seconds=block_seconds)
        assert track.patches.shape == ref.shape == (13, 187, 96)
        np.testing.assert_allclose(track.patches, ref, atol=1e-4)
    chunks = list(decode.iter_patches(path))
    np.testing.assert_allclose(np.concatenate(chunks), ref, atol=1e-4)
    # Only a bounded excerpt of the audio is kept, for the descriptors.
    assert track.samples.shape[0] <= decode.DEFAULT_DESCRIPTOR_WINDOWS * frontend.PATCH_SAMPLES
    assert len(track.window_starts) * track.window_samples == track.samples.shape[0]
    assert track.duration_s == pytest.approx(40.3, abs=1e-3)
    assert track.rms == pytest.approx(float(np.sqrt(np.mean(y.astype(np.float64) ** 2))), rel=1e-3)


def test_whole_mode_with_resampling_matches_one_shot_soxr(tmp_path):
    import soxr

    y44 = soxr.resample(music(20.0), SR, 44100)
    path = write_wav(tmp_path / "at44k.wav", y44, 44100)
    ref = frontend.patches(frontend.log_mel(soxr.resample(y44, 44100, SR, quality="HQ")))
    np.testing.assert_allclose(decode.track_patches(path).patches, ref, atol=1e-4)


# --- sampled mode ---------------------------------------------------------------------------------


def test_sampled_mode_seeks_instead_of_decoding_everything(tmp_path, monkeypatch):
    import soundfile as sf

    y = music(600.0)  # 10 minutes
    path = write_wav(tmp_path / "ten.wav", (y * 32767).astype(np.int16), subtype="PCM_16")
    # Count the frames actually read from the file (not seconds: timing asserts flake on a busy machine).
    frames_read = [0]
    real_read = sf.SoundFile.read

    def counting_read(self, *args, **kwargs):
        out = real_read(self, *args, **kwargs)
        frames_read[0] += len(out)
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    sampled = decode.track_patches(path, budget=8)
    read_sampled, frames_read[0] = frames_read[0], 0
    whole = decode.track_patches(path)
    read_whole = frames_read[0]
    monkeypatch.undo()
    assert sampled.mode == "sampled" and sampled.patches.shape == (8, 187, 96)
    assert sampled.analysed_s == pytest.approx(8 * frontend.PATCH_SAMPLES / SR)
    assert sampled.duration_s == pytest.approx(600.0, abs=0.01)
    assert whole.patches.shape[0] == (1 + 600 * SR // 256) // 187 == 200
    assert read_whole >= 600 * SR  # the whole track was read once
    # Eight 3 s windows with their pre-roll: under 1/10 of the file, instead of all of it.
    assert 0 < read_sampled < read_whole / 10, (read_sampled, read_whole)
    # Each window's patch is the log-mel of the exact audio there (with real context each side).
    yq = np.concatenate(list(decode.stream_16k(path)))
    for k, start in enumerate(sampled.window_starts):
        c = int(round(start * SR))
        ref = frontend.log_mel(yq[c - 256 : c + frontend.PATCH_SAMPLES + 256])[1:188]
        np.testing.assert_allclose(sampled.patches[k], ref, atol=1e-4)
        np.testing.assert_array_equal(
            sampled.samples[k * frontend.PATCH_SAMPLES : (k + 1) * frontend.PATCH_SAMPLES],
            yq[c : c + frontend.PATCH_SAMPLES],
        )


def test_sampled_mp3_windows_align_with_whole_decode(tmp_path):
    """PyAV seeking must subtract the stream's start_time (LAME's encoder delay)."""
    path = encode_mp3(tmp_path / "song.mp3", music(30.0, sr=44100), 44100)
    y = np.concatenate(list(decode.stream_16k(path)))
    sampled = decode.track_patches(path, budget=4)
    assert sampled.backend == "pyav" and sampled.patches.shape == (4, 187, 96)
    for k, start in enumerate(sampled.window_starts):
        c = int(round(start * SR))
        ref = frontend.log_mel(y[c - 256 : c + frontend.PATCH_SAMPLES + 256])[1:188]
        assert np.abs(sampled.patches[k] - ref).mean() < 1e-3


def test_sampled_mode_on_a_short_track_decodes_it_whole():
    track = decode.track_patches(AUDIO / "tone.flac", budget=8)
    assert track.mode == "whole" and track.patches.shape == (1, 187, 96)


# --- content sniffing and errors ------------------------------------------------------------------


def test_mp3_bytes_named_wav_decode(tmp_path):
    shutil.copy(AUDIO / "tone.mp3", tmp_path / "actually_mp3.wav")
    track = decode.track_patches(tmp_path / "actually_mp3.wav")
    assert track.backend == "pyav" and track.duration_s == pytest.approx(2.0, abs=0.1)


def test_upper_case_extension(tmp_path):
    shutil.copy(AUDIO / "tone.flac", tmp_path / "TONE.FLAC")
    assert decode.track_patches(tmp_path / "TONE.FLAC").duration_s == pytest.approx(2.0, abs=0.01)


def _raises(path: Path, match: str, budget=None) -> DecodeError:
    with pytest.raises(DecodeError, match=match) as info:
        decode.track_patches(path, budget)
    assert info.value.path == str(path)
    assert "\n" not in str(info.value)
    return info.value


def test_zero_bytes(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    _raises(tmp_path / "empty.mp3", "empty file")
    with pytest.raises(DecodeError):
        decode.probe(tmp_path / "empty.mp3")


def test_text_named_flac(tmp_path):
    (tmp_path / "notes.flac").write_text("this is not audio\n" * 20)
    _raises(tmp_path / "notes.flac", "not a recognised")
    _raises(tmp_path / "notes.flac", "not a recognised", budget=4)


def test_garbage_bytes(tmp_path):
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(5000))
    _raises(tmp_path / "noise.mp3", "not a recognised")


def test_missing_file(tmp_path):
    _raises(tmp_path / "nope.wav", "no such file")


def test_truncated_mp3(tmp_path, capfd):
    data = (AUDIO / "tone.mp3").read_bytes()
    (tmp_path / "head.mp3").write_bytes(data[:200])  # the tag and nothing else
    _raises(tmp_path / "head.mp3", "not a recognised")
    (tmp_path / "half.mp3").write_bytes(data[: len(data) * 6 // 10])
    track = decode.track_patches(tmp_path / "half.mp3")
    assert 0.5 < track.duration_s < 1.8 and track.truncated
    assert capfd.readouterr().err == ""  # nothing printed by the C libraries either


def test_truncated_flac_keeps_what_is_there(tmp_path):
    data = (AUDIO / "tone.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) * 7 // 10])
    track = decode.track_patches(tmp_path / "cut.flac")
    assert 0.5 < track.duration_s < 1.9 and track.truncated


def test_too_short(tmp_path):
    write_wav(tmp_path / "blip.wav", music(0.2))
    _raises(tmp_path / "blip.wav", r"too short: 0\.20 s")


def test_between_half_a_second_and_one_patch_is_padded(tmp_path):
    y = music(1.0)
    track = decode.track_patches(write_wav(tmp_path / "one.wav", y))
    assert track.padded and track.patches.shape == (1, 187, 96)
    np.testing.assert_allclose(track.patches, frontend.patches(frontend.log_mel(y)), atol=1e-5)


def test_silence_decodes_and_is_flagged(tmp_path):
    track = decode.track_patches(write_wav(tmp_path / "silence.wav", np.zeros(SR * 5, np.float32)))
    assert track.peak == 0.0 and track.rms == 0.0 and decode.is_silent(track)
    assert not decode.is_silent(decode.track_patches(AUDIO / "tone.wav"))


def test_heavy_modules_are_imported_lazily():
    code = (
        "import sys, musictext.audio.decode, musictext.audio.descriptors\n"
        "print(any(m in sys.modules for m in ('librosa', 'av', 'soundfile', 'soxr', 'scipy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- memory ---------------------------------------------------------------------------------------


def _long_wav(path: Path, minutes: int, sr: int) -> Path:
    import soundfile as sf

    t = np.arange(sr * 60) / sr
    minute = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", sr, 1, "PCM_16") as f:
        for _ in range(minutes):
            f.write(minute)
    return path


def test_streaming_memory_is_bounded(tmp_path):
    path = _long_wav(tmp_path / "hour.wav", 60, 8000)  # 60 minutes at 8 kHz (58 MB)
    tracemalloc.start()
    try:
        n, biggest = 0, 0
        for block in decode.stream_16k(path, block_seconds=10.0):
            n += block.shape[0]
            biggest = max(biggest, block.shape[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == pytest.approx(60 * 60 * SR, abs=SR)
    assert biggest <= 10.5 * SR
    assert peak < 16 * 2**20, peak  # vs 230 MB for the whole hour as float32 at 16 kHz


def test_iter_patches_memory_is_bounded(tmp_path):
    path = _long_wav(tmp_path / "ten.wav", 10, 16000)
    tracemalloc.start()
    try:
        n = sum(chunk.shape[0] for chunk in decode.iter_patches(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == (1 + 600 * SR // 256) // 187 == 200
    assert peak < 64 * 2**20, peak  # 10 min of float32 audio alone would be 38 MB; patches 29 MB


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MUSICTEXT_SLOW"), reason="set MUSICTEXT_SLOW=1 to run")
def test_benchmark_memory(tmp_path):
    """Peak RSS of whole-mode decoding of a 60-minute 44.1 kHz stereo WAV, in a fresh process."""
    import soundfile as sf

    path = tmp_path / "hour.wav"
    y = music(60.0, sr=44100)
    with sf.SoundFile(path, "w", 44100, 2, "PCM_16") as f:
        for _ in range(60):
            f.write(np.stack([y, y], axis=1))
    code = (
        "import resource, sys, numpy as np, librosa, soundfile, soxr, av\n"
        "from musictext import decode, frontend\n"
        "frontend.log_mel(np.zeros(48000, np.float32))\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t = decode.track_patches(sys.argv[1])\n"
        "print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, t.patches.shape[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    base, peak, n = map(int, out.stdout.split())
    patches_mib = n * 187 * 96 * 4 / 2**20
    growth_mib = (peak - base) / 1024
    print(f"ru_maxrss growth {growth_mib:.0f} MiB for 60 min ({patches_mib:.0f} MiB of it the patches)")
    assert growth_mib < patches_mib + 100
