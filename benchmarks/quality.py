"""Search and tagging quality on the labelled evaluation corpus, per analysis budget.

    bash ../shared/eval/corpus/setup.sh     # once: tools and venv for the corpus builder
    /tmp/mt-eval-venv/bin/python ../shared/eval/corpus/build_corpus.py --out /tmp/mt-eval --instrument-set A --seed 1001
    python benchmarks/quality.py /tmp/mt-eval [--budgets 8,2,4,16,0]

For each budget (3-second windows per track; 0 = whole track) the corpus is indexed into a fresh
MUSICTEXT_HOME, then ../shared/eval/evaluate.py runs against it with --reuse. The corpus is a
yardstick: nothing in musictext is fitted to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EVALUATE = REPO.parent / "shared" / "eval" / "evaluate.py"


def run_budget(corpus: Path, budget: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"mt-quality-{budget}-"))
    env = dict(os.environ, MUSICTEXT_HOME=str(home))
    exe = shutil.which("musictext") or str(Path(sys.executable).parent / "musictext")
    args = ["--full"] if budget == 0 else ["--windows", str(budget)]
    t0 = time.perf_counter()
    out = subprocess.run(
        [exe, "index", str(corpus), *args, "--json", "-q"], env=env, capture_output=True, text=True, check=True
    ).stdout
    wall = time.perf_counter() - t0
    report = json.loads(out.strip().splitlines()[-1])
    summary = home / "summary.json"
    subprocess.run(
        [
            sys.executable,
            str(EVALUATE),
            str(corpus),
            "--home",
            str(home),
            "--reuse",
            "--musictext",
            exe,
            "--out",
            str(summary),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(summary.read_text())
    result["index_wall_s"] = wall
    result["index_report"] = report
    result["per_label"] = result.get("per_label", [])
    return result


def label_parts(corpus: Path) -> dict[str, str]:
    """Which part of the corpus (synth, real) each label's files come from."""
    top = corpus / "manifest.jsonl"
    files = [top] if top.exists() else sorted(corpus.glob("*/manifest.jsonl"))
    parts: dict[str, set[str]] = {}
    for manifest in files:
        for line in manifest.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                for label in row.get("labels", []):
                    parts.setdefault(str(label).lower(), set()).add(row.get("part") or manifest.parent.name)
    return {label: "+".join(sorted(p - {"bad", "formats"})) for label, p in parts.items()}


def part_macros(per_label: list[dict], parts: dict[str, str]) -> list[list]:
    rows = []
    for part in sorted({parts.get(p["label"], "?") for p in per_label}):
        mine = [p for p in per_label if parts.get(p["label"], "?") == part]
        rows.append(
            [
                part,
                len(mine),
                sum(p["word_auc"] for p in mine) / len(mine),
                sum(p["sentence_auc"] for p in mine) / len(mine),
            ]
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--budgets", default="8,2,4,16,0")
    args = ap.parse_args()
    results = {}
    for b in (int(x) for x in args.budgets.split(",")):
        results[b] = run_budget(args.corpus, b)
        print(f"budget {b}: {json.dumps({k: v for k, v in results[b].items() if k.startswith('macro')})}")
    rows = []
    for b, r in results.items():
        audio = r["index_report"]["audio_seconds"]
        rows.append(
            [
                "whole" if b == 0 else b,
                r["macro_word_auc"],
                r["macro_sentence_auc"],
                r.get("macro_combo_auc_within"),
                r.get("macro_tag_auc"),
                r["macro_word_p5"],
                r["index_wall_s"],
                audio / r["index_wall_s"],
                r["index_report"]["failed"],
            ]
        )
    default = results.get(8) or next(iter(results.values()))
    parts = label_parts(args.corpus)
    labels = [
        [
            p["label"],
            parts.get(p["label"], "?"),
            p["n"],
            p["word_auc"],
            p["sentence_auc"],
            p.get("tag_auc"),
            p["word_ap"],
            p["word_p5"],
        ]
        for p in default["per_label"]
    ]
    text = "\n".join(
        [
            "## Quality on the evaluation corpus (`python benchmarks/quality.py /tmp/mt-eval`)",
            "",
            f"Set A, seed 1001 ({default['files']} labelled files; the formats/ and bad/ files are indexed too). "
            f"Machine: {machine()}.",
            "",
            table(
                [
                    "windows",
                    "word ROC-AUC",
                    "sentence ROC-AUC",
                    "combo AUC within instrument",
                    "tag ROC-AUC",
                    "word P@5",
                    "index wall s",
                    "x real time",
                    "failed files",
                ],
                rows,
            ),
            "",
            "Macro ROC-AUC by the part of the corpus a label's files come from, default budget (every label is "
            "still ranked against all 108 files):",
            "",
            table(["part", "labels", "word ROC-AUC", "sentence ROC-AUC"], part_macros(default["per_label"], parts)),
            "",
            "Per label at the default budget (8 windows):",
            "",
            table(["label", "part", "n", "word AUC", "sentence AUC", "tag AUC", "word AP", "word P@5"], labels),
        ]
    )
    print(text)
    write_section("quality", text)


if __name__ == "__main__":
    main()
