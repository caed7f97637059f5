"""It holds: SIGKILLs while 2,000 LINE events are in flight, and a LINE API outage.

A real ``tsunagu serve`` process, the real LINE SDK, and the LINE API stub on
loopback. The resident side behaves like LINE: a resident's events arrive in
order, and an event that got no 200 is delivered again with the same
``webhookEventId`` (LINE's redelivery).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

import aiohttp
import pytest
import sqlite_utils

from bot.messages import load_batch
from bot.settings import Settings
from knowledge import open_database
from tests.bot.helpers import ServeProcess, copy_template, wait_for
from tests.stubs.events import line_text_event, line_user_id, line_webhook_request
from tests.stubs.line_api import LineStub
from triage import Triage

RESIDENTS = 100
PER_RESIDENT = 20  # 2,000 events
KILLS = 5

# What residents write; none is a crisis or asks for a person, so every one is answered.
TEXTS = [
    "母の介護のことで相談です",
    "家賃が払えなくて困っています",
    "息子が部屋から出てきません",
    "仕事が見つかりません",
    "夜も眠れません",
    "子どもの学校のことも心配です",
    "近所のごみ屋敷がひどいです",
    "借金の返済がきついです",
    "日本語がよくわかりません",
    "地域の活動に参加したいです",
]


class Residents:
    """Posts every resident's events in order; retries one until it is acknowledged."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = f"{url}/webhooks/line"
        self.users = [line_user_id(f"resilience-{i}") for i in range(RESIDENTS)]
        self.events = {
            user: [
                line_text_event(TEXTS[(i + j) % len(TEXTS)], user_id=user)
                for j in range(PER_RESIDENT)
            ]
            for i, user in enumerate(self.users)
        }
        self.secret = secret
        self.acked: dict[str, str] = {}  # webhookEventId → text
        self.attempts = 0
        self.done = threading.Event()
        self.error: BaseException | None = None

    async def _one(self, session: aiohttp.ClientSession, user: str) -> None:
        for event in self.events[user]:
            first = True
            while True:
                if not first:
                    event = {**event, "deliveryContext": {"isRedelivery": True}}
                body, headers = line_webhook_request(event, channel_secret=self.secret)
                self.attempts += 1
                try:
                    async with session.post(self.url, data=body, headers=headers) as r:
                        if r.status == 200:
                            self.acked[event["webhookEventId"]] = event["message"]["text"]
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                first = False
                await asyncio.sleep(0.2)  # the server is down: LINE tries again later

    async def _all(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._one(session, u) for u in self.users))

    def run(self) -> None:
        try:
            asyncio.run(self._all())
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            self.done.set()


@pytest.fixture
def line_server(
    template_db: Path,
    settings: Settings,
    triage_engine: Triage,
    line_stub: LineStub,
    pytestconfig: pytest.Config,
) -> ServeProcess:
    copy_template(template_db, settings)
    assert pytestconfig.cache is not None  # reuse the session's index: no rebuild at start
    shutil.copytree(pytestconfig.cache.mkdir("bot-triage-index"), settings.index_dir)
    return ServeProcess(
        settings.data_dir,
        {
            "TSUNAGU_LINE_CHANNEL_SECRET": line_stub.channel_secret,
            "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": line_stub.access_token,
            "TSUNAGU_LINE_API_BASE_URL": line_stub.url,
            "TSUNAGU_TRIAGE_NICE": "0",
        },
    )


def _outbox_texts(settings: Settings) -> dict[str, list[str]]:
    """Per LINE user, every message text the outbox holds as sent, in order."""
    db = open_database(settings.db_path)
    texts: dict[str, list[str]] = defaultdict(list)
    for ref, status, payload in db.execute(
        "SELECT resident_ref, status, payload FROM outbox ORDER BY id"
    ):
        assert status == "sent", "every reply is delivered in the end"
        texts[ref.partition(":")[2]].extend(m.text for m in load_batch(payload))
    return texts


@pytest.mark.slow
def test_five_sigkills_while_2000_events_are_in_flight(
    line_server: ServeProcess, line_stub: LineStub, settings: Settings
) -> None:
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print(f"kill schedule seed {seed}")
    residents = Residents(line_server.url, line_stub.channel_secret)
    sender = threading.Thread(target=residents.run, daemon=True)
    line_server.start()
    sender.start()
    backlog: list[int] = []
    try:
        for kill in range(KILLS):
            # the first kill lands while events are still arriving, the others mid-backlog
            time.sleep(rng.uniform(0.3, 1.5) if kill == 0 else rng.uniform(1.0, 5.0))
            line_server.kill()
            db = open_database(settings.db_path)
            backlog.append(
                db.execute(
                    "SELECT COUNT(*) FROM inbound_events WHERE status = 'pending'"
                ).fetchone()[0]
            )
            db.conn.close()
            line_server.start()
        assert residents.done.wait(timeout=300), "the residents' events were all acknowledged"
        assert residents.error is None
        wait_for(line_server.drained, timeout=600, what="every event answered")
    finally:
        line_server.stop()
    print(f"pending events at each kill: {backlog}; posts {residents.attempts}")
    assert max(backlog) > 0, "the kills hit a backlog"

    db = open_database(settings.db_path)
    # every acknowledged event is stored once, intact, and processed
    rows = {
        r[0]: (r[1], r[2])
        for r in db.execute("SELECT channel_event_id, text, status FROM inbound_events")
    }
    assert len(residents.acked) == RESIDENTS * PER_RESIDENT
    for event_id, text in residents.acked.items():
        assert rows[event_id] == (text, "done")
    # ... and answered exactly once: one outbox row per event, each delivered once, in order
    per_event = db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM outbox WHERE event_id IS NOT NULL"
    ).fetchone()
    assert per_event[0] == per_event[1] == len(rows)
    expected = _outbox_texts(settings)
    for user in residents.users:
        sent = line_stub.sent_texts(to=user)
        assert sent == expected[user], _story(db, line_stub, settings, user)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _story(db: sqlite_utils.Database, stub: LineStub, settings: Settings, user: str) -> str:
    """What happened to one resident's replies, for a failure message: rows, calls, log."""
    rows = list(
        db.query(
            "SELECT o.id, o.event_id, o.attempts, o.created_at, o.sent_at, o.last_error,"
            " o.reply_token IS NOT NULL AS token, e.received_at FROM outbox o"
            " LEFT JOIN inbound_events e ON e.id = o.event_id WHERE o.resident_ref = ?"
            " ORDER BY o.id",
            [f"line:{user}"],
        )
    )
    calls = [
        f"{d.kind} at {d.request.time:.3f}: {(d.text or '')[:12]!r}" for d in stub.deliveries(user)
    ]
    ids = {f"outbox {r['id']} " for r in rows}
    log = [
        line
        for line in (settings.data_dir / "serve.log").read_text(errors="replace").splitlines()
        if any(i in line for i in ids) or "Started server process" in line
    ]
    head = [f"{user}: once each, in order", "outbox rows:", *map(str, rows)]
    return "\n".join([*head, "at the stub:", *calls, "serve log:", *log[-80:]])


PHASE_SECONDS = 3.0  # each kind of failure, at least this long and until it has been seen


def _seen(stub: LineStub, status: int) -> bool:
    return any(r.status == status for r in stub.requests() if "/v2/bot/message/" in r.path)


def _fail(stub: LineStub, status: int) -> None:
    for path in ("/reply", "/push"):
        if status == 503:
            stub.delay_next(path, 11.0, times=2)  # held past our 10 s timeout, then processed
        stub.fail_for(path, status, 600, retry_after=1 if status == 429 else None)


def _outage(stub: LineStub) -> None:
    """500s, then timeouts and 503s, then 429s with Retry-After, on the LINE message API."""
    for status in (500, 503, 429):
        _fail(stub, status)
        began = time.monotonic()
        wait_for(
            lambda: time.monotonic() - began >= PHASE_SECONDS and _seen(stub, status),  # noqa: B023
            timeout=120,
            what=f"the {status} phase to be seen",
        )
        stub.clear_faults()


@pytest.mark.slow
def test_a_line_api_outage_delays_replies_then_each_arrives_once_in_order(
    line_server: ServeProcess, line_stub: LineStub, settings: Settings
) -> None:
    """500s, timeouts and 429s for a while (a minute in production; shortened here, as
    the backoff settings are): nothing is lost, nothing doubled, each resident's order kept."""
    line_server.env["TSUNAGU_OUTBOX_BACKOFF_MAX_SECONDS"] = "2"
    line_server.env["TSUNAGU_OUTBOX_MAX_ATTEMPTS"] = "50"
    users = [line_user_id(f"outage-{i}") for i in range(10)]
    t0 = time.monotonic()
    line_server.start()
    print(f"server up in {time.monotonic() - t0:.1f} s")
    try:
        outage = threading.Thread(target=_outage, args=(line_stub,))
        outage.start()
        posted = _post_in_order(line_server.url, line_stub.channel_secret, users, per_user=5)
        outage.join()
        assert posted == 50
        t1 = time.monotonic()
        wait_for(line_server.drained, timeout=180, what="replies after the outage")
        print(f"drained {time.monotonic() - t1:.1f} s after the outage")
    finally:
        line_server.stop()
    statuses = {r.status for r in line_stub.requests() if "/v2/bot/message/" in r.path}
    assert {500, 503, 429} <= statuses, "the outage was really seen"
    expected = _outbox_texts(settings)
    for user in users:
        assert line_stub.sent_texts(to=user) == expected[user]
        assert len(expected[user]) >= 5


def _post_in_order(url: str, secret: str, users: list[str], per_user: int) -> int:
    acked = 0

    async def one(session: aiohttp.ClientSession, user: str, i: int) -> None:
        nonlocal acked
        for j in range(per_user):
            event = line_text_event(TEXTS[(i + j) % len(TEXTS)], user_id=user)
            body, headers = line_webhook_request(event, channel_secret=secret)
            async with session.post(f"{url}/webhooks/line", data=body, headers=headers) as r:
                assert r.status == 200
                acked += 1
            await asyncio.sleep(0.3)

    async def all_users() -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(one(session, u, i) for i, u in enumerate(users)))

    asyncio.run(all_users())
    return acked
