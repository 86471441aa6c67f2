"""The JSON API under /api/v1/ and the audio stream: thin handlers over the service functions
(`musictext.search`, `musictext.playlists`, `musictext.tags.tagging`), run on the warm library."""

from __future__ import annotations

import json
import math
import mimetypes
import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse

from musictext.errors import NotFoundError
from musictext.serve.guard import MAX_LIST, MAX_N, MAX_TEXT, RequestError

API = "/api/v1"
AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".aiff": "audio/aiff",
    ".aif": "audio/aiff",
    ".wma": "audio/x-ms-wma",
}


# parameters ---------------------------------------------------------------------------------
def text_param(value, name: str, required: bool = True, limit: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RequestError(f"{name!r} is required")
        return None
    if not isinstance(value, str):
        raise RequestError(f"{name!r} must be text")
    if len(value) > limit:
        raise RequestError(f"{name!r} is too long ({len(value)} characters; at most {limit})", 413)
    return value


def int_param(value, name: str, default: int | None, lo: int, hi: int) -> int | None:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name!r} must be a whole number") from None
    if isinstance(value, bool) or not lo <= n <= hi:
        raise RequestError(f"{name!r} must be between {lo} and {hi}")
    return n


def float_param(value, name: str, default: float, lo: float, hi: float) -> float:
    if value is None or value == "":
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RequestError(f"{name!r} must be a number") from None
    if not math.isfinite(x) or not lo <= x <= hi:
        raise RequestError(f"{name!r} must be between {lo:g} and {hi:g}")
    return x


def bool_param(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").lower() in ("1", "true", "yes", "on")


def list_param(values, name: str, limit: int = 200) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise RequestError(f"{name!r} must be a list of text")
    if len(values) > MAX_LIST:
        raise RequestError(f"too many {name!r} values ({len(values)}; at most {MAX_LIST})")
    for v in values:
        text_param(v, name, limit=limit)
    return [v for v in values if v.strip()]


def id_param(value, name: str) -> int:
    n = int_param(value, name, None, 0, 2**62)
    if n is None:
        raise RequestError(f"{name!r} is required (a track id)")
    return n


async def json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise RequestError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    return body


# results ------------------------------------------------------------------------------------
def track_json(t) -> dict:
    return {
        "id": t.id,
        "title": t.title or Path(t.path).stem,
        "artist": t.artist,
        "album": t.album,
        "duration": t.duration,
        "path": t.path,
    }


def result_json(r) -> dict:
    return {
        "rank": r.rank,
        "score": r.score,
        **track_json(r.track),
        "why": [{"concept": c, "contribution": v} for c, v in r.why],
    }


def outcome_json(outcome, **extra) -> dict:
    return {
        **extra,
        "results": [result_json(r) for r in outcome.results],
        "warnings": outcome.warnings,
        "understood": [{"span": s, "concept": c, "weight": w} for s, c, w in outcome.understood],
        "seed": outcome.seed,
        "total": outcome.total,
    }


def playlist_json(pl, file: str | None = None) -> dict:
    return {
        "name": pl.name,
        "tracks": [{"position": e.position, "score": e.score, **track_json(e.track)} for e in pl.entries],
        "duration": pl.duration,
        "warnings": pl.warnings,
        "seed": pl.seed,
        "file": file,
    }


def library_track(lib, track_id: int):
    """The indexed track with this id (only ids of the library are answered)."""
    if track_id not in lib.space.row_of:
        raise NotFoundError(f"no track with id {track_id} in the library")
    found = lib.store.tracks([track_id])
    if track_id not in found:
        raise NotFoundError(f"no track with id {track_id} in the library")
    return found[track_id]


# handlers -----------------------------------------------------------------------------------
class Api:
    def __init__(self, warm, playlist_dir: str | None = None):
        self.warm = warm
        self.playlist_dir = playlist_dir

    async def search(self, request: Request) -> JSONResponse:
        from musictext.search import search

        q = request.query_params
        query = text_param(q.get("q"), "q")
        n = int_param(q.get("n"), "n", 20, 1, MAX_N)
        where = list_param(q.getlist("where"), "where")
        explain = bool_param(q.get("explain", "1"))
        outcome = await self.warm.run(lambda lib: search(query, n=n, where=where, explain=explain, lib=lib))
        return JSONResponse(outcome_json(outcome, query=query))

    async def similar(self, request: Request) -> JSONResponse:
        from musictext.search import similar

        q = request.query_params
        n = int_param(q.get("n"), "n", 20, 1, MAX_N)
        where = list_param(q.getlist("where"), "where")
        tid = q.get("id")
        path = text_param(q.get("path"), "path", required=False, limit=4096)
        if (tid is None) == (path is None):
            raise RequestError("give a track 'id' or a library 'path'")

        def job(lib):
            if path is not None:
                track = lib.store.track_by_path(path)
                if track is None or track.id not in lib.space.row_of:
                    raise NotFoundError("not a file of the library", path)
            else:
                track = library_track(lib, id_param(tid, "id"))
            return track, similar(track.path, n=n, where=where, lib=lib)

        track, outcome = await self.warm.run(job)
        return JSONResponse(outcome_json(outcome, seed_track=track_json(track)))

    async def walk(self, request: Request) -> JSONResponse:
        q = request.query_params
        start, end = id_param(q.get("from"), "from"), id_param(q.get("to"), "to")
        n = int_param(q.get("n"), "n", None, 2, MAX_N)
        pl = await self.warm.run(lambda lib: _walk(lib, start, end, n, list_param(q.getlist("where"), "where")))
        return JSONResponse(playlist_json(pl))

    async def playlist(self, request: Request) -> JSONResponse:
        body = await json_body(request)
        recipe = _recipe(body)
        save = text_param(body.get("save"), "save", required=False, limit=200)
        overwrite = bool_param(body.get("overwrite"))
        if save is not None and not self.playlist_dir:
            raise RequestError("saving is off: start the server with --playlist-dir DIR", 403)

        def job(lib):
            from musictext.playlists import make_playlist

            r = dict(recipe)
            ids, start, end, words = r.pop("seed_ids"), r.pop("from"), r.pop("to"), r.pop("words")
            if start is not None:
                pl = _walk(lib, start, end, r["n"], r["where"], r["duration"], r["artist_gap"])
                like = []
            else:
                like = [library_track(lib, i).path for i in ids]
                pl = make_playlist(words, like, lib=lib, **r)
            file = None
            if save is not None:
                file = str(save_playlist(pl, self.playlist_dir, save, overwrite, recipe, like, start, end, lib))
            return pl, file

        pl, file = await self.warm.run(job)
        return JSONResponse(playlist_json(pl, file), status_code=201 if file else 200)

    async def tags(self, request: Request) -> JSONResponse:
        from musictext.tags.tagging import BUILTIN_VOCABS, VocabTerm, load_vocab, score_vocab

        q = request.query_params
        vocab_name = q.get("vocab")
        terms = list_param(q.getlist("term"), "term", limit=200)
        if (vocab_name is None) == (not terms):
            raise RequestError(f"give 'vocab' ({', '.join(sorted(BUILTIN_VOCABS))}) or 'term' values")
        if vocab_name is not None and vocab_name not in BUILTIN_VOCABS:
            raise RequestError(f"unknown vocabulary {vocab_name!r}: one of {', '.join(sorted(BUILTIN_VOCABS))}")
        vocab = load_vocab(vocab_name) if vocab_name else [VocabTerm(t, t, "genre") for t in terms]
        ids = [id_param(v, "id") for v in q.getlist("id")[: MAX_LIST + 1]]
        if len(ids) > MAX_LIST:
            raise RequestError(f"too many 'id' values (at most {MAX_LIST})")
        top = int_param(q.get("top"), "top", 3, 1, 50)
        n = int_param(q.get("n"), "n", 20, 1, MAX_N)
        relative = bool_param(q.get("relative"))  # as `tag --relative`: the K best in this library, no evidence

        def job(lib):
            paths = [library_track(lib, i).path for i in ids] or None
            scores = score_vocab(vocab, paths=paths, top_k=top, lib=lib, relative=relative)
            tracks = lib.store.tracks([t.track_id for t in scores.tracks[:n]])
            return scores, tracks

        scores, tracks = await self.warm.run(job)
        return JSONResponse(
            {
                "terms": [{"term": t.term, "field": t.field} for t in scores.terms],
                "tracks": [
                    {
                        **track_json(tracks[t.track_id]),
                        "tags": [{"term": a, "field": f, "score": s} for a, f, s in t.chosen],
                        "scores": t.scores,
                    }
                    for t in scores.tracks[:n]
                ],
                "warnings": scores.warnings,
                "unmapped": list(scores.unmapped),
                "relative": scores.relative,
                "untagged": scores.untagged,
            }
        )

    async def status(self, request: Request) -> JSONResponse:
        from dataclasses import asdict

        from musictext.library.status import library_status

        s = await self.warm.call(library_status)
        d = asdict(s)
        d["errors"] = [{"path": p, "reason": r} for p, r in s.errors]
        d["server"] = {"reloads": self.warm.reloads, "model": self.warm.model, "saves": bool(self.playlist_dir)}
        bridge = getattr(request.app.state, "media", None)
        if bridge is not None:
            d["media_server"] = bridge.report_json()
        return JSONResponse(d)

    async def concepts(self, request: Request) -> JSONResponse:
        from musictext.library.space import describe_concepts

        return JSONResponse({"concepts": await self.warm.run(lambda lib: describe_concepts(lib.bundle))})

    async def track(self, request: Request) -> JSONResponse:
        tid = id_param(request.path_params["track_id"], "id")
        return JSONResponse(track_json(await self.warm.run(lambda lib: library_track(lib, tid))))

    async def audio(self, request: Request) -> FileResponse:
        tid = id_param(request.path_params["track_id"], "id")
        track = await self.warm.run(lambda lib: library_track(lib, tid))
        if not os.path.isfile(track.path):
            raise NotFoundError(f"track {tid}'s file is gone (re-run `musictext index`)")
        kind = AUDIO_TYPES.get(Path(track.path).suffix.lower()) or mimetypes.guess_type(track.path)[0]
        return FileResponse(
            track.path,
            media_type=kind or "application/octet-stream",
            headers={"Cache-Control": "no-store"},
            content_disposition_type="inline",
        )


def _walk(lib, start: int, end: int, n, where, duration=None, artist_gap: int = 0):
    from musictext.playlists import make_playlist

    if start == end:
        raise RequestError("'from' and 'to' are the same track: a walk needs two different ones")
    a, b = library_track(lib, start), library_track(lib, end)
    return make_playlist(None, (), a.path, b.path, n=n, duration=duration, artist_gap=artist_gap, where=where, lib=lib)


def _recipe(body: dict) -> dict:
    from musictext.units import parse_duration

    words = text_param(body.get("words"), "words", required=False)
    seeds = body.get("seeds") or []
    if not isinstance(seeds, list) or len(seeds) > MAX_LIST:
        raise RequestError(f"'seeds' must be a list of at most {MAX_LIST} track ids")
    seed_ids = [id_param(s, "seeds") for s in seeds]
    start = body.get("from")
    end = body.get("to")
    if (start is None) != (end is None):
        raise RequestError("'from' and 'to' go together")
    if start is not None and (words or seed_ids):
        raise RequestError("'from'/'to' make a walk between two songs: no words or seeds with it")
    if start is None and not words and not seed_ids:
        raise RequestError("give 'words', 'seeds', or 'from' and 'to'")
    duration = body.get("duration")
    if duration is not None:
        if isinstance(duration, (int, float)) and not isinstance(duration, bool):
            duration = float_param(duration, "duration", 0, 1, 7 * 24 * 3600)
        else:
            duration = parse_duration(text_param(duration, "duration", limit=32))
    return {
        "words": words,
        "seed_ids": seed_ids,
        "from": None if start is None else id_param(start, "from"),
        "to": None if end is None else id_param(end, "to"),
        "n": int_param(body.get("n"), "n", None, 1, MAX_N),
        "duration": duration,
        "diversity": float_param(body.get("diversity"), "diversity", 0.0, 0.0, 1.0),
        "artist_gap": int_param(body.get("artist_gap"), "artist_gap", 0, 0, 100),
        "where": list_param(body.get("where"), "where"),
    }


def playlist_file(folder: str, name: str) -> Path:
    """Where a playlist called ``name`` goes in ``folder``: a file name made from the name alone
    (no folders, no dots in front, no control characters), checked to be inside the folder."""
    from musictext.playlists.m3u import file_stem

    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise RequestError("a playlist name cannot hold control characters")
    stem = file_stem(name.replace("..", " "))
    root = Path(folder).resolve()
    dest = (root / f"{stem}.m3u8").resolve()
    if dest.parent != root:
        raise RequestError("a playlist name cannot name a folder")
    return dest


def save_playlist(pl, folder: str, name: str, overwrite: bool, recipe: dict, like, start, end, lib) -> Path:
    from musictext import playlists
    from musictext.errors import MusictextError

    dest = playlist_file(folder, name)
    if dest.exists() and not overwrite:
        raise RequestError(f'a playlist called {dest.name!r} already exists (send "overwrite": true)', 409)
    if dest.is_symlink():
        raise RequestError(f"{dest.name!r} is a link: not overwritten", 409)
    pl.name = name
    target = playlists.resolve_target(None, None, False, [])
    rec = playlists.Recipe(
        query=recipe.get("words"),
        like=list(like),
        start=None if start is None else library_track(lib, start).path,
        end=None if end is None else library_track(lib, end).path,
        n=recipe.get("n"),
        duration=recipe.get("duration"),
        diversity=recipe.get("diversity", 0.0),
        artist_gap=recipe.get("artist_gap", 0),
        where=recipe.get("where") or [],
        exclude=[],
        model=None,
        pick=None,
        same_album=False,
        auto=None,
    )
    try:
        playlists.save_playlists([(pl, dest)], rec, target, force=overwrite)
    except MusictextError as exc:
        raise RequestError(str(exc), 409) from None
    return dest
