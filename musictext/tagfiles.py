"""Read and write tags in user files: the only module that touches tags (via mutagen).

Writes never edit a user file in place. The file is copied to a hidden temporary file in
the same folder, mutagen edits the copy, the copy is checked, fsynced and then renamed
over the original with ``os.replace``, so a crash or ``kill -9`` leaves either the old
file or the new one, never a mix. Audio data is never rewritten by musictext itself.

Tag mapping (``FIELDS`` plus custom fields; a custom field ``instrument`` is stored under
the name ``INSTRUMENT`` unless ``field_map`` says otherwise):

=============  =====================  ===================  ==================================
field          ID3 (mp3, wav, aiff)   Vorbis comments      MP4
=============  =====================  ===================  ==================================
artist         TPE1                   ARTIST               ©ART
title          TIT2                   TITLE                ©nam
album          TALB                   ALBUM                ©alb
albumartist    TPE2                   ALBUMARTIST          aART
genre          TCON                   GENRE                ©gen (gnre read only)
mood           TMOO                   MOOD                 ----:com.apple.iTunes:MOOD
year (read)    TDRC (TYER in v2.3)    DATE, YEAR           ©day
bpm (read)     TBPM                   BPM                  tmpo
comment        COMM (empty desc)      COMMENT, DESCRIPTION ©cmt
grouping       TIT1                   GROUPING             ©grp
custom NAME    TXXX:NAME              NAME                 ----:com.apple.iTunes:NAME (utf-8)
=============  =====================  ===================  ==================================

Several values are stored the way beets' mediafile reads lists: one ID3 text frame holding
several null-separated strings (also in ID3v2.3 files, which stay v2.3), repeated Vorbis
keys, and several MP4 data items in one atom.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import stat
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from musictext.errors import MusictextError, TagReadError, TagWriteError

Mode = Literal["add", "replace"]

FIELDS = (
    "artist",
    "title",
    "album",
    "albumartist",
    "genre",
    "mood",
    "year",
    "bpm",
    "comment",
    "grouping",
)
# Derived from richer tags (a full date, a number); writing them back could lose data.
READ_ONLY_FIELDS = frozenset({"year", "bpm"})

TMP_SUFFIX = ".musictext-tmp"
SNAPSHOT_VERSION = 1

_KINDS = {
    ".mp3": "mp3",
    ".flac": "flac",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".opus": "ogg",
    ".m4a": "mp4",
    ".m4b": "mp4",
    ".mp4": "mp4",
    ".wav": "wav",
    ".aif": "aiff",
    ".aiff": "aiff",
    ".aifc": "aiff",
}

_ID3_FRAMES = {
    "artist": "TPE1",
    "title": "TIT2",
    "album": "TALB",
    "albumartist": "TPE2",
    "genre": "TCON",
    "mood": "TMOO",
    "year": "TDRC",
    "bpm": "TBPM",
    "grouping": "TIT1",
}
# Frames new in ID3v2.4 that update_to_v23() would drop; mediafile and mutagen read them
# in v2.3 files too, so they are kept (TMOO is how mood is stored in a v2.3 file).
_V24_ONLY_FRAMES = frozenset(
    {"ASPI", "EQU2", "RVA2", "SEEK", "SIGN", "TDEN", "TDRL", "TDTG", "TMOO", "TPRO"}
    | {"TSOA", "TSOP", "TSOT", "TSST"}
)
_VORBIS_KEYS = {
    "artist": ("ARTIST",),
    "title": ("TITLE",),
    "album": ("ALBUM",),
    "albumartist": ("ALBUMARTIST", "ALBUM ARTIST"),
    "genre": ("GENRE",),
    "mood": ("MOOD",),
    "year": ("DATE", "YEAR"),
    "bpm": ("BPM",),
    "comment": ("COMMENT", "DESCRIPTION"),
    "grouping": ("GROUPING",),
}
_VORBIS_BINARY = frozenset({"metadata_block_picture", "coverart", "coverartmime"})
_MP4_ATOMS = {
    "artist": "\xa9ART",
    "title": "\xa9nam",
    "album": "\xa9alb",
    "albumartist": "aART",
    "genre": "\xa9gen",
    "year": "\xa9day",
    "bpm": "tmpo",
    "comment": "\xa9cmt",
    "grouping": "\xa9grp",
}
_MP4_FREEFORM = "----:com.apple.iTunes:"


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
    kind = _kind(path, TagReadError)
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
    tags = audio if kind == "mp3" else audio.tags
    if tags is None:
        return {}
    if kind in ("mp3", "wav", "aiff"):
        pairs = _id3_pairs(tags, names)
    elif kind in ("flac", "ogg"):
        pairs = _vorbis_pairs(tags, names)
    else:
        pairs = _mp4_pairs(tags, names)
    out: dict[str, list[str]] = {}
    for field, value in pairs:
        if field == "year":
            value = value.strip()[:4]
        if value:
            out.setdefault(field, []).append(value)
    return out


def _id3_pairs(tags, names: _Names) -> Iterator[tuple[str, str]]:
    by_frame = {frame_id: field for field, frame_id in _ID3_FRAMES.items()}
    for frame in tags.values():
        fid = frame.FrameID
        if fid == "TCON":
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
            field = "comment"
        else:
            field = by_frame[fid]
        for value in values:
            yield field, str(value)


def _vorbis_pairs(tags, names: _Names) -> Iterator[tuple[str, str]]:
    for key, value in tags:
        if key.lower() in _VORBIS_BINARY:
            continue
        yield _vorbis_field(key, names), value


def _vorbis_field(key: str, names: _Names) -> str:
    upper = key.upper()
    for field, keys in _VORBIS_KEYS.items():
        if upper in keys:
            return field
    return names.field_for(key)


def _mp4_pairs(tags, names: _Names) -> Iterator[tuple[str, str]]:
    from mutagen.id3 import TCON
    from mutagen.mp4 import AtomDataType

    by_atom = {atom: field for field, atom in _MP4_ATOMS.items()}
    for key, values in tags.items():
        if key in by_atom:
            for value in values:
                yield by_atom[key], str(value)
        elif key == "gnre":
            for value in values:
                if 0 < value <= len(TCON.GENRES):
                    yield "genre", TCON.GENRES[value - 1]
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
    return key[len(_MP4_FREEFORM) :] if key.startswith(_MP4_FREEFORM) else None


class _Names:
    """Custom field <-> tag name (TXXX description, Vorbis key, MP4 freeform name)."""

    def __init__(self, field_map: Mapping[str, str] | None):
        self.to_name: dict[str, str] = {}
        for field, name in (field_map or {}).items():
            field = _norm_field(field)
            if field in FIELDS:
                raise ValueError(f"field_map cannot remap the standard field {field!r}")
            _check_name(name)
            self.to_name[field] = name
        self.to_field = {name.upper(): field for field, name in self.to_name.items()}

    def name_for(self, field: str) -> str:
        return self.to_name.get(field, field.upper())

    def field_for(self, name: str) -> str:
        return self.to_field.get(name.upper(), _norm_field(name))


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
    _kind(path, TagWriteError)
    wanted = _clean_fields(fields, mode, path)
    current = read_tags(path, field_map)
    return _plan(path, current, wanted, mode)


def _plan(
    path: Path, current: Mapping[str, list[str]], wanted: Mapping[str, list[str]], mode: Mode
) -> TagChange:
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
) -> TagChange:
    """Write tags safely and return what changed.

    ``change`` is a plan from ``plan_write`` (refused if the file's tags changed since)
    or a ``{field: [values]}`` mapping applied with ``mode``. Symlinks are written
    through to their target. Unless ``keep_mtime`` is false the file keeps its
    access and modification times.
    """
    path = Path(path)
    kind = _kind(path, TagWriteError)
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
        _save(audio, tmp, kind, plan.after, names)
        written = _read_values(_open(tmp, kind), kind, names)
        if any(written.get(f, []) != v for f, v in plan.after.items()):
            raise TagWriteError("tags did not read back as written; file left unchanged", path)
        return True

    _replace_atomically(path, edit, copy_original=True, keep_mtime=keep_mtime)
    return result[0]


def _save(audio, tmp: Path, kind: str, after: Mapping[str, list[str]], names: _Names) -> None:
    if kind in ("mp3", "wav", "aiff"):
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
    elif kind in ("flac", "ogg"):
        if audio.tags is None:
            audio.add_tags()
        _apply_vorbis(audio.tags, after, names)
        audio.save(tmp)
    else:
        if audio.tags is None:
            audio.add_tags()
        _apply_mp4(audio.tags, after, names)
        audio.save(tmp)


def _apply_id3(tags, after: Mapping[str, list[str]], names: _Names) -> None:
    from mutagen.id3 import COMM, TXXX, Encoding, Frames

    for field, values in after.items():
        frame_id = _ID3_FRAMES.get(field)
        for key, frame in list(tags.items()):
            if (
                frame.FrameID == frame_id
                or (frame.FrameID == "COMM" and field == "comment" and not frame.desc)
                or (frame.FrameID == "TXXX" and names.field_for(frame.desc) == field)
            ):
                del tags[key]
        if not values:
            continue
        if frame_id:
            tags.add(Frames[frame_id](encoding=Encoding.UTF8, text=values))
        elif field == "comment":
            tags.add(COMM(encoding=Encoding.UTF8, lang="eng", desc="", text=values))
        else:
            tags.add(TXXX(encoding=Encoding.UTF8, desc=names.name_for(field), text=values))


def _apply_vorbis(tags, after: Mapping[str, list[str]], names: _Names) -> None:
    for field, values in after.items():
        tags[:] = [(k, v) for k, v in tags if _vorbis_field(k, names) != field]
        key = _VORBIS_KEYS[field][0] if field in _VORBIS_KEYS else names.name_for(field)
        tags.extend((key, value) for value in values)


def _apply_mp4(tags, after: Mapping[str, list[str]], names: _Names) -> None:
    from mutagen.mp4 import AtomDataType, MP4FreeForm

    for field, values in after.items():
        atom = _MP4_ATOMS.get(field)
        for key in list(tags.keys()):
            name = _mp4_freeform_name(key)
            if (
                key == atom
                or (field == "genre" and key == "gnre")
                or (name is not None and names.field_for(name) == field)
            ):
                del tags[key]
        if not values:
            continue
        if atom:
            tags[atom] = list(values)
        else:
            key = _MP4_FREEFORM + names.name_for(field)
            tags[key] = [MP4FreeForm(v.encode("utf-8"), AtomDataType.UTF8) for v in values]


# --------------------------------------------------------------------------- undo


def snapshot(path: str | Path) -> dict:
    """Capture the file's tag blocks so ``restore`` can put them back byte for byte.

    The file is cut into "meta" segments (everything mutagen may rewrite: the ID3v2 tag
    and ID3v1 tail of an mp3, all FLAC metadata blocks, the Ogg header pages, every MP4
    top-level atom except ``mdat``, every WAV/AIFF chunk except the audio chunk) and
    "payload" segments (the audio). Meta segments are stored zlib-compressed in base64;
    payload segments only by length, plus one SHA-256 over all payload bytes, which
    restore checks before it replaces anything.
    """
    path = Path(os.path.realpath(path))
    kind = _kind(path, TagReadError)
    try:
        st = os.stat(path)
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
    except MusictextError:
        raise
    except Exception as e:
        if not path.exists():
            raise TagReadError("file vanished", path) from e
        raise TagReadError(f"cannot snapshot tags: {e}", path) from e
    return {
        "version": SNAPSHOT_VERSION,
        "path": str(path),
        "kind": kind,
        "size": st.st_size,
        "atime_ns": st.st_atime_ns,
        "mtime_ns": st.st_mtime_ns,
        "segments": segments,
        "payload_sha256": digest.hexdigest(),
        "ogg": layout.ogg,
    }


def restore(path: str | Path, snap: Mapping, keep_mtime: bool = True) -> None:
    """Put back the tags captured by ``snapshot``: the file becomes byte-identical to
    the snapshotted one. With ``keep_mtime`` it also gets the snapshotted times back.

    Refused (file untouched) when the audio no longer matches the snapshot.
    """
    path = Path(path)
    kind = _kind(path, TagWriteError)
    if snap.get("version") != SNAPSHOT_VERSION or snap.get("kind") != kind:
        raise TagWriteError("snapshot does not belong to this file", path)

    def rebuild(tmp: Path) -> bool:
        with open(os.path.realpath(path), "rb") as src, open(tmp, "r+b") as out:
            layout = _layout(src, kind, os.fstat(src.fileno()).st_size)
            payloads = [(s, e) for role, s, e in layout.segments if role == "payload"]
            wanted = [seg["payload"] for seg in snap["segments"] if "payload" in seg]
            if [e - s for s, e in payloads] != wanted:
                raise TagWriteError("audio differs from the snapshot; not restored", path)
            digest = hashlib.sha256()
            next_payload = iter(payloads)
            for seg in snap["segments"]:
                if "meta" in seg:
                    out.write(zlib.decompress(base64.b64decode(seg["meta"])))
                    continue
                start, end = next(next_payload)
                if kind == "ogg":
                    chunks = _ogg_renumbered(src, start, end, snap["ogg"])
                else:
                    chunks = _iter_range(src, start, end)
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != snap["payload_sha256"]:
                raise TagWriteError("audio differs from the snapshot; not restored", path)
            out.truncate()
            out.flush()
        if keep_mtime:
            os.utime(tmp, ns=(snap["atime_ns"], snap["mtime_ns"]))
        return True

    _replace_atomically(path, rebuild, copy_original=False, keep_mtime=False, times_set_by_fill=keep_mtime)


# --------------------------------------------------------------------------- layouts


@dataclass
class _Layout:
    segments: list[tuple[str, int, int]]  # (role, start, end), contiguous, whole file
    ogg: dict | None = None


def _layout(f: BinaryIO, kind: str, size: int) -> _Layout:
    if kind == "mp3":
        head = _id3v2_size(f, 0)
        tail = 128 if size - head >= 128 and _read_range(f, size - 128, size - 125) == b"TAG" else 0
        return _merge([("meta", 0, head), ("payload", head, size - tail), ("meta", size - tail, size)])
    if kind == "flac":
        return _merge([("meta", 0, (end := _flac_audio_start(f))), ("payload", end, size)])
    if kind in ("wav", "aiff"):
        return _merge(_iff_segments(f, kind, size))
    if kind == "mp4":
        return _merge(_mp4_segments(f, size))
    return _ogg_layout(f, size)


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


def _iff_segments(f: BinaryIO, kind: str, size: int) -> list[tuple[str, int, int]]:
    order, audio_chunk = ("little", b"data") if kind == "wav" else ("big", b"SSND")
    header = _read_range(f, 0, 12)
    if header[:4] not in (b"RIFF", b"FORM"):
        raise ValueError("not a RIFF/IFF file")
    end = min(size, 8 + int.from_bytes(header[4:8], order))
    segments = [("meta", 0, 12)]
    pos = 12
    while pos + 8 <= end:
        chunk = _read_range(f, pos, pos + 8)
        chunk_end = min(end, pos + 8 + int.from_bytes(chunk[4:8], order))
        chunk_end += chunk_end % 2 if chunk_end < end else 0  # pad byte after odd chunks
        segments.append(("payload" if chunk[:4] == audio_chunk else "meta", pos, chunk_end))
        pos = chunk_end
    segments.append(("meta", pos, size))
    return segments


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


def _kind(path: Path, error: type[MusictextError]) -> str:
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise error(f"unsupported format: {path.suffix.lower() or '(no extension)'}", path)
    return kind


def _open(path: Path, kind: str):
    """Open with mutagen; ``None`` tags mean no tags yet. For mp3 this is the ID3 tag."""
    if kind == "mp3":
        from mutagen.id3 import ID3, ID3NoHeaderError

        try:
            return ID3(path)
        except ID3NoHeaderError:
            if not os.path.exists(path):
                raise FileNotFoundError(path) from None
            return ID3()
    if kind == "flac":
        from mutagen.flac import FLAC

        return FLAC(path)
    if kind == "wav":
        from mutagen.wave import WAVE

        return WAVE(path)
    if kind == "aiff":
        from mutagen.aiff import AIFF

        return AIFF(path)
    if kind == "mp4":
        from mutagen.mp4 import MP4

        return MP4(path)
    import mutagen
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    audio = mutagen.File(path, options=[OggVorbis, OggOpus])
    if audio is None:
        raise TagReadError(f"unsupported format: {path.suffix.lower()} (not Vorbis or Opus)", path)
    return audio


def _temp_path(real: Path) -> Path:
    return real.with_name(f".{real.name}{TMP_SUFFIX}")


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
    the original is left alone). A temporary file left by a killed earlier run is removed
    first. ``times_set_by_fill`` means ``fill`` already set the times itself.
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
    tmp = _temp_path(real)
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise TagWriteError(f"cannot create a temporary file: {e.strerror}", path) from None
    try:
        with os.fdopen(fd, "wb") as out:
            if copy_original:
                try:
                    with open(real, "rb") as src:
                        shutil.copyfileobj(src, out, 1 << 20)
                except FileNotFoundError:
                    raise TagWriteError("file vanished", path) from None
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
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            now = os.stat(real)
        except FileNotFoundError:
            raise TagWriteError("file vanished", path) from None
        if (now.st_ino, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_size, st.st_mtime_ns):
            raise TagWriteError("file changed while its tags were written; left as it is", path)
        os.replace(tmp, real)
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
    _fsync_dir(real.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
