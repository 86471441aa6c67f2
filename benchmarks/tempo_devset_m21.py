"""Render a tempo development set from real compositions: the music21 corpus at known tempos.

    python benchmarks/tempo_devset_m21.py --out /tmp/mt-tempo-m21 [--seed 11] [--clips 160]

Pieces come from the music21 corpus (Bach chorales, Palestrina, O'Neill's and Ryan's Mammoth
collections of reels, jigs and hornpipes, Essen folk songs, Monteverdi madrigals, trecento
songs, Aird's airs), so rhythms, syncopations, meters and textures are composers' and not ours
(tempo_devset.py's). Each
piece gets a quarter-note tempo drawn log-uniformly over 50-200 bpm (its own metronome marks are
removed), one random General MIDI program per part, and its first ``--seconds`` are rendered with
fluidsynth through TimGM6mb or the OPL-3 FM soundfont (never FluidR3_GM, which the evaluation
corpus is rendered with). ``manifest.jsonl`` gives each clip's quarter-note tempo (``bpm``), the
collection, the meter and the soundfont. Needs music21 and the fluidsynth command (developer
tools, not musictext dependencies); nothing here is shipped or learned from at run time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tempo_devset import SOUNDFONTS, render_midi  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from m21_renders import prepare as m21_prepare  # noqa: E402

COLLECTIONS = ("bach", "palestrina", "ryansMammoth", "oneills1850", "essenFolksong", "monteverdi", "trecento")
COLLECTIONS += ("airdsAirs",)


def pieces(rng: random.Random):
    """Endless (collection, path, score) draws, round-robin over COLLECTIONS."""
    from music21 import corpus

    by = {c: [] for c in COLLECTIONS}
    for p in corpus.getPaths():
        parts = str(p).split("/corpus/")[-1].split("/")
        if parts[0] in by:
            by[parts[0]].append(p)
    for c in by:
        rng.shuffle(by[c])
    k = 0
    while True:
        c = COLLECTIONS[k % len(COLLECTIONS)]
        k += 1
        if not by[c]:
            continue
        path = by[c].pop()
        try:
            s = corpus.parse(path)
        except Exception:  # noqa: BLE001 - some corpus files do not parse; draw another
            continue
        if hasattr(s, "scores"):  # an Opus (Essen, O'Neill): one tune of it
            scores = list(s.scores)
            if not scores:
                continue
            s = rng.choice(scores)
        yield c, path, s


def prepare(s, bpm: float, seconds: float, rng: random.Random):
    """(the first ``seconds`` at ``bpm``, one random program per part; the meter), as m21_renders does."""
    out = m21_prepare(s, bpm, rng, seconds)
    if out is None:
        return None, None
    ts = s.recurse().getElementsByClass("TimeSignature").first()
    return out, (ts.ratioString if ts is not None else "?")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--clips", type=int, default=160)
    ap.add_argument("--seconds", type=float, default=24.0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    rows = []
    draws = pieces(rng)
    with tempfile.TemporaryDirectory() as tmp:
        while len(rows) < args.clips:
            collection, path, s = next(draws)
            bpm = round(math.exp(rng.uniform(math.log(50), math.log(200))), 1)
            try:
                score, meter = prepare(s, bpm, args.seconds, rng)
                if score is None:
                    continue
                i = len(rows)
                midi_path = Path(tmp) / f"{i}.mid"
                score.write("midi", fp=str(midi_path))
            except Exception:  # noqa: BLE001 - a piece music21 cannot write; draw another
                continue
            sf = SOUNDFONTS[i % len(SOUNDFONTS)]
            wav = args.out / f"m21-{i:03d}.wav"
            render_midi(midi_path, wav, sf)
            subprocess.run(["sox", str(wav), str(wav) + ".tmp.wav", "trim", "0", str(args.seconds)], check=True)
            Path(str(wav) + ".tmp.wav").replace(wav)
            rows.append({"path": wav.name, "bpm": bpm, "collection": collection, "meter": meter,
                         "piece": Path(path).name, "soundfont": Path(sf).name})  # fmt: skip
            print(f"{i:3d} {collection:14s} {meter:5s} {bpm:6.1f} {Path(path).name}", flush=True)
    (args.out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} clips in {args.out}")


if __name__ == "__main__":
    main()
