"""Where musictext keeps its library: platformdirs by default, ``MUSICTEXT_HOME`` to override.

Only commands that write the library create the data folder (``home(create=True)``); read-only
commands (search, status, similar) work from what is there and never create it.
"""

from __future__ import annotations

import os
from pathlib import Path

from musictext.errors import MusictextError

DEFAULT_MODEL = "musicnn-minilm"
# ~3-second windows analysed per track in the default sampled mode (chosen by measurement, see
# benchmarks/); a whole-track analysis measures its descriptors on as many, so both modes agree.
DEFAULT_WINDOWS = 8


def home(create: bool = False) -> Path:
    """The data folder (SQLite store, HNSW indexes, trained bundles); ``create`` makes it if missing."""
    override = os.environ.get("MUSICTEXT_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_path

        path = user_data_path("musictext", appauthor=False)
    if create and not path.is_dir():
        if path.exists() or path.is_symlink():
            raise MusictextError("the data folder (MUSICTEXT_HOME) is not a folder", path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MusictextError(f"cannot create the data folder ({exc.strerror or exc})", path) from exc
    return path


def db_path() -> Path:
    return home() / "library.sqlite3"


def index_dir(create: bool = False) -> Path:
    path = home(create) / "index"
    if create:
        try:
            path.mkdir(exist_ok=True)
        except OSError as exc:
            raise MusictextError(f"cannot create the index folder ({exc.strerror or exc})", path) from exc
    return path


def cache_dir() -> Path | None:
    """Folder for caches (text vectors, verified checksums), or None when the data folder is
    missing or read-only: caches are an optimisation and never create the data folder."""
    base = home()
    if not base.is_dir():
        return None
    path = base / "cache"
    try:
        path.mkdir(exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def user_models_dir() -> Path:
    return home() / "models"


def config_path() -> Path:
    """The settings file: ``config.toml`` in the data folder (it need not exist)."""
    return home() / "config.toml"


def settings(section: str) -> dict:
    """One ``[section]`` of ``config.toml`` ({} when the file or the section is not there)."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    from musictext.errors import MusictextError

    path = config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise MusictextError(f"cannot read the settings ({getattr(exc, 'strerror', None) or exc})", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise MusictextError(f"not valid TOML ({exc})", path) from None
    value = data.get(section, {})
    if not isinstance(value, dict):
        raise MusictextError(f"[{section}] should be a table of settings", path)
    return value
