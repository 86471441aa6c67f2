"""A media server's own track ids, matched to the library's files.

``musictext serve --subsonic URL`` (Navidrome, Gonic, LMS, ...) or ``--jellyfin URL`` reads the
server's song list: its ids, the paths as the server sees them, title/artist/album/duration and
MusicBrainz recording ids. Each song is matched to a library track by, in turn:

1. path suffix: the longest run of trailing path parts (file name, album folder, artist folder)
   that picks out exactly one library file; the server's music folder may be mounted anywhere;
2. MusicBrainz recording id, when both sides have one and it names one library track;
3. artist + title (case and spacing ignored) and a duration within ``DURATION_SLACK`` seconds.

The bridges then answer in the server's ids, and only with tracks the server has.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
import unicodedata
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from musictext.errors import MusictextError

PAGE = 500  # songs per request
MAX_SONGS = 1_000_000  # a list longer than this is not a music library
TIMEOUT_S = 30
DURATION_SLACK = 2.0  # seconds: the same recording as two tag readers measure it
SUFFIX_PARTS = 4  # path parts compared from the end (file, album, artist, one more)
REFRESH_S = 30.0  # an unknown id re-reads the song list at most this often


@dataclass(frozen=True)
class ServerSong:
    id: str
    path: str | None
    title: str | None
    artist: str | None
    album: str | None
    duration: float | None
    mbid: str | None


def _get_json(url: str, headers: dict | None = None) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    shown = url.split("?", 1)[0]
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            data = resp.read(256 << 20)
    except OSError as exc:  # URLError, HTTPError, timeouts
        raise MusictextError(f"cannot read the media server ({getattr(exc, 'reason', exc)})", shown) from None
    try:
        return json.loads(data)
    except ValueError:
        raise MusictextError("the media server did not answer JSON", shown) from None


class SubsonicSource:
    """The Subsonic API (``search3`` with an empty query lists every song, as Navidrome allows)."""

    kind = "subsonic"

    def __init__(self, url: str, user: str, password: str):
        self.url, self.user, self.password = url.rstrip("/"), user, password

    def _call(self, method: str, **params) -> dict:
        salt = secrets.token_hex(6)
        auth = {
            "u": self.user,
            "t": hashlib.md5((self.password + salt).encode()).hexdigest(),
            "s": salt,
            "v": "1.16.1",
            "c": "musictext",
            "f": "json",
        }
        body = _get_json(f"{self.url}/rest/{method}?{urllib.parse.urlencode({**auth, **params})}")
        answer = body.get("subsonic-response") if isinstance(body, dict) else None
        if not isinstance(answer, dict):
            raise MusictextError("not a Subsonic answer", self.url)
        if answer.get("status") != "ok":
            err = answer.get("error") or {}
            raise MusictextError(f"the Subsonic server refused: {err.get('message', 'unknown error')}", self.url)
        return answer

    def songs(self) -> list[ServerSong]:
        out: list[ServerSong] = []
        while len(out) < MAX_SONGS:
            page = self._call("search3", query="", songCount=PAGE, songOffset=len(out), artistCount=0, albumCount=0)
            got = (page.get("searchResult3") or {}).get("song") or []
            for s in got:
                out.append(
                    ServerSong(
                        str(s["id"]),
                        s.get("path"),
                        s.get("title"),
                        s.get("artist"),
                        s.get("album"),
                        _num(s.get("duration")),
                        s.get("musicBrainzId") or None,
                    )
                )
            if len(got) < PAGE:
                break
        return out


class JellyfinSource:
    """Jellyfin's ``/Items`` (audio items, recursively, with their paths and provider ids)."""

    kind = "jellyfin"

    def __init__(self, url: str, api_key: str):
        self.url, self.api_key = url.rstrip("/"), api_key

    def songs(self) -> list[ServerSong]:
        out: list[ServerSong] = []
        headers = {"Authorization": f'MediaBrowser Token="{self.api_key}"', "X-Emby-Token": self.api_key}
        while len(out) < MAX_SONGS:
            params = {
                "IncludeItemTypes": "Audio",
                "Recursive": "true",
                "Fields": "Path,ProviderIds",
                "StartIndex": len(out),
                "Limit": PAGE,
            }
            page = _get_json(f"{self.url}/Items?{urllib.parse.urlencode(params)}", headers)
            items = page.get("Items") or []
            for it in items:
                ticks = it.get("RunTimeTicks")
                ids = it.get("ProviderIds") or {}
                artists = it.get("Artists") or []
                out.append(
                    ServerSong(
                        str(it["Id"]),
                        it.get("Path"),
                        it.get("Name"),
                        artists[0] if artists else it.get("AlbumArtist"),
                        it.get("Album"),
                        ticks / 1e7 if isinstance(ticks, (int, float)) else None,
                        ids.get("MusicBrainzRecording") or ids.get("MusicBrainzTrack") or None,
                    )
                )
            total = page.get("TotalRecordCount")
            if len(items) < PAGE or (isinstance(total, int) and len(out) >= total):
                break
        return out


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _parts(path: str) -> list[str]:
    return [unicodedata.normalize("NFC", p).casefold() for p in re.split(r"[\\/]+", path) if p]


def _name(text: str | None) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


@dataclass
class MatchReport:
    songs: int = 0
    by_path: int = 0
    by_mbid: int = 0
    by_tags: int = 0
    read_at: float = 0.0

    @property
    def matched(self) -> int:
        return self.by_path + self.by_mbid + self.by_tags

    def line(self, kind: str) -> str:
        return (
            f"{kind}: matched {self.matched} of {self.songs} songs to library files "
            f"({self.by_path} by path, {self.by_mbid} by MusicBrainz id, {self.by_tags} by tags and duration)"
        )


@dataclass
class IdMap:
    """Server id <-> library track id."""

    to_track: dict[str, int] = field(default_factory=dict)
    to_server: dict[int, str] = field(default_factory=dict)
    report: MatchReport = field(default_factory=MatchReport)


def match_songs(songs: list[ServerSong], tracks: dict, mbids: dict[int, str]) -> IdMap:
    """Match each server song to at most one library track (``tracks``: id -> TrackRow)."""
    by_suffix: dict[tuple, list[int]] = {}
    for tid, t in tracks.items():
        parts = _parts(t.path)
        for k in range(1, min(SUFFIX_PARTS, len(parts)) + 1):
            by_suffix.setdefault(tuple(parts[-k:]), []).append(tid)
    by_mbid: dict[str, list[int]] = {}
    for tid, m in mbids.items():
        by_mbid.setdefault(m.strip().lower(), []).append(tid)
    by_names: dict[tuple, list[int]] = {}
    for tid, t in tracks.items():
        if t.title and t.artist:
            by_names.setdefault((_name(t.artist), _name(t.title)), []).append(tid)

    out = IdMap(report=MatchReport(songs=len(songs), read_at=time.time()))
    for s in songs:
        tid, how = None, None
        if s.path:
            parts = _parts(s.path)
            for k in range(min(SUFFIX_PARTS, len(parts)), 0, -1):
                hits = by_suffix.get(tuple(parts[-k:]), [])
                if len(hits) == 1:
                    tid, how = hits[0], "path"
                    break
                if len(hits) > 1 and k < SUFFIX_PARTS:
                    break  # a shorter suffix can only be more ambiguous
        if tid is None and s.mbid:
            hits = by_mbid.get(s.mbid.strip().lower(), [])
            if len(hits) == 1:
                tid, how = hits[0], "mbid"
        if tid is None and s.title and s.artist:
            hits = [
                h
                for h in by_names.get((_name(s.artist), _name(s.title)), [])
                if s.duration is None
                or tracks[h].duration is None
                or abs(tracks[h].duration - s.duration) <= DURATION_SLACK
            ]
            if len(hits) == 1:
                tid, how = hits[0], "tags"
        if tid is None or tid in out.to_server:
            continue
        out.to_track[s.id] = tid
        out.to_server[tid] = s.id
        setattr(out.report, f"by_{how}", getattr(out.report, f"by_{how}") + 1)
    return out


class MediaBridge:
    """The current id map for one media server; re-read when the library changes or an id is unknown."""

    def __init__(self, source):
        self.source = source
        self.map = IdMap()
        self._stamp = None
        self._last_read = 0.0
        self.notes: list[str] = []

    def refresh(self, lib, force: bool = False) -> None:
        """Re-read the song list (on the library worker thread) when due."""
        stamp = (getattr(lib, "serial", id(lib)), lib.store.generation(lib.bundle.model_id))
        if not force and stamp == self._stamp:
            return
        songs = self.source.songs()
        self._last_read = time.monotonic()
        tracks = {tid: t for tid, t in lib.store.tracks().items() if tid in lib.space.row_of}
        self.map = match_songs(songs, tracks, lib.store.recording_mbids())
        self._stamp = stamp
        self.notes.append(self.map.report.line(self.source.kind))

    def track_id(self, lib, server_id: str) -> int | None:
        self.refresh(lib)
        tid = self.map.to_track.get(server_id)
        if tid is None and time.monotonic() - self._last_read > REFRESH_S:
            self.refresh(lib, force=True)  # a song added to the server since we last read it
            tid = self.map.to_track.get(server_id)
        return tid

    def server_id(self, track_id: int) -> str | None:
        return self.map.to_server.get(track_id)

    def report_json(self) -> dict:
        r = self.map.report
        return {
            "kind": self.source.kind,
            "url": self.source.url,
            "songs": r.songs,
            "matched": r.matched,
            "by_path": r.by_path,
            "by_mbid": r.by_mbid,
            "by_tags": r.by_tags,
            "read_at": r.read_at,
        }


def read_secret(path: str, what: str) -> str:
    from musictext.errors import read_user_text

    lines = read_user_text(os.path.expanduser(path), what, max_bytes=4096).strip().splitlines()
    if not lines or not lines[0].strip():
        raise MusictextError(f"the {what} is empty", path)
    return lines[0].strip()
