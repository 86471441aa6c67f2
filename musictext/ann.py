"""HNSW indexes (hnswlib, cosine) over a model's joint vectors, derived from the store.

An index file carries the store generation it was built from; a missing, unreadable or stale
index is rebuilt from SQLite, never trusted blindly. Small libraries skip HNSW altogether:
a one-shot command scans memory-mapped vectors exactly faster than it can load a graph
(measured at 100k tracks: exact `similar` 0.2 s, HNSW 0.43 s, mostly loading the index).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

EXACT_BELOW = 250_000
M = 16
EF_CONSTRUCTION = 200


def _paths(index_dir: Path, model: str) -> tuple[Path, Path]:
    safe = model.replace("/", "_").replace("@", "_").replace("+", "_")
    return index_dir / f"{safe}.hnsw", index_dir / f"{safe}.json"


def index_health(index_dir: Path, model: str, generation: int, count: int) -> str:
    """ "ok", "exact" (small library: no index needed), "missing" or "stale"."""
    if count < EXACT_BELOW:
        return "exact"
    graph, meta = _paths(index_dir, model)
    if not graph.exists() or not meta.exists():
        return "missing"
    try:
        info = json.loads(meta.read_text())
    except ValueError:
        return "stale"
    return "ok" if info.get("generation") == generation and info.get("count") == count else "stale"


def build(index_dir: Path, model: str, generation: int, ids: np.ndarray, vecs: np.ndarray) -> None:
    """Build and save the index atomically (write beside, then rename)."""
    import hnswlib

    graph, meta = _paths(index_dir, model)
    index = hnswlib.Index(space="cosine", dim=vecs.shape[1])
    index.init_index(max_elements=max(len(ids), 1), ef_construction=EF_CONSTRUCTION, M=M)
    index.set_num_threads(os.cpu_count() or 1)
    index.add_items(vecs, ids)
    tmp = graph.with_suffix(".tmp")
    index.save_index(str(tmp))
    os.replace(tmp, graph)
    meta.write_text(json.dumps({"generation": generation, "count": int(len(ids)), "dim": int(vecs.shape[1])}))


def ensure(index_dir: Path, model: str, generation: int, ids: np.ndarray, vecs: np.ndarray) -> str:
    health = index_health(index_dir, model, generation, len(ids))
    if health in ("missing", "stale"):
        build(index_dir, model, generation, ids, vecs)
        return "rebuilt"
    return health


def query(index_dir: Path, model: str, vec: np.ndarray, k: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, cosine similarities) of the k nearest vectors."""
    import hnswlib

    graph, meta = _paths(index_dir, model)
    count = json.loads(meta.read_text())["count"]
    index = hnswlib.Index(space="cosine", dim=dim)
    index.load_index(str(graph), max_elements=count)
    k = min(k, count)
    index.set_ef(max(k * 2, 100))
    labels, dists = index.knn_query(vec.reshape(1, -1).astype(np.float32), k=k)
    return labels[0].astype(np.int64), (1.0 - dists[0]).astype(np.float32)
