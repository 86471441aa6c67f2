"""`musictext status`"""

from __future__ import annotations

import typer

from musictext.cli.output import emit_json, emit_line, fmt_duration, note, visible


def status_command(
    errors: bool = typer.Option(False, "--errors", help="List every file that could not be indexed."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
    repair: bool = typer.Option(
        False, "--repair", help="First remove temporary files left by killed tag writes (.NAME.*.musictext-tmp)."
    ),
) -> None:
    """Show the library: where it is, how many tracks per model, failed files, index health."""
    from dataclasses import asdict

    from musictext.library.status import library_status

    if repair:
        from musictext.tags.tagging import repair as remove_leftovers

        removed = remove_leftovers()
        for path in removed:
            note(f"removed leftover temporary file {path}")
        note(f"repair: removed {len(removed)} leftover temporary file(s)")
    s = library_status()
    if as_json:
        d = asdict(s)
        d["errors"] = [{"path": p, "reason": r} for p, r in s.errors]
        emit_json(d)
        return
    emit_line(f"library   {visible(s.database)}")
    emit_line(f"tracks    {s.tracks} ({fmt_duration(s.audio_seconds)} of audio)")
    for model, info in s.models.items():
        emit_line(f"model     {visible(model)}: {info['tracks']} tracks, index {visible(info['index'])}")
        if info.get("short"):
            emit_line(f"short     {info['short']} track(s) under 6 s: too short to judge by tempo or loudness")
    if not s.models:
        emit_line("model     none yet: run `musictext index PATH`")
    mood = s.mood
    if mood.get("present"):
        emit_line(f"mood      vibenet {mood['version']}: mood axes for {mood['tracks']} of {s.tracks} tracks")
    elif mood.get("problem"):
        emit_line(f"mood      unavailable: {visible(mood['problem'])}")
    else:
        emit_line(f"mood      no mood axes (optional: {mood.get('install')})")
    emit_line(f"failed    {len(s.errors)} file(s)" + ("" if errors or not s.errors else " (--errors lists them)"))
    if errors:
        for path, reason in s.errors:
            emit_line(f"  {visible(path)}: {visible(reason)}")
