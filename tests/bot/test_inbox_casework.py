"""Casework on the case page through the real app: referrals (suggested and searched) with
business-day deadlines that turn overdue when the injected clock moves, the support plan and
重層的支援会議 flag, team/area/labels with queue filters, correcting who is writing, and the
print view. Errors come back in Japanese with 422 and nothing half-written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import handoff
from bot.app import create_app
from bot.settings import Settings
from tests.bot.helpers import IN_HOURS, JST, copy_template, own_db
from tests.bot.inbox_helpers import MovableClock, add_staff, csrf_of, login, open_case
from triage import Triage

HOUKATSU = "houkatsu-chubu-soudan"  # 高齢者の総合相談（中部圏域）
HIKIKOMORI = "hikikomori-soudan"  # ひきこもりの相談（本人・家族）


@pytest.fixture
def clock() -> MovableClock:  # type: ignore[override]
    return MovableClock(IN_HOURS)  # Tuesday 3 June 2025, 10:00 in Tokyo


@pytest.fixture
def app(
    template_db: Path, settings: Settings, triage_engine: Triage, clock: MovableClock
) -> FastAPI:
    copy_template(template_db, settings)
    add_staff(settings)
    return create_app(settings, now=clock, triage=triage_engine)


def _rows(client: TestClient, query: str = "") -> list[int]:
    return [
        int(x) for x in re.findall(r'data-case="(\d+)"', client.get(f"/inbox/queue{query}").text)
    ]


def _actions(app: FastAPI, case_id: int, *names: str) -> list[tuple[object, ...]]:
    return [
        (e.actor, e.action, e.from_value, e.to_value)
        for e in handoff.audit_trail(own_db(app), case_id)
        if e.action in names
    ]


def _claimed(client: TestClient, app: FastAPI, *codes: str, **kw: object) -> tuple[int, str]:
    case = open_case(app, "web:" + "c" * 32, *codes, **kw)  # type: ignore[arg-type]
    login(client, "sato")
    token = csrf_of(client)
    client.post(f"/inbox/cases/{case.id}/claim", data={"csrf": token})
    return case.id, token


def test_refer_from_suggestions_and_search_then_overdue_after_the_deadline(
    client: TestClient, app: FastAPI, clock: MovableClock
) -> None:
    case_id, token = _claimed(
        client, app, "elderly_care", "hikikomori", agencies=True, services=(HOUKATSU,)
    )
    other = open_case(app, "web:" + "d" * 32, "poverty", minutes_ago=300)
    url = f"/inbox/cases/{case_id}"
    page = client.get(url).text
    assert f'value="{HOUKATSU}"' in page  # suggested by the summary
    assert "2営業日後（6月5日（木）まで）" in page
    found = client.get(url, params={"q": "ひきこもり 相談"}).text
    results = found[found.index('id="search-results"') :]
    assert f'value="{HIKIKOMORI}"' in results and "ひきこもりの相談（本人・家族）" in results
    response = client.post(
        f"{url}/referrals", data={"csrf": token, "service_id": [HOUKATSU, HIKIKOMORI]}
    )
    assert response.status_code == 200  # after the redirect, the case page
    page = response.text
    assert page.count("回答待ち") >= 2 and "6月5日（木）まで" in page
    assert "期限切れ" not in page
    assert handoff.get_case(own_db(app), case_id).status == "referred"
    assert _rows(client, "?overdue=1") == []

    clock.jump(days=3)  # Friday: the Thursday deadline has passed — no sleeping
    assert client.get("/inbox/queue").status_code == 401  # a 12-hour session has ended too
    login(client, "sato")
    token = csrf_of(client)
    rows = client.get("/inbox/queue").text
    row = rows[rows.index(f'data-case="{case_id}"') :]
    assert "つなぎ期限切れ 2件" in row[: row.index("</tr>")]
    assert _rows(client, "?overdue=1") == [case_id] and other.id in _rows(client)
    page = client.get(url).text
    assert "つなぎ期限切れ 2件" in page and page.count('class="badge overdue">期限切れ') == 2

    refs = {r.service_id: r.id for r in handoff.list_referrals(own_db(app), case_id)}
    refused = client.post(
        f"{url}/referrals/{refs[HIKIKOMORI]}",
        data={"csrf": token, "status": "declined", "reason": ""},
    )
    assert refused.status_code == 422 and "辞退の理由を書いてください。" in refused.text
    client.post(
        f"{url}/referrals/{refs[HIKIKOMORI]}",
        data={"csrf": token, "status": "declined", "reason": "定員のため"},
    )
    accepted = client.post(
        f"{url}/referrals/{refs[HOUKATSU]}", data={"csrf": token, "status": "accepted"}
    )
    assert "理由：定員のため" in accepted.text and "受理" in accepted.text
    assert handoff.get_case(own_db(app), case_id).status == "accepted"
    assert _rows(client, "?overdue=1") == []
    trail = _actions(app, case_id, "referral", "status")
    assert ("sato", "referral", None, "高齢者の総合相談（中部圏域）: sent") in trail
    assert (
        "sato",
        "referral",
        "ひきこもりの相談（本人・家族）: sent",
        "ひきこもりの相談（本人・家族）: declined",
    ) in trail
    assert ("sato", "status", "referred", "accepted") in trail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"service_id": HOUKATSU}, "関係機関への共有に本人の同意がありません。"),
        ({}, "つなぐ先の窓口を1つ以上選んでください。"),
        ({"service_id": "no-such"}, "窓口「no-such」は知識ベースにありません。"),
        (
            {"service_id": HOUKATSU, "consent_confirmed": "1", "due_date": "2025-13-40"},
            "回答期限の日付が正しくありません。",
        ),
        (
            {"service_id": HOUKATSU, "consent_confirmed": "1", "due_date": "2025-06-01"},
            "回答期限は今より後にしてください。",
        ),
    ],
)
def test_bad_referrals_are_refused_in_japanese_and_change_nothing(
    client: TestClient, app: FastAPI, data: dict[str, str], message: str
) -> None:
    case_id, token = _claimed(client, app, "elderly_care", agencies=None)
    response = client.post(f"/inbox/cases/{case_id}/referrals", data={"csrf": token, **data})
    assert response.status_code == 422 and message in response.text
    db = own_db(app)
    assert handoff.list_referrals(db, case_id) == []
    assert handoff.get_case(db, case_id).consent.share_with_agencies is None


def test_confirming_consent_on_the_form_refers_with_a_chosen_deadline(
    client: TestClient, app: FastAPI
) -> None:
    case_id, token = _claimed(client, app, "elderly_care", agencies=None)
    page = client.post(
        f"/inbox/cases/{case_id}/referrals",
        data={
            "csrf": token,
            "service_id": HOUKATSU,
            "consent_confirmed": "1",
            "due_date": "2025-06-13",
        },
    ).text
    assert "6月13日（金）まで" in page
    db = own_db(app)
    assert handoff.get_case(db, case_id).consent.share_with_agencies is True
    assert [a for _, a, _, _ in _actions(app, case_id, "consent", "referral")] == [
        "consent",
        "referral",
    ]


def test_the_plan_and_the_meeting_flag_on_the_case_page(client: TestClient, app: FastAPI) -> None:
    case_id, token = _claimed(client, app, "elderly_care", "hikikomori", agencies=True)
    url = f"/inbox/cases/{case_id}"
    assert "複数の分野にまたがる相談です。検討してください" in client.get(url).text
    refused = client.post(
        f"{url}/plan", data={"csrf": token, "goals": " \n ", "next_review": "2025-07-01"}
    )
    assert refused.status_code == 422 and "目標を1つ以上書いてください。" in refused.text
    refused = client.post(
        f"{url}/plan", data={"csrf": token, "goals": "a", "next_review": "2025-06-01"}
    )
    assert refused.status_code == 422 and "次回見直し日は今日以降にしてください。" in refused.text
    assert handoff.get_plan(own_db(app), case_id) is None
    page = client.post(
        f"{url}/plan",
        data={
            "csrf": token,
            "goals": "・母の介護サービスを始める\n・兄が居場所に通う",
            "agency": ["hinata-houkatsu-chubu", "hinata-hikikomori-center"],
            "next_review": "2025-07-01",
        },
    ).text
    view = page[page.index('id="plan-view"') :]
    assert "母の介護サービスを始める" in view and "兄が居場所に通う" in view
    assert "ひきこもり地域支援センター" in view and "7月1日（火）" in view
    page = client.post(f"{url}/meeting", data={"csrf": token, "flagged": "1"}).text
    assert '<strong id="meeting-state">対象</strong>' in page
    rows = client.get("/inbox/queue").text
    assert "重層的支援会議" in rows
    assert _actions(app, case_id, "plan", "meeting") == [
        ("sato", "plan", None, "目標2・機関2・次回見直し2025-07-01"),
        ("sato", "meeting", "対象外", "対象"),
    ]


def test_team_area_and_labels_are_set_and_filter_the_queue(
    client: TestClient, app: FastAPI
) -> None:
    case_id, token = _claimed(client, app, "elderly_care")
    other = open_case(app, "web:" + "e" * 32, "poverty")
    url = f"/inbox/cases/{case_id}"
    page = client.post(
        f"{url}/tags",
        data={"csrf": token, "team": "高齢チーム", "area": "南部", "labels": "8050、要訪問"},
    ).text
    assert "チーム 高齢チーム ・ 地区 南部" in page and '<span class="label">要訪問</span>' in page
    queue = client.get("/inbox").text
    assert '<option value="南部" selected>' not in queue and '<option value="南部">' in queue
    assert _rows(client, "?area=南部") == [case_id]
    assert _rows(client, "?team=高齢チーム&label=要訪問") == [case_id]
    assert sorted(_rows(client)) == sorted([case_id, other.id])
    refused = client.post(
        f"{url}/tags",
        data={"csrf": token, "team": "高齢チーム", "area": "北部", "labels": "x" * 21},
    )
    assert refused.status_code == 422 and "ラベルは20文字以内で書いてください。" in refused.text
    assert handoff.get_case(own_db(app), case_id).area == "南部"  # not half-written
    assert _actions(app, case_id, "team", "area", "labels") == [
        ("sato", "team", None, "高齢チーム"),
        ("sato", "area", None, "南部"),
        ("sato", "labels", None, "8050、要訪問"),
    ]


def test_staff_correct_who_is_writing(client: TestClient, app: FastAPI) -> None:
    case_id, token = _claimed(client, app, "elderly_care")
    url = f"/inbox/cases/{case_id}"
    assert '<strong id="writer">家族</strong>' in client.get(url).text  # 「母の介護がつらい」
    page = client.post(f"{url}/writer", data={"csrf": token, "writer": "関係者"}).text
    assert '<strong id="writer">関係者</strong>' in page and "職員が訂正（自動の推定は家族" in page
    refused = client.post(f"{url}/writer", data={"csrf": token, "writer": "友人"})
    assert (
        refused.status_code == 422 and "相談者は本人・家族・近隣・関係者のどれかを" in refused.text
    )
    client.post(f"{url}/writer", data={"csrf": token, "writer": ""})
    assert '<strong id="writer">家族</strong>' in client.get(url).text
    assert _actions(app, case_id, "writer") == [
        ("sato", "writer", None, "関係者"),
        ("sato", "writer", "関係者", None),
    ]


def test_the_print_view_has_every_section_and_is_audited(client: TestClient, app: FastAPI) -> None:
    case_id, token = _claimed(client, app, "elderly_care", "hikikomori", agencies=True)
    url = f"/inbox/cases/{case_id}"
    client.post(f"{url}/referrals", data={"csrf": token, "service_id": HOUKATSU})
    client.post(
        f"{url}/plan",
        data={
            "csrf": token,
            "goals": "母の介護サービスを始める",
            "agency": "hinata-houkatsu-chubu",
        },
    )
    client.post(f"{url}/notes", data={"csrf": token, "text": "内部だけのメモ"})
    response = client.get(f"{url}/print")
    assert response.status_code == 200
    page = response.text
    for heading in (
        "共通アセスメントシート",
        "相談の要約",
        "困りごと",
        "世帯・登場人物",
        "同意",
        "つなぎ先",
        "重層的支援会議・支援プラン",
        "見守り",
        "会話の記録",
    ):
        assert heading in page, heading
    assert "高齢者の総合相談（中部圏域）" in page and "母の介護サービスを始める" in page
    assert "母の介護がつらい" in page  # the transcript
    assert "内部だけのメモ" not in page  # internal notes stay in the inbox
    assert "<form" not in page and "print.css" in page
    assert "<script>" not in page and "style=" not in page  # the strict CSP holds
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert client.get("/static/print.css").status_code == 200
    assert ("sato", "printed", None, None) in _actions(app, case_id, "printed")


def test_the_admin_dashboard_counts_open_and_overdue_referrals(
    client: TestClient, app: FastAPI, clock: MovableClock
) -> None:
    """Three referrals due Thursday, one due next week; one answered: 3 open, then 2 overdue."""
    db = own_db(app)
    thursday = handoff.deadline(IN_HOURS, 2, JST)
    later = handoff.deadline(IN_HOURS, 6, JST)
    made = []
    for n, (service, due) in enumerate(
        [
            (HOUKATSU, thursday),
            (HIKIKOMORI, thursday),
            ("kurashi-jiritsu-soudan", thursday),
            ("kikan-soudan", later),
        ]
    ):
        case = open_case(app, f"line:Ureport{n}", "elderly_care", agencies=True)
        handoff.claim(db, case.id, actor="sato", at=IN_HOURS)
        made += handoff.refer(db, case.id, [service], actor="sato", now=IN_HOURS, due_at=due)
    handoff.respond(db, made[0].id, "accepted", actor="sato", now=IN_HOURS)

    def figures() -> tuple[str, str]:
        page = client.get("/admin/reports").text
        found = [re.search(rf'id="r-referrals-{k}">(\d+)<', page) for k in ("open", "overdue")]
        assert all(found), page[:500]
        return found[0].group(1), found[1].group(1)  # type: ignore[union-attr]

    login(client, "admin")
    assert figures() == ("3", "0")
    clock.jump(days=3)  # Friday
    login(client, "admin")
    assert figures() == ("3", "2")
    body = client.get("/admin/reports.csv").content.decode("utf-8-sig")
    assert (
        "referrals,open,回答待ちのつなぎ,3" in body
        and "referrals,overdue,期限切れのつなぎ,<3" in body
    )
