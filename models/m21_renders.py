"""Render music21 corpus pieces through two soundfont packages, for models/real_probes.py.

    apt-get install timgm6mb-soundfont opl3-soundfont fluidsynth
    /tmp/devtools/bin/python models/m21_renders.py     # a Python with music21 and mido (developer tools)

The music21 corpus holds real compositions whose collection says what they are: Bach's chorales,
Palestrina's masses and Monteverdi's madrigals, trecento songs, the fiddle tunes of O'Neill's Music
of Ireland and Ryan's Mammoth Collection, the Essen folk songs. Each soundfont package renders its
own draw of pieces (no piece is rendered twice), so a probe validated on one package's renders
learned from other pieces played by other sounds: TimGM6mb (sampled instruments, timgm6mb-soundfont,
GPL-2) and the OPL-3 FM bank (synthesised, opl3-soundfont, CC-BY-SA-4.0), the two soundfonts
models/trainset/fluidsynth.py allows. Never FluidR3_GM, which the evaluation corpus is rendered
with, nor MuseScore General, a fork of FluidR3Mono that still holds many of its samples.

So that neither instrument nor tempo gives a collection away, every piece gets the same kind of draw:
one General MIDI program per part (at most four parts) from one list, and a quarter-note tempo
log-uniform over TEMPO_RANGE (metronome marks of the score removed). The first SECONDS of each
piece are rendered. All pieces of a package go into one MIDI file, SECONDS + GAP apart, so
fluidsynth loads the soundfont once; the long render is then cut into one FLAC per piece, written to
``<out>/<package>/renders/<collection>/<piece>.flac`` (the collection in the path is the label
models/real_probes.py reads). Pieces music21 cannot read or write are skipped with one line.
"""

from __future__ import annotations

import argparse
import math
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trainset.fluidsynth import check_soundfont  # noqa: E402

SRC = Path("/tmp/probes-src")
# {source name: soundfont of models/trainset/fluidsynth.py}, which refuses FluidR3 and everything derived
# from it (the MuseScore General soundfonts are a FluidR3Mono fork): the evaluation corpus's timbres.
SOUNDFONTS = {"music21@timgm6mb-soundfont": "TimGM6mb", "music21@opl3-soundfont": "OPL3-FM"}
# pieces per soundfont package, by corpus collection (airdsAirs mixes airs with dance tunes: not read)
COLLECTIONS = {
    "bach": 24,
    "palestrina": 12,
    "monteverdi": 12,
    "trecento": 24,
    "oneills1850": 16,
    "ryansMammoth": 16,
    "essenFolksong": 24,
}
PER_OPUS = 3  # at most this many tunes of one file that holds many (O'Neill's and Essen's books)
PROGRAMS = (0, 4, 6, 11, 19, 21, 24, 25, 40, 41, 42, 46, 48, 52, 56, 57, 60, 65, 68, 71, 73, 74, 80)
TEMPO_RANGE = (70.0, 150.0)
SECONDS = 30.0
GAP = 2.0  # silence between pieces in the long render (notes are cut, and their release dies out)
RATE = 22050
TPB, US_PER_BEAT = 480, 500_000  # the long MIDI file's clock: 960 ticks per second


def draw(rng: random.Random, total: dict[str, int]):
    """(collection, name, score) draws: ``total[c]`` pieces of each collection, files shuffled."""
    from music21 import corpus

    by: dict[str, list] = {c: [] for c in total}
    for p in corpus.getPaths():
        c = str(p).split("/corpus/")[-1].split("/")[0]
        if c in by:
            by[c].append(p)
    for c, want in total.items():
        files = sorted(by[c], key=str)
        rng.shuffle(files)
        got = 0
        for path in files:
            if got >= want:
                break
            try:
                s = corpus.parse(path)
            except Exception as exc:  # noqa: BLE001 - a corpus file music21 cannot read
                print(f"skipped {Path(path).name}: {type(exc).__name__}", flush=True)
                continue
            scores = list(s.scores) if hasattr(s, "scores") else [s]
            rng.shuffle(scores)
            for k, score in enumerate(scores[: min(PER_OPUS, want - got)]):
                got += 1
                yield c, f"{Path(path).stem}-{k}" if len(scores) > 1 else Path(path).stem, score


def prepare(score, bpm: float, rng: random.Random, seconds: float = SECONDS):
    """The first ``seconds`` of ``score`` at ``bpm``, one random program per part (at most four parts);
    None if it has no notes. benchmarks/tempo_devset_m21.py uses it too."""
    from music21 import instrument, stream, tempo

    quarters = seconds * bpm / 60.0
    for mark in list(score.recurse().getElementsByClass((tempo.MetronomeMark, tempo.TempoText))):
        mark.activeSite.remove(mark)
    out = stream.Score()
    for i, part in enumerate((list(score.parts) or [score])[:4]):
        p = part.flatten().notesAndRests.stream()
        p = p.getElementsByOffset(0, quarters, includeEndBoundary=False, mustFinishInSpan=False).stream()
        if not p.notes:
            continue
        inst = instrument.Instrument()
        inst.midiProgram = rng.choice(PROGRAMS)
        inst.midiChannel = i
        p.insert(0, inst)
        if not out.parts:
            p.insert(0, tempo.MetronomeMark(number=bpm, referent=1.0))
        out.insert(0, p)
    return out if out.parts else None


def channel_events(midi_path: Path) -> list[tuple[float, object]]:
    """(seconds, message) of every channel message before SECONDS, as the file plays; a piece shorter
    than that (a folk song's one verse, a short chorale) is played again until SECONDS are filled, as
    verses and dance tunes are repeated."""
    import mido

    t, once = 0.0, []
    for msg in mido.MidiFile(str(midi_path)):
        t += msg.time
        if t >= SECONDS:
            break
        if not msg.is_meta and hasattr(msg, "channel"):
            once.append((t, msg))
    if not once:
        return []
    length = max(t, 1.0)  # the file's own end (its last note off), or SECONDS
    out, start = [], 0.0
    while start < SECONDS:
        out += [(start + u, m) for u, m in once if start + u < SECONDS]
        start += length
    return out


def long_midi(pieces: list[list[tuple[float, object]]], path: Path) -> None:
    """One MIDI file: piece k starts at k * (SECONDS + GAP) s and is silenced at its end."""
    import mido

    events = []
    for k, piece in enumerate(pieces):
        start = k * (SECONDS + GAP)
        for ch in range(16):
            events.append((start, 0, mido.Message("control_change", channel=ch, control=121, value=0)))
        events += [(start + t, 1, m) for t, m in piece]
        for ch in range(16):
            for control in (123, 120):  # all notes off, all sound off
                events.append((start + SECONDS, 2, mido.Message("control_change", channel=ch, control=control)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=US_PER_BEAT, time=0)])
    now = 0
    for t, _, msg in events:
        tick = int(round(t * TPB * 1_000_000 / US_PER_BEAT))
        track.append(msg.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(ticks_per_beat=TPB)
    mid.tracks.append(track)
    mid.save(str(path))


def render(package: str, soundfont: str, clips: list[tuple[str, str, list]], out: Path, tmp: Path) -> None:
    import numpy as np
    import soundfile as sf

    midi, wav = tmp / f"{package}.mid", tmp / f"{package}.wav"
    long_midi([events for _, _, events in clips], midi)
    cmd = ["fluidsynth", "-ni", "-g", "0.6", "-r", str(RATE), "-F", str(wav), soundfont, str(midi)]
    subprocess.run(cmd, check=True, capture_output=True)
    with sf.SoundFile(str(wav)) as f:
        for k, (collection, name, _) in enumerate(clips):
            f.seek(int(round(k * (SECONDS + GAP) * f.samplerate)))
            y = f.read(int(SECONDS * f.samplerate), dtype="float32", always_2d=True).mean(axis=1)
            if y.size == 0 or float(np.abs(y).max()) <= 1e-4:
                print(f"left out {collection}/{name}: silent in the render", flush=True)
                continue
            dst = out / package / "renders" / collection / f"{name}.flac"
            dst.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(dst), y, f.samplerate)
    print(f"{package}: {len(clips)} pieces rendered", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=SRC)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    # one draw for both packages, dealt alternately: no piece is rendered by both
    total = {c: n * len(SOUNDFONTS) for c, n in COLLECTIONS.items()}
    dealt: dict[str, list] = {p: [] for p in SOUNDFONTS}
    names = list(SOUNDFONTS)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (collection, name, score) in enumerate(draw(rng, total)):
            bpm = math.exp(rng.uniform(*map(math.log, TEMPO_RANGE)))
            try:
                s = prepare(score, bpm, rng)
                if s is None:
                    continue
                midi = Path(tmp) / f"{i}.mid"
                s.write("midi", fp=str(midi))
                events = channel_events(midi)
            except Exception as exc:  # noqa: BLE001 - a piece music21 cannot write as MIDI
                print(f"skipped {collection}/{name}: {type(exc).__name__}", flush=True)
                continue
            dealt[names[i % len(names)]].append((collection, name, events))
        for package, clips in dealt.items():
            render(package, check_soundfont(SOUNDFONTS[package]), clips, args.out, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
