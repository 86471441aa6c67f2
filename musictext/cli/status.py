"""`musictext status`"""

from __future__ import annotations

import typer

from musictext.cli.output import emit_json, emit_line, fmt_duration, out


def status_command(
    errors: bool = typer.Option(False, "--errors", help="List every file that could not be indexed."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Show the library: where it is, how many tracks per model, failed files, index health."""
    from dataclasses import asdict

    from musictext.library_status import library_status

    s = library_status()
    if as_json:
        d = asdict(s)
        d["errors"] = [{"path": p, "reason": r} for p, r in s.errors]
        emit_json(d)
        return
    emit_line(f"library   {s.database}")
    emit_line(f"tracks    {s.tracks} ({fmt_duration(s.audio_seconds)} of audio)")
    for model, info in s.models.items():
        emit_line(f"model     {model}: {info['tracks']} tracks, index {info['index']}")
    if not s.models:
        emit_line("model     none yet: run `musictext index PATH`")
    emit_line(
        f"failed    {len(s.errors)} file(s)" + ("" if errors or not s.errors else " (--errors lists them)")
    )
    if errors:
        for path, reason in s.errors:
            out.print(f"  {path}: {reason}", markup=False, highlight=False)
