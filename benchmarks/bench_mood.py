"""The optional mood axes (vibenet): how they install beside each ONNX runtime, and what they cost.

    python benchmarks/bench_mood.py install [--write]   # fresh venvs: [cpu] and [gpu], then vibenet --no-deps
    python benchmarks/bench_mood.py cost [--tracks 8] [--write]

``install`` makes two fresh virtual environments under $TMPDIR/musictext-bench/mood-venvs, installs
musictext with the ``cpu`` or the ``gpu`` extra (onnxruntime-gpu installs from the registry without
a GPU), then the mood extra as the README says (`pip install --no-deps vibenet==0.1.0`), and reports
from inside each: which runtime distributions are installed (importlib.metadata), the providers the
runtime offers (the CUDA provider must still be there in the gpu venv), whether musictext finds the
mood model, and `musictext status`'s mood line. It also asks pip, without installing anything
(`--dry-run --report`), what a plain `pip install vibenet==0.1.0` would do in the gpu venv: the
reason the extra is a --no-deps command and not a pyproject extra.

``cost``: generated 4-minute MP3s (benchmarks/bench_index.py) indexed with `musictext index` in a
fresh data folder, with vibenet visible and hidden, tracks/hour; and the mood network alone on the
20 s excerpt, ms per track (one thread, as an index worker runs it).
"""

from __future__ import annotations

import argparse
import json
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

REPO = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("TMPDIR", "/tmp")) / "musictext-bench"
MOOD_INSTALL = ["install", "--no-deps", "vibenet==0.1.0"]
PROBE = r"""
import json, importlib.metadata as md
def v(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
import onnxruntime as ort
from musictext.audio.mood import find_mood_model
m = find_mood_model()
print(json.dumps({"onnxruntime": v("onnxruntime"), "onnxruntime-gpu": v("onnxruntime-gpu"),
                  "vibenet": v("vibenet"), "typer": v("typer"), "providers": ort.get_available_providers(),
                  "mood_model": m.model_id if m.available else m.problem}))
"""
# musictext as if vibenet were not installed: its distribution cannot be found (for the cost runs).
HIDE_VIBENET = """
import importlib.metadata as md, sys
_version = md.version
def version(name):
    if name == "vibenet":
        raise md.PackageNotFoundError(name)
    return _version(name)
md.version = version
from musictext.cli.app import main
sys.argv = ["musictext", *sys.argv[1:]]
main()
"""


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} -> {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return done


def bench_install() -> str:
    root = WORK / "mood-venvs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rows, notes = [], []
    for extra in ("cpu", "gpu"):
        venv = root / extra
        run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
        run([*pip, "install", f"{REPO}[{extra}]"])
        py = str(venv / "bin" / "python")
        before = json.loads(run([py, "-c", PROBE], cwd=root).stdout.splitlines()[-1])
        if extra == "gpu":
            report = run([*pip, "install", "--dry-run", "--ignore-installed", "--report", "-", "vibenet==0.1.0"]).stdout
            would = sorted(f"{i['metadata']['name']} {i['metadata']['version']}" for i in json.loads(report)["install"])
            notes.append("A plain `pip install vibenet==0.1.0` in the gpu venv would install: " + ", ".join(would))
        run([*pip, *MOOD_INSTALL])
        after = json.loads(run([py, "-c", PROBE], cwd=root).stdout.splitlines()[-1])
        home = tempfile.mkdtemp(prefix="mt-mood-home-")
        status = run([str(venv / "bin" / "musictext"), "status"], env={**os.environ, "MUSICTEXT_HOME": home}, cwd=root)
        mood_line = next((line for line in status.stdout.splitlines() if line.startswith("mood")), "")
        for when, probe in (("after [" + extra + "]", before), ("after + vibenet --no-deps", after)):
            rows.append(
                [
                    extra,
                    when,
                    probe["onnxruntime"] or "-",
                    probe["onnxruntime-gpu"] or "-",
                    "yes" if "CUDAExecutionProvider" in probe["providers"] else "no",
                    probe["typer"],
                    probe["mood_model"] or "-",
                ]
            )
        rows[-1][-1] += f" (`status`: {mood_line.split(None, 1)[-1]})"
    heads = ["venv", "state", "onnxruntime", "onnxruntime-gpu", "CUDA provider listed", "typer", "mood model"]
    return table(heads, rows) + "\n\n" + "\n".join(notes)


def bench_cost(tracks: int) -> str:
    from bench_index import mp3_library

    lib = mp3_library("mood-cost", tracks, 240.0)
    out = []
    for name, cmd in (
        ("without vibenet (default)", [sys.executable, "-c", HIDE_VIBENET]),
        ("with vibenet (mood axes)", [sys.executable, "-m", "musictext"]),
    ):
        walls = []
        for _ in range(2):
            home = tempfile.mkdtemp(prefix="mt-mood-cost-")
            t0 = time.perf_counter()
            run([*cmd, "index", str(lib), "--json"], env={**os.environ, "MUSICTEXT_HOME": home}, cwd=REPO)
            walls.append(time.perf_counter() - t0)
            shutil.rmtree(home, ignore_errors=True)
        best = min(walls)
        out.append([name, tracks, best, 3600 * tracks / best])
        print(out[-1], flush=True)
    sys.path.insert(0, str(REPO))
    import numpy as np

    from musictext.audio.decode import track_patches
    from musictext.audio.mood import MoodTower, find_mood_model

    tower = MoodTower(find_mood_model())
    excerpts = [track_patches(p, 8, excerpt=True).excerpt for p in sorted(lib.glob("*.mp3"))]
    tower.axes(excerpts[0])
    per = []
    for ex in excerpts:
        t0 = time.perf_counter()
        tower.axes(ex)
        per.append(1000 * (time.perf_counter() - t0))
    body = table(["run", "4-min MP3s", "index wall s (best of 2, start-up included)", "tracks/hour"], out)
    body += f"\n\nThe mood network alone, one thread, on the {len(excerpts[0]) / 16000:.0f} s excerpt: "
    body += f"median {statistics.median(per):.0f} ms per track (min {min(per):.0f}, max {max(per):.0f})."
    del np
    return body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["install", "cost"])
    ap.add_argument("--tracks", type=int, default=8)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    body = bench_install() if args.what == "install" else bench_cost(args.tracks)
    print(body)
    if args.write:
        cmd = f"python benchmarks/bench_mood.py {args.what}" + (
            f" --tracks {args.tracks}" if args.what == "cost" else ""
        )
        write_section(
            f"mood-{args.what}", f"### Mood axes: {args.what}\n\nCommand: `{cmd}`; machine: {machine()}.\n\n{body}"
        )


if __name__ == "__main__":
    main()
