"""Follow-ups (見守り, アウトリーチ等を通じた継続的支援): check-ins staff schedule on a case.

Staff pick a time and, if they like, a few words; when it comes, the bot's
follow-up worker (``bot.followups``) sends the resident a gentle message on
their own channel — only if the resident said yes to such messages
(``Case.follow_up_consent``, recorded by staff from the resident's own answer;
never inferred from other consents). A follow-up that cannot go out is kept
with the reason, so the case page can say why. When the resident writes
after a follow-up was sent, the follow-up is ``answered`` and the case is
flagged for a person (it rises in the queue).

Statuses: ``scheduled`` → ``sent`` → ``answered``, or ``scheduled`` →
``not_sent`` (reason) / ``cancelled``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, cast

import sqlite_utils
from pydantic import BaseModel

from .cases import Case, CaseError, audit, flag_attention, get_case

FollowUpStatus = Literal["scheduled", "sent", "not_sent", "cancelled", "answered"]
FOLLOW_UP_LABELS: dict[str, str] = {
    "scheduled": "予定",
    "sent": "送信済み（返信待ち）",
    "not_sent": "未送信",
    "cancelled": "取り消し",
    "answered": "返信あり",
}
MAX_MESSAGE_CHARS = 1000
#: How far ahead a follow-up may be scheduled.
MAX_AHEAD = dt.timedelta(days=366)
#: Transcript markers of resident events that are not an answer (see bot.conversation).
_NOT_AN_ANSWER = ("［友だち解除", "［開始］")


class FollowUpError(CaseError):
    """A follow-up that cannot be scheduled or changed; the message (Japanese) says why."""


class FollowUp(BaseModel):
    id: int
    case_id: int
    due_at: dt.datetime
    message: str
    status: FollowUpStatus
    reason: str | None
    outbox_id: int | None
    created_by: str
    created_at: dt.datetime
    done_at: dt.datetime | None
    answered_at: dt.datetime | None

    @property
    def label(self) -> str:
        return FOLLOW_UP_LABELS[self.status]


def _stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise FollowUpError("timestamps must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _follow_up(row: dict[str, Any]) -> FollowUp:
    return FollowUp(
        id=row["id"],
        case_id=row["case_id"],
        due_at=dt.datetime.fromisoformat(row["due_at"]),
        message=row["message"],
        status=cast(FollowUpStatus, row["status"]),
        reason=row["reason"],
        outbox_id=row["outbox_id"],
        created_by=row["created_by"],
        created_at=dt.datetime.fromisoformat(row["created_at"]),
        done_at=_when(row["done_at"]),
        answered_at=_when(row["answered_at"]),
    )


def get_follow_up(db: sqlite_utils.Database, follow_up_id: int) -> FollowUp:
    rows = list(db.query("SELECT * FROM follow_ups WHERE id = ?", [follow_up_id]))
    if not rows:
        raise FollowUpError("その見守りの予定はありません。")
    return _follow_up(rows[0])


def follow_ups(db: sqlite_utils.Database, case_id: int) -> list[FollowUp]:
    """The case's follow-ups, soonest due first."""
    return [
        _follow_up(r)
        for r in db.query(
            "SELECT * FROM follow_ups WHERE case_id = ? ORDER BY due_at, id", [case_id]
        )
    ]


def why_no_follow_up(case: Case) -> str | None:
    """Why a follow-up could not go to this resident now (None: it may)."""
    if not case.is_open:
        return "相談は終結しています。"
    if case.follow_up_consent is None:
        return "見守りの連絡について本人の同意を確認していません。"
    if case.follow_up_consent is False:
        return "本人が見守りの連絡を希望していません。"
    return None


def schedule_follow_up(
    db: sqlite_utils.Database,
    case_id: int,
    due_at: dt.datetime,
    message: str,
    *,
    actor: str,
    now: dt.datetime,
) -> FollowUp:
    """Plan a check-in at ``due_at`` with staff's optional words (audited without them)."""
    message = message.replace("\r\n", "\n").strip()
    if len(message) > MAX_MESSAGE_CHARS:
        raise FollowUpError(f"ひとことは{MAX_MESSAGE_CHARS}文字以内で書いてください。")
    if due_at <= now:
        raise FollowUpError("見守りの日時は今より後にしてください。")
    if due_at - now > MAX_AHEAD:
        raise FollowUpError("見守りの日時は1年以内にしてください。")
    with db.atomic():
        case = get_case(db, case_id)
        if not case.is_open:
            raise FollowUpError("終結した相談には見守りを予定できません。")
        cursor = db.execute(
            "INSERT INTO follow_ups (case_id, due_at, message, status, created_by, created_at)"
            " VALUES (?, ?, ?, 'scheduled', ?, ?)",
            [case_id, _stamp(due_at), message, actor, _stamp(now)],
        )
        assert cursor.lastrowid is not None
        audit(
            db,
            case_id,
            actor=actor,
            action="follow_up",
            from_value=None,
            to_value=f"scheduled {_stamp(due_at)}",
            detail={"follow_up_id": cursor.lastrowid, "with_message": bool(message)},
            at=now,
        )
    return get_follow_up(db, cursor.lastrowid)


def cancel_follow_up(
    db: sqlite_utils.Database, follow_up_id: int, *, actor: str, now: dt.datetime
) -> FollowUp:
    """Call off a follow-up that has not gone out yet."""
    with db.atomic():
        follow_up = get_follow_up(db, follow_up_id)
        if follow_up.status != "scheduled":
            raise FollowUpError("送信前の見守りだけ取り消せます。")
        _finish(db, follow_up, "cancelled", actor=actor, now=now)
    return get_follow_up(db, follow_up_id)


def due_follow_ups(
    db: sqlite_utils.Database, now: dt.datetime, *, limit: int = 50
) -> list[FollowUp]:
    """Scheduled follow-ups whose time has come, oldest first."""
    return [
        _follow_up(r)
        for r in db.query(
            "SELECT * FROM follow_ups WHERE status = 'scheduled' AND due_at <= ?"
            " ORDER BY due_at, id LIMIT ?",
            [_stamp(now), limit],
        )
    ]


def _finish(
    db: sqlite_utils.Database,
    follow_up: FollowUp,
    status: FollowUpStatus,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
    outbox_id: int | None = None,
) -> None:
    db.execute(
        "UPDATE follow_ups SET status = ?, reason = ?, outbox_id = ?, done_at = ? WHERE id = ?",
        [status, reason, outbox_id, _stamp(now), follow_up.id],
    )
    detail: dict[str, Any] = {"follow_up_id": follow_up.id}
    if reason:
        detail["reason"] = reason
    if outbox_id is not None:
        detail["outbox_id"] = outbox_id
    audit(
        db,
        follow_up.case_id,
        actor=actor,
        action="follow_up",
        from_value=follow_up.status,
        to_value=status,
        detail=detail,
        at=now,
    )


def mark_follow_up_sent(
    db: sqlite_utils.Database,
    follow_up_id: int,
    *,
    outbox_id: int | None,
    actor: str,
    now: dt.datetime,
) -> None:
    """The check-in is queued on the outbox (call inside the sender's transaction)."""
    follow_up = get_follow_up(db, follow_up_id)
    if follow_up.status != "scheduled":
        raise FollowUpError(f"follow-up {follow_up_id} is {follow_up.status}, not scheduled")
    _finish(db, follow_up, "sent", actor=actor, now=now, outbox_id=outbox_id)


def mark_follow_up_not_sent(
    db: sqlite_utils.Database, follow_up_id: int, reason: str, *, actor: str, now: dt.datetime
) -> None:
    """The check-in did not go out; ``reason`` is what the case page shows."""
    follow_up = get_follow_up(db, follow_up_id)
    if follow_up.status != "scheduled":
        raise FollowUpError(f"follow-up {follow_up_id} is {follow_up.status}, not scheduled")
    _finish(db, follow_up, "not_sent", actor=actor, now=now, reason=reason)


def note_answer(db: sqlite_utils.Database, case_id: int, text: str, *, at: dt.datetime) -> bool:
    """The resident wrote: answer the case's sent follow-ups and flag the case for a person.

    Called by ``cases.append_message`` for every resident message, inside its
    transaction. Returns whether a follow-up was answered.
    """
    if text.startswith(_NOT_AN_ANSWER):
        return False
    sent = [
        r["id"]
        for r in db.query(
            "SELECT id FROM follow_ups WHERE case_id = ? AND status = 'sent'", [case_id]
        )
    ]
    if not sent:
        return False
    stamp = _stamp(at)
    for follow_up_id in sent:
        db.execute(
            "UPDATE follow_ups SET status = 'answered', answered_at = ? WHERE id = ?",
            [stamp, follow_up_id],
        )
        audit(
            db,
            case_id,
            actor="resident",
            action="follow_up",
            from_value="sent",
            to_value="answered",
            detail={"follow_up_id": follow_up_id},
            at=at,
        )
    flag_attention(db, case_id, "follow_up_answered", actor="resident", at=at)
    return True
