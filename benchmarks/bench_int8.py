"""Sampled indexing: where the milliseconds of one 4-minute MP3 go, float graph vs timbral-int8 graph.

    python benchmarks/bench_int8.py [--tracks 12] [--budget 8]

In process, one thread (indexing runs one single-threaded worker per core), the same generated
files for both graphs, medians over the tracks: decode + seek + resample (track_patches minus
log-mel), log-mel, the audio tower (pipeline 1: float audio.onnx; pipeline 2: audio.int8.onnx),
descriptors. "per-track sum -> tracks/hour on 2 cores" is 2 x 3600 / sum; the whole command
(SQLite writes, process start, scanning) is measured by `bench_index.py sampled`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402
from bench_index import mp3_library  # noqa: E402


def stage_times(files: list[Path], budget: int, towers: dict) -> tuple[dict[str, list[float]], dict[str, list]]:
    """Seconds per file of each stage of sampled analysis: ``decode`` (track_patches minus the log-mel
    it computes), ``mel``, one entry per tower of ``towers`` (name -> AudioTower, all on the same
    patches) and ``desc``; and each tower's mean tag probabilities per file. The first file warms
    caches and is not counted."""
    from musictext.audio.decode import track_patches
    from musictext.audio.descriptors import describe
    from musictext.audio.frontend import log_mel

    t: dict[str, list[float]] = {k: [] for k in ("decode", "mel", *towers, "desc")}
    probs: dict[str, list] = {name: [] for name in towers}
    for k, path in enumerate([files[0], *files]):
        t0 = time.perf_counter()
        audio = track_patches(path, budget)
        t1 = time.perf_counter()
        n = audio.window_samples
        for i in range(len(audio.window_starts) or 1):
            log_mel(audio.samples[i * n : (i + 1) * n])
        t2 = time.perf_counter()
        took, out = {}, {}
        for name, tower in towers.items():
            a = time.perf_counter()
            out[name] = tower.run(audio.patches)[0].mean(0)
            took[name] = time.perf_counter() - a
        t3 = time.perf_counter()
        describe(audio.samples, window_starts=audio.window_starts or None)
        t4 = time.perf_counter()
        if k == 0:
            continue
        t["decode"].append(t1 - t0 - (t2 - t1))
        t["mel"].append(t2 - t1)
        t["desc"].append(t4 - t3)
        for name in towers:
            t[name].append(took[name])
            probs[name].append(out[name])
    return t, probs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--budget", type=int, default=8)
    args = ap.parse_args()

    import numpy as np

    from musictext.audio.tower import AudioTower
    from musictext.model.bundle import get_bundle
    from musictext.model.runtime import make_session

    bundle = get_bundle("musicnn-minilm")
    float_tower, int8_tower = AudioTower(bundle), AudioTower(bundle)
    float_tower._session = make_session(bundle.file("audio"), ("CPUExecutionProvider",), 1)
    int8_tower._session = make_session(bundle.file("audio_int8"), ("CPUExecutionProvider",), 1)
    files = sorted(mp3_library("mp3-4min", args.tracks, 240).glob("*.mp3"))[: args.tracks]
    load = os.getloadavg()[0]
    t, probs = stage_times(files, args.budget, {"float": float_tower, "int8": int8_tower})
    change = [float(np.abs(pf - pi).max()) for pf, pi in zip(probs["float"], probs["int8"])]
    med = {k: 1000 * statistics.median(v) for k, v in t.items()}
    common = med["decode"] + med["mel"] + med["desc"]
    rows = [
        ["decode + seek + resample", med["decode"], med["decode"]],
        ["log-mel", med["mel"], med["mel"]],
        ["audio tower (both nets)", med["float"], med["int8"]],
        ["descriptors", med["desc"], med["desc"]],
        ["per-track sum ms", common + med["float"], common + med["int8"]],
        ["-> tracks/hour on 2 cores", 7.2e6 / (common + med["float"]), 7.2e6 / (common + med["int8"])],
    ]
    body = (
        "### Sampled mode: where one 4-minute MP3's time goes, float vs timbral int8 (pipeline 1 vs 2)\n\n"
        f"{len(t['decode'])} generated 4-minute 192 kb/s MP3s, {args.budget} windows each, in process, one "
        "thread, both graphs on the same patches in the same run, medians (ms per track). Largest change "
        f"of a track's mean tag probability int8 vs float: {max(change):.4f}.\n\n"
        + table(["stage", "pipeline 1 (float) ms", "pipeline 2 (int8 timbral) ms"], rows)
        + f"\n\nCommand: `python benchmarks/bench_int8.py --tracks {args.tracks} --budget {args.budget}`; "
        f"machine: {machine()}, load {load:.2f} at start, {os.getloadavg()[0]:.2f} at end."
    )
    print(body)
    write_section("index-int8", body)


if __name__ == "__main__":
    main()
