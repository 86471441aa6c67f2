"""Issue 15's speed figures side by side, from one run: the existing benchmark functions called in
turn (each in its own process, so one part's memory does not count against the next), one table
of the figures next to their targets, and every part's own table below it.

    python benchmarks/speed_all.py            # the real sizes; writes RESULTS.md section speed-all
    python benchmarks/speed_all.py --quick    # a smoke run at small sizes (prints only)

The sampled part's 48 four-minute MP3s are generated on the first run (minutes, also with --quick)
and reused after; the search libraries likewise. The HNSW part builds 250k- and 1M-track graphs
(the 1M build is most of the run: a quarter of an hour or more on 2 cores).

Parts: sampled indexing (bench_index.bench_sampled, 8 windows), cold `search` with a never-seen
and a repeated query (bench_index.bench_search), in-process concept and exact joint-space queries
with the library's memory (bench_index.bench_inprocess), adding 1k tracks to a large HNSW index
(bench_ann.bench_hnsw_add). Whatever those functions measure when this runs is what is reported,
so changes to them (or to the code they time) show up here without touching this script.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _results import machine, table, write_section  # noqa: E402

FULL = {"sampled": [8], "search": [10_000, 100_000], "inprocess": 1_000_000, "hnsw": [250_000, 1_000_000]}
QUICK = {"sampled": [8], "search": [2_000], "inprocess": 50_000, "hnsw": [5_000]}


def run_part(name: str, sizes: dict) -> str:
    """One benchmark function's markdown section, computed in a fresh process."""
    import bench_ann
    import bench_index

    bench_index.WORK.mkdir(parents=True, exist_ok=True)
    if name == "sampled":
        return bench_index.bench_sampled(sizes["sampled"])
    if name == "search":
        for n in sizes["search"]:  # the folder bench_search's library builder opens its store in
            (bench_index.WORK / f"search-{n}").mkdir(exist_ok=True)
        return bench_index.bench_search(sizes["search"])
    if name == "inprocess":
        return bench_index.bench_inprocess(sizes["inprocess"])
    if name == "hnsw":
        return bench_ann.bench_hnsw_add(sizes["hnsw"])
    raise ValueError(name)


def tables(section: str) -> list[list[dict]]:
    """The markdown tables of a section, each as a list of {header: cell} rows."""
    out, current, headers = [], None, None
    for line in section.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if headers is None:
                headers, current = cells, []
            elif not all(set(c) <= {"-", ":"} for c in cells):
                current.append(dict(zip(headers, cells)))
        elif headers is not None:
            out.append(current)
            headers = current = None
    return out


def _num(cell: str | None) -> float | None:
    try:
        return float(str(cell).replace(",", ""))
    except (TypeError, ValueError):
        return None


def _pick(rows: list[dict], column: str, **match) -> str | None:
    for row in rows:
        if all(key in row and test(row[key]) for key, test in match.items()):
            return row.get(column)
    return None


def summary(parts: dict[str, str], sizes: dict) -> list[list]:
    """(figure, measured, target, met) rows read from each part's table; a figure a part no longer
    reports is listed as missing, never guessed."""
    rows = []

    def add(figure, value, unit, target=None, better="low"):
        v = _num(value)
        goal = "-" if target is None else f"{'≤' if better == 'low' else '≥'} {target:g} {unit}"
        if v is None:
            rows.append([figure, "missing (see its section)", goal, "-"])
            return
        met = "-" if target is None else ("yes" if (v <= target if better == "low" else v >= target) else "no")
        rows.append([figure, f"{v:,.3f} {unit}" if v < 10 else f"{v:,.0f} {unit}", goal, met])

    if "sampled" in parts:
        t = (tables(parts["sampled"]) or [[]])[0]
        for budget in sizes["sampled"]:
            first = lambda c, b=budget: c == str(b)  # noqa: E731
            add(
                f"sampled indexing, {budget} windows, steady (median of rounds)",
                _pick(t, "steady tracks/hour", **{"windows per track": first}),
                "tracks/h",
                20_000,
                "high",
            )
            add(
                f"sampled indexing, {budget} windows, whole command",
                _pick(t, "tracks/hour (whole command)", **{"windows per track": first}),
                "tracks/h",
            )
            add("sampled indexing peak RSS", _pick(t, "peak RSS MiB", **{"windows per track": first}), "MiB")
    if "search" in parts:
        t = (tables(parts["search"]) or [[]])[0]
        for n in sizes["search"]:
            size = lambda c, n=n: c == f"{n:,}"  # noqa: E731
            never = _pick(t, "median s", tracks=size, query=lambda c: "never-seen" in c)
            add(f"cold search, never-seen query, {n:,} tracks", never, "s", 0.3 if n >= 100_000 else None)
            repeated = [
                _num(r.get("median s"))
                for r in t
                if size(r.get("tracks", ""))
                and "never" not in r.get("query", "")
                and "similar" not in r.get("query", "")
            ]
            repeated = [v for v in repeated if v is not None]
            add(
                f"cold search, repeated query (worst of {len(repeated)}), {n:,} tracks",
                max(repeated) if repeated else None,
                "s",
                0.12,
            )
            add(
                f"cold similar, {n:,} tracks",
                _pick(t, "median s", tracks=size, query=lambda c: c.startswith("similar")),
                "s",
            )
            add(
                f"cold search peak RSS, {n:,} tracks",
                max((_num(r.get("peak RSS MiB")) or 0 for r in t if size(r.get("tracks", ""))), default=None),
                "MiB",
            )
    if "inprocess" in parts:
        text = parts["inprocess"]
        t = (tables(text) or [[]])[0]
        n = sizes["inprocess"]
        add(
            f"in-process concept query, {n:,} tracks",
            _pick(t, "now median ms", query=lambda c: c.startswith("concept")),
            "ms",
            5,
        )
        add(
            f"in-process exact joint query, {n:,} tracks",
            _pick(t, "now median ms", query=lambda c: c.startswith("joint")),
            "ms",
            15,
        )
        held = re.search(r"holds ([\d,]+) MiB", text)
        add(f"library held in memory, {n:,} tracks", held.group(1) if held else None, "MiB")
        peak = re.search(r"Peak RSS of this run ([\d,]+) MiB", text)
        add(f"peak RSS of the in-process run, {n:,} tracks", peak.group(1) if peak else None, "MiB")
    if "hnsw" in parts:
        t = (tables(parts["hnsw"]) or [[]])[0]
        for n in sizes["hnsw"]:
            size = lambda c, n=n: c == f"{n:,}"  # noqa: E731
            add(f"HNSW add 1k tracks in place, {n:,} tracks", _pick(t, "add 1k s", tracks=size), "s")
            add(f"HNSW full rebuild, {n:,} tracks", _pick(t, "rebuild s", tracks=size), "s")
            add(f"HNSW recall@10 after the update, {n:,} tracks", _pick(t, "recall@10 updated", tracks=size), "")
        peak = re.search(r"Peak RSS ([\d,]+) MiB", parts["hnsw"])
        add("peak RSS of the HNSW run", peak.group(1) if peak else None, "MiB")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run; prints, writes nothing")
    ap.add_argument("--parts", default="sampled,search,inprocess,hnsw", help="which parts, comma-separated")
    ap.add_argument("--hnsw-sizes", help="HNSW index sizes, comma-separated (default 250000,1000000)")
    ap.add_argument("--_part", help=argparse.SUPPRESS)
    a = ap.parse_args()
    sizes = dict(QUICK if a.quick else FULL)
    if a.hnsw_sizes:
        sizes["hnsw"] = [int(x) for x in a.hnsw_sizes.split(",")]
    if a._part:
        print("\n@@PART@@" + json.dumps(run_part(a._part, sizes)))
        return
    parts, seconds = {}, {}
    for name in a.parts.split(","):
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--_part", name] + (["--quick"] if a.quick else [])
        cmd += ["--hnsw-sizes", a.hnsw_sizes] if a.hnsw_sizes else []
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        seconds[name] = time.perf_counter() - t0
        marker = done.stdout.rfind("@@PART@@")
        if done.returncode != 0 or marker < 0:
            parts[name] = f"### {name}\n\nfailed (exit {done.returncode}); rerun `--parts {name}` to see why."
            print(f"part {name} failed (exit {done.returncode})", file=sys.stderr)
            continue
        parts[name] = json.loads(done.stdout[marker + len("@@PART@@") :])
        print(f"part {name}: {seconds[name]:.0f} s", file=sys.stderr)
    command = "python benchmarks/speed_all.py" + (" --quick" if a.quick else "")
    if a.parts != ap.get_default("parts"):
        command += f" --parts {a.parts}"
    if a.hnsw_sizes:
        command += f" --hnsw-sizes {a.hnsw_sizes}"
    full = a.parts == ap.get_default("parts")
    title = "## Issue 15: all speed figures in one run\n\n" if full else f"## Issue 15: {a.parts}, in one run\n\n"
    text = (
        title + f"One run of `{command}` (each part in its own process, one after another); machine: {machine()}; "
        f"wall per part: {', '.join(f'{k} {v:.0f} s' for k, v in seconds.items())}. Targets are issue 15's. "
        "Every figure is read from the part's own table below.\n\n"
        + table(["figure", "measured", "target", "met"], summary(parts, sizes))
        + "\n\n"
        + "\n\n".join(parts.values())
    )
    print(text)
    if not a.quick:
        # A run of some parts (a rerun of a disturbed part, say) goes beside the full run, never over it.
        write_section("speed-all" if full else "speed-parts", text)


if __name__ == "__main__":
    main()
