"""Shared by the benchmark scripts: machine facts, timing helpers, and RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nWritten by the scripts in benchmarks/; each section says the command that made it.\n"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        text = Path("/proc/cpuinfo").read_text()
        m = re.search(r"model name\s*:\s*(.+)", text)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of RESULTS.md, keeping the others."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def random_features(rng, probs):
    """The features ``Store.put_features`` takes for one synthetic sampled track: the given tag
    probabilities, zero pooled features and descriptors drawn in their usual ranges."""
    import numpy as np

    return {
        "mode": "sampled:8",
        "analysed_s": 24.0,
        "probs": probs,
        "pooled": np.zeros(400, np.float32),
        "descriptors": {
            "bpm": float(rng.uniform(60, 180)),
            "onset_rate": float(rng.uniform(0.5, 8)),
            "key": int(rng.integers(0, 12)),
            "major": float(rng.uniform(-1, 1)),
            "loudness": float(rng.uniform(-30, -8)),
            "brightness": float(rng.uniform(500, 4000)),
            "percussive": float(rng.uniform(0, 1)),
        },
    }
