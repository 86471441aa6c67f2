"""`musictext serve`"""

from __future__ import annotations

import typer

from musictext.serve import DEFAULT_HOST, DEFAULT_PORT


def serve_command(
    host: str = typer.Option(
        DEFAULT_HOST, "--host", help="Address to listen on (other than loopback: needs --token-file)."
    ),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port to listen on."),
    model: str = typer.Option(None, "--model", help="Model bundle to search with."),
    token_file: str = typer.Option(
        None, "--token-file", help="A file holding the token clients send as `Authorization: Bearer TOKEN`."
    ),
    playlist_dir: str = typer.Option(
        None, "--playlist-dir", help="Folder where the page and the API may save playlists (default: saving is off)."
    ),
    subsonic: str = typer.Option(None, "--subsonic", metavar="URL", help="Answer with a Subsonic server's song ids."),
    user: str = typer.Option(None, "--user", help="With --subsonic: the user name."),
    password_file: str = typer.Option(None, "--password-file", help="With --subsonic: a file holding the password."),
    jellyfin: str = typer.Option(None, "--jellyfin", metavar="URL", help="Answer with a Jellyfin server's item ids."),
    api_key_file: str = typer.Option(None, "--api-key-file", help="With --jellyfin: a file holding an API key."),
) -> None:
    """Serve the library on the network: a web page, a JSON API, audio streaming, and the endpoints
    AudioMuse-AI's Navidrome/Jellyfin plugins and OpenSubsonic sonicSimilarity clients call. Read-only."""
    import os

    from musictext.cli.output import note
    from musictext.serve.app import ServeOptions, serve
    from musictext.serve.guard import read_token

    if subsonic and jellyfin:
        raise typer.BadParameter("--subsonic or --jellyfin, not both")
    if subsonic and not (user and password_file):
        raise typer.BadParameter("--subsonic needs --user and --password-file")
    if jellyfin and not api_key_file:
        raise typer.BadParameter("--jellyfin needs --api-key-file")
    if (user or password_file) and not subsonic:
        raise typer.BadParameter("--user and --password-file go with --subsonic")
    if api_key_file and not jellyfin:
        raise typer.BadParameter("--api-key-file goes with --jellyfin")
    media = None
    if subsonic or jellyfin:
        from musictext.serve import mediaservers as ms

        source = (
            ms.SubsonicSource(subsonic, user, ms.read_secret(password_file, "password file"))
            if subsonic
            else ms.JellyfinSource(jellyfin, ms.read_secret(api_key_file, "API key file"))
        )
        media = ms.MediaBridge(source)
    folder = None
    if playlist_dir:
        folder = os.path.abspath(os.path.expanduser(playlist_dir))
        if not os.path.isdir(folder):
            from musictext.errors import NotFoundError

            raise NotFoundError("--playlist-dir is not a folder", folder)
    opts = ServeOptions(
        host=host,
        port=port,
        model=model,
        token=read_token(token_file) if token_file else None,
        playlist_dir=folder,
        media=media,
    )
    serve(opts, notify=note)
