"""Words of the user's captions become learned concepts of the trained bundle.

A word the base names by none of its concept phrases (a tag, a descriptor, a shipped learned
concept) gets a probe on the training files' stored features (tag log-odds and pooled features,
standardised, as `models/train_probes.py` uses): a ridge direction, solved in the files' dual
space, calibrated to log-odds; the penalty is chosen out of fold. The new bundle lists the base's
learned concepts and these, so the query planner, `tag` and `--explain` treat the word like any
other concept. A word that *is* the name of one of the base's concepts may get a probe too: it
joins that concept as one more column (concepts.build_concepts merges by name). Either is kept
only where its out-of-fold scores rank the files robustly better than the base model does
(musictext.train.blend).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musictext.model.probes import probe_inputs
from musictext.pairs import Pair
from musictext.query import STOPWORDS, words_of

LAMBDA = 1.0  # ridge penalty per file on standardised inputs (chosen out of fold, see choose_lambda)
LAMBDAS = (0.1, 1.0, 10.0)
MIN_TRAIN_FILES = 2  # positives (and negatives) among the training files before a probe is fitted
MAX_NEW = 256  # words per training run that may get a probe (the most common first)


def file_words(pairs: list[Pair]) -> dict[str, set[str]]:
    """The words each file is described by: its tags, else the content words (and two-word runs)
    of its captions."""
    out: dict[str, set[str]] = {}
    for p in pairs:
        words = out.setdefault(p.audio, set())
        if p.tags:
            words.update(t.strip().lower() for t in p.tags if t.strip())
            continue
        runs: list[list[str]] = [[]]
        for w in words_of(p.text or ""):
            if w in STOPWORDS or any(c.isdigit() for c in w):
                runs.append([])
            else:
                runs[-1].append(w)
        for run in runs:
            words.update(run)
            words.update(" ".join(run[i : i + 2]) for i in range(len(run) - 1))
    return out


def known_phrases(concepts) -> set[str]:
    return {p.lower() for c in concepts for p in (c.name, *c.phrases)}


def candidate_words(vocab: list[str], concepts) -> list[str]:
    """Words that may get a probe: those no concept of the base names, and concept names themselves."""
    known = known_phrases(concepts)
    names = {c.name.lower() for c in concepts}
    return [w for w in vocab if w not in known or w in names]


@dataclass
class Probes:
    names: list[str]
    weight: np.ndarray  # [k, tags + pooled], standardisation folded in
    bias: np.ndarray  # [k]
    train_files: list[int]  # positives per word among the training files

    def subset(self, keep: list[int]) -> Probes:
        return Probes(
            [self.names[j] for j in keep], self.weight[keep], self.bias[keep], [self.train_files[j] for j in keep]
        )


def ridge_directions(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """[d, k] ridge-regression directions of centred labels on standardised ``x``, solved in the
    n×n dual (n files ≪ d features): one solve for every word."""
    yc = y - y.mean(0)
    alpha = np.linalg.solve(x @ x.T + lam * np.eye(len(x)), yc)
    return x.T @ alpha


def calibrate(s: np.ndarray, y: np.ndarray, steps: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Per column, a and c with sigmoid(a·s + c) ≈ P(word | file), class-balanced (Newton)."""
    n, k = s.shape
    pos = y.sum(0)
    sw = np.where(y, n / (2 * np.maximum(pos, 1)), n / (2 * np.maximum(n - pos, 1))) / n
    sd = np.maximum(s.std(0), 1e-9)
    a, c = 1.0 / sd, -s.mean(0) / sd
    for _ in range(steps):
        z = a * s + c
        p = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
        g = (p - y) * sw
        h = p * (1 - p) * sw + 1e-9
        # 2x2 Newton step per column on (a, c), a small ridge on a keeps separable words finite
        gaa, gcc = (h * s * s).sum(0) + 1e-3, h.sum(0) + 1e-9
        gac = (h * s).sum(0)
        ga, gc = (g * s).sum(0) + 1e-3 * a, g.sum(0)
        det = gaa * gcc - gac * gac
        a = a - (gcc * ga - gac * gc) / det
        c = c - (gaa * gc - gac * ga) / det
    return a, c


def fit_words(
    words: list[str], labels: np.ndarray, probs: np.ndarray, pooled: np.ndarray, rows: np.ndarray, lam: float = LAMBDA
) -> Probes:
    """Probes for ``words`` (``labels [files, words]``) fitted on ``rows``: a ridge direction on
    standardised features, calibrated to log-odds."""
    x = probe_inputs(probs[rows], pooled[rows])
    mu, sd = x.mean(0), np.maximum(x.std(0), 1e-6)
    z = (x - mu) / sd
    y = labels[rows].astype(np.float64)
    w = ridge_directions(z, y, lam * len(rows))
    a, c = calibrate(z @ w, labels[rows])
    weight = ((w * a).T / sd).astype(np.float32)
    bias = (c - weight.astype(np.float64) @ mu).astype(np.float32)
    return Probes(list(words), weight, bias, [int(v) for v in labels[rows].sum(0)])


def logits(probes: Probes, probs: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """[files, k] log-odds of each probe."""
    return probe_inputs(probs, pooled) @ probes.weight.T.astype(np.float64) + probes.bias


def out_of_fold(
    words: list[str], labels: np.ndarray, probs: np.ndarray, pooled: np.ndarray, folds: int = 5, seed: int = 0
) -> tuple[np.ndarray, float]:
    """[files, k] log-odds of each file by probes fitted without it (``folds``-fold, seeded), with
    the ridge penalty (of LAMBDAS) whose out-of-fold scores have the best mean ROC-AUC."""
    from musictext.evaluation import roc_auc

    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    best = None
    for lam in LAMBDAS:
        out = np.zeros((n, len(words)))
        for f in range(min(folds, n)):
            held = np.sort(order[f::folds])
            rest = np.setdiff1d(np.arange(n), held)
            out[held] = logits(fit_words(words, labels, probs, pooled, rest, lam), probs[held], pooled[held])
        score = np.nanmean([roc_auc(labels[:, j], out[:, j]) for j in range(len(words))])
        if best is None or score > best[0]:
            best = (score, out, lam)
    return best[1], best[2]


def trainable(labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which words have MIN_TRAIN_FILES positives and negatives among ``rows``."""
    pos = labels[rows].sum(0)
    return (pos >= MIN_TRAIN_FILES) & (len(rows) - pos >= MIN_TRAIN_FILES)
