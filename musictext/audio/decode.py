"""Decode audio files into musicnn's input: 16 kHz mono float32 and 187-frame log-mel patches.

Two backends, picked by sniffing the file's first bytes (never its extension):

- **soundfile** (libsndfile) for WAV/RF64/W64, AIFF, FLAC, Ogg Vorbis, CAF, AU and anything else
  libsndfile recognises;
- **PyAV** (FFmpeg) for MP3 (faster than libsndfile's mpg123 path and silent: libmpg123 writes
  "Note: ..." lines straight to stderr on damaged files), MP4/M4A (AAC, ALAC), Ogg Opus, and as the
  fallback for whatever libsndfile refuses (e.g. WMA, APE, Matroska audio).

The chain is: preferred backend, then the other one; only if neither yields audio is a
:class:`~musictext.errors.DecodeError` raised, with a one-line reason and the path.

Channels are averaged here (swresample's own downmix is sqrt(2) louder), and resampling uses soxr
(HQ) in streaming mode, so whole-track decoding holds a bounded amount of audio however long the
file is.

Choices:

- A decodable clip shorter than :data:`MIN_SECONDS` (0.5 s) raises ``DecodeError("too short:
  0.20 s")``. Clips between 0.5 s and one patch (2.976 s) give one patch, zero-padded in the
  log-mel domain exactly as :func:`musictext.audio.frontend.patches` does (log-mel 0 == silence).
- All-silent audio decodes normally; :class:`TrackAudio` carries ``peak`` and ``rms`` (over the
  analysed audio) so the caller can flag it (:func:`is_silent`).
- A truncated or partly corrupt file yields what could be decoded before the damage and sets
  ``TrackAudio.truncated``; if nothing usable came out, it raises ``DecodeError``.

Heavy modules (numpy aside) are imported inside functions so ``import musictext.audio.decode`` is cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.audio import frontend
from musictext.config import DEFAULT_WINDOWS
from musictext.errors import DecodeError

SR = frontend.SAMPLE_RATE
HOP = frontend.HOP
N_FFT = frontend.N_FFT
PATCH_FRAMES = frontend.PATCH_FRAMES
PATCH_SAMPLES = frontend.PATCH_SAMPLES  # 47616 samples = 2.976 s
WINDOW_SECONDS = PATCH_SAMPLES / SR
CONTEXT = N_FFT // 2  # samples of context a centred STFT frame needs on each side
MIN_SECONDS = 0.5
DEFAULT_BLOCK_SECONDS = 10.0
DEFAULT_DESCRIPTOR_WINDOWS = DEFAULT_WINDOWS
SILENCE_PEAK = 1e-4  # -80 dBFS
_FRAME_OFFSET = CONTEXT // HOP  # index, in a segment's centred mel, of the first wanted frame
_MEL_CHUNK_PATCHES = 32  # patches per log-mel call in streaming mode (~95 s of audio, ~6 MB)
_SEEK_PREROLL_S = 0.1  # decode this much before a window when seeking (MP3 bit reservoir, etc.)
_RESAMPLE_MARGIN_S = 0.02  # extra native audio around a window so the resampler has context
# One contiguous excerpt from the middle of the track, decoded only when asked for (the optional
# mood axes, audio/mood.py: vibenet's network was trained on 30 s clips, not 3 s windows).
EXCERPT_SECONDS = 20.0

assert CONTEXT % HOP == 0, "streaming mel assumes N_FFT/2 is a multiple of HOP"


@dataclass(frozen=True)
class AudioInfo:
    """What :func:`probe` learns from a file's headers, without decoding it."""

    duration_s: float | None  # None when the container does not say
    sample_rate: int
    channels: int
    codec: str  # e.g. "PCM_16", "VORBIS", "mp3float", "aac", "alac", "opus"
    format: str  # container, e.g. "WAV", "FLAC", "OGG", "mp3", "mov,mp4,m4a,3gp,3g2,mj2"
    backend: str  # "soundfile" or "pyav": which backend will decode it


@dataclass
class TrackAudio:
    """A track turned into musicnn patches, plus the audio that was analysed."""

    patches: np.ndarray  # float32 [n, 187, 96] log-mel
    duration_s: float  # the track's length (decoded length in whole mode, header's in sampled)
    analysed_s: float  # seconds of audio the patches were computed from
    samples: np.ndarray  # float32 16 kHz mono: the analysed windows, concatenated (bounded)
    window_starts: tuple[float, ...]  # start (s, in the track) of each window in ``samples``
    peak: float  # max |x| over the analysed audio (whole mode: the whole track)
    rms: float  # RMS over the analysed audio
    mode: str  # "whole" or "sampled"
    backend: str  # "soundfile" or "pyav"
    truncated: bool = False  # decoding stopped early on damaged data
    padded: bool = False  # shorter than one patch; zero-padded
    window_samples: int = field(default=PATCH_SAMPLES)  # length of each window in ``samples``
    # Up to EXCERPT_SECONDS of contiguous 16 kHz audio from the middle of the track (None: not
    # decoded, as in whole mode on a long track; see :func:`read_excerpt`).
    excerpt: np.ndarray | None = None


def is_silent(track: TrackAudio, peak_threshold: float = SILENCE_PEAK) -> bool:
    """True when the analysed audio never rises above ``peak_threshold`` (default -80 dBFS)."""
    return track.peak <= peak_threshold


# --------------------------------------------------------------------------------------------
# Sniffing and error reasons


_MPEG_SUFFIXES = {".mp3", ".mp2", ".mp1", ".mpga", ".mpeg"}


def _sniff(path: Path) -> tuple[str, list[str]]:
    """Return (kind, backend order) from the first bytes of the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except FileNotFoundError:
        raise DecodeError("no such file", path) from None
    except IsADirectoryError:
        raise DecodeError("is a directory, not an audio file", path) from None
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}", path) from None
    if not head:
        raise DecodeError("empty file (0 bytes)", path)
    if head[:4] in (b"RIFF", b"RF64", b"FORM", b"fLaC", b".snd", b"caff") or head[:4] == b"riff":
        return "pcm-or-flac", ["soundfile", "pyav"]
    if head[:4] == b"OggS":
        if b"OpusHead" in head:
            return "ogg-opus", ["pyav", "soundfile"]
        return "ogg", ["soundfile", "pyav"]
    if head[4:8] == b"ftyp":
        return "mp4", ["pyav"]
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        # No libsndfile fallback for MP3: its mpg123 decoder prints "Note: ..." lines to stderr on
        # damaged files, and FFmpeg's MP3 support is a superset of it anyway.
        return "mp3", ["pyav"]
    if path.suffix.lower() in _MPEG_SUFFIXES:  # unrecognised bytes: libsndfile would try mpg123
        return "unknown", ["pyav"]
    return "unknown", ["pyav", "soundfile"]


def _one_line(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) if hasattr(exc, "errno") else None  # PyAV: no "[Errno n]"
    text = text or getattr(exc, "error_string", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split()).rstrip(".")
    if "does not exist or is not a regular file" in text:  # libsndfile's words for "unknown format"
        text = "format not recognised"
    return text[:160]


_UNRECOGNISED = ("not recognised", "invalid data", "no audio", "no sample rate", "malformed", "end of file")


def _reason(errors: dict[str, BaseException]) -> str:
    """A one-line reason from the backends' failures, e.g. "not a recognised audio file (...)"."""
    if not errors:
        return "no audio could be decoded"
    texts = [f"{name}: {_one_line(exc)}" for name, exc in errors.items()]
    if all(isinstance(e, _NoAudio) or any(k in _one_line(e).lower() for k in _UNRECOGNISED) for e in errors.values()):
        return "not a recognised or readable audio file (" + "; ".join(texts) + ")"
    return "cannot decode (" + "; ".join(texts) + ")"


class _NoAudio(Exception):
    """A backend opened the file but found no audio in it."""


# --------------------------------------------------------------------------------------------
# Backends: native-rate float32 mono blocks, and windows by seeking


def _downmix(x: np.ndarray) -> np.ndarray:
    """[n, ch] -> [n] float32 by averaging channels (never swresample's louder matrix)."""
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    if x.shape[1] == 1:
        return np.ascontiguousarray(x[:, 0], dtype=np.float32)
    return x.mean(axis=1, dtype=np.float32)


class _SoundfileSource:
    name = "soundfile"

    def __init__(self, path: Path):
        import soundfile as sf

        self._f = sf.SoundFile(str(path))
        self.sample_rate = int(self._f.samplerate)
        self.channels = int(self._f.channels)
        frames = int(self._f.frames)
        self.duration_s = frames / self.sample_rate if frames > 0 else None
        self.codec = str(self._f.subtype)
        self.format = str(self._f.format)
        self.truncated = False

    def close(self) -> None:
        self._f.close()

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        got_any = False
        while True:
            try:
                x = self._f.read(block_frames, dtype="float32", always_2d=True)
            except Exception:
                if not got_any:
                    raise
                self.truncated = True
                return
            if x.shape[0] == 0:
                return
            got_any = True
            yield _downmix(x)
            if x.shape[0] < block_frames:
                return

    def read_range(self, start: int, count: int) -> np.ndarray:
        """Mono native-rate samples [start, start+count); shorter at the end of the file."""
        self._f.seek(max(0, start))
        x = self._f.read(count, dtype="float32", always_2d=True)
        return _downmix(x)


_AV_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


_AV_DTYPE = {
    "u8": np.uint8,
    "s16": np.int16,
    "s32": np.int32,
    "s64": np.int64,
    "flt": np.float32,
    "dbl": np.float64,
}


class _FrameBatch:
    """Collects decoded frames and converts them to mono float32 in one go (not per frame).

    Frames are read straight from their plane buffers (``AudioFrame.to_ndarray`` stacks planes
    per frame, which costs more than the MP3 decoding itself).
    """

    def __init__(self):
        self.raw: list[list[np.ndarray]] = []  # per channel (planar) or one list (packed)
        self.key = None
        self.done: list[np.ndarray] = []
        self.n = 0

    def add(self, frame) -> None:
        fmt = frame.format.name
        channels = len(frame.layout.channels) or 1
        key = (fmt, channels)
        if key != self.key:
            self._flush()
            self.key = key
        base = fmt[:-1] if fmt.endswith("p") else fmt
        dtype = _AV_DTYPE.get(base)
        n = frame.samples
        if dtype is None:  # an unusual sample format: let PyAV convert
            arr = frame.to_ndarray()
            self._flush()
            self.key = None
            self.done.append(self._mono(arr.reshape(-1, channels).T if not frame.format.is_planar else arr, base))
        elif frame.format.is_planar:
            if not self.raw:
                self.raw = [[] for _ in range(channels)]
            for c in range(channels):
                self.raw[c].append(np.frombuffer(frame.planes[c], dtype=dtype, count=n))
        else:
            if not self.raw:
                self.raw = [[]]
            self.raw[0].append(np.frombuffer(frame.planes[0], dtype=dtype, count=n * channels))
        self.n += n

    @staticmethod
    def _mono(arr: np.ndarray, base: str) -> np.ndarray:
        """[channels, n] of any sample type -> [n] float32 mean of the channels."""
        if base in _AV_SCALE:
            arr = arr.astype(np.float32)
            if base == "u8":
                arr -= 128.0
            arr *= np.float32(1.0 / _AV_SCALE[base])
        if arr.shape[0] == 1:
            return np.asarray(arr[0], dtype=np.float32)
        if arr.shape[0] == 2:
            return ((arr[0] + arr[1]) * 0.5).astype(np.float32, copy=False)
        return arr.mean(axis=0, dtype=np.float32)

    def _flush(self) -> None:
        if not self.raw or self.key is None:
            self.raw = []
            return
        fmt, channels = self.key
        base = fmt[:-1] if fmt.endswith("p") else fmt
        if fmt.endswith("p"):
            arr = np.stack([np.concatenate(ch) for ch in self.raw])
        else:
            arr = np.concatenate(self.raw[0]).reshape(-1, channels).T
        self.done.append(self._mono(arr, base))
        self.raw = []

    def take(self) -> np.ndarray:
        self._flush()
        y = self.done[0] if len(self.done) == 1 else np.concatenate(self.done)
        self.done, self.n = [], 0
        return np.ascontiguousarray(y, dtype=np.float32)


class _PyAVSource:
    name = "pyav"

    def __init__(self, path: Path):
        import av

        self._av = av
        self._c = av.open(str(path), metadata_errors="ignore")
        try:
            if not self._c.streams.audio:
                raise _NoAudio("no audio stream")
            self._s = self._c.streams.audio[0]
            cc = self._s.codec_context
            self.sample_rate = int(cc.sample_rate or self._s.rate or 0)
            if self.sample_rate <= 0:
                raise _NoAudio("no sample rate in the audio stream")
            self.channels = int(getattr(cc, "channels", 0) or len(cc.layout.channels) or 1)
            self.codec = str(cc.name)
            self.format = str(self._c.format.name)
            tb = self._s.time_base
            if self._s.duration and tb:
                self.duration_s = float(self._s.duration * tb)
            elif self._c.duration:
                self.duration_s = self._c.duration / 1_000_000
            else:
                self.duration_s = None
            self._start = self._s.start_time or 0
            self.truncated = False
        except BaseException:
            self._c.close()
            raise

    def close(self) -> None:
        self._c.close()

    def _frames(self) -> Iterator:
        """Decoded frames; stops (marking truncation) on damaged data after the first frame."""
        av = self._av
        got_any = False
        packets = self._c.demux(self._s)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError:
                if not got_any:
                    raise
                self.truncated = True
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                if not got_any:
                    raise
                # A single bad packet mid-file: skip it, as players do, but remember.
                self.truncated = True
                continue
            for frame in frames:
                got_any = True
                yield frame

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        batch = _FrameBatch()
        for frame in self._frames():
            batch.add(frame)
            if batch.n >= block_frames:
                yield batch.take()
        if batch.n:
            yield batch.take()

    def read_range(self, start: int, count: int) -> np.ndarray:
        """Mono native-rate samples [start, start+count) by seeking; aligned on frame pts."""
        sr = self.sample_rate
        tb = self._s.time_base
        seek_s = max(0.0, start / sr - _SEEK_PREROLL_S)
        self._c.seek(int(seek_s / tb) + self._start, stream=self._s, backward=True, any_frame=False)
        batch = _FrameBatch()
        first = None  # native sample index of the batch's first sample
        end = start + count
        pos = None
        for frame in self._frames():
            if frame.pts is None:
                if pos is None:
                    raise _NoAudio("frames carry no timestamps; cannot seek")
            else:
                pos = int(round(float((frame.pts - self._start) * tb) * sr))
            if pos + frame.samples <= start:
                pos += frame.samples
                continue
            if first is None:
                first = pos  # later frames are placed by sample count, not by their pts
            batch.add(frame)
            pos += frame.samples
            if pos >= end:
                break
        if first is None:
            return np.zeros(0, dtype=np.float32)
        y = batch.take()
        off = start - first
        if off < 0:  # the stream starts after the wanted point: pad the gap with silence
            y = np.concatenate([np.zeros(-off, dtype=np.float32), y])
            off = 0
        return y[off : off + count]


def _backends(path: Path, errors: dict[str, BaseException]) -> Iterator:
    """Each backend that opens the file, preferred first (failures recorded in ``errors``); each
    source is closed when the caller moves on to the next one or stops. The one fallback chain
    that probe, streaming and sampled decoding share: use it inside ``contextlib.closing``."""
    _, order = _sniff(path)
    for name in order:
        try:
            src = _SoundfileSource(path) if name == "soundfile" else _PyAVSource(path)
        except Exception as exc:  # noqa: BLE001 - every library error becomes a DecodeError
            errors[name] = exc
            continue
        try:
            yield src
        finally:
            src.close()


# --------------------------------------------------------------------------------------------
# Public API: probe and streaming decode


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read a file's headers (no full decode): duration, rate, channels, codec, container."""
    path = Path(path)
    errors: dict[str, BaseException] = {}
    with closing(_backends(path, errors)) as sources:
        for src in sources:
            return AudioInfo(
                duration_s=src.duration_s,
                sample_rate=src.sample_rate,
                channels=src.channels,
                codec=src.codec,
                format=src.format,
                backend=src.name,
            )
    raise DecodeError(_reason(errors), path)


def _native_blocks(path: Path, block_seconds: float, state: dict) -> Iterator[tuple[int, np.ndarray]]:
    """(native rate, mono block) pairs, trying each backend until one yields audio."""
    errors: dict[str, BaseException] = {}
    with closing(_backends(path, errors)) as sources:
        for src in sources:
            state["backend"] = src.name
            state["duration_s"] = src.duration_s
            yielded = False
            try:
                block_frames = max(1024, int(block_seconds * src.sample_rate))
                for block in src.blocks(block_frames):
                    if block.size:
                        yielded = True
                        yield src.sample_rate, block
                state["truncated"] = src.truncated
            except Exception as exc:  # noqa: BLE001
                if yielded:  # damage after good audio: keep what we have
                    state["truncated"] = True
                    return
                errors[src.name] = exc
                continue
            if yielded:
                return
            errors.setdefault(src.name, _NoAudio("no audio decoded"))
    raise DecodeError(_reason(errors), path)


def stream_16k(path: str | os.PathLike, block_seconds: float = DEFAULT_BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yield the whole track as 16 kHz mono float32 blocks of about ``block_seconds`` each.

    Memory stays bounded by the block size whatever the file's length. Raises ``DecodeError``
    (with the path) when the file cannot be decoded at all; a file damaged part-way yields the
    audio before the damage.
    """
    yield from _stream_16k(Path(path), block_seconds, {})


def _stream_16k(path: Path, block_seconds: float, state: dict) -> Iterator[np.ndarray]:
    import soxr

    resampler = None
    rate = None
    try:
        for sr, block in _native_blocks(path, block_seconds, state):
            if rate is None:
                rate = sr
                if sr != SR:
                    resampler = soxr.ResampleStream(sr, SR, 1, dtype="float32", quality="HQ")
            if resampler is None:
                yield block
            else:
                out = resampler.resample_chunk(block, last=False)
                if out.size:
                    yield out
        if resampler is not None:
            out = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if out.size:
                yield out
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - soxr or numpy failures
        raise DecodeError(f"cannot decode: {_one_line(exc)}", path) from exc


# --------------------------------------------------------------------------------------------
# Whole-track patches, streamed


class _StreamingMel:
    """Incremental log-mel whose patches equal ``frontend.patches(frontend.log_mel(y))``.

    Frame ``j`` of librosa's centred STFT covers samples ``[j*HOP - N_FFT/2, j*HOP + N_FFT/2)``
    (zeros outside the track). A segment ``y[a*HOP - N_FFT/2 : (b-1)*HOP + N_FFT/2]`` therefore
    holds everything frames ``a..b-1`` need; its own centred mel has those frames at offset
    ``N_FFT/2/HOP``. Only audio from ``a*HOP - N_FFT/2`` on is kept between calls.
    """

    def __init__(self, keep_patches: set[int] | None, keep_first: int):
        self.buf = np.zeros(CONTEXT, dtype=np.float32)  # the zero padding before sample 0
        self.buf_start = -CONTEXT  # global sample index of buf[0]
        self.pending: list[np.ndarray] = []  # blocks received since buf was last assembled
        self.total = 0  # samples received
        self.next_patch = 0
        self.out: list[np.ndarray] = []
        self.keep = keep_patches
        self.keep_first = keep_first
        self.kept: list[tuple[int, np.ndarray]] = []
        self.peak = 0.0
        self.sumsq = 0.0
        self.head: list[np.ndarray] = []  # the first patch's worth of audio, for short clips
        self.head_n = 0

    def feed(self, x: np.ndarray) -> None:
        if not x.size:
            return
        self.peak = max(self.peak, float(np.max(np.abs(x))))
        self.sumsq += float(np.dot(x, x))
        if self.head_n < PATCH_SAMPLES + 1:
            self.head.append(x[: PATCH_SAMPLES + 1 - self.head_n].copy())
            self.head_n += self.head[-1].shape[0]
        self.pending.append(x)
        self.total += x.shape[0]
        need = ((self.next_patch + _MEL_CHUNK_PATCHES) * PATCH_FRAMES - 1) * HOP + CONTEXT
        while self.total >= need:
            self._emit(self.next_patch, self.next_patch + _MEL_CHUNK_PATCHES)
            need = ((self.next_patch + _MEL_CHUNK_PATCHES) * PATCH_FRAMES - 1) * HOP + CONTEXT

    def finish(self) -> None:
        frames = 1 + self.total // HOP
        n = frames // PATCH_FRAMES
        while self.next_patch < n:
            self._emit(self.next_patch, min(n, self.next_patch + _MEL_CHUNK_PATCHES))

    def _emit(self, p0: int, p1: int) -> None:
        a, b = p0 * PATCH_FRAMES, p1 * PATCH_FRAMES
        lo, hi = a * HOP - CONTEXT, (b - 1) * HOP + CONTEXT
        if self.pending:
            self.buf = np.concatenate([self.buf, *self.pending])
            self.pending = []
        seg = self.buf[lo - self.buf_start : hi - self.buf_start]
        if seg.shape[0] < hi - lo:  # past the end of the track: centred STFT pads with zeros
            seg = np.concatenate([seg, np.zeros(hi - lo - seg.shape[0], dtype=np.float32)])
        mel = frontend.log_mel(seg)[_FRAME_OFFSET : _FRAME_OFFSET + (b - a)]
        self.out.append(mel.reshape(p1 - p0, PATCH_FRAMES, frontend.N_MELS))
        for p in range(p0, p1):
            if (p in self.keep) if self.keep is not None else (p < self.keep_first):
                s = p * PATCH_FRAMES * HOP - self.buf_start
                w = self.buf[s : s + PATCH_SAMPLES]
                if w.shape[0] < PATCH_SAMPLES:
                    w = np.concatenate([w, np.zeros(PATCH_SAMPLES - w.shape[0], dtype=np.float32)])
                self.kept.append((p, w.copy()))
        self.next_patch = p1
        cut = b * HOP - CONTEXT - self.buf_start  # keep from the next patch's first sample - CONTEXT
        self.buf = self.buf[cut:]
        self.buf_start += cut


def _even_indices(n_items: int, k: int) -> list[int]:
    """k indices spread evenly over range(n_items): the centres of k equal parts."""
    if n_items <= k:
        return list(range(n_items))
    return sorted({int((i + 0.5) * n_items / k) for i in range(k)})


def _whole_chunks(path: Path, block_seconds: float, mel: _StreamingMel, state: dict) -> Iterator[np.ndarray]:
    """Patch chunks of a whole track as they are computed; fills ``state`` as it goes."""
    for block in _stream_16k(path, block_seconds, state):
        mel.feed(block)
        while mel.out:
            yield mel.out.pop(0)
    mel.finish()
    while mel.out:
        yield mel.out.pop(0)
    n = mel.total
    duration = n / SR
    if duration < MIN_SECONDS:
        if n == 0:
            raise DecodeError("no audio could be decoded", path)
        raise DecodeError(f"too short: {duration:.2f} s", path)
    if mel.next_patch == 0:  # shorter than one patch: exactly what frontend.patches does
        y = np.concatenate(mel.head)[:n]
        state["short_audio"] = y
        yield frontend.patches(frontend.log_mel(y))


def iter_patches(path: str | os.PathLike, block_seconds: float = DEFAULT_BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yield a whole track's patches as float32 [m, 187, 96] chunks (m <= 32) while decoding.

    The concatenated chunks equal ``track_patches(path).patches``; memory stays bounded however
    long the track (``track_patches`` has to hold every patch: ~1.4 MB per minute of audio).
    """
    yield from _whole_chunks(Path(path), block_seconds, _StreamingMel(set(), 0), {})


def _whole(path: Path, block_seconds: float, descriptor_windows: int, info: AudioInfo | None) -> TrackAudio:
    keep = None
    est = 0
    if info is not None and info.duration_s:
        est = (1 + int(info.duration_s * SR) // HOP) // PATCH_FRAMES
        keep = set(_even_indices(est, descriptor_windows)) if est > 0 else None
    state: dict = {}
    mel = _StreamingMel(keep, descriptor_windows)
    # Write chunks straight into one array sized from the header (grown if the header lied), so
    # the patches are never held twice.
    cap = est + 1
    buf = np.empty((cap, PATCH_FRAMES, frontend.N_MELS), dtype=np.float32)
    at = 0
    for chunk in _whole_chunks(path, block_seconds, mel, state):
        m = chunk.shape[0]
        if at + m > cap:
            cap = max(2 * cap, at + m)
            bigger = np.empty((cap, PATCH_FRAMES, frontend.N_MELS), dtype=np.float32)
            bigger[:at] = buf[:at]
            buf = bigger
        buf[at : at + m] = chunk
        at += m
    patches = buf[:at] if at >= 0.9 * cap else buf[:at].copy()
    del buf
    n = mel.total
    duration = n / SR
    rms = math.sqrt(mel.sumsq / n)
    truncated = bool(state.get("truncated", False))
    header_s = state.get("duration_s")
    if header_s and duration < 0.9 * header_s - 0.5:  # decoded far less than the header promised
        truncated = True
    common = dict(
        duration_s=duration,
        analysed_s=duration,
        peak=mel.peak,
        rms=rms,
        mode="whole",
        backend=state.get("backend", "?"),
        truncated=truncated,
    )
    if "short_audio" in state:
        y = state["short_audio"]
        return TrackAudio(
            patches=patches,
            samples=y,
            window_starts=(0.0,),
            padded=True,
            window_samples=y.shape[0],
            excerpt=y,
            **common,
        )
    if not mel.kept:  # the header's duration was wrong: keep nothing rather than guess
        samples = np.zeros(0, dtype=np.float32)
        starts: tuple[float, ...] = ()
    else:
        samples = np.concatenate([w for _, w in mel.kept])
        starts = tuple(p * PATCH_FRAMES * HOP / SR for p, _ in mel.kept)
    kept = [p for p, _ in mel.kept]
    contiguous = bool(kept) and kept == list(range(kept[0], kept[0] + len(kept)))  # a short track: all of it
    excerpt = None
    if contiguous:
        n = int(EXCERPT_SECONDS * SR)
        excerpt = samples[max(0, (samples.shape[0] - n) // 2) :][:n]
    return TrackAudio(patches=patches, samples=samples, window_starts=starts, excerpt=excerpt, **common)


# --------------------------------------------------------------------------------------------
# Sampled mode: k windows by seeking


def _window_16k(src, start_16k: int, length_16k: int) -> np.ndarray:
    """16 kHz samples [start_16k, start_16k+length_16k) of the track via a seek; zero-padded."""
    import soxr

    sr = src.sample_rate
    if sr == SR:
        lo = start_16k
        y = src.read_range(max(0, lo), length_16k - max(0, -lo))
        if lo < 0:
            y = np.concatenate([np.zeros(-lo, dtype=np.float32), y])
    else:
        # Start on a native sample that falls exactly on the 16 kHz grid (a multiple of
        # sr/gcd(sr, 16000)), so the window's samples match the whole-track resampling.
        g = math.gcd(sr, SR)
        step_in, step_out = sr // g, SR // g
        margin = int(math.ceil(_RESAMPLE_MARGIN_S * SR))
        a0 = ((start_16k - margin) // step_out) * step_in
        count = int(math.ceil((start_16k + length_16k + margin) * sr / SR)) - a0 + 1
        x = src.read_range(max(0, a0), count - max(0, -a0))
        if a0 < 0:
            x = np.concatenate([np.zeros(-a0, dtype=np.float32), x])
        if x.size == 0:
            return np.zeros(0, dtype=np.float32)
        r = soxr.resample(x, sr, SR, quality="HQ").astype(np.float32, copy=False)
        off = start_16k - (a0 // step_in) * step_out
        y = r[off : off + length_16k]
    return y


def _sampled(path: Path, budget: int, src, info: AudioInfo, want_excerpt: bool = False) -> TrackAudio | None:
    """k windows spread evenly (the centres of k equal parts). None: fall back to whole mode."""
    duration = info.duration_s
    starts = [(i + 0.5) * duration / budget - WINDOW_SECONDS / 2 for i in range(budget)]
    segs, used = [], []
    seg_len = PATCH_SAMPLES + 2 * CONTEXT  # a multiple of HOP: 188 hops
    for s in starts:
        c = int(round(s * SR))
        seg = _window_16k(src, c - CONTEXT, seg_len)
        if seg.shape[0] - CONTEXT < PATCH_SAMPLES // 2:  # past the real end of a truncated file
            continue
        if seg.shape[0] < seg_len:
            seg = np.concatenate([seg, np.zeros(seg_len - seg.shape[0], dtype=np.float32)])
        segs.append(seg)
        used.append(c / SR)
    if not segs:
        return None
    excerpt = None
    if want_excerpt:
        length = min(duration, EXCERPT_SECONDS)
        excerpt = _window_16k(src, int(round((duration - length) / 2 * SR)), int(round(length * SR)))
    # One log-mel call for all windows: laid end to end, segment k's wanted frames are frames
    # k*188+1 .. k*188+187 of the concatenation, and each sees only its own segment's samples
    # (librosa's per-call overhead is far larger than the per-window work).
    mel = frontend.log_mel(np.concatenate(segs))
    per = seg_len // HOP
    mels = [mel[k * per + _FRAME_OFFSET : k * per + _FRAME_OFFSET + PATCH_FRAMES] for k in range(len(segs))]
    windows = [seg[CONTEXT : CONTEXT + PATCH_SAMPLES] for seg in segs]
    samples = np.concatenate(windows)
    peak = float(np.max(np.abs(samples)))
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.shape[0])
    return TrackAudio(
        patches=np.stack(mels).astype(np.float32, copy=False),
        duration_s=float(duration),
        analysed_s=samples.shape[0] / SR,
        samples=samples,
        window_starts=tuple(used),
        peak=peak,
        rms=rms,
        mode="sampled",
        backend=src.name,
        truncated=len(segs) < budget or src.truncated,
        excerpt=excerpt if excerpt is not None and excerpt.size else None,
    )


def read_excerpt(path: str | os.PathLike, duration_s: float, seconds: float = EXCERPT_SECONDS) -> np.ndarray:
    """``seconds`` of contiguous 16 kHz mono audio from the middle of a track of ``duration_s``, by
    seeking (for whole-mode analysis, whose streaming decode keeps only short windows)."""
    path = Path(path)
    errors: dict[str, BaseException] = {}
    length = min(duration_s, seconds)
    with closing(_backends(path, errors)) as sources:
        for src in sources:
            try:
                y = _window_16k(src, int(round((duration_s - length) / 2 * SR)), int(round(length * SR)))
            except Exception as exc:  # noqa: BLE001 - try the next backend
                errors[src.name] = exc
                continue
            if y.size:
                return y
    raise DecodeError(_reason(errors) if errors else "no audio in the excerpt", path)


def track_patches(
    path: str | os.PathLike,
    budget: int | None = None,
    *,
    descriptor_windows: int = DEFAULT_DESCRIPTOR_WINDOWS,
    block_seconds: float = DEFAULT_BLOCK_SECONDS,
    excerpt: bool = False,
) -> TrackAudio:
    """Decode a track into musicnn patches (``excerpt``: also EXCERPT_SECONDS of contiguous audio
    from the middle, in sampled mode; a track decoded whole has it when all of it was kept).

    ``budget=None`` (whole mode): every non-overlapping 187-frame patch of the track, equal to
    ``frontend.patches(frontend.log_mel(audio))``, computed while streaming; ``samples`` keeps
    only ``descriptor_windows`` patch-length excerpts spread over the track.

    ``budget=k`` (sampled mode): ``k`` windows of one patch (2.976 s) at the centres of ``k``
    equal parts of the track, each decoded by seeking (plus N_FFT/2 samples of context on either
    side so every frame sees real audio), one patch per window. A track shorter than ``k``
    windows is decoded whole instead.
    """
    path = Path(path)
    if budget is not None and budget < 1:
        raise ValueError("budget must be a positive number of windows or None")
    if budget is None:
        info = None
        try:
            info = probe(path)
        except DecodeError:
            pass  # _whole tries every backend again and reports the real reason
        return _whole(path, block_seconds, descriptor_windows, info)

    errors: dict[str, BaseException] = {}
    with closing(_backends(path, errors)) as sources:
        for src in sources:
            try:
                info = AudioInfo(src.duration_s, src.sample_rate, src.channels, src.codec, src.format, src.name)
                if not info.duration_s or info.duration_s < budget * WINDOW_SECONDS + 1.0:
                    break  # short (or unknown length): decode whole
                track = _sampled(path, budget, src, info, excerpt)
                if track is not None:
                    return track
            except Exception as exc:  # noqa: BLE001 - try the next backend, then whole mode
                errors[src.name] = exc
    return _whole(path, block_seconds, budget, None)
