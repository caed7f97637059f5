"""``tsunagu purge``: remove residents' words once the retention period has passed.

One transaction does it all, and writes one audit event with the counts:

- closed cases closed before the cutoff are redacted (``handoff.retention``);
- the bot's own copies: processed inbound events and delivered (or given-up)
  outbox rows older than the cutoff are deleted; conversation transcripts and
  web chat lines older than the cutoff are deleted for residents without an
  open case (the current consultation's lines stay); a conversation idle
  since before the cutoff is forgotten (a returning resident is greeted anew).

Nothing of an open case, a pending event or an undelivered reply is touched.
The period is ``TSUNAGU_RETENTION_DAYS`` (365 by default) unless the command
is given ``--older-than``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlite_utils

import handoff
from handoff.retention import CasePurge, purge_closed_cases

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    """What a purge removed (or, for a dry run, would remove)."""

    older_than_days: int
    cutoff: dt.datetime
    cases: CasePurge = field(default_factory=CasePurge)
    inbound_events: int = 0
    outbox_rows: int = 0
    conversations: int = 0
    conversation_messages: int = 0
    webchat_messages: int = 0
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "cases": self.cases.cases,
            "case_messages": self.cases.messages,
            "case_notes": self.cases.notes,
            "follow_ups": self.cases.follow_ups,
            "referral_reasons": self.cases.referrals,
            "support_plans": self.cases.plans,
            "inbound_events": self.inbound_events,
            "outbox_rows": self.outbox_rows,
            "conversations": self.conversations,
            "conversation_messages": self.conversation_messages,
            "webchat_messages": self.webchat_messages,
        }


class _DryRun(Exception):
    """Raised to roll the purge back after counting."""


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _purge_bot_tables(db: sqlite_utils.Database, cutoff: dt.datetime, report: PurgeReport) -> None:
    stamp, epoch = _stamp(cutoff), cutoff.timestamp()
    report.inbound_events = db.execute(
        "DELETE FROM inbound_events WHERE status IN ('done', 'failed') AND received_at < ?",
        [stamp],
    ).rowcount
    report.outbox_rows = db.execute(
        "DELETE FROM outbox WHERE status IN ('sent', 'failed') AND created_at < ?", [epoch]
    ).rowcount
    # conversations idle since before the cutoff, whose resident has no open case: all of it
    idle = [
        r["resident_ref"]
        for r in db.query(
            "SELECT resident_ref FROM conversations v WHERE updated_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM cases c WHERE c.resident_ref = v.resident_ref"
            " AND c.status != 'closed')",
            [stamp],
        )
    ]
    for ref in idle:
        report.conversation_messages += db.execute(
            "DELETE FROM conversation_messages WHERE resident_ref = ?", [ref]
        ).rowcount
        db.execute("DELETE FROM conversations WHERE resident_ref = ?", [ref])
    report.conversations = len(idle)
    # older lines of earlier consultations (or of no conversation at all) of other residents
    report.conversation_messages += db.execute(
        "DELETE FROM conversation_messages AS m WHERE at < ? AND id <= COALESCE("
        "(SELECT v.consultation_start FROM conversations v"
        " WHERE v.resident_ref = m.resident_ref), id) AND NOT EXISTS"
        " (SELECT 1 FROM cases c WHERE c.resident_ref = m.resident_ref AND c.status != 'closed')",
        [stamp],
    ).rowcount
    report.webchat_messages = db.execute(
        "DELETE FROM webchat_messages AS w WHERE at < ? AND NOT EXISTS"
        " (SELECT 1 FROM cases c WHERE c.resident_ref = w.session AND c.status != 'closed')",
        [epoch],
    ).rowcount


def purge(
    db: sqlite_utils.Database,
    *,
    older_than_days: int,
    now: dt.datetime,
    actor: str = "cli",
    dry_run: bool = False,
) -> PurgeReport:
    """Remove what is past the period, in one transaction, with an audit event."""
    if older_than_days < 1:
        raise ValueError("the retention period must be at least 1 day")
    cutoff = now - dt.timedelta(days=older_than_days)
    report = PurgeReport(older_than_days=older_than_days, cutoff=cutoff, dry_run=dry_run)
    try:
        with db.atomic():
            report.cases = purge_closed_cases(db, cutoff)
            _purge_bot_tables(db, cutoff, report)
            handoff.audit(
                db,
                None,
                actor=actor,
                action="purge",
                from_value=None,
                to_value=None,
                detail={
                    "older_than_days": older_than_days,
                    "cutoff": _stamp(cutoff),
                    **report.counts(),
                },
                at=now,
            )
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    log.info(
        "purge%s: older than %d days: %s",
        " (dry run)" if dry_run else "",
        older_than_days,
        ", ".join(f"{k} {v}" for k, v in report.counts().items()),
    )
    return report
