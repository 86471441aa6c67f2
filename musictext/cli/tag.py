"""`musictext tag`"""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from musictext.cli.output import emit_json, emit_line, err, out, stdout_is_tty, warn


def tag_command(
    paths: list[str] = typer.Argument(
        None, help="Only tracks under these paths (default: the whole library)."
    ),
    vocab: str = typer.Option(
        None, "--vocab", "-v", help="Vocabulary file, or a built-in: genres, moods, instruments, eras."
    ),
    top_k: int = typer.Option(
        None, "--top-k", "-k", min=1, help="Choose the K best terms per track (default 3)."
    ),
    threshold: float = typer.Option(
        None,
        "--threshold",
        min=0.0,
        max=1.0,
        help="Keep terms whose calibrated score is at least this (0.9: top tenth).",
    ),
    min_margin: float = typer.Option(
        0.0,
        "--min-margin",
        min=0.0,
        max=1.0,
        help="Keep a term only if it beats the best term not chosen by this much.",
    ),
    where: list[str] = typer.Option([], "--where", "-w", help="Filter tracks first (as in search)."),
    field: str = typer.Option("genre", "--field", help="Field for terms outside any [section]."),
    field_name: list[str] = typer.Option(
        [], "--field-name", help="Stored tag name for a custom field, e.g. instrument=INSTRUMENTS."
    ),
    write: bool = typer.Option(False, "--write", help="Write the chosen tags into the files."),
    dry_run: bool = typer.Option(
        False, "--dry-run", "-n", help="Show what --write would change; change nothing."
    ),
    mode: str = typer.Option("add", "--mode", help="add (keep existing values) or replace."),
    touch: bool = typer.Option(False, "--touch", help="Let written files get a new modification time."),
    undo: bool = typer.Option(
        False, "--undo", help="`--undo [RUN]`: restore the tags a run changed (default: the last run)."
    ),
    show_history: bool = typer.Option(False, "--history", help="List tag runs."),
    model: str = typer.Option(None, "--model", help="Model bundle to score with."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: path, tags (and scores with --scores)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV: path, tag, field, score."),
    scores: bool = typer.Option(False, "--scores", help="With --json: every term's calibrated score."),
) -> None:
    """Tag tracks zero-shot with any vocabulary; --write puts the tags into the files (journaled, undoable)."""
    from musictext import tagging

    if show_history:
        for run in tagging.history():
            state = "undone" if run.undone else ("done" if run.finished else "interrupted")
            emit_line(
                f"{run.id:>4}  {datetime.fromtimestamp(run.started):%Y-%m-%d %H:%M}  "
                f"{run.files:>5} file(s)  {state:<11}  {run.args}"
            )
        return
    if undo:
        if paths and len(paths) > 1:
            raise typer.BadParameter("--undo takes at most one run number (see --history)")
        run_id, outcomes = tagging.undo(paths[0] if paths else "last", touch=touch)
        for o in outcomes:
            if o.status == "failed":
                err.print(f"cannot restore {o.path}: {o.reason}", markup=False, highlight=False)
        restored = sum(o.status == "restored" for o in outcomes)
        err.print(f"run {run_id}: restored {restored} file(s)", markup=False)
        return
    if not vocab:
        raise typer.BadParameter("give a vocabulary with --vocab FILE (or genres, moods, instruments, eras)")
    if mode not in ("add", "replace"):
        raise typer.BadParameter("--mode is add or replace")
    field_map = {}
    for item in field_name:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise typer.BadParameter(f"--field-name wants FIELD=TAGNAME, not {item!r}")
        field_map[key.strip().lower()] = value.strip()
    terms = tagging.load_vocab(vocab, default_field=field.lower())
    k = top_k if top_k is not None else (None if threshold is not None else 3)
    result = tagging.score_vocab(
        terms,
        paths=paths or None,
        where=where,
        model=model,
        top_k=k,
        threshold=threshold,
        min_margin=min_margin,
    )
    for w in dict.fromkeys(result.warnings):
        warn(w)
    if as_json:
        for t in result.tracks:
            row = {"path": t.path, "tags": [{"tag": a, "field": f, "score": s} for a, f, s in t.chosen]}
            if scores:
                row["scores"] = t.scores
            emit_json(row)
    elif as_csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "tag", "field", "score"])
        for t in result.tracks:
            for a, f, s in t.chosen:
                writer.writerow([t.path, a, f, s])
    elif not write and not dry_run:
        _table(result)
    if write or dry_run:
        command = "tag " + " ".join(sys.argv[2:])
        run_id, outcomes = tagging.plan_and_write(
            result,
            write=write and not dry_run,
            mode=mode,
            field_map=field_map or None,
            touch=touch,
            command=command,
        )
        _report(outcomes, run_id)


def _table(result) -> None:
    if not stdout_is_tty():
        for t in result.tracks:
            emit_line(f"{t.path}\t" + "; ".join(f"{f}={a}" for a, f, _ in t.chosen))
        return
    from rich.table import Table

    table = Table(show_edge=False)
    table.add_column("track", overflow="fold")
    table.add_column("tags")
    for t in result.tracks:
        table.add_row(t.path, ", ".join(f"{a} ({f}, {s:.2f})" for a, f, s in t.chosen))
    out.print(table)


def _report(outcomes, run_id) -> None:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
        if o.status == "failed":
            err.print(f"skipping {o.path}: {o.reason}", markup=False, highlight=False)
            continue
        if o.status in ("would change", "written"):
            err.print(f"{o.path}", markup=False, highlight=False)
            for fld in o.after:
                if o.before.get(fld, []) != o.after[fld]:
                    err.print(
                        f"  {fld}: {o.before.get(fld, [])} -> {o.after[fld]}", markup=False, highlight=False
                    )
    summary = ", ".join(f"{v} {k}" for k, v in counts.items()) or "nothing to change"
    suffix = (
        f" (run {run_id}; undo with `musictext tag --undo {run_id}`)"
        if run_id
        else " (dry run: nothing written)"
    )
    err.print(summary + suffix, markup=False, highlight=False)
