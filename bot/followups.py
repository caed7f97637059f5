"""The follow-up worker: sends due 見守り check-ins to residents through the outbox.

Staff schedule a follow-up on the case page (``handoff.followups``); this
loop, started in the app's lifespan, looks for due ones every
``follow_up_check_seconds`` (on the injected clock, so tests move time instead
of sleeping). A due follow-up goes out only when the resident agreed to
follow-up messages and still follows the account; otherwise it is kept as
``not_sent`` with the reason the case page shows. Either way the case moves
to ``follow_up_due`` where the lifecycle allows, so it shows in the queue.

A sent check-in is a person's message: the case is handled by staff from
then on and the conversation is ``handed_off``, so the resident's answer goes
to the case (which then rises in the queue) and the bot stays silent.
Each follow-up is handled in one transaction with its outbox row, so it is
sent once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import sqlite_utils

import handoff

from . import replies as r
from .conversation import Clock
from .messages import MAX_TEXT, Outbound
from .outbox import enqueue
from .worker import Worker

log = logging.getLogger(__name__)

ACTOR = "bot"
BLOCKED = "相談者がこのアカウントをブロック（友だち解除）しています。"


def follow_up_text(language: str, message: str) -> str:
    """The gentle check-in in the resident's language, with staff's own words if any."""
    lang: r.Lang = next((code for code in r.LANGS if code == language), "ja")
    text = r.text(lang, "follow_up")
    if message:
        text = f"{text}\n\n{r.text(lang, 'follow_up_note', message=message)}"
    return text[:MAX_TEXT]


class FollowUpWorker(Worker):
    """Finds due follow-ups and queues their message (or records why it cannot go)."""

    name = "followups"

    def __init__(
        self,
        db: sqlite_utils.Database,
        *,
        clock: Clock,
        every: float,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.idle = every
        self.on_queued = on_queued

    async def run_once(self) -> int:
        now = self.clock()
        due = handoff.due_follow_ups(self.db, now)
        queued = 0
        for follow_up in due:
            with self.db.atomic():
                queued += self._handle(follow_up, now)
        if queued:
            self.on_queued()
        return len(due)

    def _following(self, resident_ref: str) -> bool:
        row = self.db.execute(
            "SELECT following FROM conversations WHERE resident_ref = ?", [resident_ref]
        ).fetchone()
        return row is None or bool(row[0])

    def _handle(self, follow_up: handoff.FollowUp, now: dt.datetime) -> int:
        db = self.db
        case = handoff.get_case(db, follow_up.case_id)
        reason = handoff.why_no_follow_up(case)
        if reason is None and not self._following(case.resident_ref):
            reason = BLOCKED
        sent = 0
        if reason is not None:
            handoff.mark_follow_up_not_sent(db, follow_up.id, reason, actor=ACTOR, now=now)
            log.info("follow-up %d of case %d not sent", follow_up.id, case.id)
        else:
            text = follow_up_text(case.language, follow_up.message)
            if case.handled_by != "staff":
                handoff.take_over(db, case.id, actor=ACTOR, at=now)
            db.execute(
                "UPDATE conversations SET state = 'handed_off' WHERE resident_ref = ?",
                [case.resident_ref],
            )
            handoff.append_message(db, case.id, "bot", text, at=now)
            db.execute(
                "INSERT INTO conversation_messages (resident_ref, role, text, at)"
                " VALUES (?, 'bot', ?, ?)",
                [
                    case.resident_ref,
                    text,
                    now.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                ],
            )
            outbox_id = enqueue(db, case.resident_ref, [Outbound(text)], now=now.timestamp())
            handoff.mark_follow_up_sent(db, follow_up.id, outbox_id=outbox_id, actor=ACTOR, now=now)
            log.info(
                "follow-up %d of case %d queued as outbox %s", follow_up.id, case.id, outbox_id
            )
            sent = 1
        if case.is_open and "follow_up_due" in handoff.TRANSITIONS.get(case.status, ()):
            handoff.set_status(db, case.id, "follow_up_due", actor=ACTOR, at=now)
        return sent
