"""Build the set: render each planned clip (retrying with the next attempt seed), then write
pairs.jsonl and summary.json. ``main`` is models/make_training_set.py's command line."""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

from musictext.model.bundle import sha256_file

from . import MAX_DUR, MIN_DUR, SR
from .captions import caption
from .fluidsynth import SOUNDFONTS, check_soundfont, render
from .midi import write_midi
from .numpy_synth import NP_INFO, NP_SOUNDFONT, render_numpy
from .plan import build_clip, clip_rng_seed, plan_clips

SILENCE_DBFS = -40.0
TARGET_PEAK_DBFS = -1.0
MAX_ATTEMPTS = 4

_CFG: dict = {}


def _init_worker(cfg: dict) -> None:
    _CFG.update(cfg)


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


def main(argv: list[str] | None = None, description: str = "") -> int:
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    repo = Path(__file__).resolve().parents[2]  # models/trainset/build.py -> the checkout
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
