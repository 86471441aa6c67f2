"""What keeps the server safe to leave running: the token, the Host check, bounded inputs, and
errors as JSON (the CLI's message and exit code) instead of tracebacks."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging

from musictext.errors import LibraryBusyError, MusictextError, NotFoundError, UsageError

MAX_BODY = 64 << 10  # bytes of a request body (a playlist recipe is a few hundred)
# A too-large body up to this size is read and dropped before the 413 goes out: clients that send
# the whole body before reading the answer (urllib, requests) then get the JSON error, not a broken
# pipe. A larger one is refused at once and the connection closed.
DRAIN_BODY = 4 << 20
MAX_QUERY_STRING = 16 << 10  # bytes of a URL's query string
MAX_TEXT = 1000  # characters of a search query or a playlist's words
MAX_N = 500  # tracks in one answer
MAX_LIST = 32  # --where clauses, seeds, ids in one request
TOKEN_COOKIE = "musictext_token"

log = logging.getLogger("musictext.serve")


class RequestError(UsageError):
    """A request that cannot be answered as asked: a 4xx with this message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def status_for(exc: MusictextError) -> int:
    if isinstance(exc, RequestError):
        return exc.status
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, LibraryBusyError):
        return 503
    return 400


def error_body(message: str, code: int, kind: str) -> bytes:
    return json.dumps({"error": {"message": message, "code": code, "type": kind}}).encode()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The bearer token in ``path`` (its first line); short or empty tokens are refused."""
    from musictext.errors import read_user_text

    lines = read_user_text(path, "token file", max_bytes=4096).strip().splitlines()
    token = lines[0].strip() if lines else ""
    if len(token) < 16:
        raise MusictextError("the token must be at least 16 characters (e.g. `openssl rand -hex 24 > FILE`)", path)
    return token


def same_token(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


_LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")


def _host_name(header: str) -> str:
    """The name in a Host header, without its port (``[::1]:8765`` -> ``[::1]``)."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0].lower()


class GuardMiddleware:
    """Pure ASGI: size limits, the token, the Host header, and any error as a JSON answer."""

    def __init__(self, app, token: str | None, loopback_only: bool):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        send = _watch(send)
        try:
            if len(scope.get("query_string", b"")) > MAX_QUERY_STRING:
                raise RequestError(f"the query string is too long (over {MAX_QUERY_STRING} bytes)", 414)
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            if self.loopback_only and self.token is None:
                # Bound to loopback without a token: a web page elsewhere must not reach us by
                # pointing a DNS name at 127.0.0.1 (DNS rebinding), so only local Host names answer.
                host = _host_name(headers.get("host", ""))
                if host not in _LOCAL_NAMES:
                    raise RequestError("this server answers only to localhost", 403)
            if self.token is not None and not self._authorised(scope, headers, path):
                raise RequestError("missing or wrong token: send `Authorization: Bearer TOKEN`", 401)
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                if length.isdigit() and int(length) <= DRAIN_BODY:
                    await _drain(receive)
                raise RequestError(f"the request body is too large (over {MAX_BODY >> 10} KiB)", 413)
            receive = _bounded(receive)
            await self.app(scope, receive, send)
        except MusictextError as exc:
            await _send_error(send, status_for(exc), str(exc), exc.exit_code, type(exc).__name__)
        except Exception:  # never a traceback to the client; the log keeps it
            log.exception("internal error answering %s", path)
            await _send_error(send, 500, "internal error (see the server's log)", 1, "InternalError")

    def _authorised(self, scope, headers: dict, path: str) -> bool:
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and same_token(auth[7:].strip(), self.token):
            return True
        from http.cookies import SimpleCookie

        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            pass
        if TOKEN_COOKIE in cookie and same_token(cookie[TOKEN_COOKIE].value, self.token):
            return True
        from urllib.parse import parse_qs

        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        # OpenSubsonic's apiKey extension (clients send it as a parameter); and the page's first
        # visit, /?token=..., which sets the cookie and forgets the parameter.
        name = "apiKey" if path.startswith("/rest/") else "token" if path == "/" else None
        return name is not None and any(same_token(v, self.token) for v in params.get(name, []))


async def _drain(receive) -> None:
    """Read and drop a request's body (bounded by the caller's Content-Length check)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _bounded(receive):
    seen = 0

    async def inner():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise RequestError(f"the request body is too large (over {MAX_BODY >> 10} KiB)", 413)
        return message

    return inner


def _watch(send):
    """Remembers whether the answer has started, so an error after that is not sent twice."""

    async def inner(message):
        if message["type"] == "http.response.start":
            inner.started = True
        await send(message)

    inner.started = False
    return inner


async def _send_error(send, status: int, message: str, code: int, kind: str) -> None:
    if getattr(send, "started", False):
        return
    body = error_body(message, code, kind)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
