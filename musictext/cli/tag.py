"""`musictext tag`"""

from __future__ import annotations

import sys
from datetime import datetime

import typer

from musictext.cli.output import emit_json, emit_line, err, note, out, safe, stdout_is_tty, visible, warn
from musictext.errors import MusictextError


class TermProgress:
    """Progress of scoring a vocabulary, on stderr: a bar on a terminal, else a line every 10 s.
    Quiet for the first two seconds, so small vocabularies print nothing."""

    def __init__(self):
        import time

        self.clock = time.monotonic
        self.started = self.clock()
        self.last_line = self.started
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.started < 2.0 and self.bar is None:
            return
        if err.is_terminal:
            if self.bar is None:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self.bar = Progress(
                    TextColumn("scoring terms"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=err.real(),
                    transient=True,
                )
                self.bar.start()
                self.task = self.bar.add_task("terms", total=total)
            self.bar.update(self.task, completed=done)
            if done == total:
                self.bar.stop()
        elif now - self.last_line >= 10.0 or (done == total and self.last_line > self.started):
            self.last_line = now
            rate = done / max(now - self.started, 1e-6)
            left = (total - done) / max(rate, 1e-6)
            err.print(f"scoring terms: {done}/{total}, about {left:.0f} s left", markup=False, highlight=False)


def tag_command(
    paths: list[str] = typer.Argument(None, help="Only tracks under these paths (default: the whole library)."),
    vocab: str = typer.Option(
        None, "--vocab", "-v", help="Vocabulary file, or a built-in: genres, moods, instruments, eras."
    ),
    top_k: int = typer.Option(
        None, "--top-k", "-k", min=1, help="At most K terms per track (default 3; a cap, not a quota)."
    ),
    threshold: float = typer.Option(
        None,
        "--threshold",
        min=0.0,
        max=1.0,
        help="Evidence a term needs (default 0.5); with --relative, the library-relative score (0.9: top tenth).",
    ),
    relative: bool = typer.Option(
        False,
        "--relative",
        help="Rank terms within this library instead of needing evidence: the K best terms for every track.",
    ),
    min_margin: float = typer.Option(
        0.0,
        "--min-margin",
        min=0.0,
        max=1.0,
        help="Keep a term only if it beats the best term not chosen by this much.",
    ),
    where: list[str] = typer.Option([], "--where", "-w", help="Filter tracks first (as in search)."),
    field: str = typer.Option("genre", "--field", help="Field for terms outside any \\[section]."),
    field_name: list[str] = typer.Option(
        [], "--field-name", help="Stored tag name for a custom field, e.g. instrument=INSTRUMENTS."
    ),
    write: bool = typer.Option(False, "--write", help="Write the chosen tags into the files."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what --write would change; change nothing."),
    mode: str = typer.Option("add", "--mode", help="add (keep existing values) or replace."),
    touch: bool = typer.Option(False, "--touch", help="Let written files get a new modification time."),
    undo: bool = typer.Option(
        False, "--undo", help="`--undo \\[RUN]`: restore the tags a run changed (default: the last run)."
    ),
    force: bool = typer.Option(
        False, "--force", help="With --undo: restore the snapshot even where tags were changed since (losing that)."
    ),
    wait: bool = typer.Option(
        False, "--wait", help="With --write/--undo: wait for another musictext writer to finish."
    ),
    show_history: bool = typer.Option(False, "--history", help="List tag runs (--json: JSON lines)."),
    model: str = typer.Option(None, "--model", help="Model bundle to score with."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: path, tags (and scores with --scores)."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV: path, tag, field, score."),
    scores: bool = typer.Option(
        False, "--scores", help='With --json: every term\'s evidence (and library-relative score, "relative").'
    ),
) -> None:
    """Tag tracks zero-shot with any vocabulary; --write puts the tags into the files (journaled, undoable)."""
    from musictext.tags import tagging

    if show_history:
        runs = tagging.history()
        if as_json:
            for run in runs:
                emit_json(
                    {
                        "run": run.id,
                        "started": run.started,
                        "finished": run.finished,
                        "undone": run.undone,
                        "files": run.files,
                        "state": run.state,
                        "command": run.args,
                    }
                )
            return
        emit_line(f"{'run':>4}  {'started':<16}  {'files':>5}  {'state':<11}  command")
        for run in runs:
            emit_line(
                f"{run.id:>4}  {datetime.fromtimestamp(run.started):%Y-%m-%d %H:%M}  "
                f"{run.files:>5}  {run.state:<11}  {visible(run.args)}"
            )
        return
    if undo:
        if paths and len(paths) > 1:
            raise typer.BadParameter("--undo takes at most one run number (see --history)")
        run_id, outcomes = tagging.undo(paths[0] if paths else "last", touch=touch, force=force, wait=wait)
        for o in outcomes:
            if o.status == "failed":
                note(f"cannot restore {o.path}: {o.reason}")
            elif o.status == "removed leftover":
                note(f"removed leftover temporary file {o.path}")
            elif o.status == "reverted":
                note(f"{o.path}: edited since; put back only this run's fields")
        restored = sum(o.status in ("restored", "reverted") for o in outcomes)
        failed = sum(o.status == "failed" for o in outcomes)
        note(f"run {run_id}: restored {restored} file(s)")
        if failed:
            raise MusictextError(f"run {run_id}: {failed} file(s) not restored; the run stays undoable")
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
    if relative:
        k = top_k if top_k is not None else (None if threshold is not None else 3)
    else:
        k = top_k if top_k is not None else 3
    result = tagging.score_vocab(
        terms,
        paths=paths or None,
        where=where,
        model=model,
        top_k=k,
        threshold=threshold,
        min_margin=min_margin,
        progress=TermProgress(),
        relative=relative,
    )
    for w in dict.fromkeys(result.warnings):
        warn(w)
    if not relative:
        note(f"{result.untagged} of {len(result.tracks)} track(s) got no tag from this vocabulary (no evidence)")
    if as_json:
        for t in result.tracks:
            row = {"path": t.path, "tags": [{"tag": a, "field": f, "score": s} for a, f, s in t.chosen]}
            if scores:
                row["scores"] = t.scores
                if not relative:
                    row["relative"] = t.relative
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
            wait=wait,
        )
        _report(outcomes, run_id)


def _table(result) -> None:
    if not stdout_is_tty():
        for t in result.tracks:
            emit_line(f"{visible(t.path)}\t" + visible("; ".join(f"{f}={a}" for a, f, _ in t.chosen)))
        return
    from rich.table import Table

    table = Table(show_edge=False)
    table.add_column("track", overflow="fold")
    table.add_column("tags")
    for t in result.tracks:
        table.add_row(safe(t.path), safe(", ".join(f"{a} ({f}, {s:.2f})" for a, f, s in t.chosen)))
    out.print(table)


def _report(outcomes, run_id) -> None:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
        if o.status == "failed":
            note(f"skipping {o.path}: {o.reason}")
            continue
        if o.status == "removed leftover":
            note(f"removed leftover temporary file {o.path}")
            continue
        if o.status in ("would change", "written"):
            note(f"{o.path}")
            for fld in o.after:
                if o.before.get(fld, []) != o.after[fld]:
                    note(f"  {fld}: {o.before.get(fld, [])} -> {o.after[fld]}")
    summary = ", ".join(f"{v} {k}" for k, v in counts.items()) or "nothing to change"
    suffix = f" (run {run_id}; undo with `musictext tag --undo {run_id}`)" if run_id else " (dry run: nothing written)"
    note(summary + suffix)
