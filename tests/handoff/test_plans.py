"""The support plan and the 重層的支援会議 flag: validated, saved whole, audited."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlite_utils

import handoff
from tests.handoff.conftest import T0, OpenCase

TODAY = T0.date()
REVIEW = dt.date(2025, 7, 1)
ORGS = ["hinata-houkatsu-chubu", "hinata-hikikomori-center"]


def test_a_plan_is_saved_shown_and_audited_without_its_text(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care", "hikikomori")
    goals = handoff.parse_goals("・母の介護サービスを始める\n\n- 兄が居場所に通えるようにする\n")
    assert goals == ["母の介護サービスを始める", "兄が居場所に通えるようにする"]
    plan = handoff.save_plan(
        kb_db,
        case.id,
        goals=goals,
        agency_ids=ORGS,
        next_review=REVIEW,
        actor="sato",
        now=T0,
        today=TODAY,
    )
    assert handoff.get_plan(kb_db, case.id) == plan
    assert [a.id for a in plan.agencies] == ORGS and all(a.name for a in plan.agencies)
    assert not plan.review_due(TODAY) and plan.review_due(REVIEW)
    later = T0 + dt.timedelta(days=1)
    handoff.save_plan(
        kb_db,
        case.id,
        goals=goals[:1],
        agency_ids=ORGS[:1],
        next_review=REVIEW,
        actor="tanaka",
        now=later,
        today=TODAY,
    )
    events = [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "plan"]
    assert [(e.actor, e.from_value, e.to_value) for e in events] == [
        ("sato", None, "目標2・機関2・次回見直し2025-07-01"),
        ("tanaka", "目標2・機関2・次回見直し2025-07-01", "目標1・機関1・次回見直し2025-07-01"),
    ]
    assert events[1].at == later and events[1].detail["agencies"] == ORGS[:1]
    assert "介護サービス" not in str([e.model_dump() for e in events])


@pytest.mark.parametrize(
    ("goals", "agencies", "review", "field", "message"),
    [
        ([], ORGS, REVIEW, "goals", "目標を1つ以上"),
        (["x" * 201], ORGS, REVIEW, "goals", "200文字以内"),
        ([f"目標{i}" for i in range(11)], ORGS, REVIEW, "goals", "10個まで"),
        (["目標"], ["no-such-org"], REVIEW, "agencies", "知識ベースにない機関"),
        (["目標"], ORGS, TODAY - dt.timedelta(days=1), "next_review", "今日以降"),
    ],
)
def test_bad_plans_are_refused_whole(
    kb_db: sqlite_utils.Database,
    open_case: OpenCase,
    goals: list[str],
    agencies: list[str],
    review: dt.date,
    field: str,
    message: str,
) -> None:
    case = open_case("elderly_care")
    with pytest.raises(handoff.PlanError, match=message) as raised:
        handoff.save_plan(
            kb_db,
            case.id,
            goals=goals,
            agency_ids=agencies,
            next_review=review,
            actor="sato",
            now=T0,
            today=TODAY,
        )
    assert raised.value.field == field
    assert handoff.get_plan(kb_db, case.id) is None
    assert not [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "plan"]


def test_an_unchanged_past_review_date_may_stay_but_closed_cases_are_frozen(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    handoff.save_plan(
        kb_db,
        case.id,
        goals=["a"],
        agency_ids=[],
        next_review=REVIEW,
        actor="sato",
        now=T0,
        today=TODAY,
    )
    after_review = REVIEW + dt.timedelta(days=3)
    handoff.save_plan(
        kb_db,
        case.id,
        goals=["a", "b"],
        agency_ids=[],
        next_review=REVIEW,
        actor="sato",
        now=T0,
        today=after_review,
    )  # editing goals only
    handoff.set_status(kb_db, case.id, "closed", actor="sato", outcome="解決", at=T0)
    with pytest.raises(handoff.PlanError, match="終結"):
        handoff.save_plan(
            kb_db,
            case.id,
            goals=["c"],
            agency_ids=[],
            next_review=None,
            actor="sato",
            now=T0,
            today=TODAY,
        )
    plan = handoff.get_plan(kb_db, case.id)
    assert plan is not None and plan.goals == ["a", "b"]


def test_the_meeting_flag_is_audited_both_ways(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care", "hikikomori")
    assert handoff.set_meeting(kb_db, case.id, True, actor="sato", now=T0).meeting
    assert handoff.set_meeting(kb_db, case.id, True, actor="sato", now=T0).meeting  # no-op
    assert not handoff.set_meeting(kb_db, case.id, False, actor="admin", now=T0).meeting
    assert [
        (e.actor, e.from_value, e.to_value)
        for e in handoff.audit_trail(kb_db, case.id)
        if e.action == "meeting"
    ] == [("sato", "対象外", "対象"), ("admin", "対象", "対象外")]
