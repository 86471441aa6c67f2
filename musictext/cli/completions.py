"""`musictext completions install|show`"""

from __future__ import annotations

import typer

from musictext.cli.output import emit_line, note

app = typer.Typer(help="Shell completion: install the script for your shell, or print it.", no_args_is_help=True)


@app.command("install")
def install_command(
    shell: str = typer.Argument(None, help="bash, zsh or fish (default: your $SHELL)."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace a script there that musictext did not write."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say where it would go; write nothing."),
) -> None:
    """Put the completion script where your shell loads it from, and say where."""
    from musictext import completion

    shell = shell or completion.default_shell()
    dest = completion.install(shell, force=force, dry_run=dry_run)
    note(f"{'would write' if dry_run else 'wrote'} {dest}")
    if shell == "zsh":
        note(completion.zsh_hint(dest))
    elif shell == "bash":
        note("bash-completion 2 loads it in new shells (or: source it from ~/.bashrc)")
    else:
        note("fish loads it in new shells")


@app.command("show")
def show_command(shell: str = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print the completion script (to source it, or to put it somewhere yourself)."""
    from musictext import completion

    emit_line(completion.script(shell).rstrip("\n"))
