"""`musictext index PATH...`"""

from __future__ import annotations

from pathlib import Path

import typer

from musictext.cli.output import emit_json, err, note


class RichProgress:
    """Progress bar on a TTY (files, tracks/s, x real time, ETA); one line per skipped file always."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None
        self.task = None
        self.audio = 0.0
        self.started = None

    def start(self, total: int) -> None:
        import time

        self.started = time.monotonic()
        if self.quiet or total == 0 or not err.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=err.real(),
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("index", total=total, rate="")

    def advance(self, path: str, audio_seconds: float) -> None:
        import time

        self.audio += audio_seconds
        if self.bar is not None:
            wall = max(time.monotonic() - self.started, 1e-6)
            done = self.bar.tasks[0].completed + 1
            self.bar.update(
                self.task, advance=1, rate=f"{done / wall:.1f} tracks/s  {self.audio / wall:.0f}x real time"
            )

    def skip(self, path: str, reason: str) -> None:
        err.print(f"skipping {path}: {reason}", markup=False, highlight=False)

    def note(self, message: str) -> None:
        if not self.quiet:
            note(message)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def index_command(
    paths: list[Path] = typer.Argument(..., help="Folders (or files) holding your music."),
    full: bool = typer.Option(False, "--full", help="Analyse every 3 s of every track instead of a sample."),
    windows: int = typer.Option(
        8,
        "--windows",
        min=1,
        max=256,
        help="3-second windows analysed per track in the default sampled mode.",
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip paths matching this glob (repeatable)."),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="Forget tracks whose files are gone."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (0: one per core)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another running index instead of exiting."),
    model: str = typer.Option(None, "--model", help="Model bundle (default: musicnn-minilm)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or notes."),
) -> None:
    """Add the audio files under PATHS to the library (new and changed files only)."""
    from musictext.indexer import index_library

    progress = RichProgress(quiet)
    try:
        report = index_library(
            paths,
            excludes=exclude,
            budget=None if full else windows,
            device=device,
            jobs=jobs or None,
            prune=prune,
            wait=wait,
            model=model,
            progress=progress,
        )
    finally:
        progress.stop()
    if as_json:
        emit_json(report.as_json())
        return
    r = report
    speed = (
        f", {r.audio_seconds / r.wall_seconds:.0f}x real time" if r.wall_seconds and r.audio_seconds else ""
    )
    err.print(
        f"indexed {r.indexed}, unchanged {r.unchanged}, moved {r.moved}, removed {r.removed}, failed {r.failed}"
        f" in {r.wall_seconds:.1f} s{speed}",
        markup=False,
        highlight=False,
    )
    if r.failed:
        err.print("`musictext status --errors` lists the files that could not be read.", markup=False)
