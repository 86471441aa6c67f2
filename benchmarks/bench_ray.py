"""The Ray engine next to the local engine: the same files, in the same run, and the driver's limit.

    python benchmarks/bench_ray.py            # needs the cluster extra: pip install -e ".[cluster]"

Generated 4-minute 192 kb/s stereo MP3s (bench_index's generator), a fresh library each run, the
default sampled mode. Each engine indexes 12 and then 24 tracks: `files/hour` times the whole
command on 24 tracks (start-up included), `steady files/hour` is 12 / (wall of 24 - wall of 12),
what a large archive sees. The Ray engine runs twice: starting its own local cluster (what
`--engine ray` alone does) and joining a running two-CPU cluster (`--address`, as on a real
cluster). Then the driver alone: how many analysed tracks per hour it can store (content hash,
tags, SQLite writes), which is where adding nodes stops helping.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402
from bench_index import MT, WORK, fresh_home, mp3_library, run_timed  # noqa: E402


def _subset(big: Path, n: int) -> Path:
    small = WORK / f"ray-{n}"
    small.mkdir(parents=True, exist_ok=True)
    for p in sorted(big.glob("*.mp3"))[:n]:
        if not (small / p.name).exists():
            os.link(p, small / p.name)
    return small


def engines(address: str) -> list[list]:
    big = mp3_library("ray-tracks", 24, 240)
    small = _subset(big, 12)
    rows = []
    for label, extra in (
        ("local (2 worker processes)", []),
        ("ray, starting its own local cluster", ["--engine", "ray"]),
        ("ray, joining a running 2-CPU cluster", ["--engine", "ray", "--address", address]),
    ):
        walls = {}
        for lib in (small, big):
            wall, rss, out = run_timed([*MT, "index", str(lib), *extra, "--json", "-q"], fresh_home())
            report = json.loads(out.strip().splitlines()[-1])
            assert report["indexed"] == len(list(lib.glob("*.mp3"))) and report["failed"] == 0, report
            walls[lib] = (wall, rss)
        wall, rss = walls[big]
        steady = 12 / max(1e-6, wall - walls[small][0]) * 3600
        rows.append([label, 24, wall, 24 / wall * 3600, steady, rss])
    return rows


def driver_side(n: int = 1000) -> dict:
    """What the driver costs per track whatever the engine: storing analysed tracks (the shared
    writer: content hash, tags, SQLite rows in batches), the store's bytes per track, and
    rebuilding the derived space from the store (every run that changed something does)."""
    home = Path(tempfile.mkdtemp(prefix="mt-bench-driver-"))
    os.environ["MUSICTEXT_HOME"] = str(home)
    from musictext.audio.tower import TrackFeatures
    from musictext.config import db_path
    from musictext.library.index import _BatchWriter, refresh_derived
    from musictext.library.scan import TrackFile
    from musictext.library.store import Store
    from musictext.model.bundle import get_bundle
    from musictext.progress import SilentProgress

    src = sorted((WORK / "ray-tracks").glob("*.mp3"))
    links = WORK / "ray-driver"
    links.mkdir(exist_ok=True)
    files = []
    for i in range(n):
        p = links / f"copy{i:05d}.mp3"
        if not p.exists():
            os.link(src[i % len(src)], p)
        st = p.stat()
        files.append(TrackFile(str(p), st.st_size, st.st_mtime_ns))
    rng = np.random.default_rng(0)
    feats = [
        TrackFeatures(
            "sampled:8",
            240.0,
            24.0,
            rng.random(100, dtype=np.float32),
            rng.random(400, dtype=np.float32),
            {"bpm": 120.0, "onset_rate": 2.0, "key": 3, "major": 0.1, "loudness": -12.0, "brightness": 1500.0},
        )
        for _ in range(n)
    ]
    bundle = get_bundle()
    with Store(db_path()) as store:
        writer = _BatchWriter(store, bundle, SilentProgress())
        writer.add(files[0], feats[0])
        writer.flush()  # the text side loaded once, as in a run
        t0 = time.perf_counter()
        for f, x in zip(files[1:], feats[1:]):
            writer.add(f, x)
        writer.flush()
        store_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        refresh_derived(store, bundle)
        derive_s = time.perf_counter() - t0
    db_bytes = sum(p.stat().st_size for p in home.glob("library.sqlite3*"))
    return {
        "store_per_hour": (n - 1) / store_s * 3600,
        "bytes_per_track": db_bytes / n,
        "derive_ms_per_track": derive_s / n * 1000,
    }


def plan(rows: list[list], driver: dict) -> str:
    """The scaling plan, on paper, from the numbers measured above."""
    local_steady = rows[0][4]
    ray_steady = rows[2][4]
    per_node = ray_steady  # one 2-core node's steady rate through the Ray engine
    nodes = driver["store_per_hour"] / per_node
    gb_per_m = driver["bytes_per_track"] * 1e6 / 1e9
    derive_m = driver["derive_ms_per_track"] * 1e6 / 1000 / 60
    return (
        "#### Scaling plan (on paper, from the numbers above)\n\n"
        f"- One node adds its cores: a 2-core node analyses about {per_node:,.0f} files/hour through Ray "
        f"(the local engine: {local_steady:,.0f} on the same cores). The analysis is embarrassingly parallel "
        "(one track per actor call, no data shared between actors), so N such nodes give about N times "
        "that, less Ray's scheduling (measured above on one node) and the shared storage's read rate "
        "(4-minute MP3s: ~5.8 MB read per track, sampled mode seeks, so less).\n"
        f"- The driver is the limit at about {driver['store_per_hour']:,.0f} tracks/hour: it stores every "
        "result (content hash of the file, its tags, SQLite rows in batches of 16) on one core, "
        "with the files in the page cache "
        "(on network storage the hash reads cost more). That is "
        f"about {nodes:,.0f} two-core nodes' worth; past that, add nodes only with the store-side work "
        "moved to the workers (hash and tags read where the file is decoded, rows sent as Parquet shards, "
        "`--export parquet`) and the SQLite store loaded from shards (`index --import`) in bulk.\n"
        f"- The store holds about {driver['bytes_per_track'] / 1024:,.1f} KiB per track ({gb_per_m:,.1f} GB "
        f"per million tracks), and every run that changes something rebuilds the derived space from it "
        f"({driver['derive_ms_per_track']:.2f} ms per track here: ~{derive_m:,.0f} minutes at 1M tracks, "
        "linear in the library). Around 1M tracks (several GB per library, minutes per "
        "rebuild, and a store that one machine must hold) the "
        "store should move to Parquet/Lance shards: features and vectors column-major in shards written "
        "by the workers, the space and the HNSW index built from the shards incrementally, SQLite kept "
        "for paths, tags, errors and the journal."
    )


def main() -> None:
    import ray

    WORK.mkdir(parents=True, exist_ok=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        rows = engines(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
    driver = driver_side()
    store_rate = driver["store_per_hour"]
    text = (
        "### Ray engine next to the local engine (`python benchmarks/bench_ray.py`)\n\n"
        "The same 24 generated 4-minute MP3s (192 kb/s stereo), default sampled mode, a fresh library "
        "each run, all in one run of the script. `files/hour` times the whole command (start-up, "
        "model loading, cluster start or join included); `steady files/hour` is 12 / (wall of 24 tracks - "
        "wall of the first 12).\n\n"
        + table(["engine", "files", "wall s", "files/hour (whole command)", "steady files/hour", "peak RSS MiB"], rows)
        + f"\n\nThe driver alone stores {store_rate:,.0f} analysed tracks/hour (the shared writer: content "
        "hash of each file, its tags, SQLite rows in batches of 16; 1,000 tracks, features given).\n\n"
        + plan(rows, driver)
    )
    text += f"\n\nCommand: `python benchmarks/bench_ray.py`; machine: {machine()}."
    print(text)
    write_section("index-ray", text)


if __name__ == "__main__":
    main()
