"""A candidate default: the shipped model fine-tuned on a training set made here (own MIDI
compositions rendered with non-FluidR3 soundfonts), measured on the evaluation corpus.

    python models/make_training_set.py                      # /tmp/mt-train-set (about 1 minute)
    python benchmarks/candidate_default.py /tmp/mt-eval      # index, train, evaluate (about 5 minutes)

Nothing is shipped by this script; it writes the comparison into RESULTS.md. The evaluation
corpus is only measured on, never trained on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine, table, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EVALUATE = REPO.parent / "shared" / "eval" / "evaluate.py"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--train-set", type=Path, default=Path("/tmp/mt-train-set"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/mt-candidate"))
    ap.add_argument("--name", default="synth-tuned")
    ap.add_argument("--baseline", type=Path, help="summary JSON of evaluate.py for the shipped default")
    args = ap.parse_args()
    exe = shutil.which("musictext") or str(Path(sys.executable).parent / "musictext")
    shutil.rmtree(args.work, ignore_errors=True)
    train_home, eval_home = args.work / "train-home", args.work / "eval-home"
    env = dict(os.environ, MUSICTEXT_HOME=str(train_home))
    subprocess.run(
        [exe, "index", str(args.train_set / "audio"), "--json", "-q"], env=env, check=True, capture_output=True
    )
    t0 = time.perf_counter()
    subprocess.run(
        [
            exe,
            "train",
            "--name",
            args.name,
            "--pairs",
            str(args.train_set / "pairs.jsonl"),
            "--seed",
            "0",
            "--json",
            "-q",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    train_s = time.perf_counter() - t0
    (eval_home / "models").mkdir(parents=True)
    shutil.copytree(train_home / "models" / args.name, eval_home / "models" / args.name)
    results = {}
    pairs = (("shipped default (musicnn-minilm)", "musicnn-minilm"), (f"candidate ({args.name})", args.name))
    for label, model in pairs:
        home = eval_home if model == args.name else args.work / "default-home"
        out = args.work / f"{model}.json"
        subprocess.run(
            [
                sys.executable,
                str(EVALUATE),
                str(args.corpus),
                "--home",
                str(home),
                "--musictext",
                exe,
                "--out",
                str(out),
            ],
            env=dict(os.environ, MUSICTEXT_HOME=str(home), MUSICTEXT_MODEL=model),
            check=True,
            capture_output=True,
        )
        results[label] = json.loads(out.read_text())
    keys = ["macro_word_auc", "macro_sentence_auc", "macro_combo_auc_within", "macro_tag_auc", "macro_word_p5"]
    rows = [[label, *(r[k] for k in keys)] for label, r in results.items()]
    per = {label: {p["label"]: p for p in r["per_label"]} for label, r in results.items()}
    a, b = list(per)
    label_rows = [
        [
            name,
            per[a][name]["word_auc"],
            per[b][name]["word_auc"],
            per[a][name]["sentence_auc"],
            per[b][name]["sentence_auc"],
        ]
        for name in per[a]
    ]
    text = "\n".join(
        [
            f"## Candidate default `{args.name}`, fine-tuned on a training set made here "
            "(`benchmarks/candidate_default.py`)",
            "",
            f"Training set: {args.train_set} from `python models/make_training_set.py` "
            "(own MIDI compositions; renderer: "
            f"{json.loads((args.train_set / 'summary.json').read_text()).get('renderer', 'fluidsynth soundfonts')}; "
            f"no FluidR3), {sum(1 for _ in open(args.train_set / 'pairs.jsonl'))} clips; "
            "`musictext train --pairs` took "
            f"{train_s:.0f} s. Evaluated with ../shared/eval/evaluate.py on the whole corpus. Machine: {machine()}.",
            "",
            table(["model", "word ROC-AUC", "sentence ROC-AUC", "combo AUC within", "tag ROC-AUC", "word P@5"], rows),
            "",
            table(
                ["label", "word AUC default", "word AUC candidate", "sentence AUC default", "sentence AUC candidate"],
                label_rows,
            ),
        ]
    )
    print(text)
    write_section(f"candidate-{args.name}", text)


if __name__ == "__main__":
    main()
