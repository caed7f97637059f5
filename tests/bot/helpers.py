"""Helpers shared by the front-door tests: the clock, settings, a talking resident."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import sqlite_utils
from fastapi import FastAPI

import handoff
from bot import migrations as bot_migrations
from bot.channels import ReplyToken
from bot.conversation import Conversation, ConversationState
from bot.messages import Inbound, Outbound
from bot.settings import Settings
from knowledge import KnowledgeStore, open_database

T = TypeVar("T")

JST = ZoneInfo("Asia/Tokyo")
#: a Tuesday morning: the office is open
IN_HOURS = dt.datetime(2025, 6, 3, 10, 0, tzinfo=JST)
#: a Saturday night: closed until Monday 8:30
OUT_OF_HOURS = dt.datetime(2025, 6, 7, 21, 0, tzinfo=JST)

SUICIDE = "もう死にたい。生きていたくない"
VIOLENCE = "夫に殴られて、殺されそうです"
CHILD_ABUSE = "隣の家の子どもが毎晩叩かれて泣き叫んでいる"
MEDICAL = "父が倒れて息をしていない"
ELDERLY = "母が認知症で、介護に疲れてしまいました"
MULTI = "母の介護で仕事を辞めました。貯金もなくなって家賃が払えません"
VAGUE = "こんにちは"


class Clock:
    """The injected ``now()``: tests move time instead of sleeping."""

    def __init__(self, start: dt.datetime) -> None:
        self.t = start

    def __call__(self) -> dt.datetime:
        return self.t

    def set(self, when: dt.datetime) -> None:
        self.t = when

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: no channel credentials, fast outbox retries."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "line_channel_secret": None,
        "line_channel_access_token": None,
        "telegram_bot_token": None,
        "telegram_webhook_secret": None,
        "timezone": "Asia/Tokyo",
        "office_open": "08:30",
        "office_close": "17:15",
        "office_days": "mon,tue,wed,thu,fri",
        "reply_within_minutes": 30,
        "outbox_backoff_seconds": 0.05,
        "outbox_backoff_max_seconds": 0.2,
        "outbox_max_attempts": 5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def migrate_all(db: sqlite_utils.Database) -> None:
    KnowledgeStore(db)
    bot_migrations.migrate(db)
    handoff.migrate(db)


def copy_template(template_db: Path, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, settings.db_path)


@dataclass
class Resident:
    """A resident talking to the engine directly, one turn per call."""

    engine: Conversation
    ref: str = "line:U0123456789abcdef"
    n: int = 0
    log: list[list[Outbound]] = field(default_factory=list)

    def send(self, kind: Any, text: str = "", data: str = "") -> list[Outbound]:
        self.n += 1
        event = Inbound(self.ref, kind, f"ev-{self.n}", text=text, data=data)
        replies = self.engine.handle(event)
        self.log.append(replies)
        return replies

    def say(self, text: str) -> list[Outbound]:
        return self.send("text", text=text)

    def press(self, data: str) -> list[Outbound]:
        return self.send("postback", data=data)

    def follow(self) -> list[Outbound]:
        return self.send("follow")

    @property
    def conversation(self) -> ConversationState:
        found = self.engine.load(self.ref)
        assert found is not None
        return found

    @property
    def state(self) -> str:
        return self.conversation.state

    def case(self) -> handoff.Case | None:
        return handoff.case_for_resident(self.engine.db, self.ref)


def joined(replies: list[Outbound]) -> str:
    return "\n".join(m.text for m in replies)


def choice_data(replies: list[Outbound]) -> list[str]:
    return [c.data for m in replies for c in m.choices]


class RunningClock:
    """Real time passing, but starting at a chosen moment (app tests: retries become due)."""

    def __init__(self, start: dt.datetime) -> None:
        self.start = start
        self.t0 = time.monotonic()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=time.monotonic() - self.t0)


def wait_for(predicate: Callable[[], T | None], *, timeout: float = 30.0, what: str = "") -> T:
    """Poll until ``predicate`` gives something truthy (the workers run in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


class RecordingSender:
    """A stand-in for a channel's API (not our code): records sends, fails on demand."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.failures = list(failures or [])
        self.calls: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []

    async def send(
        self,
        resident_ref: str,
        messages: Sequence[Outbound],
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None:
        call = {
            "resident_ref": resident_ref,
            "texts": [m.text for m in messages],
            "reply_token": reply_token.value if reply_token else None,
            "tried": reply_token.tried if reply_token else False,
            "retry_key": retry_key,
        }
        self.calls.append(call)
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append(call)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium under Playwright; missing Chromium is a failure, not a skip."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run scripts/system-deps.sh (make test does)"
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``tsunagu serve`` as a real process on a fixed port, to kill and restart."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
        self.env = {
            **base,
            "TSUNAGU_DATA_DIR": str(data_dir),
            "TSUNAGU_OUTBOX_BACKOFF_SECONDS": "0.1",
            **(env or {}),
        }
        self.log = data_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from bot.cli import main; main()",
                    "serve",
                    "--port",
                    str(self.port),
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        wait_for(self.up, timeout=timeout, what="tsunagu serve to come up")

    def up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/healthz", timeout=5).json()
        return body

    def drained(self) -> bool:
        body = self.health()
        return body["pending_events"] == 0 and body["pending_outbox"] == 0

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or the OOM killer."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def own_db(app: FastAPI) -> sqlite_utils.Database:
    """The test's own connection to a running app's database.

    The app's connection belongs to its event-loop thread; sharing it from the
    test's thread interleaves sqlite-utils' savepoints ("no such savepoint").
    """
    db: sqlite_utils.Database | None = getattr(app.state, "test_db", None)
    if db is None:
        db = open_database(app.state.front_door.settings.db_path, check_same_thread=False)
        app.state.test_db = db
    return db
