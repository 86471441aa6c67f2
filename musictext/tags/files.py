"""Read and write tags in user files: the only module that touches tags (via mutagen).

Writes never edit a user file in place. The file is copied to a hidden temporary file in
the same folder (``.NAME.<pid>-<random>.musictext-tmp``, locked while in use), mutagen edits
the copy, the copy is checked, fsynced and then renamed over the original with ``os.replace``,
so a crash or ``kill -9`` leaves either the old file or the new one, never a mix, and at most
an unlocked temporary file that ``remove_leftovers`` (and the next write) deletes. Audio data is
never rewritten by musictext itself.

Where each field is stored in each format is declared once in ``musictext.tags.fields``; a
file's format comes from its content, and a file whose content and name disagree is not written.
Several values are stored the way beets' mediafile reads lists: one ID3 text frame holding
several null-separated strings (also in ID3v2.3 files, which stay v2.3), repeated Vorbis
keys, and several MP4 data items in one atom. A WAV file's ``LIST/INFO`` chunk, which ffmpeg
reads instead of the ID3 chunk, is kept equal to it for the fields INFO has (genre, comment,
title, artist, album), several values joined into its one string (see ``fields.INFO_SEPARATOR``).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import secrets
import shutil
import stat
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from musictext.atomic import fsync_dir
from musictext.errors import MusictextError, TagReadError, TagWriteError
from musictext.tags import fields as tf

Mode = Literal["add", "replace"]

FIELDS = tuple(f.name for f in tf.STANDARD)
READ_ONLY_FIELDS = frozenset(f.name for f in tf.STANDARD if f.read_only)

TMP_SUFFIX = ".musictext-tmp"
SNAPSHOT_VERSION = 1

# Frames new in ID3v2.4 that update_to_v23() would drop; mediafile and mutagen read them
# in v2.3 files too, so they are kept (TMOO is how mood is stored in a v2.3 file).
_V24_ONLY_FRAMES = frozenset(
    {"ASPI", "EQU2", "RVA2", "SEEK", "SIGN", "TDEN", "TDRL", "TDTG", "TMOO", "TPRO"} | {"TSOA", "TSOP", "TSOT", "TSST"}
)
_VORBIS_BINARY = frozenset({"metadata_block_picture", "coverart", "coverartmime"})


@dataclass(frozen=True)
class TagChange:
    """What a write does to one file: the named fields before and after (dry-run diff)."""

    path: Path
    before: dict[str, list[str]]
    after: dict[str, list[str]]
    changed: bool


# --------------------------------------------------------------------------- reading


def read_tags(path: str | Path, field_map: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Return the file's tags as ``{field: [values]}`` with normalised field names.

    Standard fields use the names in ``FIELDS``; other free-form tags (TXXX, Vorbis keys,
    MP4 ``----:com.apple.iTunes:`` atoms) come back lower-cased, or under the field that
    ``field_map`` maps to their name.
    """
    path = Path(path)
    kind = _kind(path, TagReadError, strict=False)
    names = _Names(field_map)
    try:
        audio = _open(path, kind)
        return _read_values(audio, kind, names)
    except MusictextError:
        raise
    except Exception as e:  # mutagen raises many types for broken files
        if not path.exists():
            raise TagReadError("file vanished", path) from e
        raise TagReadError(f"cannot read tags: {e}", path) from e


def _read_values(audio, kind: str, names: _Names) -> dict[str, list[str]]:
    fmt = _FORMATS[kind]
    tags = audio if kind == "mp3" else audio.tags
    pairs = list(fmt.pairs(tags, names)) if tags is not None else []
    if fmt.mirror_read is not None:
        # The mirrored block (a WAV's INFO) fills in what the main tags lack, so that adding a
        # genre to a file whose only genre is an INFO one keeps that genre.
        present = {field for field, value in pairs if value}
        pairs += [(field, value) for field, value in fmt.mirror_read(audio.filename) if field not in present]
    out: dict[str, list[str]] = {}
    for field, value in pairs:
        if field == tf.YEAR.name:
            value = value.strip()[:4]
        if value:
            out.setdefault(field, []).append(value)
    return out


def _id3_pairs(tags, names: _Names) -> Iterator[tuple[str, str]]:
    by_frame = {f.id3: f.name for f in tf.STANDARD if f.id3 != "COMM"}
    for frame in tags.values():
        fid = frame.FrameID
        if fid == tf.GENRE.id3:  # TCON: numeric and (n) genres resolved
            values = frame.genres
        elif fid in by_frame or fid in ("TXXX", "COMM"):
            values = frame.text
        else:
            continue
        if fid == "TXXX":
            field = names.field_for(frame.desc)
        elif fid == "COMM":
            if frame.desc:
                continue
            field = tf.COMMENT.name
        else:
            field = by_frame[fid]
        for value in values:
            yield field, str(value)


def _vorbis_pairs(tags, names: _Names) -> Iterator[tuple[str, str]]:
    for key, value in tags:
        if key.lower() in _VORBIS_BINARY:
            continue
        yield _vorbis_field(key, names), value


_BY_VORBIS_KEY = {key: f.name for f in tf.STANDARD for key in f.vorbis}


def _vorbis_field(key: str, names: _Names) -> str:
    return _BY_VORBIS_KEY.get(key.upper()) or names.field_for(key)


def _mp4_pairs(tags, names: _Names) -> Iterator[tuple[str, str]]:
    from mutagen.id3 import TCON
    from mutagen.mp4 import AtomDataType

    by_atom = {f.mp4: f.name for f in tf.STANDARD if f.mp4_freeform is None}
    for key, values in tags.items():
        if key in by_atom:
            for value in values:
                yield by_atom[key], str(value)
        elif key == "gnre":  # the old numeric genre atom: read, never written
            for value in values:
                if 0 < value <= len(TCON.GENRES):
                    yield tf.GENRE.name, TCON.GENRES[value - 1]
        elif _mp4_freeform_name(key) is not None:
            field = names.field_for(_mp4_freeform_name(key))
            for value in values:
                if value.dataformat not in (AtomDataType.UTF8, AtomDataType.IMPLICIT):
                    continue
                try:
                    yield field, bytes(value).decode("utf-8")
                except UnicodeDecodeError:
                    continue


def _mp4_freeform_name(key: str) -> str | None:
    return key[len(tf.MP4_FREEFORM) :] if key.startswith(tf.MP4_FREEFORM) else None


class _Names:
    """Custom field <-> tag name (TXXX description, Vorbis key, MP4 freeform name)."""

    def __init__(self, field_map: Mapping[str, str] | None):
        self.to_name: dict[str, str] = {}
        for field, name in (field_map or {}).items():
            field = _norm_field(field)
            if field in tf.BY_NAME:
                raise ValueError(f"field_map cannot remap the standard field {field!r}")
            _check_name(name)
            self.to_name[field] = name
        self.to_field = {name.upper(): field for field, name in self.to_name.items()}

    def name_for(self, field: str) -> str:
        return self.to_name.get(field, field.upper())

    def field_for(self, name: str) -> str:
        return self.to_field.get(name.upper(), _norm_field(name))

    def field(self, name: str) -> tf.Field:
        """The declaration of a field: a standard one, or a custom one under its tag name."""
        return tf.BY_NAME.get(name) or tf.custom(name, self.name_for(name))


def _norm_field(field: str) -> str:
    return field.strip().lower()


def _check_name(name: str) -> None:
    # The strictest of the three formats: a Vorbis key is printable ASCII without '='.
    if not name or any(not 0x20 <= ord(c) <= 0x7D or c == "=" for c in name):
        raise ValueError(f"invalid tag name {name!r}")


# --------------------------------------------------------------------------- planning


def plan_write(
    path: str | Path,
    fields: Mapping[str, Sequence[str]],
    mode: Mode = "add",
    field_map: Mapping[str, str] | None = None,
) -> TagChange:
    """Compute what writing ``fields`` would change, without touching the file.

    ``add`` keeps existing values and appends new ones that are not already there
    (compared case-insensitively); ``replace`` replaces the named fields only (an empty
    list removes the field).
    """
    path = Path(path)
    _kind(path, TagWriteError, strict=True)
    wanted = _clean_fields(fields, mode, path)
    current = read_tags(path, field_map)
    return _plan(path, current, wanted, mode)


def _plan(path: Path, current: Mapping[str, list[str]], wanted: Mapping[str, list[str]], mode: Mode) -> TagChange:
    before = {field: list(current.get(field, [])) for field in wanted}
    after = {}
    for field, values in wanted.items():
        after[field] = _dedupe(before[field] + values if mode == "add" else values)
    return TagChange(path=path, before=before, after=after, changed=before != after)


def _clean_fields(fields: Mapping[str, Sequence[str]], mode: str, path: Path) -> dict[str, list[str]]:
    if mode not in ("add", "replace"):
        raise ValueError(f"mode must be 'add' or 'replace', not {mode!r}")
    cleaned: dict[str, list[str]] = {}
    for field, values in fields.items():
        field = _norm_field(field)
        if field in READ_ONLY_FIELDS:
            raise TagWriteError(f"field {field!r} cannot be written", path)
        try:
            _check_name(field)
        except ValueError as e:
            raise TagWriteError(str(e), path) from None
        if isinstance(values, str):
            values = [values]
        out = cleaned.setdefault(field, [])
        for value in values:
            value = str(value).strip()
            if "\0" in value:
                raise TagWriteError(f"value for {field!r} contains a NUL character", path)
            if value:
                out.append(value)
    return cleaned


def _dedupe(values: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in values:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out


# --------------------------------------------------------------------------- writing


def write(
    path: str | Path,
    change: TagChange | Mapping[str, Sequence[str]],
    mode: Mode = "add",
    *,
    field_map: Mapping[str, str] | None = None,
    keep_mtime: bool = True,
    undo: Mapping | None = None,
) -> TagChange:
    """Write tags safely and return what changed.

    ``change`` is a plan from ``plan_write`` (refused if the file's tags changed since)
    or a ``{field: [values]}`` mapping applied with ``mode``. Symlinks are written
    through to their target. Unless ``keep_mtime`` is false the file keeps its
    access and modification times. With ``undo`` (the file's ``snapshot``) the new file
    is only put in place once that snapshot is shown to restore the original from it.
    """
    path = Path(path)
    kind = _kind(path, TagWriteError, strict=True)
    names = _Names(field_map)
    if isinstance(change, TagChange):
        planned: TagChange | None = change
        wanted = _clean_fields(change.after, "replace", path)
        mode = "replace"
    else:
        planned = None
        wanted = _clean_fields(change, mode, path)
    result: list[TagChange] = []

    def edit(tmp: Path) -> bool:
        audio = _open(tmp, kind)
        plan = _plan(path, _read_values(audio, kind, names), wanted, mode)
        if planned is not None and plan.before != planned.before:
            raise TagWriteError("tags changed since the change was planned", path)
        result.append(plan)
        if not plan.changed:
            return False
        _FORMATS[kind].save(audio, tmp, kind, plan.after, names)
        if _FORMATS[kind].mirror_write is not None:
            _FORMATS[kind].mirror_write(tmp, plan.after)
        written = _read_values(_open(tmp, kind), kind, names)
        if any(written.get(f, []) != v for f, v in plan.after.items()):
            raise TagWriteError("tags did not read back as written; file left unchanged", path)
        if undo is not None:
            _check_restores(tmp, kind, undo, path)
        return True

    if undo is not None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise TagWriteError("file vanished", path) from None
        if (st.st_size, st.st_mtime_ns) != (undo.get("size"), undo.get("mtime_ns")):
            raise TagWriteError("file changed since its snapshot was taken; not written", path)
    _replace_atomically(path, edit, copy_original=True, keep_mtime=keep_mtime)
    return result[0]


def _save_id3(audio, tmp: Path, kind: str, after: Mapping[str, list[str]], names: _Names) -> None:
    if kind != "mp3" and audio.tags is None:
        audio.add_tags()
    tags = audio if kind == "mp3" else audio.tags
    v23 = tags.version[:2] == (2, 3)
    _apply_id3(tags, after, names)
    if v23:
        kept = [f for f in tags.values() if f.FrameID in _V24_ONLY_FRAMES]
        tags.update_to_v23()
        for frame in kept:
            tags.add(frame)
    # v23_sep=None: several values null-separated in v2.3 too, read back as a list.
    version = 3 if v23 else 4
    if kind == "mp3":
        tags.save(tmp, v1=1, v2_version=version, v23_sep=None)
    else:
        audio.save(tmp, v2_version=version, v23_sep=None)


def _save_vorbis(audio, tmp: Path, kind: str, after: Mapping[str, list[str]], names: _Names) -> None:
    if audio.tags is None:
        audio.add_tags()
    _apply_vorbis(audio.tags, after, names)
    audio.save(tmp)


def _save_mp4(audio, tmp: Path, kind: str, after: Mapping[str, list[str]], names: _Names) -> None:
    if audio.tags is None:
        audio.add_tags()
    _apply_mp4(audio.tags, after, names)
    audio.save(tmp)


def _apply_id3(tags, after: Mapping[str, list[str]], names: _Names) -> None:
    from mutagen.id3 import COMM, TXXX, Encoding, Frames

    for name, values in after.items():
        field = names.field(name)
        for key, frame in list(tags.items()):
            if (
                frame.FrameID == field.id3
                or (frame.FrameID == "COMM" and field.id3 == "COMM" and not frame.desc)
                or (frame.FrameID == "TXXX" and names.field_for(frame.desc) == name)
            ):
                del tags[key]
        if not values:
            continue
        if field.id3 == "COMM":
            tags.add(COMM(encoding=Encoding.UTF8, lang="eng", desc="", text=values))
        elif field.id3.startswith("TXXX:"):
            tags.add(TXXX(encoding=Encoding.UTF8, desc=field.id3[5:], text=values))
        else:
            tags.add(Frames[field.id3](encoding=Encoding.UTF8, text=values))


def _apply_vorbis(tags, after: Mapping[str, list[str]], names: _Names) -> None:
    for name, values in after.items():
        tags[:] = [(k, v) for k, v in tags if _vorbis_field(k, names) != name]
        tags.extend((names.field(name).vorbis[0], value) for value in values)


def _apply_mp4(tags, after: Mapping[str, list[str]], names: _Names) -> None:
    from mutagen.mp4 import AtomDataType, MP4FreeForm

    for name, values in after.items():
        field = names.field(name)
        for key in list(tags.keys()):
            freeform = _mp4_freeform_name(key)
            if (
                key == field.mp4
                or (field is tf.GENRE and key == "gnre")
                or (freeform is not None and names.field_for(freeform) == name)
            ):
                del tags[key]
        if not values:
            continue
        if field.mp4_freeform is None:
            tags[field.mp4] = list(values)
        else:
            tags[field.mp4] = [MP4FreeForm(v.encode("utf-8"), AtomDataType.UTF8) for v in values]


# --------------------------------------------------------------------------- undo


def snapshot(path: str | Path) -> dict:
    """Capture the file's tag blocks so ``restore`` can put them back byte for byte.

    The file is cut into "meta" segments (everything mutagen may rewrite: the ID3v2 tag
    and ID3v1 tail of an mp3, all FLAC metadata blocks, the Ogg header pages, every MP4
    top-level atom except ``mdat``, every WAV/AIFF chunk except the audio chunk) and
    "payload" segments (the audio). Meta segments are stored zlib-compressed in base64;
    payload segments only by length, plus one SHA-256 over all payload bytes, which
    restore checks before it replaces anything. The snapshot is proven before it is
    returned: rebuilt from the file it must give the file back byte for byte (a damaged
    file, such as a truncated Ogg stream, fails here, so it is never written).
    """
    path = Path(os.path.realpath(path))
    kind = _kind(path, TagReadError, strict=True)
    try:
        st = os.stat(path)
        whole = hashlib.sha256()
        with open(path, "rb") as f:
            layout = _layout(f, kind, st.st_size)
            digest = hashlib.sha256()
            segments = []
            for role, start, end in layout.segments:
                if role == "meta":
                    data = _read_range(f, start, end)
                    segments.append({"meta": base64.b64encode(zlib.compress(data, 9)).decode()})
                else:
                    for chunk in _iter_range(f, start, end):
                        digest.update(chunk)
                    segments.append({"payload": end - start})
            for chunk in _iter_range(f, 0, st.st_size):
                whole.update(chunk)
    except MusictextError:
        raise
    except Exception as e:
        if not path.exists():
            raise TagReadError("file vanished", path) from e
        raise TagReadError(f"cannot snapshot tags: {e}", path) from e
    snap = {
        "version": SNAPSHOT_VERSION,
        "path": str(path),
        "kind": kind,
        "size": st.st_size,
        "atime_ns": st.st_atime_ns,
        "mtime_ns": st.st_mtime_ns,
        "segments": segments,
        "payload_sha256": digest.hexdigest(),
        "sha256": whole.hexdigest(),
        "ogg": layout.ogg,
    }
    try:
        _check_restores(path, kind, snap, path)
    except TagWriteError as e:
        raise TagReadError(f"damaged file: an undo could not restore it exactly ({e.message})", path) from None
    return snap


def restore(path: str | Path, snap: Mapping, keep_mtime: bool = True) -> None:
    """Put back the tags captured by ``snapshot``: the file becomes byte-identical to
    the snapshotted one. With ``keep_mtime`` it also gets the snapshotted times back.

    Refused (file untouched) when the audio no longer matches the snapshot.
    """
    path = Path(path)
    kind = _kind(path, TagWriteError, strict=True)
    if snap.get("version") != SNAPSHOT_VERSION or snap.get("kind") != kind:
        raise TagWriteError("snapshot does not belong to this file", path)

    def rebuild(tmp: Path) -> bool:
        with open(os.path.realpath(path), "rb") as src, open(tmp, "r+b") as out:
            for chunk in _rebuilt(src, kind, snap, path):
                out.write(chunk)
            out.truncate()
            out.flush()
        if keep_mtime:
            os.utime(tmp, ns=(snap["atime_ns"], snap["mtime_ns"]))
        return True

    _replace_atomically(path, rebuild, copy_original=False, keep_mtime=False, times_set_by_fill=keep_mtime)


def tag_fingerprint(path: str | Path) -> str:
    """A hash of everything but the audio (every tag block, art included, and the audio's
    layout): equal fingerprints mean nobody changed the file's tags in any way since."""
    path = Path(path)
    kind = _kind(path, TagReadError, strict=False)
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(kind.encode())
            for role, start, end in _layout(f, kind, os.fstat(f.fileno()).st_size).segments:
                if role == "meta":
                    for chunk in _iter_range(f, start, end):
                        digest.update(chunk)
                else:
                    digest.update(f"payload {end - start};".encode())
    except FileNotFoundError:
        raise TagReadError("file vanished", path) from None
    except Exception as e:
        raise TagReadError(f"cannot read the file's layout: {e}", path) from None
    return digest.hexdigest()


def _rebuilt(src: BinaryIO, kind: str, snap: Mapping, path: Path) -> Iterator[bytes]:
    """The snapshotted file, rebuilt from its tag blocks and ``src``'s audio; raises (after
    the last chunk at the latest) when ``src``'s audio is not the snapshotted audio."""
    try:
        layout = _layout(src, kind, os.fstat(src.fileno()).st_size)
    except Exception as e:
        raise TagWriteError(f"cannot read the file's layout: {e}", path) from None
    payloads = [(s, e) for role, s, e in layout.segments if role == "payload"]
    wanted = [seg["payload"] for seg in snap["segments"] if "payload" in seg]
    if [e - s for s, e in payloads] != wanted:
        raise TagWriteError("audio differs from the snapshot; not restored", path)
    digest = hashlib.sha256()
    next_payload = iter(payloads)
    try:
        for seg in snap["segments"]:
            if "meta" in seg:
                yield zlib.decompress(base64.b64decode(seg["meta"]))
                continue
            start, end = next(next_payload)
            chunks = _ogg_renumbered(src, start, end, snap["ogg"]) if kind == "ogg" else _iter_range(src, start, end)
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
    except MusictextError:
        raise
    except Exception as e:  # a damaged Ogg page, a file shorter than its layout
        raise TagWriteError(f"cannot read the audio: {e}", path) from None
    if digest.hexdigest() != snap["payload_sha256"]:
        raise TagWriteError("audio differs from the snapshot; not restored", path)


def _check_restores(source: Path, kind: str, snap: Mapping, path: Path) -> None:
    """Prove that ``restore`` would turn ``source`` back into the snapshotted file, exactly."""
    whole = hashlib.sha256()
    with open(source, "rb") as src:
        for chunk in _rebuilt(src, kind, snap, path):
            whole.update(chunk)
    if "sha256" in snap and whole.hexdigest() != snap["sha256"]:
        raise TagWriteError("the file could not be restored exactly from its snapshot; not written", path)


# --------------------------------------------------------------------------- layouts


@dataclass
class _Layout:
    segments: list[tuple[str, int, int]]  # (role, start, end), contiguous, whole file
    ogg: dict | None = None


def _layout(f: BinaryIO, kind: str, size: int) -> _Layout:
    return _FORMATS[kind].layout(f, size)


def _mp3_layout(f: BinaryIO, size: int) -> _Layout:
    head = _id3v2_size(f, 0)
    tail = 128 if size - head >= 128 and _read_range(f, size - 128, size - 125) == b"TAG" else 0
    return _merge([("meta", 0, head), ("payload", head, size - tail), ("meta", size - tail, size)])


def _flac_layout(f: BinaryIO, size: int) -> _Layout:
    return _merge([("meta", 0, (end := _flac_audio_start(f))), ("payload", end, size)])


def _merge(segments: list[tuple[str, int, int]]) -> _Layout:
    merged: list[tuple[str, int, int]] = []
    for role, start, end in segments:
        if end <= start:
            continue
        if merged and merged[-1][0] == role and merged[-1][2] == start:
            merged[-1] = (role, merged[-1][1], end)
        else:
            merged.append((role, start, end))
    return _Layout(merged)


def _id3v2_size(f: BinaryIO, offset: int) -> int:
    header = _read_range(f, offset, offset + 10)
    if len(header) < 10 or header[:3] != b"ID3":
        return 0
    size = 0
    for b in header[6:10]:
        size = (size << 7) | (b & 0x7F)
    footer = 10 if header[3] == 4 and header[5] & 0x10 else 0
    return 10 + size + footer


def _flac_audio_start(f: BinaryIO) -> int:
    pos = _id3v2_size(f, 0)
    if _read_range(f, pos, pos + 4) != b"fLaC":
        raise ValueError("not a FLAC file")
    pos += 4
    while True:
        header = _read_range(f, pos, pos + 4)
        if len(header) < 4:
            raise ValueError("truncated FLAC metadata")
        pos += 4 + int.from_bytes(header[1:4], "big")
        if header[0] & 0x80:
            return pos


def _wav_layout(f: BinaryIO, size: int) -> _Layout:
    return _merge(_iff_segments(f, size, "little", b"data"))


def _aiff_layout(f: BinaryIO, size: int) -> _Layout:
    return _merge(_iff_segments(f, size, "big", b"SSND"))


def _iff_segments(f: BinaryIO, size: int, order: str, audio_chunk: bytes) -> list[tuple[str, int, int]]:
    segments = [("meta", 0, 12)]
    pos = 12
    for chunk in _iff_chunks(f, size, order):
        segments.append(("payload" if chunk.ident == audio_chunk else "meta", chunk.start, chunk.end))
        pos = chunk.end
    segments.append(("meta", pos, size))
    return segments


@dataclass(frozen=True)
class _Chunk:
    ident: bytes
    start: int  # where its 8-byte header starts
    size: int  # as its header says
    data_end: int  # start + 8 + size, clipped to the form
    end: int  # after the pad byte that follows an odd-sized chunk


def _iff_chunks(f: BinaryIO, size: int, order: str) -> list[_Chunk]:
    """The top-level chunks of a RIFF (WAV) or IFF (AIFF) file, clipped to the form's declared end."""
    header = _read_range(f, 0, 12)
    if header[:4] not in (b"RIFF", b"FORM"):
        raise ValueError("not a RIFF/IFF file")
    end = min(size, 8 + int.from_bytes(header[4:8], order))
    chunks = []
    pos = 12
    while pos + 8 <= end:
        head = _read_range(f, pos, pos + 8)
        declared = int.from_bytes(head[4:8], order)
        data_end = min(end, pos + 8 + declared)
        chunk_end = data_end + (data_end % 2 if data_end < end else 0)  # pad byte after odd chunks
        chunks.append(_Chunk(head[:4], pos, declared, data_end, chunk_end))
        pos = chunk_end
    return chunks


# --------------------------------------------------------------------------- WAV LIST/INFO
#
# mutagen has no RIFF INFO writer, so the chunk is rebuilt here: "LIST", size, "INFO", then
# entries of a four-letter key, a size and a NUL-terminated string, each padded to an even length.
# Only the LIST chunk's bytes change; whatever follows it (the audio chunk, often) is moved
# by the difference in length, byte for byte, and the move is checked.

_INFO_FIELDS = tuple(f for f in tf.STANDARD if f.riff_info)


@dataclass(frozen=True)
class _InfoList:
    chunk: _Chunk
    entries: list[tuple[bytes, bytes]]  # (key, raw value), in file order
    whole: bool  # every entry parsed and within the chunk


def _info_lists(f: BinaryIO, size: int) -> list[_InfoList]:
    """The file's LIST chunks of type INFO, parsed."""
    out = []
    for chunk in _iff_chunks(f, size, "little"):
        if chunk.ident != b"LIST":
            continue
        body = _read_range(f, chunk.start + 8, chunk.data_end)
        if body[:4] != b"INFO":
            continue
        entries, pos, whole = [], 4, chunk.data_end - chunk.start - 8 == chunk.size
        while pos + 8 <= len(body):
            length = int.from_bytes(body[pos + 4 : pos + 8], "little")
            if pos + 8 + length > len(body):
                whole = False
                break
            entries.append((body[pos : pos + 4], body[pos + 8 : pos + 8 + length]))
            pos += 8 + length + length % 2
        whole = whole and pos >= len(body)
        out.append(_InfoList(chunk, entries, whole))
    return out


def _info_text(raw: bytes) -> str:
    raw = raw.split(b"\0", 1)[0]
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:  # older tools wrote their code page; Latin-1 keeps every byte
        return raw.decode("latin-1").strip()


def _read_wav_info(filename: str) -> list[tuple[str, str]]:
    """``(field, value)`` for the fields a WAV's INFO chunks hold (the last one wins, as in ffmpeg)."""
    by_key = {f.riff_info.encode(): f.name for f in _INFO_FIELDS}
    found: dict[str, str] = {}
    try:
        with open(filename, "rb") as f:
            for info in _info_lists(f, os.fstat(f.fileno()).st_size):
                for key, raw in info.entries:
                    if key in by_key and _info_text(raw):
                        found[by_key[key]] = _info_text(raw)
    except ValueError:  # not a RIFF file: mutagen reports that better
        return []
    return list(found.items())


def _write_wav_info(tmp: Path, after: Mapping[str, list[str]]) -> None:
    """Make the INFO entries of the fields written hold their new values; a file with no
    LIST/INFO chunk is left as it is (ffmpeg reads its ID3 chunk)."""
    wanted = {
        tf.BY_NAME[name].riff_info.encode(): tf.INFO_SEPARATOR.join(values)
        for name, values in after.items()
        if name in tf.BY_NAME and tf.BY_NAME[name].riff_info
    }
    if not wanted:
        return
    with open(tmp, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        lists = _info_lists(f, size)
        if not lists:
            return
        if not all(info.whole for info in lists) or int.from_bytes(_read_range(f, 4, 8), "little") + 8 > size:
            raise ValueError("the LIST/INFO chunk is damaged; not written")
        audio_before = _payload_digest(f, size)
        growth = 0
        for i, info in reversed(list(enumerate(lists))):  # from the end, so earlier offsets hold
            # The first list gets the values (where the key was, or at its end); later lists lose
            # the keys, since ffmpeg lets a later list's entry win.
            new_values = {k: t.encode("utf-8") + b"\0" for k, t in wanted.items() if t} if i == 0 else {}
            entries = []
            for key, raw in info.entries:
                if key not in wanted:
                    entries.append((key, raw))
                elif key in new_values:
                    entries.append((key, new_values.pop(key)))
            entries += new_values.items()
            if entries == info.entries:
                continue
            body = b"INFO" + b"".join(k + len(v).to_bytes(4, "little") + v + b"\0" * (len(v) % 2) for k, v in entries)
            new = b"LIST" + len(body).to_bytes(4, "little") + body
            _splice(f, info.chunk.start, info.chunk.end, new)
            growth += len(new) - (info.chunk.end - info.chunk.start)
        riff_size = int.from_bytes(_read_range(f, 4, 8), "little") + growth
        if not 0 <= riff_size < 1 << 32:
            raise ValueError("the file would be too large for a WAV file")
        f.seek(4)
        f.write(riff_size.to_bytes(4, "little"))
        f.flush()
        size = os.fstat(f.fileno()).st_size
        if _payload_digest(f, size) != audio_before:
            raise ValueError("the audio moved wrongly while the LIST/INFO chunk was written")
        now = {}
        for info in _info_lists(f, size):
            now.update(info.entries)
        if any(now.get(key, b"\0").split(b"\0", 1)[0].decode("utf-8") != text for key, text in wanted.items()):
            raise ValueError("the LIST/INFO chunk did not read back as written")


def _payload_digest(f: BinaryIO, size: int) -> tuple[list[int], str]:
    """The audio chunk's lengths and their SHA-256."""
    digest = hashlib.sha256()
    lengths = []
    for role, start, end in _wav_layout(f, size).segments:
        if role == "payload":
            lengths.append(end - start)
            for chunk in _iter_range(f, start, end):
                digest.update(chunk)
    return lengths, digest.hexdigest()


def _splice(f: BinaryIO, start: int, end: int, data: bytes, block: int = 1 << 20) -> None:
    """Replace bytes ``start:end`` of ``f`` with ``data``, moving all that follows in blocks."""
    size = f.seek(0, os.SEEK_END)
    shift = len(data) - (end - start)
    if shift > 0:  # grow: move the tail back to front, so nothing is overwritten before it is read
        pos = size
        while pos > end:
            n = min(block, pos - end)
            pos -= n
            piece = _read_range(f, pos, pos + n)
            f.seek(pos + shift)
            f.write(piece)
    elif shift < 0:
        pos = end
        while pos < size:
            piece = _read_range(f, pos, min(size, pos + block))
            f.seek(pos + shift)
            f.write(piece)
            pos += len(piece)
        f.truncate(size + shift)
    f.seek(start)
    f.write(data)


def _mp4_layout(f: BinaryIO, size: int) -> _Layout:
    return _merge(_mp4_segments(f, size))


def _mp4_segments(f: BinaryIO, size: int) -> list[tuple[str, int, int]]:
    segments = []
    pos = 0
    while pos + 8 <= size:
        header = _read_range(f, pos, pos + 16)
        length = int.from_bytes(header[:4], "big")
        if length == 1:
            length = int.from_bytes(header[8:16], "big")
        elif length == 0:
            length = size - pos
        if length < 8:
            raise ValueError("invalid MP4 atom")
        end = min(size, pos + length)
        segments.append(("payload" if header[4:8] == b"mdat" else "meta", pos, end))
        pos = end
    segments.append(("meta", pos, size))
    return segments


def _ogg_layout(f: BinaryIO, size: int) -> _Layout:
    """Header pages (identification, comment, setup) are meta; audio pages are payload."""
    from mutagen.ogg import OggPage

    f.seek(0)
    first = OggPage(f)
    packet = first.packets[0] if first.packets else b""
    if packet.startswith(b"\x01vorbis"):
        header_packets = 3
    elif packet.startswith(b"OpusHead"):
        header_packets = 2
    else:
        raise ValueError("not an Ogg Vorbis or Opus file")
    serial, done, page = first.serial, 0, first
    while True:
        if page.serial == serial:
            done += len(page.packets) - (0 if page.complete else 1)
            if done >= header_packets:
                break
        page = OggPage(f)
    if done != header_packets:
        raise ValueError("audio starts on a header page")
    end = page.offset + page.size
    layout = _merge([("meta", 0, end), ("payload", end, size)])
    layout.ogg = {"serial": serial, "next_sequence": page.sequence + 1}
    return layout


def _ogg_renumbered(f: BinaryIO, start: int, end: int, info: Mapping) -> Iterator[bytes]:
    """Audio pages with the stream's page numbers as they were (mutagen renumbers them
    when the comment header grows or shrinks by whole pages)."""
    from mutagen.ogg import OggPage

    sequence = info["next_sequence"]
    f.seek(start)
    while f.tell() < end:
        page = OggPage(f)
        raw = _read_range(f, page.offset, page.offset + page.size)
        f.seek(page.offset + page.size)
        if page.serial == info["serial"]:
            if page.sequence != sequence:
                page.sequence = sequence
                raw = page.write()
            sequence += 1
        yield raw


def _read_range(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.read(end - start)


def _iter_range(f: BinaryIO, start: int, end: int, block: int = 1 << 20) -> Iterator[bytes]:
    f.seek(start)
    left = end - start
    while left > 0:
        chunk = f.read(min(block, left))
        if not chunk:
            raise ValueError("file is shorter than expected")
        left -= len(chunk)
        yield chunk


# --------------------------------------------------------------------------- plumbing


def _kind(path: Path, error: type[MusictextError], *, strict: bool) -> str:
    """The file's container, from its content. ``strict`` (before a write): a file whose content
    is unrecognised or disagrees with its name is refused, so no tag of the wrong kind is written."""
    suffix = path.suffix.lower()
    by_name = tf.container_for_name(path.name)
    if by_name is None:
        raise error(f"unsupported format: {suffix or '(no extension)'}", path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read below
            raise error("not a regular file", path)
        with open(path, "rb") as f:
            head = f.read(tf.SNIFF_BYTES)
            after_id3 = b""
            if head[:3] == b"ID3":
                start = _id3v2_size(f, 0)
                after_id3 = _read_range(f, start, start + tf.SNIFF_BYTES)
    except FileNotFoundError:
        raise error("file vanished", path) from None
    except OSError as e:
        raise error(f"cannot read the file: {e.strerror or e}", path) from None
    found = tf.sniff(head, after_id3)
    if found is None:
        if strict:
            raise error(
                f"content is not recognisable as {by_name.label} (nor as any format musictext tags); not written", path
            )
        return by_name.kind
    if found.kind != by_name.kind and strict:
        raise error(f"content is {found.label} but the name says {suffix}; not written", path)
    return found.kind


def _open(path: Path, kind: str):
    """Open with mutagen; ``None`` tags mean no tags yet. For mp3 this is the ID3 tag."""
    return _FORMATS[kind].open(path)


def _open_mp3(path: Path):
    from mutagen.id3 import ID3, ID3NoHeaderError

    try:
        return ID3(path)
    except ID3NoHeaderError:
        if not os.path.exists(path):
            raise FileNotFoundError(path) from None
        return ID3()


def _open_ogg(path: Path):
    import mutagen
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    audio = mutagen.File(path, options=[OggVorbis, OggOpus])
    if audio is None:
        raise TagReadError(f"unsupported format: {path.suffix.lower()} (not Vorbis or Opus)", path)
    return audio


def _open_flac(path: Path):
    from mutagen.flac import FLAC

    return FLAC(path)


def _open_mp4(path: Path):
    from mutagen.mp4 import MP4

    return MP4(path)


def _open_wav(path: Path):
    from mutagen.wave import WAVE

    return WAVE(path)


def _open_aiff(path: Path):
    from mutagen.aiff import AIFF

    return AIFF(path)


def _new_temp(real: Path) -> tuple[Path, int]:
    """A fresh temporary file next to ``real``, locked (flock) for as long as its fd is open, so
    that ``remove_leftovers`` can tell a live one from one a killed run left behind."""
    for _ in range(8):
        tmp = real.with_name(f".{real.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            kept = os.fstat(fd).st_ino == os.stat(tmp).st_ino  # not removed by a cleaner in between
        except FileNotFoundError:
            kept = False
        if kept:
            return tmp, fd
        os.close(fd)
    raise OSError(f"cannot create a temporary file next to {real.name}")


def leftover_paths(folder: str | Path, name: str | None = None) -> list[Path]:
    """Temporary files of musictext writes in ``folder`` (of the file ``name`` only, if given)."""
    prefix = f".{name}" if name else "."
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return sorted(Path(folder) / e for e in entries if e.startswith(prefix) and e.endswith(TMP_SUFFIX))


def remove_leftovers(folder: str | Path, name: str | None = None) -> list[Path]:
    """Delete the temporary files that killed writes left in ``folder``; one still locked by a
    running write is left alone. Returns the paths removed."""
    removed = []
    for tmp in leftover_paths(folder, name):
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino == os.lstat(tmp).st_ino:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass  # in use by a running write, or already gone
        finally:
            os.close(fd)
    return removed


def _replace_atomically(
    path: Path,
    fill: Callable[[Path], bool],
    *,
    copy_original: bool,
    keep_mtime: bool,
    times_set_by_fill: bool = False,
) -> None:
    """Build the new file next to the original, then swap it in with one rename.

    ``fill(tmp)`` edits the temporary file and says whether anything changed (if not,
    the original is left alone). Temporary files left by a killed earlier write are removed
    first. The original is flocked (as another program writing it would) from the copy to
    the rename, and skipped if another program holds that lock. ``times_set_by_fill`` means
    ``fill`` already set the times itself.
    """
    real = Path(os.path.realpath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise TagWriteError("file vanished", path) from None
    if not stat.S_ISREG(st.st_mode):
        raise TagWriteError("not a regular file", path)
    # Mode bits, not os.access: root may write anything, but a file the user made
    # read-only must stay untouched.
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(real, os.W_OK):
        raise TagWriteError("read-only file", path)
    if st.st_nlink > 1:
        raise TagWriteError(f"file has {st.st_nlink} hard links; replacing it would break them", path)
    try:
        original = open(real, "rb")
    except FileNotFoundError:
        raise TagWriteError("file vanished", path) from None
    except OSError as e:
        raise TagWriteError(f"cannot open the file: {e.strerror}", path) from None
    with original:
        try:
            fcntl.flock(original, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TagWriteError("another program has the file locked (flock); not written", path) from None
        if os.fstat(original.fileno()).st_ino != st.st_ino:
            raise TagWriteError("file changed while its tags were written; left as it is", path)
        remove_leftovers(real.parent, real.name)
        try:
            tmp, fd = _new_temp(real)
        except OSError as e:
            raise TagWriteError(f"cannot create a temporary file: {e.strerror or e}", path) from None
        try:
            _fill_and_replace(path, real, st, original, tmp, fd, fill, copy_original, keep_mtime, times_set_by_fill)
        except BaseException as e:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            if isinstance(e, MusictextError) and not isinstance(e, TagWriteError):
                raise TagWriteError(e.message, path) from e
            if isinstance(e, Exception) and not isinstance(e, MusictextError):
                raise TagWriteError(f"cannot write tags: {e}", path) from e
            raise
        finally:
            os.close(fd)
    fsync_dir(real.parent)


def _fill_and_replace(path, real, st, original, tmp, fd, fill, copy_original, keep_mtime, times_set_by_fill) -> None:
    if copy_original:
        with os.fdopen(os.dup(fd), "wb") as out:
            shutil.copyfileobj(original, out, 1 << 20)
    if not fill(tmp):
        tmp.unlink()
        return
    if os.geteuid() == 0:
        os.chown(tmp, st.st_uid, st.st_gid)
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if not times_set_by_fill:
        if keep_mtime:
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        else:
            os.utime(tmp)
    os.fsync(fd)
    try:
        now = os.stat(real)
    except FileNotFoundError:
        raise TagWriteError("file vanished", path) from None
    if (now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
        raise TagWriteError("file changed while its tags were written; left as it is", path)
    os.replace(tmp, real)


# --------------------------------------------------------------------------- the format dispatch


@dataclass(frozen=True)
class _Format:
    """All that differs between containers, in one table: how mutagen opens it, how its tags
    are read and saved (by tag style, see ``fields.Container.style``) and how it is laid out."""

    open: Callable[[Path], object]
    layout: Callable[[BinaryIO, int], _Layout]
    pairs: Callable[..., Iterator[tuple[str, str]]]
    save: Callable[..., None]
    # A second tag block that other programs read instead (a WAV's LIST/INFO): read to fill in
    # what the tags lack, and kept equal to them for the fields it has, after every save.
    mirror_read: Callable[[str], list[tuple[str, str]]] | None = None
    mirror_write: Callable[[Path, Mapping[str, list[str]]], None] | None = None


_STYLES = {"id3": (_id3_pairs, _save_id3), "vorbis": (_vorbis_pairs, _save_vorbis), "mp4": (_mp4_pairs, _save_mp4)}
_OPEN_AND_LAYOUT = {
    "mp3": (_open_mp3, _mp3_layout),
    "flac": (_open_flac, _flac_layout),
    "ogg": (_open_ogg, _ogg_layout),
    "mp4": (_open_mp4, _mp4_layout),
    "wav": (_open_wav, _wav_layout),
    "aiff": (_open_aiff, _aiff_layout),
}
_MIRRORS = {"wav": (_read_wav_info, _write_wav_info)}
_FORMATS = {
    kind: _Format(*_OPEN_AND_LAYOUT[kind], *_STYLES[container.style], *_MIRRORS.get(kind, ()))
    for kind, container in tf.CONTAINERS.items()
}
