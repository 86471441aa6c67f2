"""Learned concepts from real recordings: probes trained on music and samples Debian packages ship.

    apt-get install hydrogen fluidsynth timgm6mb-soundfont opl3-soundfont  # h2cli: hydrogen-data's songs
    python models/real_probes.py --fetch          # apt-get download + dpkg-deb -x into /tmp/probes-src
    /tmp/devtools/bin/python models/m21_renders.py  # music21 pieces through two soundfont packages (MADE)
    python models/real_probes.py --index          # link the chosen files into one library, `musictext index` it
    python models/real_probes.py                  # label, validate across packages, write the probes
    python models/build_bundle.py                 # record probes.npz in the manifest and model card

Labels come only from the packages' own metadata: where a file lies (a package's music folder,
supertux's per-world music folders, a drum kit's folder, hydrogen-data's demo-song folder) and the
words of its file name. hydrogen-data's demo songs are rendered by Hydrogen's own h2cli through the
package's kits (RENDERED): a song of a drum machine is a drum loop by what the package is. The
music21 corpus's pieces are rendered by models/m21_renders.py through TimGM6mb and the OPL-3 FM bank
(MADE), each soundfont package its own pieces, and a piece's label is its corpus collection. The
rules are LABELS below, written and reviewed before any validation number was computed. Features
are the ones every probe uses (`musictext index`'s stored tag probabilities and pooled features;
the probe reads the pooled features, standardised, as models/train_probes.py chose), and the fit
is train_probes.fit (class-balanced logistic regression, the same L2 as the shipped synthetic
probes: nothing chosen here).

Validation is leave-one-package-out: every file is scored by a probe trained without its package.
A label is judged only on packages that hold both positives and negatives for it (so a probe cannot
pass by telling one package's recordings from another's), and the pooled out-of-package scores of
those files give its ROC-AUC. SHIPPING RULE (fixed before looking at any validation number):
a probe ships iff
  * it has at least MIN_POS positives, in at least MIN_PACKAGES packages that also hold negatives;
  * its out-of-package ROC-AUC is at least KEEP_AUC;
  * its name matches no concept the bundle already has (a tagger tag, a descriptor, a synthetic probe),
    so no word the model knows changes meaning.
The shipped probe is then refitted on every package and calibrated (Platt) on its out-of-package
logits, so `tag` may write it. Packages never read here: those DEVELOPERS.md reserves for evaluation,
and wesnoth-1.16-music, supertuxkart-data and openarena-088-data (the evaluation corpus's sources).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "musicnn-minilm"
SRC = Path("/tmp/probes-src")
MIN_POS, MIN_PACKAGES, KEEP_AUC = 6, 2, 0.8
LAMBDA = 3.0  # train_probes.py's choice for the shipped probes (pooled features); not tuned here
N_TAGS = 100
SOURCE = "real recordings"  # the probes_report.json entries this script owns
PER_KIT = 30  # hydrogen drum kits hold many velocity layers of one hit: at most this many files per kit

# Sources made here rather than downloaded, by models/m21_renders.py: {name: the soundfont's Debian
# package, which fetch() downloads for its copyright file}.
MADE = {f"music21@{sf}": sf for sf in ("timgm6mb-soundfont", "opl3-soundfont")}
# Which files of each package are read (relative path regexes, lower case) and where that package's
# licence is stated. Music folders of game packages, sample folders of the sample packages.
PACKAGES: dict[str, dict] = {
    "hedgewars-data": {"files": r"usr/share/games/hedgewars/data/music/[^/]+\.ogg$"},
    "supertux-data": {"files": r"usr/share/games/supertux2/music/.+\.ogg$"},
    "freedroidrpg-data": {"files": r"usr/share/freedroidrpg/data/sound/music/[^/]+\.ogg$"},
    "xmoto-data": {"files": r"usr/share/games/xmoto/textures/musics/[^/]+\.ogg$"},
    "lmms-common": {"files": r"usr/share/lmms/samples/(beats|bassloops|basses|drums|instruments|latin|stringsnpads)/"},
    "hydrogen-drumkits": {"files": r"usr/share/hydrogen/data/drumkits/.+\.(wav|flac|aiff)$"},
    # Hydrogen's own two kits, and its demo songs as h2cli renders them through those kits (RENDERED)
    "hydrogen-data": {"files": r"usr/share/hydrogen/data/drumkits/.+\.(wav|flac|aiff)$|^renders/[^/]+\.wav$"},
    # strategy and role-playing games: their music, and the ambience loops of their maps and levels
    # (beside workshop and machine sounds, so "not nature" is more than "not music")
    "megaglest-data": {
        "files": r"usr/share/games/megaglest/(data/core/menu/music|techs/[^/]+/factions/[^/]+/music"
        r"|tilesets/[^/]+/sounds)/[^/]+\.(ogg|wav)$"
    },
    "flare-game": {"files": r"usr/share/games/flare/mods/[^/]+/(music|soundfx/environment)/[^/]+\.ogg$"},
    "widelands-data": {
        "files": r"usr/share/games/widelands/data/(music|sound/(animals|farm|mill|sawmill|smiths|hammering"
        r"|stonecutting)|world/critters/[^/]+)/[^/]+\.ogg$"
    },
    # music21's corpus of real compositions, rendered by models/m21_renders.py through two soundfont
    # packages (each renders its own pieces): renders/<collection>/<piece>.flac
    **{name: {"files": r"^renders/[^/]+/[^/]+\.flac$"} for name in MADE},
}
M21 = tuple(MADE)
# Packages whose songs are rendered by the package's own program before they are read:
# {package: (song folder inside the package, command that renders SONG to WAV)}.
RENDERED = {"hydrogen-data": ("usr/share/hydrogen/data/demo_songs", ("h2cli", "-s", "{song}", "-o", "{wav}"))}
FORBIDDEN = frozenset(
    {
        "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "nexuiz-music", "singularity-music",
        "ufoai-music", "warzone2100-music", "hyperrogue-music", "drascula-music", "planetblupi-music-ogg",
        "planetblupi-music-midi", "sonic-pi-samples", "wesnoth-1.16-music", "supertuxkart-data",
        "openarena-088-data",
    }
)  # fmt: skip

# The label rules: concept name -> (phrases, {package: regex on the file's path inside the package,
# lower case}). A file of a listed package is a positive when the regex matches, else a negative;
# packages a label does not list give it negatives only (and are not judged for it).
_WORD = r"(?:^|[/_\- .])"  # a word start in a path: "forest-cave.ogg", "music/castle/"
LABELS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    # scenes and moments of game music, from supertux's world folders and every package's file names
    "winter": (
        ("snow", "snowy", "icy", "arctic"),
        {
            "supertux-data": r"music/antarctic/|" + _WORD + r"(ice|snow|arctic)",
            "hedgewars-data": _WORD + r"(snow|ice|winter|arctic)",
            "freedroidrpg-data": _WORD + r"(snow|ice|winter|arctic)",
            "xmoto-data": _WORD + r"(snow|ice|winter|arctic)",
        },
    ),
    "cave": (
        ("underground", "cavern"),
        {
            **{
                p: _WORD + r"(bat)?(cave|underground|cavern)"
                for p in ("supertux-data", "hedgewars-data", "freedroidrpg-data", "xmoto-data")
            },
            "flare-game": r"/music/(cave|dungeon)",
        },
    ),
    "battle music": (
        ("boss battle", "boss fight", "battle theme", "combat music"),
        {
            p: r"(battle|boss|attack|combat|fight)[^/]*$"
            for p in ("supertux-data", "hedgewars-data", "freedroidrpg-data", "xmoto-data", "flare-game")
        },
    ),
    "castle": (
        ("fortress", "keep"),
        {
            p: _WORD + r"(castle|fortress|keep)"
            for p in ("supertux-data", "hedgewars-data", "freedroidrpg-data", "xmoto-data")
        },
    ),
    "forest music": (
        ("woodland", "forest level"),
        {
            "supertux-data": r"music/forest/|forest",
            "hedgewars-data": _WORD + r"(forest|nature|jungle)",
            "freedroidrpg-data": _WORD + r"(forest|woods)",
            "xmoto-data": _WORD + r"(forest|woods)",
            "flare-game": r"/music/forest",
        },
    ),
    "chiptune": (
        ("8-bit", "chip music", "retro game music"),
        {
            "supertux-data": r"music/retro/|chip",
            "hedgewars-data": r"chip|8.?bit",
            "freedroidrpg-data": r"chip|8.?bit",
            "xmoto-data": r"chip|8.?bit",
        },
    ),
    # sounds of nature (weather, water, birds and animals), from the ambience loops of megaglest's map
    # tilesets, flare's environment sounds and widelands' animals; their music and workshop sounds are
    # the negatives ("rain" alone would take the lexicon's "rainy", a mood, so the probe has its own name)
    "nature sounds": (
        ("nature ambience", "ambience", "soundscape", "field recording", "birdsong", "environmental sounds"),
        {
            "megaglest-data": r"/tilesets/[^/]+/sounds/",
            "flare-game": r"/soundfx/environment/(bird|cave_droplets|cave_wind|forest_owl|raven|river|rain|wind)"
            r"|/music/wind_ambient",
            "widelands-data": r"/sound/animals/|/world/critters/",
        },
    ),
    # styles of music21's collections (the corpus folder a piece comes from): Bach's chorales, Palestrina's
    # masses and Monteverdi's madrigals, trecento songs, O'Neill's and Ryan's fiddle tunes; the Essen
    # folk songs are negatives for all. Words the lexicon already reads ("hymn", "jig", "medieval") are
    # left to it, so its entries can add a probe to what they mean.
    "chorale": (("four-part chorale", "church chorale"), {p: r"^renders/bach/" for p in M21}),
    "renaissance polyphony": (
        ("madrigal", "renaissance choral"),
        {p: r"^renders/(palestrina|monteverdi)/" for p in M21},
    ),
    "medieval song": (("ars nova", "trecento"), {p: r"^renders/trecento/" for p in M21}),
    "folk dance": (  # not "fiddle tune": "tune" is a stopword of the planner, which left "fiddle"
        ("hornpipe", "strathspey", "fiddle dance", "contra dance"),
        {p: r"^renders/(oneills1850|ryansmammoth)/" for p in M21},
    ),
    # drum hits and loops, from lmms-common's sample folders and names and hydrogen's kit files
    "kick drum": (
        ("kick",),  # not "bass drum": "drum n bass" would name it
        {
            "lmms-common": r"/drums/[^/]*(kick|bassdrum)",
            "hydrogen-drumkits": r"/[^/]*(kick|bassdrum|bass drum|bd)[^/]*$",
            "hydrogen-data": r"/drumkits/.*/[^/]*(kick|bassdrum|bass drum|bd)[^/]*$",
        },
    ),
    "snare drum": (
        ("snare",),
        {
            "lmms-common": r"/drums/[^/]*snare",
            "hydrogen-drumkits": r"/[^/]*(snare|sd)[^/]*$",
            "hydrogen-data": r"/drumkits/.*/[^/]*(snare|sd)[^/]*$",
        },
    ),
    "hi-hat": (
        ("hihat", "hi hat"),
        {
            "lmms-common": r"/drums/[^/]*(hihat|hi-hat)",
            "hydrogen-drumkits": r"/[^/]*(hihat|hi-hat|hat|hh)[^/]*$",
            "hydrogen-data": r"/drumkits/.*/[^/]*(hihat|hi-hat|hat|hh)[^/]*$",
        },
    ),
    "cymbal": (
        ("crash cymbal", "ride cymbal"),
        {
            "lmms-common": r"/drums/[^/]*(crash|ride|cymbal|splash|china)",
            "hydrogen-drumkits": r"/[^/]*(crash|ride|cymbal|splash|china)[^/]*$",
            "hydrogen-data": r"/drumkits/.*/[^/]*(crash|ride|cymbal|splash|china)[^/]*$",
        },
    ),
    "tom": (
        ("tom-tom", "toms"),
        {
            "lmms-common": r"/drums/[^/]*tom",
            "hydrogen-drumkits": r"/[^/]*tom[^/]*$",
            "hydrogen-data": r"/drumkits/.*/[^/]*tom[^/]*$",
        },
    ),
    "hand clap": (
        ("clap", "claps"),
        {
            "lmms-common": r"/drums/[^/]*clap",
            "hydrogen-drumkits": r"/[^/]*clap[^/]*$",
            "hydrogen-data": r"/drumkits/.*/[^/]*clap[^/]*$",
        },
    ),
    "drum loop": (
        ("breakbeat", "drum break", "beat loop"),
        {"lmms-common": r"/beats/(break|jungle|909beat|electro_beat|house_loop)", "hydrogen-data": r"^renders/"},
    ),
}


def labels_of(package: str, rel: str) -> set[str]:
    """The labels a file at ``rel`` (its path inside ``package``) carries under LABELS."""
    rel = rel.lower()
    return {name for name, (_, rules) in LABELS.items() if package in rules and re.search(rules[package], rel)}


def judged(label: str, package: str) -> bool:
    return package in LABELS[label][1]


def chosen_files(package: str, root: Path) -> list[str]:
    """The files of an extracted package this script reads, as paths relative to ``root``."""
    if package in FORBIDDEN:
        raise SystemExit(f"{package} is reserved: never read")
    pattern = re.compile(PACKAGES[package]["files"])
    found, seen = [], set()  # a file linked into several folders (megaglest's tilesets) is read once
    for p in sorted(root.rglob("*"), key=lambda p: str(p.relative_to(root))):
        rel = str(p.relative_to(root))
        if p.is_file() and pattern.search(rel.lower()) and os.path.realpath(p) not in seen:
            seen.add(os.path.realpath(p))
            found.append(rel)
    if package.startswith("hydrogen-"):  # at most PER_KIT files per kit, evenly spread over its sorted files
        by_kit: dict[str, list[str]] = {}
        for rel in found:
            by_kit.setdefault(rel.split("/")[5] if "/drumkits/" in rel else "", []).append(rel)
        found = [
            f for kit, files in by_kit.items() for f in (files[:: max(1, -(-len(files) // PER_KIT))] if kit else files)
        ]
    return found


def fetch() -> None:
    (SRC / "debs").mkdir(parents=True, exist_ok=True)
    for package in [p for p in PACKAGES if p not in MADE] + sorted(set(MADE.values())):
        if (SRC / package).exists():
            continue
        subprocess.run(["apt-get", "download", package], cwd=SRC / "debs", check=True)
        deb = next((SRC / "debs").glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(SRC / package)], check=True)
        deb.unlink()
    for package, (folder, command) in RENDERED.items():
        render_songs(SRC / package, folder, command)


def render_songs(root: Path, folder: str, command: tuple[str, ...]) -> None:
    """Render every song of ``root/folder`` into ``root/renders/<song>.wav`` with the package's own
    program (already rendered songs are kept); a render that fails or is silent is left out."""
    import soundfile as sf

    out = root / "renders"
    out.mkdir(exist_ok=True)
    for song in sorted((root / folder).iterdir()):
        wav = out / (song.stem + ".wav")
        if wav.exists():
            continue
        args = [a.format(song=song, wav=wav) for a in command]
        done = subprocess.run(args, capture_output=True, timeout=900)
        y = sf.read(wav, dtype="float32")[0] if wav.exists() and wav.stat().st_size > 44 else np.zeros(0)
        if done.returncode or not y.size or float(np.abs(y).max()) <= 1e-4:
            print(f"left out {song.name}: the render failed or is silent", flush=True)
            wav.unlink(missing_ok=True)


def link_library(lib: Path) -> dict[str, tuple[str, str]]:
    """Hard-link every chosen file into ``lib/<package>/...``; {library path: (package, rel)}."""
    out = {}
    for package in PACKAGES:
        root = SRC / package
        for rel in chosen_files(package, root):
            dst = lib / package / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                os.link(root / rel, dst)
            out[os.path.realpath(dst)] = (package, rel)
    return out


def load(lib: Path, home: Path):
    """(probe inputs [n, tags + pooled], packages [n], rel paths [n]) of the indexed library."""
    from musictext.library.store import Store
    from musictext.model.bundle import get_bundle
    from musictext.model.probes import probe_inputs

    files = link_library(lib)
    with Store(home / "library.sqlite3", readonly=True) as store:
        ids, probs, pooled, _ = store.features_matrix(get_bundle("musicnn-minilm").model_id)
        rows = store.tracks(ids.tolist())
    keep = [i for i, t in enumerate(ids) if os.path.realpath(rows[int(t)].path) in files]
    where = [files[os.path.realpath(rows[int(ids[i])].path)] for i in keep]
    return probe_inputs(probs[keep], pooled[keep]), [w[0] for w in where], [w[1] for w in where]


def known_names() -> set[str]:
    """Every phrase a concept of the bundle already answers to besides this script's own probes:
    tagger tags, descriptors and the synthetic probes (so a rerun does not clash with itself)."""
    from musictext.concepts import build_concepts
    from musictext.model.bundle import get_bundle

    tags = get_bundle("musicnn-minilm").manifest["tags"]
    report = json.loads((BUNDLE / "probes_report.json").read_text())
    synthetic = tuple(
        (c["name"], tuple(c["phrases"])) for c in report["concepts"] if c["kept"] and c.get("source") != SOURCE
    )
    concepts = build_concepts([t["name"] for t in tags], [t["source"] for t in tags], synthetic)
    return {p.lower() for c in concepts for p in (c.name, *c.phrases)}


def fit_probes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probes on the pooled features (train_probes.py's shipped choice), standardisation folded in."""
    from train_probes import fit

    cols = slice(N_TAGS, None)
    mu, sd = x.mean(0), np.maximum(x.std(0), 1e-6)
    z = (x - mu) / sd
    w_part, b = fit(z[:, cols], y, LAMBDA)
    w = np.zeros((y.shape[1], x.shape[1]))
    w[:, cols] = w_part
    return w / sd, b - (w / sd) @ mu


def validate(lib: Path, home: Path):
    """Label every indexed file, score it out of package, apply the shipping rule:
    (inputs, labels [n, len(LABELS)], kept label indices, one row per label, packages [n])."""
    from calibrate_probes import platt

    from musictext.evaluation import roc_auc

    x, packages, rels = load(lib, home)
    names = list(LABELS)
    y = np.array([[n in labels_of(p, r) for n in names] for p, r in zip(packages, rels)])
    pk = np.array(packages)
    print(f"{len(x)} files from {len(set(packages))} packages", flush=True)

    oof = np.full(y.shape, np.nan)  # every file scored by probes trained without its package
    for package in PACKAGES:
        held = pk == package
        fitted = y[~held].any(0) & (~y[~held]).any(0)  # a label with no positive left cannot be fitted
        if held.any() and fitted.any():
            w, b = fit_probes(x[~held], y[~held][:, fitted])
            oof[np.ix_(held, fitted)] = x[held] @ w.T + b

    known = known_names()
    rows, keep = [], []
    for j, name in enumerate(names):
        both = [p for p in PACKAGES if judged(name, p) and y[pk == p, j].any() and (~y[pk == p, j]).any()]
        mask = np.isin(pk, both) & np.isfinite(oof[:, j])
        auc = roc_auc(y[mask, j], oof[mask, j]) if len(both) >= MIN_PACKAGES else float("nan")  # else not judged
        clash = sorted({name, *LABELS[name][0]} & known)
        ok = int(y[mask, j].sum()) >= MIN_POS and len(both) >= MIN_PACKAGES and auc >= KEEP_AUC and not clash
        row = {
            "name": name,
            "phrases": list(LABELS[name][0]),
            "positives": {p: int(y[pk == p, j].sum()) for p in PACKAGES if y[pk == p, j].any()},
            "validated_on": both,
            "trained_on": sorted(set(packages)),
            "validation_files": int(mask.sum()),
            "validation_auc": round(float(auc), 4) if np.isfinite(auc) else None,
            "clashes_with": clash,
            "kept": bool(ok),
        }
        if ok:
            a, b = platt(oof[mask, j], y[mask, j])
            row["calibration"] = {"a": round(a, 5), "b": round(b, 5), "method": "Platt, out-of-package scores"}
            keep.append(j)
        rows.append(row)
    return x, y, keep, rows, packages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", type=Path, default=SRC / "library")
    ap.add_argument("--home", type=Path, default=SRC / "home")
    ap.add_argument("--fetch", action="store_true", help="download and unpack the packages first")
    ap.add_argument("--index", action="store_true", help="link the chosen files and index them first")
    ap.add_argument("--out", type=Path, default=BUNDLE)
    args = ap.parse_args()
    if args.fetch:
        fetch()
    if args.index:
        link_library(args.lib)
        mt = str(Path(sys.executable).parent / "musictext")
        env = dict(os.environ, MUSICTEXT_HOME=str(args.home))
        subprocess.run([mt, "index", str(args.lib), "-q"], env=env, check=True)

    x, y, keep, rows, packages = validate(args.lib, args.home)
    for row in rows:
        print(
            f"{'keep' if row['kept'] else 'drop'}  {row['name']:<14} AUC {row['validation_auc']}  "
            f"positives {row['positives']}  judged on {row['validated_on']}"
            + (f"  clashes {','.join(row['clashes_with'])}" if row["clashes_with"] else "")
        )
    write(args.out, x, y, keep, rows, packages)


def write(out: Path, x, y, keep: list[int], rows: list[dict], packages: list[str]) -> None:
    """Append the kept probes (refitted on every package) to the bundle's probes and report."""
    report_path = out / "probes_report.json"
    report = json.loads(report_path.read_text())
    report["concepts"] = [c for c in report["concepts"] if c.get("source") != SOURCE]
    n_synthetic = sum(c["kept"] for c in report["concepts"])
    with np.load(out / "probes.npz") as z:
        weight, bias = z["weight"][:n_synthetic], z["bias"][:n_synthetic]
    if keep:
        w, b = fit_probes(x, y[:, keep])
        weight = np.concatenate([weight, w.astype(np.float32)])
        bias = np.concatenate([bias, b.astype(np.float32)])
    np.savez(out / "probes.npz", weight=weight.astype(np.float32), bias=bias.astype(np.float32))
    kept = [r for r in rows if r["kept"]]
    report["concepts"] += [
        {
            "name": r["name"],
            "phrases": r["phrases"],
            "train_clips": sum(r["positives"].values()),
            "validation_clips": r["validation_files"],
            "validation_auc": r["validation_auc"],
            "kept": True,
            "source": SOURCE,
            "trained_on": r["trained_on"],
            "validated_on": r["validated_on"],
            "calibration": r["calibration"],
        }
        for r in kept
    ]
    report["real_recordings"] = {
        "rule": {"min_positives": MIN_POS, "min_packages": MIN_PACKAGES, "keep_validation_auc": KEEP_AUC},
        "method": "leave-one-package-out, pooled over packages with both classes; logistic regression on "
        f"pooled features, L2 {LAMBDA:g}; command: python models/real_probes.py",
        "files": {p: packages.count(p) for p in PACKAGES},
        "licences": licences(),
        "labels": rows,
    }
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{len(kept)} of {len(rows)} real-recording probes kept; wrote {out / 'probes.npz'}")


def licences() -> dict[str, list[str]]:
    """Every licence each package's debian/copyright names (the recordings are among them)."""
    out = {}
    for package in PACKAGES:
        deb = MADE.get(package, package)
        path = SRC / deb / "usr/share/doc" / deb / "copyright"
        found = re.findall(r"^License: *(\S.*)$", path.read_text(errors="replace"), re.M) if path.exists() else []
        if package in MADE:  # the compositions come from the music21 wheel's corpus
            found += ["music21 corpus: BSD-3-Clause (music21's licence; public-domain compositions)"]
        out[package] = sorted(set(found))
    return out


if __name__ == "__main__":
    main()
