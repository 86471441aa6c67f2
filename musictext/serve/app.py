"""The ASGI app: routes, the page, the OpenAPI description, and how it is started."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from musictext.errors import MusictextError
from musictext.serve import DEFAULT_HOST, DEFAULT_PORT
from musictext.serve.api import API, Api
from musictext.serve.bridges import Bridges
from musictext.serve.guard import TOKEN_COOKIE, GuardMiddleware, is_loopback, same_token
from musictext.serve.openapi import openapi_spec
from musictext.serve.warm import WarmLibrary


@dataclass
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    model: str | None = None
    token: str | None = None
    playlist_dir: str | None = None
    media: object | None = None  # a mediaservers.MediaBridge


def check_options(opts: ServeOptions) -> None:
    """Refuse what would be unsafe: any bind other than loopback needs a token."""
    if not is_loopback(opts.host) and opts.token is None:
        raise MusictextError(
            f"listening on {opts.host} lets other machines in: give a token with --token-file FILE "
            "(clients send it as `Authorization: Bearer TOKEN`)"
        )


def _page(token: str | None) -> Callable:
    html = resources.files("musictext.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    async def page(request: Request) -> Response:
        given = request.query_params.get("token")
        if token is not None and given is not None and same_token(given, token):
            # The first visit carries the token; a cookie keeps it (the audio element sends no headers).
            keep = {k: v for k, v in request.query_params.items() if k != "token"}
            from urllib.parse import urlencode

            resp = RedirectResponse("/" + (f"?{urlencode(keep)}" if keep else ""), status_code=303)
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", max_age=30 * 24 * 3600)
            return resp
        return HTMLResponse(html, headers={"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"})

    return page


# The page is self-contained: its own script and style, nothing fetched from elsewhere.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "media-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


async def _openapi(request: Request) -> JSONResponse:
    return JSONResponse(openapi_spec())


async def _docs(request: Request) -> HTMLResponse:
    html = resources.files("musictext.serve").joinpath("static/docs.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": _CSP})


def create_app(opts: ServeOptions, warm: WarmLibrary | None = None) -> Starlette:
    warm = warm or WarmLibrary(opts.model)
    api = Api(warm, opts.playlist_dir)
    bridges = Bridges(warm, opts.media)
    routes = [
        Route("/", _page(opts.token)),
        Route(f"{API}/search", api.search),
        Route(f"{API}/similar", api.similar),
        Route(f"{API}/walk", api.walk),
        Route(f"{API}/playlist", api.playlist, methods=["POST"]),
        Route(f"{API}/tags", api.tags),
        Route(f"{API}/status", api.status),
        Route(f"{API}/concepts", api.concepts),
        Route(f"{API}/tracks/{{track_id}}", api.track),
        Route(f"{API}/tracks/{{track_id}}/audio", api.audio, methods=["GET", "HEAD"]),
        Route(f"{API}/openapi.json", _openapi),
        Route(f"{API}/docs", _docs),
        Route("/api/similar_tracks", bridges.similar_tracks),
        Route("/api/find_path", bridges.find_path),
        Route("/api/clap/search", bridges.clap_search, methods=["POST"]),
        Route("/api/health", bridges.health),
        Route("/rest/{method}", bridges.subsonic, methods=["GET", "POST"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        warm.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.media = opts.media
    app.state.warm = warm
    app.add_middleware(GuardMiddleware, token=opts.token, loopback_only=is_loopback(opts.host))
    return app


async def _not_found(request: Request, exc) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": f"no such endpoint: {request.url.path}", "code": 3, "type": "NotFoundError"}},
        status_code=404,
    )


async def _not_allowed(request: Request, exc) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": f"{request.method} is not allowed here", "code": 2, "type": "UsageError"}},
        status_code=405,
    )


def first_match(opts: ServeOptions, warm: WarmLibrary) -> list[str]:
    """Read the media server's song list once before serving; the lines that report the match."""
    if opts.media is None:
        return []

    def job():
        lib = warm.current()
        opts.media.refresh(lib, force=True)
        return list(opts.media.notes)

    return warm._pool.submit(job).result()


def serve(opts: ServeOptions, notify: Callable[[str], None] = lambda line: None) -> None:
    """Run the server until interrupted (uvicorn, one process: the library is warm in it)."""
    import uvicorn

    check_options(opts)
    _check_port(opts.host, opts.port)
    warm = WarmLibrary(opts.model)
    for line in first_match(opts, warm):
        notify(line)
    app = create_app(opts, warm)
    config = uvicorn.Config(
        app,
        host=opts.host,
        port=opts.port,
        http="h11",
        # A 1 MB query must reach the app (to get a JSON 413/414), not h11's bare 400.
        h11_max_incomplete_event_size=2 << 20,
        log_level="warning",
        access_log=False,
        limit_concurrency=256,
        timeout_keep_alive=15,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    notify(f"serving the library on http://{_url_host(opts.host)}:{opts.port}/ (Ctrl-C stops)")
    server.run()


def _check_port(host: str, port: int) -> None:
    """A one-line error now for an address that cannot be listened on (in use, not this machine's)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise MusictextError(f"cannot listen on {host}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            raise MusictextError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
