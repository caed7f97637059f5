"""The support plan (支援プラン) of a case and its 重層的支援会議 flag (art. 106-4 ¶2 5–6).

A household with troubles in several fields is worked by several agencies
together: staff flag the case for the 重層的支援会議 and keep one plan on it —
goals in plain words, the agencies (KB organizations, names kept as they were
when chosen) responsible, and the date of the next review. Every save and
every flag change is an audit event; the audit keeps counts, dates and
agency ids, not the goals' text.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Sequence
from typing import Any

import sqlite_utils
from pydantic import BaseModel, Field

from knowledge import KnowledgeStore

from .cases import Case, CaseError, audit, get_case

MAX_GOALS = 10
MAX_GOAL_CHARS = 200
MAX_AGENCIES = 15


class PlanError(CaseError):
    """A plan that cannot be saved; the message (Japanese) says which field and why."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PlanAgency(BaseModel):
    id: str
    name: str


class SupportPlan(BaseModel):
    """Goals, responsible agencies and the next review of one case."""

    case_id: int
    goals: list[str] = Field(default_factory=list)
    agencies: list[PlanAgency] = Field(default_factory=list)
    next_review: dt.date | None = None
    updated_by: str
    updated_at: dt.datetime

    def review_due(self, today: dt.date) -> bool:
        """The review date has come (or passed)."""
        return self.next_review is not None and self.next_review <= today

    def summary(self) -> str:
        """Counts and the date, for the audit trail (no goal text)."""
        review = self.next_review.isoformat() if self.next_review else "未定"
        return f"目標{len(self.goals)}・機関{len(self.agencies)}・次回見直し{review}"


def _stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise PlanError("timestamps must be timezone-aware", field="")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def get_plan(db: sqlite_utils.Database, case_id: int) -> SupportPlan | None:
    rows = list(db.query("SELECT * FROM support_plans WHERE case_id = ?", [case_id]))
    if not rows:
        return None
    row = rows[0]
    return SupportPlan(
        case_id=row["case_id"],
        goals=json.loads(row["goals"]),
        agencies=[PlanAgency(**a) for a in json.loads(row["agencies"])],
        next_review=dt.date.fromisoformat(row["next_review"]) if row["next_review"] else None,
        updated_by=row["updated_by"],
        updated_at=dt.datetime.fromisoformat(row["updated_at"]),
    )


def parse_goals(text: str) -> list[str]:
    """One goal per line; blank lines and bullets (・, -, *) dropped."""
    goals: list[str] = []
    for line in unicodedata.normalize("NFKC", text or "").splitlines():
        goal = line.strip().lstrip("・-*•").strip()
        if goal and goal not in goals:
            goals.append(goal)
    return goals


def save_plan(
    db: sqlite_utils.Database,
    case_id: int,
    *,
    goals: Sequence[str],
    agency_ids: Sequence[str],
    next_review: dt.date | None,
    actor: str,
    now: dt.datetime,
    today: dt.date,
) -> SupportPlan:
    """Create or replace the case's plan (validated first; nothing is half-written).

    ``today`` is the local date: a changed review date may not lie before it.
    """
    goals = [g.strip() for g in goals if g.strip()]
    if not goals:
        raise PlanError("目標を1つ以上書いてください。", field="goals")
    if len(goals) > MAX_GOALS:
        raise PlanError(f"目標は{MAX_GOALS}個までです。", field="goals")
    if any(len(g) > MAX_GOAL_CHARS for g in goals):
        raise PlanError(f"目標は1つ{MAX_GOAL_CHARS}文字以内で書いてください。", field="goals")
    wanted = list(dict.fromkeys(a for a in agency_ids if a))
    if len(wanted) > MAX_AGENCIES:
        raise PlanError(f"担当機関は{MAX_AGENCIES}までです。", field="agencies")
    known = {o.id: o.name for o in KnowledgeStore(db).organizations()}
    unknown = [a for a in wanted if a not in known]
    if unknown:
        raise PlanError("知識ベースにない機関が選ばれています。", field="agencies")
    agencies = [PlanAgency(id=a, name=known[a]) for a in wanted]
    with db.atomic():
        case = get_case(db, case_id)
        if not case.is_open:
            raise PlanError("終結した相談のプランは変えられません。", field="")
        before = get_plan(db, case_id)
        changed_review = before is None or before.next_review != next_review
        if next_review is not None and changed_review and next_review < today:
            raise PlanError("次回見直し日は今日以降にしてください。", field="next_review")
        plan = SupportPlan(
            case_id=case_id,
            goals=goals,
            agencies=agencies,
            next_review=next_review,
            updated_by=actor,
            updated_at=now,
        )
        db.execute(
            """
            INSERT INTO support_plans (case_id, goals, agencies, next_review, updated_by,
                updated_at)
            VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (case_id) DO UPDATE SET goals = excluded.goals,
                agencies = excluded.agencies, next_review = excluded.next_review,
                updated_by = excluded.updated_by, updated_at = excluded.updated_at
            """,
            [
                case_id,
                json.dumps(goals, ensure_ascii=False),
                json.dumps([a.model_dump() for a in agencies], ensure_ascii=False),
                next_review.isoformat() if next_review else None,
                actor,
                _stamp(now),
            ],
        )
        db.execute("UPDATE cases SET updated_at = ? WHERE id = ?", [_stamp(now), case_id])
        detail: dict[str, Any] = {
            "goals": len(goals),
            "agencies": wanted,
            "next_review": next_review.isoformat() if next_review else None,
        }
        audit(
            db,
            case_id,
            actor=actor,
            action="plan",
            from_value=before.summary() if before else None,
            to_value=plan.summary(),
            detail=detail,
            at=now,
        )
    return plan


def set_meeting(
    db: sqlite_utils.Database,
    case_id: int,
    flagged: bool,
    *,
    actor: str,
    now: dt.datetime,
) -> Case:
    """Flag (or unflag) the case for the 重層的支援会議, with an audit event."""
    with db.atomic():
        case = get_case(db, case_id)
        if case.meeting == flagged:
            return case
        db.execute(
            "UPDATE cases SET meeting = ?, updated_at = ? WHERE id = ?",
            [int(flagged), _stamp(now), case_id],
        )
        audit(
            db,
            case_id,
            actor=actor,
            action="meeting",
            from_value="対象" if case.meeting else "対象外",
            to_value="対象" if flagged else "対象外",
            at=now,
        )
    return get_case(db, case_id)
