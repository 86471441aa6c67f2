"""The `musictext` command: global options, subcommand registration, and one error handler."""

from __future__ import annotations

import sys

import typer

from musictext import __version__
from musictext.cli import eval as evalcmd
from musictext.cli import index, models, playlist, search, status, tag, train
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
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    """musictext: describe the music you want; it finds it in your library."""


app.command("index")(index.index_command)
app.command("search")(search.search_command)
app.command("similar")(search.similar_command)
app.command("tag")(tag.tag_command)
app.command("playlist")(playlist.playlist_command)
app.command("status")(status.status_command)
app.command("train")(train.train_command)
app.command("eval")(evalcmd.eval_command)
app.add_typer(models.app, name="models")


def main() -> None:
    """Entry point: run the app and turn every MusictextError into one line and an exit code."""
    try:
        app(standalone_mode=False)
    except MusictextError as exc:
        from rich.markup import escape

        from musictext.cli.output import err

        err.print(f"[red]musictext: error:[/] {escape(str(exc))}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors (Typer may vendor its own click, so recognise them by shape).
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        raise
