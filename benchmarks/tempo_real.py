"""Tempo on real drum recordings with known bpm: Hydrogen's demo songs, rendered by its own h2cli.

    apt-get install hydrogen            # h2cli, its demo songs and drum kits (sampled real kits)
    python benchmarks/tempo_real.py [--out /tmp/mt-tempo-real] [--write]

Each song states its tempo in its own file (``<bpm>`` of the .h2song XML; a song with tempo
markers would be skipped, none of the shipped ones has any). h2cli renders each song through the
kit it names, the songs are described exactly as `musictext index` does
(bench_tempo.measure), and the stored bpm is compared as bench_tempo.py does: a hit is within
±4 %, double/half/triple/third/3-2/2-3 count as octave errors. No tempo setting learns
from these files. Songs: /usr/share/hydrogen/data/demo_songs and the kits' own demo songs.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _results import machine, table, write_section  # noqa: E402
from bench_tempo import measure, verdict  # noqa: E402

SONGS = Path("/usr/share/hydrogen/data")


def songs() -> list[tuple[Path, float]]:
    out = []
    for song in sorted(SONGS.rglob("*.h2song")):
        text = song.read_text(errors="replace")
        m = re.search(r"<bpm>\s*([0-9.]+)\s*</bpm>", text)
        if not m or re.search(r"<(?:BPM|newBPM)>", text):  # no tempo, or tempo markers
            continue
        out.append((song, float(m.group(1))))
    return out


def render(song: Path, out: Path) -> Path | None:
    """The song's WAV, or None when h2cli made nothing audible (a kit whose samples are missing)."""
    import numpy as np
    import soundfile as sf

    wav = out / (song.stem + ".wav")
    if not wav.exists():
        subprocess.run(["h2cli", "-s", str(song), "-o", str(wav)], capture_output=True, timeout=900)
    if not wav.exists() or wav.stat().st_size <= 44:
        return None
    y, _ = sf.read(wav, dtype="float32")
    return wav if y.size and float(np.abs(y).max()) > 1e-4 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/mt-tempo-real"))
    ap.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    found = songs()
    if not found:
        raise SystemExit("no Hydrogen songs found: apt-get install hydrogen")
    with ThreadPoolExecutor(4) as pool:  # h2cli exports at about real time, mostly waiting
        wavs = list(pool.map(lambda s: render(s[0], args.out), found))
    rows = [(song, bpm, wav) for (song, bpm), wav in zip(found, wavs) if wav is not None]
    silent = [song.name for (song, _), wav in zip(found, wavs) if wav is None]
    (args.out / "manifest.jsonl").write_text(
        "".join(json.dumps({"path": w.name, "bpm": b, "song": str(s)}) + "\n" for s, b, w in rows)
    )
    got = measure([str(w) for _, _, w in rows])
    said = {"hit": "hit", "none": "no tempo", "miss": "miss"}
    table_rows, verdicts = [], []
    for (song, bpm, _), g in zip(rows, got):
        est, v = g["bpm"], verdict(g["bpm"], bpm)
        verdicts.append(v)
        shown = f"octave error (x{est / bpm:.2f})" if v == "octave" else said[v]
        table_rows.append([song.name, bpm, "-" if est is None else f"{est:.1f}", shown])
    hits, octave = verdicts.count("hit"), verdicts.count("octave")
    n = len(rows)
    body = (
        "### Tempo on real drum recordings with known bpm (Hydrogen's demo songs)\n\n"
        f"{n} songs that ship with Debian's hydrogen package (its demo songs and the kits' own), each rendered "
        "by h2cli through the sampled acoustic or electronic kit it names; the bpm is the song file's own "
        "`<bpm>`. Described as `musictext index` does. No tempo setting learns from these files (the "
        "`drum loop` probe of models/real_probes.py is trained on the same renders; bpm is not). "
        + (f"Left out, h2cli rendered them silent: {', '.join(silent)}. " if silent else "")
        + f"Within ±4 %: **{hits} of {n}** ({100 * hits / n:.0f} %); octave errors {octave} of {n}.\n\n"
        + table(["song", "bpm (song file)", "stored bpm", "verdict"], table_rows)
        + f"\n\nCommand: `python benchmarks/tempo_real.py --write`; machine: {machine()}."
    )
    print(body)
    if args.write:
        write_section("tempo-real", body)


if __name__ == "__main__":
    main()
