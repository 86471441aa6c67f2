"""`musictext eval --pairs FILE [--model A --model B] [--tags]`"""

from __future__ import annotations

import math
from pathlib import Path

import typer

from musictext.cli.output import emit_json, note, out, safe, stdout_is_tty, warn

ROWS = (
    ("r@1", "R@1"),
    ("r@5", "R@5"),
    ("r@10", "R@10"),
    ("median_rank", "median rank"),
    ("map@10", "mAP@10"),
    ("a2t_r@1", "audio→text R@1"),
    ("a2t_r@5", "audio→text R@5"),
    ("a2t_r@10", "audio→text R@10"),
    ("a2t_map@10", "audio→text mAP@10"),
)
TAG_ROWS = (("macro_roc_auc", "macro ROC-AUC"), ("macro_pr_auc", "macro PR-AUC"))


def eval_command(
    pairs: Path = typer.Option(..., "--pairs", help="JSONL or CSV: `audio` path + `text` caption and/or `tags`."),
    model: list[str] = typer.Option(
        [], "--model", help="Model to evaluate (repeat to compare; default: musicnn-minilm)."
    ),
    tags: bool = typer.Option(False, "--tags", help="Also score each tag: per-tag ROC-AUC and PR-AUC, macro means."),
    per_tag: bool = typer.Option(False, "--per-tag", help="With --tags, show every tag's scores in the table."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per model."),
) -> None:
    """Measure how well models find the pairs' audio from their captions (and tags)."""
    from musictext.evaluation import evaluate

    reports = evaluate(pairs, list(model) or [None], tags=tags, note=note)
    for r in reports:
        for w in r.warnings:
            warn(w)
    if as_json or not stdout_is_tty():
        for r in reports:
            emit_json(r.as_json(tags))
        return
    from rich.table import Table

    first = reports[0].metrics
    table = Table(title=f"{first['queries']} captions, {first['files']} files", title_justify="left", show_edge=False)
    table.add_column("metric")
    for r in reports:
        table.add_column(safe(r.model), justify="right")
    for key, label in ROWS + (TAG_ROWS if tags else ()):
        table.add_row(label, *(_cell(r.metrics.get(key)) for r in reports))
    if tags and per_tag:
        names = sorted({t for r in reports for t in r.metrics.get("per_tag", {})})
        for t in names:
            table.add_row(
                f"{safe(t)} ROC-AUC", *(_cell(r.metrics["per_tag"].get(t, {}).get("roc_auc")) for r in reports)
            )
    out.print(table)


def _cell(value) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    return f"{value:g}" if float(value).is_integer() else f"{value:.3f}"
