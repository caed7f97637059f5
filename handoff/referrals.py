"""Referrals (確実なつなぎ): a case referred to KB services, followed until each answers.

The seed's survey found agencies that "passed on a phone number and stopped
there"; a referral here is not done until the service has accepted or
declined it. Each referral has its own status and answer deadline (business
days, see ``handoff.workdays``) and counts as overdue once the deadline passes
without an answer. The case moves with its referrals where the lifecycle
allows — referring makes it ``referred``, an acceptance ``accepted``, and the
last open referral declined ``declined`` — and every change is audited in the
same transaction.

Information goes to an agency only with the resident's consent (design.md
§2): without ``share_with_agencies`` a referral needs the staff member to
confirm the resident agreed (recorded as a consent change), except for an
urgent (crisis) case, where the override is recorded instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal, cast

import sqlite_utils
from pydantic import BaseModel

from knowledge import KnowledgeStore, NotFound

from .cases import (
    TRANSITIONS,
    CaseError,
    audit,
    get_case,
    set_status,
    update_consent,
)

ReferralStatus = Literal["sent", "accepted", "declined", "no_response"]
REFERRAL_STATUSES: tuple[ReferralStatus, ...] = ("sent", "accepted", "declined", "no_response")
REFERRAL_LABELS: dict[str, str] = {
    "sent": "回答待ち",
    "accepted": "受理",
    "declined": "辞退",
    "no_response": "応答なし",
}
#: Not yet answered: the loop is still open.
OPEN: tuple[ReferralStatus, ...] = ("sent", "no_response")
#: Where a referral may go from each status (accepted and declined are answers, final).
REFERRAL_TRANSITIONS: dict[str, tuple[ReferralStatus, ...]] = {
    "sent": ("accepted", "declined", "no_response"),
    "no_response": ("accepted", "declined"),
    "accepted": (),
    "declined": (),
}
MAX_REASON_CHARS = 500


class ReferralError(CaseError):
    """A referral that cannot be made or changed; the message (Japanese) says why."""


class Referral(BaseModel):
    """One service a case was referred to, and where that stands."""

    id: int
    case_id: int
    service_id: str
    service_name: str
    organization: str
    status: ReferralStatus
    reason: str | None
    due_at: dt.datetime
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    responded_at: dt.datetime | None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def overdue(self, now: dt.datetime) -> bool:
        """Unanswered past its deadline."""
        return self.is_open and now >= self.due_at

    @property
    def label(self) -> str:
        return REFERRAL_LABELS[self.status]


def _stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise ReferralError("timestamps must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _referral(row: dict[str, Any]) -> Referral:
    return Referral(
        id=row["id"],
        case_id=row["case_id"],
        service_id=row["service_id"],
        service_name=row["service_name"],
        organization=row["organization"],
        status=cast(ReferralStatus, row["status"]),
        reason=row["reason"],
        due_at=dt.datetime.fromisoformat(row["due_at"]),
        created_by=row["created_by"],
        created_at=dt.datetime.fromisoformat(row["created_at"]),
        updated_at=dt.datetime.fromisoformat(row["updated_at"]),
        responded_at=_when(row["responded_at"]),
    )


def get_referral(db: sqlite_utils.Database, referral_id: int) -> Referral:
    rows = list(db.query("SELECT * FROM referrals WHERE id = ?", [referral_id]))
    if not rows:
        raise ReferralError("そのつなぎ先の記録はありません。")
    return _referral(rows[0])


def list_referrals(db: sqlite_utils.Database, case_id: int) -> list[Referral]:
    """The case's referrals, oldest first."""
    return [
        _referral(r)
        for r in db.query("SELECT * FROM referrals WHERE case_id = ? ORDER BY id", [case_id])
    ]


def overdue_counts(db: sqlite_utils.Database, now: dt.datetime) -> dict[int, int]:
    """Case id → how many of its referrals are unanswered past their deadline."""
    return {
        r["case_id"]: r["n"]
        for r in db.query(
            "SELECT case_id, COUNT(*) AS n FROM referrals WHERE status IN ('sent', 'no_response')"
            " AND due_at <= ? GROUP BY case_id",
            [_stamp(now)],
        )
    }


def referral_counts(db: sqlite_utils.Database, now: dt.datetime) -> tuple[int, int]:
    """(open, overdue) referrals of every case, as of ``now``."""
    row = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(due_at <= ?), 0) FROM referrals"
        " WHERE status IN ('sent', 'no_response')",
        [_stamp(now)],
    ).fetchone()
    return int(row[0]), int(row[1])


def refer(
    db: sqlite_utils.Database,
    case_id: int,
    service_ids: Sequence[str],
    *,
    actor: str,
    now: dt.datetime,
    due_at: dt.datetime,
    consent_confirmed: bool = False,
) -> list[Referral]:
    """Refer the case to each service (from the KB), all in one transaction.

    ``due_at`` is the answer deadline (see ``workdays.deadline``). Refuses an
    unknown or retired service, a service the case is already waiting on, a
    closed or unclaimed case, and — unless the case is urgent — a resident
    who has not agreed to share with agencies when ``consent_confirmed`` is false.
    """
    wanted = list(dict.fromkeys(s.strip() for s in service_ids if s.strip()))
    if not wanted:
        raise ReferralError("つなぐ先の窓口を1つ以上選んでください。")
    if due_at <= now:
        raise ReferralError("回答期限は今より後にしてください。")
    store = KnowledgeStore(db)
    services = store.services_by_id(wanted)
    for service_id in wanted:
        service = services.get(service_id)
        if service is None:
            raise ReferralError(f"窓口「{service_id}」は知識ベースにありません。")
        if service.status == "retired":
            raise ReferralError(f"「{service.name}」は廃止された窓口です。")
    stamp = _stamp(now)
    made: list[int] = []
    with db.atomic():
        case = get_case(db, case_id)
        if not case.is_open:
            raise ReferralError("終結した相談はつなげません。")
        if case.status == "new":
            raise ReferralError("先に担当を決めてください（「担当する」）。")
        waiting = {
            r.service_id for r in list_referrals(db, case_id) if r.is_open or r.status == "accepted"
        }
        again = [services[s].name for s in wanted if s in waiting]
        if again:
            raise ReferralError(f"「{'」「'.join(again)}」にはすでにつないでいます。")
        override = False
        if case.consent.share_with_agencies is not True:
            if consent_confirmed:
                update_consent(
                    db,
                    case_id,
                    case.consent.model_copy(update={"share_with_agencies": True}),
                    actor=actor,
                    at=now,
                )
            elif case.urgent:
                override = True
            else:
                raise ReferralError(
                    "関係機関への共有に本人の同意がありません。"
                    "本人に確認できたら「本人の同意を確認した」にチェックしてください。"
                )
        for service_id in wanted:
            service = services[service_id]
            try:
                organization = store.organization(service.organization_id).name
            except NotFound:
                organization = ""
            cursor = db.execute(
                "INSERT INTO referrals (case_id, service_id, service_name, organization, status,"
                " due_at, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'sent', ?, ?, ?, ?)",
                [
                    case_id,
                    service.id,
                    service.name,
                    organization,
                    _stamp(due_at),
                    actor,
                    stamp,
                    stamp,
                ],
            )
            assert cursor.lastrowid is not None
            made.append(cursor.lastrowid)
            detail: dict[str, Any] = {
                "referral_id": cursor.lastrowid,
                "service_id": service.id,
                "due_at": _stamp(due_at),
            }
            if override:
                detail["consent"] = "crisis override"
            audit(
                db,
                case_id,
                actor=actor,
                action="referral",
                from_value=None,
                to_value=f"{service.name}: sent",
                detail=detail,
                at=now,
            )
        if "referred" in TRANSITIONS.get(case.status, ()):
            set_status(db, case_id, "referred", actor=actor, at=now)
    return [get_referral(db, i) for i in made]


def respond(
    db: sqlite_utils.Database,
    referral_id: int,
    status: str,
    *,
    actor: str,
    now: dt.datetime,
    reason: str | None = None,
) -> Referral:
    """Record the service's answer (or that none came); the case follows where it may.

    ``declined`` needs the reason the service gave. An acceptance makes a
    ``referred`` case ``accepted``; when the last open referral of a case that
    has none accepted is declined, the case becomes ``declined`` with that reason.
    """
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise ReferralError(f"理由は{MAX_REASON_CHARS}文字以内で書いてください。")
    with db.atomic():
        referral = get_referral(db, referral_id)
        allowed = REFERRAL_TRANSITIONS[referral.status]
        if status not in allowed:
            before, after = REFERRAL_LABELS[referral.status], REFERRAL_LABELS.get(status, status)
            raise ReferralError(f"「{before}」のつなぎ先は「{after}」にできません。")
        if status == "declined" and reason is None:
            raise ReferralError("辞退の理由を書いてください。")
        stamp = _stamp(now)
        answered = status in ("accepted", "declined")
        db.execute(
            "UPDATE referrals SET status = ?, reason = ?, updated_at = ?,"
            " responded_at = COALESCE(?, responded_at) WHERE id = ?",
            [
                status,
                reason if status == "declined" else referral.reason,
                stamp,
                stamp if answered else None,
                referral_id,
            ],
        )
        detail: dict[str, Any] = {"referral_id": referral_id, "service_id": referral.service_id}
        if reason and status == "declined":
            detail["reason"] = reason
        if referral.overdue(now):
            detail["overdue"] = True
        audit(
            db,
            referral.case_id,
            actor=actor,
            action="referral",
            from_value=f"{referral.service_name}: {referral.status}",
            to_value=f"{referral.service_name}: {status}",
            detail=detail,
            at=now,
        )
        case = get_case(db, referral.case_id)
        if status == "accepted" and case.status == "referred":
            set_status(db, case.id, "accepted", actor=actor, at=now)
        elif status == "declined" and case.status == "referred":
            others = [r for r in list_referrals(db, case.id) if r.id != referral_id]
            if not any(r.is_open or r.status == "accepted" for r in others):
                set_status(db, case.id, "declined", actor=actor, at=now)
                audit(
                    db,
                    case.id,
                    actor=actor,
                    action="declined_reason",
                    from_value=None,
                    to_value=f"{referral.service_name}: {reason}",
                    at=now,
                )
    return get_referral(db, referral_id)
