"""Playlist files: M3U/M3U8 read (for ``--exclude`` and ``--update``) and extended M3U written
atomically. How a file names its tracks (relative to its own folder, to a server's music folder,
or absolute as a server sees them) is a `PathStyle`; `targets` picks one per server."""

from __future__ import annotations

import json
import os
import posixpath
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from musictext.atomic import atomic_write
from musictext.errors import MusictextError, NotFoundError
from musictext.library.store import TrackRow

if TYPE_CHECKING:
    from musictext.playlists.records import Playlist


RECIPE_PREFIX = "#MUSICTEXT:"  # a comment line players skip: how musictext made the playlist (JSON)


@dataclass(frozen=True)
class PathStyle:
    """How a playlist file names its tracks: relative to ``base`` (None: the file's own folder), or
    absolute, with ``path_map`` prefixes replaced by what a server sees (``/home/me/Music`` ->
    ``/music``); ``within``: only tracks inside this folder can be listed (MPD's music_directory)."""

    base: str | None = None
    absolute: bool = False
    path_map: tuple[tuple[str, str], ...] = ()
    within: str | None = None
    within_what: str = ""  # says what ``within`` is, in a skip reason

    def as_json(self) -> dict:
        return {"base": self.base, "absolute": self.absolute, "path_map": [list(m) for m in self.path_map]}

    @classmethod
    def from_json(cls, data: dict) -> PathStyle:
        return cls(
            base=data.get("base"),
            absolute=bool(data.get("absolute")),
            path_map=tuple((str(a), str(b)) for a, b in data.get("path_map") or ()),
        )


def inside(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` when it is inside it (through the names given, else through
    resolved links), else None."""
    for p, f in ((os.path.abspath(path), os.path.abspath(folder)), (os.path.realpath(path), os.path.realpath(folder))):
        try:
            rel = os.path.relpath(p, f)
        except ValueError:
            continue
        if rel != os.pardir and not rel.startswith(os.pardir + os.sep) and not os.path.isabs(rel):
            return rel
    return None


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError("no such playlist", path) from None
    except IsADirectoryError:
        raise MusictextError("is a folder, not a playlist file", path) from None
    except OSError as exc:
        raise MusictextError(f"cannot read the playlist ({exc.strerror or exc})", path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # legacy .m3u files are often in the system code page


def read_recipe_line(path: str | os.PathLike) -> dict | None:
    """The JSON of a playlist's ``#MUSICTEXT:`` line (None when it has none, or a broken one)."""
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    for line in _read_text(path).split("\n"):
        if line.startswith(RECIPE_PREFIX):
            try:
                data = json.loads(line[len(RECIPE_PREFIX) :])
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def read_m3u(path: str | os.PathLike, style: PathStyle | None = None) -> list[str]:
    """The absolute paths an M3U/M3U8 playlist lists, in order. Relative lines are resolved from
    the style's base (a playlist musictext wrote says its own in its ``#MUSICTEXT:`` line), else
    from the file's folder; absolute ones mapped back through the style's ``path_map``."""
    from urllib.parse import unquote, urlparse

    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    text = _read_text(path)
    if style is None:
        recipe = next((line for line in text.split("\n") if line.startswith(RECIPE_PREFIX)), None)
        try:
            paths = json.loads(recipe[len(RECIPE_PREFIX) :]).get("paths") if recipe else None
            style = PathStyle.from_json(paths) if isinstance(paths, dict) else None
        except (ValueError, AttributeError, TypeError):
            style = None
    base = str(path.parent) if style is None or style.base is None else style.base
    back = [(server, local) for local, server in (style.path_map if style else ())]
    out = []
    for line in text.split("\n"):  # not splitlines(): a name may hold \x1c, \x85 or \u2028
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("file://"):
            line = unquote(urlparse(line).path)
        elif re.match(r"^[a-z][a-z0-9+.-]*://", line, re.IGNORECASE):
            continue  # a stream URL: nothing in the library
        for server, local in sorted(back, key=lambda m: -len(m[0])):
            rest = _under_posix(line, server)
            if rest is not None:
                line = os.path.join(local, *rest.split("/")) if rest else local
                break
        out.append(os.path.normpath(os.path.join(base, os.path.expanduser(line))))
    return out


def _under_posix(path: str, folder: str) -> str | None:
    """The part of ``path`` below ``folder`` ('' for the folder itself), compared by whole names."""
    folder = folder.rstrip("/") or "/"
    if path == folder:
        return ""
    prefix = folder if folder.endswith("/") else folder + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def slugify(name: str, fallback: str = "playlist") -> str:
    """A file name from a playlist name: lower case, letters, digits and dashes."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80].strip("-")
    return text or fallback


def names_folder(output: str | os.PathLike) -> bool:
    """Whether ``-o`` names a folder: an existing one, or one written with a trailing slash."""
    text = os.path.expanduser(str(output))
    return text.endswith(("/", os.sep)) or os.path.isdir(text)


def file_stem(name: str, fallback: str = "playlist") -> str:
    """A file name that reads as the playlist's name (for servers that show the file's name):
    the name itself, without the characters a file name (on any system a share may use) cannot
    hold, nor control characters, nor leading dots."""
    text = unicodedata.normalize("NFC", _one_line(name))
    text = re.sub(r'[/\\:*?"<>|]+', " ", text)
    text = " ".join(text.split()).strip(" .")[:120].strip(" .")
    return text or fallback


def output_paths(
    playlists: Sequence[Playlist],
    output: str | os.PathLike,
    folder: bool = False,
    ext: str = ".m3u8",
    stem: Callable[[str], str] = slugify,
    taken: Sequence[str] = (),
) -> list[Path]:
    """Where each playlist goes: ``output`` itself, or with ``folder`` a ``<slug>.m3u8`` file per
    playlist in that folder (``stem`` and ``ext`` say how a name becomes a file name), named after
    the playlist and made unique (also against the file names in ``taken``)."""
    dest = Path(os.path.abspath(os.path.expanduser(str(output))))
    if not folder:
        if len(playlists) != 1:
            raise MusictextError("several playlists need a folder to go in", dest)
        return [dest]
    if dest.exists() and not dest.is_dir():
        raise MusictextError("not a folder", dest)
    sep = "-" if stem is slugify else " "
    names: list[Path] = []
    used: set[str] = {t.casefold() for t in taken}
    for p in playlists:
        name = base = stem(p.name)
        count = 2
        while (name + ext).casefold() in used:
            name = f"{base}{sep}{count}"
            count += 1
        used.add((name + ext).casefold())
        names.append(dest / f"{name}{ext}")
    return names


def _one_line(text: str) -> str:
    """Tag text fit for one M3U8 line: line breaks and runs of space made one space, and no control
    characters (a player shows none of them; a terminal showing the file would act on them)."""
    return "".join(c for c in " ".join(text.split()) if unicodedata.category(c) != "Cc")


def _extinf_title(track: TrackRow) -> str:
    title = track.title or Path(track.path).stem
    return _one_line(f"{track.artist} - {title}" if track.artist else title)


def _unlistable(path: str) -> str | None:
    """Why ``path`` cannot be a line of an M3U8 file, if it cannot."""
    if "\n" in path or "\r" in path:
        return "a line break in the name: one M3U8 line cannot hold it"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # os.fsdecode's stand-ins for bytes that are not UTF-8
        return "the name is not UTF-8: an M3U8 file cannot hold it"
    return None


def entry_line(path: str, dest: str | os.PathLike, style: PathStyle | None = None) -> tuple[str | None, str | None]:
    """(the line naming ``path`` in the playlist file ``dest``, None) or (None, why it cannot be listed)."""
    style = style or PathStyle()
    if why := _unlistable(path):
        return None, why
    if style.within is not None and inside(path, style.within) is None:
        return None, f"outside {style.within_what or style.within}: the server cannot reach it"
    if style.absolute:
        line = os.path.abspath(path)
        if style.path_map:
            for local, server in sorted(style.path_map, key=lambda m: -len(m[0])):
                rest = inside(line, local)
                if rest is not None:
                    parts = [] if rest == os.curdir else rest.split(os.sep)
                    return posixpath.join(server, *parts), None
            return None, "not under any --path-map folder: the server cannot see it"
        return line, None
    base = style.base if style.base is not None else os.path.dirname(os.path.abspath(os.fspath(dest)))
    if style.base is not None:
        rel = inside(path, base)
        if rel is None:
            return None, f"outside {base}"
        line = rel.replace(os.sep, "/")
        if line.startswith(("#", "~")) or line[:1].isspace():
            return None, "the name starts with '#', '~' or a space: a server reads the line otherwise"
        return line, None
    try:
        line = os.path.relpath(path, base)
    except ValueError:
        return path, None  # another drive (Windows): only an absolute path reaches it
    if line.startswith(("#", "~")) or line[:1].isspace():
        # "#..." reads as a comment, "~" as a home folder, a leading space is stripped.
        line = os.curdir + os.sep + line
    return line, None


def m3u8_skips(
    playlist: Playlist, dest: str | os.PathLike | None = None, style: PathStyle | None = None
) -> list[tuple[str, str]]:
    """(path, reason) for each track that `to_m3u8` leaves out of the file."""
    out = []
    for e in playlist.entries:
        _, why = entry_line(e.track.path, dest or os.curdir, style)
        if why:
            out.append((e.track.path, why))
    return out


def to_m3u8(
    playlist: Playlist,
    dest: str | os.PathLike,
    absolute: bool = False,
    style: PathStyle | None = None,
    recipe: dict | None = None,
) -> str:
    """Extended M3U in UTF-8: ``#EXTINF:<seconds>,<artist> - <title>`` then the path, relative to
    the playlist's folder unless ``absolute`` (or unless no relative path exists), or as ``style``
    says. A track whose path no line can hold is left out (`m3u8_skips` says which). ``recipe``
    goes in a ``#MUSICTEXT:`` comment line, with the style, so ``--update`` can remake the list."""
    style = style or PathStyle(absolute=absolute)
    lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(playlist.name)}"]
    if recipe is not None:
        lines.append(
            RECIPE_PREFIX + json.dumps({**recipe, "paths": style.as_json()}, ensure_ascii=True, separators=(",", ":"))
        )
    for e in playlist.entries:
        t = e.track
        path, why = entry_line(t.path, dest, style)
        if why:
            continue
        seconds = int(round(t.duration)) if t.duration is not None else -1  # -1: unknown, by convention
        lines.append(f"#EXTINF:{seconds},{_extinf_title(t)}")
        lines.append(path)
    return "\n".join(lines) + "\n"


def check_targets(targets: Sequence[Path], force: bool, make_folders: bool = False) -> None:
    """Refuse, before anything is written, to overwrite files without ``force`` or to write where
    no file can go (a missing folder is an error unless ``make_folders``)."""
    for dest in targets:
        if dest.is_dir():
            raise MusictextError("is a folder, not a playlist file", dest)
        if dest.exists() and not force:
            raise MusictextError("already exists (pass --force to overwrite)", dest)
        parent = dest.parent
        if make_folders and not parent.exists():
            blocker = next((p for p in parent.parents if p.exists()), None)
            if blocker is not None and not blocker.is_dir():
                raise MusictextError("cannot make the folder: a file is in the way", blocker)
            continue
        if not parent.is_dir():
            why = "is not a folder" if parent.exists() else "does not exist"
            raise MusictextError(f"cannot write the playlist: {parent} {why}", dest)
        if not os.access(parent, os.W_OK):
            raise MusictextError("cannot write the playlist: permission denied", dest)


def write_playlists(
    items: Sequence[tuple[Playlist, Path]],
    absolute: bool = False,
    force: bool = False,
    make_folders: bool = False,
    render: Callable[[Playlist, Path], str] | None = None,
) -> None:
    """Write each playlist to its path atomically (a temporary file then a rename), after checking
    that every one of them can be written; ``render`` makes a file's text (default: `to_m3u8`)."""
    check_targets([dest for _, dest in items], force, make_folders)
    for playlist, dest in items:
        try:
            if make_folders:
                dest.parent.mkdir(parents=True, exist_ok=True)
            text = render(playlist, dest) if render else to_m3u8(playlist, dest, absolute)
            atomic_write(dest, text)
        except OSError as exc:
            raise MusictextError(f"cannot write the playlist ({exc.strerror or exc})", dest) from None
