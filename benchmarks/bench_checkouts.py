"""Two source trees of musictext side by side: start-up, cold search and indexing, interleaved.

    python benchmarks/bench_checkouts.py --before /path/to/old/checkout [--after .] [--rounds 5]

Used to check that a change (the package re-layout, say) makes nothing slower. Both trees run
with the same Python and the same installed dependencies, selected by PYTHONPATH; the runs
alternate (before, after, before, ...) so that the machine's noise falls on both alike. Medians
of `--rounds` runs and their ratio (after / before) go to stdout and to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402
from bench_index import WORK, mp3_library  # noqa: E402


def run(tree: Path, args: list[str], home: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree), MUSICTEXT_HOME=home)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "musictext", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: musictext {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="the older source tree (a checkout or worktree)")
    ap.add_argument("--after", type=Path, default=Path(__file__).resolve().parents[1])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tracks", type=int, default=10_000, help="size of the synthetic library for search")
    a = ap.parse_args()
    trees = {"before": a.before.resolve(), "after": a.after.resolve()}

    search_home = WORK / f"search-{a.tracks}"
    search_home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(Path(__file__).with_name("bench_index.py")), "_build", str(search_home), str(a.tracks)],
        check=True,
        env=dict(os.environ, PYTHONPATH=str(trees["after"])),
    )
    homes = {}  # one copy of the library each: their derived caches need not agree
    for label in trees:
        homes[label] = WORK / f"checkouts-{label}-{a.tracks}"
        shutil.rmtree(homes[label], ignore_errors=True)
        shutil.copytree(search_home, homes[label])
    music = mp3_library("checkouts", 8, 60.0)
    cases = {
        "`musictext --help` (start-up)": lambda label: run(trees[label], ["--help"], str(homes[label])),
        f"cold `search` at {a.tracks:,} tracks": lambda label: run(
            trees[label], ["search", "a slow cello piece", "-n", "20", "--json"], str(homes[label])
        ),
        f"cold `similar` at {a.tracks:,} tracks": lambda label: run(
            trees[label], ["similar", "/music/artist1/track1.mp3", "-n", "20", "--json"], str(homes[label])
        ),
        "`index` 8 one-minute MP3s (sampled, fresh library)": lambda label: run(
            trees[label], ["index", str(music), "--json"], tempfile.mkdtemp(prefix="mt-bench-home-")
        ),
    }
    rows = []
    for name, case in cases.items():
        for label in trees:  # warm-up: OS file cache, text-embedding cache
            case(label)
        times: dict[str, list[float]] = {k: [] for k in trees}
        for _ in range(a.rounds):
            for label in trees:
                times[label].append(case(label))
        before, after = (statistics.median(times[k]) for k in ("before", "after"))
        rows.append([name, before, after, f"{after / before:.2f}"])
        print(f"{name}: before {before:.3f} s, after {after:.3f} s, ratio {after / before:.2f}", flush=True)
    body = (
        "### Before and after a change, side by side\n\n"
        f"`python benchmarks/bench_checkouts.py --before {a.before} --rounds {a.rounds}`; medians of "
        f"{a.rounds} interleaved runs each, a new process per run. Machine: {machine()}.\n\n"
        + table(["case", "before s", "after s", "after / before"], rows)
    )
    print(body)
    write_section("checkouts", body)


if __name__ == "__main__":
    main()
