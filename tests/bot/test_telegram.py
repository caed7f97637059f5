"""The Telegram adapter end to end: webhook updates into the real app, replies out through
the real python-telegram-bot to the local Bot API stub; and ``telegram-poll``."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot import replies as r
from bot.app import create_app
from bot.cli import app as cli_app
from bot.line import utf16_len
from bot.messages import Choice, Outbound
from bot.settings import Settings
from bot.telegram import TELEGRAM_MAX_TEXT, TelegramSender, run_polling
from tests.bot.helpers import IN_HOURS, SUICIDE, VAGUE, RunningClock, copy_template, wait_for
from tests.bot.helpers import make_settings as base_settings
from tests.stubs.events import (
    telegram_callback_query_update,
    telegram_photo_update,
    telegram_start_update,
    telegram_sticker_update,
    telegram_text_update,
    telegram_webhook_headers,
)
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

JSONDict = dict[str, Any]
URL = "/webhooks/telegram"
SECRET = "tsunagu-test-webhook-secret-0123456789"
CHAT = 5_551_234_567


@pytest.fixture
def tg_settings(tmp_path: Path, telegram_stub: TelegramStub) -> Settings:
    return base_settings(
        tmp_path / "data",
        telegram_bot_token=telegram_stub.token,
        telegram_webhook_secret=SECRET,
        telegram_api_base_url=telegram_stub.base_url,
    )


@pytest.fixture
def app(template_db: Path, tg_settings: Settings, triage_engine: Triage) -> FastAPI:
    copy_template(template_db, tg_settings)
    return create_app(tg_settings, now=RunningClock(IN_HOURS), triage=triage_engine)


def post(client: TestClient, update: JSONDict, secret: str | None = SECRET) -> Any:
    return client.post(
        URL, content=json.dumps(update).encode(), headers=telegram_webhook_headers(secret)
    )


def callback_data(stub: TelegramStub, chat: int) -> list[str]:
    """The callback data of the inline keyboard under the last message to ``chat``."""
    markup = stub.sent_messages(chat)[-1].get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


# -- the webhook ---------------------------------------------------------------


def test_text_gets_a_reply_in_that_chat_with_an_inline_keyboard(
    client: TestClient, telegram_stub: TelegramStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = post(client, telegram_text_update(VAGUE, user_id=CHAT))
    assert response.status_code == 200 and response.json()["result"] == "accepted"
    telegram_stub.wait_for_texts(to=CHAT)
    assert "talk" in callback_data(telegram_stub, CHAT)
    typing = telegram_stub.wait_for(lambda: telegram_stub.requests("sendChatAction"))
    assert typing[0].body == {"chat_id": CHAT, "action": "typing"}
    assert "telegram update" in caplog.text  # ids and kinds are logged…
    assert VAGUE not in caplog.text and telegram_stub.token not in caplog.text  # …not these


SECRET_TEXT = "ひみつの相談内容です"


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("missing secret", 401, "missing X-Telegram-Bot-Api-Secret-Token"),
        ("wrong secret", 403, "wrong X-Telegram-Bot-Api-Secret-Token"),
        ("malformed JSON", 400, "malformed JSON"),
        ("not an object", 400, "JSON object"),
        ("no update_id", 400, "'update_id' must be an integer"),
        ("message not an object", 400, "'message' must be an object"),
        ("message without chat", 400, "'message.chat' must be an object with an integer 'id'"),
        ("button without id", 400, "'callback_query' needs a string 'id'"),
        ("over 1 MB", 413, "over 1,000,000 bytes"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_stored_or_sent(
    client: TestClient,
    telegram_stub: TelegramStub,
    query: Callable[..., list[sqlite3.Row]],
    caplog: pytest.LogCaptureFixture,
    case: str,
    status: int,
    error: str,
) -> None:
    update = telegram_text_update(SECRET_TEXT)
    headers = telegram_webhook_headers(SECRET)
    body = json.dumps(update, ensure_ascii=False).encode()
    if case == "missing secret":
        headers = telegram_webhook_headers(None)
    elif case == "wrong secret":
        headers = telegram_webhook_headers(SECRET[:-1] + "x")
    elif case == "malformed JSON":
        body = body[:-1]
    elif case == "not an object":
        body = b"[1]"
    elif case == "no update_id":
        body = json.dumps({"message": update["message"]}).encode()
    elif case == "message not an object":
        body = json.dumps({"update_id": 1, "message": "hi"}).encode()
    elif case == "message without chat":
        del update["message"]["chat"]
        body = json.dumps(update).encode()
    elif case == "button without id":
        press = telegram_callback_query_update("cat:x")
        del press["callback_query"]["id"]
        body = json.dumps(press).encode()
    elif case == "over 1 MB":
        body = b"{" + b" " * 1_000_001 + b"}"
    with caplog.at_level(logging.INFO):
        response = client.post(URL, content=body, headers=headers)
    assert response.status_code == status
    assert error in response.json()["error"]
    assert query("SELECT COUNT(*) FROM inbound_events")[0][0] == 0
    assert telegram_stub.requests() == []
    assert SECRET_TEXT not in caplog.text and SECRET_TEXT not in response.text


def test_start_greets_and_keeps_the_deep_link_payload(
    client: TestClient, telegram_stub: TelegramStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    post(client, telegram_start_update("from-poster-42", user_id=CHAT))
    assert telegram_stub.wait_for_texts(to=CHAT)[0] == r.text("ja", "greeting")
    row = query("SELECT kind, data FROM inbound_events")[0]
    assert (row["kind"], row["data"]) == ("start", "from-poster-42")


def test_a_button_press_is_answered_and_moves_the_conversation_on(
    client: TestClient, telegram_stub: TelegramStub
) -> None:
    post(client, telegram_text_update(VAGUE, user_id=CHAT))
    telegram_stub.wait_for_texts(to=CHAT)
    category = next(d for d in callback_data(telegram_stub, CHAT) if d.startswith("cat:"))
    press = telegram_callback_query_update(category, user_id=CHAT)
    post(client, press)
    answered = telegram_stub.wait_for(telegram_stub.answered_callbacks)
    assert answered[0]["callback_query_id"] == press["callback_query"]["id"]
    telegram_stub.wait_for(
        lambda: r.DATA_HANDOFF in callback_data(telegram_stub, CHAT), message="the offer"
    )


@pytest.mark.parametrize("build", [telegram_sticker_update, telegram_photo_update])
def test_non_text_gets_a_kind_request_for_words(
    client: TestClient, telegram_stub: TelegramStub, build: Callable[..., JSONDict]
) -> None:
    post(client, build(user_id=CHAT))
    assert telegram_stub.wait_for_texts(to=CHAT)[0] == r.text("ja", "non_text")


def test_a_caption_is_read_as_words(client: TestClient, telegram_stub: TelegramStub) -> None:
    post(client, telegram_photo_update(user_id=CHAT, caption=SUICIDE))
    first = telegram_stub.wait_for_texts(to=CHAT)[0]
    assert "119" in first  # the crisis path, from the caption


def test_a_duplicate_update_is_processed_once(
    client: TestClient, telegram_stub: TelegramStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    update = telegram_text_update(VAGUE, user_id=CHAT)
    assert post(client, update).json()["result"] == "accepted"
    assert post(client, update).json()["result"] == "duplicate"
    telegram_stub.wait_for_texts(to=CHAT)
    assert query("SELECT COUNT(*) FROM inbound_events")[0][0] == 1
    assert len(query("SELECT * FROM outbox")) == 1


def test_a_429_is_delayed_by_retry_after_then_delivered_once(
    client: TestClient, telegram_stub: TelegramStub
) -> None:
    telegram_stub.fail_next("sendMessage", 429, retry_after=1)
    post(client, telegram_text_update(VAGUE, user_id=CHAT))
    telegram_stub.wait_for_texts(to=CHAT, timeout=10)
    first, second = telegram_stub.requests("sendMessage")[:2]
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 0.95
    assert len(telegram_stub.deliveries(CHAT)) == 1


@pytest.mark.parametrize(
    ("fault", "row", "attempts", "delivered"),
    [
        ("blocked", "failed", 1, 0),  # Forbidden: never retried
        ("500 twice", "sent", 3, 1),  # a server error is transient
    ],
)
def test_blocked_is_permanent_and_server_errors_are_retried(
    client: TestClient,
    telegram_stub: TelegramStub,
    query: Callable[..., list[sqlite3.Row]],
    fault: str,
    row: str,
    attempts: int,
    delivered: int,
) -> None:
    if fault == "blocked":
        telegram_stub.block_chat(CHAT)
    else:
        telegram_stub.fail_next("sendMessage", 500, times=2)
    post(client, telegram_text_update(VAGUE, user_id=CHAT))
    done = wait_for(
        lambda: query("SELECT status, attempts FROM outbox WHERE status != 'pending'"),
        what="the outbox row to settle",
    )
    assert (done[0]["status"], done[0]["attempts"]) == (row, attempts)
    assert len(telegram_stub.deliveries(CHAT)) == delivered


def test_one_chat_is_paced_to_one_message_a_second(
    client: TestClient, telegram_stub: TelegramStub
) -> None:
    post(client, telegram_text_update(VAGUE, user_id=CHAT))
    post(client, telegram_text_update("ありがとう", user_id=CHAT))
    telegram_stub.wait_for_texts(to=CHAT, count=2, timeout=10)
    times = [q.time for q in telegram_stub.requests("sendMessage")]
    assert len(times) == 2 and times[1] - times[0] >= 0.95


def test_one_chats_pacing_does_not_hold_another_chat(
    client: TestClient, telegram_stub: TelegramStub
) -> None:
    other = CHAT + 1
    post(client, telegram_text_update(VAGUE, user_id=CHAT))
    post(client, telegram_text_update("ありがとう", user_id=CHAT))
    telegram_stub.wait_for_texts(to=CHAT)
    post(client, telegram_text_update(VAGUE, user_id=other))  # while CHAT's 2nd one waits
    telegram_stub.wait_for_texts(to=CHAT, count=2, timeout=10)
    telegram_stub.wait_for_texts(to=other)
    sends = telegram_stub.requests("sendMessage")
    mine = [q.time for q in sends if q.body["chat_id"] == CHAT]
    theirs = [q.time for q in sends if q.body["chat_id"] == other]
    assert theirs[0] < mine[1]


# -- the sender on its own: Telegram's size limit and pacing within a turn ----------


def test_a_long_text_is_split_under_4096_and_paced(
    telegram_stub: TelegramStub, tg_settings: Settings
) -> None:
    text = ("今日は相談に来てくれてありがとう。" * 300)[:5000]
    choices = (Choice("はい", "consent:staff:yes"),)

    async def run() -> None:
        sender = TelegramSender(tg_settings)
        try:
            await sender.send(
                f"telegram:{CHAT}", [Outbound(text, choices)], retry_key=str(uuid.uuid4())
            )
        finally:
            await sender.aclose()

    asyncio.run(run())
    parts = telegram_stub.sent_texts(CHAT)
    assert len(parts) == 2 and "".join(parts) == text
    assert all(utf16_len(p) <= TELEGRAM_MAX_TEXT for p in parts)
    assert parts[0].endswith("。")
    messages = telegram_stub.sent_messages(CHAT)
    assert "reply_markup" not in messages[0] and "reply_markup" in messages[1]
    first, second = telegram_stub.requests("sendMessage")
    assert second.time - first.time >= 0.95


# -- telegram-poll -------------------------------------------------------------------


def test_polling_feeds_queued_updates_through_the_same_intake(
    app: FastAPI, telegram_stub: TelegramStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    first = telegram_start_update(user_id=CHAT)
    telegram_stub.queue_update(first)
    telegram_stub.queue_update(telegram_text_update(VAGUE, user_id=CHAT))
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(asyncio.run(run_polling(app, stop=stop, poll_timeout=1))),
        daemon=True,
    )
    thread.start()
    try:
        texts = telegram_stub.wait_for_texts(to=CHAT, count=2, timeout=15)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and result == [2]
    assert texts[0] == r.text("ja", "greeting")
    assert telegram_stub.pending_updates() == []  # confirmed by the offset
    ids = [row[0] for row in query("SELECT channel_event_id FROM inbound_events ORDER BY id")]
    assert ids[0] == str(first["update_id"]) and len(ids) == 2


def test_the_telegram_poll_command_is_there() -> None:
    result = CliRunner().invoke(cli_app, ["telegram-poll", "--help"])
    assert result.exit_code == 0 and "getUpdates" in result.output
