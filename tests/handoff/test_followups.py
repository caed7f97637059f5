"""Follow-ups on real SQLite: scheduling rules, what is due on an injected clock, consent,
and a resident's answer bringing the case back to a person."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlite_utils

import handoff
from tests.handoff.conftest import T0, OpenCase

WEEK = T0 + dt.timedelta(days=7)


def test_scheduling_is_audited_and_due_follows_the_clock(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    f = handoff.schedule_follow_up(
        kb_db, case.id, WEEK, "  お変わりないですか  ", actor="sato", now=T0
    )
    assert f.status == "scheduled" and f.message == "お変わりないですか" and f.due_at == WEEK
    assert handoff.due_follow_ups(kb_db, WEEK - dt.timedelta(seconds=1)) == []
    assert [d.id for d in handoff.due_follow_ups(kb_db, WEEK)] == [f.id]
    (event,) = [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "follow_up"]
    assert event.actor == "sato" and event.detail == {"follow_up_id": f.id, "with_message": True}
    assert "お変わり" not in str(event.model_dump())  # staff's words are not in the audit


@pytest.mark.parametrize(
    ("due", "message", "error"),
    [
        (T0, "", "今より後"),
        (T0 - dt.timedelta(days=1), "", "今より後"),
        (T0 + dt.timedelta(days=400), "", "1年以内"),
        (WEEK, "あ" * 1001, "1000文字以内"),
    ],
)
def test_bad_follow_ups_are_refused(
    kb_db: sqlite_utils.Database,
    open_case: OpenCase,
    due: dt.datetime,
    message: str,
    error: str,
) -> None:
    case = open_case("elderly_care")
    with pytest.raises(handoff.FollowUpError, match=error):
        handoff.schedule_follow_up(kb_db, case.id, due, message, actor="sato", now=T0)
    assert handoff.follow_ups(kb_db, case.id) == []


def test_closed_cases_take_no_follow_up_and_only_scheduled_ones_can_be_cancelled(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    f = handoff.schedule_follow_up(kb_db, case.id, WEEK, "", actor="sato", now=T0)
    handoff.cancel_follow_up(kb_db, f.id, actor="sato", now=T0)
    assert handoff.get_follow_up(kb_db, f.id).status == "cancelled"
    assert handoff.due_follow_ups(kb_db, WEEK) == []
    with pytest.raises(handoff.FollowUpError, match="送信前"):
        handoff.cancel_follow_up(kb_db, f.id, actor="sato", now=T0)
    handoff.set_status(kb_db, case.id, "closed", actor="sato", outcome="解決", at=T0)
    with pytest.raises(handoff.FollowUpError, match="終結"):
        handoff.schedule_follow_up(kb_db, case.id, WEEK, "", actor="sato", now=T0)


@pytest.mark.parametrize(
    ("consent", "closed", "reason"),
    [
        (None, False, "同意を確認していません"),
        (False, False, "希望していません"),
        (True, True, "終結"),
        (True, False, None),
    ],
)
def test_why_a_follow_up_may_not_go(
    kb_db: sqlite_utils.Database,
    open_case: OpenCase,
    consent: bool | None,
    closed: bool,
    reason: str | None,
) -> None:
    case = open_case("elderly_care")
    if consent is not None:
        handoff.set_follow_up_consent(kb_db, case.id, consent, source="chat", actor="sato", at=T0)
    if closed:
        handoff.set_status(kb_db, case.id, "closed", actor="sato", outcome="解決", at=T0)
    found = handoff.why_no_follow_up(handoff.get_case(kb_db, case.id))
    assert (found is None) if reason is None else (reason in (found or ""))


def test_consent_is_recorded_with_how_it_was_given(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    with pytest.raises(handoff.CaseError, match="どのように確認したか"):
        handoff.set_follow_up_consent(kb_db, case.id, True, source="guess", actor="sato", at=T0)
    handoff.set_follow_up_consent(kb_db, case.id, True, source="phone", actor="sato", at=T0)
    handoff.set_follow_up_consent(kb_db, case.id, False, source="chat", actor="sato", at=WEEK)
    assert handoff.get_case(kb_db, case.id).follow_up_consent is False
    events = [e for e in handoff.audit_trail(kb_db, case.id) if e.action == "follow_up_consent"]
    assert [(e.from_value, e.to_value, e.detail["source"], e.at) for e in events] == [
        (None, "同意あり", "phone", T0),
        ("同意あり", "同意なし", "chat", WEEK),
    ]


def test_a_resident_answer_after_a_sent_follow_up_flags_the_case(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    case = open_case("elderly_care")
    older = open_case("poverty", at=T0 - dt.timedelta(days=1))  # has waited longer
    f = handoff.schedule_follow_up(kb_db, case.id, WEEK, "", actor="sato", now=T0)
    # before it is sent, resident messages answer nothing
    handoff.append_message(kb_db, case.id, "resident", "こんにちは", at=T0 + dt.timedelta(days=1))
    assert handoff.get_case(kb_db, case.id).attention is None
    handoff.mark_follow_up_sent(kb_db, f.id, outbox_id=None, actor="bot", now=WEEK)
    handoff.append_message(kb_db, case.id, "resident", "［友だち解除・ブロック］", at=WEEK)
    assert handoff.get_case(kb_db, case.id).attention is None  # an unfollow is no answer
    assert [c.id for c in handoff.queue(kb_db)] == [older.id, case.id]
    answer_at = WEEK + dt.timedelta(hours=2)
    handoff.append_message(kb_db, case.id, "resident", "実はまた困っています", at=answer_at)
    flagged = handoff.get_case(kb_db, case.id)
    assert flagged.attention == "follow_up_answered" and flagged.attention_at == answer_at
    done = handoff.get_follow_up(kb_db, f.id)
    assert done.status == "answered" and done.answered_at == answer_at
    # same priority: the flagged case now comes before the one that has waited longer
    assert [c.id for c in handoff.queue(kb_db)] == [case.id, older.id]
    assert [c.id for c in handoff.queue(kb_db, attention=True)] == [case.id]
    handoff.clear_attention(kb_db, case.id, actor="sato", at=answer_at)
    assert handoff.queue(kb_db, attention=True) == []
    trail = [
        (e.actor, e.action, e.from_value, e.to_value)
        for e in handoff.audit_trail(kb_db, case.id)
        if e.action in ("attention", "follow_up")
    ]
    assert trail[-3:] == [
        ("resident", "follow_up", "sent", "answered"),
        ("resident", "attention", None, "follow_up_answered"),
        ("sato", "attention", "follow_up_answered", None),
    ]
