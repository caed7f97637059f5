"""Run an ASGI app with uvicorn in a background thread, and the standalone stub entry point.

Tests need real HTTP on loopback (the SDKs bring their own HTTP clients), a free port chosen
by the OS, and a shutdown that does not leak threads between sessions.

Standalone, for manual trials and benchmarks::

    python -m tests.stubs.server --port 9999

serves LINE under ``/v2/...`` and Telegram under ``/bot<token>/...`` on one port.
"""

from __future__ import annotations

import argparse
import logging
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send


class StubServer:
    """uvicorn on 127.0.0.1 in a daemon thread; ``url`` is valid between start() and stop()."""

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self._host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        # Bind ourselves so the port is known before uvicorn starts (no race on port 0).
        # proto must be IPPROTO_TCP: asyncio only sets TCP_NODELAY on such sockets, and with
        # Nagle on, every response stalls ~40 ms on the client's delayed ACK (~20 req/s).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(
            self._app,
            log_config=None,  # never touch the test process's logging configuration
            access_log=False,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            backlog=1024,
            timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"stub:{self.port}", daemon=True
        )
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("stub server failed to start")
            time.sleep(0.002)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive():  # pragma: no cover - only if a handler ignores cancellation
                assert server is not None
                server.force_exit = True
                thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def combined_app(line_app: ASGIApp, telegram_app: ASGIApp) -> ASGIApp:
    """One ASGI app for both platforms: Telegram paths start with ``/bot``, LINE's with ``/v2``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        target = telegram_app if scope.get("path", "").startswith("/bot") else line_app
        await target(scope, receive, send)

    return app


def main(argv: list[str] | None = None) -> None:
    from tests.stubs.line_api import LineStub
    from tests.stubs.telegram_api import TelegramStub

    parser = argparse.ArgumentParser(description="Local LINE + Telegram API stub")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9999)
    parser.add_argument("--line-token", default=LineStub.DEFAULT_ACCESS_TOKEN)
    parser.add_argument("--telegram-token", default=TelegramStub.DEFAULT_TOKEN)
    parser.add_argument(
        "--strict-reply-tokens",
        action="store_true",
        help="reject reply tokens not registered in this process (off: any unused token works)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    line = LineStub(access_token=args.line_token, strict_reply_tokens=args.strict_reply_tokens)
    telegram = TelegramStub(token=args.telegram_token)
    print(
        f"stub on http://{args.host}:{args.port}\n"
        f"  LINE:     Configuration(host='http://{args.host}:{args.port}', "
        f"access_token='{args.line_token}')\n"
        f"  Telegram: Bot('{args.telegram_token}', "
        f"base_url='http://{args.host}:{args.port}/bot')\n"
        f"  stats:    GET /v2/__stub__/stats, /bot<token>/__stub__/stats; "
        f"POST .../__stub__/reset",
        flush=True,
    )
    uvicorn.run(
        combined_app(line.asgi_app(), telegram.asgi_app()),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        http="h11",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()
