"""Tempo: stored bpm against known tempos, and what measuring it costs per track.

    python benchmarks/bench_tempo.py accuracy DIR [DIR...] [--code OLD_CHECKOUT] [--write]
    python benchmarks/bench_tempo.py cost [--code OLD_CHECKOUT] [--tracks 6] [--write]
    python benchmarks/bench_tempo.py words DIR --home HOME [--write]

``accuracy``: each DIR holds a manifest.jsonl whose rows give ``path`` and the tempo (``bpm``, as
benchmarks/tempo_devset.py writes, or ``tempo_bpm`` with ``part`` = synth, as the evaluation
corpus does). Each file is decoded and described exactly as `musictext index` does (8 sampled
windows plus the contiguous excerpt) and the stored bpm is compared: a hit is within ±4 %; the
double, half, triple, third, 3/2 and 2/3 count as octave errors (misses). With labels ``fast``/
``slow`` it also gives the ROC-AUC of the "fast"/"slow" descriptor concepts (bpm and onset rate,
standardised over the files). ``--code DIR`` runs the same on another checkout's musictext (the
previous pipeline) in a subprocess, for the before/after table.

``words``: the ROC-AUC of `musictext search fast` / `slow` itself (the shipped planner's scores,
not the descriptor proxy above) over the clips of DIR's synthetic part, against their fast/slow
labels; HOME is a data folder in which DIR was indexed (evaluate.py --home leaves one).

``cost``: decode + descriptors of generated 4-minute MP3s (benchmarks/bench_index.py makes them),
median ms per track, this checkout and ``--code``'s.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OCTAVES = (0.5, 2.0, 1 / 3, 3.0, 2 / 3, 1.5)


def rows_of(root: Path) -> list[dict]:
    out = []
    for line in (root / "manifest.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        bpm = r.get("bpm", r.get("tempo_bpm"))
        if bpm is None or r.get("part", "synth") != "synth":
            continue
        out.append({"path": str(root / r["path"]), "bpm": float(bpm), "labels": r.get("labels", [])})
    return out


def measure(paths: list[str]) -> list[dict]:
    """bpm and onset rate of each file as `musictext index` stores them (this process's musictext)."""
    import numpy as np

    from musictext.audio.decode import track_patches
    from musictext.audio.descriptors import describe
    from musictext.config import DEFAULT_WINDOWS

    out = []
    for p in paths:
        t0 = time.perf_counter()
        a = track_patches(p, DEFAULT_WINDOWS)
        takes_excerpt = "excerpt" in inspect.signature(describe).parameters
        kwargs = {"excerpt": a.excerpt} if takes_excerpt and hasattr(a, "excerpt") else {}
        d = describe(a.samples, window_starts=a.window_starts or None, **kwargs)
        out.append({"bpm": None if not np.isfinite(d.bpm) else d.bpm, "onset_rate": d.onset_rate,
                    "ms": 1000 * (time.perf_counter() - t0)})  # fmt: skip
    return out


def measure_with(code: Path | None, paths: list[str]) -> list[dict]:
    if code is None:
        return measure(paths)
    script = (
        f"import sys, json; sys.path.insert(0, {str(code)!r}); sys.path.insert(1, {str(REPO / 'benchmarks')!r});"
        "import bench_tempo; print(json.dumps(bench_tempo.measure(json.loads(sys.stdin.read()))))"
    )
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(paths), capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def roc_auc(scores: list[float], positive: list[bool]) -> float:
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return math.nan
    return sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))


def verdict(estimate: float | None, bpm: float) -> str:
    """ "hit" within ±4 %, "octave" at a multiple in OCTAVES (a miss), "none" without a tempo, else "miss"."""
    if estimate is None:
        return "none"
    if abs(estimate / bpm - 1) <= 0.04:
        return "hit"
    if any(abs(estimate / (bpm * m) - 1) <= 0.04 for m in OCTAVES):
        return "octave"
    return "miss"


def summarise(rows: list[dict], got: list[dict]) -> dict:
    import numpy as np

    verdicts = [verdict(g["bpm"], r["bpm"]) for r, g in zip(rows, got)]
    hits, octave, none = (verdicts.count(v) for v in ("hit", "octave", "none"))
    bpm = np.array([g["bpm"] if g["bpm"] else np.nan for g in got], float)
    bpm = np.log(np.where(np.isfinite(bpm), bpm, np.nanmean(bpm)))
    rate = np.log(np.clip([g["onset_rate"] for g in got], 0.05, 50))

    def z(x):
        return (x - x.mean()) / (x.std() or 1.0)

    fast_score = list(z(bpm) + z(rate))  # the "fast" concept's columns and weights (concepts.py)
    labels = [set(r["labels"]) for r in rows]
    n = len(rows)
    return {
        "n": n,
        "acc": hits / n,
        "octave": octave / n,
        "none": none / n,
        "fast": roc_auc(fast_score, ["fast" in x for x in labels]),
        "slow": roc_auc([-s for s in fast_score], ["slow" in x for x in labels]),
        "ms": float(np.median([g["ms"] for g in got])),
    }


def bench_accuracy(dirs: list[Path], code: Path | None) -> str:
    out = []
    for d in dirs:
        rows = rows_of(d)
        paths = [r["path"] for r in rows]
        for name, src in (
            (("this checkout", None), (f"previous ({code})", code)) if code else (("this checkout", None),)
        ):
            s = summarise(rows, measure_with(src, paths))
            out.append([str(d), name, s["n"], f"{100 * s['acc']:.1f} %", f"{100 * s['octave']:.1f} %",
                        f"{100 * s['none']:.1f} %", s["fast"], s["slow"], s["ms"]])  # fmt: skip
    heads = ["clips", "code", "n", "bpm within ±4 %", "octave errors", "no tempo", "fast AUC", "slow AUC", "ms/clip"]
    return table(heads, out)


def bench_cost(code: Path | None, tracks: int) -> str:
    from bench_index import mp3_library

    lib = mp3_library("tempo-cost", tracks, 240.0)
    paths = sorted(str(p) for p in lib.glob("*.mp3"))
    out = []
    for name, src in (("this checkout", None), (f"previous ({code})", code)) if code else (("this checkout", None),):
        got = [measure_with(src, paths) for _ in range(3)]
        per = sorted(min(g[i]["ms"] for g in got) for i in range(len(paths)))
        out.append([name, len(paths), per[len(per) // 2], 2 * 3600 * 1000 / per[len(per) // 2]])
    return table(["code", "4-min MP3s", "decode + descriptors, ms/track (median of best of 3)",
                  "this stage alone, tracks/hour on 2 cores"], out)  # fmt: skip


def bench_words(root: Path, home: Path) -> str:
    """ROC-AUC of the real search scores for "fast" and "slow" over the synthetic clips of ``root``."""
    env = {**os.environ, "MUSICTEXT_HOME": str(home)}
    rows = rows_of(root)
    labels = {os.path.realpath(r["path"]): set(r["labels"]) for r in rows}
    out = []
    for word in ("fast", "slow"):
        done = subprocess.run(
            [str(Path(sys.executable).parent / "musictext"), "search", word, "-n", "100000", "--json"],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        score = {os.path.realpath(h["path"]): float(h["score"]) for h in map(json.loads, done.stdout.splitlines())}
        floor = min(score.values(), default=0.0) - 1.0
        paths = sorted(labels)
        pos = [word in labels[p] for p in paths]
        out.append([word, sum(pos), len(paths) - sum(pos), roc_auc([score.get(p, floor) for p in paths], pos)])
    return table(["word", "clips with the label", "clips without", "ROC-AUC of `musictext search WORD`"], out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["accuracy", "cost", "words"])
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--code", type=Path, help="another checkout whose musictext to measure beside this one")
    ap.add_argument("--tracks", type=int, default=6)
    ap.add_argument("--home", type=Path, help="words: the data folder DIR was indexed in")
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    if args.what == "accuracy":
        body = bench_accuracy(args.dirs, args.code)
        cmd = "python benchmarks/bench_tempo.py accuracy " + " ".join(map(str, args.dirs))
    elif args.what == "words":
        if len(args.dirs) != 1 or args.home is None:
            ap.error("words takes one DIR and --home")
        body = bench_words(args.dirs[0], args.home)
        cmd = f"python benchmarks/bench_tempo.py words {args.dirs[0]} --home HOME"
    else:
        body = bench_cost(args.code, args.tracks)
        cmd = "python benchmarks/bench_tempo.py cost"
    if args.code:
        cmd += f" --code {args.code}"
    print(body)
    if args.write:
        write_section(
            f"tempo-{args.what}", f"### Tempo: {args.what}\n\nCommand: `{cmd}`; machine: {machine()}.\n\n{body}"
        )


if __name__ == "__main__":
    main()
