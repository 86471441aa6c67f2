"""Where musictext keeps its library: platformdirs by default, ``MUSICTEXT_HOME`` to override."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL = "musicnn-minilm"


def home() -> Path:
    """The data folder (SQLite store, HNSW indexes, trained bundles), created on first use."""
    override = os.environ.get("MUSICTEXT_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_data_path

        path = user_data_path("musictext", appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return home() / "library.sqlite3"


def index_dir() -> Path:
    path = home() / "index"
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_models_dir() -> Path:
    return home() / "models"
