"""Answers in the shapes media-server plugins already speak.

- AudioMuse-AI's HTTP API (what its Navidrome and Jellyfin plugins proxy to):
  ``GET /api/similar_tracks?item_id&n`` -> ``[{item_id, title, author, album, distance}]``,
  ``GET /api/find_path?start_song_id&end_song_id&max_steps`` -> ``{path: [...], total_distance}``,
  ``POST /api/clap/search {query, limit}`` -> ``{query, results: [{item_id, title, author, similarity}], count}``.
  Errors are ``{"error": "message"}`` with a 4xx status, as AudioMuse-AI answers.
- OpenSubsonic's ``sonicSimilarity`` extension: ``getSonicSimilarTracks?id&count`` and
  ``findSonicPath?startSongId&endSongId&count`` answer ``sonicMatch: [{entry, similarity}]``;
  errors are Subsonic's ``status: failed`` with an error code.

Ids are the media server's own when ``--subsonic``/``--jellyfin`` maps them (tracks the server
does not have are left out), else the library's track ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse

from musictext import __version__
from musictext.errors import MusictextError, NotFoundError
from musictext.serve.api import int_param, json_body, library_track, text_param
from musictext.serve.guard import MAX_N, RequestError, status_for

SUBSONIC_VERSION = "1.16.1"
PATH_DEFAULT_STEPS = 10  # AudioMuse's max_steps: songs between the two ends


class Ids:
    """The ids a bridge speaks: the media server's (through its map) or the library's."""

    def __init__(self, media=None):
        self.media = media

    def track(self, lib, value: str | None, name: str) -> int:
        if value is None or not str(value).strip():
            raise RequestError(f"{name!r} is required")
        value = text_param(str(value), name, limit=200)
        if self.media is not None:
            tid = self.media.track_id(lib, value)
            if tid is None:
                raise NotFoundError(f"no library file matches the server's song {value!r}")
        else:
            try:
                tid = int(value)
            except ValueError:
                raise NotFoundError(f"no track with id {value!r} in the library") from None
        library_track(lib, tid)
        return tid

    def out(self, tid: int) -> str | None:
        return self.media.server_id(tid) if self.media is not None else str(tid)

    def margin(self, n: int) -> int:
        """How many candidates to ask for so that ``n`` remain after leaving out unmapped tracks."""
        return n if self.media is None else min(4 * n + 20, 4 * MAX_N)


def _audiomuse_error(exc: MusictextError) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=status_for(exc))


def _row(t, ids: Ids, **extra) -> dict | None:
    item = ids.out(t.id)
    if item is None:
        return None
    title = t.title or Path(t.path).stem
    return {"item_id": item, "title": title, "author": t.artist or "", "album": t.album or "unknown", **extra}


class Bridges:
    def __init__(self, warm, media=None):
        self.warm = warm
        self.ids = Ids(media)

    # AudioMuse-AI ---------------------------------------------------------------------------
    async def similar_tracks(self, request: Request) -> JSONResponse:
        from musictext.search import similar

        q = request.query_params
        try:
            n = int_param(q.get("n"), "n", 10, 1, MAX_N)

            def job(lib):
                tid = self.ids.track(lib, q.get("item_id"), "item_id")
                outcome = similar(library_track(lib, tid).path, n=self.ids.margin(n), lib=lib)
                rows = [_row(r.track, self.ids, distance=round(1.0 - float(r.score), 6)) for r in outcome.results]
                return [r for r in rows if r is not None][:n]

            return JSONResponse(await self.warm.run(job))
        except MusictextError as exc:
            return _audiomuse_error(exc)

    async def find_path(self, request: Request) -> JSONResponse:
        q = request.query_params
        try:
            steps = int_param(q.get("max_steps"), "max_steps", PATH_DEFAULT_STEPS, 0, MAX_N - 2)

            def job(lib):
                a = self.ids.track(lib, q.get("start_song_id"), "start_song_id")
                b = self.ids.track(lib, q.get("end_song_id"), "end_song_id")
                if a == b:
                    raise RequestError("Start and end songs cannot be the same.")
                tracks = [e.track for e in _walk_tracks(lib, a, b, steps + 2, self.ids)]
                return {"path": [_row(t, self.ids) for t in tracks], "total_distance": _path_distance(lib, tracks)}

            return JSONResponse(await self.warm.run(job))
        except MusictextError as exc:
            return _audiomuse_error(exc)

    async def clap_search(self, request: Request) -> JSONResponse:
        from musictext.search import search

        try:
            body = await json_body(request)
            query = text_param(body.get("query"), "query")
            limit = int_param(body.get("limit"), "limit", 100, 1, MAX_N)

            def job(lib):
                if self.ids.media is not None:
                    self.ids.media.refresh(lib)
                outcome = search(query.strip(), n=self.ids.margin(limit), lib=lib)
                rows = [_row(r.track, self.ids, similarity=float(r.score)) for r in outcome.results]
                return [r for r in rows if r is not None][:limit]

            results = await self.warm.run(job)
            return JSONResponse({"query": query.strip(), "results": results, "count": len(results)})
        except MusictextError as exc:
            return _audiomuse_error(exc)

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    # OpenSubsonic ---------------------------------------------------------------------------
    async def subsonic(self, request: Request) -> JSONResponse:
        method = request.path_params["method"].removesuffix(".view")
        handler = {
            "ping": self._ping,
            "getOpenSubsonicExtensions": self._extensions,
            "getSonicSimilarTracks": self._sonic_similar,
            "findSonicPath": self._sonic_path,
        }.get(method)
        if handler is None:
            return _subsonic_failed(0, f"musictext answers only the sonicSimilarity endpoints, not {method!r}")
        params = dict(request.query_params)
        if request.method == "POST":  # OpenSubsonic's formPost: the parameters in the body
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        try:
            return _subsonic_ok(await handler(params))
        except RequestError as exc:
            return _subsonic_failed(10, str(exc))
        except NotFoundError as exc:
            return _subsonic_failed(70, str(exc))
        except MusictextError as exc:
            return _subsonic_failed(0, str(exc))

    async def _ping(self, params) -> dict:
        return {}

    async def _extensions(self, params) -> dict:
        return {
            "openSubsonicExtensions": [
                {"name": "sonicSimilarity", "versions": [1]},
                {"name": "apiKeyAuthentication", "versions": [1]},
                {"name": "formPost", "versions": [1]},
            ]
        }

    async def _sonic_similar(self, params) -> dict:
        from musictext.search import similar

        count = int_param(params.get("count"), "count", 10, 1, MAX_N)

        def job(lib):
            tid = self.ids.track(lib, params.get("id"), "id")
            outcome = similar(library_track(lib, tid).path, n=self.ids.margin(count), lib=lib)
            matches = [
                {"entry": child, "similarity": round(min(1.0, max(0.0, float(r.score))), 6)}
                for r in outcome.results
                if (child := _child(r.track, self.ids)) is not None
            ]
            return {"sonicMatch": matches[:count]}

        return await self.warm.run(job)

    async def _sonic_path(self, params) -> dict:
        count = int_param(params.get("count"), "count", 12, 2, MAX_N)

        def job(lib):
            a = self.ids.track(lib, params.get("startSongId"), "startSongId")
            b = self.ids.track(lib, params.get("endSongId"), "endSongId")
            if a == b:
                raise RequestError("startSongId and endSongId are the same song")
            entries = _walk_tracks(lib, a, b, count, self.ids)
            return {
                "sonicMatch": [
                    {"entry": _child(e.track, self.ids), "similarity": round(float(e.score), 6)} for e in entries
                ]
            }

        return await self.warm.run(job)


def _walk_tracks(lib, a: int, b: int, n: int, ids: Ids):
    """A walk from a to b (both ends included) of at most ``n`` tracks, all of them on the server."""
    from musictext.playlists import make_playlist

    pa, pb = library_track(lib, a).path, library_track(lib, b).path
    pl = make_playlist(None, (), pa, pb, n=max(2, n), lib=lib)
    return [e for e in pl.entries if ids.out(e.track.id) is not None]


def _path_distance(lib, tracks) -> float:
    rows = [lib.space.row_of[t.id] for t in tracks if t.id in lib.space.row_of]
    vecs = np.asarray(lib.space.joint)[rows]
    return round(float(sum(1.0 - float(vecs[i] @ vecs[i + 1]) for i in range(len(vecs) - 1))), 6)


def _child(t, ids: Ids) -> dict | None:
    item = ids.out(t.id)
    if item is None:
        return None
    child = {"id": item, "isDir": False, "title": t.title or Path(t.path).stem, "type": "music", "mediaType": "song"}
    for key, value in (("artist", t.artist), ("album", t.album), ("year", t.year)):
        if value:
            child[key] = value
    if t.duration:
        child["duration"] = int(round(t.duration))
    child["suffix"] = Path(t.path).suffix.lstrip(".").lower()
    return child


def _envelope(status: str, body: dict) -> dict:
    return {
        "subsonic-response": {
            "status": status,
            "version": SUBSONIC_VERSION,
            "type": "musictext",
            "serverVersion": __version__,
            "openSubsonic": True,
            **body,
        }
    }


def _subsonic_ok(body: dict) -> JSONResponse:
    return JSONResponse(_envelope("ok", body))


def _subsonic_failed(code: int, message: str) -> JSONResponse:
    # Subsonic answers errors with HTTP 200 and status "failed"; clients read the code.
    return JSONResponse(_envelope("failed", {"error": {"code": code, "message": message}}))
