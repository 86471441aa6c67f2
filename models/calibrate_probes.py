"""Calibrate the shipped probes on their validation renders, so a probe's output is a probability.

    python models/calibrate_probes.py [--val /tmp/pr-val --val-home /tmp/pr-val-home]
    python models/build_bundle.py     # copies each probe's calibration into the manifest

The probes are trained class-balanced (models/train_probes.py), so their raw sigmoid is 0.5 where
a positive and a negative are equally likely: far too generous for a tag a rare word should rarely
get. `musictext tag` needs a probability to write a tag (musictext/evidence.py), so each probe gets
Platt scaling, p = sigmoid(a * logit + b), fitted by maximum likelihood on the validation set
train_probes.py already uses (the same generator, another seed, other timbres: TimGM6mb and OPL3),
at that set's own prevalence. No evaluation data is read. The validation set must be made and
indexed first: `python models/train_probes.py --prepare` does both (or make_training_set.py
--n 700 --seed 777 and `musictext index`, as train_probes.py's `prepare` does).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "musicnn-minilm"


def platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) maximising the likelihood of ``y`` under sigmoid(a * logit + b) (Newton's method,
    with Platt's smoothed targets so a perfectly separated probe keeps a finite slope)."""
    pos, neg = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y, (pos + 1) / (pos + 2), 1 / (neg + 2))
    a, b = 1.0, 0.0
    x = np.asarray(logits, np.float64)
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = np.array([((p - t) * x).sum(), (p - t).sum()])
        w = p * (1 - p) + 1e-12
        h = np.array([[(w * x * x).sum(), (w * x).sum()], [(w * x).sum(), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--val", type=Path, default=Path("/tmp/pr-val"))
    ap.add_argument("--val-home", type=Path, default=Path("/tmp/pr-val-home"))
    args = ap.parse_args()

    from train_probes import load_set

    from musictext.model.bundle import get_bundle
    from musictext.model.probes import learned_concepts

    bundle = get_bundle("musicnn-minilm")
    learned = learned_concepts(bundle)
    if learned is None:
        raise SystemExit("the bundle has no probes to calibrate")
    x, tags = load_set(args.val, args.val_home, bundle.model_id)
    logits = x @ learned.weight.T.astype(np.float64) + learned.bias
    report_path = BUNDLE / "probes_report.json"
    report = json.loads(report_path.read_text())
    by_name = {c["name"]: c for c in report["concepts"]}
    print(f"{'probe':<20} {'val clips':>9} {'a':>7} {'b':>7}  share >= 0.5 (positives / negatives)")
    for j, (name, phrases) in enumerate(zip(learned.names, learned.phrases)):
        words = {name, *phrases}
        y = np.array([bool(words & clip) for clip in tags])
        a, b = platt(logits[:, j], y)
        p = 1 / (1 + np.exp(-(a * logits[:, j] + b)))
        by_name[name]["calibration"] = {"a": round(a, 5), "b": round(b, 5), "method": "Platt, validation renders"}
        print(
            f"{name:<20} {int(y.sum()):>9} {a:>7.3f} {b:>7.3f}  "
            f"{(p[y] >= 0.5).mean():.2f} / {(p[~y] >= 0.5).mean():.2f}"
        )
    report_path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote calibration into {report_path}; run models/build_bundle.py")


if __name__ == "__main__":
    main()
