"""Cases: the record a warm handoff creates, with its messages and audit trail.

The bot opens a case when a person should take over (the resident asked,
agreed, or is in danger); staff work it in the inbox. Every change of
status or of who is handling the conversation (staff or bot) is written as
an audit event in the same transaction, so the trail can never miss one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Literal

import sqlite_utils
from pydantic import BaseModel, Field

from triage.assessment import Assessment

Role = Literal["resident", "bot", "staff", "system"]
Handler = Literal["staff", "bot"]

#: Queue order: a crisis first, then households with several needs, then the rest.
PRIORITY_CRISIS = 0
PRIORITY_COMPLEX = 1
PRIORITY_OTHER = 2

#: Statuses of the lifecycle (design.md §6); every one but ``closed`` is open.
STATUSES = (
    "new",
    "claimed",
    "referred",
    "accepted",
    "declined",
    "in_support",
    "follow_up_due",
    "closed",
)


class CaseError(Exception):
    """A case operation that cannot be done; the message says why."""


class Consent(BaseModel):
    """What the resident agreed to share. ``None`` means not asked (yet).

    A crisis case is opened without asking: crisis overrides consent, and the
    case says so by leaving the answers ``None``.
    """

    share_with_staff: bool | None = None
    share_with_agencies: bool | None = None
    anonymous: bool = False


class TranscriptEntry(BaseModel):
    """One message of the conversation, as the case keeps it."""

    role: Role
    text: str
    at: dt.datetime


class Case(BaseModel):
    """A handoff to a person, as the inbox reads it."""

    id: int
    resident_ref: str
    channel: str
    status: str
    handled_by: Handler
    priority: int
    urgent: bool
    crisis_type: str | None
    complex: bool
    categories: list[str]
    assessment: Assessment
    consent: Consent
    language: str
    assignee: str | None
    opened_at: dt.datetime
    updated_at: dt.datetime
    closed_at: dt.datetime | None = None
    outcome: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "closed"


class AuditEvent(BaseModel):
    """Who did what to a case, when, from which value to which."""

    id: int
    case_id: int | None
    actor: str
    action: str
    from_value: str | None
    to_value: str | None
    detail: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime


def _stamp(at: dt.datetime | None) -> str:
    when = at if at is not None else dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        raise CaseError("timestamps must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def priority_for(assessment: Assessment, *, urgent: bool) -> int:
    """Crisis > complex > other: the order the inbox queue shows cases in."""
    if urgent or assessment.is_crisis:
        return PRIORITY_CRISIS
    if assessment.complex or len(assessment.categories) >= 2:
        return PRIORITY_COMPLEX
    return PRIORITY_OTHER


def _case(row: dict[str, Any]) -> Case:
    return Case(
        id=row["id"],
        resident_ref=row["resident_ref"],
        channel=row["channel"],
        status=row["status"],
        handled_by=row["handled_by"],
        priority=row["priority"],
        urgent=bool(row["urgent"]),
        crisis_type=row["crisis_type"],
        complex=bool(row["complex"]),
        categories=json.loads(row["categories"]),
        assessment=Assessment.model_validate_json(row["assessment"]),
        consent=Consent.model_validate_json(row["consent"]),
        language=row["language"],
        assignee=row["assignee"],
        opened_at=dt.datetime.fromisoformat(row["opened_at"]),
        updated_at=dt.datetime.fromisoformat(row["updated_at"]),
        closed_at=dt.datetime.fromisoformat(row["closed_at"]) if row["closed_at"] else None,
        outcome=row["outcome"],
    )


def audit(
    db: sqlite_utils.Database,
    case_id: int | None,
    *,
    actor: str,
    action: str,
    from_value: str | None,
    to_value: str | None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Write one audit event (call inside the transaction of the change)."""
    db.execute(
        "INSERT INTO audit_events (case_id, actor, action, from_value, to_value, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            case_id,
            actor,
            action,
            from_value,
            to_value,
            json.dumps(detail or {}, ensure_ascii=False),
            _stamp(at),
        ],
    )


def get_case(db: sqlite_utils.Database, case_id: int) -> Case:
    """The case with this id; CaseError when there is none."""
    rows = list(db.query("SELECT * FROM cases WHERE id = ?", [case_id]))
    if not rows:
        raise CaseError(f"case {case_id} does not exist")
    return _case(rows[0])


def open_case(
    db: sqlite_utils.Database,
    *,
    resident_ref: str,
    channel: str,
    assessment: Assessment,
    consent: Consent,
    urgent: bool,
    transcript: Sequence[TranscriptEntry],
    language: str,
    actor: str = "bot",
    at: dt.datetime | None = None,
) -> Case:
    """Open a new case with the conversation so far, in one transaction.

    The caller decides whether a new case is wanted (see ``case_for_resident``);
    a crisis case is opened with ``urgent=True`` whatever the consent says.
    """
    if not resident_ref:
        raise CaseError("a case needs a resident_ref")
    stamp = _stamp(at)
    crisis_type = assessment.crisis.type if assessment.crisis else None
    with db.atomic():
        cursor = db.execute(
            """
            INSERT INTO cases (resident_ref, channel, status, handled_by, priority, urgent,
                crisis_type, complex, categories, assessment, consent, language,
                opened_at, updated_at)
            VALUES (?, ?, 'new', 'staff', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                resident_ref,
                channel,
                priority_for(assessment, urgent=urgent),
                int(urgent),
                crisis_type,
                int(assessment.complex or len(assessment.categories) >= 2),
                json.dumps(assessment.codes),
                assessment.model_dump_json(),
                consent.model_dump_json(),
                language,
                stamp,
                stamp,
            ],
        )
        case_id = cursor.lastrowid
        assert case_id is not None
        for entry in transcript:
            _insert_message(db, case_id, entry.role, entry.text, _stamp(entry.at))
        audit(
            db,
            case_id,
            actor=actor,
            action="opened",
            from_value=None,
            to_value="new",
            detail={"urgent": urgent, "crisis_type": crisis_type, "channel": channel},
            at=at,
        )
    return get_case(db, case_id)


def _insert_message(db: sqlite_utils.Database, case_id: int, role: str, text: str, at: str) -> int:
    cursor = db.execute(
        "INSERT INTO case_messages (case_id, role, text, at) VALUES (?, ?, ?, ?)",
        [case_id, role, text, at],
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def append_message(
    db: sqlite_utils.Database,
    case_id: int,
    role: Role,
    text: str,
    *,
    at: dt.datetime | None = None,
) -> int:
    """Add a message to the case's transcript; returns its id."""
    stamp = _stamp(at)
    with db.atomic():
        get_case(db, case_id)
        message_id = _insert_message(db, case_id, role, text, stamp)
        db.execute("UPDATE cases SET updated_at = ? WHERE id = ?", [stamp, case_id])
    return message_id


def transcript(db: sqlite_utils.Database, case_id: int) -> list[TranscriptEntry]:
    """The case's messages, oldest first."""
    return [
        TranscriptEntry(role=r["role"], text=r["text"], at=dt.datetime.fromisoformat(r["at"]))
        for r in db.query(
            "SELECT role, text, at FROM case_messages WHERE case_id = ? ORDER BY id", [case_id]
        )
    ]


def audit_trail(db: sqlite_utils.Database, case_id: int) -> list[AuditEvent]:
    """Every audit event of the case, oldest first."""
    return [
        AuditEvent(
            id=r["id"],
            case_id=r["case_id"],
            actor=r["actor"],
            action=r["action"],
            from_value=r["from_value"],
            to_value=r["to_value"],
            detail=json.loads(r["detail"]),
            at=dt.datetime.fromisoformat(r["at"]),
        )
        for r in db.query("SELECT * FROM audit_events WHERE case_id = ? ORDER BY id", [case_id])
    ]


def case_for_resident(db: sqlite_utils.Database, resident_ref: str) -> Case | None:
    """The resident's open case (the newest, should there be several), or None."""
    rows = list(
        db.query(
            "SELECT * FROM cases WHERE resident_ref = ? AND status != 'closed'"
            " ORDER BY id DESC LIMIT 1",
            [resident_ref],
        )
    )
    return _case(rows[0]) if rows else None


def _set_handler(
    db: sqlite_utils.Database, case_id: int, handler: Handler, *, actor: str, at: dt.datetime | None
) -> Case:
    stamp = _stamp(at)
    with db.atomic():
        case = get_case(db, case_id)
        if not case.is_open:
            raise CaseError(f"case {case_id} is closed")
        if case.handled_by == handler:
            return case
        db.execute(
            "UPDATE cases SET handled_by = ?, updated_at = ? WHERE id = ?",
            [handler, stamp, case_id],
        )
        audit(
            db,
            case_id,
            actor=actor,
            action="handled_by",
            from_value=case.handled_by,
            to_value=handler,
            at=at,
        )
    return get_case(db, case_id)


def hand_back(
    db: sqlite_utils.Database, case_id: int, *, actor: str, at: dt.datetime | None = None
) -> Case:
    """Staff give the conversation back to the bot; the case stays open."""
    return _set_handler(db, case_id, "bot", actor=actor, at=at)


def take_over(
    db: sqlite_utils.Database, case_id: int, *, actor: str, at: dt.datetime | None = None
) -> Case:
    """A person handles the conversation again (the bot goes silent)."""
    return _set_handler(db, case_id, "staff", actor=actor, at=at)


def escalate(
    db: sqlite_utils.Database,
    case_id: int,
    *,
    crisis_type: str,
    actor: str = "bot",
    at: dt.datetime | None = None,
) -> Case:
    """Mark an open case urgent because of a crisis, and give it to a person."""
    stamp = _stamp(at)
    with db.atomic():
        case = get_case(db, case_id)
        before = "urgent" if case.urgent else f"priority {case.priority}"
        db.execute(
            "UPDATE cases SET urgent = 1, priority = ?, crisis_type = ?, updated_at = ?"
            " WHERE id = ?",
            [PRIORITY_CRISIS, crisis_type, stamp, case_id],
        )
        audit(
            db,
            case_id,
            actor=actor,
            action="escalated",
            from_value=before,
            to_value="urgent",
            detail={"crisis_type": crisis_type},
            at=at,
        )
        if case.handled_by != "staff":
            _set_handler(db, case_id, "staff", actor=actor, at=at)
    return get_case(db, case_id)


def update_consent(
    db: sqlite_utils.Database,
    case_id: int,
    consent: Consent,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> Case:
    """Record what the resident now agrees to share (audited: consent matters)."""
    stamp = _stamp(at)
    with db.atomic():
        case = get_case(db, case_id)
        if case.consent == consent:
            return case
        db.execute(
            "UPDATE cases SET consent = ?, updated_at = ? WHERE id = ?",
            [consent.model_dump_json(), stamp, case_id],
        )
        audit(
            db,
            case_id,
            actor=actor,
            action="consent",
            from_value=case.consent.model_dump_json(),
            to_value=consent.model_dump_json(),
            at=at,
        )
    return get_case(db, case_id)


def update_assessment(
    db: sqlite_utils.Database,
    case_id: int,
    assessment: Assessment,
    *,
    at: dt.datetime | None = None,
) -> Case:
    """Refresh the needs found as the resident writes more (priority never drops)."""
    stamp = _stamp(at)
    with db.atomic():
        case = get_case(db, case_id)
        priority = min(case.priority, priority_for(assessment, urgent=case.urgent))
        db.execute(
            "UPDATE cases SET assessment = ?, categories = ?, complex = ?, priority = ?,"
            " updated_at = ? WHERE id = ?",
            [
                assessment.model_dump_json(),
                json.dumps(assessment.codes),
                int(case.complex or assessment.complex or len(assessment.categories) >= 2),
                priority,
                stamp,
                case_id,
            ],
        )
    return get_case(db, case_id)


def set_status(
    db: sqlite_utils.Database,
    case_id: int,
    status: str,
    *,
    actor: str,
    outcome: str | None = None,
    at: dt.datetime | None = None,
) -> Case:
    """Move a case along its lifecycle, with an audit event."""
    if status not in STATUSES:
        raise CaseError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    stamp = _stamp(at)
    with db.atomic():
        case = get_case(db, case_id)
        if case.status == status:
            return case
        db.execute(
            "UPDATE cases SET status = ?, updated_at = ?, closed_at = ?, outcome = ? WHERE id = ?",
            [
                status,
                stamp,
                stamp if status == "closed" else None,
                outcome if status == "closed" else case.outcome,
                case_id,
            ],
        )
        audit(
            db,
            case_id,
            actor=actor,
            action="status",
            from_value=case.status,
            to_value=status,
            detail={"outcome": outcome} if outcome else None,
            at=at,
        )
    return get_case(db, case_id)


# -- the inbox's operations ------------------------------------------------------

#: Where a case may go from each status (design.md §6). ``closed`` is final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("claimed", "closed"),
    "claimed": ("referred", "in_support", "follow_up_due", "closed"),
    "referred": ("accepted", "declined"),
    "accepted": ("in_support", "closed"),
    "declined": ("referred", "in_support", "closed"),
    "in_support": ("referred", "follow_up_due", "closed"),
    "follow_up_due": ("in_support", "referred", "closed"),
    "closed": (),
}
STATUS_LABELS: dict[str, str] = {
    "new": "新規",
    "claimed": "担当決定",
    "referred": "つなぎ中",
    "accepted": "受理",
    "declined": "辞退",
    "in_support": "支援中",
    "follow_up_due": "見守り期限",
    "closed": "終結",
}


class CaseMessage(BaseModel):
    """A transcript entry with its id (the case page polls for newer ids)."""

    id: int
    role: Role
    text: str
    at: dt.datetime


class CaseNote(BaseModel):
    """An internal note: for staff only, never sent to the resident."""

    id: int
    author: str
    text: str
    at: dt.datetime


def change_status(
    db: sqlite_utils.Database,
    case_id: int,
    status: str,
    *,
    actor: str,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> Case:
    """Move along the lifecycle only where it allows; ``declined`` needs a reason and
    ``closed`` an outcome (both given as ``reason``)."""
    case = get_case(db, case_id)
    allowed = TRANSITIONS.get(case.status, ())
    if status not in allowed:
        raise CaseError(
            f"a {case.status} case cannot become {status}; allowed: {', '.join(allowed) or 'none'}"
        )
    reason = (reason or "").strip() or None
    if status in ("declined", "closed") and reason is None:
        word = "reason" if status == "declined" else "outcome"
        raise CaseError(f"{status} needs a {word}")
    with db.atomic():
        updated = set_status(
            db, case_id, status, actor=actor, outcome=reason if status == "closed" else None, at=at
        )
        if status == "declined":
            audit(db, case_id, actor=actor, action="declined_reason", from_value=None,
                  to_value=reason, at=at)
    return updated


def claim(
    db: sqlite_utils.Database, case_id: int, *, actor: str, at: dt.datetime | None = None
) -> Case:
    """``actor`` takes the case: assignee set, a new case becomes ``claimed``."""
    with db.atomic():
        case = get_case(db, case_id)
        if not case.is_open:
            raise CaseError(f"case {case_id} is closed")
        if case.assignee not in (None, actor):
            raise CaseError(f"case {case_id} is already assigned to {case.assignee}")
        assign(db, case_id, actor, actor=actor, at=at)
        if case.status == "new":
            set_status(db, case_id, "claimed", actor=actor, at=at)
    return get_case(db, case_id)


def assign(
    db: sqlite_utils.Database,
    case_id: int,
    assignee: str | None,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> Case:
    """Give the case to ``assignee`` (None: unassigned), with an audit event."""
    stamp = _stamp(at)
    with db.atomic():
        case = get_case(db, case_id)
        if case.assignee == assignee:
            return case
        db.execute(
            "UPDATE cases SET assignee = ?, updated_at = ? WHERE id = ?",
            [assignee, stamp, case_id],
        )
        audit(db, case_id, actor=actor, action="assigned", from_value=case.assignee,
              to_value=assignee, at=at)
    return get_case(db, case_id)


def add_note(
    db: sqlite_utils.Database, case_id: int, text: str, *, author: str,
    at: dt.datetime | None = None,
) -> int:
    """An internal note (never sent); audited without its text."""
    text = text.strip()
    if not text:
        raise CaseError("a note needs some text")
    stamp = _stamp(at)
    with db.atomic():
        get_case(db, case_id)
        cursor = db.execute(
            "INSERT INTO case_notes (case_id, author, text, at) VALUES (?, ?, ?, ?)",
            [case_id, author, text, stamp],
        )
        assert cursor.lastrowid is not None
        audit(db, case_id, actor=author, action="note", from_value=None,
              to_value=str(cursor.lastrowid), at=at)
    return cursor.lastrowid


def notes(db: sqlite_utils.Database, case_id: int) -> list[CaseNote]:
    return [
        CaseNote(id=r["id"], author=r["author"], text=r["text"],
                 at=dt.datetime.fromisoformat(r["at"]))
        for r in db.query("SELECT * FROM case_notes WHERE case_id = ? ORDER BY id", [case_id])
    ]


def messages_since(db: sqlite_utils.Database, case_id: int, after: int = 0) -> list[CaseMessage]:
    """The case's messages with an id above ``after``, oldest first."""
    return [
        CaseMessage(id=r["id"], role=r["role"], text=r["text"],
                    at=dt.datetime.fromisoformat(r["at"]))
        for r in db.query(
            "SELECT id, role, text, at FROM case_messages WHERE case_id = ? AND id > ?"
            " ORDER BY id LIMIT 500",
            [case_id, after],
        )
    ]


def queue(
    db: sqlite_utils.Database,
    *,
    status: str | None = None,
    category: str | None = None,
    assignee: str | None = None,
    include_closed: bool = False,
    limit: int = 500,
) -> list[Case]:
    """Cases for the inbox: crisis, then complex, then the rest; longest waiting first.

    ``assignee`` ``""`` means unassigned. Without ``status`` closed cases are left out
    unless ``include_closed``.
    """
    where: list[str] = []
    params: list[object] = []
    if status:
        where.append("status = ?")
        params.append(status)
    elif not include_closed:
        where.append("status != 'closed'")
    if category:
        where.append("EXISTS (SELECT 1 FROM json_each(cases.categories) WHERE value = ?)")
        params.append(category)
    if assignee == "":
        where.append("assignee IS NULL")
    elif assignee:
        where.append("assignee = ?")
        params.append(assignee)
    sql = "SELECT * FROM cases"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY priority, opened_at, id LIMIT ?"
    params.append(limit)
    return [_case(r) for r in db.query(sql, params)]
