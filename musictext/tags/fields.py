"""Tag fields and containers, each declared once across formats (mediafile's ``MediaField`` idea).

A ``Field`` names where one field lives in each tag style: an ID3 frame (``COMM`` is the comment
with an empty description, ``TXXX:NAME`` a user text frame), the Vorbis comment keys (the first is
written, all are read), an MP4 atom (``----:com.apple.iTunes:NAME`` is a freeform atom) and, for a few
fields, the RIFF INFO key of a WAV file's ``LIST/INFO`` chunk. A custom field (``instrument``) lives in
``TXXX:INSTRUMENT`` / ``INSTRUMENT`` / ``----:com.apple.iTunes:INSTRUMENT``.

The INFO key matters because ffmpeg (and so ffprobe and the tools built on it) reads a WAV's ID3 chunk
only when the file has no ``LIST/INFO`` chunk ("Discarding ID3 tags because more suitable tags were
found"), and ffmpeg writes one into every WAV it makes. So in such a file the INFO entry is kept equal
to what the ID3 chunk holds (several values joined with ``INFO_SEPARATOR``, INFO holding one string).

A ``Container`` is a file format: its tag style, its file name extensions and how its first bytes
look, so a file's format comes from its content and a name that disagrees is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass

MP4_FREEFORM = "----:com.apple.iTunes:"
INFO_SEPARATOR = "; "  # Navidrome splits genre on ";" (and "/" ","), Jellyfin's delimiters include ";"


@dataclass(frozen=True)
class Field:
    name: str
    id3: str
    vorbis: tuple[str, ...]
    mp4: str
    read_only: bool = False  # derived from richer tags (a full date, a number): writing could lose data
    describes: bool = False  # describes the music, so a vocabulary may write it
    riff_info: str | None = None  # the RIFF INFO key (IGNR) mirrored in a WAV's LIST/INFO chunk

    @property
    def mp4_freeform(self) -> str | None:
        """The freeform name (``MOOD``) when the MP4 atom is a freeform one."""
        return self.mp4[len(MP4_FREEFORM) :] if self.mp4.startswith(MP4_FREEFORM) else None


ARTIST = Field("artist", "TPE1", ("ARTIST",), "\xa9ART", riff_info="IART")
TITLE = Field("title", "TIT2", ("TITLE",), "\xa9nam", riff_info="INAM")
ALBUM = Field("album", "TALB", ("ALBUM",), "\xa9alb", riff_info="IPRD")
ALBUMARTIST = Field("albumartist", "TPE2", ("ALBUMARTIST", "ALBUM ARTIST"), "aART")
GENRE = Field("genre", "TCON", ("GENRE",), "\xa9gen", describes=True, riff_info="IGNR")  # MP4 ``gnre`` is read too
MOOD = Field("mood", "TMOO", ("MOOD",), MP4_FREEFORM + "MOOD", describes=True)
YEAR = Field(
    "year", "TDRC", ("DATE", "YEAR"), "\xa9day", read_only=True, riff_info="ICRD"
)  # TYER in v2.3, read as 4 digits
BPM = Field("bpm", "TBPM", ("BPM",), "tmpo", read_only=True)
COMMENT = Field("comment", "COMM", ("COMMENT", "DESCRIPTION"), "\xa9cmt", describes=True, riff_info="ICMT")
GROUPING = Field("grouping", "TIT1", ("GROUPING",), "\xa9grp", describes=True)

STANDARD: tuple[Field, ...] = (ARTIST, TITLE, ALBUM, ALBUMARTIST, GENRE, MOOD, YEAR, BPM, COMMENT, GROUPING)
BY_NAME = {f.name: f for f in STANDARD}

# Tag names that hold facts about a file or a release, not descriptions: a vocabulary (or a
# --field-name) may not write them even though they would be stored as custom text tags.
_RESERVED_NAMES = frozenset(
    {
        "date", "originaldate", "tracknumber", "tracktotal", "totaltracks", "discnumber", "disctotal",
        "totaldiscs", "composer", "performer", "conductor", "lyricist", "lyrics", "unsyncedlyrics",
        "isrc", "barcode", "catalognumber", "label", "publisher", "copyright", "license", "encoder",
        "encodedby", "encoder_settings", "compilation", "language", "script", "media", "asin",
        "artistsort", "albumsort", "titlesort", "albumartistsort", "composersort", "key", "initialkey",
        "length", "originalyear", "releasecountry", "releasestatus", "releasetype", "website",
    }
)  # fmt: skip
_RESERVED_PREFIXES = ("replaygain_", "r128_", "musicbrainz_", "musicbrainz ", "acoustid_", "acoustid ", "itunes")


def custom(field: str, tag_name: str) -> Field:
    """A field outside ``STANDARD``, stored under ``tag_name`` in every style."""
    return Field(field, f"TXXX:{tag_name}", (tag_name,), MP4_FREEFORM + tag_name, describes=True)


def describing_field(name: str) -> bool:
    """May a vocabulary write this field (or store a custom field under this tag name)?

    Descriptions only: genre, mood, grouping, comment, and custom text fields whose name is not
    one of the known file or release facts (title, track number, ReplayGain, MusicBrainz ids...).
    """
    key = name.strip().lower()
    if key in BY_NAME:
        return BY_NAME[key].describes
    standard_keys = {k.lower() for f in STANDARD for k in f.vorbis} | {f.id3.lower() for f in STANDARD}
    if key in standard_keys or key in _RESERVED_NAMES:
        return False
    return not key.startswith(_RESERVED_PREFIXES)


# --------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class Container:
    kind: str  # mp3, flac, ogg, mp4, wav, aiff
    style: str  # id3, vorbis or mp4: where the tags live and how they are named
    extensions: tuple[str, ...]
    label: str  # for messages


CONTAINERS = {
    c.kind: c
    for c in (
        Container("mp3", "id3", (".mp3",), "MP3"),
        Container("flac", "vorbis", (".flac",), "FLAC"),
        Container("ogg", "vorbis", (".ogg", ".oga", ".opus"), "Ogg"),
        Container("mp4", "mp4", (".m4a", ".m4b", ".mp4"), "MP4"),
        Container("wav", "id3", (".wav",), "WAV"),
        Container("aiff", "id3", (".aif", ".aiff", ".aifc"), "AIFF"),
    )
}
_BY_EXTENSION = {ext: c for c in CONTAINERS.values() for ext in c.extensions}
SNIFF_BYTES = 64


def container_for_name(name: str) -> Container | None:
    """The container a file name's extension promises."""
    dot = name.rfind(".")
    return _BY_EXTENSION.get(name[dot:].lower()) if dot >= 0 else None


def sniff(head: bytes, after_id3: bytes = b"") -> Container | None:
    """The container the file's first bytes show (``after_id3``: the bytes after a leading ID3v2
    tag, which MP3 files and some FLAC files start with); ``None`` when unrecognised."""
    if head[:3] == b"ID3":
        # What follows the tag decides; an unrecognised rest is MP3 data, as mutagen reads it.
        inner = sniff(after_id3) if after_id3[:3] != b"ID3" else None
        return inner or CONTAINERS["mp3"]
    if head[:4] == b"fLaC":
        return CONTAINERS["flac"]
    if head[:4] == b"OggS":
        return CONTAINERS["ogg"]
    if head[4:8] == b"ftyp":
        return CONTAINERS["mp4"]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return CONTAINERS["wav"]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return CONTAINERS["aiff"]
    if _mpeg_sync(head):
        return CONTAINERS["mp3"]
    return None


def _mpeg_sync(data: bytes) -> bool:
    # An MPEG audio frame header: 11 set sync bits, a valid layer (not 00).
    return len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06 != 0
