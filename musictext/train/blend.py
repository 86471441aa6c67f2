"""How a trained bundle's scores combine with its base's: chosen on held-out files.

For a query, search scores ``(1 - share) × concept scores + share × joint-space similarity``
(library/view.py); a share of ``"base"`` means the base model's own scores. `musictext train`
chooses, per word of the captions (a tag query such as "accordion" or "minor") and once for
everything else (whole captions):

1. whether the word's learned concept (a probe fitted on the user's files, musictext.train.learned)
   ranks the files better than the base model does, judged on out-of-fold probe scores over every
   training file;
2. the joint space's share, judged on the validation files the head never saw.

A change from the base is taken only where it is *robustly* better: its mean gain is at least
MIN_GAIN and it wins in at least CONFIDENCE of bootstrap resamples of the files (or captions).
Elsewhere, and wherever the files are too few to tell, the trained bundle scores as its base did:
training cannot make a word worse than the base model had it, beyond what the files can show.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from musictext.evaluation import average_precision_at_k, roc_auc

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
MIN_GAIN = 0.01
CONFIDENCE = 0.9
RESAMPLES = 200
MIN_FILES = 3  # positives and negatives among the files before a word is judged


@dataclass
class WordChoice:
    word: str
    rule: str | float  # "base" or the joint share
    val_positives: int
    base_auc: float | None  # on the validation files
    auc: float | None  # on the validation files, with the chosen rule
    new_concept: bool  # the word has a learned concept of this bundle
    concept_auc: dict | None = None  # out-of-fold, every training file: {"base": .., "learned": ..}

    def as_json(self) -> dict:
        d = asdict(self)
        for k in ("base_auc", "auc"):
            d[k] = None if d[k] is None or not np.isfinite(d[k]) else round(float(d[k]), 4)
        return d


def judged(y: np.ndarray) -> bool:
    pos = int(np.sum(y))
    return min(pos, len(y) - pos) >= MIN_FILES


def _wins(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """[positives, negatives]: 1 where the positive outscores the negative, ½ on a tie."""
    y = np.asarray(y, bool)
    p, n = s[y][:, None], s[~y][None, :]
    return (p > n) + 0.5 * (p == n)


def robustly_better(
    y: np.ndarray, new: np.ndarray, old: np.ndarray, seed: int = 0, confidence: float = CONFIDENCE
) -> bool:
    """ROC-AUC of ``new`` at least MIN_GAIN above ``old`` on average, and above it in ``confidence``
    of stratified bootstrap resamples (positives and negatives resampled apart)."""
    if not judged(y):
        return False
    diff = _wins(y, np.asarray(new, np.float64)) - _wins(y, np.asarray(old, np.float64))
    if diff.mean() < MIN_GAIN:
        return False
    rng = np.random.default_rng(seed)
    n_pos, n_neg = diff.shape
    wins = 0
    for _ in range(RESAMPLES):
        pi, ni = rng.integers(n_pos, size=n_pos), rng.integers(n_neg, size=n_neg)
        wins += diff[np.ix_(pi, ni)].mean() > 0
    return wins >= confidence * RESAMPLES


def _paired_better(new: np.ndarray, old: np.ndarray, seed: int = 0) -> bool:
    """Per-query scores ``new`` vs ``old``: mean gain ≥ MIN_GAIN and a win in CONFIDENCE of resamples."""
    diff = np.asarray(new, np.float64) - np.asarray(old, np.float64)
    if len(diff) < MIN_FILES or diff.mean() < MIN_GAIN:
        return False
    rng = np.random.default_rng(seed)
    wins = sum(diff[rng.integers(len(diff), size=len(diff))].mean() > 0 for _ in range(RESAMPLES))
    return wins >= CONFIDENCE * RESAMPLES


def parts(view, query: str) -> tuple[np.ndarray, np.ndarray]:
    """Concept scores and joint-space scores of every file for ``query``."""
    return view.blended_scores(query, None, 0.0)[0], view.blended_scores(query, None, 1.0)[0]


def choose_words(
    trained, base, words: list[str], labels: np.ndarray, val_rows: np.ndarray, learned: dict[str, dict]
) -> list[WordChoice]:
    """Per word (``labels [files, words]``): "base", or the joint share that is robustly better on
    the validation files. A word with a learned concept (``learned``: word -> its out-of-fold
    ROC-AUCs) starts from share 0 (its concept), which already beat the base."""
    out = []
    for j, word in enumerate(words):
        y = labels[val_rows, j]
        has = word in learned
        # A concept checked out of fold already beat the base; an unchecked one (a new word on too
        # few files) is in the bundle for captions, `tag` and --explain, but the word alone keeps
        # the base's scores unless the validation files show the trained ones are better.
        checked = has and learned[word].get("learned") is not None
        start: str | float = 0.0 if checked else "base"
        if not judged(y):
            out.append(WordChoice(word, start, int(y.sum()), None, None, has, learned.get(word)))
            continue
        b = base.text_scores(word, None)[0][val_rows]
        concept, joint = parts(trained, word)
        mixes = {s: ((1 - s) * concept + s * joint)[val_rows] for s in SHARES}
        aucs = {s: roc_auc(y, m) for s, m in mixes.items()}
        reference = mixes[0.0] if checked else b
        best = max(SHARES, key=lambda s: (aucs[s], -abs(s - 0.5)))
        rule = best if robustly_better(y, mixes[best], reference, seed=j) else start
        auc = roc_auc(y, b) if rule == "base" else aucs[rule]
        out.append(WordChoice(word, rule, int(y.sum()), roc_auc(y, b), auc, has, learned.get(word)))
    return out


def _ap(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    return average_precision_at_k(scores, relevant, 10)


def choose_default(
    trained, base, captions: list[str], relevant: np.ndarray, val_rows: np.ndarray
) -> tuple[str | float, dict | None, dict | None]:
    """The share for whole captions (``relevant [captions, val files]``): the one with the best
    validation mAP@10 if it is robustly better than the base's, else "base"; with the retrieval
    metrics of the base and of the rule chosen."""
    from musictext.evaluation import retrieval_metrics

    def metrics(scores):
        return {k: round(float(v), 4) for k, v in retrieval_metrics(scores, relevant).items()}

    if not len(captions) or not len(val_rows):
        return "base", None, None
    base_scores = np.stack([base.text_scores(c, None)[0][val_rows] for c in captions])
    split = [parts(trained, c) for c in captions]
    tried = {s: np.stack([((1 - s) * c + s * z)[val_rows] for c, z in split]) for s in SHARES}
    best = max(SHARES, key=lambda s: (_ap(tried[s], relevant).mean(), -abs(s - 0.5)))
    if _paired_better(_ap(tried[best], relevant), _ap(base_scores, relevant)):
        return best, metrics(base_scores), metrics(tried[best])
    return "base", metrics(base_scores), metrics(base_scores)


def blend_manifest(default: str | float, words: list[WordChoice]) -> dict:
    from musictext.library.view import blend_key

    return {
        "default": default,
        "words": {blend_key(w.word) or w.word: w.rule for w in words if w.rule != default},
        "chosen_on": "held-out files (out-of-fold for learned concepts, validation files for the joint share)",
        "min_gain": MIN_GAIN,
        "confidence": CONFIDENCE,
    }
