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

from musictext.audio.descriptors import DESCRIPTOR_NAMES
from musictext.audio.mood import MOOD_AXES
from musictext.errors import MusictextError
from musictext.library.scan import is_under

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
CREATE INDEX IF NOT EXISTS tracks_updated ON tracks(updated_at);
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
-- Mood axes of the optional vibenet network: one row per track and mood model (its id carries the
-- network's version and musictext's excerpt/front-end version, so two never mix).
CREATE TABLE IF NOT EXISTS mood_axes (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    mood_model TEXT NOT NULL,
    valence REAL, energy REAL, danceability REAL, acousticness REAL, instrumentalness REAL,
    liveness REAL, speechiness REAL,
    PRIMARY KEY (track_id, mood_model)
);
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
    at REAL NOT NULL,
    written TEXT
);
"""

# --where fields (musictext.filters) and the columns they read; bpm is measured, else the file's tag.
_WHERE_COLUMNS = {
    "artist": "t.artist",
    "title": "t.title",
    "album": "t.album",
    "genre": "t.genre",
    "path": "t.path",
    "year": "t.year",
    "duration": "t.duration",
    "bpm": "COALESCE(f.bpm, t.bpm_tag)",
    "loudness": "f.loudness",
    "brightness": "f.brightness",
    **{axis: f"m.{axis}" for axis in MOOD_AXES},
}
_WHERE_OPS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that also works in a read-only folder: a WAL database needs its
    -shm file, which sqlite cannot create there, so fall back to reading the file as immutable."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # reads the header: damage shows now
        return conn
    except sqlite3.OperationalError:
        conn.close()
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, timeout=30)
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return conn


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


@dataclass(frozen=True)
class RunRow:
    id: int
    kind: str
    args: str
    started: float
    finished: float | None
    undone: float | None
    files: int  # journal entries written (done or since undone)


@dataclass(frozen=True)
class JournalEntry:
    """One planned or made tag write: the fields before and after, the snapshot that undoes it,
    and ``written``: what the whole file's tags were before and after (for undo to notice later edits)."""

    id: int
    run_id: int
    path: str
    before: dict
    after: dict
    snapshot: dict
    state: str  # planned, done, failed, undone
    written: dict


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
                    self.conn = _connect_readonly(self.path)
                    self._check_schema()
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

    def _has_table(self, name: str) -> bool:
        q = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
        return self.conn.execute(q, (name,)).fetchone() is not None

    def _migrate(self) -> None:
        if self._check_schema() is None:
            self.conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.conn.commit()
        # An added column older musictext versions ignore: the tags a journal entry expects to find.
        if "written" not in {r[1] for r in self.conn.execute("PRAGMA table_info(journal)")}:
            self.conn.execute("ALTER TABLE journal ADD COLUMN written TEXT")
            self.conn.commit()

    def _check_schema(self) -> int | None:
        """The library's schema version (None for a new one); a newer one than ours is refused,
        by readers too: they would misread it."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.OperationalError:  # no meta table: a database musictext never finished creating
            return None
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            self.conn.close()
            raise MusictextError(
                f"library was written by a newer musictext (schema {row[0]} > {SCHEMA_VERSION})", self.path
            )
        return None if row is None else int(row[0])

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[sqlite3.Connection]:
        """One transaction: a killed run loses at most the batch in flight. A failed write
        (disk full, damaged file) is rolled back and reported in one line."""
        try:
            with self.conn:
                yield self.conn
        except sqlite3.DatabaseError as exc:
            raise MusictextError(f"cannot write the library database ({exc})", self.path) from exc

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
        return {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute("SELECT path, id, size, mtime_ns FROM tracks")}

    def tracks_by_hash(self, content_hash: str) -> list[TrackRow]:
        rows = self.conn.execute("SELECT * FROM tracks WHERE content_hash=?", (content_hash,)).fetchall()
        return [self._track(r) for r in rows]

    def upsert_track(
        self, path: str, size: int, mtime_ns: int, content_hash: str, duration: float | None, tags: dict
    ) -> int:
        now = time.time()
        flat = _flat_tags(tags)
        row = self.conn.execute("SELECT id, content_hash FROM tracks WHERE path=?", (path,)).fetchone()
        values = (size, mtime_ns, content_hash, duration, *(flat[c] for c in TRACK_COLUMNS), json.dumps(tags))
        if row:
            if row[1] != content_hash:  # new content: every model's joint vector of the old one is stale
                self.conn.execute("DELETE FROM vectors WHERE track_id=?", (row[0],))
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
            "UPDATE tracks SET artist=?, title=?, album=?, genre=?, year=?, bpm_tag=?, tags_json=?, updated_at=?"
            " WHERE id=?",
            (*(flat[c] for c in TRACK_COLUMNS), json.dumps(tags), time.time(), track_id),
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

    def name_rows(self) -> list[tuple[int, str | None, str | None, str | None, str | None, int | None]]:
        """(id, title, artist, album, album artist, year) of every track: what similarity phrases
        ("like Hotel California") are resolved against."""
        q = "SELECT id, title, artist, album, json_extract(tags_json, '$.albumartist[0]'), year FROM tracks"
        return [tuple(r) for r in self.conn.execute(q)]

    def names_signature(self) -> str:
        """Changes whenever a track is added or its tags or path change (caches of names compare it;
        a removed track leaves it as it was, and readers skip names whose tracks have no vectors)."""
        row = self.conn.execute("SELECT MAX(updated_at), MAX(id) FROM tracks").fetchone()
        return f"{row[0]!r}:{row[1]!r}"

    def copies_of(self, track_ids: Iterable[int]) -> set[int]:
        """Ids of the tracks with the same content as any of ``track_ids`` (them included)."""
        wanted = list(track_ids)
        out: set[int] = set()
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            marks = ",".join("?" * len(chunk))
            q = f"SELECT b.id FROM tracks a JOIN tracks b ON b.content_hash = a.content_hash WHERE a.id IN ({marks})"
            out |= {r[0] for r in self.conn.execute(q, chunk)}
        return out

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

    def put_mood(self, track_id: int, mood_model: str, axes: dict[str, float]) -> None:
        cols = ", ".join(MOOD_AXES)
        self.conn.execute(
            f"INSERT OR REPLACE INTO mood_axes (track_id, mood_model, {cols}) VALUES (?,?{',?' * len(MOOD_AXES)})",
            (track_id, mood_model, *(axes.get(a) for a in MOOD_AXES)),
        )

    def has_mood(self, track_id: int, mood_model: str) -> bool:
        if not self._has_table("mood_axes"):
            return False
        q = "SELECT 1 FROM mood_axes WHERE track_id=? AND mood_model=?"
        return self.conn.execute(q, (track_id, mood_model)).fetchone() is not None

    def mood_matrix(self, mood_model: str, ids: np.ndarray) -> np.ndarray:
        """[len(ids), 7] mood axes (MOOD_AXES order) of ``ids``; NaN rows for tracks without them."""
        out = np.full((len(ids), len(MOOD_AXES)), np.nan, np.float32)
        if not len(ids) or not self._has_table("mood_axes"):
            return out
        q = f"SELECT track_id, {', '.join(MOOD_AXES)} FROM mood_axes WHERE mood_model=? ORDER BY track_id"
        rows = self.conn.execute(q, (mood_model,)).fetchall()
        row_of = {int(t): i for i, t in enumerate(ids)}
        for r in rows:
            i = row_of.get(r[0])
            if i is not None:
                out[i] = [np.nan if v is None else v for v in tuple(r)[1:]]
        return out

    def moods_of(self, ids: list[int]) -> dict[int, dict]:
        """{track id: {"model": mood model, "axes": {axis: value or None}}} for those of ``ids`` with
        mood axes (the newest model's when a track has several): what a Parquet shard carries."""
        if not ids or not self._has_table("mood_axes"):
            return {}
        out: dict[int, dict] = {}
        for i in range(0, len(ids), 500):  # one query per 500 tracks, not one per track
            chunk = list(ids[i : i + 500])
            q = (
                f"SELECT track_id, mood_model, {', '.join(MOOD_AXES)} FROM mood_axes"
                f" WHERE track_id IN ({', '.join('?' * len(chunk))}) ORDER BY track_id, mood_model"
            )
            for r in self.conn.execute(q, chunk):  # the last model of a track wins, as before
                out[r[0]] = {"model": r[1], "axes": dict(zip(MOOD_AXES, tuple(r)[2:]))}
        return out

    def mood_counts(self) -> dict[str, int]:
        if not self._has_table("mood_axes"):
            return {}
        q = "SELECT mood_model, COUNT(valence) FROM mood_axes GROUP BY mood_model"  # NULLs: too short to judge
        return {r[0]: r[1] for r in self.conn.execute(q)}

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
        cols = ", ".join(MOOD_AXES)
        self.conn.execute(
            f"INSERT OR REPLACE INTO mood_axes SELECT ?, mood_model, {cols} FROM mood_axes WHERE track_id=?",
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
        names = DESCRIPTOR_NAMES
        desc = {
            n: np.array([np.nan if r[3 + i] is None else r[3 + i] for r in rows], dtype=np.float32)
            for i, n in enumerate(names)
        }
        return track_ids, probs, pooled, desc

    def descriptor_values(self, audio_model: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(ids, {descriptor: values}) of every track with features, NaN where a value is undefined:
        the measured values alone, without the feature blobs (tag evidence reads them)."""
        cols = ", ".join(DESCRIPTOR_NAMES)
        rows = self.conn.execute(
            f"SELECT track_id, {cols} FROM audio_features WHERE audio_model=? ORDER BY track_id", (audio_model,)
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        desc = {
            n: np.array([np.nan if r[1 + i] is None else r[1 + i] for r in rows], dtype=np.float64)
            for i, n in enumerate(DESCRIPTOR_NAMES)
        }
        return ids, desc

    def export_rows(self, audio_model: str, model: str, after_id: int = 0, limit: int = 10_000) -> list[tuple]:
        """Up to ``limit`` tracks with features of ``audio_model`` and a ``model`` vector, ids above
        ``after_id``, in id order: (id, path, size, mtime_ns, content_hash, duration, tags_json, mode,
        analysed_s, probs, pooled, bpm, onset_rate, key, major, loudness, brightness, percussive, vector)."""
        return self.conn.execute(
            "SELECT t.id, t.path, t.size, t.mtime_ns, t.content_hash, t.duration, t.tags_json, f.mode,"
            " f.analysed_s, f.probs, f.pooled, f.bpm, f.onset_rate, f.key, f.major, f.loudness, f.brightness,"
            " f.percussive, v.vector FROM tracks t JOIN audio_features f ON f.track_id = t.id AND f.audio_model=?"
            " JOIN vectors v ON v.track_id = t.id AND v.model=? WHERE t.id > ? ORDER BY t.id LIMIT ?",
            (audio_model, model, after_id, limit),
        ).fetchall()

    def measured_seconds(self, audio_model: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, seconds) of every track with features: how much real audio its features describe,
        the lesser of its length and what was analysed (a truncated file's header may promise more)."""
        rows = self.conn.execute(
            "SELECT f.track_id, MIN(COALESCE(t.duration, f.analysed_s), f.analysed_s) FROM audio_features f"
            " JOIN tracks t ON t.id = f.track_id WHERE f.audio_model=? ORDER BY f.track_id",
            (audio_model,),
        ).fetchall()
        return np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float64)

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

    # runs and the tag journal ------------------------------------------------------------------
    def start_run(self, kind: str, args: str) -> int:
        with self.batch():
            cur = self.conn.execute(
                "INSERT INTO runs (kind, args, started) VALUES (?, ?, ?)", (kind, args, time.time())
            )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        with self.batch():
            self.conn.execute("UPDATE runs SET finished=? WHERE id=?", (time.time(), run_id))

    def mark_run_undone(self, run_id: int) -> None:
        with self.batch():
            self.conn.execute("UPDATE runs SET undone=? WHERE id=?", (time.time(), run_id))

    def run(self, run_id: int, kind: str) -> RunRow | None:
        rows = self._runs("WHERE r.id=? AND r.kind=?", (run_id, kind))
        return rows[0] if rows else None

    def runs(self, kind: str) -> list[RunRow]:
        return self._runs("WHERE r.kind=?", (kind,))

    def last_live_run(self, kind: str) -> int | None:
        """The newest run of ``kind`` not undone yet."""
        row = self.conn.execute(
            "SELECT id FROM runs WHERE kind=? AND undone IS NULL ORDER BY id DESC LIMIT 1", (kind,)
        ).fetchone()
        return int(row[0]) if row else None

    def _runs(self, where: str, params: tuple) -> list[RunRow]:
        rows = self.conn.execute(
            "SELECT r.id, r.kind, r.args, r.started, r.finished, r.undone,"
            " (SELECT COUNT(*) FROM journal j WHERE j.run_id=r.id AND j.state IN ('done', 'undone'))"
            f" FROM runs r {where} ORDER BY r.id",
            params,
        ).fetchall()
        return [RunRow(*r) for r in rows]

    def journal_planned(self, run_id: int, path: str, before: dict, after: dict, snapshot: dict, written: dict) -> int:
        """Record a write before the file is touched; returns the entry's id."""
        with self.batch():
            cur = self.conn.execute(
                "INSERT INTO journal (run_id, path, before, after, snapshot, written, at) VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    path,
                    json.dumps(before),
                    json.dumps(after),
                    json.dumps(snapshot),
                    json.dumps(written),
                    time.time(),
                ),
            )
        return int(cur.lastrowid)

    def set_journal_state(self, entry_id: int, state: str, written: dict | None = None) -> None:
        """Mark an entry done, failed or undone (not in a transaction of its own: callers batch it
        with the track update that goes with it)."""
        if written is None:
            self.conn.execute("UPDATE journal SET state=? WHERE id=?", (state, entry_id))
        else:
            self.conn.execute(
                "UPDATE journal SET state=?, written=? WHERE id=?", (state, json.dumps(written), entry_id)
            )

    def journal_entries(self, run_id: int, states: Iterable[str] = ("done", "planned")) -> list[JournalEntry]:
        """A run's entries in the given states, newest first."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        rows = self.conn.execute(
            "SELECT id, run_id, path, before, after, snapshot, state, written FROM journal"
            f" WHERE run_id=? AND state IN ({marks}) ORDER BY id DESC",
            (run_id, *wanted),
        ).fetchall()
        return [
            JournalEntry(
                r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), json.loads(r[5]), r[6], json.loads(r[7] or "{}")
            )
            for r in rows
        ]

    def later_live_writes(self, run_id: int, kind: str) -> dict[str, int]:
        """path -> the newest later run of ``kind``, not undone, that wrote (or may have written) it."""
        rows = self.conn.execute(
            "SELECT j.path, MAX(j.run_id) FROM journal j JOIN runs r ON r.id=j.run_id"
            " WHERE j.run_id>? AND r.kind=? AND r.undone IS NULL AND j.state IN ('done', 'planned') GROUP BY j.path",
            (run_id, kind),
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    # errors -----------------------------------------------------------------------------------
    def matching_ids(self, where, audio_model: str, mood_model: str | None = None) -> set[int]:
        """Ids of tracks that meet every condition of a parsed ``--where`` (musictext.filters.Where);
        a mood axis reads ``mood_model``'s values (a track without them never matches)."""
        clauses, params = [], []
        for c in where.conditions:
            if c.field == "mode":
                clauses.append("f.major > 0" if c.value == "major" else "f.major <= 0")
                continue
            col = _WHERE_COLUMNS[c.field]
            if c.op == "contains":
                clauses.append(f"{col} LIKE ? ESCAPE '\\'")
                params.append("%" + c.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            elif isinstance(c.value, str) and c.op == "eq":
                clauses.append(f"{col} = ? COLLATE NOCASE")
                params.append(c.value)
            elif isinstance(c.value, str) and c.op == "ne":
                clauses.append(f"({col} IS NULL OR {col} != ? COLLATE NOCASE)")
                params.append(c.value)
            else:
                clauses.append(f"{col} {_WHERE_OPS[c.op]} ?")
                params.append(c.value)
        join, join_params = "", []
        if any(c.field in MOOD_AXES for c in where.conditions):
            if not self._has_table("mood_axes"):
                return set()
            join, join_params = " LEFT JOIN mood_axes m ON m.track_id = t.id AND m.mood_model = ?", [mood_model or ""]
        sql = (
            "SELECT t.id FROM tracks t LEFT JOIN audio_features f ON f.track_id = t.id AND f.audio_model = ?"
            f"{join} WHERE {' AND '.join(clauses) or '1'}"
        )
        return {r[0] for r in self.conn.execute(sql, (audio_model, *join_params, *params))}

    def total_duration(self) -> float:
        return float(self.conn.execute("SELECT COALESCE(SUM(duration), 0) FROM tracks").fetchone()[0])

    def all_track_tags(self) -> dict[str, dict]:
        """path -> the tags read from the file when it was indexed, for every track."""
        rows = self.conn.execute("SELECT path, tags_json FROM tracks ORDER BY path").fetchall()
        return {r[0]: json.loads(r[1] or "{}") for r in rows}

    def recording_mbids(self) -> dict[int, str]:
        """track id -> MusicBrainz recording id, for the tracks whose tags hold one (Vorbis
        MUSICBRAINZ_TRACKID, MP4 and ID3 "MusicBrainz Track Id", as Picard writes them)."""
        keys = ("musicbrainz_trackid", "musicbrainz track id", "musicbrainz_recordingid")
        cols = ", ".join(f"json_extract(tags_json, '$.\"{k}\"[0]')" for k in keys)
        out = {}
        for row in self.conn.execute(f"SELECT id, {cols} FROM tracks WHERE tags_json LIKE '%musicbrainz%'"):
            mbid = next((v for v in row[1:] if isinstance(v, str) and v.strip()), None)
            if mbid:
                out[int(row[0])] = mbid.strip()
        return out

    def delete_vectors(self, model: str, track_ids: Iterable[int]) -> None:
        self.conn.executemany("DELETE FROM vectors WHERE track_id=? AND model=?", [(int(t), model) for t in track_ids])

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
            if path not in keep and is_under(path, under):
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
