"""Privacy: a unique marker sent in consultations on LINE (signed, via the stub), Telegram and
the web chat, and then worked by staff (case page, reply, note, status, Try it), appears in
no log line of a real ``tsunagu serve`` logging at DEBUG, and in no file under the data
directory (or the temp directory) except the SQLite database itself. Nor do the channel
secrets and tokens appear in the log."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.bot.hardening import TG_SECRET, add_staff, login
from tests.bot.helpers import copy_template, make_settings, wait_for
from tests.stubs.events import (
    line_text_event,
    line_user_id,
    line_webhook_request,
    telegram_text_update,
    telegram_webhook_headers,
)
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

JST = ZoneInfo("Asia/Tokyo")
DATABASE_FILES = frozenset({"tsunagu.db", "tsunagu.db-wal", "tsunagu.db-shm"})
CONSULTATION = "82歳の母の介護で仕事を辞めました。家賃が払えません。"
TELEGRAM_CHAT = 6_170_001


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``tsunagu serve`` in a child process, its log in a file outside the data dir."""

    def __init__(
        self,
        tmp: Path,
        line_stub: LineStub,
        telegram_stub: TelegramStub,
        template_db: Path,
        index: Path,
    ) -> None:
        self.data_dir = tmp / "data"
        self.tmp_dir = tmp / "tmp"
        self.cwd = tmp / "cwd"
        self.log = tmp / "logs" / "serve.log"
        for folder in (self.tmp_dir, self.cwd, self.log.parent):
            folder.mkdir(parents=True)
        settings = make_settings(self.data_dir)
        copy_template(template_db, settings)
        add_staff(settings)
        shutil.copytree(index, self.data_dir / "index")  # no rebuild: the cached index fits
        self.secrets = [
            line_stub.channel_secret,
            line_stub.access_token,
            telegram_stub.token,
            TG_SECRET,
        ]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")},
            "TSUNAGU_DATA_DIR": str(self.data_dir),
            "TSUNAGU_LOG_LEVEL": "DEBUG",
            "TSUNAGU_LINE_CHANNEL_SECRET": line_stub.channel_secret,
            "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": line_stub.access_token,
            "TSUNAGU_LINE_API_BASE_URL": line_stub.url,
            "TSUNAGU_TELEGRAM_BOT_TOKEN": telegram_stub.token,
            "TSUNAGU_TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "TSUNAGU_TELEGRAM_API_BASE_URL": telegram_stub.base_url,
            "TSUNAGU_OUTBOX_BACKOFF_SECONDS": "0.1",
            "TSUNAGU_FOLLOW_UP_CHECK_SECONDS": "0.5",
            "TMPDIR": str(self.tmp_dir),
            "PYTHONUNBUFFERED": "1",
        }
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port)],
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=180, what="tsunagu serve")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def db(self, sql: str, *params: object) -> list[sqlite3.Row]:
        conn = sqlite3.connect(self.data_dir / "tsunagu.db")
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture
def server(
    tmp_path: Path,
    line_stub: LineStub,
    telegram_stub: TelegramStub,
    template_db: Path,
    triage_engine: Triage,
) -> Iterator[Server]:
    assert triage_engine.index.directory is not None
    running = Server(tmp_path, line_stub, telegram_stub, template_db, triage_engine.index.directory)
    running.start()
    yield running
    running.stop()


def _files_holding(root: Path, needle: str, *, skip: frozenset[str] = frozenset()) -> list[str]:
    forms = [needle.encode(), needle.encode("utf-16-le"), needle.upper().encode()]
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in skip:
            data = path.read_bytes()
            if any(form in data for form in forms):
                found.append(str(path.relative_to(root)))
    return found


def _case_for(server: Server, ref: str) -> int:
    rows = wait_for(
        lambda: server.db("SELECT id FROM cases WHERE resident_ref = ?", ref),
        timeout=60,
        what=f"a case for {ref}",
    )
    return int(rows[0]["id"])


def test_a_marker_reaches_no_log_and_no_file_but_the_database(
    server: Server, line_stub: LineStub, telegram_stub: TelegramStub
) -> None:
    marker = uuid.uuid4().hex
    words = f"{CONSULTATION} 合言葉は{marker}です。"
    http = httpx.Client(base_url=server.url, timeout=30)

    # LINE, signed, through the stub
    user = line_user_id()
    for text in (words, "担当者と話したい"):
        body, headers = line_webhook_request(
            line_text_event(text, user_id=user), channel_secret=line_stub.channel_secret
        )
        assert http.post("/webhooks/line", content=body, headers=headers).status_code == 200
        line_stub.wait_for_texts(to=user, count=1, timeout=60)
    line_case = _case_for(server, f"line:{user}")

    # Telegram, with the webhook secret
    for text in (words, "担当者と話したい"):
        update = telegram_text_update(text, user_id=TELEGRAM_CHAT)
        response = http.post(
            "/webhooks/telegram",
            content=json.dumps(update).encode(),
            headers=telegram_webhook_headers(TG_SECRET),
        )
        assert response.status_code == 200
        telegram_stub.wait_for_texts(to=TELEGRAM_CHAT, timeout=60)
    tg_case = _case_for(server, f"telegram:{TELEGRAM_CHAT}")

    # the web chat
    chat = httpx.Client(base_url=server.url, timeout=30)
    chat.get("/chat")
    chat.post("/chat/messages", data={"client_id": "privacy-1", "text": words})
    chat.post("/chat/messages", data={"client_id": "privacy-2", "text": "担当者と話したい"})
    web_case = _case_for(server, f"web:{chat.cookies.get('tsunagu_chat')}")

    # staff work every case: read it, claim it, reply, note, move it on; Try it; reports
    csrf = login(http, "kanri")
    for case_id in (line_case, tg_case, web_case):
        url = f"/inbox/cases/{case_id}"
        assert marker in http.get(url).text  # staff do see it
        http.post(f"{url}/claim", data={"csrf": csrf})
        http.post(f"{url}/reply", data={"csrf": csrf, "text": f"お返事です {marker}"})
        http.post(f"{url}/notes", data={"csrf": csrf, "text": f"メモ {marker}"})
        http.post(f"{url}/status", data={"csrf": csrf, "status": "in_support"})
        assert any(m["text"] == words for m in http.get(f"{url}/messages").json()["messages"])
    # the casework on the LINE case: labels, plan, referral declined with a reason, and a
    # follow-up message that goes out to the resident when due
    url = f"/inbox/cases/{line_case}"
    http.post(f"{url}/tags", data={"csrf": csrf, "labels": f"見守り{marker}"})
    http.post(f"{url}/plan", data={"csrf": csrf, "goals": f"目標 {marker}"})
    service = server.db("SELECT id FROM services ORDER BY id LIMIT 1")[0]["id"]
    http.post(
        f"{url}/referrals", data={"csrf": csrf, "service_id": service, "consent_confirmed": "1"}
    )
    referral = server.db("SELECT id FROM referrals WHERE case_id = ?", line_case)[0]["id"]
    http.post(
        f"{url}/referrals/{referral}",
        data={"csrf": csrf, "status": "declined", "reason": f"定員 {marker}"},
    )
    http.post(f"{url}/consent", data={"csrf": csrf, "follow_up": "yes", "source": "phone"})
    due = (dt.datetime.now(JST) + dt.timedelta(seconds=3)).replace(tzinfo=None)
    http.post(
        f"{url}/follow-ups",
        data={
            "csrf": csrf,
            "due": due.isoformat(timespec="seconds"),
            "message": f"お元気ですか {marker}",
        },
    )
    assert server.db("SELECT COUNT(*) FROM follow_ups WHERE instr(message, ?)", marker)[0][0]
    line_stub.wait_for(
        lambda: any(f"お元気ですか {marker}" in t for t in line_stub.sent_texts(user)), timeout=60
    )
    http.post("/admin/try", data={"csrf": csrf, "text": words})
    http.get("/admin/reports")
    http.get("/admin/audit/export")
    http.get("/inbox", params={"assignee": marker})
    http.get("/admin/services", params={"q": marker})
    # the replies really went out on each channel, marker and all
    line_stub.wait_for(lambda: any(marker in t for t in line_stub.sent_texts(user)), timeout=60)
    telegram_stub.wait_for(
        lambda: any(marker in t for t in telegram_stub.sent_texts(TELEGRAM_CHAT)), timeout=60
    )
    wait_for(
        lambda: (
            not server.db(
                "SELECT 1 FROM outbox WHERE status = 'pending' UNION ALL"
                " SELECT 1 FROM inbound_events WHERE status = 'pending'"
            )
        ),
        timeout=60,
        what="idle",
    )
    http.close()
    chat.close()
    server.stop()

    log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "DEBUG tsunagu: settings:" in log  # the server really logged at DEBUG…
    assert "line event" in log and "telegram update" in log  # …and about every channel
    leaks = [line for line in log.splitlines() if marker in line.lower()]
    assert leaks == [], leaks[:5]
    for secret in server.secrets:
        assert secret not in log, "a channel secret or token is in the log"
    assert server.db("SELECT COUNT(*) FROM case_messages WHERE instr(text, ?)", marker)[0][0] >= 6
    assert _files_holding(server.data_dir, marker, skip=DATABASE_FILES) == []
    assert _files_holding(server.tmp_dir, marker) == []
    assert _files_holding(server.cwd, marker) == []
    assert sorted(p.name for p in server.data_dir.iterdir()) == sorted(
        {"index", *(n for n in DATABASE_FILES if (server.data_dir / n).exists())}
    )
    assert not re.search(r"Traceback", log)
