"""Web hardening in front of every route: Host allow-list, Origin checks, body limits while the body
streams, security headers, rate limits, and an access log that never shows a token.

``SecurityMiddleware`` is plain ASGI (no buffering): it answers before the app runs when

- the ``Host`` header is not an allowed host (DNS rebinding: a web page whose name resolves to
  127.0.0.1 would otherwise reach a loopback server) -> 400;
- a state-changing request or a WebSocket handshake comes from another origin's page (the
  ``Origin`` header: neither this server's own origin nor one of ``allowed_origins``) -> 403;
- a body is larger than its cap: JSON (``max_json_kb``) and uploads (``max_upload_mb``) alike, by
  ``Content-Length`` before reading, and by counting the bytes as they arrive for a body without
  one (chunked) -> 413; the body is never parsed, and never echoed.

Every HTTP response gets ``SECURITY_HEADERS`` (a CSP without inline scripts, nosniff, no framing,
no referrer).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

from server.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        b"media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        b"form-action 'self'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
"""Sent with every HTTP response (connect-src 'self' covers the page's own ws:/wss: in current browsers)."""

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATHS = ("/api/analyze", "/api/custom/drafts")
"""Paths whose body is a video upload (capped by ``max_upload_mb``); every other body is JSON-sized."""
FORM_OVERHEAD = 64 * 1024
"""Room for the multipart boundaries and the small fields beside the video."""

log = logging.getLogger("coach.security")


def client_address(connection: HTTPConnection) -> str:
    """The peer's address (rate limits by address)."""
    return connection.client.host if connection.client is not None else "unknown"


class RateLimits:
    """Moving-window limits per key (``limits``, in memory): ``check`` raises 429 with Retry-After."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, what: str, key: str, per_minute: int) -> None:
        item = RateLimitItemPerMinute(per_minute)
        if self._limiter.hit(item, what, key):
            return
        reset = self._limiter.get_window_stats(item, what, key).reset_time
        retry = max(1, int(reset - time.time()) + 1)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many {what} requests: at most {per_minute} a minute; try again in {retry} s",
            headers={"Retry-After": str(retry)},
        )


def _host_name(host: str) -> str:
    """The name part of a Host header (``[::1]:8000`` -> ``::1``, ``Example.org:80`` -> ``example.org``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SecurityMiddleware:
    """See the module doc."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        hosts = {h.lower() for h in settings.allowed_hosts}
        if settings.host not in ("0.0.0.0", "::"):
            hosts.add(settings.host.lower())
        self.any_host = "*" in hosts
        self.hosts = {h.strip("[]") for h in hosts}
        self.origins = {o.rstrip("/").lower() for o in settings.allowed_origins}
        self.json_limit = int(settings.max_json_kb * 1024)
        self.upload_limit = int(settings.max_upload_mb * 1e6) + FORM_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.any_host and _host_name(host) not in self.hosts:
            await self._refuse(scope, send, 400, f"this server does not answer for the host {host[:100]!r}")
            return
        origin = headers.get("origin")
        changes = scope["type"] == "websocket" or scope.get("method") in UNSAFE_METHODS
        if changes and origin is not None and not self._origin_ok(origin, host):
            await self._refuse(scope, send, 403, f"requests from the page at {origin[:100]!r} are not allowed")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in UPLOAD_PATHS else self.json_limit
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, 413, self._too_large(scope["path"]))
            return
        received = 0
        too_large = started = False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # stop reading: to the app the client has gone; the answer is ours
                    too_large = True
                    log.warning("refused a %s body past %d bytes on %s", scope["method"], limit, scope["path"])
                    return {"type": "http.disconnect"}
            return message

        async def send_checked(message: Message) -> None:
            nonlocal started
            if too_large:  # whatever the app makes of the cut body, the client gets the 413
                if not started:
                    started = True
                    await self._refuse(scope, send, 413, self._too_large(scope["path"]))
                return
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        try:
            await self.app(scope, counted_receive, send_checked)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse(scope, send, 413, self._too_large(scope["path"]))

    def _too_large(self, path: str) -> str:
        if path in UPLOAD_PATHS:
            return f"the video is larger than the {self.settings.max_upload_mb:.0f} MB limit"
        return f"the request body is larger than the {self.settings.max_json_kb:.0f} KB limit"

    def _origin_ok(self, origin: str, host: str) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        return bool(parts.scheme in ("http", "https") and parts.netloc == host.strip().lower())

    @staticmethod
    async def _refuse(scope: Scope, send: Send, code: int, detail: str) -> None:
        if scope["type"] == "websocket":  # an HTTP answer to the handshake (the denial-response extension)
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming what is wrong and where, never echoing the input back."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()[:20]
    ]
    return JSONResponse({"detail": errors}, status_code=422)


_SECRET_QUERY = re.compile(r"(token=)[^&\s\"]+", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Hides ``token=...`` in log lines (uvicorn's access log shows the WebSocket's query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(_SECRET_QUERY.sub(r"\1[hidden]", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1[hidden]", record.msg)
        return True
