"""Sampled indexing against its 20k tracks/hour target: where one track's CPU goes, what the audio
graph spends it on, and what quantising more of the graph would give.

    python benchmarks/bench_onnx_budget.py [--tracks 12] [--budget 8]

1. Stages of one 4-minute MP3 in process, one thread (indexing runs one single-threaded worker per
   core): decode + seek + resample, log-mel, the shipped audio graph (pipeline 2: timbral int8),
   descriptors; medians over generated tracks. 20k tracks/hour on 2 cores leaves 360 ms per track.
2. The shipped graph's time per operator type (onnxruntime's profiler, one track's patches).
3. Which convolutions are int8: the shipped choice (the timbral front.0/front.1 of both nets) and
   the next candidates (+ the temporal front.2-4; + mid.0), made by models/quantize_audio.py from
   the float graph with the same calibration, timed on the same batch in the same run, with the
   largest tag-probability change on held-out synthetic clips.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from _results import machine, median_time, table, write_section  # noqa: E402
from bench_index import mp3_library  # noqa: E402
from bench_int8 import stage_times  # noqa: E402

TARGET_PER_HOUR = 20_000
NETS = ("msd", "mtt")


def op_profile(graph: Path, patches) -> dict[str, float]:
    """ms per operator type for one run over ``patches`` (the mean of 6 profiled runs)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    so.enable_profiling = True
    so.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    sess = ort.InferenceSession(str(graph), so, providers=["CPUExecutionProvider"])
    runs = 5
    for _ in range(runs + 1):
        sess.run(None, {"mel": patches})
    events = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, float] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_op[e["args"].get("op_name", "?")] += e["dur"]
    return {op: us / 1000 / (runs + 1) for op, us in per_op.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=12)
    ap.add_argument("--budget", type=int, default=8)
    args = ap.parse_args()

    import quantize_audio

    from musictext.audio.decode import track_patches
    from musictext.audio.tower import AudioTower
    from musictext.model.bundle import get_bundle
    from musictext.model.runtime import make_session

    load0 = os.getloadavg()[0]
    bundle = get_bundle("musicnn-minilm")
    tower = AudioTower(bundle)
    tower._session = make_session(bundle.file(bundle.audio_role), ("CPUExecutionProvider",), 1)
    files = sorted(mp3_library("mp3-4min", args.tracks, 240).glob("*.mp3"))[: args.tracks]
    times, _ = stage_times(files, args.budget, {"onnx": tower})
    med = {k: 1000 * statistics.median(v) for k, v in times.items()}
    total = sum(med.values())
    allowed = 2 * 3600 * 1000 / TARGET_PER_HOUR
    rows1 = [
        ["decode + seek + resample", med["decode"], 100 * med["decode"] / total],
        ["log-mel", med["mel"], 100 * med["mel"] / total],
        ["audio graph (pipeline 2, both nets)", med["onnx"], 100 * med["onnx"] / total],
        ["descriptors", med["desc"], 100 * med["desc"] / total],
        ["per-track sum", total, 100.0],
        ["-> tracks/hour on 2 cores (in process, no SQLite, no start-up)", 7.2e6 / total, ""],
        [f"allowed per track for {TARGET_PER_HOUR:,}/hour on 2 cores", allowed, ""],
    ]

    patches = track_patches(files[0], args.budget).patches.astype("float32")
    ops = op_profile(bundle.file(bundle.audio_role), patches)
    ops_total = sum(ops.values())
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:6]
    rows2 = [[op, ms, 100 * ms / ops_total] for op, ms in top] + [["all operators", ops_total, 100.0]]

    # Batching across files: the graph's time per patch at larger batches (same patches repeated).
    import numpy as np

    rows_b = []
    for b in (1, 8, 16, 32):
        batch = np.ascontiguousarray(np.resize(patches, (b, *patches.shape[1:])))
        seconds = median_time(lambda batch=batch: tower.session.run(None, {"mel": batch}), repeats=5)
        rows_b.append([b, 1000 * seconds / b])
    per8 = rows_b[1][1]
    rows_b = [[b, ms, ms / per8] for b, ms in rows_b]

    src = bundle.file("audio")
    temporal = [f"/{n}/front.{i}/Conv" for n in NETS for i in (2, 3, 4)]
    variants = [
        ("timbral front.0-1 (shipped, pipeline 2)", quantize_audio.TIMBRAL),
        ("+ temporal front.2-4", quantize_audio.TIMBRAL + temporal),
        ("+ temporal front.2-4 + mid.0", quantize_audio.TIMBRAL + temporal + [f"/{n}/mid.0/Conv" for n in NETS]),
    ]
    rows3 = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, nodes in variants:
            dst = Path(tmp) / "q.onnx"
            quantize_audio.quantize(src, dst, nodes=nodes)
            c = quantize_audio.compare(src, dst)
            rows3.append(
                [
                    label,
                    c["float_ms_per_audio_minute"],
                    c["int8_ms_per_audio_minute"],
                    c["int8_ms_per_audio_minute"] / c["float_ms_per_audio_minute"],
                    c["max_prob_change"],
                    c["clips_top3_changed"],
                ]
            )
    body = (
        "### Sampled indexing: the per-track budget for 20k tracks/hour, and where the audio graph spends it\n\n"
        f"{len(files)} generated 4-minute 192 kb/s MP3s, {args.budget} windows each, in process, one thread, "
        "medians (ms per track). The whole command adds process start-up, model loading and SQLite writes "
        "(`bench_index.py sampled`).\n\n"
        + table(["stage", "ms per track", "% of the sum"], rows1)
        + "\n\nThe shipped graph's operators on one track's patches (onnxruntime profiler, one thread; "
        "QLinearConv = the int8 timbral convolutions, Conv/FusedConv = the float rest):\n\n"
        + table(["operator", "ms", "%"], rows2)
        + "\n\nBatching patches of several files into one run (the shipped graph, one thread; a track's 8 "
        "patches are one batch of 8 today):\n\n"
        + table(["patches per run", "ms per patch", "vs batch 8"], rows_b)
        + "\n\nQuantising more convolutions (same calibration as models/quantize_audio.py, both graphs timed "
        "on the same 64-patch batch in the same run; held-out synthetic clips for the change):\n\n"
        + table(
            [
                "int8 convolutions",
                "float ms / audio min",
                "int8 ms / audio min",
                "ratio",
                "max prob change",
                "clips with top-3 changed (of 40)",
            ],
            rows3,
        )
        + f"\n\nCommand: `python benchmarks/bench_onnx_budget.py --tracks {args.tracks} --budget {args.budget}`; "
        f"machine: {machine()}, load {load0:.2f} at start."
    )
    print(body)
    write_section("onnx-budget", body)


if __name__ == "__main__":
    main()
