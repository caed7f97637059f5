"""Inbound events: stored before the ack, processed once, in order, and after a crash."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest
import sqlite_utils
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot import events, outbox
from bot.app import create_app
from bot.conversation import Conversation
from bot.events import EventWorker, Intake
from bot.messages import MAX_INBOUND_TEXT, Inbound, MessageError
from bot.settings import Settings
from knowledge import open_database
from tests.bot.helpers import (
    ELDERLY,
    IN_HOURS,
    SUICIDE,
    Clock,
    RunningClock,
    ServeProcess,
    copy_template,
    own_db,
    wait_for,
)
from triage import Triage

JSON = {"Accept": "application/json"}


def _count(db: sqlite_utils.Database, sql: str, params: list[object] | None = None) -> int:
    return int(db.execute(sql, params or []).fetchone()[0])


# -- storing ---------------------------------------------------------------------------


def test_a_redelivered_event_is_stored_once(db: sqlite_utils.Database, clock: Clock) -> None:
    intake = Intake(db, now=clock)
    event = Inbound("line:U1", "text", "webhook-event-1", text="こんにちは")
    assert intake.accept(event) is True
    assert intake.accept(event) is False
    # the same id on another channel is another event
    assert intake.accept(Inbound("telegram:1", "text", "webhook-event-1", text="hi")) is True
    assert _count(db, "SELECT COUNT(*) FROM inbound_events") == 2


def test_too_long_is_refused_precisely_and_nothing_is_stored(
    db: sqlite_utils.Database, clock: Clock
) -> None:
    intake = Intake(db, now=clock)
    event = Inbound("web:abc", "text", "x1", text="あ" * (MAX_INBOUND_TEXT + 1))
    with pytest.raises(MessageError, match="limit is 20000"):
        intake.accept(event)
    assert _count(db, "SELECT COUNT(*) FROM inbound_events") == 0


@pytest.mark.parametrize(
    ("ref", "kind", "event_id", "problem"),
    [
        ("U123", "text", "e1", "resident_ref"),
        ("fax:123", "text", "e1", "resident_ref"),
        ("line:U1", "shout", "e1", "unknown kind"),
        ("line:U1", "text", "", "channel_event_id"),
    ],
)
def test_malformed_events_are_refused(ref: str, kind: str, event_id: str, problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        Inbound(ref, kind, event_id)  # type: ignore[arg-type]


# -- processing ------------------------------------------------------------------------


def _worker(engine: Conversation) -> EventWorker:
    return EventWorker(engine.db, engine, None)


def test_processed_once_even_when_redelivered_later(engine: Conversation) -> None:
    db = engine.db
    intake = Intake(db, now=engine.now)
    event = Inbound("line:U1", "text", "ev-1", text=ELDERLY, reply_token="rt-1")
    intake.accept(event)
    worker = _worker(engine)
    assert asyncio.run(worker.run_once()) == 1
    assert asyncio.run(worker.run_once()) == 0
    assert intake.accept(event) is False  # LINE redelivers after a timeout
    assert asyncio.run(worker.run_once()) == 0
    rows = list(db.query("SELECT * FROM outbox"))
    assert len(rows) == 1 and rows[0]["reply_token"] == "rt-1"
    status = db.execute("SELECT status, attempts FROM inbound_events").fetchone()
    assert tuple(status) == ("done", 1)


def test_a_residents_events_are_processed_in_order(engine: Conversation) -> None:
    intake = Intake(engine.db, now=engine.now)
    texts = [ELDERLY, "それから家賃も払えません", "担当者と話したい"]
    for i, text in enumerate(texts):
        intake.accept(Inbound("line:U1", "text", f"ev-{i}", text=text))
    asyncio.run(_worker(engine).run_once())
    seen = [
        row[0]
        for row in engine.db.execute(
            "SELECT text FROM conversation_messages WHERE role = 'resident' ORDER BY id"
        )
    ]
    assert seen == texts
    assert engine.load("line:U1").state == "handed_off"  # type: ignore[union-attr]


def _done(db: sqlite_utils.Database) -> set[str]:
    return {
        r[0] for r in db.execute("SELECT channel_event_id FROM inbound_events WHERE status='done'")
    }


def test_a_crisis_word_goes_before_the_backlog_with_its_writers_earlier_events(
    engine: Conversation,
) -> None:
    intake = Intake(engine.db, now=engine.now)
    intake.accept(Inbound("line:UZ", "text", "z1", text=ELDERLY))  # Z wrote before
    for i in range(6):
        intake.accept(Inbound(f"line:U{i}", "text", f"q{i}", text=ELDERLY))
    intake.accept(Inbound("line:UZ", "text", "z2", text=SUICIDE))
    worker = EventWorker(engine.db, engine, None, batch=3)
    asyncio.run(worker.run_once())
    assert _done(engine.db) == {"z1", "z2"}  # Z's events, in order, before the queue
    seen = [
        r[0]
        for r in engine.db.execute(
            "SELECT text FROM conversation_messages WHERE resident_ref = 'line:UZ'"
            " AND role = 'resident' ORDER BY id"
        )
    ]
    assert seen == [ELDERLY, SUICIDE]
    # the lane and the queue take turns: a new alarm waits for one batch of the queue
    intake.accept(Inbound("line:UY", "text", "y1", text=SUICIDE))
    asyncio.run(worker.run_once())
    assert _done(engine.db) == {"z1", "z2", "q0", "q1", "q2"}
    asyncio.run(worker.run_once())
    assert "y1" in _done(engine.db) and "q3" not in _done(engine.db)
    while asyncio.run(worker.run_once()):
        pass
    assert len(_done(engine.db)) == 9


def test_a_failing_event_is_retried_then_answered_kindly(engine: Conversation) -> None:
    db = engine.db
    # a conversation row this version cannot read: processing fails every time
    db.execute(
        "INSERT INTO conversations (resident_ref, channel, state, assessment, created_at,"
        " updated_at) VALUES ('line:U9', 'line', 'listening', '{not json', 'x', 'x')"
    )
    Intake(db, now=engine.now).accept(Inbound("line:U9", "text", "ev-9", text=ELDERLY))
    worker = _worker(engine)
    for _ in range(events.MAX_PROCESS_ATTEMPTS):
        asyncio.run(worker.run_once())
    row = next(iter(db.query("SELECT * FROM inbound_events")))
    assert row["status"] == "failed" and row["attempts"] == events.MAX_PROCESS_ATTEMPTS
    assert "ValidationError" in row["error"] and "not json" not in row["error"]
    apology = next(iter(db.query("SELECT payload FROM outbox WHERE resident_ref = 'line:U9'")))
    assert "もう一度送ってください" in apology["payload"]


# -- the app: crash recovery -------------------------------------------------------------


def _app(settings: Settings, triage: Triage) -> FastAPI:
    return create_app(settings, now=RunningClock(IN_HOURS), triage=triage)


def test_acknowledged_events_are_answered_once_after_a_crash(
    template_db: Path, settings: Settings, triage_engine: Triage
) -> None:
    copy_template(template_db, settings)
    crashed = _app(settings, triage_engine)
    # no lifespan: the workers never run, as if the process died right after each ack
    first = TestClient(crashed)
    first.get("/chat")
    texts = [ELDERLY, "家賃も払えません", SUICIDE]
    for i, text in enumerate(texts):
        response = first.post(
            "/chat/messages", data={"client_id": f"client-{i:04d}", "text": text}, headers=JSON
        )
        assert response.status_code == 202
    db = crashed.state.front_door.db
    assert events.pending_count(db) == 4  # the greeting and three messages

    restarted = _app(settings, triage_engine)
    with TestClient(restarted, cookies=dict(first.cookies)) as second:
        wait_for(
            lambda: (
                events.pending_count(db) == 0
                and outbox.pending_count(db) == 0
                and _count(db, "SELECT COUNT(*) FROM outbox") == 4
            ),
            what="every event answered",
        )
        messages = second.get("/chat/messages").json()["messages"]
    assert [m["text"] for m in messages if m["role"] == "resident"] == texts
    assert _count(db, "SELECT COUNT(*) FROM inbound_events WHERE attempts = 1") == 4
    batches = _count(db, "SELECT COUNT(DISTINCT retry_key) FROM webchat_messages")
    assert batches == 4  # one reply batch per event: none lost, none twice
    assert any("0120-279-338" in m["text"] for m in messages)


def test_a_double_submit_is_answered_once(
    template_db: Path, settings: Settings, triage_engine: Triage
) -> None:
    copy_template(template_db, settings)
    app = _app(settings, triage_engine)
    with TestClient(app) as client:
        client.get("/chat")
        form = {"client_id": "same-id-0001", "text": ELDERLY}
        one = client.post("/chat/messages", data=form, headers=JSON).json()
        two = client.post("/chat/messages", data=form, headers=JSON).json()
        assert one == {"accepted": True, "duplicate": False}
        assert two == {"accepted": True, "duplicate": True}
        db = own_db(app)
        wait_for(
            lambda: _count(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == 2,
            what="greeting and reply sent",
        )
        messages = client.get("/chat/messages").json()["messages"]
    assert [m["text"] for m in messages if m["role"] == "resident"] == [ELDERLY]
    assert _count(db, "SELECT COUNT(*) FROM inbound_events") == 2


# -- a real process, killed -------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_with_queued_events_then_every_ack_is_answered_once(
    template_db: Path, settings: Settings, triage_engine: Triage, pytestconfig: pytest.Config
) -> None:
    copy_template(template_db, settings)
    assert pytestconfig.cache is not None  # reuse the session's index: no rebuild at start
    shutil.copytree(pytestconfig.cache.mkdir("bot-triage-index"), settings.index_dir)
    server = ServeProcess(settings.data_dir)
    try:
        server.start()
        with httpx.Client(base_url=server.url, headers=JSON) as client:
            client.get("/chat")
            # every one of these gets a reply (after a crisis the bot would go quiet)
            texts = [
                ELDERLY,
                "家賃も払えません",
                "息子が部屋から出てきません",
                "仕事も見つかりません",
                "夜も眠れません",
                "子どもの学校のことも心配です",
                SUICIDE,
            ]
            for i, text in enumerate(texts):
                form = {"client_id": f"kill-{i:04d}", "text": text}
                assert client.post("/chat/messages", data=form).status_code == 202
            server.kill()  # right after the last ack
            cookies = dict(client.cookies)
    finally:
        server.kill()
    db = open_database(settings.db_path)
    acknowledged = _count(db, "SELECT COUNT(*) FROM inbound_events")
    assert acknowledged == len(texts) + 1  # every ack was durable (plus the greeting)
    queued = _count(db, "SELECT COUNT(*) FROM inbound_events WHERE status = 'pending'")
    print(f"{queued} of {acknowledged} events were still queued when the server was killed")

    try:
        server.start()
        wait_for(server.drained, timeout=120, what="backlog drained")
        with httpx.Client(base_url=server.url, cookies=cookies) as client:
            messages = client.get("/chat/messages").json()["messages"]
    finally:
        server.stop()
    assert [m["text"] for m in messages if m["role"] == "resident"] == texts
    assert _count(db, "SELECT COUNT(*) FROM inbound_events WHERE status = 'done'") == acknowledged
    per_event = db.execute(
        "SELECT event_id, COUNT(*), SUM(status = 'sent') FROM outbox GROUP BY event_id"
    ).fetchall()
    assert len(per_event) == acknowledged
    assert all(count == 1 and sent == 1 for _, count, sent in per_event)  # answered once
    batches = _count(db, "SELECT COUNT(DISTINCT retry_key) FROM webchat_messages")
    assert batches == acknowledged
