"""`musictext models list|verify`"""

from __future__ import annotations

import typer

from musictext.cli.output import emit_json, emit_line, err

app = typer.Typer(help="List and verify model bundles.", no_args_is_help=True)


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="JSON lines.")) -> None:
    """List installed model bundles (shipped and trained)."""
    import os

    from musictext.bundle import list_bundles
    from musictext.config import DEFAULT_MODEL

    default = os.environ.get("MUSICTEXT_MODEL") or DEFAULT_MODEL
    for b in list_bundles():
        kind = "built-in" if b.builtin else f"trained from {b.base}"
        if as_json:
            emit_json(
                {
                    "name": b.name,
                    "version": b.version,
                    "model_id": b.model_id,
                    "kind": kind,
                    "default": b.name == default,
                    "path": str(b.path),
                }
            )
        else:
            star = "*" if b.name == default else " "
            emit_line(f"{star} {b.name:<24} {b.version:<8} {kind:<28} {b.path}")


@app.command("concepts")
def concepts_command(
    name: str = typer.Argument(None, help="Bundle (default: the default model)."),
    learned: bool = typer.Option(False, "--learned", help="Only the learned concepts."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines."),
) -> None:
    """List the concepts a query can name: tagger tags, measured descriptors, learned concepts."""
    from musictext.bundle import get_bundle
    from musictext.cli.output import out, stdout_is_tty
    from musictext.space import describe_concepts

    concepts = [c for c in describe_concepts(get_bundle(name)) if not learned or "learned" in c["sources"]]
    if as_json:
        for c in concepts:
            emit_json(c)
    elif stdout_is_tty():
        from rich.table import Table

        table = Table(show_edge=False)
        for column in ("concept", "from", "also matches", "validation ROC-AUC"):
            table.add_column(column)
        for c in concepts:
            auc = "" if c.get("validation_auc") is None else f"{c['validation_auc']:.3f}"
            table.add_row(c["name"], "+".join(c["sources"]), ", ".join(c["phrases"]), auc)
        out.print(table)
    else:
        for c in concepts:
            emit_line("\t".join([c["name"], "+".join(c["sources"]), ", ".join(c["phrases"])]))


@app.command("verify")
def verify_command(name: str = typer.Argument(None, help="Bundle to check (default: all).")) -> None:
    """Check every file's sha256 and that each ONNX graph loads and answers a smoke input."""
    from musictext.bundle import get_bundle, list_bundles
    from musictext.errors import ModelError
    from musictext.modelcheck import verify_bundle

    bundles = [get_bundle(name)] if name else list_bundles()
    bad = 0
    for b in bundles:
        for line, ok in verify_bundle(b):
            (emit_line if ok else err.print)(f"{'ok  ' if ok else 'FAIL'} {b.name}: {line}")
            bad += not ok
    if bad:
        raise ModelError(f"{bad} check(s) failed")
