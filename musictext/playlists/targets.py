"""Playlist files written the way the server that reads them expects (``--for``).

- ``mpd``: MPD's stored playlists are ``.m3u`` files in its ``playlist_directory`` whose lines are
  paths relative to its ``music_directory`` (MPD ignores ``.m3u8`` there and does not resolve
  paths from the playlist's folder). A playlist written inside the music folder is one MPD finds
  on its next update, and its lines are relative to the file. Either way, a track outside the
  music folder cannot be listed: it is left out with a reason.
- ``navidrome``: ``.m3u8`` inside the library, named by its ``#PLAYLIST:`` line, paths relative to
  the file (absolute only with ``--absolute``, mapped with ``--path-map`` when the server sees
  the library elsewhere, as in a container).
- ``jellyfin``: ``.m3u8`` inside a library folder; Jellyfin names the playlist after the file,
  so the file is named after the playlist (not a slug).
- ``generic``: ``.m3u8`` named by slug, paths relative to the file (or ``--absolute``).

Defaults come from ``[playlist]`` in ``config.toml`` in the data folder, and, for MPD, from its
own ``mpd.conf`` when one is found.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from musictext.errors import MusictextError
from musictext.playlists.m3u import PathStyle, file_stem, inside, slugify

TARGETS = ("generic", "mpd", "navidrome", "jellyfin")
SETTINGS = ("for", "music_dir", "dir", "mpd_conf", "absolute", "path_map")  # keys of [playlist] in config.toml


def mpd_conf_candidates() -> list[Path]:
    """Where MPD looks for its configuration, in MPD's order."""
    home = Path.home()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    return [Path(xdg) / "mpd" / "mpd.conf", home / ".mpdconf", home / ".mpd" / "mpd.conf", Path("/etc/mpd.conf")]


@dataclass(frozen=True)
class MpdConf:
    path: Path
    music_directory: Path | None
    playlist_directory: Path | None


def _conf_value(text: str) -> str:
    """A value of an mpd.conf line: ``"quoted, with \\" and \\\\"`` or a bare word."""
    text = text.strip()
    if not text.startswith('"'):
        return text.split("#", 1)[0].strip()
    out, i = [], 1
    while i < len(text) and text[i] != '"':
        if text[i] == "\\" and i + 1 < len(text):
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def parse_mpd_conf(path: str | os.PathLike) -> MpdConf:
    """``music_directory`` and ``playlist_directory`` of an mpd.conf (``~`` is the home of MPD's
    ``user`` when it names one, as MPD reads it; blocks such as ``audio_output { ... }`` skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MusictextError(f"cannot read MPD's configuration ({exc.strerror or exc})", path) from None
    values: dict[str, str] = {}
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            depth += 1
            continue
        if line.startswith("}"):
            depth = max(0, depth - 1)
            continue
        if depth:
            continue
        key, *rest = line.split(None, 1)
        values.setdefault(key, _conf_value(rest[0] if rest else ""))

    def folder(key: str) -> Path | None:
        value = values.get(key)
        if not value:
            return None
        if value.startswith("~") and values.get("user") and value[:2] in ("~", "~/"):
            try:
                import pwd

                value = pwd.getpwnam(values["user"]).pw_dir + value[1:]
            except (ImportError, KeyError):
                pass
        return Path(os.path.abspath(os.path.expanduser(value)))

    return MpdConf(path, folder("music_directory"), folder("playlist_directory"))


def find_mpd_conf(explicit: str | os.PathLike | None = None) -> MpdConf | None:
    """The mpd.conf named in the settings, else the first one where MPD looks (None: none found)."""
    if explicit:
        return parse_mpd_conf(Path(os.path.expanduser(str(explicit))))
    for candidate in mpd_conf_candidates():
        if candidate.is_file():
            return parse_mpd_conf(candidate)
    return None


def parse_path_map(items) -> tuple[tuple[str, str], ...]:
    """``["/home/me/Music=/music", ...]`` as (local folder, the server's folder) pairs."""
    out = []
    for item in items or ():
        local, sep, server = str(item).partition("=")
        if not sep or not local.strip() or not server.strip().startswith("/"):
            raise MusictextError(f"--path-map {item!r}: write LOCAL=SERVER, as in /home/me/Music=/music")
        out.append((os.path.abspath(os.path.expanduser(local.strip())), server.strip().rstrip("/") or "/"))
    return tuple(out)


@dataclass(frozen=True)
class Target:
    """A server's way of reading playlist files, with what musictext knows of its folders."""

    kind: str = "generic"
    music_dir: Path | None = None  # the library as this machine sees it
    home: Path | None = None  # where playlists go without -o (MPD's playlist_directory, or `dir`)
    absolute: bool = False
    path_map: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)  # where the folders came from

    @property
    def ext(self) -> str:
        return ".m3u" if self.kind == "mpd" else ".m3u8"

    def stem(self, name: str) -> str:
        """A playlist's file name without the extension: MPD and Jellyfin show it as the name."""
        return file_stem(name) if self.kind in ("mpd", "jellyfin") else slugify(name)

    def in_music_dir(self, dest: Path) -> bool:
        return self.music_dir is not None and inside(str(dest), str(self.music_dir)) is not None

    def style(self, dest: Path) -> PathStyle:
        """How the file ``dest`` names its tracks."""
        if self.kind == "mpd":
            within = str(self.music_dir)
            what = f"MPD's music_directory ({within})"
            if self.in_music_dir(dest):
                return PathStyle(within=within, within_what=what)  # found by MPD's update: relative to the file
            return PathStyle(base=within, within=within, within_what=what)  # a stored playlist
        return PathStyle(absolute=self.absolute, path_map=self.path_map if self.absolute else ())

    def check(self, dest: Path) -> list[str]:
        """Refuse a file the server would not read; warnings for one it may not find."""
        if self.kind == "mpd" and not self.in_music_dir(dest) and dest.suffix.lower() != ".m3u":
            raise MusictextError("MPD reads stored playlists only from .m3u files: name it .m3u", dest)
        if self.kind in ("navidrome", "jellyfin") and self.music_dir is not None and not self.in_music_dir(dest):
            server = "Navidrome" if self.kind == "navidrome" else "Jellyfin"
            return [f"{dest}: {server} finds playlists only inside its library ({self.music_dir})"]
        return []

    def as_json(self) -> dict:
        return {
            "for": self.kind,
            "music_dir": None if self.music_dir is None else str(self.music_dir),
            "home": None if self.home is None else str(self.home),
            "absolute": self.absolute,
            "path_map": [list(m) for m in self.path_map],
        }

    @classmethod
    def from_json(cls, data: dict) -> Target:
        return cls(
            kind=data.get("for") or "generic",
            music_dir=Path(data["music_dir"]) if data.get("music_dir") else None,
            home=Path(data["home"]) if data.get("home") else None,
            absolute=bool(data.get("absolute")),
            path_map=tuple((str(a), str(b)) for a, b in data.get("path_map") or ()),
        )


def resolve_target(
    kind: str | None = None,
    music_dir: str | None = None,
    absolute: bool = False,
    path_map: list[str] | None = None,
) -> Target:
    """The target the options name, with the settings' defaults (``[playlist]`` of config.toml)
    and, for MPD, its mpd.conf: options first, then settings, then mpd.conf."""
    from musictext.config import config_path, settings

    conf = settings("playlist")
    unknown = sorted(set(conf) - set(SETTINGS))
    if unknown:
        raise MusictextError(
            f"unknown setting {unknown[0]!r} in [playlist] (known: {', '.join(SETTINGS)})", config_path()
        )
    kind = (kind or conf.get("for") or "generic").lower()
    if kind not in TARGETS:
        raise MusictextError(f"--for {kind!r}: one of {', '.join(TARGETS)}")
    absolute = absolute or bool(conf.get("absolute"))
    raw_map = path_map or conf.get("path_map") or []
    if isinstance(raw_map, str):
        raw_map = [raw_map]
    mapping = parse_path_map(raw_map)
    if mapping and not absolute:
        raise MusictextError("--path-map says how a server sees absolute paths: give --absolute too")
    music = music_dir or conf.get("music_dir")
    home = conf.get("dir")
    notes: list[str] = []
    if kind == "mpd":
        if absolute:
            raise MusictextError("--for mpd writes paths relative to MPD's music_directory: no --absolute")
        mpd = find_mpd_conf(conf.get("mpd_conf"))
        if mpd is not None:
            if music is None and mpd.music_directory is not None:
                music = str(mpd.music_directory)
                notes.append(f"music_directory {music} (from {mpd.path})")
            if home is None and mpd.playlist_directory is not None:
                home = str(mpd.playlist_directory)
                notes.append(f"playlist_directory {home} (from {mpd.path})")
        if music is None:
            looked = ", ".join(str(p) for p in mpd_conf_candidates())
            raise MusictextError(
                "--for mpd needs MPD's music_directory: give --music-dir, set music_dir in "
                f"{config_path()}, or have an mpd.conf (looked in {looked})"
            )
        if not os.path.isdir(os.path.expanduser(str(music))):
            raise MusictextError(
                f"MPD's music_directory {music} is not a folder on this machine: give --music-dir "
                "(the same folder as this machine sees it)"
            )

    def folder(value) -> Path | None:
        return None if not value else Path(os.path.abspath(os.path.expanduser(str(value))))

    return Target(kind, folder(music), folder(home), absolute, mapping, tuple(notes))
