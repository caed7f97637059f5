"""The staff inbox through the real app: auth/role/CSRF on every route, the queue, the
case page and its actions, replies out through the real LINE SDK to the local stub, and
the whole warm handoff in Debian's Chromium. Nothing of ours is mocked."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import handoff
from bot.app import create_app
from bot.inbox import router as inbox_router
from bot.settings import Settings
from handoff import staff
from knowledge import open_database
from tests.bot.helpers import (
    IN_HOURS,
    RunningClock,
    copy_template,
    launch_chromium,
    make_settings,
    wait_for,
)
from tests.stubs.events import line_text_event, line_user_id, line_webhook_request
from tests.stubs.line_api import LineStub
from triage import Triage
from triage.assessment import Assessment, CategoryFinding, CrisisFinding

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "inbox password 123"
HTML = {"Accept": "text/html"}
T = dt.datetime(2025, 6, 3, 0, 0, tzinfo=dt.UTC)

CONSULTATION_8050 = (
    "82歳の母と52歳の兄と暮らしています。兄は無職で、10年以上部屋にひきこもっています。"
    "母は認知症が進んできて、介護がもう限界です。"
)


@pytest.fixture
def line_settings(tmp_path: Path, line_stub: LineStub) -> Settings:
    return make_settings(
        tmp_path / "data",
        line_channel_secret=line_stub.channel_secret,
        line_channel_access_token=line_stub.access_token,
        line_api_base_url=line_stub.url,
    )


def _add_staff(settings: Settings) -> None:
    db = open_database(settings.db_path)
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T)
    staff.add_staff(db, "tanaka", PASSWORD, role="staff", now=T)
    staff.add_staff(db, "admin", PASSWORD, role="admin", now=T)
    db.conn.close()


@pytest.fixture
def app(template_db: Path, line_settings: Settings, triage_engine: Triage) -> FastAPI:
    copy_template(template_db, line_settings)
    _add_staff(line_settings)
    return create_app(line_settings, now=RunningClock(IN_HOURS), triage=triage_engine)




def _assessment(*codes: str, crisis: str | None = None) -> Assessment:
    return Assessment(
        text="…",
        language="ja",
        categories=[CategoryFinding(code=c, label=c, score=0.9) for c in codes],
        crisis=CrisisFinding(type=crisis) if crisis else None,
        complex=len(codes) >= 2,
    )


def _open(
    app: FastAPI, ref: str, *codes: str, crisis: str | None = None, minutes_ago: int = 0
) -> handoff.Case:
    db = app.state.front_door.db
    at = IN_HOURS - dt.timedelta(minutes=minutes_ago)
    return handoff.open_case(
        db,
        resident_ref=ref,
        channel=ref.split(":")[0],
        assessment=_assessment(*codes, crisis=crisis),
        consent=handoff.Consent(share_with_staff=True),
        urgent=crisis is not None,
        transcript=[handoff.TranscriptEntry(role="resident", text="母の介護がつらい", at=at)],
        language="ja",
        at=at,
    )


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(client: TestClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/inbox/login")
    token = _CSRF.search(page.text)
    assert token is not None
    return client.post(
        "/inbox/login",
        data={"name": name, "password": password, "csrf": token.group(1)},
        follow_redirects=False,
    )


def csrf_of(client: TestClient) -> str:
    found = _CSRF.search(client.get("/inbox").text)
    assert found is not None
    return found.group(1)


# -- auth, roles, CSRF on every route -------------------------------------------------------

GETS = ["/inbox", "/inbox/queue", "/inbox/cases/{id}", "/inbox/cases/{id}/messages", "/inbox/audit"]
POSTS = {
    "/inbox/logout": {},
    "/inbox/cases/{id}/claim": {},
    "/inbox/cases/{id}/assign": {"assignee": "sato"},
    "/inbox/cases/{id}/reply": {"text": "こんにちは"},
    "/inbox/cases/{id}/notes": {"text": "メモ"},
    "/inbox/cases/{id}/status": {"status": "claimed"},
    "/inbox/cases/{id}/hand-back": {},
}
ADMIN_ONLY = {"/inbox/audit", "/inbox/cases/{id}/assign"}


def test_every_inbox_route_is_listed_in_the_matrix() -> None:
    paths = {
        (m, r.path)
        for r in inbox_router.routes
        for m in getattr(r, "methods", set())
        if m != "HEAD"
    }
    open_paths = {("GET", "/inbox/login"), ("POST", "/inbox/login")}
    expected = {("GET", p.replace("{id}", "{case_id}")) for p in GETS} | {
        ("POST", p.replace("{id}", "{case_id}")) for p in POSTS
    }
    assert paths - open_paths == expected


@pytest.mark.parametrize("path", GETS)
def test_anonymous_gets_are_sent_to_login_or_refused(
    client: TestClient, app: FastAPI, path: str
) -> None:
    case = _open(app, "line:Uanon", "elderly_care")
    url = path.format(id=case.id)
    page = client.get(url, headers=HTML, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/inbox/login?next=")
    assert client.get(url, headers={"Accept": "application/json"}).status_code == 401


@pytest.mark.parametrize("path", list(POSTS))
def test_anonymous_posts_are_refused(client: TestClient, app: FastAPI, path: str) -> None:
    case = _open(app, "line:Uanon", "elderly_care")
    response = client.post(
        path.format(id=case.id), data={**POSTS[path], "csrf": "x"}, follow_redirects=False
    )
    assert response.status_code == 401
    assert handoff.get_case(app.state.front_door.db, case.id).status == "new"


@pytest.mark.parametrize("path", sorted(ADMIN_ONLY))
def test_staff_get_403_on_admin_routes(client: TestClient, app: FastAPI, path: str) -> None:
    case = _open(app, "line:Urole", "elderly_care")
    login(client, "sato")
    data = {**POSTS.get(path, {}), "csrf": csrf_of(client)}
    url = path.format(id=case.id)
    response = client.post(url, data=data) if path in POSTS else client.get(url)
    assert response.status_code == 403
    assert handoff.get_case(app.state.front_door.db, case.id).assignee is None


@pytest.mark.parametrize("path", list(POSTS))
@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_posts_without_the_session_csrf_token_are_refused(
    client: TestClient, app: FastAPI, path: str, token: str
) -> None:
    case = _open(app, "line:Ucsrf", "elderly_care")
    if token == "another session's":
        other = TestClient(app)  # a second browser; ``client`` runs the app
        login(other, "tanaka")
        value: str | None = csrf_of(other)
    else:
        value = None if token == "missing" else "x" * 43
    login(client, "admin")
    db = app.state.front_door.db
    before = db.execute(
        "SELECT COUNT(*) FROM audit_events WHERE case_id = ?", [case.id]
    ).fetchone()[0]
    data = dict(POSTS[path])
    if value is not None:
        data["csrf"] = value
    response = client.post(path.format(id=case.id), data=data, follow_redirects=False)
    assert response.status_code == 403
    after = db.execute("SELECT COUNT(*) FROM audit_events WHERE case_id = ?", [case.id]).fetchone()[
        0
    ]
    assert after == before
    assert client.get("/inbox", follow_redirects=False).status_code == 200  # still logged in


@pytest.mark.parametrize("path", list(POSTS))
def test_with_the_token_every_post_works_for_an_admin(
    client: TestClient, app: FastAPI, path: str
) -> None:
    case = _open(app, "line:Uok", "elderly_care")
    login(client, "admin")
    response = client.post(
        path.format(id=case.id),
        data={**POSTS[path], "csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_staff_may_not_act_on_a_case_someone_else_holds(client: TestClient, app: FastAPI) -> None:
    case = _open(app, "line:Uother", "elderly_care")
    handoff.claim(app.state.front_door.db, case.id, actor="tanaka")
    login(client, "sato")
    token = csrf_of(client)
    assert client.get(f"/inbox/cases/{case.id}").status_code == 200  # may read the case
    for path in ("reply", "notes", "status", "hand-back"):
        data = {**POSTS[f"/inbox/cases/{{id}}/{path}"], "csrf": token}
        assert client.post(f"/inbox/cases/{case.id}/{path}", data=data).status_code == 403
    claimed = client.post(f"/inbox/cases/{case.id}/claim", data={"csrf": token})
    assert claimed.status_code == 409 and "tanaka" in claimed.text
    assert handoff.get_case(app.state.front_door.db, case.id).assignee == "tanaka"


# -- login ---------------------------------------------------------------------------------


def test_login_sets_a_strict_session_cookie_and_logout_ends_it(client: TestClient) -> None:
    response = login(client, "sato")
    assert response.status_code == 303 and response.headers["location"] == "/inbox"
    cookie = response.headers["set-cookie"]
    assert "tsunagu_staff=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/inbox")
    assert page.status_code == 200 and "sato" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    client.post("/inbox/logout", data={"csrf": csrf_of(client)})
    assert client.get("/inbox", headers=HTML, follow_redirects=False).status_code == 303


def test_a_wrong_password_five_times_locks_the_account(client: TestClient) -> None:
    for _ in range(5):
        assert login(client, "sato", "wrong password!").status_code == 401
    locked = login(client, "sato")
    assert locked.status_code == 401 and "しばらく" in locked.text


def test_the_login_form_needs_its_csrf_cookie(client: TestClient) -> None:
    response = client.post(
        "/inbox/login", data={"name": "sato", "password": PASSWORD, "csrf": "forged"}
    )
    assert response.status_code == 403


def test_login_redirects_only_inside_the_inbox(client: TestClient) -> None:
    page = client.get("/inbox/login?next=https://evil.example/")
    assert "evil" not in page.text


def test_without_staff_the_log_says_how_to_create_one(
    template_db: Path, tmp_path: Path, triage_engine: Triage, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path / "fresh")
    copy_template(template_db, settings)
    with caplog.at_level(logging.WARNING):
        create_app(settings, now=RunningClock(IN_HOURS), triage=triage_engine)
    assert "tsunagu staff add NAME --role admin" in caplog.text


# -- the queue and the case ------------------------------------------------------------------


def test_the_queue_is_ordered_by_priority_then_waiting_time_and_filters(
    client: TestClient, app: FastAPI
) -> None:
    other = _open(app, "web:" + "a" * 32, "poverty", minutes_ago=90)
    complex_ = _open(app, "line:U2", "elderly_care", "hikikomori", minutes_ago=10)
    crisis = _open(app, "line:U3", crisis="suicide", minutes_ago=1)
    older_complex = _open(app, "line:U4", "housing", "poverty", minutes_ago=200)
    login(client, "sato")
    rows = client.get("/inbox/queue").text
    order = [int(x) for x in re.findall(r'data-case="(\d+)"', rows)]
    assert order == [crisis.id, older_complex.id, complex_.id, other.id]
    assert "3時間20分" in rows and "1時間30分" in rows
    assert re.findall(r'data-case="(\d+)"', client.get("/inbox/queue?category=poverty").text) == [
        str(older_complex.id),
        str(other.id),
    ]
    handoff.claim(app.state.front_door.db, other.id, actor="sato")
    mine = client.get("/inbox/queue?assignee=sato").text
    assert re.findall(r'data-case="(\d+)"', mine) == [str(other.id)]
    assert re.findall(r'data-case="(\d+)"', client.get("/inbox/queue?status=claimed").text) == [
        str(other.id)
    ]
    assert len(re.findall(r'data-case="', client.get("/inbox/queue?assignee=").text)) == 3


def test_the_lifecycle_through_the_case_page_is_audited(client: TestClient, app: FastAPI) -> None:
    case = _open(app, "line:Ulife", "elderly_care", "poverty")
    login(client, "sato")
    token = csrf_of(client)
    url = f"/inbox/cases/{case.id}"
    assert client.post(f"{url}/claim", data={"csrf": token}).status_code == 200
    for status, reason, code in [
        ("referred", "", 200),
        ("closed", "", 409),  # not from referred
        ("declined", "", 409),  # needs a reason
        ("declined", "定員のため", 200),
        ("in_support", "", 200),
        ("closed", "", 409),  # needs an outcome
        ("closed", "介護サービス利用開始", 200),
    ]:
        response = client.post(
            f"{url}/status", data={"csrf": token, "status": status, "reason": reason}
        )
        assert response.status_code == code, (status, response.text[:300])
    client.post(f"{url}/notes", data={"csrf": token, "text": "内部のメモ"})
    db = app.state.front_door.db
    final = handoff.get_case(db, case.id)
    assert final.status == "closed" and final.outcome == "介護サービス利用開始"
    trail = [
        (e.actor, e.action, e.from_value, e.to_value) for e in handoff.audit_trail(db, case.id)
    ]
    statuses = [(a, f, t) for a, act, f, t in trail if act == "status"]
    assert statuses == [
        ("sato", "new", "claimed"),
        ("sato", "claimed", "referred"),
        ("sato", "referred", "declined"),
        ("sato", "declined", "in_support"),
        ("sato", "in_support", "closed"),
    ]
    actions = [act for _, act, _, _ in trail]
    assert actions.count("viewed") >= 1 and "assigned" in actions and "note" in actions
    assert ("sato", "declined_reason", None, "定員のため") in trail
    assert all(e.at.tzinfo is not None for e in handoff.audit_trail(db, case.id))


def test_a_reply_goes_out_as_a_line_push_and_notes_never_do(
    client: TestClient, app: FastAPI, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    user = line_user_id()
    _post_line(client, line_stub, CONSULTATION_8050, user)
    line_stub.wait_for_texts(to=user)
    _post_line(client, line_stub, "担当者と話したい", user)
    case_id = wait_for(
        lambda: query("SELECT id FROM cases WHERE resident_ref = ?", f"line:{user}"), what="case"
    )[0]["id"]
    line_stub.wait_for_texts(to=user, count=2)
    login(client, "sato")
    token = csrf_of(client)
    page = client.get(f"/inbox/cases/{case_id}")
    # the summary note from the real triage of the resident's words
    assert "母82歳 認知症" in page.text and "兄52歳 無職 ひきこもり" in page.text
    assert "ひきこもり" in page.text and "高齢" in page.text
    client.post(f"/inbox/cases/{case_id}/claim", data={"csrf": token})
    client.post(f"/inbox/cases/{case_id}/notes", data={"csrf": token, "text": "ないしょのメモ"})
    client.post(f"/inbox/cases/{case_id}/reply", data={"csrf": token, "text": "担当の佐藤です。"})
    line_stub.wait_for(
        lambda: any(
            d.kind == "push" and d.text == "担当の佐藤です。" for d in line_stub.deliveries(user)
        ),
        timeout=10,
    )
    assert "ないしょのメモ" not in line_stub.sent_texts(user)
    _post_line(client, line_stub, "ありがとうございます。夕方なら電話に出られます。", user)
    got = wait_for(
        lambda: [
            m
            for m in client.get(f"/inbox/cases/{case_id}/messages?after=0").json()["messages"]
            if m["text"].startswith("ありがとう")
        ],
        what="answer",
    )
    assert got[0]["role"] == "resident"
    # the bot stays silent while a person has the conversation
    assert line_stub.sent_texts(user)[-1] == "担当の佐藤です。"


def _post_line(client: Any, stub: LineStub, text: str, user: str) -> None:
    body, headers = line_webhook_request(
        line_text_event(text, user_id=user), channel_secret=stub.channel_secret
    )
    response = client.post("/webhooks/line", content=body, headers=headers)
    assert response.status_code == 200


# -- the whole warm handoff in Chromium ------------------------------------------------------


@pytest.mark.browser
def test_warm_handoff_in_chromium(
    live_url: str, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    from playwright import sync_api

    user = line_user_id()
    http = httpx.Client(base_url=live_url)
    _post_line(http, line_stub, CONSULTATION_8050, user)
    line_stub.wait_for_texts(to=user, timeout=30)
    _post_line(http, line_stub, "担当者と話したい", user)
    case_id = wait_for(
        lambda: query("SELECT id FROM cases WHERE resident_ref = ?", f"line:{user}"), what="case"
    )[0]["id"]
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            expect = sync_api.expect
            page.goto(f"{live_url}/inbox")
            expect(page).to_have_url(re.compile(r"/inbox/login"))
            page.get_by_label("名前").fill("sato")
            page.get_by_label("パスワード").fill(PASSWORD)
            page.get_by_role("button", name="ログイン").click()
            expect(page.locator("h1")).to_have_text("相談一覧")
            row = page.locator(f'tr[data-case="{case_id}"]')
            expect(row).to_contain_text("複合")
            # a new case appears without a reload
            other = line_user_id()
            _post_line(http, line_stub, "もう死にたい。生きていたくない", other)
            expect(page.locator("tbody#queue-rows tr").first).to_contain_text(
                "危機", timeout=20_000
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)

            page.locator(f'tr[data-case="{case_id}"] a').click()
            page.get_by_role("button", name="担当する").click()
            summary = page.locator("section.summary")
            expect(summary).to_contain_text("母82歳 認知症")
            expect(summary).to_contain_text("兄52歳 無職 ひきこもり")
            expect(summary).to_contain_text("家族")
            page.get_by_label("相談者への返信（LINEで送られます）").fill(
                "担当の佐藤です。今日お電話できますか。"
            )
            page.get_by_role("button", name="送信", exact=True).click()
            line_stub.wait_for(
                lambda: any(
                    d.kind == "push" and d.text == "担当の佐藤です。今日お電話できますか。"
                    for d in line_stub.deliveries(user)
                ),
                timeout=15,
            )
            _post_line(http, line_stub, "はい、夕方5時以降ならお願いします。", user)
            expect(page.locator("#transcript li.resident").last).to_contain_text(
                "夕方5時以降", timeout=20_000
            )
            page.screenshot(path=str(ARTIFACTS / "inbox_case.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
            http.close()
