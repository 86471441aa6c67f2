"""`musictext models list|verify`"""

from __future__ import annotations

from pathlib import Path

import typer

from musictext.cli.output import emit_json, emit_line, note, safe, visible

app = typer.Typer(
    help="List, verify and inspect model bundles; import a CLAP checkpoint or CLAP ONNX pair.", no_args_is_help=True
)


@app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="JSON lines.")) -> None:
    """List installed model bundles (shipped and trained)."""
    import os

    from musictext.config import DEFAULT_MODEL
    from musictext.model.bundle import list_bundles

    default = os.environ.get("MUSICTEXT_MODEL") or DEFAULT_MODEL
    rows = []
    for b in list_bundles():
        kind = (
            "built-in"
            if b.builtin
            else f"CLAP, concepts from {b.base}"
            if b.manifest.get("kind") == "clap"
            else f"trained from {b.base}"
        )
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
            rows.append(
                ["*" if b.name == default else " ", visible(b.name), visible(b.version), visible(kind), visible(b.path)]
            )
    # Columns as wide as their longest cell, so a long trained model's name does not push the rest.
    widths = [max(len(row[i]) for row in rows) for i in range(4)] if rows else []
    for row in rows:
        emit_line(" ".join(cell.ljust(w) for cell, w in zip(row, widths)) + f" {row[4]}")


@app.command("concepts")
def concepts_command(
    name: str = typer.Argument(None, help="Bundle (default: the default model)."),
    learned: bool = typer.Option(False, "--learned", help="Only the learned concepts."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines."),
) -> None:
    """List the concepts a query can name: tagger tags, measured descriptors, learned concepts."""
    from musictext.cli.output import out, stdout_is_tty
    from musictext.library.space import describe_concepts
    from musictext.model.bundle import get_bundle

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
            table.add_row(safe(c["name"]), "+".join(c["sources"]), safe(", ".join(c["phrases"])), auc)
        out.print(table)
    else:
        for c in concepts:
            emit_line("\t".join([visible(c["name"]), "+".join(c["sources"]), visible(", ".join(c["phrases"]))]))


@app.command("verify")
def verify_command(name: str = typer.Argument(None, help="Bundle to check (default: all).")) -> None:
    """Check every file's sha256 and that each ONNX graph loads and answers a smoke input."""
    from musictext.errors import ModelError
    from musictext.model.bundle import get_bundle, list_bundles
    from musictext.model.verify import verify_bundle

    bundles = [get_bundle(name)] if name else list_bundles()
    bad = 0
    for b in bundles:
        for line, ok in verify_bundle(b):
            (emit_line if ok else note)(visible(f"{'ok  ' if ok else 'FAIL'} {b.name}: {line}"))
            bad += not ok
    if bad:
        raise ModelError(f"{bad} check(s) failed")


@app.command("import-clap")
def import_clap_command(
    checkpoint: Path = typer.Argument(..., help="LAION-CLAP checkpoint (.pt), HTSAT audio + RoBERTa text branch."),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Folder with RoBERTa's vocab.json and merges.txt."),
    name: str = typer.Option(None, "--name", help="Bundle name (default: clap- and the checkpoint's name)."),
    licence: str = typer.Option(
        None, "--licence", help="The checkpoint's licence, as you know it (kept in the manifest)."
    ),
    sha256: str = typer.Option(None, "--sha256", help="Refuse the checkpoint unless its sha256 is this."),
) -> None:
    """Turn a LAION-CLAP checkpoint into a bundle (ONNX, checked against torch); needs the convert extra."""
    from musictext.model.clap import import_checkpoint

    note("converting (torch, then ONNX export and check; a full-size checkpoint takes a few minutes)")
    bundle = import_checkpoint(checkpoint, tokenizer, name, licence, sha256)
    diff = bundle.manifest["clap"]["onnx_max_abs_diff"]
    emit_line(
        visible(
            f"{bundle.name}: {bundle.manifest['clap']['architecture'][:60]}, joint {bundle.manifest['dims']['joint']}"
        )
    )
    emit_line(visible(f"ONNX vs torch max |diff|: audio {diff['audio']:.1e}, text {diff['text']:.1e}"))
    emit_line(visible(f"written to {bundle.path}; index with it: musictext index --model {bundle.name} PATH"))


@app.command("import-onnx")
def import_onnx_command(
    audio: Path = typer.Argument(
        ..., help="CLAP audio graph (log-mel input), e.g. AudioMuse-AI's clap_audio_model.onnx."
    ),
    text: Path = typer.Argument(..., help="CLAP text graph (input_ids + attention_mask), e.g. clap_text_model.onnx."),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="Folder with RoBERTa's vocab.json and merges.txt."),
    contract: str = typer.Option(
        None,
        "--contract",
        help="audiomuse-htsat or audiomuse-student (default: told from the audio graph's input shape).",
    ),
    name: str = typer.Option(None, "--name", help="Bundle name (default: clap- and the audio file's name)."),
    licence: str = typer.Option(None, "--licence", help="The graphs' licence, as you know it (kept in the manifest)."),
) -> None:
    """Turn a CLAP ONNX pair that AudioMuse-AI distributes into a bundle, its contract checked; no torch needed."""
    from musictext.model.clap_onnx import import_onnx

    bundle = import_onnx(audio, text, tokenizer, contract, name, licence)
    c = bundle.manifest["clap"]
    emit_line(visible(f"{bundle.name}: {c['architecture'][:70]}, joint {c['joint']} (contract {c['contract']})"))
    diff = c["reserialise_max_abs_diff"]
    emit_line(
        visible(f"re-serialised graphs vs originals max |diff|: audio {diff['audio']:.1e}, text {diff['text']:.1e}")
    )
    emit_line(visible(f"written to {bundle.path}; index with it: musictext index --model {bundle.name} PATH"))
