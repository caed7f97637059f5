"""The web chat: the page and its small API, then a resident in a real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.messages import MAX_INBOUND_TEXT
from bot.settings import Settings
from tests.bot.helpers import (
    ELDERLY,
    IN_HOURS,
    RunningClock,
    copy_template,
    launch_chromium,
    own_db,
    wait_for,
)
from triage import Triage

JSON = {"Accept": "application/json"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def app(template_db: Path, settings: Settings, triage_engine: Triage) -> FastAPI:
    copy_template(template_db, settings)
    return create_app(settings, now=RunningClock(IN_HOURS), triage=triage_engine)


def _bot_messages(client: TestClient) -> list[dict[str, object]]:
    messages = client.get("/chat/messages").json()["messages"]
    return [m for m in messages if m["role"] == "bot"]


def test_the_page_is_utf8_strict_and_anonymous(client: TestClient) -> None:
    response = client.get("/chat")
    assert response.status_code == 200
    assert '<meta charset="utf-8">' in response.text
    assert "<script>" not in response.text and "style=" not in response.text  # CSP-clean
    assert "script-src 'self'" in response.headers["content-security-policy"]
    cookie = response.headers["set-cookie"]
    assert "tsunagu_chat=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/static/chat.js").status_code == 200


def test_the_greeting_arrives_and_a_message_gets_a_reply(client: TestClient) -> None:
    client.get("/chat")
    greeting = wait_for(lambda: _bot_messages(client), what="greeting")
    assert "どんなことでも" in str(greeting[0]["text"]) and greeting[0]["choices"]
    response = client.post(
        "/chat/messages", data={"client_id": "c-0000001", "text": ELDERLY}, headers=JSON
    )
    assert response.status_code == 202
    replies = wait_for(lambda: _bot_messages(client)[1:], what="reply")
    assert "高齢・介護" in str(replies[0]["text"])


def test_without_javascript_the_form_posts_and_redirects(client: TestClient) -> None:
    client.get("/chat")
    response = client.post(
        "/chat/messages", data={"client_id": "c-0000002", "text": ELDERLY}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].endswith("/chat")
    wait_for(lambda: len(_bot_messages(client)) >= 2, what="reply")
    page = client.get("/chat").text
    assert ELDERLY in page and "担当者につなぐ" in page  # the quick replies as forms


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"client_id": "c-0000003", "text": "あ" * (MAX_INBOUND_TEXT + 1)}, 413, "長すぎます"),
        ({"client_id": "bad id!", "text": "こんにちは"}, 422, "client_id"),
        ({"text": "こんにちは"}, 422, "client_id"),
    ],
)
def test_bad_input_gets_a_precise_error_and_nothing_is_stored(
    client: TestClient, app: FastAPI, form: dict[str, str], status: int, words: str
) -> None:
    client.get("/chat")
    db = own_db(app)
    before = db.execute("SELECT COUNT(*) FROM inbound_events").fetchone()[0]
    response = client.post("/chat/messages", data=form, headers=JSON)
    assert response.status_code == status and words in response.text
    assert db.execute("SELECT COUNT(*) FROM inbound_events").fetchone()[0] == before


def test_a_post_without_a_session_is_refused(app: FastAPI) -> None:
    with TestClient(app) as fresh:
        response = fresh.post(
            "/chat/messages", data={"client_id": "c-0000004", "text": "x"}, headers=JSON
        )
        assert response.status_code == 400 and "/chat" in response.json()["error"]
        assert fresh.get("/chat/messages").status_code == 400


def test_sessions_do_not_see_each_other(app: FastAPI) -> None:
    # one client runs the app (and its workers); the other is just a second browser
    with TestClient(app) as one:
        two = TestClient(app)
        one.get("/chat")
        two.get("/chat")
        one.post("/chat/messages", data={"client_id": "c-0000005", "text": ELDERLY}, headers=JSON)
        wait_for(lambda: len(_bot_messages(one)) >= 2, what="reply")
        texts = [m["text"] for m in two.get("/chat/messages").json()["messages"]]
        assert ELDERLY not in texts


def test_healthz(client: TestClient) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["channels"] == {"line": False, "telegram": False, "web": True}


# -- in a real browser ---------------------------------------------------------------


@pytest.mark.browser
def test_a_resident_consults_in_chromium(live_url: str) -> None:
    from playwright import sync_api

    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, locale="ja-JP")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            page.goto(f"{live_url}/chat")
            expect = sync_api.expect
            bot = page.locator("#log li.bot")
            expect(bot.first).to_contain_text("どんなことでも", timeout=30_000)

            page.get_by_label("メッセージ").fill(ELDERLY)
            page.get_by_role("button", name="送信").click()
            expect(page.locator("#log li.resident").last).to_have_text(
                f"あなた{ELDERLY}", timeout=30_000
            )
            expect(page.locator("#log")).to_contain_text("高齢・介護", timeout=30_000)
            expect(page.get_by_label("メッセージ")).to_have_value("")

            page.get_by_role("button", name="担当者につなぐ").click()
            expect(bot.last).to_contain_text("伝えてもよいですか", timeout=30_000)
            page.get_by_role("button", name="伝えてよい").click()
            expect(bot.last).to_contain_text("関係する窓口", timeout=30_000)
            page.get_by_role("button", name="はい").click()
            expect(bot.last).to_contain_text("担当者におつなぎしました", timeout=30_000)
            expect(page.locator("#choices button")).to_have_count(0)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "webchat.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
