"""The OpenAPI 3 description of /api/v1/ (served at /api/v1/openapi.json, shown at /api/v1/docs)."""

from __future__ import annotations

from musictext import __version__


def _q(name: str, kind: str = "string", desc: str = "", required: bool = False, many: bool = False) -> dict:
    schema = {"type": kind} if not many else {"type": "array", "items": {"type": kind}}
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema}


_TRACK = {
    "type": "object",
    "properties": {
        k: {"type": t}
        for k, t in (
            ("id", "integer"),
            ("title", "string"),
            ("artist", "string"),
            ("album", "string"),
            ("duration", "number"),
            ("path", "string"),
        )
    },
}
_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "integer", "description": "the CLI's exit code"},
                "type": {"type": "string"},
            },
        }
    },
}


def _op(summary: str, params: list | None = None, body: dict | None = None, ok: str = "200") -> dict:
    op = {
        "summary": summary,
        "parameters": params or [],
        "responses": {
            ok: {"description": "the answer", "content": {"application/json": {}}},
            "4XX": {
                "description": "a bad request, with the CLI's message and code",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def openapi_spec() -> dict:
    n = _q("n", "integer", "how many tracks (1-500)")
    where = _q("where", desc="a filter as in `--where` (repeatable), e.g. year>=2000", many=True)
    recipe = {
        "type": "object",
        "properties": {
            "words": {"type": "string"},
            "seeds": {"type": "array", "items": {"type": "integer"}},
            "from": {"type": "integer"},
            "to": {"type": "integer"},
            "n": {"type": "integer"},
            "duration": {"type": "string", "description": "90m, 1h30m, 3600s, or seconds"},
            "diversity": {"type": "number"},
            "artist_gap": {"type": "integer"},
            "where": {"type": "array", "items": {"type": "string"}},
            "save": {"type": "string", "description": "save as NAME.m3u8 in the server's --playlist-dir"},
            "overwrite": {"type": "boolean"},
        },
    }
    paths = {
        "/api/v1/search": {
            "get": _op(
                "Tracks that match a description (as `musictext search`)",
                [
                    _q("q", desc="the description", required=True),
                    n,
                    where,
                    _q("explain", "boolean", "which concepts made each match (default true)"),
                ],
            )
        },
        "/api/v1/similar": {
            "get": _op(
                "Tracks that sound like a track (as `musictext similar`)",
                [_q("id", "integer", "a track id"), _q("path", desc="or a library file's path"), n, where],
            )
        },
        "/api/v1/walk": {
            "get": _op(
                "A walk from one track to another (as `playlist --from --to`)",
                [_q("from", "integer", required=True), _q("to", "integer", required=True), n, where],
            )
        },
        "/api/v1/playlist": {"post": _op("A playlist from words, seeds or a walk; saved with `save`", body=recipe)},
        "/api/v1/tags": {
            "get": _op(
                "Calibrated scores of a vocabulary's terms (read-only: nothing is written)",
                [
                    _q("vocab", desc="genres, moods, instruments or eras"),
                    _q("term", desc="or terms", many=True),
                    _q("id", "integer", "only these tracks", many=True),
                    _q("top", "integer"),
                    n,
                ],
            )
        },
        "/api/v1/status": {"get": _op("The library's status (as `musictext status --json`)")},
        "/api/v1/concepts": {"get": _op("The concepts a query can name (as `musictext models concepts`)")},
        "/api/v1/tracks/{track_id}": {
            "get": _op(
                "One track", [{"name": "track_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
            )
        },
        "/api/v1/tracks/{track_id}/audio": {
            "get": {
                "summary": "The track's file, streamed (HTTP Range answered with 206)",
                "parameters": [{"name": "track_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "the whole file"},
                    "206": {"description": "the asked range"},
                    "404": {"description": "not a track of the library"},
                },
            }
        },
        "/api/similar_tracks": {
            "get": _op("AudioMuse-AI compatible: similar tracks", [_q("item_id", required=True), _q("n", "integer")])
        },
        "/api/find_path": {
            "get": _op(
                "AudioMuse-AI compatible: a path between two songs",
                [_q("start_song_id", required=True), _q("end_song_id", required=True), _q("max_steps", "integer")],
            )
        },
        "/api/clap/search": {
            "post": _op(
                "AudioMuse-AI compatible: text search",
                body={"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}},
            )
        },
        "/rest/getSonicSimilarTracks": {
            "get": _op("OpenSubsonic sonicSimilarity", [_q("id", required=True), _q("count", "integer")])
        },
        "/rest/findSonicPath": {
            "get": _op(
                "OpenSubsonic sonicSimilarity",
                [_q("startSongId", required=True), _q("endSongId", required=True), _q("count", "integer")],
            )
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "musictext",
            "version": __version__,
            "description": "Your music library, searched by describing music in words. Read-only.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Track": _TRACK, "Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }
