"""Helpers shared by the staff inbox tests: staff accounts, login, CSRF, cases, LINE posts
and a clock the test can move forward (instead of sleeping)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

import handoff
from bot.settings import Settings
from handoff import staff
from knowledge import open_database
from tests.bot.helpers import IN_HOURS, RunningClock, own_db
from tests.stubs.events import line_text_event, line_webhook_request
from tests.stubs.line_api import LineStub
from triage.assessment import Assessment, CategoryFinding, CrisisFinding, ServiceMatch

PASSWORD = "inbox password 123"
HTML = {"Accept": "text/html"}
T = dt.datetime(2025, 6, 3, 0, 0, tzinfo=dt.UTC)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class MovableClock(RunningClock):
    """Real time passing from a chosen start, plus jumps the test makes (days, not sleeps)."""

    def __init__(self, start: dt.datetime) -> None:
        super().__init__(start)
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return super().__call__() + self.offset

    def jump(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


def add_staff(settings: Settings) -> None:
    """sato and tanaka (staff) and admin, all with ``PASSWORD``."""
    db = open_database(settings.db_path)
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T)
    staff.add_staff(db, "tanaka", PASSWORD, role="staff", now=T)
    staff.add_staff(db, "admin", PASSWORD, role="admin", now=T)
    db.conn.close()


def assessment(
    *codes: str, crisis: str | None = None, services: tuple[str, ...] = ()
) -> Assessment:
    return Assessment(
        text="…",
        language="ja",
        categories=[CategoryFinding(code=c, label=c, score=0.9) for c in codes],
        crisis=CrisisFinding(type=crisis) if crisis else None,
        complex=len(codes) >= 2,
        services=[
            ServiceMatch(
                service_id=s,
                name=s,
                organization="ひなた市",
                categories=list(codes),
                score=0.8,
                reason="合いそうです",
            )
            for s in services
        ],
    )


def open_case(
    app: FastAPI,
    ref: str,
    *codes: str,
    crisis: str | None = None,
    minutes_ago: int = 0,
    agencies: bool | None = None,
    services: tuple[str, ...] = (),
    language: str = "ja",
) -> handoff.Case:
    db = own_db(app)
    at = IN_HOURS - dt.timedelta(minutes=minutes_ago)
    return handoff.open_case(
        db,
        resident_ref=ref,
        channel=ref.split(":")[0],
        assessment=assessment(*codes, crisis=crisis, services=services),
        consent=handoff.Consent(share_with_staff=True, share_with_agencies=agencies),
        urgent=crisis is not None,
        transcript=[handoff.TranscriptEntry(role="resident", text="母の介護がつらい", at=at)],
        language=language,
        at=at,
    )


def login(
    client: TestClient | httpx.Client, name: str, password: str = PASSWORD, next: str | None = None
) -> httpx.Response:
    page = client.get("/inbox/login" + (f"?next={next}" if next else ""))
    token = _CSRF.search(page.text)
    assert token is not None
    found = re.search(r'name="next" value="([^"]*)"', page.text)
    data = {"name": name, "password": password, "csrf": token.group(1)}
    if found:
        data["next"] = found.group(1).replace("&amp;", "&")
    return client.post("/inbox/login", data=data, follow_redirects=False)


def csrf_of(client: TestClient | httpx.Client) -> str:
    found = _CSRF.search(client.get("/inbox").text)
    assert found is not None
    return found.group(1)


def post_line(client: Any, stub: LineStub, text: str, user: str) -> None:
    body, headers = line_webhook_request(
        line_text_event(text, user_id=user), channel_secret=stub.channel_secret
    )
    response = client.post("/webhooks/line", content=body, headers=headers)
    assert response.status_code == 200
