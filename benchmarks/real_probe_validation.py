"""Per-probe validation of the learned concepts from real recordings (models/real_probes.py).

    python models/real_probes.py --fetch --index     # once: unpack the packages, index the files
    python benchmarks/real_probe_validation.py --write-results

Every file is scored by a probe trained without its package (leave-one-package-out); a label is
judged on the packages that hold both positives and negatives for it. The table says which
packages each probe learned from, which it was validated on, its positives per package, its
out-of-package ROC-AUC and whether the shipping rule (fixed in models/real_probes.py before any
of these numbers was seen) lets it ship. Nothing here reads the evaluation corpus.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_probes  # noqa: E402
from _results import machine, table, write_section  # noqa: E402

HEADERS = ["probe", "positives (package: files)", "validated on", "files judged", "ROC-AUC", "ships"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", type=Path, default=real_probes.SRC / "library")
    ap.add_argument("--home", type=Path, default=real_probes.SRC / "home")
    ap.add_argument("--write-results", action="store_true", help="update the section of benchmarks/RESULTS.md")
    ap.add_argument(
        "--evaluate",
        nargs=2,
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="two `evaluate.py --out` summaries (without and with these probes) to quote in the section",
    )
    args = ap.parse_args()
    _, _, _, rows, packages = real_probes.validate(args.lib, args.home)
    body = table(
        HEADERS,
        [
            [
                r["name"],
                ", ".join(f"{p}: {n}" for p, n in r["positives"].items()) or "-",
                ", ".join(r["validated_on"]) or "-",
                r["validation_files"],
                "-" if r["validation_auc"] is None else float(r["validation_auc"]),
                "yes"
                if r["kept"]
                else "no" + (f" (name clashes: {', '.join(r['clashes_with'])})" if r["clashes_with"] else ""),
            ]
            for r in rows
        ],
    )
    print(body)
    if args.write_results:
        files = ", ".join(f"{p} {packages.count(p)}" for p in real_probes.PACKAGES)
        write_section(
            "real-probes",
            "## Probes from real recordings (`python benchmarks/real_probe_validation.py --write-results`)\n\n"
            f"Machine: {machine()}. Files indexed per package: {files} (hits under musictext's minimum"
            " length are not indexed). Trained on every package listed (negatives from all of them),"
            " validated leave-one-package-out on the packages holding both classes. Shipping rule (fixed"
            f" before these numbers): >= {real_probes.MIN_POS} positives in >= {real_probes.MIN_PACKAGES}"
            f" such packages, ROC-AUC >= {real_probes.KEEP_AUC}, a name no concept already has.\n\n"
            + body
            + (evaluation(*args.evaluate) if args.evaluate else ""),
        )


def evaluation(before: Path, after: Path) -> str:
    """The evaluation corpus's macro numbers without and with these probes (reported, never tuned on)."""
    import json

    keys = ("macro_word_auc", "macro_sentence_auc", "macro_tag_auc", "macro_combo_auc_all")
    a, b = (json.loads(p.read_text()) for p in (before, after))
    changed = sum(1 for x, y in zip(a["per_label"], b["per_label"]) if x != y)
    return (
        "\n\n`python ../shared/eval/evaluate.py /tmp/mt-eval --home H --out ...` with main's code (before) and"
        f" this branch (after) on the same index ({changed} of {len(b['per_label'])} labels changed):\n\n"
        + table(["metric", "before", "after"], [[k, a.get(k), b.get(k)] for k in keys])
    )


if __name__ == "__main__":
    main()
