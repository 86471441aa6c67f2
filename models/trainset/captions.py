"""Captions: varied English descriptions of a clip drawn from its labels with the clip's seed."""

from __future__ import annotations

import random

from .compose import DRUM_STYLES

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
