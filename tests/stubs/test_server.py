"""The standalone stub (``python -m tests.stubs.server``) serves both platforms on one port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    PushMessageRequest,
    TextMessage,
)
from telegram import Bot

from tests.stubs import events
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def standalone() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stubs.server", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/__stub__/stats", timeout=0.5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"standalone stub did not start: {err}") from None
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_standalone_serves_line_and_telegram(standalone: str) -> None:
    user = events.line_user_id("standalone")
    config = Configuration(host=standalone, access_token=LineStub.DEFAULT_ACCESS_TOKEN)
    with ApiClient(config) as client:
        MessagingApi(client).push_message(
            PushMessageRequest(to=user, messages=[TextMessage(text="standalone")])
        )

    async def telegram() -> str | None:
        bot = Bot(TelegramStub.DEFAULT_TOKEN, base_url=f"{standalone}/bot")
        await bot.send_message(1, "hello")
        return (await bot.get_me()).username

    assert asyncio.run(telegram()) == "tsunagu_test_bot"
    line_stats = httpx.get(f"{standalone}/__stub__/stats").json()
    assert line_stats["by_path_status"] == {"POST /v2/bot/message/push 200": 1}
    telegram_stats = httpx.get(f"{standalone}/bot/__stub__/stats").json()
    assert telegram_stats["deliveries"] == 1 and telegram_stats["requests"] == 2


def test_standalone_accepts_unregistered_reply_tokens_once(standalone: str) -> None:
    """Webhook events are built in another process there, so tokens cannot be pre-registered."""
    headers = {"Authorization": f"Bearer {LineStub.DEFAULT_ACCESS_TOKEN}"}
    body = {"replyToken": events.new_reply_token(), "messages": [{"type": "text", "text": "x"}]}
    first = httpx.post(f"{standalone}/v2/bot/message/reply", json=body, headers=headers)
    again = httpx.post(f"{standalone}/v2/bot/message/reply", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 400)
    assert again.json() == {"message": "Invalid reply token"}
    assert httpx.post(f"{standalone}/__stub__/reset").json() == {"reset": True}
    assert httpx.get(f"{standalone}/__stub__/stats").json()["requests"] == 0
