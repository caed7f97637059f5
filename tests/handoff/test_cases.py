"""Cases: opening, priority, transcript, hand back and the audit trail, on real SQLite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlite_utils

import handoff
from knowledge import open_database
from tests.handoff.conftest import OpenCase
from triage.assessment import Assessment, CategoryFinding, CrisisFinding

T0 = dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    database = open_database(tmp_path / "cases.db")
    handoff.migrate(database)
    return database


def _assessment(*codes: str, crisis: str | None = None) -> Assessment:
    return Assessment(
        text="…",
        language="ja",
        categories=[CategoryFinding(code=c, label=c, score=0.9) for c in codes],
        crisis=CrisisFinding(type=crisis, phrases=["死にたい"]) if crisis else None,
        complex=len(codes) >= 2,
    )


def _open(db: sqlite_utils.Database, ref: str = "line:U1", **kw: object) -> handoff.Case:
    values: dict[str, object] = {
        "resident_ref": ref,
        "channel": ref.split(":")[0],
        "assessment": _assessment("elderly_care"),
        "consent": handoff.Consent(share_with_staff=True, share_with_agencies=False),
        "urgent": False,
        "transcript": [
            handoff.TranscriptEntry(role="resident", text="母の介護がつらい", at=T0),
            handoff.TranscriptEntry(role="bot", text="話してくださって…", at=T0),
        ],
        "language": "ja",
        "at": T0,
    }
    values.update(kw)
    return handoff.open_case(db, **values)  # type: ignore[arg-type]


def test_open_case_keeps_everything_and_audits(db: sqlite_utils.Database) -> None:
    case = _open(db)
    assert case.status == "new" and case.handled_by == "staff" and case.is_open
    assert case.categories == ["elderly_care"] and case.channel == "line"
    assert case.consent.share_with_agencies is False and case.opened_at == T0
    assert [m.text for m in handoff.transcript(db, case.id)] == [
        "母の介護がつらい",
        "話してくださって…",
    ]
    (event,) = handoff.audit_trail(db, case.id)
    assert (event.actor, event.action, event.from_value, event.to_value) == (
        "bot",
        "opened",
        None,
        "new",
    )
    assert event.at == T0


@pytest.mark.parametrize(
    ("assessment", "urgent", "priority"),
    [
        (_assessment("elderly_care", crisis="suicide"), True, handoff.PRIORITY_CRISIS),
        (_assessment("dv_abuse"), True, handoff.PRIORITY_CRISIS),
        (_assessment("elderly_care", "poverty"), False, handoff.PRIORITY_COMPLEX),
        (_assessment("elderly_care"), False, handoff.PRIORITY_OTHER),
        (Assessment(text="", language="ja", vague=True), False, handoff.PRIORITY_OTHER),
    ],
)
def test_priority_crisis_then_complex_then_other(
    db: sqlite_utils.Database, assessment: Assessment, urgent: bool, priority: int
) -> None:
    case = _open(db, assessment=assessment, urgent=urgent)
    assert case.priority == priority and case.urgent is urgent


def test_case_for_resident_finds_the_open_one(db: sqlite_utils.Database) -> None:
    assert handoff.case_for_resident(db, "line:U1") is None
    case = _open(db)
    _open(db, ref="telegram:7")
    found = handoff.case_for_resident(db, "line:U1")
    assert found is not None and found.id == case.id
    handoff.set_status(db, case.id, "closed", actor="staff:sato", outcome="つながった")
    assert handoff.case_for_resident(db, "line:U1") is None
    closed = handoff.get_case(db, case.id)
    assert closed.outcome == "つながった" and closed.closed_at is not None


def test_append_message(db: sqlite_utils.Database) -> None:
    case = _open(db)
    handoff.append_message(db, case.id, "resident", "それと家賃も", at=T0 + dt.timedelta(minutes=5))
    assert handoff.transcript(db, case.id)[-1].text == "それと家賃も"
    assert handoff.get_case(db, case.id).updated_at == T0 + dt.timedelta(minutes=5)
    with pytest.raises(handoff.CaseError, match="does not exist"):
        handoff.append_message(db, 999, "resident", "x")


def test_hand_back_and_take_over_are_audited(db: sqlite_utils.Database) -> None:
    case = _open(db)
    back = handoff.hand_back(db, case.id, actor="staff:sato")
    assert back.handled_by == "bot"
    assert handoff.hand_back(db, case.id, actor="staff:sato").handled_by == "bot"  # idempotent
    handoff.take_over(db, case.id, actor="resident")
    trail = [
        (e.actor, e.action, e.from_value, e.to_value) for e in handoff.audit_trail(db, case.id)
    ]
    assert trail[1:] == [
        ("staff:sato", "handled_by", "staff", "bot"),
        ("resident", "handled_by", "bot", "staff"),
    ]


def test_escalate_makes_urgent_and_gives_to_a_person(db: sqlite_utils.Database) -> None:
    case = _open(db)
    handoff.hand_back(db, case.id, actor="staff:sato")
    urgent = handoff.escalate(db, case.id, crisis_type="suicide")
    assert urgent.urgent and urgent.priority == handoff.PRIORITY_CRISIS
    assert urgent.crisis_type == "suicide" and urgent.handled_by == "staff"
    actions = [e.action for e in handoff.audit_trail(db, case.id)]
    assert actions == ["opened", "handled_by", "escalated", "handled_by"]


def test_status_transitions_are_audited_and_checked(db: sqlite_utils.Database) -> None:
    case = _open(db)
    for status in ("claimed", "referred", "accepted", "in_support", "closed"):
        handoff.set_status(db, case.id, status, actor="staff:sato")
    moves = [
        (e.from_value, e.to_value) for e in handoff.audit_trail(db, case.id) if e.action == "status"
    ]
    assert moves == [
        ("new", "claimed"),
        ("claimed", "referred"),
        ("referred", "accepted"),
        ("accepted", "in_support"),
        ("in_support", "closed"),
    ]
    with pytest.raises(handoff.CaseError, match="unknown status"):
        handoff.set_status(db, case.id, "lost", actor="staff:sato")
    with pytest.raises(handoff.CaseError, match="closed"):
        handoff.hand_back(db, case.id, actor="staff:sato")


def test_consent_and_assessment_updates(db: sqlite_utils.Database) -> None:
    case = _open(db)
    new_consent = handoff.Consent(share_with_staff=True, share_with_agencies=True)
    handoff.update_consent(db, case.id, new_consent, actor="resident")
    assert handoff.get_case(db, case.id).consent == new_consent
    assert handoff.audit_trail(db, case.id)[-1].action == "consent"
    updated = handoff.update_assessment(db, case.id, _assessment("elderly_care", "poverty"))
    assert updated.categories == ["elderly_care", "poverty"] and updated.complex
    assert updated.priority == handoff.PRIORITY_COMPLEX
    # priority never drops when later messages look calmer
    handoff.escalate(db, case.id, crisis_type="violence")
    calmer = handoff.update_assessment(db, case.id, _assessment("elderly_care"))
    assert calmer.priority == handoff.PRIORITY_CRISIS


def test_a_failed_open_leaves_nothing(db: sqlite_utils.Database) -> None:
    bad = [handoff.TranscriptEntry(role="resident", text="x", at=T0)]
    with pytest.raises(handoff.CaseError):
        _open(db, resident_ref="", transcript=bad)
    assert db.execute("SELECT COUNT(*) FROM cases").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM case_messages").fetchone()[0] == 0


def test_naive_timestamps_are_refused(db: sqlite_utils.Database) -> None:
    with pytest.raises(handoff.CaseError, match="timezone-aware"):
        _open(db, at=dt.datetime(2025, 6, 3, 10, 0))


# -- team, area, labels, writer -------------------------------------------------------------


def test_team_area_labels_and_writer_are_set_filtered_and_audited(
    kb_db: sqlite_utils.Database, open_case: OpenCase
) -> None:
    south, north, untagged = open_case("elderly_care"), open_case("poverty"), open_case("health")
    handoff.set_team_area(kb_db, south.id, team="高齢チーム", area="南部", actor="sato", at=T0)
    handoff.set_team_area(
        kb_db, north.id, team=" 生活困窮チーム ", area="北部", actor="sato", at=T0
    )
    handoff.set_labels(
        kb_db, south.id, handoff.parse_labels("8050、 要訪問,要訪問 ｻﾛﾝ"), actor="sato", at=T0
    )
    case = handoff.get_case(kb_db, south.id)
    assert (case.team, case.area, case.labels) == (
        "高齢チーム",
        "南部",
        ["8050", "要訪問", "サロン"],
    )
    assert handoff.get_case(kb_db, north.id).team == "生活困窮チーム"
    ids = lambda **kw: [c.id for c in handoff.queue(kb_db, **kw)]  # noqa: E731
    assert ids(area="南部") == [south.id] and ids(area="北部") == [north.id]
    assert ids(team="生活困窮チーム") == [north.id] and ids(label="要訪問") == [south.id]
    assert ids(label="8050", area="北部") == [] and len(ids()) == 3
    handoff.set_team_area(kb_db, south.id, team="高齢チーム", area="", actor="tanaka", at=T0)
    handoff.set_writer(kb_db, south.id, "近隣", actor="tanaka", at=T0)
    handoff.set_writer(kb_db, south.id, None, actor="tanaka", at=T0)
    trail = [
        (e.actor, e.action, e.from_value, e.to_value)
        for e in handoff.audit_trail(kb_db, south.id)
        if e.action in ("team", "area", "labels", "writer")
    ]
    assert trail == [
        ("sato", "team", None, "高齢チーム"),
        ("sato", "area", None, "南部"),
        ("sato", "labels", None, "8050、要訪問、サロン"),
        ("tanaka", "area", "南部", None),
        ("tanaka", "writer", None, "近隣"),
        ("tanaka", "writer", "近隣", None),
    ]
    assert handoff.get_case(kb_db, untagged.id).labels == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda db, i: handoff.set_team_area(db, i, team="x" * 41, area=None, actor="s"),
            "40文字以内",
        ),
        (
            lambda db, i: handoff.set_team_area(db, i, team="a\x07b", area=None, actor="s"),
            "使えない文字",
        ),
        (
            lambda db, i: handoff.set_labels(db, i, [f"l{n}" for n in range(11)], actor="s"),
            "10個まで",
        ),
        (lambda db, i: handoff.set_labels(db, i, ["x" * 21], actor="s"), "20文字以内"),
        (lambda db, i: handoff.set_writer(db, i, "友人", actor="s"), "本人・家族・近隣・関係者"),
    ],
)
def test_bad_case_fields_are_refused_in_japanese(
    kb_db: sqlite_utils.Database, open_case: OpenCase, call: object, message: str
) -> None:
    case = open_case("elderly_care")
    before = len(handoff.audit_trail(kb_db, case.id))
    with pytest.raises(handoff.CaseError, match=message):
        call(kb_db, case.id)  # type: ignore[operator]
    assert len(handoff.audit_trail(kb_db, case.id)) == before
    after = handoff.get_case(kb_db, case.id)
    assert (after.team, after.labels, after.writer) == (None, [], None)
