"""The `musictext` command: global options, subcommand registration, and one error handler."""

from __future__ import annotations

import os
import signal
import sys

import typer

from musictext import __version__
from musictext.cli import completions, duplicates, index, models, playlist, search, serve, status, tag, train
from musictext.cli import eval as evalcmd
from musictext.errors import ExitCode, MusictextError

app = typer.Typer(
    name="musictext",
    help="Search, tag and build playlists from your own music library by describing music in words. "
    "Everything runs offline on your machine.",
    no_args_is_help=True,
    add_completion=False,  # static scripts in completions/ instead
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"musictext {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """musictext: describe the music you want; it finds it in your library."""


app.command("index")(index.index_command)
app.command("search", cls=search.QueryCommand)(search.search_command)
app.command("similar")(search.similar_command)
app.command("tag")(tag.tag_command)
app.command("playlist", cls=search.QueryCommand)(playlist.playlist_command)
app.command("status")(status.status_command)
app.command("duplicates")(duplicates.duplicates_command)
app.command("train")(train.train_command)
app.command("eval")(evalcmd.eval_command)
app.command("serve")(serve.serve_command)
app.add_typer(models.app, name="models")
app.add_typer(completions.app, name="completions")


def _terminate(signum, frame) -> None:
    """SIGTERM unwinds like Ctrl-C (worker pools stop, the lock is released), then exits 143."""
    raise _Terminated()


class _Terminated(BaseException):
    pass


def _fail(message: str, code: int) -> None:
    from musictext.cli.output import error

    error(message)
    sys.exit(code)


def _interrupted(code: int = ExitCode.INTERRUPTED) -> None:
    sys.stderr.write("musictext: interrupted\n")
    sys.stderr.flush()
    sys.exit(code)


def main() -> None:
    """Entry point: run the app and turn every MusictextError into one line and an exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _run()
    finally:
        # The command is over (its work committed or rolled back): a signal from here to the end of
        # interpreter shutdown (pool and thread exit hooks) ends the process at once, with the same one
        # line and code as during the run, never a traceback from an exit hook.
        signal.signal(signal.SIGINT, _interrupted_late)
        signal.signal(signal.SIGTERM, _interrupted_late)
        _report_skipped_bundles()


# Commands whose work is over, committed and closed when they return: they end without the
# interpreter's tear-down (freeing every module and array: 65 ms of a 0.36 s cold search, measured side
# by side in benchmarks/RESULTS.md, section search-cold-parts). Not index, tag, train or serve, whose
# libraries (multiprocessing, Ray, uvicorn, torch) clean up in exit hooks.
FAST_EXIT_COMMANDS = frozenset({"search", "similar", "playlist", "status", "duplicates"})


def run() -> None:
    """The console entry point: ``main()``, then, for a read-only command, an exit that skips the
    interpreter's tear-down once everything printed is flushed."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            sys.stderr.write(f"{exc.code}\n")
    if _may_exit_fast():
        _flush_std()
        os._exit(code)
    sys.exit(code)


def _may_exit_fast() -> bool:
    import threading

    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    if not words or words[0] not in FAST_EXIT_COMMANDS:
        return False
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return False
    mp = sys.modules.get("multiprocessing")
    return not (mp is not None and mp.active_children()) and "ray" not in sys.modules


def _flush_std() -> None:
    """Flush stdout and stderr before an ``os._exit``, which skips the buffers."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more can be said there
            pass


def _interrupted_late(signum, frame) -> None:
    _flush_std()
    sys.stderr.write("musictext: interrupted\n")
    sys.stderr.flush()
    os._exit(ExitCode.INTERRUPTED if signum == signal.SIGINT else 128 + signum)


def _report_skipped_bundles() -> None:
    from musictext.model.bundle import skipped_bundles

    if skipped_bundles:
        from musictext.cli.output import warn

        for path, reason in skipped_bundles.items():
            warn(f"skipping model bundle {path}: {reason}")


def _run() -> None:
    try:
        rv = app(standalone_mode=False)
    except MusictextError as exc:
        _fail(str(exc), exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _interrupted()
    except _Terminated:
        _interrupted(128 + signal.SIGTERM)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors (Typer may vendor its own click, so recognise them by shape).
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            if "No such option" in str(getattr(exc, "format_message", lambda: "")()):
                sys.stderr.write("Hint: words that start with '-' go after '--': musictext search -- '-vocals jazz'\n")
            sys.exit(exc.exit_code)
        import sqlite3

        if isinstance(exc, sqlite3.Error):  # the store wraps what it can; this is the last line
            _fail(f"library database error: {exc}", ExitCode.ERROR)
        if isinstance(exc, OSError) and exc.strerror:
            _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror}", ExitCode.ERROR)
        raise
    # In standalone_mode=False Typer turns Ctrl-C into a returned 130 (and an explicit Exit into its code).
    if rv == ExitCode.INTERRUPTED:
        _interrupted()
    if isinstance(rv, int) and rv:
        sys.exit(rv)
