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

The code lives in models/trainset/, one module per job (its __init__ lists them); this file is
the command line.

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

import sys

from trainset.build import main as build_main  # models/trainset/, beside this script


def main(argv: list[str] | None = None) -> int:
    return build_main(argv, description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
