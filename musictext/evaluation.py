"""`musictext eval`: retrieval and tagging metrics of a model on labelled pairs (numpy only).

Text→audio: each distinct caption is a query over the pairs' audio files; a file is relevant to a
caption when some pair joins them. R@k is the share of queries with a relevant file in the top k,
the median rank is that of the first relevant file, mAP@10 averages AP@10 =
Σ_{k≤10} P@k·rel_k / min(#relevant, 10). Audio→text is the same with the roles swapped. With
``tags``, each tag is a query scored against every file: ROC-AUC and PR-AUC (average precision)
per tag, and their macro means over tags with at least one positive and one negative file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musictext.errors import NotFoundError

RETRIEVAL_KEYS = ("r@1", "r@5", "r@10", "median_rank", "map@10")


def _order(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-np.asarray(scores, np.float64), axis=1, kind="stable")


def first_relevant_ranks(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the best-placed relevant item for each query (row); ties keep item order."""
    order = _order(scores)
    hits = np.take_along_axis(np.asarray(relevant, bool), order, axis=1)
    if not hits.any(axis=1).all():
        raise ValueError("every query needs at least one relevant item")
    return hits.argmax(axis=1) + 1


def average_precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 10) -> np.ndarray:
    """AP@k per query: Σ_{i≤k} P@i·rel_i / min(#relevant, k)."""
    order = _order(scores)
    hits = np.take_along_axis(np.asarray(relevant, bool), order, axis=1)[:, :k].astype(np.float64)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    n_rel = np.minimum(np.asarray(relevant, bool).sum(axis=1), k)
    return (precision * hits).sum(axis=1) / np.maximum(n_rel, 1)


def retrieval_metrics(scores: np.ndarray, relevant: np.ndarray) -> dict[str, float]:
    """R@1, R@5, R@10, median rank and mAP@10 of ``scores [queries, items]``."""
    ranks = first_relevant_ranks(scores, relevant)
    return {
        "r@1": float(np.mean(ranks <= 1)),
        "r@5": float(np.mean(ranks <= 5)),
        "r@10": float(np.mean(ranks <= 10)),
        "median_rank": float(np.median(ranks)),
        "map@10": float(np.mean(average_precision_at_k(scores, relevant, 10))),
    }


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x), np.float64)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    y = np.asarray(labels, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = _average_ranks(np.asarray(scores, np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision: the mean of precision at each positive, best score first."""
    y = np.asarray(labels, bool)
    if not y.any():
        return float("nan")
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = y[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def tag_metrics(labels: np.ndarray, scores: np.ndarray, tags: list[str]) -> dict:
    """Per-tag ROC-AUC and PR-AUC of ``scores [tags, items]`` and their macro means."""
    per_tag = {}
    for i, tag in enumerate(tags):
        y = np.asarray(labels[i], bool)
        if y.all() or not y.any():
            continue
        per_tag[tag] = {
            "roc_auc": roc_auc(y, scores[i]),
            "pr_auc": average_precision(y, scores[i]),
            "positives": int(y.sum()),
        }
    return {
        "macro_roc_auc": float(np.mean([v["roc_auc"] for v in per_tag.values()])) if per_tag else float("nan"),
        "macro_pr_auc": float(np.mean([v["pr_auc"] for v in per_tag.values()])) if per_tag else float("nan"),
        "per_tag": per_tag,
    }


# The `musictext eval` service -------------------------------------------------------------------------


@dataclass
class EvalReport:
    model: str
    metrics: dict
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_json(self, with_tags: bool) -> dict:
        row = {"model": self.model}
        row.update({k: _json_number(v) for k, v in self.metrics.items() if not isinstance(v, dict)})
        if with_tags and "per_tag" in self.metrics:
            row["per_tag"] = {t: {k: _json_number(v) for k, v in m.items()} for t, m in self.metrics["per_tag"].items()}
        row["skipped_pairs"] = self.skipped
        return row


def _json_number(value):
    """A metric for JSON: rounded, and null where it is undefined (NaN is not JSON)."""
    if value is None or not math.isfinite(float(value)):
        return None
    return round(value, 4)


def evaluate(
    pairs_path: str | Path, models: list[str | None], tags: bool = False, note: Callable[[str], None] = lambda m: None
) -> list[EvalReport]:
    """Score every pair's caption (and with ``tags``, every tag) against the pairs' files with each
    model, ranking exactly as `musictext search` does."""
    from musictext.pairs import read_pairs

    pairs = read_pairs(pairs_path)
    if tags and not any(p.tags for p in pairs):
        raise NotFoundError("--tags needs pairs with a `tags` list", pairs_path)
    return [_evaluate_model(pairs, model, tags, note) for model in (models or [None])]


def _evaluate_model(pairs, model: str | None, with_tags: bool, note) -> EvalReport:
    from musictext.library.view import Library

    lib = Library(model)
    try:
        rows: dict[str, int] = {}
        for p in pairs:
            if p.audio in rows:
                continue
            track = lib.store.track_by_path(p.audio)
            if track is not None and track.id in lib.space.row_of:
                rows[p.audio] = lib.space.row_of[track.id]
        usable = [p for p in pairs if p.audio in rows]
        skipped = len(pairs) - len(usable)
        warnings = []
        if skipped:
            warnings.append(
                f"{skipped} pair(s) skipped: their audio is not indexed for {lib.bundle.name} "
                "(run `musictext index` on it first)"
            )
        if not usable:
            raise NotFoundError(f"none of the pairs' audio is indexed for model {lib.bundle.name}")
        files = list(dict.fromkeys(p.audio for p in usable))
        col = {f: i for i, f in enumerate(files)}
        row_index = np.array([rows[f] for f in files], dtype=np.int64)
        captions = list(dict.fromkeys(p.caption for p in usable))
        cap_index = {c: i for i, c in enumerate(captions)}
        relevant = np.zeros((len(captions), len(files)), bool)
        for p in usable:
            relevant[cap_index[p.caption], col[p.audio]] = True
        note(f"{lib.bundle.name}: {len(captions)} caption(s) against {len(files)} file(s)")
        scores = np.stack([lib.text_scores(c, row_index)[0] for c in captions])
        metrics = retrieval_metrics(scores, relevant)
        metrics.update({f"a2t_{k}": v for k, v in retrieval_metrics(scores.T, relevant.T).items()})
        metrics["queries"] = len(captions)
        metrics["files"] = len(files)
        if with_tags:
            vocab = sorted({t for p in usable for t in p.tags})
            labels = np.zeros((len(vocab), len(files)), bool)
            t_index = {t: i for i, t in enumerate(vocab)}
            for p in usable:
                for t in p.tags:
                    labels[t_index[t], col[p.audio]] = True
            tag_scores = np.stack([lib.text_scores(t, row_index)[0] for t in vocab])
            metrics.update(tag_metrics(labels, tag_scores, vocab))
        return EvalReport(lib.bundle.name, metrics, skipped, warnings)
    finally:
        lib.close()
