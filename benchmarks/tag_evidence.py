"""Tags with evidence: what `musictext tag` writes with its defaults, against the library-relative quota.

    python benchmarks/tag_evidence.py /tmp/mt-eval --home HOME [--musictext musictext] [--write-results]

HOME is a MUSICTEXT_HOME where the corpus is indexed (`../shared/eval/evaluate.py --home HOME`
leaves one). For each built-in vocabulary the script runs `musictext tag --vocab NAME --json`
twice: with the defaults (evidence) and with `--relative` (the old behaviour: the top 3 of this
library for every track). It reports, per part of the corpus (real: game soundtracks from
Debian packages, all instrumental; synth: one solo instrument per clip):

* the share of tracks given a vocal tag (Vocals, Female Vocals, Male Vocals: every track of
  both parts is instrumental; the synth part's choir clips are left out of this count),
* the share given a decade tag (1960s ... 2000s),
* the share given no tag at all, and tags per track,
* precision per vocabulary: of the written tags the labels can judge, the share that is right.
  Judged: an instrument tag on a synth clip (right iff it names the clip's instrument; "Strings"
  for violin/cello, "Orchestra" and vocal tags are wrong on a solo clip; "Vocals"/"Choir" right on a
  choir clip), a vocal tag on a real track (wrong), a genre tag on a track whose package states its
  genre ("Romantic Classical": Classical and Soundtrack right, others wrong), Soundtrack on game
  music (right). Moods and eras have no labels to judge: only counts.

The corpus is a yardstick only: no threshold or lexicon entry was set from these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402

VOCABS = ("genres", "moods", "instruments", "eras")
VOCAL_TAGS = {"Vocals", "Female Vocals", "Male Vocals"}
DECADES = {"1960s", "1970s", "1980s", "1990s", "2000s"}
# Instrument-vocabulary term -> the synth labels that make it right.
INSTRUMENT_RIGHT = {
    "Guitar": {"guitar"},
    "Acoustic Guitar": {"acoustic guitar"},
    "Electric Guitar": {"electric guitar"},
    "Piano": {"piano"},
    "Harpsichord": {"harpsichord"},
    "Strings": {"violin", "cello"},
    "Violin": {"violin"},
    "Cello": {"cello"},
    "Harp": {"harp"},
    "Flute": {"flute"},
    "Sitar": set(),
    "Drums": {"drums"},
    "Synthesizer": {"synthesizer"},
    "Vocals": {"choir"},
    "Female Vocals": set(),
    "Male Vocals": set(),
    "Choir": {"choir"},
    "Orchestra": set(),
}


def rows_of(corpus: Path) -> dict[str, dict]:
    out = {}
    for line in (corpus / "manifest.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if row["part"] in ("real", "synth"):
                out[str((corpus / row["path"]).resolve())] = row
    return out


def run_tag(exe: str, home: Path, vocab: str, relative: bool) -> dict[str, list[str]]:
    cmd = [exe, "tag", "--vocab", vocab, "--json"] + (["--relative"] if relative else [])
    proc = subprocess.run(cmd, env={**os.environ, "MUSICTEXT_HOME": str(home)}, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr[-400:]}")
    tags = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            tags[str(Path(r["path"]).resolve())] = [t["tag"] for t in r["tags"]]
    return tags


def judge(vocab: str, term: str, row: dict) -> bool | None:
    """Right (True), wrong (False) or not judgeable (None) by the labels."""
    labels = set(row["labels"])
    if row["part"] == "synth":
        return bool(INSTRUMENT_RIGHT[term] & labels) if vocab == "instruments" else None
    if vocab == "instruments":
        return False if term in VOCAL_TAGS else None
    if vocab == "genres":
        if term == "Soundtrack":
            return True  # every real track is game music
        if "romantic classical" in labels:
            return term == "Classical"
        if term == "Electronic" and "electronic" in labels:
            return True
    return None


def measure(exe: str, home: Path, corpus: Path) -> tuple[list[list], dict]:
    rows = rows_of(corpus)
    table_rows, raw = [], {}
    for vocab in VOCABS:
        for relative in (False, True):
            tags = run_tag(exe, home, vocab, relative)
            mode = "--relative (old default)" if relative else "evidence (default)"
            for part in ("real", "synth"):
                paths = [p for p, r in rows.items() if r["part"] == part and p in tags]
                judged = [judge(vocab, t, rows[p]) for p in paths for t in tags[p]]
                judged = [j for j in judged if j is not None]
                not_choir = [p for p in paths if "choir" not in rows[p]["labels"]]
                vocal = sum(bool(set(tags[p]) & VOCAL_TAGS) for p in not_choir) / max(len(not_choir), 1)
                decade = sum(bool(set(tags[p]) & DECADES) for p in paths) / max(len(paths), 1)
                entry = {
                    "tracks": len(paths),
                    "tags_per_track": sum(len(tags[p]) for p in paths) / max(len(paths), 1),
                    "no_tag": sum(not tags[p] for p in paths) / max(len(paths), 1),
                    "vocal_share": vocal if vocab == "instruments" else None,
                    "decade_share": decade if vocab == "eras" else None,
                    "judged": len(judged),
                    "precision": sum(judged) / len(judged) if judged else None,
                }
                raw[f"{vocab}/{part}/{'relative' if relative else 'evidence'}"] = entry
                table_rows.append(
                    [
                        vocab,
                        part,
                        mode,
                        entry["tracks"],
                        round(entry["tags_per_track"], 2),
                        f"{entry['no_tag']:.0%}",
                        "" if entry["vocal_share"] is None else f"{entry['vocal_share']:.0%}",
                        "" if entry["decade_share"] is None else f"{entry['decade_share']:.0%}",
                        "" if entry["precision"] is None else f"{entry['precision']:.2f} ({entry['judged']})",
                    ]
                )
    return table_rows, raw


HEADERS = ["vocabulary", "part", "mode", "tracks", "tags/track", "no tag", "vocal tag", "decade tag", "precision (n)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--home", type=Path, required=True, help="MUSICTEXT_HOME with the corpus indexed")
    ap.add_argument("--musictext", default="musictext")
    ap.add_argument("--write-results", action="store_true", help="update the section of benchmarks/RESULTS.md")
    ap.add_argument("--json", type=Path, help="write the numbers here too")
    ap.add_argument(
        "--evaluate",
        nargs=2,
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="two `evaluate.py --out` summaries (before and after a change) to quote in the section",
    )
    args = ap.parse_args()
    table_rows, raw = measure(args.musictext, args.home, args.corpus)
    text = table(HEADERS, table_rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    if args.write_results:
        body = (
            "## Tags with evidence (`python benchmarks/tag_evidence.py /tmp/mt-eval --home HOME --write-results`)\n\n"
            f"Machine: {machine()}. HOME: the corpus indexed by `../shared/eval/evaluate.py --home HOME`.\n"
            "Defaults (evidence: tagger probability, calibrated probe probability or measured descriptor"
            " >= 0.5, at most 3 terms, opposites and decades exclusive) against `--relative`, the old default"
            " (the top 3 of this library for every track). Real part: 38 game-music tracks, all instrumental;"
            " synth part: 70 solo-instrument clips. Precision counts only tags the labels can judge"
            " (see the script's docstring); moods and eras have no labels. Nothing was tuned on these numbers.\n\n"
            + text
        )
        if args.evaluate:
            keys = ("macro_word_auc", "macro_sentence_auc", "macro_tag_auc", "macro_combo_auc_all")
            summaries = [json.loads(p.read_text()) for p in args.evaluate]
            rows = [[k] + [s.get(k) for s in summaries] for k in keys]
            body += (
                "\n\n`python ../shared/eval/evaluate.py /tmp/mt-eval --out ...` before (main) and after this change"
                " (the tag score is now the evidence):\n\n" + table(["metric", "before", "after"], rows)
            )
            before, after = ({r["label"]: r for r in s["per_label"]} for s in summaries)
            moved = [
                [label, k, before[label][k], after[label][k]]
                for label in before
                for k in ("word_auc", "sentence_auc")
                if label in after and abs((after[label][k] or 0) - (before[label][k] or 0)) >= 0.02
            ]
            body += (
                "\n\nSearch ROC-AUC that moved by 0.02 or more (the lexicon and broad words; the entries were"
                " written before this measurement and not changed after it):\n\n"
                + table(["label", "query", "before", "after"], moved)
                + "\n\nA tag score is null (no tag ROC-AUC) for labels only an uncalibrated probe knows"
                " (organ, trumpet, saxophone, ensemble): such a probe gives no evidence until"
                " `models/calibrate_probes.py` has run."
            )
        write_section("tag-evidence", body)


if __name__ == "__main__":
    main()
