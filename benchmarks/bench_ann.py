"""HNSW index upkeep: adding 1k tracks to a large index in place vs building it again.

    python benchmarks/bench_ann.py                   # 250k tracks (the size HNSW starts at)
    python benchmarks/bench_ann.py --sizes 250000,1000000

Synthetic joint vectors made as the built-in model makes them (tag probabilities mixing its tag
embeddings), written by the real code (`ann.build`, `ann.ensure`) into a temporary folder: the
times include loading the graph, fingerprinting every vector, resizing, inserting, and the
atomic, fsynced, checksummed save.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402

ADD = 1000


def joint_library(n: int, seed: int = 0) -> np.ndarray:
    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import joint_vectors, text_side

    tags = text_side(get_bundle()).tag_embeddings()
    rng = np.random.default_rng(seed)
    out = np.empty((n, tags.shape[1]), np.float32)
    for start in range(0, n, 100_000):
        probs = rng.beta(0.3, 2.0, size=(min(100_000, n - start), tags.shape[0])).astype(np.float32)
        out[start : start + len(probs)] = joint_vectors(probs, tags)
    return out


def _recall(index_dir: Path, ids: np.ndarray, vecs: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    from musictext.library import ann

    scores = queries @ vecs.T if len(vecs) * len(queries) <= 4e8 else None
    hits = 0
    for i, q in enumerate(queries):
        s = scores[i] if scores is not None else vecs @ q
        truth = set(ids[np.argpartition(-s, k)[:k]].tolist())
        hits += len(truth & set(ann.query(index_dir, "bench@1", q, k, vecs.shape[1])[0].tolist()))
    return hits / (k * len(queries))


def bench_hnsw_add(sizes: list[int], add: int = ADD) -> str:
    """For each size n: build an n-track index (what a rebuild costs), add ``add`` tracks in place,
    then remove ``add`` tracks in place; recall@10 against the exact answer after the update, next
    to a fresh build's recall (the fresh build of the same n + add tracks is made for n ≤ 100k)."""
    from musictext.library import ann

    rows = []
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for n in sizes:
        vecs = joint_library(n + add)
        ids = np.arange(1, n + add + 1, dtype=np.int64)
        queries = joint_library(100, seed=99)
        work = Path(tempfile.mkdtemp(prefix="musictext-bench-ann-"))
        try:
            t0 = time.perf_counter()
            ann.build(work, "bench@1", 1, ids[:n], vecs[:n])
            build_s = time.perf_counter() - t0
            recall_built = _recall(work, ids[:n], vecs[:n], queries)
            t0 = time.perf_counter()
            assert ann.update(work, "bench@1", 2, ids, vecs) == "updated"
            add_s = time.perf_counter() - t0
            recall_updated = _recall(work, ids, vecs, queries)
            keep = np.ones(len(ids), bool)
            keep[:: max(1, len(ids) // add)][:add] = False
            t0 = time.perf_counter()
            assert ann.update(work, "bench@1", 3, ids[keep], vecs[keep]) == "updated"
            remove_s = time.perf_counter() - t0
            graph_mib = ann.graph_path(work, "bench@1").stat().st_size / 2**20
            if n <= 100_000:
                fresh = work / "fresh"
                fresh.mkdir()
                t0 = time.perf_counter()
                ann.build(fresh, "bench@1", 2, ids, vecs)
                rebuild_s = time.perf_counter() - t0
                recall_fresh = _recall(fresh, ids, vecs, queries)
            else:  # the n-track build's own recall stands in for the fresh build's
                rebuild_s, recall_fresh = build_s, recall_built
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(
            f"{n:,} tracks: build {build_s:.1f} s, add {add:,} {add_s:.2f} s, remove {remove_s:.2f} s", file=sys.stderr
        )
        rows.append(
            [
                f"{n:,}",
                build_s,
                rebuild_s,
                add_s,
                rebuild_s / add_s,
                remove_s,
                recall_updated,
                recall_fresh,
                graph_mib,
            ]
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (
        f"### HNSW: adding {add:,} tracks to a large index in place vs rebuilding it\n\n"
        "`build s`: a fresh index of n tracks; `rebuild s`: a fresh index of the n + 1k tracks (for n > 100k "
        "the n-track build stands in for it, so it is not paid twice); `add s`: `ann.update` (what "
        "`ann.ensure` calls on a stale index) bringing the "
        f"n-track index up to the {add:,} new tracks in place (load, fingerprint all vectors, resize, insert, "
        f"atomic save with fsync and sha256); `remove s`: the same for {add:,} tracks gone (marked deleted). "
        "Recall@10 of 100 joint-vector queries against the exact top 10 (ef = max(2k, 100), as `similar` asks), "
        "after the in-place update and for a fresh build of the same tracks "
        f"(for n > 100k: of the n-track build, before the update). Peak RSS {peak:.0f} MiB "
        f"({peak - peak_before:.0f} MiB above start). M = {ann.M}, ef_construction = {ann.EF_CONSTRUCTION}, "
        f"rebuild when deleted elements pass {ann.REBUILD_DELETED_SHARE:.0%}.\n\n"
        + table(
            [
                "tracks",
                "build s",
                "rebuild s",
                f"add {add // 1000}k s",
                "rebuild / add",
                f"remove {add // 1000}k s",
                "recall@10 updated",
                "recall@10 fresh build",
                "graph MiB",
            ],
            rows,
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="250000", help="index sizes, comma-separated")
    a = ap.parse_args()
    text = bench_hnsw_add([int(s) for s in a.sizes.split(",")])
    text += f"\n\nCommand: `python benchmarks/bench_ann.py --sizes {a.sizes}`; machine: {machine()}."
    print(text + "\n")
    write_section("hnsw-incremental", text)


if __name__ == "__main__":
    main()
