"""Composition: one clip's parts from its musical frame (key, tempo, metre, chord per bar)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .instruments import CLAP, CRASH, HH, OHH, PHH, RIDE, RIM, SN, THI, TLO, TMID, Inst, K
from .midi import PPQ, Part
from .theory import PROGS_MAJOR, PROGS_MINOR, Key, nearest, steps_near


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
