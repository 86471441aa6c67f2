"""The library store: SQLite (WAL) is the source of truth for tracks, features, errors and the
tag-write journal. Vectors are float32 blobs labelled with the model id that produced them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from musictext.errors import MusictextError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    duration REAL,
    artist TEXT, title TEXT, album TEXT, genre TEXT, year INTEGER, bpm_tag REAL,
    tags_json TEXT NOT NULL DEFAULT '{}',
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tracks_hash ON tracks(content_hash);
-- What the audio tower measured: one row per track and audio model (a bundle's audio half).
CREATE TABLE IF NOT EXISTS audio_features (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    audio_model TEXT NOT NULL,
    mode TEXT NOT NULL,
    analysed_s REAL NOT NULL,
    probs BLOB NOT NULL,
    pooled BLOB NOT NULL,
    bpm REAL, onset_rate REAL, key INTEGER, major REAL, loudness REAL, brightness REAL, percussive REAL,
    PRIMARY KEY (track_id, audio_model)
);
-- Joint audio-text vectors: one row per track and model (a model id carries its pipeline version).
CREATE TABLE IF NOT EXISTS vectors (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (track_id, model)
);
CREATE INDEX IF NOT EXISTS vectors_model ON vectors(model);
CREATE TABLE IF NOT EXISTS errors (
    path TEXT PRIMARY KEY,
    size INTEGER, mtime_ns INTEGER,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    undone REAL
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    path TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'planned',
    at REAL NOT NULL
);
"""

TRACK_COLUMNS = ("artist", "title", "album", "genre", "year", "bpm_tag")


@dataclass(frozen=True)
class TrackRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    duration: float | None
    artist: str | None
    title: str | None
    album: str | None
    genre: str | None
    year: int | None
    bpm_tag: float | None

    @property
    def display(self) -> str:
        if self.artist and self.title:
            return f"{self.artist} – {self.title}"
        return self.title or Path(self.path).name


def to_blob(vec: np.ndarray) -> bytes:
    return np.ascontiguousarray(vec, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


class Store:
    """A connection to the library database. Use as a context manager or call close()."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    self.conn = sqlite3.connect(":memory:")
                    self.conn.executescript(SCHEMA)
                else:
                    self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            else:
                self.conn = sqlite3.connect(self.path, timeout=30)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.executescript(SCHEMA)
                self._migrate()
            self.conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise MusictextError(f"cannot open the library database ({exc})", self.path) from exc
        self.conn.row_factory = sqlite3.Row

    def _migrate(self) -> None:
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.conn.commit()
        elif int(row[0]) > SCHEMA_VERSION:
            raise MusictextError(
                f"library was written by a newer musictext (schema {row[0]} > {SCHEMA_VERSION})", self.path
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """One transaction: a killed run loses at most the batch in flight."""
        with self.conn:
            yield self.conn

    # meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def generation(self, model: str) -> int:
        """A counter bumped whenever a model's vectors change; derived indexes compare against it."""
        return int(self.get_meta(f"generation:{model}", "0") or 0)

    def bump_generation(self, model: str) -> None:
        self.set_meta(f"generation:{model}", str(self.generation(model) + 1))

    # tracks -----------------------------------------------------------------------------------
    def known_files(self) -> dict[str, tuple[int, int, int]]:
        """path -> (id, size, mtime_ns) of every track."""
        return {
            r[0]: (r[1], r[2], r[3]) for r in self.conn.execute("SELECT path, id, size, mtime_ns FROM tracks")
        }

    def tracks_by_hash(self, content_hash: str) -> list[TrackRow]:
        rows = self.conn.execute("SELECT * FROM tracks WHERE content_hash=?", (content_hash,)).fetchall()
        return [self._track(r) for r in rows]

    def upsert_track(
        self, path: str, size: int, mtime_ns: int, content_hash: str, duration: float | None, tags: dict
    ) -> int:
        now = time.time()
        flat = _flat_tags(tags)
        row = self.conn.execute("SELECT id FROM tracks WHERE path=?", (path,)).fetchone()
        values = (size, mtime_ns, content_hash, duration, *(flat[c] for c in TRACK_COLUMNS), json.dumps(tags))
        if row:
            self.conn.execute(
                "UPDATE tracks SET size=?, mtime_ns=?, content_hash=?, duration=?, artist=?, title=?, album=?,"
                " genre=?, year=?, bpm_tag=?, tags_json=?, updated_at=? WHERE id=?",
                (*values, now, row[0]),
            )
            return int(row[0])
        cur = self.conn.execute(
            "INSERT INTO tracks (size, mtime_ns, content_hash, duration, artist, title, album, genre, year,"
            " bpm_tag, tags_json, path, added_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (*values, path, now, now),
        )
        return int(cur.lastrowid)

    def move_track(self, track_id: int, new_path: str, size: int, mtime_ns: int) -> None:
        self.conn.execute(
            "UPDATE tracks SET path=?, size=?, mtime_ns=?, updated_at=? WHERE id=?",
            (new_path, size, mtime_ns, time.time(), track_id),
        )

    def touch_track(self, track_id: int, size: int, mtime_ns: int, content_hash: str | None = None) -> None:
        if content_hash:
            self.conn.execute(
                "UPDATE tracks SET size=?, mtime_ns=?, content_hash=? WHERE id=?",
                (size, mtime_ns, content_hash, track_id),
            )
        else:
            self.conn.execute("UPDATE tracks SET size=?, mtime_ns=? WHERE id=?", (size, mtime_ns, track_id))

    def update_tags(self, track_id: int, tags: dict) -> None:
        flat = _flat_tags(tags)
        self.conn.execute(
            "UPDATE tracks SET artist=?, title=?, album=?, genre=?, year=?, bpm_tag=?, tags_json=? WHERE id=?",
            (*(flat[c] for c in TRACK_COLUMNS), json.dumps(tags), track_id),
        )

    def remove_tracks(self, track_ids: Iterable[int]) -> int:
        ids = [(i,) for i in track_ids]
        self.conn.executemany("DELETE FROM tracks WHERE id=?", ids)
        return len(ids)

    def track(self, track_id: int) -> TrackRow:
        return self._track(self.conn.execute("SELECT * FROM tracks WHERE id=?", (track_id,)).fetchone())

    def track_by_path(self, path: str) -> TrackRow | None:
        row = self.conn.execute("SELECT * FROM tracks WHERE path=?", (path,)).fetchone()
        return self._track(row) if row else None

    def tracks(self, ids: Iterable[int] | None = None) -> dict[int, TrackRow]:
        if ids is None:
            rows = self.conn.execute("SELECT * FROM tracks").fetchall()
        else:
            wanted = list(ids)
            rows = []
            for i in range(0, len(wanted), 900):
                chunk = wanted[i : i + 900]
                marks = ",".join("?" * len(chunk))
                rows += self.conn.execute(f"SELECT * FROM tracks WHERE id IN ({marks})", chunk).fetchall()
        return {r["id"]: self._track(r) for r in rows}

    def track_tags(self, track_id: int) -> dict:
        row = self.conn.execute("SELECT tags_json FROM tracks WHERE id=?", (track_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def count_tracks(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0])

    @staticmethod
    def _track(r: sqlite3.Row) -> TrackRow:
        return TrackRow(**{k: r[k] for k in TrackRow.__dataclass_fields__})

    # features ---------------------------------------------------------------------------------
    def put_features(self, track_id: int, audio_model: str, feats: dict) -> None:
        d = feats["descriptors"]
        self.conn.execute(
            "INSERT OR REPLACE INTO audio_features VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                track_id,
                audio_model,
                feats["mode"],
                feats["analysed_s"],
                to_blob(feats["probs"]),
                to_blob(feats["pooled"]),
                d.get("bpm"),
                d.get("onset_rate"),
                d.get("key"),
                d.get("major"),
                d.get("loudness"),
                d.get("brightness"),
                d.get("percussive"),
            ),
        )

    def copy_features(self, src_id: int, dst_id: int) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO audio_features SELECT ?, audio_model, mode, analysed_s, probs, pooled, bpm,"
            " onset_rate, key, major, loudness, brightness, percussive FROM audio_features WHERE track_id=?",
            (dst_id, src_id),
        )
        self.conn.execute(
            "INSERT OR REPLACE INTO vectors SELECT ?, model, vector FROM vectors WHERE track_id=?",
            (dst_id, src_id),
        )

    def has_features(self, track_id: int, audio_model: str, mode: str) -> bool:
        row = self.conn.execute(
            "SELECT mode FROM audio_features WHERE track_id=? AND audio_model=?", (track_id, audio_model)
        ).fetchone()
        return row is not None and (row[0] == mode or row[0] == "full")

    def features_matrix(self, audio_model: str, ids: list[int] | None = None):
        """(ids, probs [n,100], pooled [n,d], descriptors [n,7]) for every track with features."""
        q = (
            "SELECT track_id, probs, pooled, bpm, onset_rate, key, major, loudness, brightness, percussive"
            " FROM audio_features WHERE audio_model=? ORDER BY track_id"
        )
        rows = self.conn.execute(q, (audio_model,)).fetchall()
        if ids is not None:
            keep = set(ids)
            rows = [r for r in rows if r[0] in keep]
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), {}
        track_ids = np.array([r[0] for r in rows], dtype=np.int64)
        probs = np.stack([from_blob(r[1]) for r in rows])
        pooled = np.stack([from_blob(r[2]) for r in rows])
        names = ("bpm", "onset_rate", "key", "major", "loudness", "brightness", "percussive")
        desc = {
            n: np.array([np.nan if r[3 + i] is None else r[3 + i] for r in rows], dtype=np.float32)
            for i, n in enumerate(names)
        }
        return track_ids, probs, pooled, desc

    def put_vector(self, track_id: int, model: str, vec: np.ndarray) -> None:
        self.conn.execute("INSERT OR REPLACE INTO vectors VALUES (?,?,?)", (track_id, model, to_blob(vec)))

    def vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self.conn.execute(
            "SELECT track_id, vector FROM vectors WHERE model=? ORDER BY track_id", (model,)
        ).fetchall()
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.array([r[0] for r in rows], dtype=np.int64), np.stack([from_blob(r[1]) for r in rows])

    def vector_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model")}

    def feature_counts(self) -> dict[str, int]:
        q = "SELECT audio_model, COUNT(*) FROM audio_features GROUP BY audio_model"
        return {r[0]: r[1] for r in self.conn.execute(q)}

    # errors -----------------------------------------------------------------------------------
    def record_error(self, path: str, size: int | None, mtime_ns: int | None, reason: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO errors VALUES (?,?,?,?,?)", (path, size, mtime_ns, reason, time.time())
        )

    def clear_error(self, path: str) -> None:
        self.conn.execute("DELETE FROM errors WHERE path=?", (path,))

    def known_errors(self) -> dict[str, tuple[int | None, int | None]]:
        return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT path, size, mtime_ns FROM errors")}

    def errors(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.conn.execute("SELECT path, reason FROM errors ORDER BY path")]

    def prune_errors(self, keep: set[str], under: list[str]) -> None:
        for path, _ in self.errors():
            if path not in keep and any(path == u or path.startswith(u.rstrip("/") + "/") for u in under):
                self.clear_error(path)


def _flat_tags(tags: dict) -> dict:
    """The first value of each searchable tag, for SQL filters (year and bpm as numbers)."""

    def first(key: str) -> str | None:
        vals = tags.get(key) or []
        return str(vals[0]).strip() if vals else None

    year = first("year")
    bpm = first("bpm")
    return {
        "artist": first("artist"),
        "title": first("title"),
        "album": first("album"),
        "genre": "; ".join(tags.get("genre") or []) or None,
        "year": int(year[:4]) if year and year[:4].isdigit() else None,
        "bpm_tag": _to_float(bpm),
    }


def _to_float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
