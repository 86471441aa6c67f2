"""Tempo on real loops whose length fixes the tempo up to the number of bars (lmms-common's samples).

    apt-get download lmms-common && dpkg-deb -x lmms-common_*.deb /tmp/lmms
    python benchmarks/tempo_loops.py /tmp/lmms/usr/share/lmms/samples [--code OLD_CHECKOUT] [--write]

The package names no bpm; a loop of L seconds that repeats seamlessly holds a whole number of 4/4 bars,
so its tempo is 240·k/L bpm for k = 1, 2, 4 bars (those in 40..220 are the candidates). Each loop in
beats/ and bassloops/ is repeated to 60 s (ffmpeg -stream_loop), decoded and described as `musictext
index` does, and a hit is a stored bpm within ±4 % of a candidate. This is weaker than the issue's
measure (it cannot tell an octave error from a different bar count), and is reported as such.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_tempo  # noqa: E402
from _results import machine, table, write_section  # noqa: E402


def duration(p: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(p)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("samples", type=Path)
    ap.add_argument("--code", type=Path)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    loops = sorted(p for d in ("beats", "bassloops") for p in (args.samples / d).glob("*.ogg"))
    tmp = Path(tempfile.mkdtemp(prefix="mt-loops-"))
    paths, cands = [], []
    for p in loops:
        length = duration(p)
        out = tmp / (p.stem + ".wav")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(int(60 / length) + 1), "-i", str(p),
                        "-t", "60", "-ac", "1", "-ar", "16000", str(out)], check=True)  # fmt: skip
        paths.append(str(out))
        cands.append([240.0 * k / length for k in (1, 2, 4) if 40 <= 240.0 * k / length <= 220])
    codes = [("this checkout", None)] + ([(f"previous ({args.code})", args.code)] if args.code else [])
    got = {name: bench_tempo.measure_with(src, paths) for name, src in codes}
    rows, hits = [], {name: 0 for name, _ in codes}
    for i, p in enumerate(loops):
        row = [f"{p.parent.name}/{p.name}", " / ".join(f"{c:.1f}" for c in cands[i])]
        for name, _ in codes:
            b = got[name][i]["bpm"]
            ok = b is not None and any(abs(b / c - 1) <= 0.04 for c in cands[i])
            hits[name] += ok
            row.append(f"{b:.1f}{'' if ok else ' ✗'}" if b is not None else "none ✗")
        rows.append(row)
    rows.append(["within ±4 % of a candidate", ""] + [f"{hits[n]} of {len(loops)}" for n, _ in codes])
    body = table(["loop", "candidate bpm (1/2/4 bars)"] + [n for n, _ in codes], rows)
    print(body)
    if args.write:
        cmd = f"python benchmarks/tempo_loops.py {args.samples}" + (f" --code {args.code}" if args.code else "")
        write_section("tempo-loops", f"### Tempo: real loops (lmms-common)\n\nCommand: `{cmd}`; machine: "
                      f"{machine()}. Loop length fixes the tempo only up to the bar count (octave errors are not"
                      f" told apart here).\n\n{body}")  # fmt: skip


if __name__ == "__main__":
    main()
