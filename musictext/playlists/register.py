"""The register of the playlists musictext wrote (``playlists.json`` in the data folder): each
file's recipe, path style and the tracks written, for ``--update`` and for reading a file back when
a server rewrote it without its ``#MUSICTEXT:`` line (MPD does, when a client edits it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from musictext.atomic import atomic_write
from musictext.errors import MusictextError
from musictext.playlists.m3u import PathStyle, read_m3u, read_recipe_line

RECIPE_VERSION = 1


def register_path() -> Path:
    from musictext.config import home

    return home() / "playlists.json"


def load_register() -> dict[str, dict]:
    """{absolute path of a playlist file: what musictext wrote there}."""
    path = register_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise MusictextError(f"cannot read the register of playlists ({exc})", path) from None
    return data.get("playlists", {}) if isinstance(data, dict) else {}


def save_register(entries: dict[str, dict]) -> None:
    atomic_write(register_path(), json.dumps({"v": RECIPE_VERSION, "playlists": entries}, indent=1) + "\n")


def listed_paths(path: str | os.PathLike) -> list[str]:
    """The tracks a playlist file lists (as `read_m3u`), read the way musictext wrote it even when a
    server rewrote it without the ``#MUSICTEXT:`` line (the register remembers the path style)."""
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    style = None
    if read_recipe_line(path) is None:
        paths = (load_register().get(str(path)) or {}).get("paths")
        style = PathStyle.from_json(paths) if isinstance(paths, dict) else None
    return read_m3u(path, style)
