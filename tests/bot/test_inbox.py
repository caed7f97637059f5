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

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import handoff
from bot.app import create_app
from bot.inbox import QUEUE_PAGE
from bot.inbox import router as inbox_router
from bot.settings import Settings
from tests.bot.helpers import (
    IN_HOURS,
    JST,
    RunningClock,
    copy_template,
    launch_chromium,
    make_settings,
    own_db,
    wait_for,
)
from tests.bot.inbox_helpers import (
    HTML,
    PASSWORD,
    add_staff,
    csrf_of,
    login,
    open_case,
    post_line,
)
from tests.stubs.events import line_user_id
from tests.stubs.line_api import LineStub
from triage import Triage

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

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


@pytest.fixture
def app(template_db: Path, line_settings: Settings, triage_engine: Triage) -> FastAPI:
    copy_template(template_db, line_settings)
    add_staff(line_settings)
    return create_app(line_settings, now=RunningClock(IN_HOURS), triage=triage_engine)


# -- auth, roles, CSRF on every route -------------------------------------------------------

GETS = [
    "/inbox",
    "/inbox/queue",
    "/inbox/cases/{id}",
    "/inbox/cases/{id}/messages",
    "/inbox/cases/{id}/print",
    "/inbox/audit",
]
#: every POST with data that works for an admin on the seeded case (see ``_seeded``)
POSTS = {
    "/inbox/logout": {},
    "/inbox/cases/{id}/claim": {},
    "/inbox/cases/{id}/assign": {"assignee": "sato"},
    "/inbox/cases/{id}/reply": {"text": "こんにちは"},
    "/inbox/cases/{id}/notes": {"text": "メモ"},
    "/inbox/cases/{id}/status": {"status": "accepted"},
    "/inbox/cases/{id}/hand-back": {},
    "/inbox/cases/{id}/referrals": {"service_id": "hikikomori-soudan"},
    "/inbox/cases/{id}/referrals/{rid}": {"status": "accepted"},
    "/inbox/cases/{id}/plan": {"goals": "介護サービスを始める", "agency": "hinata-houkatsu-chubu"},
    "/inbox/cases/{id}/meeting": {"flagged": "1"},
    "/inbox/cases/{id}/follow-ups": {"due": "2025-06-10T10:00", "message": ""},
    "/inbox/cases/{id}/follow-ups/{fid}/cancel": {},
    "/inbox/cases/{id}/consent": {"follow_up": "yes", "source": "chat"},
    "/inbox/cases/{id}/tags": {"team": "高齢チーム", "area": "南部", "labels": "8050"},
    "/inbox/cases/{id}/writer": {"writer": "家族"},
}
ADMIN_ONLY = {"/inbox/audit", "/inbox/cases/{id}/assign"}
#: POSTs that change a case: only its assignee (or an admin) may
ACTING = sorted(set(POSTS) - {"/inbox/logout", "/inbox/cases/{id}/claim"} - ADMIN_ONLY)


def _seeded(app: FastAPI, assignee: str = "admin") -> dict[str, int]:
    """A claimed case with one referral waiting and one follow-up scheduled."""
    db = own_db(app)
    case = open_case(app, "line:Umatrix", "elderly_care", agencies=True)
    handoff.claim(db, case.id, actor=assignee, at=IN_HOURS)
    (referral,) = handoff.refer(
        db,
        case.id,
        ["houkatsu-chubu-soudan"],
        actor=assignee,
        now=IN_HOURS,
        due_at=handoff.deadline(IN_HOURS, 2, JST),
    )
    follow_up = handoff.schedule_follow_up(
        db, case.id, IN_HOURS + dt.timedelta(days=7), "", actor=assignee, now=IN_HOURS
    )
    return {"id": case.id, "rid": referral.id, "fid": follow_up.id}


def _audit_count(app: FastAPI, case_id: int) -> int:
    db = own_db(app)
    return int(
        db.execute("SELECT COUNT(*) FROM audit_events WHERE case_id = ?", [case_id]).fetchone()[0]
    )


def test_every_inbox_route_is_listed_in_the_matrix() -> None:
    paths = {
        (m, r.path)
        for r in inbox_router.routes
        for m in getattr(r, "methods", set())
        if m != "HEAD"
    }
    open_paths = {("GET", "/inbox/login"), ("POST", "/inbox/login")}
    names = {"{id}": "{case_id}", "{rid}": "{referral_id}", "{fid}": "{follow_up_id}"}

    def route(path: str) -> str:
        for short, long in names.items():
            path = path.replace(short, long)
        return path

    expected = {("GET", route(p)) for p in GETS} | {("POST", route(p)) for p in POSTS}
    assert paths - open_paths == expected


@pytest.mark.parametrize("path", GETS)
def test_anonymous_gets_are_sent_to_login_or_refused(
    client: TestClient, app: FastAPI, path: str
) -> None:
    ids = _seeded(app)
    url = path.format(**ids)
    before = _audit_count(app, ids["id"])
    page = client.get(url, headers=HTML, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/inbox/login?next=")
    assert client.get(url, headers={"Accept": "application/json"}).status_code == 401
    assert _audit_count(app, ids["id"]) == before  # nothing viewed, nothing printed


@pytest.mark.parametrize("path", list(POSTS))
def test_anonymous_posts_are_refused(client: TestClient, app: FastAPI, path: str) -> None:
    ids = _seeded(app)
    before = _audit_count(app, ids["id"])
    response = client.post(
        path.format(**ids), data={**POSTS[path], "csrf": "x"}, follow_redirects=False
    )
    assert response.status_code == 401
    assert _audit_count(app, ids["id"]) == before


@pytest.mark.parametrize("path", sorted(ADMIN_ONLY))
def test_staff_get_403_on_admin_routes(client: TestClient, app: FastAPI, path: str) -> None:
    case = open_case(app, "line:Urole", "elderly_care")
    login(client, "sato")
    data = {**POSTS.get(path, {}), "csrf": csrf_of(client)}
    url = path.format(id=case.id)
    response = client.post(url, data=data) if path in POSTS else client.get(url)
    assert response.status_code == 403
    assert handoff.get_case(own_db(app), case.id).assignee is None


@pytest.mark.parametrize("path", ACTING)
def test_staff_may_not_change_a_case_someone_else_holds(
    client: TestClient, app: FastAPI, path: str
) -> None:
    ids = _seeded(app, assignee="tanaka")
    login(client, "sato")
    data = {**POSTS[path], "csrf": csrf_of(client)}
    before = _audit_count(app, ids["id"])
    assert client.post(path.format(**ids), data=data).status_code == 403
    assert _audit_count(app, ids["id"]) == before
    # the same request from the assignee goes through
    other = TestClient(app)  # a second browser; ``client`` runs the app
    login(other, "tanaka")
    response = other.post(
        path.format(**ids), data={**POSTS[path], "csrf": csrf_of(other)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text[:500]


@pytest.mark.parametrize("path", list(POSTS))
def test_posts_without_the_session_csrf_token_are_refused(
    client: TestClient, app: FastAPI, path: str
) -> None:
    ids = _seeded(app)
    other = TestClient(app)  # a second browser; ``client`` runs the app
    login(other, "tanaka")
    login(client, "admin")
    before = _audit_count(app, ids["id"])
    # missing, wrong, and another session's token (one app for the three: building it is slow)
    for value in (None, "x" * 43, csrf_of(other)):
        data = dict(POSTS[path])
        if value is not None:
            data["csrf"] = value
        response = client.post(path.format(**ids), data=data, follow_redirects=False)
        assert response.status_code == 403, value
        assert _audit_count(app, ids["id"]) == before
        assert client.get("/inbox", follow_redirects=False).status_code == 200  # still logged in


@pytest.mark.parametrize("path", list(POSTS))
def test_with_the_token_every_post_works_for_an_admin(
    client: TestClient, app: FastAPI, path: str
) -> None:
    ids = _seeded(app)
    login(client, "admin")
    before = _audit_count(app, ids["id"])
    response = client.post(
        path.format(**ids),
        data={**POSTS[path], "csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:500]
    if path not in ("/inbox/logout", "/inbox/cases/{id}/claim"):
        assert _audit_count(app, ids["id"]) > before  # every change is audited


def test_staff_may_read_a_case_someone_else_holds_but_not_claim_it(
    client: TestClient, app: FastAPI
) -> None:
    case = open_case(app, "line:Uother", "elderly_care")
    handoff.claim(own_db(app), case.id, actor="tanaka")
    login(client, "sato")
    token = csrf_of(client)
    assert client.get(f"/inbox/cases/{case.id}").status_code == 200  # may read the case
    assert client.get(f"/inbox/cases/{case.id}/print").status_code == 200
    claimed = client.post(f"/inbox/cases/{case.id}/claim", data={"csrf": token})
    assert claimed.status_code == 409 and "tanaka" in claimed.text
    assert handoff.get_case(own_db(app), case.id).assignee == "tanaka"


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


@pytest.mark.parametrize(
    ("wanted", "lands"),
    [
        ("/inbox/cases/7", "/inbox/cases/7"),
        ("/inbox?status=new&category=poverty", "/inbox?status=new&category=poverty"),
        ("/admin", "/admin"),
        (
            "/admin/reports?from=2025-06-01&to=2025-06-30",
            "/admin/reports?from=2025-06-01&to=2025-06-30",
        ),
        ("https://evil.example/", "/inbox"),
        ("//evil.example/inbox", "/inbox"),
        ("/\\evil.example", "/inbox"),
        ("/inbox/\\evil.example", "/inbox"),
        ("/inbox//evil.example", "/inbox"),
        ("/admin/../evil", "/inbox"),
        ("/adminevil", "/inbox"),
        ("/inboxes", "/inbox"),
        ("javascript:alert(1)", "/inbox"),
        ("/inbox\r\nSet-Cookie:x=1", "/inbox"),
    ],
)
def test_login_redirects_only_to_the_inbox_or_the_admin_pages(
    client: TestClient, wanted: str, lands: str
) -> None:
    page = client.get("/inbox/login", params={"next": wanted})
    assert "evil" not in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    # what a forged form posts straight away is checked too, not only what the page offers
    response = client.post(
        "/inbox/login",
        data={"name": "admin", "password": PASSWORD, "csrf": token.group(1), "next": wanted},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == lands


def test_an_admin_page_asks_for_login_and_comes_back(client: TestClient) -> None:
    first = client.get("/admin/reports?group=week", headers=HTML, follow_redirects=False)
    assert first.status_code == 303
    login_url = first.headers["location"]
    assert login_url == "/inbox/login?next=%2Fadmin%2Freports%3Fgroup%3Dweek"
    page = client.get(login_url)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    nxt = re.search(r'name="next" value="([^"]*)"', page.text)
    assert token is not None and nxt is not None
    response = client.post(
        "/inbox/login",
        data={
            "name": "admin",
            "password": PASSWORD,
            "csrf": token.group(1),
            "next": nxt.group(1).replace("&amp;", "&"),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin/reports?group=week"
    assert client.get(response.headers["location"]).status_code == 200


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
    other = open_case(app, "web:" + "a" * 32, "poverty", minutes_ago=90)
    complex_ = open_case(app, "line:U2", "elderly_care", "hikikomori", minutes_ago=10)
    crisis = open_case(app, "line:U3", crisis="suicide", minutes_ago=1)
    older_complex = open_case(app, "line:U4", "housing", "poverty", minutes_ago=200)
    login(client, "sato")
    rows = client.get("/inbox/queue").text
    order = [int(x) for x in re.findall(r'data-case="(\d+)"', rows)]
    assert order == [crisis.id, older_complex.id, complex_.id, other.id]
    assert "3時間20分" in rows and "1時間30分" in rows
    assert re.findall(r'data-case="(\d+)"', client.get("/inbox/queue?category=poverty").text) == [
        str(older_complex.id),
        str(other.id),
    ]
    handoff.claim(own_db(app), other.id, actor="sato")
    mine = client.get("/inbox/queue?assignee=sato").text
    assert re.findall(r'data-case="(\d+)"', mine) == [str(other.id)]
    assert re.findall(r'data-case="(\d+)"', client.get("/inbox/queue?status=claimed").text) == [
        str(other.id)
    ]
    assert len(re.findall(r'data-case="', client.get("/inbox/queue?assignee=").text)) == 3


def test_a_long_queue_is_paged_in_priority_order_and_keeps_its_filters(
    client: TestClient, app: FastAPI
) -> None:
    crisis = open_case(app, "line:Ucrisis", crisis="suicide", minutes_ago=1)
    others = [
        open_case(app, f"line:U{i:03d}", "poverty", minutes_ago=1000 - i)
        for i in range(QUEUE_PAGE + 4)
    ]
    login(client, "sato")
    first = client.get("/inbox?category=poverty")
    ids = [int(x) for x in re.findall(r'data-case="(\d+)"', first.text)]
    assert ids == [c.id for c in others[:QUEUE_PAGE]]  # the longest waiting first
    assert f"全{QUEUE_PAGE + 4}件" in first.text and "category=poverty&amp;page=2" in first.text
    second = client.get("/inbox?category=poverty&page=2").text
    assert [int(x) for x in re.findall(r'data-case="(\d+)"', second)] == [
        c.id for c in others[QUEUE_PAGE:]
    ]
    assert "page=1" in second and "page=3" not in second
    everyone = client.get("/inbox").text
    assert re.findall(r'data-case="(\d+)"', everyone)[0] == str(crisis.id)  # crisis on page 1
    assert client.get("/inbox?page=0").status_code == 422


def test_the_lifecycle_through_the_case_page_is_audited(client: TestClient, app: FastAPI) -> None:
    case = open_case(app, "line:Ulife", "elderly_care", "poverty")
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
    db = own_db(app)
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
    post_line(client, line_stub, CONSULTATION_8050, user)
    line_stub.wait_for_texts(to=user)
    post_line(client, line_stub, "担当者と話したい", user)
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
    post_line(client, line_stub, "ありがとうございます。夕方なら電話に出られます。", user)
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


# -- the whole warm handoff in Chromium ------------------------------------------------------


@pytest.mark.browser
def test_warm_handoff_in_chromium(
    live_url: str, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    from playwright import sync_api

    user = line_user_id()
    http = httpx.Client(base_url=live_url)
    post_line(http, line_stub, CONSULTATION_8050, user)
    line_stub.wait_for_texts(to=user, timeout=30)
    post_line(http, line_stub, "担当者と話したい", user)
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
            post_line(http, line_stub, "もう死にたい。生きていたくない", other)
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
            post_line(http, line_stub, "はい、夕方5時以降ならお願いします。", user)
            expect(page.locator("#transcript li.resident").last).to_contain_text(
                "夕方5時以降", timeout=20_000
            )
            # refer to the first suggested service (consent confirmed on the phone)
            refer = page.locator("form.refer-form")
            refer.locator('input[name="service_id"]').first.check()
            refer.get_by_label("本人の同意を確認した（電話・面談など）").check()
            refer.get_by_role("button", name="選んだ窓口につなぐ").click()
            expect(page.locator("#case-status")).to_have_text("つなぎ中")
            expect(page.locator("table.ref-table tbody tr")).to_have_count(1)
            expect(page.locator("table.ref-table")).to_contain_text("回答待ち")
            # flag the household for the 重層的支援会議 and write the support plan
            page.get_by_role("button", name="重層的支援会議の対象にする").click()
            expect(page.locator("#meeting-state")).to_have_text("対象")
            plan = page.locator("form.plan-form")
            plan.get_by_label("目標（1行に1つ）").fill(
                "母の介護保険サービスの利用を始める\n兄が居場所「ほっとルーム」に通えるようにする"
            )
            plan.get_by_label("ひなた市中部地域包括支援センター").check()
            plan.get_by_label("ひなた市ひきこもり地域支援センター", exact=False).check()
            plan.get_by_label("次回見直し日").fill("2025-07-01")
            plan.get_by_role("button", name="支援プランを保存").click()
            view = page.locator("#plan-view")
            expect(view).to_contain_text("兄が居場所「ほっとルーム」に通えるようにする")
            expect(view).to_contain_text("ひきこもり地域支援センター")
            expect(view).to_contain_text("7月1日（火）")
            page.screenshot(path=str(ARTIFACTS / "inbox_case.png"), full_page=True)

            # the print view: no controls on paper, every section of the sheet
            page.get_by_role("link", name="印刷用の表示").click()
            expect(page.locator("h1")).to_have_text("共通アセスメントシート")
            page.emulate_media(media="print")
            expect(page.locator("nav.screen-only")).to_be_hidden()
            for section in (
                "#p-summary",
                "#p-referrals",
                "#p-plan",
                "#p-followups",
                "#p-transcript",
            ):
                expect(page.locator(section)).to_be_visible()
            expect(page.locator("#p-summary")).to_contain_text("兄52歳 無職 ひきこもり")
            expect(page.locator("#p-referrals")).to_contain_text("回答待ち")
            expect(page.locator("#p-plan")).to_contain_text("母の介護保険サービスの利用を始める")
            expect(page.locator("#p-transcript")).to_contain_text("夕方5時以降")
            page.screenshot(path=str(ARTIFACTS / "inbox_print.png"), full_page=True)
            pdf = page.pdf(
                path=str(ARTIFACTS / "inbox_print.pdf"), format="A4", print_background=True
            )
            assert pdf.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 1
            assert errors == []
        finally:
            browser.close()
            http.close()
