"""Parquet shards of per-track features and vectors: `index PATH --export parquet DIR` writes them,
`index --import DIR` loads them into a library (the ``cluster`` extra's pyarrow, imported lazily).

For archives whose store lives elsewhere: a cluster run exports, another machine imports, and the
vectors are the very ones computed (float32, bit for bit). Each shard names the models in its
schema metadata; a shard of another model is refused, never mixed in.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from musictext.atomic import atomic_path
from musictext.audio.descriptors import DESCRIPTOR_NAMES
from musictext.cluster import need
from musictext.config import db_path
from musictext.errors import ModelError, NotFoundError, UsageError
from musictext.library.files import library_lock
from musictext.library.store import Store, from_blob
from musictext.model.bundle import get_bundle
from musictext.progress import Reporter, SilentProgress

ROWS_PER_SHARD = 50_000
SHARD_GLOB = "part-*.parquet"
FORMATS = ("parquet",)


@dataclass(frozen=True)
class ExportReport:
    tracks: int
    shards: int
    folder: str

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ImportReport:
    imported: int
    unchanged: int
    shards: int

    def as_json(self) -> dict:
        return asdict(self)


def _schema(pa, n_probs: int, n_pooled: int, n_vec: int, audio_model: str, model: str):
    f32 = pa.float32()
    fields = [
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("content_hash", pa.string()),
        ("duration", pa.float64()),
        ("tags_json", pa.string()),
        ("mode", pa.string()),
        ("analysed_s", pa.float64()),
        ("probs", pa.list_(f32, n_probs)),
        ("pooled", pa.list_(f32, n_pooled)),
        *[(n, pa.int64() if n == "key" else pa.float64()) for n in DESCRIPTOR_NAMES],
        ("vector", pa.list_(f32, n_vec)),
        ("mood", pa.string()),  # JSON {"model", "axes"} where the optional mood axes were stored, else null
    ]
    meta = {"musictext.audio_model": audio_model, "musictext.model": model}
    return pa.schema(fields, metadata=meta)


def _fixed(pa, blobs: list[bytes], width: int):
    flat = np.frombuffer(b"".join(blobs), np.float32) if blobs else np.zeros(0, np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), width)


def require_export(fmt: str) -> None:
    """Refuse an unknown format or a missing extra before any indexing."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    need("pyarrow.parquet", "--export parquet")


def export_shards(roots: list[Path], folder: Path, fmt: str = "parquet", model: str | None = None) -> ExportReport:
    """Write every indexed track under ``roots`` (features and vectors) to ``folder`` as Parquet
    shards of ROWS_PER_SHARD tracks; each shard is written atomically, stale ones are removed."""
    require_export(fmt)
    pa = need("pyarrow", "--export parquet")
    pq = need("pyarrow.parquet", "--export parquet")
    from musictext.library.index import _root_test

    bundle = get_bundle(model)
    audio_model = bundle.base or bundle.model_id
    under = _root_test([os.path.abspath(os.path.expanduser(str(r))) for r in roots])
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tracks, after = 0, 0
    with Store(db_path(), readonly=True) as store:
        pending: list[tuple] = []
        while True:
            rows = store.export_rows(audio_model, bundle.model_id, after)
            if rows:
                after = rows[-1][0]
                pending += [r for r in rows if under(r[1])]
            while len(pending) >= ROWS_PER_SHARD or (pending and not rows):
                chunk, pending = pending[:ROWS_PER_SHARD], pending[ROWS_PER_SHARD:]
                moods = store.moods_of([r[0] for r in chunk])
                written.append(_write_shard(pa, pq, folder, len(written), chunk, audio_model, bundle.model_id, moods))
                tracks += len(chunk)
            if not rows:
                break
    for stale in folder.glob(SHARD_GLOB):
        if stale not in written:
            stale.unlink()
    return ExportReport(tracks=tracks, shards=len(written), folder=str(folder))


def _write_shard(
    pa, pq, folder: Path, n: int, rows: list[tuple], audio_model: str, model: str, moods: dict[int, dict]
) -> Path:
    n_probs, n_pooled, n_vec = (len(from_blob(rows[0][i])) for i in (9, 10, 18))
    schema = _schema(pa, n_probs, n_pooled, n_vec, audio_model, model)
    cols = {
        "path": pa.array([r[1] for r in rows], pa.string()),
        "size": pa.array([r[2] for r in rows], pa.int64()),
        "mtime_ns": pa.array([r[3] for r in rows], pa.int64()),
        "content_hash": pa.array([r[4] for r in rows], pa.string()),
        "duration": pa.array([r[5] for r in rows], pa.float64()),
        "tags_json": pa.array([r[6] for r in rows], pa.string()),
        "mode": pa.array([r[7] for r in rows], pa.string()),
        "analysed_s": pa.array([r[8] for r in rows], pa.float64()),
        "probs": _fixed(pa, [r[9] for r in rows], n_probs),
        "pooled": _fixed(pa, [r[10] for r in rows], n_pooled),
        **{
            name: pa.array([r[11 + i] for r in rows], schema.field(name).type)
            for i, name in enumerate(DESCRIPTOR_NAMES)
        },
        "vector": _fixed(pa, [r[18] for r in rows], n_vec),
        "mood": pa.array([json.dumps(moods[r[0]]) if r[0] in moods else None for r in rows], pa.string()),
    }
    table = pa.table(cols, schema=schema)
    path = folder / f"part-{n:05d}.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def import_shards(
    folder: Path, model: str | None = None, wait: bool = False, progress: Reporter | None = None
) -> ImportReport:
    """Load the Parquet shards in ``folder`` into the library: new or changed tracks are stored
    with their features and vectors (no decoding), unchanged ones are left alone."""
    progress = progress or SilentProgress()
    pq = need("pyarrow.parquet", "index --import")
    shards = sorted(Path(folder).glob(SHARD_GLOB))
    if not shards:
        raise NotFoundError(f"no Parquet shards ({SHARD_GLOB}) in this folder", folder)
    bundle = get_bundle(model)
    audio_model = bundle.base or bundle.model_id
    for shard in shards:  # refuse before storing anything: vectors of two models are never mixed
        meta = pq.read_schema(shard).metadata or {}
        got = (meta.get(b"musictext.audio_model", b"?").decode(), meta.get(b"musictext.model", b"?").decode())
        if got != (audio_model, bundle.model_id):
            raise ModelError(f"made with {got[1]}, but this library uses {bundle.model_id}", shard)
    from musictext.library.index import refresh_derived

    imported = unchanged = 0
    with library_lock(wait), Store(db_path()) as store:
        known = store.known_files()
        for shard in shards:
            table = pq.read_table(shard)
            cols = {name: table.column(name) for name in table.column_names}
            probs, pooled, vectors = (_matrix(cols[c]) for c in ("probs", "pooled", "vector"))
            plain = {name: cols[name].to_pylist() for name in cols if name not in ("probs", "pooled", "vector")}
            with store.batch():
                for i, path in enumerate(plain["path"]):
                    k = known.get(path)
                    size, mtime_ns, mode = plain["size"][i], plain["mtime_ns"][i], plain["mode"][i]
                    if k and k[1] == size and k[2] == mtime_ns and store.has_features(k[0], audio_model, mode):
                        unchanged += 1
                        continue
                    tid = store.upsert_track(
                        path,
                        size,
                        mtime_ns,
                        plain["content_hash"][i],
                        plain["duration"][i],
                        json.loads(plain["tags_json"][i]),
                    )
                    feats = {
                        "mode": mode,
                        "analysed_s": plain["analysed_s"][i],
                        "probs": probs[i],
                        "pooled": pooled[i],
                        "descriptors": {n: plain[n][i] for n in DESCRIPTOR_NAMES},
                    }
                    store.put_features(tid, audio_model, feats)
                    store.put_vector(tid, bundle.model_id, vectors[i])
                    mood = plain.get("mood", [None] * (i + 1))[i]  # shards written before mood axes have none
                    if mood:
                        m = json.loads(mood)
                        store.put_mood(tid, m["model"], m["axes"])
                    store.clear_error(path)
                    imported += 1
                store.bump_generation(audio_model)
            progress.note(f"{shard.name}: {table.num_rows} track(s)")
        refresh_derived(store, bundle)
    return ImportReport(imported=imported, unchanged=unchanged, shards=len(shards))


def _matrix(column) -> np.ndarray:
    """A fixed-size-list column as a float32 [n, width] array."""
    arr = column.combine_chunks()
    width = arr.type.list_size
    return np.asarray(arr.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(-1, width)
