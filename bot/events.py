"""Inbound events: stored durably first, processed by a background worker.

A webhook calls ``Intake.accept`` and answers 200 only after the row is
committed, so an acknowledged event survives a crash. The unique
constraint on (channel, channel id) — LINE ``webhookEventId``, Telegram
``update_id``, a web client's message id — makes a redelivery or a double
submit a no-op. The worker then, per event and in one transaction, runs
the conversation, queues the replies in the outbox and marks the event
done; triage (CPU-bound) runs in a thread before that transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, cast

import sqlite_utils

from triage import may_be_crisis

from . import replies as r
from .conversation import Clock, Conversation
from .messages import MAX_INBOUND_TEXT, Inbound, InboundKind, MessageError, Outbound
from .outbox import enqueue
from .worker import Worker, error_summary

log = logging.getLogger(__name__)

_OLDEST = "SELECT * FROM inbound_events WHERE status = 'pending' ORDER BY id LIMIT ?"
#: The pending events of the writers with a pending crisis-word message, oldest first.
#: The partial indexes (migration 002) keep it small whatever the backlog; the planner,
#: without statistics, would walk every pending row instead.
_URGENT_LANE = """
SELECT * FROM inbound_events INDEXED BY inbound_events_resident_pending
WHERE status = 'pending' AND resident_ref IN (
    SELECT resident_ref FROM inbound_events INDEXED BY inbound_events_urgent
    WHERE status = 'pending' AND urgent = 1 ORDER BY id LIMIT ?)
ORDER BY id LIMIT ?
"""

#: A processing error is retried this many times, then the resident gets an apology.
MAX_PROCESS_ATTEMPTS = 3


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def store(db: sqlite_utils.Database, event: Inbound, *, now: dt.datetime) -> int | None:
    """Write the event; its row id, or None when it was stored before (a redelivery).

    Raises MessageError for input we will not store (too long), so the
    channel can answer with a precise error instead of losing it silently.
    """
    text = event.text.replace("\x00", "")
    if len(text) > MAX_INBOUND_TEXT:
        raise MessageError(f"text is {len(text)} characters; the limit is {MAX_INBOUND_TEXT}")
    cursor = db.execute(
        """
        INSERT OR IGNORE INTO inbound_events (channel, channel_event_id, resident_ref, kind, text,
            data, reply_token, received_at, urgent)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            event.channel,
            event.channel_event_id,
            event.resident_ref,
            event.kind,
            text,
            event.data.replace("\x00", ""),
            event.reply_token,
            _stamp(event.received_at or now),
            int(event.kind == "text" and may_be_crisis(text)),
        ],
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def pending_count(db: sqlite_utils.Database) -> int:
    return int(
        db.execute("SELECT COUNT(*) FROM inbound_events WHERE status = 'pending'").fetchone()[0]
    )


def _event(row: dict[str, Any]) -> Inbound:
    return Inbound(
        resident_ref=row["resident_ref"],
        kind=cast(InboundKind, row["kind"]),
        channel_event_id=row["channel_event_id"],
        text=row["text"],
        data=row["data"],
        reply_token=row["reply_token"],
        received_at=dt.datetime.fromisoformat(row["received_at"]),
    )


class EventWorker(Worker):
    """Turns pending events into state changes and outbox rows, in order."""

    name = "events"

    def __init__(
        self,
        db: sqlite_utils.Database,
        conversation: Conversation,
        executor: Executor | None,
        *,
        on_replies: Callable[[], None] | None = None,
        batch: int = 32,
    ) -> None:
        super().__init__()
        self.db = db
        self.conversation = conversation
        self.executor = executor
        self.on_replies = on_replies
        self.batch = batch
        self._took_urgent = False

    def next_batch(self) -> list[dict[str, Any]]:
        """The urgent lane first, else the oldest pending events.

        A writer with a pending crisis-word message (``triage.may_be_crisis``)
        goes before the queue, with their earlier pending events, so that one
        resident's events still run in order (each batch takes a prefix of
        every writer's pending events). The lane and the queue take turns, so
        a flood of alarming words cannot starve everyone else.
        """
        took_urgent, self._took_urgent = self._took_urgent, False
        if not took_urgent:
            urgent = list(self.db.query(_URGENT_LANE, [self.batch, self.batch]))
            if urgent:
                self._took_urgent = True
                return urgent
        rows = list(self.db.query(_OLDEST, [self.batch]))
        return rows or (self.next_batch() if took_urgent else [])

    async def run_once(self) -> int:
        rows = self.next_batch()
        for row in rows:
            await self.process(row)
        if rows and self.on_replies is not None:
            self.on_replies()
        return len(rows)

    async def process(self, row: dict[str, Any]) -> None:
        """One event: triage in a thread, then one transaction for the rest."""
        event_id: int = row["id"]
        loop = asyncio.get_running_loop()
        now = self.conversation.now
        try:
            event = _event(row)
            assessment = await loop.run_in_executor(self.executor, self.conversation.assess, event)
            started = time.perf_counter()
            with self.db.atomic():
                still = self.db.execute(
                    "SELECT status FROM inbound_events WHERE id = ?", [event_id]
                ).fetchone()
                if still is None or still[0] != "pending":
                    return
                replies = self.conversation.apply(event, assessment)
                enqueue(
                    self.db,
                    event.resident_ref,
                    replies,
                    now=now().timestamp(),
                    event_id=event_id,
                    reply_token=event.reply_token,
                )
                self.db.execute(
                    "UPDATE inbound_events SET status = 'done', attempts = attempts + 1,"
                    " processed_at = ?, error = NULL WHERE id = ?",
                    [_stamp(now()), event_id],
                )
            log.info(
                "event %d (%s %s, %d chars) → %d replies (applied in %.1f ms)",
                event_id,
                row["channel"],
                row["kind"],
                len(row["text"]),
                len(replies),
                (time.perf_counter() - started) * 1000,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(row, error_summary(exc), now)

    def _failed(self, row: dict[str, Any], error: str, now: Clock) -> None:
        attempts = row["attempts"] + 1
        give_up = attempts >= MAX_PROCESS_ATTEMPTS
        log.error(
            "event %d (%s %s) attempt %d failed: %s%s",
            row["id"],
            row["channel"],
            row["kind"],
            attempts,
            error,
            "; giving up" if give_up else "",
        )
        with self.db.atomic():
            self.db.execute(
                "UPDATE inbound_events SET attempts = ?, error = ?, status = ? WHERE id = ?",
                [attempts, error, "failed" if give_up else "pending", row["id"]],
            )
            if give_up and row["kind"] != "unfollow":
                lang = self._language(row["resident_ref"])
                enqueue(
                    self.db,
                    row["resident_ref"],
                    [Outbound(r.text(lang, "sorry_error"))],
                    now=now().timestamp(),
                    event_id=row["id"],
                    reply_token=row["reply_token"],
                )

    def _language(self, resident_ref: str) -> r.Lang:
        found = self.db.execute(
            "SELECT language FROM conversations WHERE resident_ref = ?", [resident_ref]
        ).fetchone()
        return cast(r.Lang, found[0]) if found and found[0] in r.LANGS else "ja"


class Intake:
    """What a webhook uses: store the event, wake the worker, answer fast."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        *,
        now: Clock,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.now = now
        self._wake = wake

    def accept(self, event: Inbound, *, also: Callable[[int], None] | None = None) -> bool:
        """Store ``event`` durably; False when it is a duplicate (already stored).

        ``also(row_id)`` runs in the same transaction, for a channel that
        keeps its own copy (the web chat shows the resident's line). Raises
        MessageError for input we refuse; nothing is stored then.
        """
        with self.db.atomic():
            row_id = store(self.db, event, now=self.now())
            if row_id is not None and also is not None:
                also(row_id)
        if row_id is None:
            log.info("duplicate %s event %s ignored", event.channel, event.kind)
            return False
        log.debug("%s %s event stored as %d", event.channel, event.kind, row_id)
        if self._wake is not None:
            self._wake()
        return True
