"""Shared machinery of the API stubs: request recording, fault injection, waiting, lifecycle.

The LINE and Telegram stubs differ only in routing, auth and error bodies; everything a test
inspects or programs (records, deliveries, faults, ``wait_for``) lives here so both behave alike.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp

from tests.stubs.server import StubServer

T = TypeVar("T")

JSON_MEDIA_TYPE = "application/json"


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialise compactly with real UTF-8 (both APIs answer like that), no pydantic on the path."""
    return Response(
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type=JSON_MEDIA_TYPE,
    )


@dataclass(slots=True)
class RecordedRequest:
    """One HTTP request as the stub saw it; ``status`` is filled in once the answer is chosen."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the form fields (Telegram), or None
    raw: bytes
    time: float  # time.time() at arrival
    monotonic: float
    generation: int
    status: int | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class Delivery:
    """A message the platform accepted for a user/chat (what the end user would see)."""

    to: str | None
    kind: str  # "reply", "push", "multicast", "sendMessage"
    message: dict[str, Any]
    request: RecordedRequest

    @property
    def text(self) -> str | None:
        value = self.message.get("text")
        return value if isinstance(value, str) else None


@dataclass(slots=True)
class Fault:
    """A programmed misbehaviour for requests whose path ends with ``suffix``."""

    suffix: str
    status: int | None = None  # None: delay only
    delay: float = 0.0
    remaining: int | None = None  # None: unlimited (time-bounded by ``until``)
    until: float | None = None  # monotonic deadline
    retry_after: int | None = None
    body: Any = None
    processed: bool = False  # handle the request normally, then answer with the error anyway

    def active(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.remaining is None or self.remaining > 0


@dataclass(slots=True)
class _Decision:
    delay: float = 0.0
    fail: Fault | None = None


class StubBase:
    """Base of the platform stubs. Subclasses implement ``_authorize``, ``_handle``, ``_error``."""

    def __init__(self, *, max_records: int = 50_000) -> None:
        self._cond = threading.Condition(threading.RLock())
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._deliveries: deque[Delivery] = deque(maxlen=max_records)
        self._faults: list[Fault] = []
        self._generation = 0
        self._changes = 0  # bumped on every recorded change, for wait_for
        # Totals survive the bounded record deque, so long benchmarks can still be checked.
        self._counts: dict[str, int] = {}
        self._delivered_total = 0
        self._server: StubServer | None = None
        self.app: FastAPI = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        self.app.add_api_route("/{path:path}", self._dispatch, methods=methods)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Serve ``self.app`` on 127.0.0.1 and a free port in a background thread."""
        if self._server is None:
            self._server = StubServer(self.asgi_app())
            self._server.start()
        return self

    def stop(self) -> None:
        self._wake_waiters()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def asgi_app(self) -> ASGIApp:
        return self.app

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running stub (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("stub is not started; use it as a context manager or call start()")
        return self._server.url

    # ------------------------------------------------------------------ inspection
    def requests(self, path_suffix: str = "", method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path ends with ``path_suffix``, oldest first."""
        with self._cond:
            return [
                r
                for r in self._records
                if r.path.endswith(path_suffix) and (method is None or r.method == method.upper())
            ]

    def last_request(self, path_suffix: str = "") -> RecordedRequest:
        found = self.requests(path_suffix)
        if not found:
            raise LookupError(f"no request to *{path_suffix} recorded")
        return found[-1]

    def deliveries(self, to: str | int | None = None) -> list[Delivery]:
        """Messages accepted by the platform, in order; ``to`` filters by user/chat id."""
        key = None if to is None else str(to)
        with self._cond:
            return [d for d in self._deliveries if key is None or d.to == key]

    def sent_messages(self, to: str | int | None = None) -> list[dict[str, Any]]:
        return [d.message for d in self.deliveries(to)]

    def sent_texts(self, to: str | int | None = None) -> list[str]:
        """Texts of every text message replied/pushed/sent (to ``to``), in delivery order."""
        return [t for d in self.deliveries(to) if (t := d.text) is not None]

    def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, message: str | None = None
    ) -> T:
        """Block until ``predicate()`` is truthy and return its value.

        Re-evaluated whenever the stub records something (no fixed polling sleep), so a test of
        asynchronous delivery waits exactly as long as the delivery takes.
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self._changes
            # Evaluated without the lock: a predicate may itself call the stub over HTTP.
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests()[-8:]]
                raise TimeoutError(
                    (message or "condition not met")
                    + f" within {timeout}s; last requests: {recent}"
                )
            with self._cond:
                if self._changes == seen:
                    # Short cap: predicates may also depend on state outside the stub.
                    self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, message: str | None = None
    ) -> T:
        """``wait_for`` that leaves the caller's event loop free (code under test may run there)."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, message)

    def wait_for_texts(
        self, to: str | int | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[str]:
        """Wait until at least ``count`` texts were delivered (to ``to``); return them all."""
        return self.wait_for(
            lambda: texts if len(texts := self.sent_texts(to)) >= count else None,
            timeout,
            f"{count} text(s) to {to!r}",
        )

    def clear(self) -> None:
        """Forget recorded requests and deliveries (faults and platform state stay)."""
        with self._cond:
            self._records.clear()
            self._deliveries.clear()
            self._counts.clear()
            self._delivered_total = 0
            self._generation += 1
            self._changed()

    def reset(self) -> None:
        """Back to a freshly started stub: records, faults and platform state."""
        with self._cond:
            self.clear()
            self._faults.clear()
            self._reset_state()
        self._wake_waiters()

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        path: str,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: int | None = None,
        body: Any = None,
        processed: bool = False,
    ) -> None:
        """Answer the next ``times`` requests to ``*path`` with ``status``.

        ``processed=True`` handles the request first (message delivered, reply token used,
        retry key accepted) and only then answers the error: a lost response, the case that
        retry keys exist for. ``body`` replaces the platform's usual error body.
        """
        self._add_fault(
            Fault(
                path,
                status,
                remaining=times,
                retry_after=retry_after,
                body=body,
                processed=processed,
            )
        )

    def delay_next(self, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` requests to ``*path`` for ``seconds`` before handling them.

        The request is still processed after the delay, as a slow real server would; a client
        that timed out meanwhile therefore may see its message delivered anyway.
        """
        self._add_fault(Fault(path, None, delay=seconds, remaining=times))

    def fail_for(
        self,
        path: str,
        status: int,
        seconds: float,
        *,
        retry_after: int | None = None,
        body: Any = None,
    ) -> None:
        """Answer every request to ``*path`` with ``status`` for the next ``seconds`` (outage)."""
        until = time.monotonic() + seconds
        self._add_fault(Fault(path, status, until=until, retry_after=retry_after, body=body))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def _add_fault(self, fault: Fault) -> None:
        with self._cond:
            self._faults.append(fault)

    def _take_faults(self, path: str) -> _Decision:
        decision = _Decision()
        if not self._faults:
            return decision
        now = time.monotonic()
        with self._cond:
            self._faults = [f for f in self._faults if f.active(now)]
            for fault in self._faults:
                if not path.endswith(fault.suffix):
                    continue
                if fault.status is None:
                    if decision.delay:
                        continue
                    decision.delay = fault.delay
                elif decision.fail is None:
                    decision.fail = fault
                else:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
        return decision

    # ------------------------------------------------------------------ request pipeline
    async def _dispatch(self, request: Request) -> Response:
        path: str = request.scope["path"]
        if "/__stub__/" in path:
            return self._introspect(request)
        raw = await request.body()
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]
        }
        query = dict(parse_qsl(request.scope.get("query_string", b"").decode("latin-1")))
        body = self._normalize_body(
            await self._parse_body(request, headers.get("content-type", ""), raw)
        )
        now = time.time()
        with self._cond:
            record = RecordedRequest(
                method=request.method,
                path=path,
                query=query,
                headers=headers,
                body=body,
                raw=raw,
                time=now,
                monotonic=time.monotonic(),
                generation=self._generation,
            )
            self._records.append(record)
            self._changed()
        response = await self._respond(record)
        with self._cond:
            record.status = response.status_code
            key = f"{record.method} {record.path} {record.status}"
            self._counts[key] = self._counts.get(key, 0) + 1
            self._changed()
        return response

    def stats(self) -> dict[str, Any]:
        """Answered requests per ``METHOD path status`` and delivered messages since clear()."""
        with self._cond:
            return {
                "requests": sum(self._counts.values()),
                "by_path_status": dict(self._counts),
                "deliveries": self._delivered_total,
            }

    def _introspect(self, request: Request) -> Response:
        """``GET .../__stub__/stats`` and ``POST .../__stub__/reset`` for the standalone server."""
        if request.url.path.endswith("/__stub__/stats"):
            return json_response(self.stats())
        if request.url.path.endswith("/__stub__/reset") and request.method == "POST":
            self.reset()
            return json_response({"reset": True})
        return json_response({"message": "Not found"}, 404)

    async def _respond(self, record: RecordedRequest) -> Response:
        denied = self._authorize(record)
        if denied is not None:
            return denied
        decision = self._take_faults(record.path)
        if decision.delay:
            await asyncio.sleep(decision.delay)
        fault = decision.fail
        if fault is not None and not fault.processed:
            return self._error(fault.status or 500, fault.retry_after, fault.body)
        response = await self._handle(record)
        if fault is not None:
            return self._error(fault.status or 500, fault.retry_after, fault.body)
        return response

    async def _parse_body(self, request: Request, content_type: str, raw: bytes) -> Any:
        if not raw:
            return None
        if "json" in content_type:
            try:
                return json.loads(raw)
            except ValueError:
                return None
        if "x-www-form-urlencoded" in content_type:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        if "multipart/form-data" in content_type:
            form = await request.form()
            out: dict[str, Any] = {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    out[key] = value
                else:
                    out[key] = {"filename": value.filename, "size": value.size}
            return out
        return None

    def _deliver(
        self, record: RecordedRequest, to: str | None, kind: str, message: dict[str, Any]
    ) -> None:
        """Record an accepted message, unless the stub was cleared while the request ran."""
        with self._cond:
            if record.generation == self._generation:
                self._deliveries.append(Delivery(to, kind, message, record))
                self._delivered_total += 1
                self._changed()

    # ------------------------------------------------------------------ subclass hooks
    def _authorize(self, record: RecordedRequest) -> Response | None:
        return None

    async def _handle(self, record: RecordedRequest) -> Response:
        raise NotImplementedError

    def _error(self, status: int, retry_after: int | None, body: Any) -> Response:
        raise NotImplementedError

    def _changed(self) -> None:
        """Wake ``wait_for`` callers (caller holds the lock)."""
        self._changes += 1
        self._cond.notify_all()

    def _normalize_body(self, body: Any) -> Any:
        """Turn the parsed body into what tests should see in ``RecordedRequest.body``."""
        return body

    def _reset_state(self) -> None:
        """Drop platform state (tokens, profiles, queued updates...)."""

    def _wake_waiters(self) -> None:
        """Release long-polling handlers (Telegram getUpdates) on reset/stop."""
