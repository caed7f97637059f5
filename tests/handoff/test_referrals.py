"""Referrals on real SQLite with the sample KB: statuses, deadlines, overdue on an injected
clock, the case moving with them, consent, and the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlite_utils

import handoff
from tests.handoff.conftest import JST, T0, OpenCase

DUE = handoff.deadline(T0, 2, JST)  # Thursday 5 June, 24:00 in Tokyo
HOUKATSU = "houkatsu-chubu-soudan"
HIKIKOMORI = "hikikomori-soudan"
KURASHI = "kurashi-jiritsu-soudan"


def _trail(db: sqlite_utils.Database, case_id: int, action: str) -> list[tuple[object, ...]]:
    return [
        (e.actor, e.from_value, e.to_value)
        for e in handoff.audit_trail(db, case_id)
        if e.action == action
    ]


def test_referring_sets_status_deadline_and_audit(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care", "hikikomori")
    made = handoff.refer(kb_db, case.id, [HOUKATSU, HIKIKOMORI], actor="sato", now=T0, due_at=DUE)
    assert [r.service_id for r in made] == [HOUKATSU, HIKIKOMORI]
    first = made[0]
    assert first.status == "sent" and first.service_name == "高齢者の総合相談（中部圏域）"
    assert first.organization and first.due_at == DUE and first.created_by == "sato"
    assert handoff.get_case(kb_db, case.id).status == "referred"
    assert _trail(kb_db, case.id, "referral") == [
        ("sato", None, "高齢者の総合相談（中部圏域）: sent"),
        ("sato", None, "ひきこもりの相談（本人・家族）: sent"),
    ]
    assert ("sato", "claimed", "referred") in _trail(kb_db, case.id, "status")


def test_overdue_once_the_deadline_passes_on_the_injected_clock(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    (r,) = handoff.refer(kb_db, case.id, [HOUKATSU], actor="sato", now=T0, due_at=DUE)
    just_before = DUE - dt.timedelta(seconds=1)
    assert not r.overdue(just_before) and r.overdue(DUE)
    assert handoff.overdue_counts(kb_db, just_before) == {}
    assert handoff.overdue_counts(kb_db, DUE) == {case.id: 1}
    assert handoff.referral_counts(kb_db, DUE) == (1, 1)
    assert handoff.queue(kb_db, overdue_at=just_before) == []
    assert [c.id for c in handoff.queue(kb_db, overdue_at=DUE)] == [case.id]
    # an answer closes the loop: no longer open, no longer overdue
    handoff.respond(kb_db, r.id, "accepted", actor="sato", now=DUE + dt.timedelta(hours=1))
    assert handoff.referral_counts(kb_db, DUE) == (0, 0)


def test_an_acceptance_moves_the_case_to_accepted(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care", "hikikomori")
    a, b = handoff.refer(kb_db, case.id, [HOUKATSU, HIKIKOMORI], actor="sato", now=T0, due_at=DUE)
    later = T0 + dt.timedelta(days=1)
    handoff.respond(kb_db, a.id, "declined", actor="sato", now=later, reason="定員のため")
    assert handoff.get_case(kb_db, case.id).status == "referred"  # b is still open
    answered = handoff.respond(kb_db, b.id, "accepted", actor="sato", now=later)
    assert answered.status == "accepted" and answered.responded_at == later
    assert handoff.get_case(kb_db, case.id).status == "accepted"
    trail = _trail(kb_db, case.id, "referral")
    assert (
        "sato",
        "高齢者の総合相談（中部圏域）: sent",
        "高齢者の総合相談（中部圏域）: declined",
    ) in trail
    events = [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "referral"]
    assert events[2].detail["reason"] == "定員のため" and events[2].at == later


def test_the_last_open_referral_declined_makes_the_case_declined(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("poverty")
    (r,) = handoff.refer(kb_db, case.id, [KURASHI], actor="sato", now=T0, due_at=DUE)
    handoff.respond(kb_db, r.id, "no_response", actor="sato", now=DUE)
    assert handoff.get_referral(kb_db, r.id).overdue(DUE)  # no response is still open
    handoff.respond(kb_db, r.id, "declined", actor="sato", now=DUE, reason="対象外の地区")
    assert handoff.get_case(kb_db, case.id).status == "declined"
    assert ("sato", None, "生活の困りごと相談（自立相談支援）: 対象外の地区") in _trail(
        kb_db, case.id, "declined_reason"
    )
    # a declined case may be referred again, also to the same service
    handoff.refer(
        kb_db, case.id, [KURASHI], actor="sato", now=DUE, due_at=DUE + dt.timedelta(days=3)
    )
    assert handoff.get_case(kb_db, case.id).status == "referred"


@pytest.mark.parametrize(
    ("start", "to", "reason", "message"),
    [
        ("sent", "declined", "", "辞退の理由"),
        ("sent", "sent", "", "できません"),
        ("sent", "bogus", "", "できません"),
        ("accepted", "declined", "x", "できません"),
        ("no_response", "no_response", "", "できません"),
    ],
)
def test_answers_the_lifecycle_does_not_allow_are_refused(
    kb_db: sqlite_utils.Database,
    open_case: OpenCase,
    start: str,
    to: str,
    reason: str,
    message: str,
) -> None:
    case = open_case("elderly_care")
    (r,) = handoff.refer(kb_db, case.id, [HOUKATSU], actor="sato", now=T0, due_at=DUE)
    if start != "sent":
        handoff.respond(kb_db, r.id, start, actor="sato", now=T0)
    before = len(handoff.audit_trail(kb_db, case.id))
    with pytest.raises(handoff.ReferralError, match=message):
        handoff.respond(kb_db, r.id, to, actor="sato", now=T0, reason=reason)
    assert handoff.get_referral(kb_db, r.id).status == start
    assert len(handoff.audit_trail(kb_db, case.id)) == before


@pytest.mark.parametrize(
    ("services", "claim", "message"),
    [
        ([], True, "1つ以上"),
        (["no-such-service"], True, "知識ベースにありません"),
        ([HOUKATSU, "no-such-service"], True, "知識ベースにありません"),
        ([HOUKATSU], False, "先に担当"),
    ],
)
def test_bad_referrals_write_nothing(
    kb_db: sqlite_utils.Database,
    open_case: OpenCase,
    services: list[str],
    claim: bool,
    message: str,
) -> None:
    case = open_case("elderly_care", claim=claim)
    before = len(handoff.audit_trail(kb_db, case.id))
    with pytest.raises(handoff.ReferralError, match=message):
        handoff.refer(kb_db, case.id, services, actor="sato", now=T0, due_at=DUE)
    assert handoff.list_referrals(kb_db, case.id) == []
    assert len(handoff.audit_trail(kb_db, case.id)) == before


def test_a_service_already_waiting_or_a_past_deadline_is_refused(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    handoff.refer(kb_db, case.id, [HOUKATSU], actor="sato", now=T0, due_at=DUE)
    with pytest.raises(handoff.ReferralError, match="すでにつないでいます"):
        handoff.refer(kb_db, case.id, [HIKIKOMORI, HOUKATSU], actor="sato", now=T0, due_at=DUE)
    with pytest.raises(handoff.ReferralError, match="今より後"):
        handoff.refer(kb_db, case.id, [HIKIKOMORI], actor="sato", now=DUE, due_at=DUE)
    assert [r.service_id for r in handoff.list_referrals(kb_db, case.id)] == [HOUKATSU]


def test_retired_services_and_closed_cases_are_refused(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    from knowledge import KnowledgeStore

    KnowledgeStore(kb_db).set_status(HIKIKOMORI, "retired")
    case = open_case("hikikomori")
    with pytest.raises(handoff.ReferralError, match="廃止"):
        handoff.refer(kb_db, case.id, [HIKIKOMORI], actor="sato", now=T0, due_at=DUE)
    handoff.set_status(kb_db, case.id, "closed", actor="sato", outcome="解決", at=T0)
    with pytest.raises(handoff.ReferralError, match="終結"):
        handoff.refer(kb_db, case.id, [HOUKATSU], actor="sato", now=T0, due_at=DUE)


def test_without_agency_consent_staff_must_confirm_it_and_that_is_recorded(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care", agencies=None)
    with pytest.raises(handoff.ReferralError, match="本人の同意がありません"):
        handoff.refer(kb_db, case.id, [HOUKATSU], actor="sato", now=T0, due_at=DUE)
    handoff.refer(
        kb_db, case.id, [HOUKATSU], actor="sato", now=T0, due_at=DUE, consent_confirmed=True
    )
    assert handoff.get_case(kb_db, case.id).consent.share_with_agencies is True
    (consent,) = [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "consent"]
    assert consent.actor == "sato" and '"share_with_agencies":true' in (consent.to_value or "")


def test_a_crisis_overrides_consent_and_the_override_is_recorded(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("health", crisis="suicide", agencies=None)
    handoff.refer(kb_db, case.id, ["hoken-kokoro-soudan"], actor="sato", now=T0, due_at=DUE)
    (event,) = [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "referral"]
    assert event.detail["consent"] == "crisis override"
    assert handoff.get_case(kb_db, case.id).consent.share_with_agencies is None
