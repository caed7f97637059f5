"""Cases: the record a warm handoff creates, with its messages and audit trail.

The bot opens a case when a person should take over (the resident asked,
agreed, or is in danger); staff work it in the inbox. Every change of
status or of who is handling the conversation (staff or bot) is written as
an audit event in the same transaction, so the trail can never miss one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
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
    team: str | None = None
    area: str | None = None
    labels: list[str] = Field(default_factory=list)
    writer: str | None = None
    meeting: bool = False
    follow_up_consent: bool | None = None
    attention: str | None = None
    attention_at: dt.datetime | None = None

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
        team=row["team"],
        area=row["area"],
        labels=json.loads(row["labels"]),
        writer=row["writer"],
        meeting=bool(row["meeting"]),
        follow_up_consent=(
            None if row["follow_up_consent"] is None else bool(row["follow_up_consent"])
        ),
        attention=row["attention"],
        attention_at=(
            dt.datetime.fromisoformat(row["attention_at"]) if row["attention_at"] else None
        ),
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
    when = at if at is not None else dt.datetime.now(dt.UTC)
    stamp = _stamp(when)
    with db.atomic():
        get_case(db, case_id)
        message_id = _insert_message(db, case_id, role, text, stamp)
        db.execute("UPDATE cases SET updated_at = ? WHERE id = ?", [stamp, case_id])
        if role == "resident":
            # an answer to a follow-up brings the case back to a person (imported here:
            # ``followups`` builds on this module)
            from .followups import note_answer

            note_answer(db, case_id, text, at=when)
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
            audit(
                db,
                case_id,
                actor=actor,
                action="declined_reason",
                from_value=None,
                to_value=reason,
                at=at,
            )
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
        audit(
            db,
            case_id,
            actor=actor,
            action="assigned",
            from_value=case.assignee,
            to_value=assignee,
            at=at,
        )
    return get_case(db, case_id)


def add_note(
    db: sqlite_utils.Database,
    case_id: int,
    text: str,
    *,
    author: str,
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
        audit(
            db,
            case_id,
            actor=author,
            action="note",
            from_value=None,
            to_value=str(cursor.lastrowid),
            at=at,
        )
    return cursor.lastrowid


def notes(db: sqlite_utils.Database, case_id: int) -> list[CaseNote]:
    return [
        CaseNote(
            id=r["id"], author=r["author"], text=r["text"], at=dt.datetime.fromisoformat(r["at"])
        )
        for r in db.query("SELECT * FROM case_notes WHERE case_id = ? ORDER BY id", [case_id])
    ]


def messages_since(db: sqlite_utils.Database, case_id: int, after: int = 0) -> list[CaseMessage]:
    """The case's messages with an id above ``after``, oldest first."""
    return [
        CaseMessage(
            id=r["id"], role=r["role"], text=r["text"], at=dt.datetime.fromisoformat(r["at"])
        )
        for r in db.query(
            "SELECT id, role, text, at FROM case_messages WHERE case_id = ? AND id > ?"
            " ORDER BY id LIMIT 500",
            [case_id, after],
        )
    ]


def _queue_where(
    *,
    status: str | None = None,
    category: str | None = None,
    assignee: str | None = None,
    area: str | None = None,
    team: str | None = None,
    label: str | None = None,
    attention: bool = False,
    overdue_at: dt.datetime | None = None,
    include_closed: bool = False,
) -> tuple[str, list[object]]:
    """The WHERE clause of the queue's filters (see ``queue``), always parameterised."""
    where: list[str] = []
    params: list[object] = []
    if area:
        where.append("area = ?")
        params.append(area)
    if team:
        where.append("team = ?")
        params.append(team)
    if label:
        where.append("EXISTS (SELECT 1 FROM json_each(cases.labels) WHERE value = ?)")
        params.append(label)
    if attention:
        where.append("attention IS NOT NULL")
    if overdue_at is not None:
        where.append(
            "EXISTS (SELECT 1 FROM referrals r WHERE r.case_id = cases.id"
            " AND r.status IN ('sent', 'no_response') AND r.due_at <= ?)"
        )
        params.append(_stamp(overdue_at))
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
    return (" WHERE " + " AND ".join(where) if where else ""), params


def queue(
    db: sqlite_utils.Database,
    *,
    limit: int = 100,
    offset: int = 0,
    **filters: Any,
) -> list[Case]:
    """Cases for the inbox: crisis, then complex, then the rest; within each, the cases that
    need a person again (a resident answered a follow-up) first, then the longest waiting.

    Filters (all optional): ``status``, ``category``, ``assignee`` (``""`` means
    unassigned), ``area``, ``team``, ``label``, ``attention`` (only cases flagged for a
    person), ``overdue_at`` (only cases with a referral unanswered past its deadline then),
    ``include_closed`` (without ``status`` closed cases are left out unless this is set).
    A page is ``limit`` cases from ``offset``: nobody reads ten thousand rows at once.
    """
    where, params = _queue_where(**filters)
    sql = (
        f"SELECT * FROM cases{where}"
        " ORDER BY priority, attention IS NULL, opened_at, id LIMIT ? OFFSET ?"
    )
    return [_case(r) for r in db.query(sql, [*params, limit, offset])]


def queue_total(db: sqlite_utils.Database, **filters: Any) -> int:
    """How many cases the same filters match (the queue shows a page of them)."""
    where, params = _queue_where(**filters)
    return int(db.execute(f"SELECT COUNT(*) FROM cases{where}", params).fetchone()[0])


# -- what staff set on a case ------------------------------------------------------------

#: Who is writing (共通アセスメントシートの「相談者」): staff may correct the inference.
WRITERS = ("本人", "家族", "近隣", "関係者")
#: Why a case needs a person again, as the queue shows it.
ATTENTION_LABELS: dict[str, str] = {"follow_up_answered": "見守りに返信あり"}
MAX_TEAM_CHARS = 40
MAX_LABELS = 10
MAX_LABEL_CHARS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _field(value: str | None, *, what: str, max_chars: int) -> str | None:
    """A short staff-typed value: stripped, NFKC, no control characters; "" is None."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        return None
    if _CONTROL.search(text):
        raise CaseError(f"{what}に使えない文字が入っています。")
    if len(text) > max_chars:
        raise CaseError(f"{what}は{max_chars}文字以内で書いてください。")
    return text


def _set_column(
    db: sqlite_utils.Database,
    case: Case,
    column: str,
    before: str | None,
    after: str | None,
    db_value: object,
    *,
    actor: str,
    at: dt.datetime | None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one case column and its audit event (inside the caller's transaction)."""
    if before == after:
        return
    db.execute(
        f"UPDATE cases SET {column} = ?, updated_at = ? WHERE id = ?",
        [db_value, _stamp(at), case.id],
    )
    audit(
        db,
        case.id,
        actor=actor,
        action=column,
        from_value=before,
        to_value=after,
        detail=detail,
        at=at,
    )


def set_team_area(
    db: sqlite_utils.Database,
    case_id: int,
    *,
    team: str | None,
    area: str | None,
    actor: str,
    at: dt.datetime | None = None,
) -> Case:
    """Which team works the case and in which area (圏域・地区); each change audited."""
    new_team = _field(team, what="チーム", max_chars=MAX_TEAM_CHARS)
    new_area = _field(area, what="地区", max_chars=MAX_TEAM_CHARS)
    with db.atomic():
        case = get_case(db, case_id)
        _set_column(db, case, "team", case.team, new_team, new_team, actor=actor, at=at)
        _set_column(db, case, "area", case.area, new_area, new_area, actor=actor, at=at)
    return get_case(db, case_id)


def parse_labels(text: str) -> list[str]:
    """Labels typed as one line, separated by commas, 、 or spaces (order kept, no repeats)."""
    parts = re.split(r"[,、\s]+", unicodedata.normalize("NFKC", text or ""))
    labels: list[str] = []
    for part in parts:
        label = _field(part, what="ラベル", max_chars=MAX_LABEL_CHARS)
        if label and label not in labels:
            labels.append(label)
    if len(labels) > MAX_LABELS:
        raise CaseError(f"ラベルは{MAX_LABELS}個までです。")
    return labels


def set_labels(
    db: sqlite_utils.Database,
    case_id: int,
    labels: Sequence[str],
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> Case:
    """Replace the case's labels (audited as before → after)."""
    wanted = parse_labels(" ".join(labels))
    with db.atomic():
        case = get_case(db, case_id)
        before = "、".join(case.labels) or None
        after = "、".join(wanted) or None
        _set_column(
            db,
            case,
            "labels",
            before,
            after,
            json.dumps(wanted, ensure_ascii=False),
            actor=actor,
            at=at,
        )
    return get_case(db, case_id)


def set_writer(
    db: sqlite_utils.Database,
    case_id: int,
    writer: str | None,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> Case:
    """Correct who is writing (本人/家族/近隣/関係者); None goes back to the inference."""
    if writer is not None and writer not in WRITERS:
        raise CaseError(f"相談者は{'・'.join(WRITERS)}のどれかを選んでください。")
    with db.atomic():
        case = get_case(db, case_id)
        _set_column(db, case, "writer", case.writer, writer, writer, actor=actor, at=at)
    return get_case(db, case_id)


#: How staff learnt the resident's answer about follow-up messages.
CONSENT_SOURCES: dict[str, str] = {
    "chat": "会話で本人が答えた",
    "phone": "電話で本人が答えた",
    "meeting": "面談で本人が答えた",
}


def set_follow_up_consent(
    db: sqlite_utils.Database,
    case_id: int,
    consent: bool | None,
    *,
    source: str,
    actor: str,
    at: dt.datetime | None = None,
) -> Case:
    """Record the resident's own answer to "may we check in with you later?" (見守りの連絡).

    Only the resident decides; staff record what they said and how (``source``),
    and the audit keeps who recorded it, when, from what to what.
    """
    if source not in CONSENT_SOURCES:
        raise CaseError("同意をどのように確認したかを選んでください。")

    def word(value: bool | None) -> str | None:
        return None if value is None else ("同意あり" if value else "同意なし")

    with db.atomic():
        case = get_case(db, case_id)
        _set_column(
            db,
            case,
            "follow_up_consent",
            word(case.follow_up_consent),
            word(consent),
            None if consent is None else int(consent),
            actor=actor,
            at=at,
            detail={"source": source},
        )
    return get_case(db, case_id)


def flag_attention(
    db: sqlite_utils.Database,
    case_id: int,
    reason: str,
    *,
    actor: str,
    at: dt.datetime | None = None,
) -> None:
    """The case needs a person again (it rises in the queue with ``reason`` shown)."""
    with db.atomic():
        case = get_case(db, case_id)
        db.execute(
            "UPDATE cases SET attention = ?, attention_at = ?, updated_at = ? WHERE id = ?",
            [reason, _stamp(at), _stamp(at), case_id],
        )
        audit(
            db,
            case_id,
            actor=actor,
            action="attention",
            from_value=case.attention,
            to_value=reason,
            at=at,
        )


def clear_attention(
    db: sqlite_utils.Database, case_id: int, *, actor: str, at: dt.datetime | None = None
) -> None:
    """A person has dealt with what brought the case back (no-op when nothing is flagged)."""
    with db.atomic():
        case = get_case(db, case_id)
        if case.attention is None:
            return
        db.execute("UPDATE cases SET attention = NULL, attention_at = NULL WHERE id = ?", [case_id])
        audit(
            db,
            case_id,
            actor=actor,
            action="attention",
            from_value=case.attention,
            to_value=None,
            at=at,
        )
