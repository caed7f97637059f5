"""Guards every request and response passes through: body size, headers, login throttling.

Pure ASGI middlewares (not ``BaseHTTPMiddleware``): a body over the limit is
refused from its ``Content-Length`` before anything is read, and a body that
does not declare its length is counted as it streams in and cut off at the
limit, so a huge upload never lands in memory or in a temporary file. Both
answer 413 with the limit in words; nothing is stored.

Every response carries the security headers (a strict CSP without inline
script or style, ``frame-ancestors 'none'``, ``nosniff``, no referrer), so a
page added later cannot forget them. Failed inbox logins are also counted per
client address (the account lockout in ``handoff.staff`` counts per name), so
guessing across many names from one place is slowed down as well.

Behind a reverse proxy that terminates HTTPS, ``TSUNAGU_BEHIND_PROXY=true``
makes the app honour ``X-Forwarded-Proto``/``-For`` from
``TSUNAGU_FORWARDED_ALLOW_IPS`` only; cookies then get ``Secure``. Without it
those headers are ignored (a client could send them itself).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import handoff

from .settings import Settings
from .webchat import CSP

log = logging.getLogger(__name__)

#: set on every response that does not set its own
HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000"
LOGIN_PATH = "/inbox/login"
IMPORT_PATH = "/admin/import"
#: how many client addresses the login throttle remembers (oldest forgotten first)
THROTTLE_KEEP = 10_000

_ROUTE_NAMES = (
    ("/webhooks/line", "line webhook"),
    ("/webhooks/telegram", "telegram webhook"),
    ("/chat", "web chat"),
    ("/inbox", "inbox"),
    ("/admin", "admin"),
)


def route_name(path: str) -> str:
    """What the log calls a path (never the query, which may hold a search term)."""
    for prefix, name in _ROUTE_NAMES:
        if path == prefix or path.startswith(prefix + "/"):
            return name
    return "request"


def _wants_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "")


# -- request size ---------------------------------------------------------------------------


class RequestTooLarge(HTTPException):
    """The body is over the limit for its route."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body is over {limit:,} bytes")
        self.limit = limit


def too_large_response(limit: int, *, html: bool) -> Response:
    """413 in the caller's language: a page for a browser, JSON for a webhook or script."""
    if html:
        megabytes = max(1, round(limit / 1_000_000))
        return HTMLResponse(
            '<!doctype html><meta charset="utf-8"><title>413</title>'
            f"<p>送信された内容が大きすぎます（{megabytes}MBまで）。</p>",
            status_code=413,
        )
    return JSONResponse({"error": f"request body is over {limit:,} bytes"}, status_code=413)


def limit_for(settings: Settings) -> Callable[[str], int]:
    """The body limit of each path: larger for the KB import, the default elsewhere."""

    def pick(path: str) -> int:
        if path == IMPORT_PATH:
            return settings.max_import_bytes
        return settings.max_body_bytes

    return pick


class BodyLimit:
    """Refuse a body over its limit from its Content-Length, or as soon as it streams past."""

    def __init__(self, app: ASGIApp, *, limit: Callable[[str], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.limit(path)
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            log.warning(
                "%s: refused, body over %d bytes (Content-Length %s)",
                route_name(path),
                limit,
                declared,
            )
            response = too_large_response(limit, html=_wants_html(headers))
            await response(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    log.warning(
                        "%s: refused, body over %d bytes (streamed)", route_name(path), limit
                    )
                    raise RequestTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except RequestTooLarge as exc:
            if started:
                raise
            response = too_large_response(exc.limit, html=_wants_html(headers))
            await response(scope, receive, send)


async def _too_large(request: Request, exc: Exception) -> Response:
    """The handler for ``RequestTooLarge`` raised while a route reads its body."""
    limit = exc.limit if isinstance(exc, RequestTooLarge) else 0
    return too_large_response(limit, html=_wants_html(request.headers))


# -- response headers -----------------------------------------------------------------------


class SecurityHeaders:
    """Add ``HEADERS`` (and HSTS over HTTPS) to every response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)


# -- login throttling -----------------------------------------------------------------------


class LoginThrottle:
    """At most ``max_failures`` failed logins per client address in ``window`` seconds.

    A failure is a 401 from the login route. Past the limit the route is not
    even called (no password hashing to burn CPU on): 429 with Retry-After,
    a log line without the address, and one audit event per blocked window.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_failures: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._reported: dict[str, float] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            self._reported.pop(client, None)
        return times

    def _record(self, client: str, now: float) -> None:
        times = self._failures.setdefault(client, deque())
        times.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > THROTTLE_KEEP:
            old, _ = self._failures.popitem(last=False)
            self._reported.pop(old, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == LOGIN_PATH
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        now = self.clock()
        recent = self._recent(client, now)
        if len(recent) >= self.max_failures:
            retry = max(1, int(recent[0] + self.window - now) + 1)
            self._blocked(scope, client, len(recent), now)
            response = self._refusal(Headers(scope=scope), retry)
            await response(scope, receive, send)
            return
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watched)
        if status == 401:
            self._record(client, now)

    def _blocked(self, scope: Scope, client: str, failures: int, now: float) -> None:
        log.warning(
            "inbox login: refused, %d failed logins from one client address in %d minutes",
            failures,
            self.window // 60,
        )
        if client in self._reported:
            return
        self._reported[client] = now
        app = scope.get("app")
        front_door = getattr(getattr(app, "state", None), "front_door", None)
        if front_door is None:
            return
        with front_door.db.atomic():
            handoff.audit(
                front_door.db,
                None,
                actor="anonymous",
                action="login_throttled",
                from_value=None,
                to_value=None,
                detail={"failures": failures, "window_minutes": int(self.window // 60)},
                at=front_door.now(),
            )

    @staticmethod
    def _refusal(headers: Headers, retry: int) -> Response:
        extra = {"Retry-After": str(retry)}
        if _wants_html(headers):
            return HTMLResponse(
                '<!doctype html><meta charset="utf-8"><title>429</title>'
                "<p>ログインの失敗が続いています。しばらくしてからもう一度お試しください。</p>",
                status_code=429,
                headers=extra,
            )
        return JSONResponse(
            {"error": "too many failed logins; try again later"}, status_code=429, headers=extra
        )


# -- wiring ---------------------------------------------------------------------------------


def install(app: FastAPI, settings: Settings) -> None:
    """Add the guards to ``app`` (outermost first: proxy, headers, size, throttle)."""
    app.add_exception_handler(RequestTooLarge, _too_large)
    # add_middleware wraps: the last one added runs first
    app.add_middleware(
        LoginThrottle,
        max_failures=settings.login_ip_max_failures,
        window=settings.login_ip_window_minutes * 60.0,
    )
    app.add_middleware(BodyLimit, limit=limit_for(settings))
    app.add_middleware(SecurityHeaders)
    if settings.behind_proxy:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        trusted = [h.strip() for h in settings.forwarded_allow_ips.split(",") if h.strip()]
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=trusted)
