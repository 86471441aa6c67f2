"""Instruments: key -> GM program (0-based), names for captions, tags (label words), comfortable
MIDI range, polyphonic?, roles it can take, whether it is itself an ensemble; and the drum kits."""

from __future__ import annotations

from dataclasses import dataclass


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
# General MIDI percussion keys (channel 10) the drum composer and the numpy drum kit use.
K, SN, RIM, CLAP, HH, PHH, OHH, RIDE, CRASH, TLO, TMID, THI = 36, 38, 37, 39, 42, 44, 46, 51, 49, 45, 47, 50
