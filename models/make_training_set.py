"""Build a reproducible, labelled training set of synthetic music clips with captions.

The clips are composed here from scratch (diatonic progressions, scales, arpeggios, block
chords, melodies over a bass, riffs, drum grooves), written as Standard MIDI files by hand (no
MIDI library needed) and rendered with fluidsynth through two free General MIDI soundfonts that
are NOT FluidR3 and not derived from it:

    TimGM6mb.sf2       Debian package timgm6mb-soundfont  (GPL-2; Tim Brechbill, David Bolton)
    OPL-3_FM_128M.sf2  Debian package opl3-soundfont      (CC-BY-SA-4.0; Zandro Reveille)

FluidR3_GM and everything derived from it (fluid-soundfont-gm/gs, fluidr3mono-gm-soundfont, the
MuseScore General soundfonts) is refused, because the project's evaluation corpus is rendered
with FluidR3 and the training data must not share its timbres.

Set-up (Debian/Ubuntu, as root):

    apt-get update
    apt-get install -y fluidsynth timgm6mb-soundfont opl3-soundfont

Python: numpy, scipy and soundfile (all already in the project's .venv).

Licence-clean alternative, --renderer numpy: every note is synthesised here in numpy/scipy (our
own code, MIT): additive drawbar organs (chiff, Leslie, percussion), reed/formant organs and
accordion, inharmonic decaying partials for pianos and mallets, Karplus-Strong plucked strings
(overdrive + cabinet low-pass for distorted guitars), bowed saws with vibrato and body resonances,
brass whose brightness follows the envelope, reeds/flutes with breath noise, formant choirs,
subtractive synths, a synthesised drum kit per kit number, and a per-clip noise-IR room reverb.
No soundfont, no fluidsynth, no apt packages. It uses the same clip plan, seeds, composer, labels
and captions as the soundfont build; pairs.jsonl rows say "soundfont": "numpy-synth" and
summary.json says "renderer": "numpy".

Run (from the repository root):

    .venv/bin/python models/make_training_set.py                 # ~700 clips -> /tmp/mt-train-set/
    .venv/bin/python models/make_training_set.py --n 40 --out /tmp/mt-train-small --jobs 2
    .venv/bin/python models/make_training_set.py --seed 7 --format wav
    .venv/bin/python models/make_training_set.py --renderer numpy --out /tmp/mt-train-set-np --force

Output (outside the repository):

    OUT/audio/clip_00000.flac ...   22.05 kHz mono, 15-25 s, peak-normalised to -1 dBFS
    OUT/pairs.jsonl                 one JSON object per clip (fields below)
    OUT/summary.json                counts per label, durations, build time, soundfont licences

pairs.jsonl fields: audio (absolute path), text (caption), tags (label words: instrument words,
"solo" or "ensemble", "slow"/"fast" or "moderate tempo", "major"/"minor", material such as
"scale", "arpeggio", "chords", "melody", "riff", "bass line", "drum groove"), instrument (key of
the instrument table, "a+b+c" for a mix), instruments (list), gm_program (0-based program, a
list for a mix; the kit number for drums), drum_kit, soundfont, tempo_bpm, tempo_class (slow
55-80, moderate 92-124, fast 140-190 bpm), mode (major | minor | null for drums and timpani),
key (e.g. "F# minor"), time_signature, texture, material, duration_s, rms_dbfs,
source_peak_dbfs, seed (the clip's own seed), attempt, index. A clip is "solo" when one
instrument plays; instruments that are ensembles by nature (string section, choir, brass
section) are tagged "ensemble" even alone, and mixes of 2-3 parts list every instrument's tags.
Minor keys use natural minor with the raised 7th (harmonic minor) over V; every piece ends
with a V-I (V-i) cadence on the tonic.

Everything is a pure function of --seed (and the soundfont files, or the synthesis code): the clip plan is drawn from
the master seed, every clip has its own integer seed (recorded in pairs.jsonl) from which its
notes are drawn, and rendering order does not matter, so --jobs changes only the speed.
A rendered clip that is silent (peak <= -40 dBFS) or outside 15-25 s is recomposed with the
next attempt seed (up to 4 attempts) and dropped only if every attempt fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve, lfilter

from musictext.bundle import sha256_file

SR = 22050
PPQ = 480
MIN_DUR, MAX_DUR = 15.0, 25.0
SILENCE_DBFS = -40.0
TARGET_PEAK_DBFS = -1.0
MAX_ATTEMPTS = 4

SF_DIR = Path("/usr/share/sounds/sf2")
SOUNDFONTS = {
    "TimGM6mb": {
        "path": str(SF_DIR / "TimGM6mb.sf2"),
        "package": "timgm6mb-soundfont",
        "licence": "GPL-2",
        "copyright": "2004 Tim Brechbill; 2010 David Bolton",
        "note": "sample-based General MIDI set (6 MB); all 128 melodic programs; "
        "drum kits 0, 8, 16, 24, 25, 32, 40, 48 (32 sounds the same as 0)",
    },
    "OPL3-FM": {
        "path": str(SF_DIR / "OPL-3_FM_128M.sf2"),
        "package": "opl3-soundfont",
        "licence": "CC-BY-SA-4.0",
        "copyright": "2009 Zandro Reveille",
        "note": "Yamaha OPL3 FM-synthesis bank; all 128 melodic programs, one drum kit (bank 128 program 0)",
    },
}
FORBIDDEN_SF = ("fluid", "musescore", "mscore")  # FluidR3 and its derivatives

# ----------------------------------------------------------------------------------------------
# Instruments: key -> GM program (0-based), names for captions, tags (label words), comfortable
# MIDI range, polyphonic?, roles it can take, whether it is itself an ensemble.
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inst:
    key: str
    program: int
    names: tuple[str, ...]
    tags: tuple[str, ...]
    lo: int
    hi: int
    poly: bool
    roles: tuple[str, ...]
    ensemble: bool = False
    weight: float = 1.0


M, C, B, A, R = "melody", "chords", "bass", "arp", "riff"

# fmt: off
INSTRUMENTS: list[Inst] = [
    Inst("acoustic_grand_piano", 0, ("piano", "grand piano", "acoustic piano"), ("piano", "acoustic piano", "keyboard"), 36, 96, True, (M, C, A, B), weight=1.5),  # noqa: E501
    Inst("bright_piano", 1, ("piano", "bright piano"), ("piano", "keyboard"), 36, 96, True, (M, C, A)),
    Inst("electric_piano", 4, ("electric piano", "rhodes-style electric piano"), ("electric piano", "piano", "keyboard"), 40, 88, True, (M, C, A)),  # noqa: E501
    Inst("harpsichord", 6, ("harpsichord",), ("harpsichord", "keyboard"), 36, 86, True, (M, C, A)),
    Inst("clavinet", 7, ("clavinet",), ("clavinet", "keyboard"), 40, 84, True, (M, C, R)),
    Inst("celesta", 8, ("celesta",), ("celesta", "mallet percussion", "bells"), 60, 96, True, (M, A)),
    Inst("glockenspiel", 9, ("glockenspiel",), ("glockenspiel", "mallet percussion", "bells"), 72, 100, False, (M, A)),
    Inst("music_box", 10, ("music box",), ("music box", "bells"), 60, 96, True, (M, A)),
    Inst("vibraphone", 11, ("vibraphone", "vibes"), ("vibraphone", "mallet percussion"), 53, 89, True, (M, C, A)),
    Inst("marimba", 12, ("marimba",), ("marimba", "mallet percussion"), 45, 96, True, (M, A, R), weight=1.8),
    Inst("xylophone", 13, ("xylophone",), ("xylophone", "mallet percussion"), 65, 100, False, (M, A)),
    Inst("tubular_bells", 14, ("tubular bells", "chimes"), ("tubular bells", "bells", "chimes"), 60, 77, False, (M,)),
    Inst("drawbar_organ", 16, ("organ", "electric organ", "drawbar organ", "hammond-style organ"), ("organ", "electric organ"), 36, 96, True, (M, C, R), weight=1.8),  # noqa: E501
    Inst("rock_organ", 18, ("rock organ", "electric organ"), ("organ", "electric organ", "rock organ"), 36, 96, True, (M, C, R)),  # noqa: E501
    Inst("church_organ", 19, ("church organ", "pipe organ"), ("organ", "church organ", "pipe organ"), 36, 96, True, (M, C, A, B), weight=2.2),  # noqa: E501
    Inst("reed_organ", 20, ("reed organ", "harmonium"), ("organ", "reed organ", "harmonium"), 41, 84, True, (M, C)),
    Inst("accordion", 21, ("accordion",), ("accordion",), 53, 89, True, (M, C)),
    Inst("harmonica", 22, ("harmonica",), ("harmonica",), 60, 84, False, (M,)),
    Inst("nylon_guitar", 24, ("classical guitar", "nylon-string guitar", "acoustic guitar"), ("guitar", "acoustic guitar", "classical guitar"), 40, 79, True, (M, C, A), weight=1.3),  # noqa: E501
    Inst("steel_guitar", 25, ("acoustic guitar", "steel-string guitar"), ("guitar", "acoustic guitar"), 40, 79, True, (M, C, A), weight=1.3),  # noqa: E501
    Inst("jazz_guitar", 26, ("jazz guitar", "electric guitar"), ("guitar", "electric guitar", "jazz guitar"), 40, 79, True, (M, C, A)),  # noqa: E501
    Inst("clean_guitar", 27, ("clean electric guitar", "electric guitar"), ("guitar", "electric guitar"), 40, 81, True, (M, C, A, R)),  # noqa: E501
    Inst("overdriven_guitar", 29, ("overdriven guitar", "electric guitar"), ("guitar", "electric guitar", "distorted guitar", "overdrive"), 40, 81, True, (M, R), weight=1.2),  # noqa: E501
    Inst("distortion_guitar", 30, ("distorted guitar", "distortion guitar", "heavy electric guitar"), ("guitar", "electric guitar", "distorted guitar", "distortion"), 40, 81, True, (M, R), weight=1.2),  # noqa: E501
    Inst("acoustic_bass", 32, ("acoustic bass", "upright bass", "double bass"), ("bass", "acoustic bass", "double bass"), 28, 55, False, (B, M)),  # noqa: E501
    Inst("electric_bass", 33, ("electric bass", "bass guitar"), ("bass", "electric bass", "bass guitar"), 28, 60, False, (B, M, R)),  # noqa: E501
    Inst("picked_bass", 34, ("picked bass", "electric bass"), ("bass", "electric bass", "bass guitar"), 28, 60, False, (B, R)),  # noqa: E501
    Inst("fretless_bass", 35, ("fretless bass",), ("bass", "electric bass", "fretless bass"), 28, 60, False, (B, M)),
    Inst("synth_bass", 38, ("synth bass", "synthesizer bass"), ("bass", "synthesizer", "synth bass"), 28, 60, False, (B, R)),  # noqa: E501
    Inst("violin", 40, ("violin",), ("violin", "strings", "bowed strings"), 55, 93, False, (M, A), weight=1.3),
    Inst("viola", 41, ("viola",), ("viola", "strings", "bowed strings"), 48, 81, False, (M,)),
    Inst("cello", 42, ("cello",), ("cello", "strings", "bowed strings"), 36, 72, False, (M, B), weight=1.3),
    Inst("contrabass", 43, ("contrabass", "double bass"), ("double bass", "contrabass", "strings", "bass"), 28, 55, False, (B, M)),  # noqa: E501
    Inst("pizzicato_strings", 45, ("pizzicato strings", "plucked strings"), ("strings", "pizzicato", "string ensemble", "ensemble"), 40, 84, True, (A, C, M), ensemble=True),  # noqa: E501
    Inst("harp", 46, ("harp", "concert harp"), ("harp", "plucked strings"), 36, 91, True, (M, A, C), weight=1.2),
    Inst("timpani", 47, ("timpani", "kettle drums"), ("timpani", "kettle drums", "percussion"), 40, 55, False, (B,)),
    Inst("string_ensemble", 48, ("strings", "string ensemble", "string section", "string orchestra"), ("strings", "string ensemble", "ensemble", "orchestra"), 36, 91, True, (C, M, A), ensemble=True, weight=1.8),  # noqa: E501
    Inst("slow_strings", 49, ("strings", "string section", "lush strings"), ("strings", "string ensemble", "ensemble", "orchestra"), 36, 91, True, (C, M), ensemble=True),  # noqa: E501
    Inst("synth_strings", 50, ("synth strings", "synthesizer strings"), ("synthesizer", "synth strings", "strings"), 36, 91, True, (C, M)),  # noqa: E501
    Inst("choir_aahs", 52, ("choir", "vocal choir", "choir of voices"), ("choir", "voices", "vocal", "ensemble"), 48, 79, True, (C, M), ensemble=True, weight=2.0),  # noqa: E501
    Inst("voice_oohs", 53, ("voices", "humming voices", "wordless choir"), ("choir", "voices", "vocal", "ensemble"), 48, 79, True, (C, M), ensemble=True),  # noqa: E501
    Inst("trumpet", 56, ("trumpet",), ("trumpet", "brass"), 55, 82, False, (M, R), weight=2.0),
    Inst("trombone", 57, ("trombone",), ("trombone", "brass"), 40, 72, False, (M, B)),
    Inst("tuba", 58, ("tuba",), ("tuba", "brass"), 28, 58, False, (B, M)),
    Inst("muted_trumpet", 59, ("muted trumpet",), ("trumpet", "muted trumpet", "brass"), 55, 82, False, (M,)),
    Inst("french_horn", 60, ("french horn", "horn"), ("french horn", "horn", "brass"), 41, 77, False, (M,), weight=1.3),
    Inst("brass_section", 61, ("brass section", "brass ensemble", "horn section"), ("brass", "brass section", "ensemble"), 41, 82, True, (C, M, R), ensemble=True, weight=1.5),  # noqa: E501
    Inst("soprano_sax", 64, ("soprano saxophone", "soprano sax"), ("saxophone", "soprano saxophone", "sax", "woodwind"), 56, 88, False, (M,), weight=1.2),  # noqa: E501
    Inst("alto_sax", 65, ("alto saxophone", "alto sax", "saxophone"), ("saxophone", "alto saxophone", "sax", "woodwind"), 49, 81, False, (M, R), weight=1.6),  # noqa: E501
    Inst("tenor_sax", 66, ("tenor saxophone", "tenor sax", "saxophone"), ("saxophone", "tenor saxophone", "sax", "woodwind"), 44, 76, False, (M, R), weight=1.6),  # noqa: E501
    Inst("baritone_sax", 67, ("baritone saxophone", "bari sax"), ("saxophone", "baritone saxophone", "sax", "woodwind"), 36, 69, False, (M, B)),  # noqa: E501
    Inst("oboe", 68, ("oboe",), ("oboe", "woodwind", "double reed"), 58, 91, False, (M,), weight=1.2),
    Inst("english_horn", 69, ("english horn", "cor anglais"), ("english horn", "woodwind", "double reed"), 52, 81, False, (M,)),  # noqa: E501
    Inst("bassoon", 70, ("bassoon",), ("bassoon", "woodwind", "double reed"), 34, 72, False, (M, B)),
    Inst("clarinet", 71, ("clarinet",), ("clarinet", "woodwind"), 50, 91, False, (M, A), weight=1.2),
    Inst("piccolo", 72, ("piccolo",), ("piccolo", "flute", "woodwind"), 74, 102, False, (M,)),
    Inst("flute", 73, ("flute",), ("flute", "woodwind"), 60, 96, False, (M, A), weight=1.4),
    Inst("recorder", 74, ("recorder",), ("recorder", "woodwind"), 60, 88, False, (M,)),
    Inst("pan_flute", 75, ("pan flute", "pan pipes"), ("pan flute", "flute", "woodwind"), 60, 88, False, (M,)),
    Inst("ocarina", 79, ("ocarina",), ("ocarina", "woodwind"), 60, 88, False, (M,)),
    Inst("square_lead", 80, ("square lead", "square-wave synth lead", "chiptune lead"), ("synthesizer", "synth lead", "electronic"), 48, 88, False, (M, R, A), weight=1.3),  # noqa: E501
    Inst("saw_lead", 81, ("saw lead", "sawtooth synth lead", "synth lead"), ("synthesizer", "synth lead", "electronic"), 48, 88, False, (M, R, A), weight=1.3),  # noqa: E501
    Inst("new_age_pad", 88, ("synth pad", "new age pad"), ("synthesizer", "synth pad", "pad", "electronic"), 48, 84, True, (C,)),  # noqa: E501
    Inst("warm_pad", 89, ("warm pad", "synth pad", "warm synthesizer pad"), ("synthesizer", "synth pad", "pad", "electronic"), 48, 84, True, (C,), weight=1.3),  # noqa: E501
    Inst("polysynth", 90, ("polysynth", "polyphonic synthesizer"), ("synthesizer", "synth pad", "electronic"), 48, 84, True, (C, A)),  # noqa: E501
    Inst("sweep_pad", 95, ("sweep pad", "synth pad"), ("synthesizer", "synth pad", "pad", "electronic"), 48, 84, True, (C,)),  # noqa: E501
    Inst("sitar", 104, ("sitar",), ("sitar", "plucked strings"), 48, 77, False, (M,)),
    Inst("banjo", 105, ("banjo",), ("banjo", "plucked strings"), 48, 81, True, (M, A)),
    Inst("koto", 107, ("koto",), ("koto", "plucked strings"), 50, 84, False, (M, A)),
    Inst("kalimba", 108, ("kalimba", "thumb piano"), ("kalimba", "thumb piano"), 60, 84, False, (M, A)),
    Inst("bagpipe", 109, ("bagpipe", "bagpipes"), ("bagpipe", "bagpipes"), 55, 77, False, (M,)),
    Inst("fiddle", 110, ("fiddle",), ("fiddle", "violin", "strings"), 55, 93, False, (M,)),
    Inst("steel_drums", 114, ("steel drums", "steel pan"), ("steel drums", "steel pan", "percussion"), 55, 84, False, (M, A)),  # noqa: E501
]
# fmt: on
INST = {i.key: i for i in INSTRUMENTS}

# Drum kits (channel 10, bank 128). OPL3 has only kit 0.
# TimGM6mb's kit 32 ("Jazz") renders identically to kit 0, so it is not listed.
DRUM_KITS = {0: "standard", 8: "room", 16: "power", 24: "electronic", 25: "808", 40: "brush"}
DRUM_TAGS = ("drums", "drum kit", "percussion")
DRUM_NAMES = ("drums", "drum kit", "a drum kit", "drummer")

MAJOR = (0, 2, 4, 5, 7, 9, 11)
NAT_MINOR = (0, 2, 3, 5, 7, 8, 10)
PC_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_PC_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "Bb", "B")

# Diatonic progressions as scale-degree indices (0 = I/i). Each ends on the tonic; the last two
# chords are a perfect cadence (V - I / V - i).
PROGS_MAJOR = [
    (0, 3, 4, 0),
    (0, 5, 3, 4),
    (0, 1, 4, 0),
    (0, 3, 0, 4),
    (0, 5, 1, 4),
    (0, 2, 3, 4),
    (0, 4, 5, 3),
    (0, 3, 5, 4),
]
PROGS_MINOR = [
    (0, 3, 4, 0),
    (0, 5, 3, 4),
    (0, 3, 6, 2),
    (0, 5, 2, 4),
    (0, 1, 4, 0),
    (0, 6, 5, 4),
    (0, 3, 0, 4),
    (0, 2, 3, 4),
]


# ----------------------------------------------------------------------------------------------
# Key helpers
# ----------------------------------------------------------------------------------------------


class Key:
    def __init__(self, tonic_pc: int, mode: str):
        self.tonic = tonic_pc
        self.mode = mode

    def name(self) -> str:
        names = MINOR_PC_NAMES if self.mode == "minor" else PC_NAMES
        return f"{names[self.tonic]} {self.mode}"

    def scale(self, chord_degree: int | None = None) -> tuple[int, ...]:
        """Pitch classes (relative) of the scale in use; in minor the 7th is raised over V/vii."""
        if self.mode == "major":
            return MAJOR
        if chord_degree in (4, 6):  # harmonic minor over the dominant
            return (0, 2, 3, 5, 7, 8, 11)
        return NAT_MINOR

    def pitch(self, step: int, base_octave_midi: int, chord_degree: int | None = None) -> int:
        """Diatonic step (may be negative / beyond 7) above the tonic at base_octave_midi."""
        sc = self.scale(chord_degree)
        octv, idx = divmod(step, 7)
        return base_octave_midi + self.tonic + 12 * octv + sc[idx]

    def chord_pcs(self, degree: int) -> list[int]:
        sc = self.scale(degree)
        return [(self.tonic + sc[(degree + k) % 7]) % 12 for k in (0, 2, 4)]

    def in_key_pcs(self, degree: int | None) -> set[int]:
        return {(self.tonic + p) % 12 for p in self.scale(degree)}


def steps_near(key: Key, lo: int, hi: int, degree: int | None) -> list[int]:
    """All MIDI pitches in [lo, hi] that belong to the scale in use over `degree`."""
    pcs = key.in_key_pcs(degree)
    return [p for p in range(lo, hi + 1) if p % 12 in pcs]


def nearest(cands: list[int], target: float) -> int:
    return min(cands, key=lambda p: (abs(p - target), p))


# ----------------------------------------------------------------------------------------------
# Note containers and MIDI writing (Standard MIDI File, format 0, written by hand)
# ----------------------------------------------------------------------------------------------


@dataclass
class Part:
    inst_key: str | None  # None for drums
    program: int
    channel: int
    role: str
    volume: int = 100
    pan: int = 64
    reverb: int = 40
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)  # start, dur, pitch, vel

    def add(self, start: float, dur: float, pitch: int, vel: int) -> None:
        s, d = int(round(start)), max(20, int(round(dur)))
        self.notes.append((s, d, int(pitch), max(1, min(127, int(vel)))))


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(path: Path, parts: list[Part], bpm: float, beats_per_bar: int, end_tick: int) -> None:
    ev: list[tuple[int, int, bytes]] = []  # tick, order, bytes
    us = int(round(60_000_000 / bpm))
    ev.append((0, 0, b"\xff\x51\x03" + us.to_bytes(3, "big")))
    ev.append((0, 0, bytes([0xFF, 0x58, 4, beats_per_bar, 2, 24, 8])))
    for p in parts:
        ch = p.channel
        if ch != 9:  # channel 10 stays on the drum bank; its program picks the kit
            ev.append((0, 1, bytes([0xB0 | ch, 0, 0])))
        ev.append((0, 2, bytes([0xC0 | ch, p.program & 0x7F])))
        ev.append((0, 3, bytes([0xB0 | ch, 7, p.volume])))
        ev.append((0, 3, bytes([0xB0 | ch, 10, p.pan])))
        ev.append((0, 3, bytes([0xB0 | ch, 91, p.reverb])))
        ev.append((0, 3, bytes([0xB0 | ch, 93, 0])))
        for s, d, pitch, vel in p.notes:
            if not 0 <= pitch <= 127:
                continue
            ev.append((s + 10, 6, bytes([0x90 | ch, pitch, vel])))
            ev.append((s + 10 + d, 5, bytes([0x80 | ch, pitch, 0])))
    ev.sort(key=lambda e: (e[0], e[1]))
    last = max(end_tick, ev[-1][0])
    body = bytearray()
    t = 0
    for tick, _, data in ev:
        body += vlq(tick - t) + data
        t = tick
    body += vlq(last - t) + b"\xff\x2f\x00"
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, PPQ))
        f.write(b"MTrk" + struct.pack(">I", len(body)) + bytes(body))


# ----------------------------------------------------------------------------------------------
# Composition
# ----------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """Shared musical frame of one clip."""

    key: Key | None
    bpm: float
    tempo_class: str  # slow | moderate | fast
    beats: int  # beats per bar
    bars: int
    chords: list[int]  # degree per bar
    rng: random.Random
    base_vel: int

    @property
    def bar_ticks(self) -> int:
        return self.beats * PPQ

    def vel(self, accent: float = 0.0, spread: int = 7) -> int:
        return int(self.base_vel + accent + self.rng.randint(-spread, spread))

    def jitter(self, amount: int = 6) -> int:
        return self.rng.randint(-amount, amount)


def make_chords(rng: random.Random, mode: str, bars: int) -> list[int]:
    progs = PROGS_MAJOR if mode == "major" else PROGS_MINOR
    prog = rng.choice(progs)
    alt = rng.choice(progs)
    seq: list[int] = []
    while len(seq) < bars - 2:
        seq.extend(prog if (len(seq) // 4) % 2 == 0 or rng.random() < 0.5 else alt)
    seq = seq[: bars - 2]
    return seq + [4, 0]  # perfect cadence, end on the tonic


def clamp_register(inst: Inst, rng: random.Random, width: int = 19) -> tuple[int, int]:
    """A comfortable sub-range (about an octave and a half) inside the instrument's range."""
    lo, hi = inst.lo, inst.hi
    if hi - lo <= width:
        return lo, hi
    margin = max(0, (hi - lo - width) // 4)
    start = rng.randint(lo + margin, hi - width - margin) if hi - width - margin > lo + margin else lo
    return start, start + width


def rhythm_pool(fr: Frame) -> list[list[float]]:
    """Bar rhythms in beats; density follows the tempo label."""
    b = fr.beats
    if b == 3:
        if fr.tempo_class == "slow":
            return [[3], [2, 1], [1, 1, 1], [1, 2], [1.5, 0.5, 1]]
        if fr.tempo_class == "fast":
            return [[1, 1, 1], [0.5, 0.5, 1, 1], [1, 0.5, 0.5, 1], [0.5] * 6, [2, 1]]
        return [[1, 1, 1], [2, 1], [0.5, 0.5, 1, 1], [1.5, 0.5, 1]]
    if fr.tempo_class == "slow":
        return [[2, 2], [1, 1, 2], [2, 1, 1], [1, 1, 1, 1], [3, 1], [1.5, 0.5, 2], [4], [1, 0.5, 0.5, 2]]
    if fr.tempo_class == "fast":
        return [
            [0.5] * 8,
            [1, 0.5, 0.5, 1, 1],
            [0.5, 0.5, 1, 0.5, 0.5, 1],
            [1, 1, 0.5, 0.5, 1],
            [0.5, 0.5, 0.5, 0.5, 2],
            [1, 1, 1, 1],
            [1.5, 0.5, 1, 1],
        ]
    return [[1, 1, 1, 1], [1, 0.5, 0.5, 2], [0.5, 0.5, 1, 1, 1], [2, 1, 1], [1.5, 0.5, 1, 1]]


def compose_melody(fr: Frame, part: Part, inst: Inst, legato: float = 0.92) -> None:
    rng, key = fr.rng, fr.key
    assert key is not None
    lo, hi = clamp_register(inst, rng)
    pool = rhythm_pool(fr)
    motif = [rng.choice(pool) for _ in range(2)]
    prev = nearest(steps_near(key, lo, hi, 0), (lo + hi) / 2)
    for bar in range(fr.bars):
        deg = fr.chords[bar]
        t0 = bar * fr.bar_ticks
        if bar == fr.bars - 1:  # final tonic, held
            tonics = [p for p in range(lo, hi + 1) if p % 12 == key.tonic]
            p = nearest(tonics or [prev], prev)
            part.add(t0, fr.bar_ticks * 0.98, p, fr.vel(4))
            continue
        rhythm = motif[bar % 2] if (bar // 2) % 2 == 0 or rng.random() < 0.4 else rng.choice(pool)
        chord = key.chord_pcs(deg)
        scale = steps_near(key, lo, hi, deg)
        chord_tones = [p for p in scale if p % 12 in chord]
        beat = 0.0
        for i, dur in enumerate(rhythm):
            strong = abs(beat - round(beat)) < 1e-6 and int(round(beat)) % 2 == 0
            if strong or rng.random() < 0.3:
                cands = [p for p in chord_tones if abs(p - prev) <= 7] or chord_tones
                p = rng.choice(sorted(cands, key=lambda q: abs(q - prev))[:3])
            else:
                idx = scale.index(nearest(scale, prev))
                step = rng.choice((-2, -1, -1, 1, 1, 2))
                p = scale[max(0, min(len(scale) - 1, idx + step))]
            # leading tone resolves up in the cadence bar
            if bar == fr.bars - 2 and i == len(rhythm) - 1:
                p = nearest(
                    [q for q in scale if q % 12 in ((key.tonic + 11) % 12, (key.tonic + 2) % 12)] or scale, prev
                )
            accent = 8 if abs(beat) < 1e-6 else (3 if strong else 0)
            part.add(t0 + beat * PPQ + fr.jitter(), dur * PPQ * legato, p, fr.vel(accent))
            prev = p
            beat += dur


def voice_chord(
    key: Key, deg: int, lo: int, hi: int, prev: list[int] | None, n: int = 3, root_position: bool = False
) -> list[int]:
    pcs = key.chord_pcs(deg)
    if root_position:  # closing chord: lowest root at or above lo, stacked in thirds
        root = lo + ((pcs[0] - lo) % 12)
        v = [root]
        while len(v) < n:
            nxt = v[-1] + 1
            while nxt % 12 not in pcs:
                nxt += 1
            v.append(nxt)
        return v
    cands = []
    for root in range(lo, hi - 7):
        if root % 12 not in (pcs[:1] if root_position else pcs):
            continue
        v = [root]
        while len(v) < n:
            nxt = v[-1] + 1
            while nxt % 12 not in pcs:
                nxt += 1
            v.append(nxt)
        if v[-1] <= hi:
            cands.append(v)
    if not cands:
        if root_position:
            return voice_chord(key, deg, lo, hi, prev, n)
        if hi - lo < 24:  # range too narrow: widen it
            return voice_chord(key, deg, lo, lo + 24, prev, n)
        root = lo + ((pcs[0] - lo) % 12)
        return [
            root,
            root + (key.scale(deg)[(deg + 2) % 7] - key.scale(deg)[deg]) % 12,
            root + (key.scale(deg)[(deg + 4) % 7] - key.scale(deg)[deg]) % 12,
        ][:n]
    if prev is None:
        mid = (lo + hi) / 2
        return min(cands, key=lambda v: abs(sum(v) / len(v) - mid))
    return min(cands, key=lambda v: sum(abs(a - b) for a, b in zip(v, prev)))


def bass_root(key: Key, deg: int, lo: int, hi: int, target: float | None = None) -> int:
    pc = key.chord_pcs(deg)[0]
    cands = [p for p in range(lo, hi + 1) if p % 12 == pc]
    if not cands:  # range narrower than an octave: take the nearest root just outside it
        cands = [p for p in range(max(0, lo - 12), hi + 13) if p % 12 == pc]
    return nearest(cands, target if target is not None else lo + 7)


def compose_chords(fr: Frame, part: Part, inst: Inst, with_bass: bool = False) -> None:
    rng, key = fr.rng, fr.key
    assert key is not None
    lo, hi = clamp_register(inst, rng, width=16)
    lo = max(lo, inst.lo + 7 if with_bass else lo)
    hi = max(hi, lo + 12)
    n = 4 if inst.poly and rng.random() < 0.3 else 3
    b = fr.beats
    if fr.tempo_class == "slow":
        pats = [[b], [b / 2 if b == 4 else 2, 2 if b == 4 else 1], [1] * b if b == 3 else [2, 2]]
    elif fr.tempo_class == "fast":
        pats = [
            [1] * b,
            [0.5] * (2 * b),
            [1.5, 1.5, 1] if b == 4 else [1, 1, 1],
            [0.5, 1, 0.5, 1, 1] if b == 4 else [0.5, 1, 1.5],
        ]
    else:
        pats = [[2, 2] if b == 4 else [2, 1], [1] * b, [1.5, 1.5, 1] if b == 4 else [1.5, 1.5]]
    pat = rng.choice(pats)
    strum = rng.choice((0, 0, 12, 20)) if "guitar" in inst.tags or inst.key in ("harp", "banjo") else 0
    prev = None
    for bar in range(fr.bars):
        deg = fr.chords[bar]
        t0 = bar * fr.bar_ticks
        voicing = voice_chord(key, deg, lo, hi, prev, n, root_position=bar == fr.bars - 1)
        prev = voicing
        rhythm = [b] if bar == fr.bars - 1 else pat
        beat = 0.0
        for dur in rhythm:
            accent = 6 if beat == 0 else 0
            for k, p in enumerate(voicing):
                part.add(t0 + beat * PPQ + k * strum + fr.jitter(4), dur * PPQ * 0.95, p, fr.vel(accent - 6))
            beat += dur
        if with_bass:
            root = bass_root(key, deg, max(inst.lo, voicing[0] - 19), voicing[0] - 5)
            if fr.tempo_class == "fast" and bar != fr.bars - 1:
                for beat in range(b):
                    part.add(
                        t0 + beat * PPQ,
                        PPQ * 0.9,
                        root if beat % 2 == 0 else root + 12 if root + 12 < voicing[0] else root,
                        fr.vel(2),
                    )
            else:
                part.add(t0, fr.bar_ticks * 0.97, root, fr.vel(4))


def compose_arpeggio(fr: Frame, part: Part, inst: Inst, with_bass: bool = False) -> None:
    rng, key = fr.rng, fr.key
    assert key is not None
    lo, hi = clamp_register(inst, rng, width=20)
    sub = 0.5 if fr.tempo_class != "fast" or rng.random() < 0.7 else 1.0
    if fr.tempo_class == "slow" and rng.random() < 0.3:
        sub = 1.0 if fr.bpm > 70 else 0.5
    style = rng.choice(("up", "updown", "alberti", "broken"))
    prev = None
    per_bar = int(round(fr.beats / sub))
    for bar in range(fr.bars):
        deg = fr.chords[bar]
        t0 = bar * fr.bar_ticks
        v = voice_chord(key, deg, lo, max(lo + 12, hi - 12), prev, 3, root_position=bar == fr.bars - 1)
        prev = v
        tones = v + [v[0] + 12, v[1] + 12, v[2] + 12]
        tones = [t for t in tones if t <= inst.hi] or v
        if style == "up":
            seq = tones
        elif style == "updown":
            seq = tones + tones[-2:0:-1]
        elif style == "alberti":
            seq = [v[0], v[2], v[1], v[2]]
        else:
            seq = [v[0], v[1], v[2], v[1], tones[-1], v[2], v[1], v[2]]
        if bar == fr.bars - 1:
            for k, p in enumerate(v):
                part.add(t0 + k * 40, fr.bar_ticks * 0.95 - k * 40, p, fr.vel(2))
            if with_bass:
                part.add(t0, fr.bar_ticks * 0.95, bass_root(key, deg, max(inst.lo, v[0] - 19), v[0] - 5), fr.vel(4))
            continue
        for i in range(per_bar):
            p = seq[i % len(seq)]
            accent = 6 if i == 0 else 0
            part.add(t0 + i * sub * PPQ + fr.jitter(4), sub * PPQ * 1.4, p, fr.vel(accent - 4))
        if with_bass:
            root = bass_root(key, deg, max(inst.lo, v[0] - 19), v[0] - 5)
            part.add(t0, fr.bar_ticks * 0.95, root, fr.vel(2))


def compose_scale(fr: Frame, part: Part, inst: Inst) -> None:
    """Scales up and down (harmonic minor in minor keys), ending on the tonic."""
    rng, key = fr.rng, fr.key
    assert key is not None
    sub = {
        "slow": rng.choice((1.0, 0.5)) if fr.bpm > 68 else 1.0,
        "moderate": 0.5,
        "fast": rng.choice((0.5, 0.5, 1.0)),
    }[fr.tempo_class]
    total_slots = int(round((fr.bars - 1) * fr.beats / sub))
    octaves = 2 if inst.hi - inst.lo >= 30 and rng.random() < 0.6 else 1
    tonic_cands = [p for p in range(inst.lo, inst.hi - 12 * octaves + 1) if p % 12 == key.tonic]
    if not tonic_cands:
        octaves = 1
        tonic_cands = [p for p in range(inst.lo, inst.hi - 11) if p % 12 == key.tonic]
    if not tonic_cands:
        tonic_cands = [inst.lo + ((key.tonic - inst.lo) % 12)]
    base = rng.choice(tonic_cands) - key.tonic
    deg = 4 if key.mode == "minor" else None  # harmonic minor: raised 7th
    up = [key.pitch(s, base, deg) for s in range(7 * octaves + 1)]
    cycle = up + up[-2:0:-1]
    if rng.random() < 0.3:  # scale in thirds
        up3 = []
        for s in range(7 * octaves - 1):
            up3 += [key.pitch(s, base, deg), key.pitch(s + 2, base, deg)]
        cycle = up3 + [key.pitch(7 * octaves, base, deg)] + up3[::-1][1:]
    # end the run on a tonic: extend by one note or cut back, then fill what is left
    # before the closing bar with a broken tonic triad so decaying instruments do not fall silent
    long = cycle * (total_slots // len(cycle) + 3)
    seq = long[:total_slots]
    ext = next((k for k in range(0, 2) if long[total_slots - 1 + k] % 12 == key.tonic), None)
    if ext is not None:
        seq = long[: total_slots + ext]
    else:
        while seq and seq[-1] % 12 != key.tonic:
            seq.pop()
    gap = total_slots - len(seq)
    if gap > 0:
        t = seq[-1] if seq else base + key.tonic
        triad = [key.pitch(4, t - key.tonic), key.pitch(2, t - key.tonic), t, key.pitch(2, t - key.tonic)]
        if triad[0] > inst.hi + 2:
            triad = [q - 12 for q in triad]
        seq += [triad[k % 4] for k in range(gap - 1)] + [t]
    for i, p in enumerate(seq):
        accent = 6 if (i * sub) % fr.beats == 0 else 0
        part.add(i * sub * PPQ + fr.jitter(3), sub * PPQ * 0.9, p, fr.vel(accent))
    end = len(seq) * sub * PPQ
    last = seq[-1] if seq else base + key.tonic
    part.add(end, max(fr.bar_ticks, (fr.bars * fr.bar_ticks) - end) * 0.95, last, fr.vel(4))


def compose_bass(fr: Frame, part: Part, inst: Inst) -> None:
    rng, key = fr.rng, fr.key
    assert key is not None
    lo, hi = inst.lo, min(inst.hi, inst.lo + 24)
    style = (
        rng.choice(("roots", "root_fifth", "walk", "pump"))
        if fr.tempo_class != "slow"
        else rng.choice(("roots", "root_fifth"))
    )
    if inst.key == "timpani":
        style = "root_fifth"
    b = fr.beats
    for bar in range(fr.bars):
        deg = fr.chords[bar]
        t0 = bar * fr.bar_ticks
        root = bass_root(key, deg, lo, hi, lo + 9)
        if bar == fr.bars - 1:
            part.add(t0, fr.bar_ticks * 0.95, root, fr.vel(6))
            continue
        up5 = (key.chord_pcs(deg)[2] - root) % 12  # diatonic fifth (diminished on ii/vii in minor)
        fifth = root + up5 if root + up5 <= inst.hi else root + up5 - 12
        nxt = bass_root(key, fr.chords[bar + 1], lo, hi, root)
        if style == "roots":
            part.add(t0, fr.bar_ticks * 0.95, root, fr.vel(4))
        elif style == "root_fifth":
            half = b / 2 if b == 4 else 2
            part.add(t0, half * PPQ * 0.92, root, fr.vel(4))
            part.add(t0 + half * PPQ, (b - half) * PPQ * 0.92, fifth, fr.vel(0))
        elif style == "pump":
            for i in range(2 * b):
                part.add(t0 + i * PPQ / 2, PPQ / 2 * 0.8, root if i != 2 * b - 1 else fifth, fr.vel(6 if i == 0 else 0))
        else:  # walk: root, chord tone, scale tone, approach to next root (diatonic)
            scale = steps_near(key, lo - 2, hi + 5, deg)
            third = nearest([p for p in scale if p % 12 == key.chord_pcs(deg)[1]] or [root], root + 4)
            line = [root, third, fifth if b == 4 else nearest(scale, nxt + 2)]
            if b == 4:
                ap = [p for p in scale if 0 < abs(p - nxt) <= 2]
                line.append(nearest(ap, nxt + 1) if ap else fifth)
            for i, p in enumerate(line[:b]):
                part.add(t0 + i * PPQ, PPQ * 0.9, p, fr.vel(4 if i == 0 else 0))


def compose_riff(fr: Frame, part: Part, inst: Inst) -> None:
    """A one-bar diatonic motif, transposed along the progression (power chords on distorted guitar)."""
    rng, key = fr.rng, fr.key
    assert key is not None
    power = "distorted guitar" in inst.tags
    lo = inst.lo + rng.randint(0, 5) if power else clamp_register(inst, rng, 14)[0]
    sub = 0.5
    n = int(fr.beats / sub)
    shape = [rng.choice((0, 0, 0, 2, 4, 7, -1, 5)) for _ in range(n)]
    shape[0] = 0
    rests = [i > 0 and rng.random() < 0.25 for i in range(n)]
    lengths = [rng.choice((1, 1, 1, 2)) for _ in range(n)]
    for bar in range(fr.bars):
        deg = fr.chords[bar]
        t0 = bar * fr.bar_ticks
        root_step = deg
        base_root = key.pitch(root_step, 0, deg)
        octave = 12 * ((lo - base_root) // 12 + 1)
        if bar == fr.bars - 1:
            r = key.pitch(0, octave, deg)
            for p in [r, r + 7, r + 12] if power else [r]:
                part.add(t0, fr.bar_ticks * 0.95, p, fr.vel(8))
            continue
        i = 0
        while i < n:
            if rests[i]:
                i += 1
                continue
            p = key.pitch(root_step + shape[i], octave, deg)
            dur = min(lengths[i], n - i) * sub * PPQ * 0.85
            fifth_ok = (key.pitch(root_step + shape[i] + 4, octave, deg) - p) == 7
            pitches = ([p, p + 7, p + 12] if fifth_ok else [p, p + 12]) if power else [p]
            for q in pitches:
                if inst.lo - 12 <= q <= inst.hi + 12:
                    part.add(t0 + i * sub * PPQ + fr.jitter(3), dur, q, fr.vel(8 if i == 0 else 0))
            i += lengths[i]


DRUM_STYLES = {
    # name: (tempo classes, caption words)
    "rock": (("moderate", "fast"), ("rock beat", "rock drum beat", "backbeat")),
    "halftime": (("slow", "moderate"), ("half-time groove", "laid-back half-time beat")),
    "four_on_floor": (("moderate", "fast"), ("four-on-the-floor beat", "dance beat", "disco beat")),
    "swing": (("slow", "moderate", "fast"), ("swing groove", "jazz ride pattern", "swung beat")),
    "funk": (("slow", "moderate"), ("funky groove", "syncopated groove")),
    "punk": (("fast",), ("punk beat", "fast driving beat")),
    "ballad": (("slow",), ("ballad groove", "gentle backbeat")),
}
K, SN, RIM, CLAP, HH, PHH, OHH, RIDE, CRASH, TLO, TMID, THI = 36, 38, 37, 39, 42, 44, 46, 51, 49, 45, 47, 50


def compose_drums(fr: Frame, part: Part, style: str) -> None:
    rng = fr.rng
    grid = 16 if style != "swing" else 12
    b = fr.beats
    cell = fr.bar_ticks / grid
    sixteen = [i * 4 for i in range(4)]

    def hits(bar: int, fill: bool) -> list[tuple[int, int, int]]:
        h: list[tuple[int, int, int]] = []
        if style == "rock":
            h += [(i, HH, 70 if i % 4 else 90) for i in range(0, 16, 2)]
            h += [(0, K, 110), (8, K, 105), (4, SN, 105), (12, SN, 108)]
            if rng.random() < 0.5:
                h.append((10, K, 90))
        elif style == "halftime":
            h += [(i, HH, 60 if i % 4 else 80) for i in range(0, 16, 2)]
            h += [(0, K, 105), (8, SN, 110)]
            if rng.random() < 0.5:
                h.append((11, K, 85))
        elif style == "four_on_floor":
            h += [(i, K, 112) for i in sixteen] + [(4, CLAP, 100), (12, CLAP, 100), (4, SN, 90), (12, SN, 90)]
            h += [(i + 2, OHH, 80) for i in sixteen] + [(i, HH, 60) for i in sixteen]
        elif style == "swing":
            h += [(0, RIDE, 90), (3, RIDE, 85), (5, RIDE, 70), (6, RIDE, 88), (9, RIDE, 85), (11, RIDE, 70)]
            h += [(3, PHH, 70), (9, PHH, 70), (0, K, 60), (6, K, 55)]
            if rng.random() < 0.4:
                h.append((rng.choice((2, 5, 8, 11)), SN, 55))
        elif style == "funk":
            h += [(i, HH, 55 if i % 2 else 80) for i in range(16)]
            h += [(0, K, 110), (6, K, 90), (10, K, 100), (4, SN, 110), (12, SN, 110)]
            h += [(7, SN, 40), (15, SN, 40)] if rng.random() < 0.6 else [(9, SN, 40)]
        elif style == "punk":
            h += [(i, K if (i // 2) % 2 == 0 else SN, 110) for i in range(0, 16, 2)]
            h += [(i, CRASH if i == 0 else RIDE, 90) for i in range(0, 16, 4)]
        elif style == "ballad":
            h += [(i, HH, 60) for i in range(0, 16, 4)] + [(0, K, 95), (10, K, 75), (4, RIM, 90), (12, RIM, 90)]
        if b == 3:  # fold into 3/4: keep the first three beats of the 4/4 grid
            h = [(i, n, v) for i, n, v in h if i < grid * 3 // 4]
        if fill:
            start = grid * 3 // 4 if b == 4 else grid // 2
            h = [x for x in h if x[0] < start]
            toms = [THI, THI, TMID, TMID, TLO, TLO, SN, SN]
            step = 1 if fr.tempo_class != "fast" else 2
            for j, i in enumerate(range(start, grid * b // 4, step)):
                h.append((i, toms[min(j, len(toms) - 1)], 95 + 2 * j))
        return h

    for bar in range(fr.bars):
        t0 = bar * fr.bar_ticks
        if bar == fr.bars - 1:
            for n, v in ((K, 115), (CRASH, 110)):
                part.add(t0, fr.bar_ticks * 0.9, n, v)
            continue
        fill = bar % 4 == 3 and bar < fr.bars - 2
        for i, note, v in hits(bar, fill):
            vel = v * fr.base_vel / 96 + rng.randint(-6, 6)
            part.add(t0 + i * cell + rng.randint(-5, 5), cell * 0.9, note, vel)
        if bar % 4 == 0 and style != "swing" and (bar > 0 or rng.random() < 0.5):
            part.add(t0, cell * 4, CRASH, 100 * fr.base_vel / 96)


# ----------------------------------------------------------------------------------------------
# Clip plans and captions
# ----------------------------------------------------------------------------------------------

MOODS = {
    ("slow", "major"): ("calm", "gentle", "peaceful", "tender", "relaxed", "serene"),
    ("slow", "minor"): ("melancholic", "sad", "sombre", "mournful", "brooding", "wistful"),
    ("fast", "major"): ("upbeat", "cheerful", "bright", "lively", "energetic", "joyful"),
    ("fast", "minor"): ("driving", "tense", "dramatic", "urgent", "restless", "dark"),
    ("moderate", "major"): ("pleasant", "easygoing", "warm", "sunny"),
    ("moderate", "minor"): ("moody", "reflective", "pensive", "dark"),
    ("slow", None): ("laid-back", "relaxed", "calm", "gentle"),
    ("fast", None): ("energetic", "driving", "intense", "high-energy"),
    ("moderate", None): ("steady", "groovy", "mid-tempo"),
}
TEMPO_WORDS = {
    "slow": ("slow", "slow", "slow-tempo", "unhurried"),
    "fast": ("fast", "fast", "fast-paced", "quick", "up-tempo"),
    "moderate": ("moderate-tempo", "mid-tempo", "medium-tempo"),
}
MATERIAL_WORDS = {
    "scale": ("scales", "a scale", "scale runs", "a scale exercise"),
    "arpeggio": ("arpeggios", "broken chords", "an arpeggiated pattern"),
    "chords": ("block chords", "chords", "a chord progression", "sustained chords"),
    "melody": ("a melody", "a tune", "a melodic line", "a simple melody"),
    "melody_bass": ("a melody over a bass line", "a tune with a bass line"),
    "riff": ("a riff", "a repeating riff", "a short repeated figure"),
    "drum_groove": ("a drum groove", "a drum beat", "a groove"),
    "bass_line": ("a bass line", "a bass part", "a low bass line"),
    "timpani": ("a timpani part", "rolling timpani strokes", "timpani beats on tonic and dominant"),
}


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def a(word: str) -> str:
    return f"{article(word)} {word}"


def join_names(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def caption(rng: random.Random, spec: dict) -> str:
    tc, mode, bpm = spec["tempo_class"], spec["mode"], int(round(spec["tempo_bpm"]))
    tempo = rng.choice(TEMPO_WORDS[tc])
    mood = rng.choice(MOODS[(tc, mode)])
    names = spec["caption_names"]
    mat = spec["material"]
    if "timpani" in spec["instruments"] and len(spec["instruments"]) == 1:
        mat = "timpani"
    matw = rng.choice(MATERIAL_WORDS.get(mat, ("a piece",)))
    keyname = spec["key"]
    modew = f"{article(mode)} {mode} key" if mode else ""
    in_mode = rng.choice((f"in {modew}", f"in {keyname}", f"in {modew}")) if mode else ""
    is_drums = spec["drums_only"]
    solo = spec["texture"] == "solo"

    if is_drums:
        style = rng.choice(DRUM_STYLES[spec["drum_style"]][1])
        kit = names[0]
        fams = [
            f"{a(tempo)} {style} on {kit}",
            f"{a(mood)} drum groove",
            f"{tempo} solo drums playing {a(style)}",
            f"{a(style)} at {bpm} bpm, drums only",
            f"{mood} {tempo} drums",
            f"drum kit, {tc if tc != 'moderate' else 'mid-tempo'}, percussion, no melody",
            f"{a(tempo)} drum beat with {rng.choice(('kick, snare and hi-hat', 'cymbals and toms', 'a steady pulse'))}",
        ]
        return rng.choice(fams)

    if len(names) == 1:  # one instrument: "solo" only when it is not itself an ensemble
        n = names[0]
        other_tags = [t for t in spec["tags"] if t != n]
        if solo:
            fams = [
                f"{a(tempo)} {n} piece {in_mode}",
                f"{tempo} solo {n} {in_mode}",
                f"{a(mood)} {n} solo",
                f"{n} playing {matw} {in_mode}, {tempo}",
                f"solo {n}, {mode or ''} key, {tc} tempo",
                f"{a(mood)} {tempo} piece for solo {n}",
                f"{matw} on {a(n)}, {tempo} and {mood}",
                f"{a(n)} alone, {tempo}, {mood}, {in_mode}",
                f"{n}, {', '.join(rng.sample(other_tags, k=min(3, len(other_tags))))}",
                f"{a(tempo)} {n} melody {in_mode} at about {bpm} bpm",
            ]
        else:
            fams = [
                f"{a(tempo)} {n} piece {in_mode}",
                f"{n} playing {matw} {in_mode}, {tempo}",
                f"{a(mood)} {tempo} passage for {n}",
                f"{matw} played by {n}, {tempo} and {mood}",
                f"{n}, {', '.join(rng.sample(other_tags, k=min(3, len(other_tags))))}",
                f"{a(mood)} piece for {n} {in_mode} at about {bpm} bpm",
            ]
        if mat != "melody":
            fams = [f for f in fams if "melody" not in f]
        return tidy(rng.choice(fams))

    listed = join_names(names)
    lead = names[0]
    acc = join_names(names[1:])
    fams = [
        f"{a(mood)} {listed} piece",
        f"{a(tempo)} piece for {listed} {in_mode}",
        f"{listed} playing together, {tempo}, {in_mode}",
        f"{lead} with {acc} accompaniment, {tempo} {in_mode}",
        f"a small ensemble of {listed}: {mood} and {tempo}",
        f"{a(tempo)} {mood} tune with {listed}",
        f"{listed}, ensemble, {tc} tempo, {mode or 'no'} key",
        f"{lead} over {acc}, {a(mood)} piece {in_mode}",
    ]
    return tidy(rng.choice(fams))


def tidy(text: str) -> str:
    text = text.replace(", None key", "").replace(",  key", "").replace(", no key", "")
    text = " ".join(text.split()).replace(" ,", ",").replace(",,", ",")
    return text.strip(" ,")


def clip_rng_seed(master: int, index: int, attempt: int) -> int:
    h = hashlib.sha256(f"musictext-train:{master}:{index}:{attempt}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def plan_clips(n: int, master_seed: int, sf_names: list[str], opl3_share: float) -> list[dict]:
    """Draw the set-level plan: what each clip is (texture, instruments, tempo, mode, material)."""
    rng = random.Random(master_seed)
    n_drums = int(round(n * 0.10))
    n_ens = int(round(n * 0.30))
    n_solo = n - n_drums - n_ens
    kinds = ["solo"] * n_solo + ["ensemble"] * n_ens + ["drums"] * n_drums
    rng.shuffle(kinds)

    # balanced instrument sequence for solo clips: weighted round-robin, then shuffled
    weights = {i.key: i.weight for i in INSTRUMENTS}
    tot = sum(weights.values())
    solo_seq: list[str] = []
    for k, w in weights.items():
        solo_seq += [k] * max(1, int(math.floor(n_solo * w / tot)))
    while len(solo_seq) < n_solo:
        solo_seq.append(rng.choices(list(weights), weights=list(weights.values()))[0])
    rng.shuffle(solo_seq)
    solo_seq = solo_seq[:n_solo]

    tempos = ["slow", "fast"] * 9 + ["moderate"] * 3  # ~14% moderate, unlabeled middle ground
    plans = []
    si = 0
    for idx, kind in enumerate(kinds):
        sfn = "OPL3-FM" if ("OPL3-FM" in sf_names and rng.random() < opl3_share) else sf_names[0]
        if "OPL3-FM" not in sf_names:
            sfn = sf_names[0]
        tc = rng.choice(tempos)
        mode = rng.choice(("major", "minor"))
        p = {"index": idx, "kind": kind, "soundfont": sfn, "tempo_class": tc, "mode": mode}
        if kind == "solo":
            ik = solo_seq[si]
            si += 1
            inst = INST[ik]
            mats = []
            if M in inst.roles:
                mats += ["melody", "melody"]
                if (
                    inst.poly
                    and B in inst.roles
                    or ik
                    in (
                        "acoustic_grand_piano",
                        "bright_piano",
                        "electric_piano",
                        "harpsichord",
                        "church_organ",
                        "harp",
                        "nylon_guitar",
                        "steel_guitar",
                    )
                ):
                    mats.append("melody_bass")
            if inst.poly and C in inst.roles:
                mats.append("chords")
            if A in inst.roles:
                mats.append("arpeggio")
            if R in inst.roles:
                mats.append("riff")
            if B in inst.roles and inst.program in (32, 33, 34, 35, 38, 43, 58, 47):
                mats += ["bass_line", "bass_line"]
            if not inst.ensemble and ik not in ("timpani",) and (M in inst.roles):
                mats.append("scale")
            p["material"] = rng.choice(mats or ["melody"])
            p["parts"] = [ik]
            if ik == "timpani":
                p["mode"] = None
        elif kind == "drums":
            styles = [s for s, (tcs, _) in DRUM_STYLES.items() if tc in tcs]
            p["drum_style"] = rng.choice(styles)
            p["mode"] = None
            p["material"] = "drum_groove"
            kits = [0] if sfn == "OPL3-FM" else list(DRUM_KITS)
            kit = rng.choice(kits)
            if p["drum_style"] == "swing" and sfn != "OPL3-FM" and rng.random() < 0.6:
                kit = 40
            p["kit"] = kit
            p["parts"] = ["drums"]
        else:
            p.update(plan_ensemble(rng, tc))
        plans.append(p)
    return plans


def pick(rng: random.Random, role: str, exclude: set[str], pred=None) -> str:
    cands = [i for i in INSTRUMENTS if role in i.roles and i.key not in exclude and (pred is None or pred(i))]
    return rng.choices([i.key for i in cands], weights=[i.weight for i in cands])[0]


def plan_ensemble(rng: random.Random, tc: str) -> dict:
    recipes = ["mel+chords", "mel+chords+bass", "mel+arp", "mel+bass", "chords+bass"]
    if tc != "slow":
        recipes += ["riff+bass+drums", "mel+bass+drums", "chords+bass+drums", "mel+chords+drums"]
    recipe = rng.choice(recipes)
    parts: list[str] = []
    roles: list[str] = []
    used: set[str] = set()
    bass_ok = lambda i: i.lo <= 40  # noqa: E731
    for r in recipe.split("+"):
        if r == "drums":
            parts.append("drums")
            roles.append("drums")
            continue
        role = {"mel": M, "chords": C, "bass": B, "arp": A, "riff": R}[r]
        if role == M:
            k = pick(rng, M, used, lambda i: i.lo >= 44 and not i.key.startswith("voice"))
        elif role == B:
            k = pick(rng, B, used, bass_ok)
        elif role == R:
            k = pick(rng, R, used, lambda i: i.lo >= 36 and B not in i.roles[:1])
        else:
            k = pick(rng, role, used, lambda i: i.poly)
        # avoid two instruments whose captions collapse to the same name
        if INST[k].names[0] in {INST[u].names[0] for u in used}:
            k = pick(rng, role, used | {k}, lambda i: i.poly if role in (C, A) else True)
        used.add(k)
        parts.append(k)
        roles.append({"mel": "melody", "chords": "chords", "bass": "bass", "arp": "arpeggio", "riff": "riff"}[r])
    return {
        "parts": parts,
        "roles": roles,
        "recipe": recipe,
        "material": "ensemble",
        "kit": 0,
        "drum_style": rng.choice([s for s, (tcs, _) in DRUM_STYLES.items() if tc in tcs]),
    }


def build_clip(plan: dict, seed: int) -> tuple[list[Part], dict]:
    """Compose one clip from its plan with its own seed; return MIDI parts and its labels."""
    rng = random.Random(seed)
    tc = plan["tempo_class"]
    bpm = {"slow": rng.uniform(55, 80), "fast": rng.uniform(140, 190), "moderate": rng.uniform(92, 124)}[tc]
    bpm = round(bpm)
    beats = 3 if plan["kind"] != "drums" and plan.get("recipe", "").find("drums") < 0 and rng.random() < 0.15 else 4
    target = rng.uniform(16.5, 21.0)
    bar_s = beats * 60.0 / bpm
    bars = max(4, int(round(target / bar_s)))
    while bars * bar_s + 1.2 > MAX_DUR - 0.5:
        bars -= 1
    while bars * bar_s < MIN_DUR + 0.3:
        bars += 1
    mode = plan["mode"]
    key = Key(rng.randrange(12), mode) if mode else Key(rng.randrange(12), "major")
    base_vel = {"slow": rng.randint(55, 78), "moderate": rng.randint(70, 92), "fast": rng.randint(84, 112)}[tc]
    chords = make_chords(rng, mode or "major", bars)
    fr = Frame(key, bpm, tc, beats, bars, chords, rng, base_vel)
    sfn = plan["soundfont"]

    parts: list[Part] = []
    tags: list[str] = []
    caption_names: list[str] = []
    programs: list[int] = []
    kind = plan["kind"]
    channels = iter([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11])

    def new_part(ik: str, role: str, volume: int, pan: int) -> Part:
        inst = INST[ik]
        part = Part(ik, inst.program, next(channels), role, volume, pan, rng.randint(25, 70))
        parts.append(part)
        programs.append(inst.program)
        for t in inst.tags:
            if t not in tags:
                tags.append(t)
        caption_names.append(rng.choice(inst.names))
        return part

    drum_kit = plan.get("kit", 0)
    if kind == "solo":
        ik = plan["parts"][0]
        inst = INST[ik]
        part = new_part(ik, plan["material"], 110, 64)
        mat = plan["material"]
        if mat == "melody":
            compose_melody(fr, part, inst, legato=0.97 if not inst.poly else 0.9)
        elif mat == "melody_bass":
            hi_inst = Inst(ik, inst.program, inst.names, inst.tags, max(inst.lo, 60), inst.hi, inst.poly, inst.roles)
            compose_melody(fr, part, hi_inst)
            lo_inst = Inst(
                ik, inst.program, inst.names, inst.tags, inst.lo, max(inst.lo + 19, 55), inst.poly, inst.roles
            )
            compose_bass(fr, part, lo_inst)
        elif mat == "chords":
            compose_chords(fr, part, inst, with_bass=inst.lo <= 40 and rng.random() < 0.6)
        elif mat == "arpeggio":
            compose_arpeggio(fr, part, inst, with_bass=inst.poly and inst.lo <= 40 and rng.random() < 0.5)
        elif mat == "scale":
            compose_scale(fr, part, inst)
        elif mat == "riff":
            compose_riff(fr, part, inst)
        elif mat == "bass_line":
            compose_bass(fr, part, inst)
        texture = "ensemble" if inst.ensemble else "solo"
        mat_tag = {"melody_bass": "melody", "bass_line": "bass line"}.get(mat, mat)
        if mat == "riff" and "distorted guitar" in inst.tags:
            mat_tag = "riff"
        extra = [texture, mat_tag]
        if mat == "melody_bass":
            extra.append("bass line")
    elif kind == "drums":
        part = Part(None, drum_kit, 9, "drums", 110, 64, rng.randint(20, 50))
        parts.append(part)
        programs.append(drum_kit)
        compose_drums(fr, part, plan["drum_style"])
        tags += list(DRUM_TAGS)
        caption_names.append(rng.choice(DRUM_NAMES))
        extra = ["solo", "drum groove"]
        mat = "drum_groove"
    else:
        pans = [64, rng.choice((40, 88)), rng.choice((50, 78))]
        vols = {"melody": 112, "riff": 110, "chords": 82, "arpeggio": 88, "bass": 100, "drums": 92}
        for j, (ik, role) in enumerate(zip(plan["parts"], plan["roles"])):
            if ik == "drums":
                part = Part(None, 0, 9, "drums", vols["drums"], 64, 30)
                parts.append(part)
                programs.append(0)
                compose_drums(fr, part, plan["drum_style"])
                for t in DRUM_TAGS:
                    if t not in tags:
                        tags.append(t)
                caption_names.append(rng.choice(("drums", "drum kit")))
                continue
            inst = INST[ik]
            part = new_part(ik, role, vols[role], pans[j])
            if role == "melody":
                compose_melody(fr, part, inst)
            elif role == "chords":
                compose_chords(
                    fr,
                    part,
                    Inst(ik, inst.program, inst.names, inst.tags, max(inst.lo, 48), min(inst.hi, 84), True, inst.roles),
                )
            elif role == "arpeggio":
                compose_arpeggio(
                    fr,
                    part,
                    Inst(ik, inst.program, inst.names, inst.tags, max(inst.lo, 45), min(inst.hi, 88), True, inst.roles),
                )
            elif role == "bass":
                compose_bass(fr, part, inst)
            elif role == "riff":
                compose_riff(fr, part, inst)
        extra = ["ensemble"]
        mat = "ensemble"
        texture = "ensemble"

    if tc in ("slow", "fast"):
        extra.append(tc)
    else:
        extra.append("moderate tempo")
    if plan["mode"]:
        extra.append(plan["mode"])
    for t in extra:
        if t not in tags:
            tags.append(t)

    end_tick = bars * fr.bar_ticks + int(1.2 * bpm / 60 * PPQ)
    labels = {
        "tags": tags,
        "instrument": plan["parts"][0] if len(plan["parts"]) == 1 else "+".join(plan["parts"]),
        "instruments": list(plan["parts"]),
        "gm_program": programs[0] if len(programs) == 1 else programs,
        "drum_kit": (DRUM_KITS.get(drum_kit, str(drum_kit)) if "drums" in plan["parts"] else None),
        "soundfont": sfn,
        "tempo_bpm": bpm,
        "tempo_class": tc,
        "mode": plan["mode"],
        "key": key.name() if plan["mode"] else None,
        "time_signature": f"{beats}/4",
        "texture": "solo" if "solo" in tags else "ensemble",
        "material": mat if kind != "ensemble" else plan["recipe"],
        "caption_names": caption_names,
        "drums_only": kind == "drums",
        "drum_style": plan.get("drum_style") if "drums" in plan["parts"] else None,
        "end_tick": end_tick,
        "bpm": bpm,
        "beats": beats,
    }
    if kind == "solo":
        labels["material"] = plan["material"]
    labels["material_for_caption"] = labels["material"] if kind != "ensemble" else "ensemble"
    return parts, labels


# ----------------------------------------------------------------------------------------------
# numpy renderer (--renderer numpy): every note synthesised here (our own code, MIT); no soundfont,
# no fluidsynth. Instruments are recipes over a few building blocks: wavetable/additive partials,
# band-limited saw/square (polyBLEP), Karplus-Strong strings, RBJ biquads, formant filters.
# ----------------------------------------------------------------------------------------------

NP_SOUNDFONT = "numpy-synth"
NP_INFO = {
    "licence": "MIT",
    "copyright": "musictext authors",
    "note": "note-by-note synthesis in numpy/scipy (models/make_training_set.py); no samples, no soundfont",
}
NYQ = SR / 2 - 500


def _hz(p: float) -> float:
    return 440.0 * 2 ** ((p - 69) / 12)


def _biquad(kind: str, f0: float, q: float = 0.707, gain_db: float = 0.0):
    f0 = min(max(f0, 20.0), SR / 2 * 0.95)
    w0 = 2 * math.pi * f0 / SR
    al, cw = math.sin(w0) / (2 * q), math.cos(w0)
    if kind == "lp":
        b, a = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2], [1 + al, -2 * cw, 1 - al]
    elif kind == "hp":
        b, a = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + al, -2 * cw, 1 - al]
    elif kind == "bp":
        b, a = [al, 0.0, -al], [1 + al, -2 * cw, 1 - al]
    else:  # peaking
        A = 10 ** (gain_db / 40)
        b, a = [1 + al * A, -2 * cw, 1 - al * A], [1 + al / A, -2 * cw, 1 - al / A]
    return np.array(b) / a[0], np.array(a) / a[0]


def _filt(x: np.ndarray, kind: str, f0: float, q: float = 0.707, gain_db: float = 0.0) -> np.ndarray:
    b, a = _biquad(kind, f0, q, gain_db)
    return lfilter(b, a, x)


def _formants(x: np.ndarray, forms: list[tuple[float, float, float]]) -> np.ndarray:
    """Parallel band-pass resonators: (centre Hz, Q, linear gain)."""
    return sum(g * _filt(x, "bp", f, q) for f, q, g in forms)


def _env(n_on: int, rel: float, a: float = 0.01, d: float = 0.2, s: float = 1.0) -> np.ndarray:
    n = n_on + int(rel * SR)
    t = np.arange(n) / SR
    e = np.where(t < a, t / max(a, 1e-4), s + (1 - s) * np.exp(-(t - a) / max(d, 1e-3)))
    if n > n_on:
        lvl = e[max(0, n_on - 1)]
        e[n_on:] = lvl * np.exp(-(t[n_on:] - t[n_on]) * 6.9 / max(rel, 1e-3))
    return e


def _phase(
    hz: float,
    n: int,
    rng,
    vib_hz: float = 0.0,
    vib_cents: float = 0.0,
    vib_delay: float = 0.25,
    drift: float = 0.0,
    bend: float = 0.0,
    bend_t: float = 0.05,
) -> np.ndarray:
    """Instantaneous phase in cycles (vibrato, onset pitch bend in semitones, slow random drift in cents)."""
    t = np.arange(n) / SR
    cents = np.zeros(n)
    if vib_cents:
        ramp = np.clip((t - vib_delay) / 0.4, 0, 1)
        cents += vib_cents * ramp * np.sin(2 * math.pi * vib_hz * t + rng.uniform(0, 6.28))
    if drift:
        cents += drift * np.sin(2 * math.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.28))
    if bend:
        cents += 100 * bend * np.exp(-t / bend_t)
    f = hz * 2 ** (cents / 1200) if (vib_cents or drift or bend) else np.full(n, hz)
    return np.cumsum(f) / SR + rng.uniform(0, 1)


def _blep(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    out = np.zeros_like(t)
    m = t < dt
    x = t[m] / dt[m]
    out[m] = 2 * x - x * x - 1
    m = t > 1 - dt
    x = (t[m] - 1) / dt[m]
    out[m] = x * x + 2 * x + 1
    return out


def _saw(ph: np.ndarray) -> np.ndarray:
    dt = np.maximum(np.diff(ph, prepend=ph[0] - (ph[1] - ph[0] if len(ph) > 1 else 0.01)), 1e-5)
    t = ph % 1.0
    return 2 * t - 1 - _blep(t, dt)


def _square(ph: np.ndarray, width: float = 0.5) -> np.ndarray:
    return 0.5 * (_saw(ph) - _saw(ph + width))


def _wavetable(ph: np.ndarray, hz: float, harms: dict[int, float]) -> np.ndarray:
    """Harmonic series (integer multiples of hz -> amplitude) through a 4096-point table."""
    tbl_x = np.arange(4096) / 4096
    tbl = np.zeros(4096)
    for k, amp in harms.items():
        if k * hz < NYQ:
            tbl += amp * np.sin(2 * math.pi * k * tbl_x)
    return tbl[((ph % 1.0) * 4096).astype(np.int64) & 4095]


def _partials(
    n: int, hz: float, rng, parts: list[tuple[float, float, float]], damp_from: int | None = None, damp: float = 0.1
) -> np.ndarray:
    """Decaying sine partials (ratio, amplitude, decay time constant s); optional damping after note-off."""
    t = np.arange(n) / SR
    y = np.zeros(n)
    for ratio, amp, tau in parts:
        f = hz * ratio
        if f >= NYQ:
            continue
        y += amp * np.sin(2 * math.pi * f * t + rng.uniform(0, 6.28)) * np.exp(-t / tau)
    if damp_from is not None and damp_from < n:
        y[damp_from:] *= np.exp(-(t[damp_from:] - t[damp_from]) / damp)
    return y


def _noise(rng, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def _ks(hz: float, n: int, rng, bright: float = 0.5, decay: float = 2.0, pick: float = 0.13) -> np.ndarray:
    """Karplus-Strong plucked string (two-tap loop filter, fractional delay through the tap weights)."""
    D = SR / hz
    P = max(2, int(D))
    w = min(max(D - P, 0.05), 0.95)
    exc = rng.uniform(-1, 1, P + 1)
    exc = lfilter([bright], [1, -(1 - bright)], exc)  # tone control: darker excitation
    k = max(1, int(pick * P))  # pluck position comb
    exc = exc - np.roll(exc, k) * 0.6
    g = 10 ** (-3 / (decay * hz))
    buf = np.zeros(n + P + 1)
    buf[: P + 1] = exc
    pos = P + 1
    total = len(buf)
    while pos < total:
        m = min(P, total - pos)
        buf[pos : pos + m] = g * ((1 - w) * buf[pos - P : pos - P + m] + w * buf[pos - P - 1 : pos - P - 1 + m])
        pos += m
    return buf[P + 1 :]


def _soft_clip(x: np.ndarray, drive: float) -> np.ndarray:
    return np.tanh(drive * x / (np.max(np.abs(x)) + 1e-9)) / math.tanh(drive)


# recipes: key -> (family, params)
NP_RECIPES: dict[str, tuple[str, dict]] = {
    # organs: harmonic multiples of the 16' (sub-octave) foot -> level
    "church_organ": (
        "organ",
        {
            "bars": {
                1: 0.5,
                2: 1.0,
                3: 0.45,
                4: 0.7,
                6: 0.35,
                8: 0.45,
                10: 0.15,
                12: 0.25,
                16: 0.15,
                20: 0.05,
                24: 0.08,
            },
            "chorus": 4.0,
            "chiff": 0.25,
            "rel": 0.6,
            "att": 0.05,
            "rev": 0.9,
        },
    ),
    "drawbar_organ": (
        "organ",
        {
            "bars": {1: 0.7, 2: 1.0, 3: 0.8, 4: 0.4, 6: 0.2},
            "perc": 6,
            "leslie": 0.25,
            "click": 0.3,
            "rel": 0.05,
            "att": 0.004,
        },
    ),
    "rock_organ": (
        "organ",
        {
            "bars": {1: 0.8, 2: 1.0, 3: 0.9, 4: 0.7, 6: 0.5, 8: 0.4, 16: 0.3},
            "perc": 6,
            "leslie": 0.45,
            "click": 0.5,
            "drive": 3.0,
            "rel": 0.05,
            "att": 0.004,
        },
    ),
    "reed_organ": (
        "reed",
        {
            "mix": 0.6,
            "forms": [(900, 2.0, 1.0), (2200, 3.0, 0.6)],
            "vib": (5.0, 4),
            "att": 0.06,
            "det": 3,
            "rel": 0.2,
            "lp": 3500,
        },
    ),
    "accordion": (
        "reed",
        {
            "mix": 0.4,
            "forms": [(1200, 2.5, 1.0), (2600, 3.0, 0.7)],
            "vib": (0, 0),
            "att": 0.03,
            "det": 9,
            "trem": (6.0, 0.15),
            "rel": 0.08,
            "lp": 5000,
        },
    ),
    "harmonica": (
        "reed",
        {
            "mix": 0.2,
            "forms": [(1500, 2.0, 1.0), (3000, 3.0, 0.5)],
            "vib": (5.5, 18),
            "att": 0.04,
            "det": 0,
            "breath": 0.12,
            "rel": 0.08,
            "lp": 4500,
        },
    ),
    # struck / plucked-keyboard / mallets
    "acoustic_grand_piano": ("piano", {"bright": 0.7, "B": 0.0004, "decay": 3.5}),
    "bright_piano": ("piano", {"bright": 1.2, "B": 0.0005, "decay": 3.0}),
    "electric_piano": ("epiano", {}),
    "harpsichord": ("pluck", {"bright": 0.9, "decay": 1.6, "octave": 0.45, "hp": 200, "damp": 0.05}),
    "clavinet": ("pluck", {"bright": 0.8, "decay": 0.9, "hp": 350, "peaks": [(1500, 1.5, 8)], "damp": 0.02}),
    "celesta": ("mallet", {"parts": [(1, 1, 1.2), (2, 0.15, 0.4), (4.1, 0.25, 0.15)], "click": 0.1}),
    "glockenspiel": ("mallet", {"parts": [(1, 1, 2.0), (2.71, 0.5, 0.8), (5.1, 0.3, 0.3)], "click": 0.15}),
    "music_box": ("mallet", {"parts": [(1, 1, 1.2), (3.0, 0.3, 0.2), (5.9, 0.25, 0.06)], "click": 0.25}),
    "vibraphone": (
        "mallet",
        {"parts": [(1, 1, 2.8), (4.0, 0.3, 0.5), (10.0, 0.08, 0.1)], "click": 0.05, "trem": (5.0, 0.45), "damp": 0.25},
    ),
    "marimba": ("mallet", {"parts": [(1, 1, 0.5), (3.93, 0.35, 0.1), (9.2, 0.08, 0.03)], "click": 0.12, "thump": 0.5}),
    "xylophone": ("mallet", {"parts": [(1, 1, 0.25), (3.0, 0.5, 0.08), (6.2, 0.2, 0.03)], "click": 0.3}),
    "tubular_bells": (
        "mallet",
        {
            "parts": [
                (1, 1, 4.0),
                (2.0, 0.7, 3.0),
                (3.0, 0.5, 2.5),
                (4.16, 0.45, 1.8),
                (5.43, 0.3, 1.2),
                (6.79, 0.2, 0.8),
            ],
            "click": 0.1,
        },
    ),
    "kalimba": ("mallet", {"parts": [(1, 1, 0.8), (5.8, 0.25, 0.05)], "click": 0.3, "thump": 0.3}),
    "steel_drums": (
        "mallet",
        {"parts": [(1, 1, 1.0), (2.0, 0.7, 0.6), (3.0, 0.35, 0.4), (4.52, 0.1, 0.2)], "click": 0.05, "bend": 0.3},
    ),
    "timpani": (
        "mallet",
        {
            "parts": [(1, 1, 1.6), (1.5, 0.6, 1.1), (1.98, 0.4, 0.8), (2.44, 0.25, 0.6)],
            "click": 0.0,
            "thump": 1.0,
            "bend": 0.4,
        },
    ),
    # plucked strings (Karplus-Strong)
    "nylon_guitar": ("pluck", {"bright": 0.35, "decay": 2.5, "peaks": [(110, 2.0, 6), (220, 2.0, 4)], "lp": 4000}),
    "steel_guitar": ("pluck", {"bright": 0.65, "decay": 3.0, "peaks": [(100, 2.0, 5), (2500, 1.0, 3)]}),
    "jazz_guitar": ("pluck", {"bright": 0.25, "decay": 2.0, "lp": 2200, "peaks": [(250, 1.0, 3)]}),
    "clean_guitar": ("pluck", {"bright": 0.5, "decay": 2.5, "lp": 4500, "chorus": 0.4}),
    "overdriven_guitar": ("pluck", {"bright": 0.5, "decay": 5.0, "drive": 5.0, "lp": 3500, "hp": 90}),
    "distortion_guitar": (
        "pluck",
        {"bright": 0.6, "decay": 6.0, "drive": 18.0, "lp": 3000, "hp": 100, "peaks": [(800, 1.0, -4)], "chorus": 0.7},
    ),
    "acoustic_bass": ("pluck", {"bright": 0.2, "decay": 1.5, "lp": 1200, "peaks": [(90, 1.5, 4)]}),
    "electric_bass": ("pluck", {"bright": 0.3, "decay": 2.5, "lp": 2000}),
    "picked_bass": ("pluck", {"bright": 0.6, "decay": 2.2, "lp": 3000, "click": 0.2}),
    "fretless_bass": ("pluck", {"bright": 0.2, "decay": 3.0, "lp": 1500, "peaks": [(700, 2.0, 5)]}),
    "harp": ("pluck", {"bright": 0.3, "decay": 4.0, "lp": 5000, "damp": 1.5}),
    "banjo": ("pluck", {"bright": 0.85, "decay": 0.8, "hp": 250, "peaks": [(1800, 1.2, 8)]}),
    "sitar": ("pluck", {"bright": 0.8, "decay": 3.0, "buzz": 0.6, "peaks": [(2500, 2.0, 8)], "bend": 0.15}),
    "koto": ("pluck", {"bright": 0.6, "decay": 1.6, "peaks": [(400, 1.5, 5)], "bend": 0.12}),
    "pizzicato_strings": (
        "pluck",
        {"bright": 0.35, "decay": 0.45, "peaks": [(300, 1.5, 5), (1000, 1.5, 3)], "voices": 3},
    ),
    # bowed strings: saw + vibrato + body resonances
    "violin": ("bowed", {"att": 0.09, "vib": (5.8, 18), "body": [(290, 2, 6), (1000, 1.5, 3), (2800, 2, 5)]}),
    "viola": ("bowed", {"att": 0.1, "vib": (5.5, 16), "body": [(230, 2, 6), (800, 1.5, 3), (2200, 2, 4)]}),
    "cello": ("bowed", {"att": 0.12, "vib": (5.2, 15), "body": [(150, 2, 6), (500, 1.5, 3), (1800, 2, 3)], "lp": 4000}),
    "contrabass": ("bowed", {"att": 0.15, "vib": (5.0, 10), "body": [(80, 2, 6), (300, 1.5, 3)], "lp": 2000}),
    "fiddle": ("bowed", {"att": 0.04, "vib": (6.2, 8), "body": [(300, 2, 5), (1200, 1.5, 4), (3000, 2, 6)]}),
    "string_ensemble": (
        "bowed",
        {
            "att": 0.2,
            "vib": (5.5, 14),
            "voices": 4,
            "det": 9,
            "body": [(250, 1.5, 4), (900, 1.5, 2), (2600, 1.5, 3)],
            "lp": 6000,
        },
    ),
    "slow_strings": (
        "bowed",
        {
            "att": 0.55,
            "vib": (5.2, 12),
            "voices": 4,
            "det": 10,
            "rel": 0.8,
            "body": [(250, 1.5, 4), (900, 1.5, 2)],
            "lp": 4500,
        },
    ),
    "synth_strings": ("bowed", {"att": 0.3, "vib": (0, 0), "voices": 3, "det": 14, "body": [], "lp": 3000, "rel": 0.6}),
    # brass: brightness follows the envelope, lip blat at onset
    "trumpet": ("brass", {"dark": 900, "bright": 5000, "att": 0.03, "blat": 0.8}),
    "trombone": ("brass", {"dark": 500, "bright": 3000, "att": 0.05, "blat": 0.8}),
    "tuba": ("brass", {"dark": 250, "bright": 1200, "att": 0.07, "blat": 0.6}),
    "muted_trumpet": ("brass", {"dark": 1200, "bright": 4000, "att": 0.02, "blat": 0.4, "mute": True}),
    "french_horn": ("brass", {"dark": 400, "bright": 1500, "att": 0.08, "blat": 0.3}),
    "brass_section": ("brass", {"dark": 700, "bright": 4000, "att": 0.04, "blat": 0.7, "voices": 3}),
    # reeds and flutes
    "soprano_sax": ("sax", {"forms": [(700, 2, 1.0), (1700, 3, 0.7), (3000, 4, 0.4)], "lp": 6000}),
    "alto_sax": ("sax", {"forms": [(550, 2, 1.0), (1400, 3, 0.7), (2700, 4, 0.35)], "lp": 5000}),
    "tenor_sax": ("sax", {"forms": [(450, 2, 1.0), (1200, 3, 0.6), (2500, 4, 0.3)], "lp": 4500}),
    "baritone_sax": ("sax", {"forms": [(300, 2, 1.0), (900, 3, 0.6), (2200, 4, 0.25)], "lp": 3500}),
    "clarinet": ("pulse", {"width": 0.5, "lp": 2500, "forms": [(1500, 2, 0.3)], "vib": (0, 0), "breath": 0.03}),
    "oboe": (
        "pulse",
        {"width": 0.15, "lp": 5000, "forms": [(1100, 3, 1.0), (2900, 4, 0.5)], "vib": (5.5, 10), "breath": 0.02},
    ),
    "english_horn": (
        "pulse",
        {"width": 0.18, "lp": 4000, "forms": [(950, 3, 1.0), (2400, 4, 0.4)], "vib": (5.2, 9), "breath": 0.02},
    ),
    "bassoon": (
        "pulse",
        {"width": 0.2, "lp": 2500, "forms": [(480, 3, 1.0), (1200, 4, 0.4)], "vib": (5.0, 6), "breath": 0.02},
    ),
    "flute": ("flute", {"h": {1: 1.0, 2: 0.25, 3: 0.08, 4: 0.03}, "breath": 0.09, "vib": (5.0, 14)}),
    "piccolo": ("flute", {"h": {1: 1.0, 2: 0.15, 3: 0.05}, "breath": 0.07, "vib": (5.5, 12)}),
    "recorder": ("flute", {"h": {1: 1.0, 2: 0.1, 3: 0.15}, "breath": 0.05, "vib": (0, 0), "chiff": 0.3}),
    "pan_flute": ("flute", {"h": {1: 1.0, 2: 0.1, 3: 0.03}, "breath": 0.25, "vib": (4.5, 8), "chiff": 0.5}),
    "ocarina": ("flute", {"h": {1: 1.0, 3: 0.03}, "breath": 0.03, "vib": (5.0, 6)}),
    "bagpipe": (
        "pulse",
        {
            "width": 0.25,
            "lp": 6000,
            "forms": [(1300, 3, 1.0), (3000, 4, 0.6)],
            "vib": (0, 0),
            "breath": 0.02,
            "drone": True,
        },
    ),
    # voices: glottal pulses through formants
    "choir_aahs": (
        "voice",
        {"forms": [(750, 8, 1.0), (1200, 10, 0.6), (2600, 14, 0.25), (3400, 16, 0.12)], "voices": 4},
    ),
    "voice_oohs": ("voice", {"forms": [(330, 6, 1.0), (750, 8, 0.35), (2300, 14, 0.06)], "voices": 4}),
    # synths
    "square_lead": ("synth", {"osc": "square", "lp": 5000, "att": 0.005, "vib": (5.5, 10)}),
    "saw_lead": ("synth", {"osc": "saw", "voices": 2, "det": 8, "lp": 4500, "fenv": 3000, "att": 0.005}),
    "new_age_pad": ("synth", {"osc": "saw", "voices": 2, "det": 6, "lp": 1800, "att": 0.35, "rel": 1.0, "bell": 0.5}),
    "warm_pad": ("synth", {"osc": "saw", "voices": 3, "det": 9, "lp": 1100, "att": 0.5, "rel": 1.0}),
    "polysynth": ("synth", {"osc": "saw", "voices": 2, "det": 10, "lp": 1500, "fenv": 3500, "att": 0.01, "rel": 0.3}),
    "sweep_pad": ("synth", {"osc": "saw", "voices": 3, "det": 8, "lp": 600, "sweep": 3500, "att": 0.4, "rel": 1.0}),
    "synth_bass": ("synth", {"osc": "sawsq", "lp": 400, "fenv": 2500, "att": 0.003, "rel": 0.05, "fdec": 0.12}),
}


def _syn_organ(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    base = hz / 2  # 16' foot
    e = _env(n_on, p["rel"], a=p["att"], s=1.0)
    n = len(e)
    ph = _phase(base, n, rng)
    y = _wavetable(ph, base, p["bars"])
    if p.get("chorus"):
        ph2 = _phase(base * 2 ** (p["chorus"] / 1200), n, rng)
        y = 0.6 * y + 0.4 * _wavetable(ph2, base, p["bars"])
    if p.get("leslie"):
        t = np.arange(n) / SR
        rot = rng.uniform(5.5, 7.0)
        lfo = np.sin(2 * math.pi * rot * t + rng.uniform(0, 6.28))
        ph = _phase(base, n, rng, vib_hz=rot, vib_cents=8, vib_delay=0)
        y = _wavetable(ph, base, p["bars"]) * (1 + p["leslie"] * lfo)
    if p.get("perc"):
        t = np.arange(n) / SR
        y = y + 0.6 * _wavetable(ph, base, {p["perc"]: 1.0}) * np.exp(-t / 0.18)
    y = y * e
    if p.get("chiff"):
        m = min(n, int(0.08 * SR))
        ch = _filt(_noise(rng, m), "bp", min(hz * 4, 6000), 1.5) * np.exp(-np.arange(m) / (0.025 * SR))
        y[:m] += p["chiff"] * ch * np.max(np.abs(y))
    if p.get("click"):
        m = min(n, int(0.004 * SR))
        y[:m] += p["click"] * rng.uniform(-1, 1, m) * np.max(np.abs(y))
    if p.get("drive"):
        y = _filt(_soft_clip(y, p["drive"]), "lp", 5000)
    return y


def _syn_reed(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, p["rel"], a=p["att"], s=1.0)
    n = len(e)
    vh, vc = p["vib"]
    y = np.zeros(n)
    for det in (-p["det"], p["det"]) if p["det"] else (0,):
        ph = _phase(hz * 2 ** (det / 1200), n, rng, vh, vc, 0.15)
        y += p["mix"] * _saw(ph) + (1 - p["mix"]) * _square(ph, 0.5)
    y = 0.4 * y + _formants(y, p["forms"])
    y = _filt(y, "lp", p["lp"])
    if p.get("breath"):
        y += p["breath"] * _filt(_noise(rng, n), "bp", 2000, 0.7) * np.std(y) * 3
    if p.get("trem"):
        th, td = p["trem"]
        y *= 1 + td * np.sin(2 * math.pi * th * np.arange(n) / SR)
    return y * e


def _syn_piano(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    decay = p["decay"] * (1.6 - min(1.2, hz / 800))
    n = n_on + int(0.25 * SR)
    n = min(n, int((decay * 2 + 0.3) * SR) + n_on // 4 + 1) if n_on > decay * 2 * SR else n
    b = p["B"]
    br = p["bright"] * (0.5 + vel / 127)
    parts = []
    for k in range(1, 16):
        ratio = k * math.sqrt(1 + b * k * k)
        amp = (1 / k**1.1) * math.exp(-(k - 1) / (4 * br))
        parts.append((ratio, amp, decay / (1 + 0.35 * (k - 1))))
        parts.append((ratio * 2 ** (rng.uniform(0.5, 1.5) / 1200), amp * 0.7, decay / (1 + 0.35 * (k - 1)) * 1.4))
    y = _partials(n, hz, rng, parts, damp_from=n_on, damp=0.08)
    m = min(n, int(0.03 * SR))
    ham = _filt(_noise(rng, m), "lp", 1500 + 2000 * br) * np.exp(-np.arange(m) / (0.006 * SR))
    y[:m] += 0.3 * ham * np.max(np.abs(y))
    return y


def _syn_epiano(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    n = n_on + int(0.3 * SR)
    t = np.arange(n) / SR
    idx = (0.5 + 2.0 * vel / 127) * np.exp(-t / 0.25)
    ph0 = rng.uniform(0, 6.28)
    car = np.sin(2 * math.pi * hz * t + ph0 + idx * np.sin(2 * math.pi * hz * t))
    y = car * np.exp(-t / 1.8)
    if hz * 14 < NYQ:
        y += 0.12 * np.sin(2 * math.pi * hz * 14 * t) * np.exp(-t / 0.03)
    y *= 1 + 0.25 * np.sin(2 * math.pi * 4.5 * t)
    y[n_on:] *= np.exp(-(t[n_on:] - t[n_on]) / 0.07)
    return y


def _syn_mallet(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    tau = max(x[2] for x in p["parts"])
    n = min(n_on + int(0.4 * SR), int((tau * 5 + 0.1) * SR)) if "damp" in p else int((tau * 5 + 0.1) * SR)
    n = max(n, int(0.05 * SR))
    y = _partials(n, hz, rng, p["parts"], damp_from=n_on if "damp" in p else None, damp=p.get("damp", 0.1))
    if p.get("bend"):
        ph = _phase(hz, n, rng, bend=p["bend"], bend_t=0.03)
        y = 0.6 * y + 0.4 * np.sin(2 * math.pi * ph) * np.exp(-np.arange(n) / SR / p["parts"][0][2])
    peak = np.max(np.abs(y)) + 1e-9
    m = min(n, int(0.02 * SR))
    if p.get("click"):
        y[:m] += p["click"] * peak * _filt(_noise(rng, m), "hp", 2000) * np.exp(-np.arange(m) / (0.002 * SR))
    if p.get("thump"):
        m = min(n, int(0.08 * SR))
        y[:m] += p["thump"] * peak * _filt(_noise(rng, m), "lp", 300) * np.exp(-np.arange(m) / (0.015 * SR))
    if p.get("trem"):
        th, td = p["trem"]
        y *= 1 + td * np.sin(2 * math.pi * th * np.arange(n) / SR + rng.uniform(0, 6.28))
    return y


def _syn_pluck(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    ring = p.get("damp", 0.12)
    n = min(n_on + int(ring * 4 * SR), int((p["decay"] * 1.2 + 0.2) * SR))
    n = max(n, int(0.05 * SR))
    bright = min(0.98, p["bright"] * (0.6 + 0.6 * vel / 127))
    y = np.zeros(n)
    for v in range(p.get("voices", 1)):
        f = hz * 2 ** (rng.uniform(-6, 6) / 1200) if v else hz
        s = _ks(f, n, rng, bright, p["decay"])
        if v:
            off = int(rng.uniform(0.0, 0.025) * SR)
            s = np.concatenate([np.zeros(off), s[: n - off]])
        y += s
    if p.get("octave"):
        y += p["octave"] * _ks(hz * 2, n, rng, bright, p["decay"] * 0.7)
    if p.get("chorus"):
        y += p["chorus"] * _ks(hz * 2 ** (7 / 1200), n, rng, bright, p["decay"])
    if p.get("bend"):  # slight onset pitch glide via a second string (sitar/koto meend-ish colour)
        ph = _phase(hz, n, rng, bend=-p["bend"], bend_t=0.08)
        y += 0.2 * np.std(y) * _saw(ph) * np.exp(-np.arange(n) / SR / p["decay"])
    if p.get("buzz"):
        y = y + p["buzz"] * np.sign(y) * y * y / (np.max(np.abs(y)) + 1e-9)
    if p.get("click"):
        m = min(n, int(0.004 * SR))
        y[:m] += p["click"] * np.max(np.abs(y)) * rng.uniform(-1, 1, m)
    for f0, q, g in p.get("peaks", []):
        y = _filt(y, "pk", f0, q, g)
    if p.get("drive"):
        y = _soft_clip(_filt(y, "hp", 120), p["drive"])
    if p.get("hp"):
        y = _filt(y, "hp", p["hp"])
    if p.get("lp"):
        y = _filt(y, "lp", p["lp"])
        if p.get("drive"):
            y = _filt(y, "lp", p["lp"] * 1.3)  # cabinet: steeper roll-off
    if n > n_on:
        y[n_on:] *= np.exp(-np.arange(n - n_on) / SR / ring)
    return y


def _syn_bowed(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, p.get("rel", 0.25), a=p["att"], s=1.0)
    n = len(e)
    vh, vc = p["vib"]
    nv, det = p.get("voices", 1), p.get("det", 0)
    y = np.zeros(n)
    for _v in range(nv):
        d = rng.uniform(-det, det) if nv > 1 else 0
        ph = _phase(hz * 2 ** (d / 1200), n, rng, vh * rng.uniform(0.9, 1.1), vc, 0.2, drift=3)
        s = _saw(ph)
        if nv > 1:
            off = int(rng.uniform(0, 0.04) * SR)
            s = np.concatenate([np.zeros(off), s[: n - off]])
        y += s
    y = y / math.sqrt(nv)
    for f0, q, g in p["body"]:
        y = _filt(y, "pk", f0, q, g)
    y = _filt(y, "lp", p.get("lp", 7000))
    y += 0.01 * _filt(_noise(rng, n), "bp", 3000, 0.8)  # bow noise
    return y * e


def _syn_brass(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.12, a=p["att"], d=0.25, s=0.8)
    n = len(e)
    nv = p.get("voices", 1)
    y = np.zeros(n)
    for _v in range(nv):
        d = rng.uniform(-7, 7) if nv > 1 else 0
        ph = _phase(hz * 2 ** (d / 1200), n, rng, 5.0, 8, 0.3, bend=-0.6 * p["blat"], bend_t=0.03)
        y += _saw(ph)
    dark = _filt(_filt(y, "lp", p["dark"]), "lp", p["dark"])
    bright = _filt(y, "lp", p["bright"] * (0.6 + 0.5 * vel / 127))
    w = e**2
    y = dark * (1 - w) + bright * w
    m = min(n, int(0.04 * SR))
    y[:m] += p["blat"] * 0.3 * np.std(y) * _filt(_noise(rng, m), "bp", hz * 3, 2) * np.linspace(1, 0, m)
    if p.get("mute"):
        y = _filt(_filt(y, "hp", 700), "pk", 1800, 2, 10)
    return y * e


def _syn_sax(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.1, a=0.03, d=0.2, s=0.85)
    n = len(e)
    ph = _phase(hz, n, rng, 5.0, 12, 0.3, bend=-0.3, bend_t=0.03)
    y = 0.7 * _saw(ph) + 0.3 * _square(ph, 0.35)
    y = 0.3 * y + _formants(y, p["forms"])
    y = _filt(y, "lp", p["lp"] * (0.6 + 0.5 * vel / 127))
    y += 0.06 * np.std(y) * 3 * _filt(_noise(rng, n), "bp", 2500, 0.8)
    return y * e


def _syn_pulse(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.08, a=0.03, d=0.2, s=0.9)
    n = len(e)
    vh, vc = p["vib"]
    ph = _phase(hz, n, rng, vh, vc, 0.3)
    y = _square(ph, p["width"])
    y = 0.5 * y + _formants(y, p["forms"])
    y = _filt(y, "lp", p["lp"])
    y += p["breath"] * np.std(y) * 4 * _filt(_noise(rng, n), "bp", 2500, 0.8)
    return y * e


def _syn_flute(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.08, a=0.05, d=0.2, s=0.9)
    n = len(e)
    vh, vc = p["vib"]
    ph = _phase(hz, n, rng, vh, vc, 0.25)
    y = _wavetable(ph, hz, p["h"])
    y += p["breath"] * 2 * _filt(_noise(rng, n), "bp", min(hz * 2, 8000), 1.2)
    if p.get("chiff"):
        m = min(n, int(0.05 * SR))
        y[:m] += p["chiff"] * _filt(_noise(rng, m), "bp", min(hz * 4, 8000), 2) * np.linspace(1, 0, m)
    return y * e


def _glottal(ph: np.ndarray) -> np.ndarray:
    t = ph % 1.0
    return np.where(t < 0.6, 0.5 - 0.5 * np.cos(math.pi * t / 0.6), np.cos(math.pi * (t - 0.6) / 0.8)) - 0.35


def _syn_voice(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, 0.25, a=0.15, s=1.0)
    n = len(e)
    nv = p.get("voices", 1)
    y = np.zeros(n)
    for _ in range(nv):
        ph = _phase(hz * 2 ** (rng.uniform(-10, 10) / 1200), n, rng, rng.uniform(4.5, 6), 20, 0.2, drift=4)
        y += _glottal(ph)
    y = _filt(y, "hp", 80)
    y = _formants(y, p["forms"])
    y += 0.03 * np.std(y) * 3 * _filt(_noise(rng, n), "bp", 3000, 1)
    return y * e


def _syn_synth(p: dict, hz: float, n_on: int, vel: int, rng) -> np.ndarray:
    e = _env(n_on, p.get("rel", 0.1), a=p["att"], d=0.3, s=0.85)
    n = len(e)
    nv, det = p.get("voices", 1), p.get("det", 0)
    vh, vc = p.get("vib", (0, 0))
    y = np.zeros(n)
    for v in range(nv):
        d = (v / max(1, nv - 1) * 2 - 1) * det if nv > 1 else 0
        ph = _phase(hz * 2 ** (d / 1200), n, rng, vh, vc, 0.3)
        if p["osc"] == "square":
            y += _square(ph)
        elif p["osc"] == "sawsq":
            y += 0.6 * _saw(ph) + 0.6 * _square(_phase(hz / 2, n, rng))
        else:
            y += _saw(ph)
    dark = _filt(_filt(y, "lp", p["lp"]), "lp", p["lp"])
    t = np.arange(n) / SR
    if p.get("fenv"):
        bright = _filt(_filt(y, "lp", p["lp"] + p["fenv"]), "lp", p["lp"] + p["fenv"])
        w = np.exp(-t / p.get("fdec", 0.3))
        y = dark * (1 - w) + bright * w
    elif p.get("sweep"):
        bright = _filt(_filt(y, "lp", p["sweep"]), "lp", p["sweep"])
        w = 0.5 - 0.5 * np.cos(2 * math.pi * 0.25 * t)
        y = dark * (1 - w) + bright * w
    else:
        y = dark
    if p.get("bell"):
        y += p["bell"] * np.std(y) * 3 * np.sin(2 * math.pi * hz * 2 * t) * np.exp(-t / 0.8)
    return y * e


NP_FAMILY = {
    "organ": _syn_organ,
    "reed": _syn_reed,
    "piano": _syn_piano,
    "epiano": _syn_epiano,
    "mallet": _syn_mallet,
    "pluck": _syn_pluck,
    "bowed": _syn_bowed,
    "brass": _syn_brass,
    "sax": _syn_sax,
    "pulse": _syn_pulse,
    "flute": _syn_flute,
    "voice": _syn_voice,
    "synth": _syn_synth,
}


def _drum(note: int, vel: int, kit: int, rng) -> np.ndarray:
    """Synthesised kit pieces; the kit number (standard, room, power, electronic, 808, brush) shifts the recipes."""
    e808 = kit in (24, 25)
    brush = kit == 40
    power = kit == 16

    def tt(sec: float) -> np.ndarray:
        return np.arange(int(sec * SR)) / SR

    def metal(sec: float, tau: float, hp: float) -> np.ndarray:
        t = tt(sec)
        fs = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
        sq = sum(np.sign(np.sin(2 * math.pi * f * 1.7 * t + rng.uniform(0, 6.28))) for f in fs)
        y = 0.5 * sq / 6 + (0.3 if e808 else 0.8) * _noise(rng, len(t))
        return _filt(_filt(y, "hp", hp), "hp", hp) * np.exp(-t / tau)

    if note == K:
        t = tt(0.9 if kit == 25 else 0.45)
        f0, f1 = (55, 160) if kit == 25 else (50, 130 if not power else 110)
        f = f0 + (f1 - f0) * np.exp(-t / 0.03)
        y = np.sin(2 * math.pi * np.cumsum(f) / SR) * np.exp(-t / (0.45 if kit == 25 else 0.18 if not brush else 0.12))
        m = int(0.005 * SR)
        y[:m] += 0.4 * rng.uniform(-1, 1, m) * (0.2 if brush else 1)
        if power:
            y = _soft_clip(y, 2.5)
    elif note in (SN, RIM, CLAP):
        if note == RIM:
            t = tt(0.08)
            y = np.sin(2 * math.pi * 1700 * t) * np.exp(-t / 0.01) + 0.3 * _noise(rng, len(t)) * np.exp(-t / 0.005)
        elif note == CLAP:
            t = tt(0.35)
            env = sum(np.where(t >= d, np.exp(-(t - d) / 0.008), 0) for d in (0, 0.011, 0.022))
            env = env + 0.6 * np.where(t >= 0.03, np.exp(-(t - 0.03) / 0.09), 0)
            y = _filt(_noise(rng, len(t)), "bp", 1200, 1.2) * env
        elif brush:
            t = tt(0.35)
            y = _filt(_noise(rng, len(t)), "bp", 3500, 0.6) * (np.exp(-t / 0.12) * np.minimum(1, t / 0.015))
        else:
            t = tt(0.3)
            tone = np.sin(2 * math.pi * (180 + 60 * np.exp(-t / 0.01)) * t) * np.exp(-t / 0.05)
            nz = _filt(_noise(rng, len(t)), "hp", 1500 if e808 else 900) * np.exp(-t / (0.07 if not power else 0.12))
            y = 0.6 * tone + 0.8 * nz
            if power:
                y = _soft_clip(y, 2.0)
    elif note in (HH, PHH):
        y = metal(0.12, 0.03 if note == HH else 0.02, 7000)
    elif note == OHH:
        y = metal(0.5, 0.16, 6500)
    elif note == RIDE:
        y = metal(1.2, 0.5, 4000)
        t = tt(1.2)
        y += 0.25 * np.sin(2 * math.pi * 3200 * t) * np.exp(-t / 0.4)
    elif note == CRASH:
        y = metal(2.0, 0.7, 2500)
    elif note in (TLO, TMID, THI):
        t = tt(0.5)
        f0 = {TLO: 90, TMID: 125, THI: 170}[note] * (1.3 if e808 else 1.0)
        f = f0 * (1 + 0.5 * np.exp(-t / 0.04))
        y = np.sin(2 * math.pi * np.cumsum(f) / SR) * np.exp(-t / 0.22) + 0.15 * _noise(rng, len(t)) * np.exp(-t / 0.02)
    else:
        t = tt(0.2)
        y = _noise(rng, len(t)) * np.exp(-t / 0.05)
    return y * (vel / 127) ** 1.6


def _reverb_ir(rng, rt60: float) -> np.ndarray:
    t = np.arange(int(rt60 * SR)) / SR
    ir = _noise(rng, len(t)) * np.exp(-t * 6.9 / rt60)
    ir = lfilter([0.35], [1, -0.65], ir)  # darker tail
    ir[: int(0.012 * SR)] = 0  # pre-delay
    return ir / np.sqrt(np.sum(ir**2))


def render_numpy(parts: list[Part], labels: dict, seed: int) -> np.ndarray:
    """Synthesise the clip's note events (the same Part lists write_midi gets) into a mono float32 signal."""
    rng = np.random.default_rng(seed)
    sec_per_tick = 60.0 / (labels["bpm"] * PPQ)
    total = int(labels["end_tick"] * sec_per_tick * SR) + 1
    dry = np.zeros(total)
    send = np.zeros(total)
    church = False
    for part in parts:
        bus = np.zeros(total)
        if part.channel == 9:
            kit = part.program
            for s, _d, pitch, vel in part.notes:
                y = _drum(pitch, vel, kit, rng)
                i0 = int((s + 10) * sec_per_tick * SR)
                m = min(len(y), total - i0)
                if m > 0:
                    bus[i0 : i0 + m] += y[:m]
            bus *= 0.5
        else:
            fam, prm = NP_RECIPES[part.inst_key]
            fn = NP_FAMILY[fam]
            church |= part.inst_key == "church_organ"
            for s, d, pitch, vel in part.notes:
                if not 0 <= pitch <= 127:
                    continue
                i0 = int((s + 10) * sec_per_tick * SR)
                n_on = max(1, int(d * sec_per_tick * SR))
                y = fn(prm, _hz(pitch), n_on, vel, rng)
                win = y[: min(len(y), n_on, int(0.5 * SR))]
                rms = float(np.sqrt(np.mean(win**2))) if win.size else 0.0
                y = y * (0.25 / (rms + 1e-6)) * (vel / 127) ** 1.5
                m = min(len(y), total - i0)
                if m > 0:
                    bus[i0 : i0 + m] += y[:m]
            if prm.get("drone"):  # bagpipe drones on the tonic (the composer ends every part on it)
                tonic = part.notes[-1][2] % 12 if part.notes else 0
                a0 = int((part.notes[0][0] + 10) * sec_per_tick * SR) if part.notes else 0
                a1 = int((part.notes[-1][0] + part.notes[-1][1] + 10) * sec_per_tick * SR) if part.notes else 0
                a1 = min(a1, total)
                if a1 > a0:
                    n = a1 - a0
                    dr = (
                        sum(_filt(_saw(_phase(_hz(36 + tonic + o), n, rng)), "lp", 1500) for o in (0, 12, 19))
                        * _env(n, 0.0, a=0.2)[:n]
                    )
                    bus[a0:a1] += 0.12 * dr
        gain = (part.volume / 127) ** 2
        dry += gain * bus
        send += gain * bus * (part.reverb / 127) * (2.5 if part.inst_key == "church_organ" else 1.0)
    rt60 = 3.2 if church else float(rng.uniform(0.6, 1.8))
    wet = fftconvolve(send, _reverb_ir(rng, rt60))[:total]
    y = dry + 0.5 * wet
    return y.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Rendering (worker)
# ----------------------------------------------------------------------------------------------

_CFG: dict = {}


def _init_worker(cfg: dict) -> None:
    _CFG.update(cfg)


def render(midi: Path, wav: Path, sf_path: str, fluidsynth: str) -> None:
    cmd = [
        fluidsynth,
        "-ni",
        "-q",
        "-g",
        "0.4",
        "-r",
        str(SR),
        "-O",
        "float",
        "-T",
        "wav",
        "-o",
        "synth.cpu-cores=1",
        "-o",
        "synth.chorus.active=0",
        "-F",
        str(wav),
        sf_path,
        str(midi),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)


def process(plan: dict) -> dict:
    out_dir = Path(_CFG["out"])
    ext = _CFG["format"]
    sf_path = None if plan["soundfont"] == NP_SOUNDFONT else SOUNDFONTS[plan["soundfont"]]["path"]
    last_err = ""
    for attempt in range(MAX_ATTEMPTS):
        seed = clip_rng_seed(_CFG["seed"], plan["index"], attempt)
        parts, labels = build_clip(plan, seed)
        cap_rng = random.Random(seed ^ 0x5EED)
        labels["text"] = caption(cap_rng, {**labels, "material": labels["material_for_caption"]})
        with tempfile.TemporaryDirectory(prefix="mt-train-") as td:
            midi, wav = Path(td) / "c.mid", Path(td) / "c.wav"
            write_midi(midi, parts, labels["bpm"], labels["beats"], labels["end_tick"])
            try:
                if sf_path is None:  # numpy renderer: synthesise the same note events ourselves
                    y, sr = render_numpy(parts, labels, seed)[:, None], SR
                else:
                    render(midi, wav, sf_path, _CFG["fluidsynth"])
                    y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
            except Exception as e:  # noqa: BLE001
                last_err = f"render failed: {e}"
                continue
            if _CFG.get("keep_midi"):
                shutil.copy(midi, out_dir / "midi" / f"clip_{plan['index']:05d}.mid")
        y = y.mean(axis=1)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        # trim trailing near-silence (below -70 dB relative to peak), keep a short tail
        if peak > 0:
            above = np.nonzero(np.abs(y) > peak * 10 ** (-70 / 20))[0]
            if above.size:
                y = y[: min(len(y), above[-1] + int(0.05 * sr))]
        dur = len(y) / sr
        peak_db = 20 * math.log10(peak) if peak > 0 else -200.0
        if sr != SR:
            last_err = f"sample rate {sr}"
            continue
        if peak_db <= SILENCE_DBFS:
            last_err = f"silent (peak {peak_db:.1f} dBFS)"
            continue
        if not MIN_DUR <= dur <= MAX_DUR:
            last_err = f"duration {dur:.2f} s"
            continue
        y = y * (10 ** (TARGET_PEAK_DBFS / 20) / peak)
        fade = int(0.03 * sr)
        y[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        rms_db = 20 * math.log10(float(np.sqrt(np.mean(y**2))) + 1e-12)
        path = out_dir / "audio" / f"clip_{plan['index']:05d}.{ext}"
        sf.write(str(path), y, SR, subtype="PCM_16")
        rec = {
            "audio": str(path.resolve()),
            "text": labels["text"],
            "tags": labels["tags"],
            "instrument": labels["instrument"],
            "instruments": labels["instruments"],
            "gm_program": labels["gm_program"],
            "drum_kit": labels["drum_kit"],
            "soundfont": labels["soundfont"],
            "tempo_bpm": labels["tempo_bpm"],
            "tempo_class": labels["tempo_class"],
            "mode": labels["mode"],
            "key": labels["key"],
            "time_signature": labels["time_signature"],
            "texture": labels["texture"],
            "material": labels["material"],
            "duration_s": round(dur, 3),
            "rms_dbfs": round(rms_db, 2),
            "source_peak_dbfs": round(peak_db, 2),
            "seed": seed,
            "attempt": attempt,
            "index": plan["index"],
        }
        return {"ok": True, "record": rec, "attempts": attempt + 1}
    return {"ok": False, "index": plan["index"], "error": last_err, "plan": plan}


# ----------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------


def check_soundfont(name: str) -> str:
    path = SOUNDFONTS[name]["path"]
    real = os.path.realpath(path)
    low = os.path.basename(real).lower()
    if any(f in low for f in FORBIDDEN_SF):
        sys.exit(f"refusing soundfont {real}: FluidR3 or a FluidR3-derived soundfont")
    if not os.path.exists(real):
        pkg = SOUNDFONTS[name]["package"]
        sys.exit(f"missing {path}: apt-get install {pkg}")
    return real


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default="/tmp/mt-train-set", help="output folder (outside the repo)")
    ap.add_argument("--n", type=int, default=700, help="number of clips (default 700)")
    ap.add_argument("--seed", type=int, default=20240611, help="master seed")
    ap.add_argument("--jobs", type=int, default=2, help="parallel render processes")
    ap.add_argument("--soundfonts", default="TimGM6mb,OPL3-FM", help="comma list from: " + ", ".join(SOUNDFONTS))
    ap.add_argument("--opl3-share", type=float, default=0.3, help="fraction of clips rendered with OPL3-FM")
    ap.add_argument("--format", choices=("flac", "wav"), default="flac")
    ap.add_argument("--fluidsynth", default=shutil.which("fluidsynth") or "fluidsynth")
    ap.add_argument("--keep-midi", action="store_true", help="also keep the .mid files under OUT/midi/")
    ap.add_argument("--force", action="store_true", help="delete an existing OUT first")
    ap.add_argument(
        "--renderer",
        choices=("fluidsynth", "numpy"),
        default="fluidsynth",
        help="fluidsynth + soundfonts (default), or numpy: our own note synthesis, no soundfont (MIT)",
    )
    args = ap.parse_args(argv)

    t_start = time.time()
    sf_names = [s.strip() for s in args.soundfonts.split(",") if s.strip()]
    for s in sf_names:
        if s not in SOUNDFONTS:
            sys.exit(f"unknown soundfont {s}; choose from {list(SOUNDFONTS)}")
        if args.renderer == "fluidsynth":
            check_soundfont(s)
    if args.renderer == "fluidsynth" and not shutil.which(args.fluidsynth):
        sys.exit("fluidsynth not found: apt-get install fluidsynth")

    out = Path(args.out).resolve()
    repo = Path(__file__).resolve().parent.parent
    if out == repo or repo in out.parents:
        sys.exit("--out must be outside the repository")
    if out.exists():
        ours = {"audio", "midi", "pairs.jsonl", "summary.json"}
        if args.force or {p.name for p in out.iterdir()} <= ours:
            shutil.rmtree(out)  # empty, or our own previous output: rebuild from scratch
        else:
            sys.exit(f"{out} holds files this script did not write; use --force to replace it")
    (out / "audio").mkdir(parents=True)
    if args.keep_midi:
        (out / "midi").mkdir()

    plans = plan_clips(args.n, args.seed, sf_names, args.opl3_share)
    if args.renderer == "numpy":  # same clip plan and seeds as the soundfont set; only the sound differs
        for p in plans:
            p["soundfont"] = NP_SOUNDFONT
    cfg = {
        "out": str(out),
        "format": args.format,
        "seed": args.seed,
        "fluidsynth": args.fluidsynth,
        "keep_midi": args.keep_midi,
    }
    records: list[dict] = []
    failures: list[dict] = []
    retries = 0
    if args.jobs > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(cfg,)) as pool:
            results = pool.imap(process, plans, chunksize=4)
            for i, r in enumerate(results, 1):
                _collect(r, records, failures)
                retries += r.get("attempts", MAX_ATTEMPTS) - 1
                if i % 50 == 0 or i == len(plans):
                    print(f"  {i}/{len(plans)} clips  ({time.time() - t_start:.0f} s)", flush=True)
    else:
        _init_worker(cfg)
        for i, p in enumerate(plans, 1):
            r = process(p)
            _collect(r, records, failures)
            retries += r.get("attempts", MAX_ATTEMPTS) - 1
            if i % 50 == 0 or i == len(plans):
                print(f"  {i}/{len(plans)} clips  ({time.time() - t_start:.0f} s)", flush=True)

    records.sort(key=lambda r: r["index"])
    with open(out / "pairs.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    build_s = time.time() - t_start
    tag_counts = Counter(t for r in records for t in r["tags"])
    summary = {
        "clips": len(records),
        "requested": args.n,
        "failed": len(failures),
        "failures": [{"index": f["index"], "error": f["error"]} for f in failures],
        "retried_attempts": retries,
        "seed": args.seed,
        "total_duration_s": round(sum(r["duration_s"] for r in records), 1),
        "total_duration_h": round(sum(r["duration_s"] for r in records) / 3600, 3),
        "duration_min_s": min((r["duration_s"] for r in records), default=None),
        "duration_max_s": max((r["duration_s"] for r in records), default=None),
        "build_time_s": round(build_s, 1),
        "jobs": args.jobs,
        "sample_rate": SR,
        "format": args.format,
        "counts": {
            "tag": dict(tag_counts.most_common()),
            "instrument": dict(Counter(i for r in records for i in r["instruments"]).most_common()),
            "soundfont": dict(Counter(r["soundfont"] for r in records)),
            "tempo_class": dict(Counter(r["tempo_class"] for r in records)),
            "mode": dict(Counter(str(r["mode"]) for r in records)),
            "texture": dict(Counter(r["texture"] for r in records)),
            "material": dict(Counter(r["material"] for r in records).most_common()),
            "time_signature": dict(Counter(r["time_signature"] for r in records)),
        },
        "renderer": args.renderer,
        "soundfonts": (
            {NP_SOUNDFONT: NP_INFO}
            if args.renderer == "numpy"
            else {
                s: {**{k: v for k, v in SOUNDFONTS[s].items()}, "sha256": sha256_file(check_soundfont(s))}
                for s in sf_names
            }
        ),
        "not_used": "FluidR3_GM and FluidR3-derived soundfonts (the evaluation corpus's timbres)",
        "generator": "models/make_training_set.py",
        "command": " ".join(
            [
                os.path.basename(sys.executable),
                "models/make_training_set.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print_summary(summary, out)
    return 0 if records else 1


def _collect(r: dict, records: list[dict], failures: list[dict]) -> None:
    if r["ok"]:
        records.append(r["record"])
    else:
        failures.append(r)
        print(f"  clip {r['index']} dropped: {r['error']}", file=sys.stderr)


def _print_summary(s: dict, out: Path) -> None:
    print(f"\n{s['clips']} clips ({s['failed']} dropped, {s['retried_attempts']} retried) in {out}")
    print(
        f"total audio {s['total_duration_s'] / 60:.1f} min; clip length {s['duration_min_s']}-{s['duration_max_s']} s; "
        f"build {s['build_time_s']:.0f} s with {s['jobs']} jobs"
    )
    for name in ("soundfont", "tempo_class", "mode", "texture", "time_signature", "material"):
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in s["counts"][name].items()))
    print("tags: " + ", ".join(f"{k} {v}" for k, v in s["counts"]["tag"].items()))
    print(f"summary: {out / 'summary.json'}")


if __name__ == "__main__":
    sys.exit(main())
