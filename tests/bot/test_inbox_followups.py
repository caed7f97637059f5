"""Follow-ups (見守り) end to end: staff record the resident's consent and schedule a check-in
on the case page; when the injected clock passes its time the app's follow-up worker sends it
once as a LINE push (real line-bot-sdk → local stub); without consent nothing is sent and the
page says why; the resident's answer brings the case back to the top of the queue."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot import replies as r
from bot.app import create_app
from bot.settings import Settings
from tests.bot.helpers import IN_HOURS, copy_template, make_settings, wait_for
from tests.bot.inbox_helpers import MovableClock, add_staff, csrf_of, login, post_line
from tests.stubs.events import line_user_id
from tests.stubs.line_api import LineStub
from triage import Triage

Query = Callable[..., list[sqlite3.Row]]
FOLLOW_UP = r.text("ja", "follow_up")


@pytest.fixture
def clock() -> MovableClock:  # type: ignore[override]
    return MovableClock(IN_HOURS)


@pytest.fixture
def app(
    template_db: Path,
    tmp_path: Path,
    line_stub: LineStub,
    triage_engine: Triage,
    clock: MovableClock,
) -> FastAPI:
    settings: Settings = make_settings(
        tmp_path / "data",
        line_channel_secret=line_stub.channel_secret,
        line_channel_access_token=line_stub.access_token,
        line_api_base_url=line_stub.url,
        follow_up_check_seconds=0.05,
    )
    copy_template(template_db, settings)
    add_staff(settings)
    return create_app(settings, now=clock, triage=triage_engine)


def _handed_off(client: TestClient, stub: LineStub, query: Query, user: str) -> int:
    """A resident asks for a person on LINE; returns the case id."""
    post_line(client, stub, "母の介護のことで相談したいです", user)
    stub.wait_for_texts(to=user)
    post_line(client, stub, "担当者と話したい", user)
    return int(
        wait_for(
            lambda: query("SELECT id FROM cases WHERE resident_ref = ?", f"line:{user}"),
            what="case",
        )[0]["id"]
    )


def _follow_up_pushes(stub: LineStub, user: str) -> list[str]:
    return [
        d.text or ""
        for d in stub.deliveries(user)
        if d.kind == "push" and (d.text or "").startswith(FOLLOW_UP)
    ]


def test_a_consented_follow_up_is_sent_once_and_the_answer_returns_the_case_to_the_queue(
    client: TestClient, app: FastAPI, line_stub: LineStub, query: Query, clock: MovableClock
) -> None:
    user, quiet = line_user_id(), line_user_id()
    case_id = _handed_off(client, line_stub, query, user)
    other_id = _handed_off(client, line_stub, query, quiet)
    login(client, "sato")
    token = csrf_of(client)
    url = f"/inbox/cases/{case_id}"
    client.post(f"{url}/claim", data={"csrf": token})
    page = client.post(
        f"{url}/consent", data={"csrf": token, "follow_up": "yes", "source": "chat"}
    ).text
    assert '<strong id="fu-consent">同意あり</strong>' in page and "送信されません" not in page
    page = client.post(
        f"{url}/follow-ups",
        data={
            "csrf": token,
            "due": "2025-06-04T10:00",
            "message": "先日のお話のその後が気になっています。",
        },
    ).text
    assert "2025-06-04 10:00" in page and "予定" in page
    # the quiet resident's case gets a later follow-up and no consent (proves later passes run)
    client.post(f"/inbox/cases/{other_id}/claim", data={"csrf": token})
    client.post(
        f"/inbox/cases/{other_id}/follow-ups", data={"csrf": token, "due": "2025-06-05T10:00"}
    )
    pushes_before = len(line_stub.deliveries(user))

    clock.jump(days=1, minutes=1)  # Wednesday 10:01: the first follow-up is due
    line_stub.wait_for(lambda: _follow_up_pushes(line_stub, user), timeout=10)
    (sent,) = _follow_up_pushes(line_stub, user)
    assert sent == FOLLOW_UP + "\n\n担当者から：先日のお話のその後が気になっています。"
    clock.jump(days=1)  # Thursday: the quiet resident's follow-up is due and refused
    wait_for(
        lambda: query(
            "SELECT 1 FROM follow_ups WHERE case_id = ? AND status = 'not_sent'", other_id
        ),
        what="the second follow-up handled",
    )
    wait_for(lambda: not query("SELECT 1 FROM outbox WHERE status = 'pending'"), what="outbox")
    assert len(_follow_up_pushes(line_stub, user)) == 1  # sent once, though the worker ran on
    assert len(line_stub.deliveries(user)) == pushes_before + 1
    assert _follow_up_pushes(line_stub, quiet) == []
    (row,) = query("SELECT status, outbox_id FROM follow_ups WHERE case_id = ?", case_id)
    assert row["status"] == "sent" and row["outbox_id"] is not None

    # the resident answers: the case needs a person again, and the bot stays silent
    post_line(client, line_stub, "ありがとうございます。実は母が入院しました。", user)
    wait_for(
        lambda: query("SELECT 1 FROM cases WHERE id = ? AND attention IS NOT NULL", case_id),
        what="attention",
    )
    wait_for(lambda: not query("SELECT 1 FROM outbox WHERE status = 'pending'"), what="outbox")
    assert line_stub.sent_texts(user)[-1] == sent
    login(client, "sato")  # the day's jumps ended the 12-hour session
    token = csrf_of(client)
    rows = client.get("/inbox/queue").text
    assert re.findall(r'data-case="(\d+)"', rows)[0] == str(case_id)
    first = rows[: rows.index("</tr>")]
    assert "見守りに返信あり" in first and "見守り期限" in first
    assert re.findall(r'data-case="(\d+)"', client.get("/inbox/queue?attention=1").text) == [
        str(case_id)
    ]
    page = client.get(f"/inbox/cases/{case_id}").text
    assert "見守りに返信あり" in page and "返信あり" in page and "実は母が入院しました" in page
    # replying deals with it
    client.post(f"/inbox/cases/{case_id}/reply", data={"csrf": token, "text": "お電話します。"})
    assert re.findall(r'data-case="(\d+)"', client.get("/inbox/queue?attention=1").text) == []
    trail = [
        (row["actor"], row["action"], row["from_value"], row["to_value"])
        for row in query(
            "SELECT actor, action, from_value, to_value FROM audit_events WHERE case_id = ?"
            " AND action IN ('follow_up', 'follow_up_consent', 'attention', 'status') ORDER BY id",
            case_id,
        )
    ]
    assert [t for t in trail if t[1] != "status" or t[3] == "follow_up_due"] == [
        ("sato", "follow_up_consent", None, "同意あり"),
        ("sato", "follow_up", None, "scheduled 2025-06-04T01:00:00.000000+00:00"),
        ("bot", "follow_up", "scheduled", "sent"),
        ("bot", "status", "claimed", "follow_up_due"),
        ("resident", "follow_up", "sent", "answered"),
        ("resident", "attention", None, "follow_up_answered"),
        ("sato", "attention", "follow_up_answered", None),
    ]


def test_after_a_hand_back_a_follow_up_gives_the_conversation_to_a_person_again(
    client: TestClient, app: FastAPI, line_stub: LineStub, query: Query, clock: MovableClock
) -> None:
    user = line_user_id()
    case_id = _handed_off(client, line_stub, query, user)
    login(client, "sato")
    token = csrf_of(client)
    url = f"/inbox/cases/{case_id}"
    client.post(f"{url}/claim", data={"csrf": token})
    client.post(f"{url}/consent", data={"csrf": token, "follow_up": "yes", "source": "phone"})
    client.post(f"{url}/hand-back", data={"csrf": token})
    # the resident writes once more and the bot answers again (the conversation left handoff)
    n = len(line_stub.sent_texts(user))
    post_line(client, line_stub, "ありがとうございました", user)
    line_stub.wait_for_texts(to=user, count=n + 1)
    assert (
        query("SELECT state FROM conversations WHERE resident_ref = ?", f"line:{user}")[0]["state"]
        != "handed_off"
    )
    client.post(f"{url}/follow-ups", data={"csrf": token, "due": "2025-06-03T16:00"})
    clock.jump(hours=6, minutes=1)
    line_stub.wait_for(lambda: _follow_up_pushes(line_stub, user), timeout=10)
    assert query("SELECT handled_by FROM cases WHERE id = ?", case_id)[0]["handled_by"] == "staff"
    assert (
        query("SELECT state FROM conversations WHERE resident_ref = ?", f"line:{user}")[0]["state"]
        == "handed_off"
    )
    post_line(client, line_stub, "また相談したいことがあります", user)
    wait_for(
        lambda: query("SELECT 1 FROM cases WHERE id = ? AND attention IS NOT NULL", case_id),
        what="attention",
    )
    wait_for(lambda: not query("SELECT 1 FROM outbox WHERE status = 'pending'"), what="outbox")
    assert line_stub.sent_texts(user)[-1].startswith(FOLLOW_UP)  # the bot did not answer
    assert ("bot", "handled_by", "bot", "staff") in [
        (r["actor"], r["action"], r["from_value"], r["to_value"])
        for r in query("SELECT * FROM audit_events WHERE case_id = ? ORDER BY id", case_id)
    ]


def test_without_consent_nothing_is_sent_and_the_case_page_says_why(
    client: TestClient, app: FastAPI, line_stub: LineStub, query: Query, clock: MovableClock
) -> None:
    user = line_user_id()
    case_id = _handed_off(client, line_stub, query, user)
    login(client, "sato")
    token = csrf_of(client)
    url = f"/inbox/cases/{case_id}"
    client.post(f"{url}/claim", data={"csrf": token})
    page = client.post(f"{url}/follow-ups", data={"csrf": token, "due": "2025-06-03T15:00"}).text
    assert "送信されません：見守りの連絡について本人の同意を確認していません。" in page
    before = len(line_stub.deliveries(user))
    clock.jump(hours=6)
    wait_for(
        lambda: query(
            "SELECT 1 FROM follow_ups WHERE case_id = ? AND status = 'not_sent'", case_id
        ),
        what="the follow-up handled",
    )
    wait_for(lambda: not query("SELECT 1 FROM outbox WHERE status = 'pending'"), what="outbox")
    assert len(line_stub.deliveries(user)) == before and _follow_up_pushes(line_stub, user) == []
    page = client.get(url).text
    item = page[page.index('data-follow-up="') :]
    assert "未送信：" in item[: item.index("</li>")]
    assert "見守りの連絡について本人の同意を確認していません。" in item[: item.index("</li>")]
    assert query("SELECT status FROM cases WHERE id = ?", case_id)[0]["status"] == "follow_up_due"


@pytest.mark.parametrize(
    ("due", "message", "error"),
    [
        ("", "", "見守りの日時を入れてください。"),
        ("2025-06-03T09:00", "", "見守りの日時は今より後にしてください。"),
        ("2025-06-10T10:00", "あ" * 1001, "ひとことは1000文字以内で書いてください。"),
    ],
)
def test_bad_follow_ups_are_refused_in_japanese(
    client: TestClient,
    app: FastAPI,
    line_stub: LineStub,
    query: Query,
    due: str,
    message: str,
    error: str,
) -> None:
    case_id = _handed_off(client, line_stub, query, line_user_id())
    login(client, "sato")
    token = csrf_of(client)
    client.post(f"/inbox/cases/{case_id}/claim", data={"csrf": token})
    response = client.post(
        f"/inbox/cases/{case_id}/follow-ups", data={"csrf": token, "due": due, "message": message}
    )
    assert response.status_code == 422 and error in response.text
    assert query("SELECT COUNT(*) AS n FROM follow_ups")[0]["n"] == 0
