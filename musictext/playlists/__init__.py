"""Playlists: tracks ranked by words and seed songs, a walk between two songs, or the whole library
clustered into named groups; written as playlist files the way the server that reads them
expects (``--for mpd|navidrome|jellyfin|generic``), and kept current by ``--update``.

Every kind of playlist is chosen from the same *pool* (the indexed tracks that pass ``--where``
and are not in an ``--exclude`` playlist) under the same rules: no file twice (same path or same
content), no artist twice within ``artist_gap`` tracks (tracks without an artist tag are exempt:
a folder is no reliable stand-in for an artist), and a length by count or by time.

Similarity between tracks is measured on *centred* joint vectors (the library's mean vector
subtracted): raw joint vectors share a large common part (cosines of 0.9 to 1.0 between any two
tracks), so centring is what lets diversity, walks and clusters see how tracks differ.

The parts: ``make`` (words and seeds, and the records), ``choose`` (the pool and the selection
rules), ``walk`` (--from/--to), ``auto`` (--auto clustering and naming), ``m3u`` (playlist files),
``targets`` (what each server reads: ``--for``), ``update`` (recipes and ``--update``).
"""

from musictext.playlists.auto import _name_order, auto_playlists, kmeans, name_cluster
from musictext.playlists.choose import artist_key
from musictext.playlists.m3u import (
    check_targets,
    m3u8_skips,
    names_folder,
    output_paths,
    read_m3u,
    slugify,
    write_playlists,
)
from musictext.playlists.make import make_playlist
from musictext.playlists.records import Playlist, PlaylistEntry
from musictext.playlists.targets import TARGETS, Target, find_mpd_conf, parse_mpd_conf, resolve_target
from musictext.playlists.update import Recipe, merge, save_playlists, update_playlists
from musictext.units import parse_duration

__all__ = [
    "TARGETS",
    "Playlist",
    "PlaylistEntry",
    "Recipe",
    "Target",
    "_name_order",
    "artist_key",
    "find_mpd_conf",
    "merge",
    "parse_mpd_conf",
    "resolve_target",
    "save_playlists",
    "update_playlists",
    "auto_playlists",
    "check_targets",
    "kmeans",
    "m3u8_skips",
    "make_playlist",
    "name_cluster",
    "names_folder",
    "output_paths",
    "parse_duration",
    "read_m3u",
    "slugify",
    "write_playlists",
]
