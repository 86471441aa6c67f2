"""Speed of an imported CLAP bundle's audio tower: full-size HTSAT-base (+ projection) with random
weights, exported by musictext's own port and run by ONNX Runtime on 2 threads.

    python benchmarks/bench_clap.py [--windows 3] [--repeats 3] [--text]

Random weights: this measures speed only; the quality of a CLAP model cannot be measured without
its real weights (none ship in any registry package). Needs the convert extra (torch, onnx).
Prints a table and writes the `clap` section of RESULTS.md. ``--text`` also times the full-size
RoBERTa-base text tower on one short query (a 500 MB export; slow to build).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=3, help="10 s windows per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text", action="store_true")
    args = ap.parse_args()

    import numpy as np
    import torch

    from musictext.model.clap import WINDOW, port
    from musictext.model.runtime import make_session

    htsat, model, convert = port("htsat"), port("model"), port("convert")
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    audio = model.ClapAudio(htsat.HTSAT_BASE, 512).eval()
    params = sum(p.numel() for p in audio.parameters())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        noise = np.random.default_rng(0).standard_normal((args.windows, WINDOW)) * 0.1
        wave = torch.from_numpy(noise.astype(np.float32))
        t0 = time.perf_counter()
        convert._export(torch, audio, (wave[:1],), ["waveform"], Path(tmp) / "audio.onnx")
        export_s = time.perf_counter() - t0
        diff = convert._check(torch, audio, (wave[:1],), ["waveform"], Path(tmp) / "audio.onnx")
        session = make_session(Path(tmp) / "audio.onnx", threads=args.threads)
        x = wave.numpy()
        session.run(["embedding"], {"waveform": x[:1]})  # warm-up
        for batch in (1, min(4, args.windows)):
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for i in range(0, args.windows, batch):
                    session.run(["embedding"], {"waveform": x[i : i + batch]})
                times.append(time.perf_counter() - t0)
            per_window = statistics.median(times) / args.windows
            rows.append(["audio HTSAT-base", batch, round(per_window * 1000, 1), round(per_window * 6 * 1000, 1)])
        with torch.no_grad():
            t0 = time.perf_counter()
            audio(wave[:1])
            torch_ms = (time.perf_counter() - t0) * 1000
        text_row = None
        if args.text:
            text = model.ClapText(port("roberta").ROBERTA_BASE, 512).eval()
            ids = torch.tensor([[0, 250, 1000, 4000, 2]])
            mask = torch.ones_like(ids)
            convert._export(torch, text, (ids, mask), ["input_ids", "attention_mask"], Path(tmp) / "text.onnx")
            ts = make_session(Path(tmp) / "text.onnx", threads=args.threads)
            feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
            ts.run(["embedding"], feed)
            t0 = time.perf_counter()
            for _ in range(10):
                ts.run(["embedding"], feed)
            text_row = round((time.perf_counter() - t0) * 100, 1)
    print(table(["tower", "batch", "ms per 10 s window", "ms per audio minute"], rows))
    body = [
        "## CLAP audio tower (`python benchmarks/bench_clap.py`)",
        "",
        f"Machine: {machine()}. ONNX Runtime, {args.threads} threads, CPU. Full-size HTSAT-base + projection"
        f" ({params / 1e6:.1f} M parameters, random weights: speed only; quality needs real weights), front end"
        f" (STFT, mel, bicubic stretch) inside the graph; input 10 s of 48 kHz audio per window. Medians of"
        f" {args.repeats} runs of {args.windows} windows. Export {export_s:.0f} s; ONNX vs torch max |diff|"
        f" {diff:.1e}; torch eager, one window: {torch_ms:.0f} ms.",
        "",
        table(["tower", "batch", "ms per 10 s window", "ms per audio minute"], rows),
        "",
        "An index run embeds 3 windows (30 s) per track in sampled mode, every window with --full; the base"
        " bundle's musicnn pass runs as well (see the model towers section).",
    ]
    if text_row is not None:
        body.append(f"\nText tower (RoBERTa-base + projection, one 5-token query): {text_row} ms.")
    write_section("clap", "\n".join(body))


if __name__ == "__main__":
    main()
