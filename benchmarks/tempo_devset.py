"""Render a tempo development set: our own compositions at known tempos, never the eval corpus.

    python benchmarks/tempo_devset.py --out /tmp/mt-tempo-dev [--seed 7] [--clips 72]

Clips are composed here (mido) and rendered with fluidsynth through TimGM6mb and the OPL-3 FM
soundfont (never FluidR3_GM, which the evaluation corpus is rendered with). Tempos are drawn
log-uniformly over 50-200 bpm, 4/4, one or two chords per bar, with several rhythmic textures
(quarter-note melodies, eighth/sixteenth arpeggios, sustained chords over a walking bass, drum
grooves with and without a band, half-time grooves). ``manifest.jsonl`` holds each clip's tempo.
Needs mido (a developer tool, not a musictext dependency) and the fluidsynth command.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import tempfile
from pathlib import Path

SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/OPL-3_FM_128M.sf2")
TPB = 480
PROGRAMS = (0, 4, 6, 11, 19, 24, 25, 29, 33, 40, 42, 48, 52, 56, 61, 65, 71, 73, 80, 81, 88)
PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 4, 5, 3), (5, 3, 0, 4), (0, 0, 3, 4))
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
TEXTURES = ("melody4", "arp8", "arp16", "chords_bass", "groove", "band", "halftime", "waltzless_sync")
# One instrument alone, as in much of what people call "solo": legato lines on sustained instruments
# (strings, winds, organ, voices) give weak onsets, so the tempo has to come from note changes too.
SOLO_TEXTURES = ("solo_scale", "solo_melody", "solo_block", "solo_melody_bass")
SOLO_PROGRAMS = (0, 6, 19, 24, 40, 41, 42, 46, 52, 56, 65, 66, 71, 73, 80)


def _chord(scale, degree, root):
    return [root + scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]


def compose(rng: random.Random, bpm: float, texture: str, seconds: float):
    import mido

    mid = mido.MidiFile(ticks_per_beat=TPB)
    beats = int(seconds * bpm / 60.0)
    bars = max(2, beats // 4)
    scale = rng.choice((MAJOR, MINOR))
    root = 48 + rng.randrange(12)
    prog = rng.choice(PROGRESSIONS)
    events: list[tuple[int, str, int, int, int]] = []  # (tick, kind, channel, note, velocity)

    def note(ch, start, dur, pitch, vel):
        events.append((int(start), "on", ch, pitch, vel))
        events.append((int(start + dur * 0.9), "off", ch, pitch, 0))

    q = TPB
    step = rng.choice((1, 2))  # notes per beat of a scale run
    for bar in range(bars):
        t0 = bar * 4 * q
        ch_notes = _chord(scale, prog[bar % len(prog)], root)
        if texture == "melody4":
            for b in range(4):
                note(0, t0 + b * q, q, ch_notes[rng.randrange(3)] + 12, 95 if b == 0 else 75)
            note(1, t0, 4 * q, ch_notes[0] - 12, 70)
        elif texture == "arp8":
            for k in range(8):
                note(0, t0 + k * q // 2, q // 2, ch_notes[k % 3] + 12 * (k // 3 % 2), 90 if k % 2 == 0 else 65)
        elif texture == "arp16":
            for k in range(16):
                note(0, t0 + k * q // 4, q // 4, ch_notes[k % 3] + 12 * (k // 6 % 2), 90 if k % 4 == 0 else 60)
        elif texture == "chords_bass":
            for p in ch_notes:
                note(0, t0, 2 * q, p + 12, 70)
                note(0, t0 + 2 * q, 2 * q, p + 12, 60)
            for b in range(4):
                note(1, t0 + b * q, q, ch_notes[b % 3] - 12, 90 if b % 2 == 0 else 70)
        if texture == "solo_scale":
            n = 4 * step
            for k in range(n):
                deg = (bar * n + k) % 14
                deg = deg if deg < 8 else 14 - deg
                note(0, t0 + k * q // step, q // step, root + 12 + scale[deg % 7] + 12 * (deg // 7), 80)
        elif texture == "solo_melody":
            k = 0
            while k < 4:
                d = rng.choice((0.5, 1, 1, 1, 2)) if k + 2 <= 4 else rng.choice((0.5, 1))
                d = min(d, 4 - k)
                note(0, t0 + int(k * q), int(d * q), ch_notes[rng.randrange(3)] + 12 + rng.choice((0, 2, -1)), 85)
                k += d
        elif texture == "solo_block":
            for b in range(0, 4, 2 if rng.random() < 0.5 else 1):
                for p in ch_notes:
                    note(0, t0 + b * q, q * (2 if b % 2 == 0 else 1), p + 12, 80)
        elif texture == "solo_melody_bass":
            for b in range(4):
                note(0, t0 + b * q, q, ch_notes[rng.randrange(3)] + 24, 85)
            note(0, t0, 2 * q, ch_notes[0] - 12, 75)
            note(0, t0 + 2 * q, 2 * q, ch_notes[2] - 12, 70)
        if texture in ("groove", "band", "halftime", "waltzless_sync"):
            for k in range(8):
                note(9, t0 + k * q // 2, q // 2, 42, 70 if k % 2 == 0 else 50)  # closed hi-hat, eighths
            if texture == "halftime":
                note(9, t0, q, 36, 110)
                note(9, t0 + 2 * q, q, 38, 110)  # snare on 3 only
            else:
                note(9, t0, q, 36, 110)
                note(9, t0 + 2 * q, q, 36, 100)
                note(9, t0 + q, q, 38, 105)
                note(9, t0 + 3 * q, q, 38, 105)
            if texture == "waltzless_sync":
                note(9, t0 + int(2.5 * q), q // 2, 36, 90)  # syncopated kick
            if bar % 4 == 3:
                for k in range(4):
                    note(9, t0 + 3 * q + k * q // 4, q // 4, 45 + 2 * k, 90)  # tom fill
        if texture in ("band", "halftime"):
            for p in ch_notes:
                note(0, t0, 4 * q, p + 12, 60)
            note(1, t0, 2 * q, ch_notes[0] - 12, 90)
            note(1, t0 + 2 * q, 2 * q, ch_notes[0] - 12, 80)
        if texture == "waltzless_sync":
            for off in (0, 1.5, 3):
                note(1, t0 + int(off * q), q, ch_notes[0] - 12, 90)
    events.append((bars * 4 * q, "off", 0, root, 0))
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=int(round(60e6 / bpm)), time=0))
    programs = SOLO_PROGRAMS if texture.startswith("solo") else PROGRAMS
    track.append(mido.Message("program_change", channel=0, program=rng.choice(programs), time=0))
    track.append(mido.Message("program_change", channel=1, program=rng.choice((32, 33, 34, 38, 42, 43)), time=0))
    last = 0
    for tick, kind, ch, pitch, vel in sorted(events, key=lambda e: (e[0], e[1] == "on")):
        msg = "note_on" if kind == "on" else "note_off"
        track.append(mido.Message(msg, channel=ch, note=pitch, velocity=vel, time=tick - last))
        last = tick
    return mid


def render_midi(midi_path: Path, wav: Path, soundfont: str) -> None:
    """``midi_path`` rendered to a 44.1 kHz WAV by fluidsynth through ``soundfont`` (one of SOUNDFONTS)."""
    cmd = ["fluidsynth", "-ni", "-g", "0.6", "-r", "44100", "-F", str(wav), soundfont, str(midi_path)]
    subprocess.run(cmd, check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--clips", type=int, default=72)
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--solo", action="store_true", help="only one-instrument textures")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.clips):
            bpm = round(math.exp(rng.uniform(math.log(50), math.log(200))), 1)
            textures = SOLO_TEXTURES if args.solo else TEXTURES + SOLO_TEXTURES
            texture = textures[i % len(textures)]
            sf = SOUNDFONTS[i % len(SOUNDFONTS)]
            mid = compose(rng, bpm, texture, args.seconds)
            midi_path = Path(tmp) / f"{i}.mid"
            mid.save(midi_path)
            wav = args.out / f"dev-{i:03d}.wav"
            render_midi(midi_path, wav, sf)
            rows.append({"path": wav.name, "bpm": bpm, "texture": texture, "soundfont": Path(sf).name})
    (args.out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} clips in {args.out}")


if __name__ == "__main__":
    main()
