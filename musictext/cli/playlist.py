"""`musictext playlist`"""

from __future__ import annotations

import os

import typer

from musictext.cli.output import emit_json, emit_path, fmt_duration, note, out, safe, stdout_is_tty, warn


def _render(playlist, as_json: bool, paths_only: bool, extra: dict | None = None, paths0: bool = False) -> None:
    if as_json:
        for e in playlist.entries:
            emit_json({**(extra or {}), **e.as_json()})
        return
    if paths0 or paths_only or not stdout_is_tty():
        for e in playlist.entries:
            emit_path(e.track.path, nul=paths0)
        return
    from rich.table import Table

    table = Table(
        title=f"{safe(playlist.name)}  ({len(playlist)} tracks, {fmt_duration(playlist.duration)})",
        title_justify="left",
        show_edge=False,
    )
    table.add_column("#", justify="right")
    table.add_column("track")
    table.add_column("time", justify="right")
    table.add_column("score", justify="right")
    table.add_column("path", overflow="fold")
    for e in playlist.entries:
        table.add_row(
            str(e.position),
            safe(e.track.display),
            fmt_duration(e.track.duration),
            f"{e.score:.2f}",
            safe(e.track.path),
        )
    out.print(table)


def playlist_command(
    query: str = typer.Argument(None, help='What the playlist should sound like, e.g. "rainy sunday jazz".'),
    like: list[str] = typer.Option([], "--like", help="A seed song (repeatable); mixes with words."),
    start: str = typer.Option(None, "--from", help="Walk from this song ... (with --to)."),
    end: str = typer.Option(None, "--to", help="... to this one, changing gradually on the way."),
    n: int = typer.Option(
        None, "-n", "--limit", min=1, help="How many tracks (default 20; 12 for --from/--to, both ends included)."
    ),
    duration: str = typer.Option(None, "--duration", help="How long: 90m, 1h30m, 3600s (ends within one track)."),
    diversity: float = typer.Option(
        0.0, "--diversity", min=0.0, max=1.0, help="0: best matches in order; towards 1: more variety (MMR)."
    ),
    artist_gap: int = typer.Option(
        0, "--artist-gap", min=0, help="At least N other tracks between two by one artist (untagged: exempt)."
    ),
    where: list[str] = typer.Option([], "--where", "-w", help="Filter tracks first (as in search)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Leave out the tracks of this m3u/m3u8 (repeatable)."),
    auto: int = typer.Option(
        None, "--auto", min=1, help="Split the library into K named playlists, written into -o DIR/."
    ),
    output: str = typer.Option(None, "--output", "-o", help="Write an M3U8 file (or files into a folder)."),
    target_kind: str = typer.Option(
        None,
        "--for",
        metavar="SERVER",
        help="Write it the way this server reads playlists: mpd, navidrome, jellyfin or generic "
        "(default: generic, or `for` in config.toml). --for mpd without -o: into MPD's playlist_directory.",
    ),
    music_dir: str = typer.Option(
        None, "--music-dir", help="The server's music folder as this machine sees it (MPD: read from mpd.conf)."
    ),
    path_map: list[str] = typer.Option(
        [], "--path-map", metavar="LOCAL=SERVER", help="With --absolute: how the server sees a folder (repeatable)."
    ),
    update: list[str] = typer.Option(
        [], "--update", metavar="NAME|FILE", help="Remake a playlist musictext wrote, after a re-index (repeatable)."
    ),
    absolute: bool = typer.Option(False, "--absolute", help="Absolute paths in the file (default: relative)."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite an existing playlist file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the playlist and where it would go; write nothing."),
    model: str = typer.Option(None, "--model", help="Model bundle to use."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines: position, path, artist, title, duration, score."),
    paths: bool = typer.Option(False, "--paths", help="Bare paths, one per line."),
    paths0: bool = typer.Option(False, "--paths0", help="Bare paths, each ended by a NUL (for xargs -0)."),
    pick: int = typer.Option(None, "--pick", min=1, help='Which name "like X" means when it may mean several.'),
    same_album: bool = typer.Option(False, "--same-album", help='With "like X": keep tracks of the seed\'s album.'),
) -> None:
    """Make a playlist from words, from songs (--like), between two songs (--from/--to), or --auto."""
    from musictext import playlists
    from musictext.errors import MusictextError

    if update:
        if query or like or start or end or auto or output or n is not None or duration or diversity or artist_gap:
            raise typer.BadParameter("--update remakes a playlist from the recipe written in it: no other recipe")
        if where or exclude or target_kind or music_dir or path_map or absolute or force or model:
            raise typer.BadParameter("--update writes the playlist as it was made: no --where, --for or file options")
        _update(update, dry_run, as_json, paths, paths0)
        return
    target = playlists.resolve_target(target_kind, music_dir, absolute, path_map)
    if output is None and target_kind is not None:
        if target.home is None:
            raise typer.BadParameter(f"--for {target.kind}: where should the playlist go? give -o FILE or -o DIR/")
        output = f"{target.home}{os.sep}"
    seconds = None
    if auto is not None:
        if query or like or start or end or n is not None or duration or diversity or pick or same_album:
            raise typer.BadParameter(
                "--auto shares out the whole library: it takes no words, --like, "
                "--from/--to, -n, --duration or --diversity"
            )
        if output is None and not as_json:
            raise typer.BadParameter("--auto writes K playlists: give a folder with -o DIR/ (or print --json)")
        lists = playlists.auto_playlists(auto, artist_gap=artist_gap, where=where, exclude=exclude, model=model)
    else:
        if (start is None) != (end is None):
            raise typer.BadParameter("--from and --to go together")
        if start is not None and _same_file(start, end):
            raise typer.BadParameter("--from and --to name the same song: a walk needs two different ones")
        if start is not None and (query or like):
            raise typer.BadParameter("--from/--to make a walk between two songs: no words or --like with it")
        if start is None and not query and not like:
            raise typer.BadParameter("give words, --like SONG, --from A --to B, or --auto K")
        if start is not None and n is not None and n < 2:
            raise typer.BadParameter("a walk has at least 2 tracks (-n 2)")
        try:
            seconds = playlists.parse_duration(duration) if duration else None
        except MusictextError as exc:
            raise typer.BadParameter(exc.message) from None
        lists = [
            playlists.make_playlist(
                query,
                like,
                start,
                end,
                n=n,
                duration=seconds,
                diversity=diversity,
                artist_gap=artist_gap,
                where=where,
                exclude=exclude,
                model=model,
                pick=pick,
                same_album=same_album,
            )
        ]

    for pl in lists:
        for w in pl.warnings:
            warn(w)
    folder = auto is not None or (output is not None and playlists.names_folder(output))
    targets = playlists.output_paths(lists, output, folder, target.ext, target.stem) if output else [None] * len(lists)
    if output:
        for line in target.notes:
            note(line)
        for w in [w for dest in targets for w in target.check(dest)]:
            warn(w)
    recipe = playlists.Recipe(
        query=query,
        like=like,
        start=start,
        end=end,
        n=n,
        duration=seconds,
        diversity=diversity,
        artist_gap=artist_gap,
        where=where,
        exclude=exclude,
        model=model,
        pick=pick,
        same_album=same_album,
        auto=auto,
    )
    if output and not dry_run:
        playlists.save_playlists(list(zip(lists, targets)), recipe, target, force=force, make_folders=folder)
    elif output:
        playlists.check_targets(targets, force, make_folders=folder)  # a dry run fails where the real one would

    for pl, dest in zip(lists, targets):
        extra = {"playlist": pl.name, "file": str(dest) if dest else None} if auto is not None else None
        extra = {**(extra or {}), "seed": pl.seed} if pl.seed else extra
        if dest is None or dry_run or as_json:
            _render(pl, as_json, paths, extra, paths0)
        summary = f"{len(pl)} tracks, {fmt_duration(pl.duration)}"
        if dest is not None:
            for path, why in playlists.m3u8_skips(pl, dest, target.style(dest)):
                note(f"skipping {path}: {why}")
            note(f"{'would write' if dry_run else 'wrote'} {dest} ({pl.name!r}: {summary})")


def _update(refs: list[str], dry_run: bool, as_json: bool, paths: bool, paths0: bool) -> None:
    from musictext import playlists
    from musictext.errors import MusictextError

    done, failures = playlists.update_playlists(refs, dry_run=dry_run)
    for u in done:
        for w in u.playlist.warnings:
            warn(w)
        if dry_run or as_json or paths or paths0:
            _render(u.playlist, as_json, paths, {"playlist": u.playlist.name, "file": str(u.dest)}, paths0)
        for path, why in playlists.m3u8_skips(u.playlist, u.dest, u.target.style(u.dest)):
            note(f"skipping {path}: {why}")
        verb = ("would write" if dry_run else "wrote") if u.new_file else ("would update" if dry_run else "updated")
        change = "new" if u.new_file else f"+{u.added} -{u.dropped}"
        note(f"{verb} {u.dest} ({u.playlist.name!r}: {len(u.playlist)} tracks, {change})")
    for line in failures:
        warn(line)
    if failures:
        raise MusictextError(f"{len(failures)} playlist(s) not updated")


def _same_file(a: str, b: str) -> bool:
    import os

    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))
