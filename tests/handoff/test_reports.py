"""Report figures against a seeded set of cases with known counts."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

import handoff
from handoff import reports
from knowledge import open_database
from tests.handoff.conftest import OpenCase
from triage.assessment import Assessment, CategoryFinding, CrisisFinding

JST = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    database = open_database(tmp_path / "reports.db")
    handoff.migrate(database)
    return database


def _open(
    db: sqlite_utils.Database,
    at: dt.datetime,
    codes: tuple[str, ...],
    *,
    channel: str = "line",
    crisis: str | None = None,
    reply_after_min: float | None = None,
) -> handoff.Case:
    assessment = Assessment(
        text="…",
        language="ja",
        categories=[CategoryFinding(code=c, label=c, score=0.9) for c in codes],
        crisis=CrisisFinding(type=crisis) if crisis else None,
        complex=len(codes) >= 2,
    )
    case = handoff.open_case(
        db,
        resident_ref=f"{channel}:{at.timestamp()}-{codes}",
        channel=channel,
        assessment=assessment,
        consent=handoff.Consent(share_with_staff=True),
        urgent=crisis is not None,
        transcript=[handoff.TranscriptEntry(role="resident", text="相談です", at=at)],
        language="ja",
        at=at,
    )
    if reply_after_min is not None:
        handoff.append_message(
            db, case.id, "staff", "お返事です", at=at + dt.timedelta(minutes=reply_after_min)
        )
    return case


def _seed(db: sqlite_utils.Database) -> None:
    """Ten cases in June 2025 (JST), one before and one after the period."""
    d = lambda day, hour=10: dt.datetime(2025, 6, day, hour, 0, tzinfo=JST)  # noqa: E731
    _open(db, d(2), ("elderly_care",), reply_after_min=10)
    _open(db, d(2), ("elderly_care", "poverty"), reply_after_min=20)
    _open(db, d(3), ("elderly_care", "poverty", "housing"), channel="web", reply_after_min=30)
    _open(db, d(3), ("health",), crisis="suicide", reply_after_min=2)
    _open(db, d(4), ("child_family",), channel="telegram", reply_after_min=40)
    _open(db, d(9), ("poverty",), reply_after_min=50)
    _open(db, d(10), ("housing",), channel="web", reply_after_min=60)
    _open(db, d(16), ("hikikomori", "elderly_care"), reply_after_min=70)
    _open(db, d(30, 23), ("employment",), channel="web")  # 23:00 JST is still June 30
    c = _open(db, d(1, 0), ("legal",), reply_after_min=90)  # 00:00 JST June 1 = May 31 UTC
    handoff.set_status(db, c.id, "closed", actor="sato", outcome="解決")
    _open(db, dt.datetime(2025, 5, 31, 23, 59, tzinfo=JST), ("legal",))  # before
    _open(db, dt.datetime(2025, 7, 1, 0, 0, tzinfo=JST), ("legal",))  # after


def test_figures_match_the_seeded_cases(db: sqlite_utils.Database) -> None:
    _seed(db)
    r = reports.build(db, dt.date(2025, 6, 1), dt.date(2025, 6, 30), tz=JST, group="day")
    assert r.total == 10
    per_day = dict(r.per_period)
    assert len(per_day) == 30 and per_day["2025-06-02"] == 2 and per_day["2025-06-30"] == 1
    assert per_day["2025-06-01"] == 1 and sum(per_day.values()) == 10
    cats = dict(r.per_category)
    assert cats == {
        "elderly_care": 4,
        "poverty": 3,
        "housing": 2,
        "health": 1,
        "child_family": 1,
        "hikikomori": 1,
        "employment": 1,
        "legal": 1,
    }
    assert dict(r.per_channel) == {"line": 6, "web": 3, "telegram": 1}
    assert r.complex_count == 3 and r.complex_share == pytest.approx(0.3)
    assert r.crisis_count == 1
    # replies after 10, 20, 30, 2, 40, 50, 60, 70, 90 minutes (one case has none)
    assert r.replied == 9
    assert r.first_reply_median_min == pytest.approx(40)
    assert r.first_reply_p90_min == pytest.approx(70 + 0.2 * 20)
    assert dict(r.per_status) == {"new": 9, "closed": 1}
    assert (r.referrals_open, r.referrals_overdue) == (0, 0)


def test_weeks_and_months(db: sqlite_utils.Database) -> None:
    _seed(db)
    weeks = reports.build(db, dt.date(2025, 6, 1), dt.date(2025, 6, 30), tz=JST, group="week")
    # weeks start on Monday: May 26 (holds June 1), June 2, 9, 16, 23, 30
    assert weeks.per_period == [
        ("2025-05-26週", 1),
        ("2025-06-02週", 5),
        ("2025-06-09週", 2),
        ("2025-06-16週", 1),
        ("2025-06-23週", 0),
        ("2025-06-30週", 1),
    ]
    months = reports.build(db, dt.date(2025, 5, 1), dt.date(2025, 7, 31), tz=JST, group="month")
    assert months.per_period == [("2025-05", 1), ("2025-06", 10), ("2025-07", 1)]


def test_csv_hides_small_counts_and_has_no_personal_data(db: sqlite_utils.Database) -> None:
    _seed(db)
    r = reports.build(db, dt.date(2025, 6, 1), dt.date(2025, 6, 30), tz=JST)
    data = reports.to_csv(r)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    values = {(row[0], row[1]): row[3] for row in rows[1:]}
    assert values[("total", "consultations")] == "10"
    assert values[("per_category", "elderly_care")] == "4"
    assert values[("per_category", "housing")] == "<3"
    assert values[("per_category", "legal")] == "<3"
    assert values[("per_day", "2025-06-02")] == "<3"
    assert values[("per_day", "2025-06-05")] == "0"
    assert values[("crisis", "count")] == "<3"
    assert values[("complex", "count")] == "3"
    assert values[("first_reply", "median_minutes")] == "40.0"
    text = data.decode("utf-8-sig")
    assert "相談です" not in text and "お返事です" not in text and "line:" not in text


def test_open_and_overdue_referrals_on_seeded_referrals(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    """Seven referrals: 3 waiting (1 before, 2 past the deadline), 1 'no response' past it,
    2 accepted (one of them late), 1 declined: 4 open, 3 overdue."""
    sent = dt.datetime(2025, 6, 2, 10, 0, tzinfo=JST)  # Monday
    due = {"early": handoff.deadline(sent, 1, JST), "late": handoff.deadline(sent, 5, JST)}
    now = dt.datetime(2025, 6, 5, 12, 0, tzinfo=JST)  # Thursday: "early" has passed
    plan = [
        ("houkatsu-chubu-soudan", "late", None),
        ("hikikomori-soudan", "early", None),
        ("kurashi-jiritsu-soudan", "early", None),
        ("kurashi-juukyo-kakuho", "early", "no_response"),
        ("hoken-kokoro-soudan", "early", "accepted"),
        ("kikan-soudan", "late", "accepted"),
        ("marugoto-soudan", "late", "declined"),
    ]
    for service, when, answer in plan:
        case = open_case("elderly_care", at=sent)
        (r,) = handoff.refer(kb_db, case.id, [service], actor="sato", now=sent, due_at=due[when])
        if answer:
            handoff.respond(kb_db, r.id, answer, actor="sato", now=now, reason="定員")
    r = reports.build(kb_db, dt.date(2025, 6, 1), dt.date(2025, 6, 30), tz=JST, now=now)
    assert (r.referrals_open, r.referrals_overdue) == (4, 3)
    before = reports.build(
        kb_db, dt.date(2025, 6, 1), dt.date(2025, 6, 30), tz=JST, now=sent + dt.timedelta(hours=1)
    )
    assert (before.referrals_open, before.referrals_overdue) == (4, 0)  # none due yet
    rows = list(csv.reader(io.StringIO(reports.to_csv(r).decode("utf-8-sig"))))
    values = {(row[0], row[1]): row[3] for row in rows[1:]}
    assert values[("referrals", "open")] == "4" and values[("referrals", "overdue")] == "3"
    assert "sato" not in reports.to_csv(r).decode("utf-8-sig")


def test_percentile() -> None:
    assert reports.percentile([], 0.5) is None
    assert reports.percentile([5.0], 0.9) == 5.0
    assert reports.percentile([1, 2, 3, 4], 0.5) == 2.5
