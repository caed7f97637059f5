"""What residents (and staff) write is shown as text, never run as markup, on every page that
shows it: the web chat, the queue, the case page (transcript, summary note, notes, audit
trail), the audit log, the admin's Try it, service search and reports. Checked in the HTML
of every GET route of the app, and in Debian's Chromium (no dialog ever opens, live updates
stay text)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import handoff
from tests.bot.hardening import (
    HTML,
    PASSWORD,
    all_channels,
    app_routes,
    build_app,
    fill_path,
    login,
    open_case,
)
from tests.bot.helpers import launch_chromium, own_db, wait_for
from tests.stubs.events import line_text_event, line_user_id, line_webhook_request
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
ATTR = '"><svg onload=alert(3)>'
BOLD = "<b>太字</b>"
PAYLOADS = (SCRIPT, IMG, ATTR, BOLD)
#: a real concern around the markup, so triage quotes it as evidence in the summary note
CONCERN = f"母の介護がつらいです{SCRIPT}。家賃も払えません{IMG}{ATTR}{BOLD}"


@pytest.fixture
def app(
    template_db: Path,
    tmp_path: Path,
    line_stub: LineStub,
    telegram_stub: TelegramStub,
    triage_engine: Triage,
) -> FastAPI:
    return build_app(
        template_db, all_channels(tmp_path / "data", line_stub, telegram_stub), triage_engine
    )


def _raw_payloads(html: str) -> list[str]:
    return [p for p in PAYLOADS if p in html]


def _escaped(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _post_line(client: TestClient | httpx.Client, stub: LineStub, text: str, user: str) -> None:
    body, headers = line_webhook_request(
        line_text_event(text, user_id=user), channel_secret=stub.channel_secret
    )
    assert client.post("/webhooks/line", content=body, headers=headers).status_code == 200


def _seed(
    app: FastAPI, client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> tuple[int, int]:
    """A real LINE consultation with markup (→ case) and a case whose note quotes it."""
    user = line_user_id()
    _post_line(client, line_stub, CONCERN, user)
    line_stub.wait_for_texts(to=user)
    _post_line(client, line_stub, "担当者と話したい", user)
    live = wait_for(
        lambda: query("SELECT id FROM cases WHERE resident_ref = ?", f"line:{user}"), what="case"
    )[0]["id"]
    db = own_db(app)
    direct = open_case(db, "telegram:424242", CONCERN, "elderly_care", "poverty", crisis="suicide")
    handoff.add_note(db, direct.id, f"メモ{SCRIPT}{ATTR}", author="kanri")
    handoff.claim(db, direct.id, actor="kanri")
    handoff.change_status(db, direct.id, "referred", actor="kanri")
    handoff.change_status(db, direct.id, "declined", actor="kanri", reason=f"理由{IMG}")
    return live, direct.id


def test_every_page_escapes_what_residents_and_staff_write(
    app: FastAPI,
    client: TestClient,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
) -> None:
    live, direct = _seed(app, client, line_stub, query)
    # the web chat shows the resident their own line
    client.get("/chat")
    client.post("/chat/messages", data={"client_id": "xss-test-1", "text": CONCERN})
    chat = client.get("/chat").text
    assert _raw_payloads(chat) == [] and _escaped(SCRIPT) in chat
    # login: the ``next`` target and a wrong name are reflected only escaped
    page = client.get("/inbox/login", params={"next": f"/inbox{ATTR}"})
    assert _raw_payloads(page.text) == []
    login(client, "kanri")
    seen: dict[str, str] = {}
    for method, route_path, _route in app_routes(app):
        if method != "GET":
            continue
        for case_id in (live, direct):
            path = fill_path(app, route_path, case_id)
            response = client.get(path, params={"q": ATTR}, headers=HTML)
            assert response.status_code < 500, path
            if response.headers.get("content-type", "").startswith("text/html"):
                assert _raw_payloads(response.text) == [], path
                seen[f"{path}#{case_id}"] = response.text
    case_page = seen[f"/inbox/cases/{direct}#{direct}"]
    # the transcript, the summary's evidence and crisis sentences, the note and the trail
    assert case_page.count(_escaped(SCRIPT)) >= 3
    assert _escaped(ATTR) in case_page and _escaped(BOLD) in case_page
    assert _escaped(f"メモ{SCRIPT}") in case_page
    live_page = seen[f"/inbox/cases/{live}#{live}"]
    assert _escaped(SCRIPT) in live_page and _escaped(BOLD) in live_page
    assert _escaped(f"理由{IMG}") in seen[f"/inbox/audit#{live}"]
    assert _escaped(ATTR) in seen[f"/admin/services#{live}"]  # the search box echoes q
    # JSON endpoints carry it as a string (inbox.js writes it with textContent)
    messages = client.get(f"/inbox/cases/{live}/messages").json()["messages"]
    assert any(m["text"] == CONCERN for m in messages)
    # Try it quotes the typed concern as evidence
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/admin").text)
    assert csrf is not None
    tried = client.post("/admin/try", data={"csrf": csrf.group(1), "text": CONCERN})
    assert tried.status_code == 200
    assert _raw_payloads(tried.text) == [] and _escaped(SCRIPT) in tried.text


@pytest.mark.browser
def test_markup_stays_text_in_chromium(
    app: FastAPI,
    live_url: str,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
) -> None:
    from playwright import sync_api

    http = httpx.Client(base_url=live_url)
    user = line_user_id()
    _post_line(http, line_stub, CONCERN, user)
    line_stub.wait_for_texts(to=user, timeout=30)
    _post_line(http, line_stub, "担当者と話したい", user)
    case_id = wait_for(
        lambda: query("SELECT id FROM cases WHERE resident_ref = ?", f"line:{user}"), what="case"
    )[0]["id"]
    dialogs: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(locale="ja-JP")
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            expect = sync_api.expect
            # the resident's own page
            page.goto(f"{live_url}/chat")
            page.locator("#text").fill(CONCERN)
            page.locator("#send").click()
            expect(page.locator("#log li.resident").last).to_contain_text(SCRIPT, timeout=15_000)
            assert page.locator("#log b, #log img, #log svg").count() == 0
            # the staff's case page, then a live update while it is open
            page.goto(f"{live_url}/inbox/login?next=/inbox/cases/{case_id}")
            page.get_by_label("名前").fill("kanri")
            page.get_by_label("パスワード").fill(PASSWORD)
            page.get_by_role("button", name="ログイン").click()
            expect(page.locator("#transcript")).to_contain_text(SCRIPT)
            expect(page.locator("section.summary")).to_contain_text(SCRIPT)
            _post_line(http, line_stub, f"追加です{BOLD}{IMG}", user)
            expect(page.locator("#transcript li").last).to_contain_text(
                f"追加です{BOLD}{IMG}", timeout=20_000
            )
            assert page.locator("#transcript b, #transcript img, #transcript svg").count() == 0
            assert page.locator("section.summary b, section.summary img").count() == 0
        finally:
            browser.close()
            http.close()
    assert dialogs == [] and errors == []
