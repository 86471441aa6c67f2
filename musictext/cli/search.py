"""`musictext search QUERY` and `musictext similar PATH`."""

from __future__ import annotations

import typer

from musictext.cli.output import emit_json, emit_line, fmt_duration, out, stdout_is_tty, warn


def render(outcome, as_json: bool, paths_only: bool, explain: bool, title: str) -> None:
    for w in outcome.warnings:
        warn(w)
    if as_json:
        for r in outcome.results:
            t = r.track
            row = {
                "rank": r.rank,
                "score": r.score,
                "path": t.path,
                "artist": t.artist,
                "title": t.title,
                "duration": t.duration,
            }
            if explain:
                row["why"] = [{"concept": c, "contribution": v} for c, v in r.why]
            emit_json(row)
        return
    if paths_only or not stdout_is_tty():
        for r in outcome.results:
            emit_line(r.track.path)
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("track")
    table.add_column("time", justify="right")
    if explain:
        table.add_column("why")
    table.add_column("path", overflow="fold")
    for r in outcome.results:
        cells = [str(r.rank), f"{r.score:.2f}", r.track.display, fmt_duration(r.track.duration)]
        if explain:
            cells.append(", ".join(f"{c} {v:+.1f}" for c, v in r.why[:3]))
        cells.append(r.track.path)
        table.add_row(*cells)
    out.print(table)


def search_command(
    query: str = typer.Argument(
        ..., help='What you want to hear, e.g. "sunny beach day" or "jazz + rain - vocals".'
    ),
    n: int = typer.Option(20, "-n", "--limit", min=1, help="How many tracks to return."),
    where: list[str] = typer.Option(
        [], "--where", "-w", help="Filter first, e.g. 'year>=2000', 'genre:jazz', 'bpm>120'."
    ),
    explain: bool = typer.Option(False, "--explain", help="Show which concepts made each match."),
    model: str = typer.Option(None, "--model", help="Model bundle to search with."),
    as_json: bool = typer.Option(
        False, "--json", help="JSON lines: rank, score, path, artist, title, duration."
    ),
    paths: bool = typer.Option(False, "--paths", help="Bare paths, one per line (for xargs and players)."),
) -> None:
    """Find tracks that match a description."""
    from musictext.search import search

    outcome = search(query, n=n, where=where, model=model, explain=explain)
    if explain and outcome.understood and not as_json:
        from musictext.cli.output import note

        note("understood: " + ", ".join(f"{span!r} → {concept}" for span, concept, _ in outcome.understood))
    render(outcome, as_json, paths, explain, f"{query}")


def similar_command(
    path: str = typer.Argument(..., help="An audio file, in the library or not."),
    n: int = typer.Option(20, "-n", "--limit", min=1, help="How many tracks to return."),
    where: list[str] = typer.Option([], "--where", "-w", help="Filter first (as in search)."),
    model: str = typer.Option(None, "--model", help="Model bundle to use."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines."),
    paths: bool = typer.Option(False, "--paths", help="Bare paths, one per line."),
) -> None:
    """Find tracks that sound like a given file."""
    from musictext.search import similar

    render(similar(path, n=n, where=where, model=model), as_json, paths, False, f"like {path}")
