"""The outbox: every reply is a row first, and a worker delivers it.

A crash or a channel outage therefore delays replies but loses none: the
row stays ``pending`` until a sender accepts it, with exponential backoff
between attempts (a 429's ``retry_after`` is honoured as given). A row is
one turn (≤ 5 messages), so a LINE reply token covers it. Only the oldest
pending row of each resident is ever in flight, so a resident's replies
arrive in order; different residents are delivered concurrently.

"Sent once": the attempt is counted *before* the send, and every retry
uses the same ``retry_key``, which LINE (pushes) and the web chat
deduplicate on. LINE's reply API has no such key, so a reply whose outcome
is unknown (the server died mid-send, the call timed out) is retried with
the *same* reply token, marked ``tried``, while LINE still guarantees the
token (a minute from the webhook; we stop at 50 s): success means the first
try never landed; "token already used" means it did, and nothing more is
sent. A token LINE calls stale is removed from the row (``spent``), so that
answer is never mistaken for our own delivery. A first attempt offers the
token only while it is fresh (25 s), so a retry after a crash or a timeout
has 25 s to come round; older turns lose their token first and are pushed
with the retry key, which LINE deduplicates, so their retries push too. Only
a tried reply whose retry comes later than 50 s is pushed blind: then, and
only then, a reply may arrive twice (preferred to losing it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

import handoff

from .channels import PermanentSendError, ReplyToken, Sender, TransientSendError
from .messages import Outbound, channel_of, dump_batch, load_batch
from .worker import Worker, error_summary

log = logging.getLogger(__name__)

#: LINE guarantees a reply token for a minute after the webhook; a retry
#: offers it again only this soon after the event arrived, so an "already
#: used" answer cannot come from a token that merely expired.
REPLY_TOKEN_TTL = 50.0
#: A first attempt offers the token only this soon after the event, leaving
#: a retry (after a crash, a timeout) REPLY_TOKEN_TTL - REPLY_TOKEN_FRESH
#: seconds to reuse it; later first attempts push.
REPLY_TOKEN_FRESH = 25.0


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n+1: base·2^(n-1), capped; give up after max_attempts."""

    base: float = 2.0
    cap: float = 300.0
    max_attempts: int = 10

    def delay(self, attempts: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, attempts - 1)))


def enqueue(
    db: sqlite_utils.Database,
    resident_ref: str,
    messages: Sequence[Outbound],
    *,
    now: float,
    event_id: int | None = None,
    reply_token: str | None = None,
) -> int | None:
    """Queue one turn for delivery (call inside the turn's transaction)."""
    if not messages:
        return None
    cursor = db.execute(
        """
        INSERT INTO outbox (resident_ref, channel, event_id, payload, reply_token, retry_key,
            status, attempts, next_attempt_at, created_at)
        VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
        """,
        [
            resident_ref,
            channel_of(resident_ref),
            event_id,
            dump_batch(list(messages)),
            reply_token,
            str(uuid.uuid4()),
            now,
            now,
        ],
    )
    return cursor.lastrowid


def pending_count(db: sqlite_utils.Database) -> int:
    return int(db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0])


def _describe(exc: Exception) -> str:
    """A send error for the log and the row (senders never put message text in it)."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class OutboxWorker(Worker):
    """Delivers due outbox rows through the channel senders."""

    name = "outbox"

    def __init__(
        self,
        db: sqlite_utils.Database,
        senders: Mapping[str, Sender],
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        batch: int = 32,
    ) -> None:
        super().__init__()
        self.db = db
        self.senders = senders
        self.clock = clock
        self.backoff = backoff or Backoff()
        self.batch = batch
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def due(self, *, busy: Collection[str] = ()) -> list[dict[str, Any]]:
        """The oldest pending row of each resident, if due and not already in flight."""
        busy = list(busy)
        skip = f"AND o.resident_ref NOT IN ({','.join('?' for _ in busy)})" if busy else ""
        return list(
            self.db.query(
                f"""
                SELECT o.*, e.received_at AS event_received_at
                FROM outbox o LEFT JOIN inbound_events e ON e.id = o.event_id
                WHERE o.status = 'pending' AND o.next_attempt_at <= ? {skip}
                  AND o.id = (SELECT MIN(p.id) FROM outbox p
                              WHERE p.resident_ref = o.resident_ref AND p.status = 'pending')
                ORDER BY o.id LIMIT ?
                """,
                [self.clock(), *busy, max(0, self.batch - len(busy))],
            )
        )

    async def run_once(self) -> int:
        """Deliver every due row once and wait for the outcome (tests, tools)."""
        rows = self.due(busy=self._in_flight)
        if rows:
            await asyncio.gather(*(self._deliver(row) for row in rows))
        return len(rows)

    async def step(self) -> int:
        """Start a delivery per resident without waiting for the others.

        A sender may take its time (Telegram paces 1 message/s per chat, a
        429 may ask for a pause): one resident's slow send must not hold
        another resident's reply. Each resident has at most one row in
        flight, which keeps their replies in order.
        """
        rows = self.due(busy=self._in_flight)
        for row in rows:
            ref: str = row["resident_ref"]
            self._in_flight[ref] = asyncio.create_task(self._deliver_then_wake(row, ref))
        return len(rows)

    async def _deliver_then_wake(self, row: dict[str, Any], ref: str) -> None:
        try:
            await self._deliver(row)
        except Exception as exc:  # _deliver records outcomes itself; this is a last guard
            log.error("outbox %d delivery crashed: %s", row["id"], error_summary(exc))
        finally:
            self._in_flight.pop(ref, None)
            self.wake()

    async def on_stop(self) -> None:
        """Cancel sends in flight: their rows stay pending (the attempt is counted)."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight.clear()

    def sleep_for(self) -> float:
        busy = list(self._in_flight)
        skip = f"AND resident_ref NOT IN ({','.join('?' for _ in busy)})" if busy else ""
        row = self.db.execute(
            f"SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' {skip}", busy
        ).fetchone()
        if row[0] is None:
            return self.idle
        return max(0.01, min(self.idle, float(row[0]) - self.clock()))

    async def _deliver(self, row: dict[str, Any]) -> None:
        row_id: int = row["id"]
        attempt = row["attempts"] + 1
        started = self.clock()
        self.db.execute("UPDATE outbox SET attempts = ? WHERE id = ?", [attempt, row_id])
        token = self._reply_token(row, started)
        sender = self.senders.get(row["channel"])
        if sender is None:  # the channel is off: keep the row, it may come back on
            self._retry(row, attempt, None, f"no sender for channel {row['channel']!r}")
            return
        try:
            await sender.send(
                row["resident_ref"],
                load_batch(row["payload"]),
                reply_token=token,
                retry_key=row["retry_key"],
            )
        except TransientSendError as exc:
            self._retry(row, attempt, exc.retry_after, _describe(exc))
        except PermanentSendError as exc:
            self._fail(row, attempt, f"permanent: {_describe(exc)}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sender bug or an unexpected network error: retry
            self._retry(row, attempt, None, error_summary(exc))
        else:
            self.db.execute(
                "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                [self.clock(), row_id],
            )
            log.info(
                "outbox %d sent on %s (attempt %d, %s)",
                row_id,
                row["channel"],
                attempt,
                "reply token offered" if token else "push",
            )

    def _reply_token(self, row: dict[str, Any], now: float) -> ReplyToken | None:
        """The row's reply token as this attempt may use it (module docstring)."""
        value = row["reply_token"]
        if not value:
            return None
        received = row.get("event_received_at")
        since = dt.datetime.fromisoformat(received).timestamp() if received else row["created_at"]
        age = now - since
        row_id = row["id"]

        def spent() -> None:
            self.db.execute("UPDATE outbox SET reply_token = NULL WHERE id = ?", [row_id])

        if row["attempts"] == 0:
            if age < REPLY_TOKEN_FRESH:
                return ReplyToken(value, spent=spent)
            # this turn goes by push, and so must every retry of it: a retry that found
            # the token unused would deliver the turn a second time
            spent()
            return None
        return ReplyToken(value, tried=True, spent=spent) if age < REPLY_TOKEN_TTL else None

    def _retry(
        self, row: dict[str, Any], attempt: int, retry_after: float | None, error: str
    ) -> None:
        if attempt >= self.backoff.max_attempts:
            self._fail(row, attempt, f"gave up after {attempt} attempts: {error}")
            return
        delay = max(0.0, retry_after) if retry_after is not None else self.backoff.delay(attempt)
        self.db.execute(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?",
            [self.clock() + delay, error, row["id"]],
        )
        log.warning(
            "outbox %d on %s: attempt %d failed (%s); retry in %.1fs",
            row["id"],
            row["channel"],
            attempt,
            error,
            delay,
        )

    def _fail(self, row: dict[str, Any], attempt: int, error: str) -> None:
        with self.db.atomic():
            self.db.execute(
                "UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?",
                [error, row["id"]],
            )
            case = handoff.case_for_resident(self.db, row["resident_ref"])
            if case is not None:
                handoff.append_message(
                    self.db,
                    case.id,
                    "system",
                    f"［送信できませんでした（outbox #{row['id']}、{attempt}回試行）］",
                )
        log.error("outbox %d on %s failed for good: %s", row["id"], row["channel"], error)
