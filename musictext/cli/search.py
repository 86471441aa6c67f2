"""`musictext search QUERY` and `musictext similar PATH`."""

from __future__ import annotations

import typer
from typer.core import TyperCommand

from musictext.cli.output import emit_json, emit_line, emit_path, fmt_duration, out, safe, stdout_is_tty, visible, warn


class QueryCommand(TyperCommand):
    """A query may start with a minus ("- vocals" means "without vocals"): an argument that is a
    dash followed by a space can never be an option, so it is passed on as the query (after a
    ``--``, which also works by hand: ``musictext search -- "-vocals"``)."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if "--" not in args:
            queries = [a for a in args if len(a) > 1 and a[0] == "-" and a[1].isspace()]
            if queries:
                args = [a for a in args if a not in queries] + ["--", *queries]
        return super().parse_args(ctx, args)


def _need_words(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter('describe what you want to hear, e.g. "sunny beach day"')
    return value


def _why(result) -> str:
    """A result's three largest reasons, as the table's "why" column shows them."""
    return ", ".join(f"{c} {v:+.1f}" for c, v in result.why[:3])


def render(outcome, as_json: bool, paths_only: bool, explain: bool, title: str, paths0: bool = False) -> None:
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
            if getattr(outcome, "seed", None):
                row["seed"] = outcome.seed
            emit_json(row)
        return
    if paths0 or paths_only:
        for r in outcome.results:
            emit_path(r.track.path, nul=paths0)
        return
    if not stdout_is_tty():
        # Piped: one path a line, as `rg -l` does; with --explain the reasons follow a tab, so that
        # `search --explain | less` does not drop what was asked for (`cut -f1` gives the paths back).
        for r in outcome.results:
            if explain:
                emit_line(visible(r.track.path) + "\t" + visible(_why(r)))
            else:
                emit_path(r.track.path)
        return
    from rich.table import Table

    table = Table(title=safe(title), title_justify="left", show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("track")
    table.add_column("time", justify="right")
    if explain:
        table.add_column("why")
    table.add_column("path", overflow="fold")
    for r in outcome.results:
        cells = [str(r.rank), f"{r.score:.2f}", safe(r.track.display), fmt_duration(r.track.duration)]
        if explain:
            cells.append(safe(_why(r)))
        cells.append(safe(r.track.path))
        table.add_row(*cells)
    out.print(table)


def search_command(
    query: str = typer.Argument(
        ...,
        callback=_need_words,
        help='What you want to hear, e.g. "sunny beach day" or "jazz + rain - vocals".',
    ),
    n: int = typer.Option(20, "-n", "--limit", min=1, help="How many tracks to return."),
    where: list[str] = typer.Option(
        [], "--where", "-w", help="Filter first, e.g. 'year>=2000', 'genre:jazz', 'bpm>120'."
    ),
    explain: bool = typer.Option(
        False, "--explain", help="Show why each result matched: concepts, lexicon entries, joint-space similarity."
    ),
    model: str = typer.Option(None, "--model", help="Model bundle to search with."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: rank, score, path, artist, title, duration."),
    paths: bool = typer.Option(False, "--paths", help="Bare paths, one per line (for xargs and players)."),
    paths0: bool = typer.Option(False, "--paths0", help="Bare paths, each ended by a NUL (for xargs -0)."),
    all_copies: bool = typer.Option(
        False, "--all-copies", help="List every copy of a file (same content, or a symlink) instead of one."
    ),
    pick: int = typer.Option(None, "--pick", min=1, help='Which name "like X" means when it may mean several.'),
    same_album: bool = typer.Option(False, "--same-album", help='With "like X": keep tracks of the seed\'s album.'),
) -> None:
    """Find tracks that match a description, or that are like a title, artist or album ("like X")."""
    from musictext.search import search

    outcome = search(
        query, n=n, where=where, model=model, explain=explain, all_copies=all_copies, pick=pick, same_album=same_album
    )
    if explain and outcome.seed and not as_json:
        from musictext.cli.output import note
        from musictext.seeds import describe_seed

        note(describe_seed(outcome.seed))
    if explain and outcome.understood and not as_json:
        from musictext.cli.output import note

        note("understood: " + ", ".join(f"{span!r} → {concept}" for span, concept, _ in outcome.understood))
    render(outcome, as_json, paths, explain, f"{query}", paths0)


def render_artists(outcome, as_json: bool, paths_only: bool) -> None:
    """`similar --artist`: one artist a line (names when piped, JSON lines, or a table)."""
    for w in outcome.warnings:
        warn(w)
    if as_json:
        seed = {"kind": "artist", "name": outcome.seed.name, "confidence": outcome.seed.confidence}
        for r in outcome.results:
            emit_json({"rank": r.rank, "score": r.score, "artist": r.artist, "tracks": r.tracks, "seed": seed})
        return
    if paths_only or not stdout_is_tty():
        for r in outcome.results:
            emit_line(visible(r.artist))
        return
    from rich.table import Table

    table = Table(title=safe(f"artists like {outcome.seed.name}"), title_justify="left", show_edge=False)
    for name, justify in (("#", "right"), ("score", "right"), ("artist", "left"), ("tracks", "right")):
        table.add_column(name, justify=justify)
    for r in outcome.results:
        table.add_row(str(r.rank), f"{r.score:.2f}", safe(r.artist), str(r.tracks))
    out.print(table)


def similar_command(
    path: str = typer.Argument(None, help="An audio file, in the library or not."),
    artist: str = typer.Option(None, "--artist", help="Artists that sound like this one (from the library's tags)."),
    pick: int = typer.Option(
        None, "--pick", min=1, help="With --artist: which artist, when the name may mean several."
    ),
    n: int = typer.Option(20, "-n", "--limit", min=1, help="How many tracks to return."),
    where: list[str] = typer.Option([], "--where", "-w", help="Filter first (as in search)."),
    model: str = typer.Option(None, "--model", help="Model bundle to use."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines."),
    paths: bool = typer.Option(False, "--paths", help="Bare paths, one per line."),
    paths0: bool = typer.Option(False, "--paths0", help="Bare paths, each ended by a NUL (for xargs -0)."),
    all_copies: bool = typer.Option(
        False, "--all-copies", help="List every copy of a file (same content, or a symlink) instead of one."
    ),
) -> None:
    """Find tracks that sound like a given file (never the file itself or its copies), or artists
    that sound like an artist (--artist)."""
    if (path is None) == (artist is None):
        raise typer.BadParameter("give a file, or --artist NAME")
    if artist is not None:
        from musictext.search import similar_artists

        return render_artists(similar_artists(artist, n=n, where=where, model=model, pick=pick), as_json, paths)
    from musictext.library.scan import printable_path
    from musictext.search import similar

    outcome = similar(path, n=n, where=where, model=model, all_copies=all_copies)
    render(outcome, as_json, paths, False, f"like {printable_path(path)}", paths0)
