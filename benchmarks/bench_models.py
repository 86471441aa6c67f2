"""Model towers: audio patches/s and ms per audio minute (ONNX Runtime vs TensorFlow original, same
run), fp32 throughput against the CPU's peak, and text-tower queries/s and session load time.

    python benchmarks/bench_models.py [--tf-python /tmp/tfvenv/bin/python]

The TensorFlow column needs a Python with tensorflow-cpu and tf-keras (the conversion venv of
models/convert_musicnn.py); without one it is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, median_time, table, write_section  # noqa: E402

from musictext.model.bundle import get_bundle  # noqa: E402
from musictext.model.runtime import make_session, worker_count  # noqa: E402

PATCH_SECONDS = 187 * 256 / 16000


def audio_flops(onnx_path: Path) -> float:
    """Multiply-adds x2 per patch of every Conv/Gemm/MatMul, from ONNX shape inference."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(onnx_path))
    # Fix the batch to 1 so every shape is concrete.
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model = shape_inference.infer_shapes(model)
    shapes = {}
    for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    flops = 0.0
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = inits.get(node.input[1])
            out = shapes.get(node.output[0])
            if w and out and all(out):
                flops += 2 * np.prod(out) * np.prod(w[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            w = inits.get(node.input[1])
            out = shapes.get(node.output[0])
            if w and out and all(out):
                flops += 2 * np.prod(out) * w[0 if node.op_type == "MatMul" else -1]
    return float(flops)


def cpu_clock() -> tuple[float, int, str]:
    """(nominal GHz, fp32 FLOP/cycle/core peak, ISA): 2 FMA units x 16 lanes x 2 with AVX-512."""
    text = Path("/proc/cpuinfo").read_text()
    mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text))
    flags = re.search(r"flags\s*:\s*(.+)", text).group(1).split()
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    isa = "AVX-512" if per_cycle == 64 else "AVX2/FMA" if per_cycle == 32 else "SSE"
    return mhz / 1000, per_cycle, isa


def bench_audio(bundle) -> dict:
    sess = make_session(bundle.file("audio"), threads=2)
    rng = np.random.default_rng(0)
    mel = (rng.random((64, 187, 96), dtype=np.float32) * 3).astype(np.float32)
    out = {}
    for b in (1, 8, 32):
        n = (len(mel) // b) * b

        def run():
            for i in range(0, n, b):
                sess.run(None, {"mel": mel[i : i + b]})

        t = median_time(run, repeats=5)
        out[b] = {"patches_s": n / t, "ms_per_audio_min": t / (n * PATCH_SECONDS / 60) * 1000}
    return out


def bench_tf(tf_python: str) -> dict | None:
    repo = Path(__file__).resolve().parents[1]
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "musictext-convert-work"
    proc = subprocess.run(
        [tf_python, str(repo / "models" / "convert_musicnn.py"), "--bench", "--workdir", str(work)],
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3"),
    )
    if proc.returncode != 0:
        print(f"TensorFlow column skipped: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    text = proc.stdout[proc.stdout.index("{") :]
    return json.loads(text)


def bench_text(bundle) -> dict:
    from musictext.model.text import TextEncoder

    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        enc = TextEncoder(bundle.file("text"), bundle.file("tokenizer"), cache_size=0)
        enc.encode(["warm up"])
        loads.append(time.perf_counter() - t0)
    queries = [
        f"a {a} {b} piece number {i}"
        for i, (a, b) in enumerate(zip(["slow", "fast", "calm", "loud"] * 25, ["piano", "cello", "jazz", "rock"] * 25))
    ]

    def one_by_one():
        for q in queries:
            enc.encode([q])

    def batched():
        enc.encode(queries)

    return {
        "load_s": float(np.median(loads)),
        "qps_single": len(queries) / median_time(one_by_one, 3),
        "qps_batch": len(queries) / median_time(batched, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_tf = "/tmp/tfvenv/bin/python" if Path("/tmp/tfvenv/bin/python").exists() else None
    ap.add_argument("--tf-python", default=os.environ.get("MUSICTEXT_TF_PYTHON", default_tf))
    args = ap.parse_args()
    bundle = get_bundle()
    audio = bench_audio(bundle)
    tf = bench_tf(args.tf_python) if args.tf_python else None
    flops = audio_flops(bundle.file("audio"))
    ghz, per_cycle, isa = cpu_clock()
    cores = worker_count()
    text = bench_text(bundle)

    rows = []
    for b, r in audio.items():
        gflops = r["patches_s"] * flops / 1e9
        row = [b, r["patches_s"], r["ms_per_audio_min"], gflops, gflops / cores / ghz]
        if tf:
            row += [
                tf["onnxruntime_both_nets"][f"batch_{b}"],
                tf["tensorflow_original_both_nets"][f"batch_{b}"],
            ]
        rows.append(row)
    headers = ["batch", "patches/s", "ms per audio min", "GFLOP/s", "FLOP/cycle/core at nominal clock"]
    if tf:
        headers += ["ORT ms/min (TF run)", "TF original ms/min (same run)"]
    body = [
        "## Model towers (`python benchmarks/bench_models.py`)",
        "",
        f"Machine: {machine()}. Both musicnn nets in one ONNX graph, 2 threads, medians of 5.",
        f"Audio tower: {flops / 1e6:.0f} MFLOP per 3 s patch (both nets, counted from the graph's Conv/Gemm shapes). "
        f"fp32 peak of this CPU: {per_cycle} FLOP/cycle/core ({isa}, 2 FMA units) at {ghz:.2f} GHz nominal, "
        f"{cores * ghz * per_cycle:.0f} GFLOP/s for {cores} cores; the cores boost above the nominal clock, so the "
        "last column is an upper bound of the share of peak used.",
        "",
        table(headers, rows),
        "",
        "The TensorFlow columns come from `models/convert_musicnn.py --bench` (best of 3) in the conversion venv, "
        "run right after the first columns on the same machine."
        if tf
        else "TensorFlow not available: column skipped.",
        "",
        table(
            ["text tower", "value"],
            [
                ["session load + first query (s)", text["load_s"]],
                ["queries/s, one at a time", text["qps_single"]],
                ["queries/s, batch of 100", text["qps_batch"]],
            ],
        ),
    ]
    report = "\n".join(body)
    print(report)
    write_section("models", report)


if __name__ == "__main__":
    main()
