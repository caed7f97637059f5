"""Retention: what is left of a closed case once its retention period has passed.

A closed case past the period keeps only what the reports count: channel,
categories, priority, urgency and crisis type, complex, status, outcome,
consent flags, assignee and every timestamp. It loses whatever says who
wrote or what they wrote: the resident reference (becomes
``<channel>:purged``), the text of every message and internal note, and the
assessment's words (the message, evidence sentences, crisis phrases, the
services' reasons, which may quote the resident), and staff's free text about
the household (labels, follow-up messages, an agency's reason for declining,
the support plan's goals).
Message and note rows stay as (role or author, time), so message counts and
first-reply times in the reports do not move. Audit events are never
touched: they hold ids and actions, no message text.

The caller owns the transaction (``bot.retention.purge`` does the whole
purge, bot tables included, in one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlite_utils

from triage.assessment import Assessment, CategoryFinding, CrisisFinding

PURGED = "purged"


@dataclass
class CasePurge:
    """How much a purge redacted."""

    cases: int = 0
    messages: int = 0
    notes: int = 0
    follow_ups: int = 0
    referrals: int = 0
    plans: int = 0


def _stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("the cutoff must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def redact_assessment(assessment: Assessment) -> Assessment:
    """The assessment without the resident's words: categories, scores and services stay."""
    return Assessment(
        text="",
        language=assessment.language,
        categories=[
            CategoryFinding(code=c.code, label=c.label, score=c.score)
            for c in assessment.categories
        ],
        ranked=list(assessment.ranked),
        crisis=CrisisFinding(type=assessment.crisis.type) if assessment.crisis else None,
        risk_concern=assessment.risk_concern,
        complex=assessment.complex,
        vague=assessment.vague,
        # a reason may quote the resident (「…」という相談は…): the match stays, the words go
        services=[s.model_copy(update={"reason": ""}) for s in assessment.services],
        kb_version=assessment.kb_version,
    )


def purged_ref(channel: str) -> str:
    return f"{channel}:{PURGED}"


def purge_closed_cases(db: sqlite_utils.Database, cutoff: dt.datetime) -> CasePurge:
    """Redact every case closed before ``cutoff`` (call inside a transaction).

    Idempotent: a case already purged is not counted again.
    """
    rows = list(
        db.query(
            "SELECT id, channel, assessment FROM cases WHERE status = 'closed'"
            " AND closed_at < ? AND resident_ref != channel || ':' || ?",
            [_stamp(cutoff), PURGED],
        )
    )
    report = CasePurge(cases=len(rows))
    for row in rows:
        redacted = redact_assessment(Assessment.model_validate_json(row["assessment"]))
        db.execute(
            "UPDATE cases SET resident_ref = ?, assessment = ? WHERE id = ?",
            [purged_ref(row["channel"]), redacted.model_dump_json(), row["id"]],
        )
        report.messages += db.execute(
            "UPDATE case_messages SET text = '' WHERE case_id = ? AND text != ''", [row["id"]]
        ).rowcount
        report.notes += db.execute(
            "UPDATE case_notes SET text = '' WHERE case_id = ? AND text != ''", [row["id"]]
        ).rowcount
        # staff's own words about the household: labels, follow-up messages, an agency's
        # reason for declining, the plan's goals (the plan's agencies are KB ids: they stay)
        db.execute("UPDATE cases SET labels = '[]' WHERE id = ?", [row["id"]])
        report.follow_ups += db.execute(
            "UPDATE follow_ups SET message = '' WHERE case_id = ? AND message != ''", [row["id"]]
        ).rowcount
        report.referrals += db.execute(
            "UPDATE referrals SET reason = NULL WHERE case_id = ? AND reason IS NOT NULL",
            [row["id"]],
        ).rowcount
        report.plans += db.execute(
            "UPDATE support_plans SET goals = '[]' WHERE case_id = ? AND goals != '[]'",
            [row["id"]],
        ).rowcount
    return report
