"""Clip plans: the set-level plan drawn from the master seed, and one clip composed from its own seed."""

from __future__ import annotations

import hashlib
import math
import random

from . import MAX_DUR, MIN_DUR
from .compose import (
    DRUM_STYLES,
    Frame,
    compose_arpeggio,
    compose_bass,
    compose_chords,
    compose_drums,
    compose_melody,
    compose_riff,
    compose_scale,
    make_chords,
)
from .instruments import DRUM_KITS, DRUM_NAMES, DRUM_TAGS, INST, INSTRUMENTS, A, B, C, Inst, M, R
from .midi import PPQ, Part
from .theory import Key


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
