"""Show that `musictext train` works: zero-shot vs fine-tuned on held-out clips of the eval corpus.

    MUSICTEXT_HOME=/tmp/mt-train-home musictext index /tmp/mt-eval/synth /tmp/mt-eval/real
    MUSICTEXT_HOME=/tmp/mt-train-home python benchmarks/train_corpus.py --corpus /tmp/mt-eval --out /tmp/mt-train

Builds caption pairs from the synth and real manifests' labels ("a slow church organ piece in a
minor key"), splits them by clip (seeded, stratified by instrument / source so every concept is on
both sides), trains with `musictext train` on one part and runs `musictext eval --tags` on the
other, for the zero-shot default and the trained model. The model trained here is only for this
experiment: the corpus is rendered with FluidR3_GM, so never ship it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

INSTRUMENT_WORDS = {
    "church_organ": "church organ",
    "nylon_guitar": "classical guitar",
    "distortion_guitar": "distorted electric guitar",
    "tenor_sax": "tenor saxophone",
    "square_lead": "synth lead",
    "drums": "drum kit",
}


def synth_caption(entry: dict) -> str:
    """e.g. "a slow church organ piece in a minor key" (choir: "a fast choir ensemble piece ...")."""
    inst = INSTRUMENT_WORDS.get(entry["instrument"], entry["instrument"].replace("_", " "))
    tempo = "slow" if "slow" in entry["labels"] else "fast"
    body = f"a {tempo} {inst} {'piece' if 'solo' in entry['labels'] else 'ensemble piece'}"
    if entry.get("mode"):
        body += f" in a {entry['mode']} key"
    return body


def real_caption(entry: dict) -> str:
    labels = [x for x in entry["labels"] if x != "game music"]
    return "game music" + (f": {', '.join(labels)}" if labels else "")


def build_pairs(corpus: Path, out: Path, seed: int, test_share: float) -> dict:
    rows = []
    for part in ("synth", "real"):
        for line in (corpus / part / "manifest.jsonl").read_text().splitlines():
            e = json.loads(line)
            group = e.get("instrument") or e.get("source")
            text = synth_caption(e) if part == "synth" else real_caption(e)
            rows.append(
                {"audio": str(corpus / e["path"]), "text": text, "tags": e["labels"], "group": group, "id": e["id"]}
            )
    rng = random.Random(seed)
    by_group: dict[str, list[dict]] = {}
    for r in rows:
        by_group.setdefault(r["group"], []).append(r)
    train, test = [], []
    for g in sorted(by_group):
        items = sorted(by_group[g], key=lambda r: r["id"])
        rng.shuffle(items)
        n_test = max(1, round(test_share * len(items)))
        test += items[:n_test]
        train += items[n_test:]
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("test", test)):
        with open(out / f"{name}.jsonl", "w") as fh:
            for r in part:
                fh.write(json.dumps({"audio": r["audio"], "text": r["text"], "tags": r["tags"]}) + "\n")
    return {"train_clips": len(train), "test_clips": len(test)}


def mt(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "musictext", *args]
    print("$ musictext " + " ".join(args), file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"musictext {args[0]} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/mt-eval"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/mt-train"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--test-share", type=float, default=0.4)
    ap.add_argument("--name", default="corpus-experiment")
    ap.add_argument("--train-args", default="", help="extra `musictext train` options, e.g. '--loss triplet'")
    ap.add_argument("--focus", default="organ,church organ,trumpet,major,minor,slow,fast,piano,violin,drums")
    args = ap.parse_args()
    if not os.environ.get("MUSICTEXT_HOME"):
        sys.exit("set MUSICTEXT_HOME to a throwaway folder: this experiment must not touch your library")
    counts = build_pairs(args.corpus, args.out, args.seed, args.test_share)
    print(json.dumps(counts), file=sys.stderr)
    t0 = time.perf_counter()
    trained = json.loads(
        mt(
            "train",
            "--name",
            args.name,
            "--pairs",
            str(args.out / "train.jsonl"),
            "--seed",
            str(args.seed),
            "--json",
            "--quiet",
            *args.train_args.split(),
        ).stdout.splitlines()[-1]
    )
    train_s = time.perf_counter() - t0
    evals = [
        json.loads(line)
        for line in mt(
            "eval",
            "--pairs",
            str(args.out / "test.jsonl"),
            "--tags",
            "--json",
            "--model",
            "musicnn-minilm",
            "--model",
            args.name,
        ).stdout.splitlines()
    ]
    zs, ft = evals
    focus = [t.strip() for t in args.focus.split(",")]
    result = {
        **counts,
        "train_seconds": round(train_s, 1),
        "best_epoch": trained["best_epoch"],
        "epochs_run": trained["epochs_run"],
        "metrics": {
            k: {"zero_shot": zs[k], "fine_tuned": ft[k]}
            for k in ("r@1", "r@5", "r@10", "median_rank", "map@10", "a2t_r@10", "macro_roc_auc", "macro_pr_auc")
        },
        "per_tag_roc_auc": {
            t: {
                "zero_shot": zs["per_tag"].get(t, {}).get("roc_auc"),
                "fine_tuned": ft["per_tag"].get(t, {}).get("roc_auc"),
            }
            for t in focus
        },
    }
    print(json.dumps(result, indent=2))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _results import machine, table, write_section

    rows = [[k, v["zero_shot"], v["fine_tuned"]] for k, v in result["metrics"].items()]
    rows += [[f"ROC-AUC: {t}", v["zero_shot"], v["fine_tuned"]] for t, v in result["per_tag_roc_auc"].items()]
    write_section(
        "train-corpus",
        "\n".join(
            [
                "## Fine-tuning on held-out clips (`benchmarks/train_corpus.py`)",
                "",
                "Commands: `MUSICTEXT_HOME=/tmp/mt-train-home musictext index /tmp/mt-eval/synth /tmp/mt-eval/real`, "
                "then "
                f"`MUSICTEXT_HOME=/tmp/mt-train-home python benchmarks/train_corpus.py --seed {args.seed}`. "
                f"{counts['train_clips']} clips train, {counts['test_clips']} held out (split by clip, seeded); "
                f"training took {result['train_seconds']} s wall on 2 CPU cores (best epoch {result['best_epoch']} of "
                f"{result['epochs_run']}). The model trained here is an experiment only and never ships: the corpus is "
                f"rendered with FluidR3_GM. Machine: {machine()}.",
                "",
                table(["metric (held-out clips)", "zero-shot default", "fine-tuned"], rows),
            ]
        ),
    )


if __name__ == "__main__":
    main()
