"""`musictext index PATH...`"""

from __future__ import annotations

from pathlib import Path

import typer

from musictext.cli.options import check_device
from musictext.cli.output import emit_json, err, note
from musictext.config import DEFAULT_WINDOWS


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
        note(f"skipping {path}: {reason}")

    def note(self, message: str) -> None:
        if not self.quiet:
            note(message)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def index_command(
    paths: list[Path] = typer.Argument(None, help="Folders (or files) holding your music."),
    full: bool = typer.Option(False, "--full", help="Analyse every 3 s of every track instead of a sample."),
    windows: int = typer.Option(
        DEFAULT_WINDOWS,
        "--windows",
        min=1,
        max=256,
        help="3-second windows analysed per track in the default sampled mode.",
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="Skip paths matching this glob (repeatable)."),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="Forget tracks whose files are gone."),
    device: str = typer.Option("auto", "--device", callback=check_device, help="auto, cpu or cuda."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (0: one per core)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another running index instead of exiting."),
    model: str = typer.Option(None, "--model", help="Model bundle (default: musicnn-minilm)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or notes."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also say which device runs the model, and why."),
    engine: str = typer.Option(
        "local", "--engine", help="Where tracks are analysed: local (worker processes) or ray (a Ray cluster)."
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="With --engine ray: ray://HOST:PORT, HOST:PORT or auto (default: a local cluster for this run).",
    ),
    ray_cpus: float = typer.Option(1.0, "--ray-cpus", min=0.0, help="With --engine ray: CPUs per actor."),
    ray_gpus: float = typer.Option(0.0, "--ray-gpus", min=0.0, help="With --engine ray: GPUs per actor."),
    export: tuple[str, Path] = typer.Option(
        (None, None), "--export", help="Also write the tracks' features and vectors as shards: --export parquet DIR."
    ),
    import_dir: Path = typer.Option(
        None, "--import", help="Load Parquet shards (made by --export) into the library instead of scanning."
    ),
) -> None:
    """Add the audio files under PATHS to the library (new and changed files only)."""
    from musictext.errors import UsageError
    from musictext.library.index import ENGINES, index_library

    if engine not in ENGINES:
        raise typer.BadParameter(f"{engine!r} is not one of {', '.join(ENGINES)}", param_hint="--engine")
    if engine != "ray" and (address or ray_cpus != 1.0 or ray_gpus):
        raise UsageError("--address, --ray-cpus and --ray-gpus go with --engine ray")
    if import_dir is not None:
        if paths:
            raise UsageError("index --import DIR takes no PATHS: it loads shards instead of scanning")
        _import(import_dir, model, wait, as_json, quiet)
        return
    if not paths:
        raise UsageError("name the folders to index (musictext index ~/Music), or --import DIR")
    from musictext.audio.ray_engine import RayOptions

    if export[0] is not None:
        from musictext.library.shards import require_export

        require_export(export[0])
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
            announce_device=verbose or device != "auto",
            engine=engine,
            ray=RayOptions(address=address, num_cpus=ray_cpus, num_gpus=ray_gpus),
        )
    finally:
        progress.stop()
    if export[0] is not None:
        from musictext.library.shards import export_shards

        exported = export_shards(paths, export[1], export[0], model)
        if not quiet:
            note(f"exported {exported.tracks} track(s) to {exported.shards} shard(s) in {exported.folder}")
    if report.failed_before:
        err.print(_failed_before_line(report), markup=False, highlight=False)
    if as_json:
        emit_json(report.as_json())
        return
    r = report
    speed = f", {r.audio_seconds / r.wall_seconds:.0f}x real time" if r.wall_seconds and r.audio_seconds else ""
    err.print(
        f"indexed {r.indexed}, unchanged {r.unchanged}, moved {r.moved}, removed {r.removed}, failed {r.failed}"
        f" in {r.wall_seconds:.1f} s{speed}",
        markup=False,
        highlight=False,
    )
    if r.failed:
        err.print("`musictext status --errors` lists the files that could not be read.", markup=False)


def _import(folder: Path, model: str | None, wait: bool, as_json: bool, quiet: bool) -> None:
    from musictext.library.shards import import_shards

    report = import_shards(folder, model, wait, RichProgress(quiet))
    if as_json:
        emit_json(report.as_json())
        return
    err.print(
        f"imported {report.imported}, unchanged {report.unchanged} from {report.shards} shard(s)",
        markup=False,
        highlight=False,
    )


def _failed_before_line(report) -> str:
    """One line for every file that failed before and is unchanged (not one line per file)."""
    shown = report.failed_before_reasons[:3]
    why = "; ".join(f"{reason}: {count}" for reason, count in shown)
    if len(report.failed_before_reasons) > len(shown):
        why += "; …"
    return (
        f"{report.failed_before} file(s) failed before and are unchanged since the last run, not retried ({why});"
        " `musictext status --errors` lists them"
    )
