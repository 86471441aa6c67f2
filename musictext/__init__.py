"""musictext: search, tag and build playlists from your own music library by describing music in words."""

__version__ = "0.1.0"
