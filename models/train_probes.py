"""Train the shipped bundle's learned concepts: linear probes for words no tagger knows.

    python models/train_probes.py --prepare      # make both sets, index them, train (about 10 minutes)
    python models/build_bundle.py                # record probes.npz in the manifest and model card

Training data: `models/make_training_set.py --renderer numpy`, our own compositions synthesised
note by note in numpy (no samples, no soundfont; MIT). Validation data: the same generator with
another seed (other compositions) rendered by fluidsynth with the TimGM6mb and OPL3 soundfonts,
i.e. other timbres. Validation renders choose the regularisation and which probes ship; nothing
trained on them ships. Neither set uses FluidR3, the evaluation corpus's soundfont, and the
evaluation corpus is never read here.

A word gets a probe when (fixed before any evaluation run):
  * at least MIN_TRAIN clips of the training set carry it as a tag, and MIN_VAL of the validation set;
  * the query planner, with the taggers' and descriptors' concepts only, matches nothing in it
    ("organ" and "trumpet" qualify; "electric guitar", "string ensemble" and "moderate tempo" do not,
    because "guitar", "strings" and "tempo" already mean something);
  * its probe ranks the validation renders with ROC-AUC >= KEEP_AUC.
Tags carried by exactly the same clips ("sax" and "saxophone") share one probe.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BUNDLE = HERE / "musicnn-minilm"
MIN_TRAIN, MIN_VAL, KEEP_AUC = 10, 5, 0.85
LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)  # L2 on the weights, on standardised inputs
N_TAGS = 100
INPUTS = {"tag log-odds + pooled features": slice(None), "pooled features": slice(N_TAGS, None)}


def run(cmd: list[str], home: Path | None = None) -> None:
    env = dict(os.environ, **({"MUSICTEXT_HOME": str(home)} if home else {}))
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)


def prepare(args) -> None:
    py, mt = sys.executable, str(Path(sys.executable).parent / "musictext")
    run(
        [
            py,
            str(HERE / "make_training_set.py"),
            "--renderer",
            "numpy",
            "--n",
            str(args.n_train),
            "--seed",
            str(args.train_seed),
            "--out",
            str(args.train),
            "--force",
        ]
    )
    run(
        [
            py,
            str(HERE / "make_training_set.py"),
            "--n",
            str(args.n_val),
            "--seed",
            str(args.val_seed),
            "--out",
            str(args.val),
            "--force",
        ]
    )
    for folder, home in ((args.train, args.train_home), (args.val, args.val_home)):
        run([mt, "index", str(folder / "audio"), "--json", "-q"], home)


def load_set(folder: Path, home: Path, model_id: str):
    """(probe inputs [n, d], tags per clip) of an indexed training set."""
    from musictext.library.store import Store
    from musictext.model.probes import probe_inputs

    tags_of = {}
    for line in (folder / "pairs.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            tags_of[os.path.realpath(row["audio"])] = {t.lower() for t in row["tags"]}
    with Store(home / "library.sqlite3", readonly=True) as store:
        ids, probs, pooled, _ = store.features_matrix(model_id)
        paths = store.tracks(ids.tolist())
    keep = [i for i, t in enumerate(ids) if os.path.realpath(paths[int(t)].path) in tags_of]
    x = probe_inputs(probs[keep], pooled[keep])
    return x, [tags_of[os.path.realpath(paths[int(ids[i])].path)] for i in keep]


def fit(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced multi-label logistic regression, L2 on the weights (L-BFGS)."""
    from scipy.optimize import minimize

    n, d = x.shape
    k = y.shape[1]
    pos = y.sum(0)
    w_pos, w_neg = n / (2 * pos), n / (2 * (n - pos))
    sample_w = np.where(y, w_pos, w_neg) / n

    def loss(theta):
        w = theta[: k * d].reshape(k, d)
        b = theta[k * d :]
        z = x @ w.T + b
        # log(1 + e^-z) for positives, log(1 + e^z) for negatives
        ll = np.where(y, np.logaddexp(0, -z), np.logaddexp(0, z))
        g = np.where(y, -1 / (1 + np.exp(z)), 1 / (1 + np.exp(-z))) * sample_w
        value = float((ll * sample_w).sum() + lam * (w * w).sum())
        grad_w = g.T @ x + 2 * lam * w
        return value, np.concatenate([grad_w.ravel(), g.sum(0)])

    theta = minimize(loss, np.zeros(k * d + k), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return theta[: k * d].reshape(k, d), theta[k * d :]


def candidate_words(train_tags: list[set[str]], val_tags: list[set[str]]) -> list[tuple[str, tuple[str, ...]]]:
    """Words that name no existing concept, grouped by identical training clips: (name, other phrases)."""
    from musictext.concepts import build_concepts
    from musictext.model.bundle import get_bundle
    from musictext.model.textspace import text_side
    from musictext.query import ConceptMatcher, Term

    bundle = get_bundle("musicnn-minilm")
    tags = bundle.manifest["tags"]
    matcher = ConceptMatcher(
        build_concepts([t["name"] for t in tags], [t["source"] for t in tags]), text_side(bundle).encode
    )
    first_seen: dict[str, int] = {}
    for clip in train_tags:
        for t in sorted(clip):
            first_seen.setdefault(t, len(first_seen))
    groups: dict[frozenset, list[str]] = {}
    for word in sorted(first_seen, key=first_seen.get):
        carriers = frozenset(i for i, clip in enumerate(train_tags) if word in clip)
        if len(carriers) < MIN_TRAIN or sum(word in clip for clip in val_tags) < MIN_VAL:
            continue
        if matcher.plan(Term(word, 1.0)).matches:
            continue
        groups.setdefault(carriers, []).append(word)
    return [(words[0], tuple(words[1:])) for words in groups.values()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, default=Path("/tmp/pr-train"))
    ap.add_argument("--val", type=Path, default=Path("/tmp/pr-val"))
    ap.add_argument("--train-home", type=Path, default=Path("/tmp/pr-train-home"))
    ap.add_argument("--val-home", type=Path, default=Path("/tmp/pr-val-home"))
    ap.add_argument("--n-train", type=int, default=1400)
    ap.add_argument("--n-val", type=int, default=700)
    ap.add_argument("--train-seed", type=int, default=20240611)
    ap.add_argument("--val-seed", type=int, default=777)
    ap.add_argument("--prepare", action="store_true", help="make and index both sets first")
    ap.add_argument("--out", type=Path, default=BUNDLE)
    args = ap.parse_args()
    if args.prepare:
        prepare(args)

    from musictext.evaluation import roc_auc
    from musictext.model.bundle import get_bundle

    model_id = get_bundle("musicnn-minilm").model_id
    x_train, train_tags = load_set(args.train, args.train_home, model_id)
    x_val, val_tags = load_set(args.val, args.val_home, model_id)
    words = candidate_words(train_tags, val_tags)
    y_train = np.array([[w in clip for w, _ in words] for clip in train_tags])
    y_val = np.array([[w in clip for w, _ in words] for clip in val_tags])
    mu, sd = x_train.mean(0), np.maximum(x_train.std(0), 1e-6)
    zt, zv = (x_train - mu) / sd, (x_val - mu) / sd

    trials = {}
    for inputs, cols in INPUTS.items():
        for lam in LAMBDAS:
            w_part, b = fit(zt[:, cols], y_train, lam)
            w = np.zeros((len(words), zt.shape[1]))
            w[:, cols] = w_part  # unused inputs get zero weight: one file format for both
            scores = zv @ w.T + b
            aucs = [roc_auc(y_val[:, j], scores[:, j]) for j in range(len(words))]
            trials[(inputs, lam)] = (w, b, aucs)
            print(f"{inputs}, lambda {lam:g}: mean validation ROC-AUC {np.mean(aucs):.4f}", flush=True)
    inputs, lam = max(trials, key=lambda key: np.mean(trials[key][2]))
    w, b, aucs = trials[(inputs, lam)]

    kept = [j for j in range(len(words)) if aucs[j] >= KEEP_AUC]
    report = {
        "rule": {
            "min_train_clips": MIN_TRAIN,
            "min_validation_clips": MIN_VAL,
            "keep_validation_auc": KEEP_AUC,
            "excluded": "words in which the planner already matches a tagger or descriptor concept",
        },
        "inputs": inputs + ", standardised on the training set",
        "lambda": lam,
        "tried": {f"{k[0]}, lambda {k[1]:g}": round(float(np.mean(t[2])), 4) for k, t in trials.items()},
        "training_set": _describe(args.train, len(train_tags)),
        "validation_set": _describe(args.val, len(val_tags)),
        "concepts": [
            {
                "name": words[j][0],
                "phrases": list(words[j][1]),
                "train_clips": int(y_train[:, j].sum()),
                "validation_clips": int(y_val[:, j].sum()),
                "validation_auc": round(aucs[j], 4),
                "kept": j in kept,
            }
            for j in range(len(words))
        ],
    }
    for c in report["concepts"]:
        print(
            f"{'keep' if c['kept'] else 'drop'}  {c['name']:<22} val AUC {c['validation_auc']:.3f}  "
            f"train {c['train_clips']:>4}  val {c['validation_clips']:>3}  {', '.join(c['phrases'])}"
        )
    weight = (w[kept] / sd).astype(np.float32)  # standardisation folded in: raw inputs go straight in
    bias = (b[kept] - (w[kept] / sd) @ mu).astype(np.float32)
    np.savez(args.out / "probes.npz", weight=weight, bias=bias)
    (args.out / "probes_report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{len(kept)} of {len(words)} probes kept ({inputs}, lambda {lam:g}); wrote {args.out / 'probes.npz'}")


def _describe(folder: Path, n: int) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    keys = ("renderer", "seed", "soundfonts", "not_used", "command", "total_duration_h")
    return {"clips_indexed": n, **{k: summary[k] for k in keys if k in summary}}


if __name__ == "__main__":
    main()
