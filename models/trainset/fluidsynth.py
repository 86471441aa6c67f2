"""--renderer fluidsynth: two free General MIDI soundfonts that are not FluidR3, and the fluidsynth call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import SR

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
