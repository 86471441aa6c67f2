"""Keys, scales and diatonic progressions."""

from __future__ import annotations

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
