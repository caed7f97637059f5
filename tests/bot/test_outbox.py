"""The outbox: retries with backoff, honours retry_after, delivers once and in order.

The worker is driven one pass at a time (``run_once``) with a clock the test
moves, so backoff is checked exactly and nothing sleeps. The sender is a
stand-in for a channel's HTTP API; the LINE/Telegram adapters are tested
against the API stubs by their author.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlite_utils

import handoff
from bot.channels import PermanentSendError, ReplyToken, Sender, TransientSendError
from bot.messages import Outbound
from bot.outbox import (
    REPLY_TOKEN_FRESH,
    REPLY_TOKEN_TTL,
    Backoff,
    OutboxWorker,
    enqueue,
)
from tests.bot.helpers import RecordingSender
from triage.assessment import Assessment

A = "line:Uaaaaaaaaaaaaaaaa"
B = "line:Ubbbbbbbbbbbbbbbb"


class ManualClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def _worker(
    db: sqlite_utils.Database, sender: Sender, clock: ManualClock, **backoff: float
) -> OutboxWorker:
    return OutboxWorker(db, {"line": sender}, clock=clock, backoff=Backoff(**backoff))  # type: ignore[arg-type]


def _row(db: sqlite_utils.Database, row_id: int) -> dict[str, object]:
    return next(iter(db.query("SELECT * FROM outbox WHERE id = ?", [row_id])))


def _put(db: sqlite_utils.Database, ref: str, text: str, clock: ManualClock, **kw: object) -> int:
    row_id = enqueue(db, ref, [Outbound(text)], now=clock(), **kw)  # type: ignore[arg-type]
    assert row_id is not None
    return row_id


def test_delivered_once(db: sqlite_utils.Database) -> None:
    clock, sender = ManualClock(), RecordingSender()
    worker = _worker(db, sender, clock)
    row_id = _put(db, A, "こんにちは", clock, reply_token="tok")
    assert asyncio.run(worker.run_once()) == 1
    assert asyncio.run(worker.run_once()) == 0
    assert len(sender.calls) == 1 and sender.calls[0]["reply_token"] == "tok"
    assert _row(db, row_id)["status"] == "sent"


def test_transient_failures_back_off_then_deliver_once(db: sqlite_utils.Database) -> None:
    clock = ManualClock()
    sender = RecordingSender([TransientSendError(), TransientSendError()])
    worker = _worker(db, sender, clock, base=2.0, cap=300.0, max_attempts=5)
    row_id = _put(db, A, "こんにちは", clock, reply_token="tok")

    asyncio.run(worker.run_once())
    assert _row(db, row_id)["next_attempt_at"] == clock() + 2.0  # base
    clock.t += 1.9
    assert asyncio.run(worker.run_once()) == 0  # not due yet
    clock.t += 0.1
    asyncio.run(worker.run_once())
    assert _row(db, row_id)["next_attempt_at"] == clock() + 4.0  # doubled
    clock.t += 4.0
    asyncio.run(worker.run_once())

    row = _row(db, row_id)
    assert row["status"] == "sent" and row["attempts"] == 3
    assert len(sender.calls) == 3 and len(sender.delivered) == 1
    assert {c["retry_key"] for c in sender.calls} == {row["retry_key"]}  # same key every time
    # the token again while young, marked tried: "used" would mean the first try landed
    assert [c["reply_token"] for c in sender.calls] == ["tok", "tok", "tok"]
    assert [c["tried"] for c in sender.calls] == [False, True, True]


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=2.0, cap=10.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [2.0, 4.0, 8.0, 10.0, 10.0]


@pytest.mark.parametrize("retry_after", [30.0, 0.5])
def test_429_retry_after_is_honoured(db: sqlite_utils.Database, retry_after: float) -> None:
    clock = ManualClock()
    sender = RecordingSender([TransientSendError("429", retry_after=retry_after)])
    worker = _worker(db, sender, clock, base=2.0)
    row_id = _put(db, A, "x", clock)
    asyncio.run(worker.run_once())
    assert _row(db, row_id)["next_attempt_at"] == clock() + retry_after
    clock.t += retry_after
    asyncio.run(worker.run_once())
    assert _row(db, row_id)["status"] == "sent"


def test_permanent_failure_is_not_retried_and_the_next_message_goes(
    db: sqlite_utils.Database,
) -> None:
    clock = ManualClock()
    sender = RecordingSender([PermanentSendError("blocked")])
    worker = _worker(db, sender, clock)
    first = _put(db, A, "一通目", clock)
    second = _put(db, A, "二通目", clock)
    asyncio.run(worker.run_once())
    asyncio.run(worker.run_once())
    assert _row(db, first)["status"] == "failed"
    assert _row(db, second)["status"] == "sent"
    assert len(sender.calls) == 2


def test_gives_up_after_max_attempts_and_tells_the_case(db: sqlite_utils.Database) -> None:
    case = handoff.open_case(
        db,
        resident_ref=A,
        channel="line",
        assessment=Assessment(text="", language="ja", vague=True),
        consent=handoff.Consent(share_with_staff=True),
        urgent=False,
        transcript=[],
        language="ja",
    )
    clock = ManualClock()
    sender = RecordingSender([TransientSendError() for _ in range(3)])
    worker = _worker(db, sender, clock, base=1.0, max_attempts=3)
    row_id = _put(db, A, "x", clock)
    for _ in range(3):
        asyncio.run(worker.run_once())
        clock.t += 100
    row = _row(db, row_id)
    assert row["status"] == "failed" and row["attempts"] == 3
    notes = [m.text for m in handoff.transcript(db, case.id) if m.role == "system"]
    assert any("送信できませんでした" in n for n in notes)


def test_per_resident_order_while_others_proceed(db: sqlite_utils.Database) -> None:
    clock = ManualClock()
    sender = RecordingSender([TransientSendError()])
    worker = _worker(db, sender, clock, base=5.0)
    a1 = _put(db, A, "A1", clock)
    a2 = _put(db, A, "A2", clock)
    b1 = _put(db, B, "B1", clock)
    asyncio.run(worker.run_once())  # A1 fails, B1 goes; A2 waits behind A1
    assert _row(db, b1)["status"] == "sent"
    assert _row(db, a2)["status"] == "pending" and _row(db, a2)["attempts"] == 0
    clock.t += 5
    asyncio.run(worker.run_once())
    asyncio.run(worker.run_once())
    order = [c["texts"][0] for c in sender.delivered]
    assert order == ["B1", "A1", "A2"]
    assert _row(db, a1)["status"] == _row(db, a2)["status"] == "sent"


def test_a_channel_without_sender_waits_instead_of_dropping(db: sqlite_utils.Database) -> None:
    clock = ManualClock()
    worker = _worker(db, RecordingSender(), clock, base=1.0)
    row_id = _put(db, "telegram:42", "x", clock)
    asyncio.run(worker.run_once())
    row = _row(db, row_id)
    assert row["status"] == "pending" and "no sender" in str(row["last_error"])


@pytest.mark.parametrize(
    ("restart_after", "token", "tried"),
    [(5.0, "tok", True), (REPLY_TOKEN_TTL - 1, "tok", True), (REPLY_TOKEN_TTL + 1, None, False)],
    ids=["young-token-offered-as-tried", "until-the-ttl-offered-as-tried", "past-the-ttl-pushes"],
)
def test_after_a_crash_mid_send_the_retry_keeps_the_same_key(
    db: sqlite_utils.Database, restart_after: float, token: str | None, tried: bool
) -> None:
    clock = ManualClock()
    row_id = _put(db, A, "x", clock, reply_token="tok")
    # a previous run counted the attempt, then died before recording the outcome
    db.execute("UPDATE outbox SET attempts = 1 WHERE id = ?", [row_id])
    clock.t += restart_after
    sender = RecordingSender()
    asyncio.run(_worker(db, sender, clock).run_once())
    assert (sender.calls[0]["reply_token"], sender.calls[0]["tried"]) == (token, tried)
    assert sender.calls[0]["retry_key"] == _row(db, row_id)["retry_key"]


def test_a_token_the_sender_spent_is_never_offered_again(db: sqlite_utils.Database) -> None:
    """LINE called it stale: a later "used" answer must not be taken for our delivery."""
    clock = ManualClock()
    row_id = _put(db, A, "x", clock, reply_token="tok")
    spender = SpendingSender()
    asyncio.run(_worker(db, spender, clock, base=1.0).run_once())
    assert _row(db, row_id)["reply_token"] is None
    clock.t += 1.0
    sender = RecordingSender()
    asyncio.run(_worker(db, sender, clock).run_once())
    assert sender.calls[0]["reply_token"] is None and _row(db, row_id)["status"] == "sent"


def test_a_turn_that_went_by_push_is_retried_by_push_never_by_its_unused_token(
    db: sqlite_utils.Database,
) -> None:
    """First try past the fresh window pushes; a crash before the outcome is recorded
    must not let the retry find the token unused and deliver the turn again."""
    clock = ManualClock()
    row_id = _put(db, A, "x", clock, reply_token="tok")
    clock.t += REPLY_TOKEN_FRESH + 1
    sender = RecordingSender([TransientSendError("the server died mid-push")])
    asyncio.run(_worker(db, sender, clock, base=1.0).run_once())
    clock.t += 2.0  # still inside the token's TTL
    asyncio.run(_worker(db, sender, clock).run_once())
    assert [c["reply_token"] for c in sender.calls] == [None, None]
    assert sender.calls[0]["retry_key"] == sender.calls[1]["retry_key"]  # LINE dedups it
    assert _row(db, row_id)["status"] == "sent"


class SpendingSender:
    """Finds the token stale (spends it), then the push fails transiently."""

    async def send(
        self,
        resident_ref: str,
        messages: object,
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None:
        assert reply_token is not None
        reply_token.spent()
        raise TransientSendError("push failed")


@pytest.mark.parametrize(
    ("age", "token"),
    [(1.0, "tok"), (REPLY_TOKEN_FRESH - 1, "tok"), (REPLY_TOKEN_FRESH + 1, None)],
    ids=["fresh", "still-fresh", "older-pushes"],
)
def test_a_first_attempt_offers_the_token_only_while_a_retry_could_reuse_it(
    db: sqlite_utils.Database, age: float, token: str | None
) -> None:
    """A first try at 26 s could not be retried inside the TTL: push with the retry key."""
    clock = ManualClock()
    _put(db, A, "x", clock, reply_token="tok")
    clock.t += age
    sender = RecordingSender()
    asyncio.run(_worker(db, sender, clock).run_once())
    assert (sender.calls[0]["reply_token"], sender.calls[0]["tried"]) == (token, False)


def test_a_sender_bug_is_retried_not_lost(db: sqlite_utils.Database) -> None:
    clock = ManualClock()
    sender = RecordingSender([RuntimeError("boom")])
    worker = _worker(db, sender, clock, base=1.0)
    row_id = _put(db, A, "x", clock)
    asyncio.run(worker.run_once())
    assert _row(db, row_id)["status"] == "pending"
    assert "RuntimeError" in str(_row(db, row_id)["last_error"])
    clock.t += 1
    asyncio.run(worker.run_once())
    assert _row(db, row_id)["status"] == "sent"


class GatedSender:
    """A channel that holds one resident's send until the test opens the gate."""

    def __init__(self, slow_ref: str) -> None:
        self.slow_ref = slow_ref
        self.gate = asyncio.Event()
        self.started: list[str] = []
        self.delivered: list[str] = []

    async def send(
        self,
        resident_ref: str,
        messages: object,
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None:
        self.started.append(resident_ref)
        if resident_ref == self.slow_ref:
            await self.gate.wait()
        self.delivered.append(resident_ref)


async def _until(predicate: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_a_slow_send_does_not_hold_another_residents_reply(db: sqlite_utils.Database) -> None:
    async def scenario() -> None:
        sender = GatedSender(A)
        worker = OutboxWorker(db, {"line": sender}, clock=time.time)  # type: ignore[dict-item]
        enqueue(db, A, [Outbound("A1")], now=time.time())
        enqueue(db, A, [Outbound("A2")], now=time.time())
        worker.start()
        try:
            await _until(lambda: A in sender.started)
            enqueue(db, B, [Outbound("B1")], now=time.time())
            worker.wake()
            await _until(lambda: B in sender.delivered)
            assert sender.delivered == [B] and sender.started.count(A) == 1  # A2 waits behind A1
            sender.gate.set()
            await _until(lambda: sender.delivered.count(A) == 2)
        finally:
            await worker.stop()
        assert sender.delivered == [B, A, A]

    asyncio.run(scenario())


def test_stopping_mid_send_keeps_the_row_for_next_time(db: sqlite_utils.Database) -> None:
    async def scenario() -> None:
        sender = GatedSender(A)
        worker = OutboxWorker(db, {"line": sender}, clock=time.time)  # type: ignore[dict-item]
        enqueue(db, A, [Outbound("A1")], now=time.time(), reply_token="tok")
        worker.start()
        await _until(lambda: A in sender.started)
        await worker.stop()

    asyncio.run(scenario())
    row = next(iter(db.query("SELECT * FROM outbox")))
    assert row["status"] == "pending" and row["attempts"] == 1
