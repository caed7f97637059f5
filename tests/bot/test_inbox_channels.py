"""A staff reply reaches the resident on their own channel: Telegram (the real
python-telegram-bot client → the local Bot API stub records ``sendMessage``) and the web chat
(the reply appears on the resident's chat page and its endpoint). LINE is covered in
test_inbox.py. The resident's answer comes back to the case; the bot stays silent."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import create_app
from tests.bot.helpers import IN_HOURS, RunningClock, copy_template, make_settings, wait_for
from tests.bot.inbox_helpers import add_staff, csrf_of, login
from tests.stubs.events import telegram_text_update, telegram_webhook_headers
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

Query = Callable[..., list[sqlite3.Row]]
SECRET = "tsunagu-inbox-test-webhook-secret-0123"
CHAT = 5_551_234_999
REPLY = "担当の佐藤です。明日の午前にお電話してもよいですか。"


@pytest.fixture
def app(
    template_db: Path, tmp_path: Path, telegram_stub: TelegramStub, triage_engine: Triage
) -> FastAPI:
    settings = make_settings(
        tmp_path / "data",
        telegram_bot_token=telegram_stub.token,
        telegram_webhook_secret=SECRET,
        telegram_api_base_url=telegram_stub.base_url,
    )
    copy_template(template_db, settings)
    add_staff(settings)
    return create_app(settings, now=RunningClock(IN_HOURS), triage=triage_engine)


def _case_of(query: Query, ref: str) -> int:
    rows = wait_for(lambda: query("SELECT id FROM cases WHERE resident_ref = ?", ref), what="case")
    return int(rows[0]["id"])


def _reply(client: TestClient, case_id: int, text: str) -> None:
    login(client, "sato")
    token = csrf_of(client)
    client.post(f"/inbox/cases/{case_id}/claim", data={"csrf": token})
    response = client.post(
        f"/inbox/cases/{case_id}/reply", data={"csrf": token, "text": text}, follow_redirects=False
    )
    assert response.status_code == 303


def _telegram(client: TestClient, text: str, message_id: int) -> None:
    update = telegram_text_update(text, user_id=CHAT, message_id=message_id)
    response = client.post(
        "/webhooks/telegram",
        content=json.dumps(update).encode(),
        headers=telegram_webhook_headers(SECRET),
    )
    assert response.status_code == 200


def test_a_staff_reply_reaches_a_telegram_resident(
    client: TestClient, telegram_stub: TelegramStub, query: Query
) -> None:
    _telegram(client, "担当者と話したい", 1)
    case_id = _case_of(query, f"telegram:{CHAT}")
    telegram_stub.wait_for_texts(to=CHAT)
    before = telegram_stub.sent_texts(CHAT)
    _reply(client, case_id, REPLY)
    telegram_stub.wait_for(lambda: REPLY in telegram_stub.sent_texts(CHAT), timeout=10)
    (sent,) = [
        r for r in telegram_stub.requests("sendMessage") if r.body and r.body.get("text") == REPLY
    ]
    assert str(sent.body["chat_id"]) == str(CHAT) and sent.status == 200
    assert telegram_stub.sent_texts(CHAT) == [*before, REPLY]
    # the answer goes to the case, and only a person answers it
    _telegram(client, "はい、午前なら大丈夫です。", 2)
    wait_for(
        lambda: query(
            "SELECT 1 FROM case_messages WHERE case_id = ? AND role = 'resident'"
            " AND text LIKE 'はい、午前%'",
            case_id,
        ),
        what="answer on the case",
    )
    wait_for(lambda: not query("SELECT 1 FROM outbox WHERE status = 'pending'"), what="outbox")
    assert telegram_stub.sent_texts(CHAT)[-1] == REPLY


def test_a_staff_reply_reaches_a_web_chat_resident(
    client: TestClient, app: FastAPI, query: Query
) -> None:
    resident = TestClient(app)  # the resident's browser; ``client`` is the staff member's
    resident.get("/chat")
    session = resident.cookies.get("tsunagu_chat")
    assert session
    response = resident.post(
        "/chat/messages",
        data={"client_id": "c-inbox-01", "text": "担当者と話したい"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 202
    case_id = _case_of(query, f"web:{session}")
    _reply(client, case_id, REPLY)

    def shown() -> list[dict[str, object]]:
        messages = resident.get("/chat/messages").json()["messages"]
        return [m for m in messages if m["text"] == REPLY]

    (message,) = wait_for(shown, what="the reply in the web chat")
    assert message["role"] == "bot"  # the chat shows the city's side as one voice
    assert REPLY in resident.get("/chat").text  # also on the page without JavaScript
    assert client.get(f"/inbox/cases/{case_id}/messages").json()["messages"][-1]["text"] == REPLY
