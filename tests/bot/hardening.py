"""Helpers for the hostile-input, privacy and start-up tests: an app with every channel on,
staff accounts, logging in, and counting every table's rows to prove nothing was written."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

import handoff
from bot.app import create_app
from bot.settings import Settings
from handoff import staff
from knowledge import open_database
from tests.bot.helpers import IN_HOURS, RunningClock, copy_template, make_settings, own_db
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage
from triage.assessment import Assessment, CategoryFinding, CrisisFinding, Evidence

PASSWORD = "hardening password 123"
TG_SECRET = "tsunagu-hardening-webhook-secret-42"
T0 = dt.datetime(2025, 6, 3, 0, 0, tzinfo=dt.UTC)
HTML = {"Accept": "text/html"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def all_channels(
    data_dir: Path, line_stub: LineStub, telegram_stub: TelegramStub, **overrides: Any
) -> Settings:
    """Settings with LINE and Telegram on, talking to the local stubs."""
    return make_settings(
        data_dir,
        line_channel_secret=line_stub.channel_secret,
        line_channel_access_token=line_stub.access_token,
        line_api_base_url=line_stub.url,
        telegram_bot_token=telegram_stub.token,
        telegram_webhook_secret=TG_SECRET,
        telegram_api_base_url=telegram_stub.base_url,
        **overrides,
    )


def add_staff(settings: Settings) -> None:
    """sato and tanaka (staff), kanri (admin)."""
    db = open_database(settings.db_path)
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T0)
    staff.add_staff(db, "tanaka", PASSWORD, role="staff", now=T0)
    staff.add_staff(db, "kanri", PASSWORD, role="admin", now=T0)
    db.conn.close()


def build_app(template_db: Path, settings: Settings, triage_engine: Triage) -> FastAPI:
    copy_template(template_db, settings)
    add_staff(settings)
    return create_app(settings, now=RunningClock(IN_HOURS), triage=triage_engine)


def login(client: TestClient | httpx.Client, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = client.get("/inbox/login")
    token = _CSRF.search(page.text)
    assert token is not None
    response = client.post(
        "/inbox/login",
        data={"name": name, "password": password, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:300]
    found = _CSRF.search(client.get("/inbox").text)
    assert found is not None
    return found.group(1)


def assessment(text: str, *codes: str, crisis: str | None = None) -> Assessment:
    """An assessment whose evidence quotes ``text`` (as triage's would)."""
    return Assessment(
        text=text,
        language="ja",
        categories=[
            CategoryFinding(
                code=c,
                label=c,
                score=0.9,
                evidence=[Evidence(sentence=text, score=0.9, matched=text, source="lexicon")],
            )
            for c in codes
        ],
        crisis=CrisisFinding(type=crisis, phrases=[text], sentences=[text]) if crisis else None,
        complex=len(codes) >= 2,
    )


def open_case(
    db: Any,
    ref: str,
    text: str,
    *codes: str,
    at: dt.datetime = IN_HOURS,
    crisis: str | None = None,
) -> handoff.Case:
    return handoff.open_case(
        db,
        resident_ref=ref,
        channel=ref.split(":")[0],
        assessment=assessment(text, *codes, crisis=crisis),
        consent=handoff.Consent(share_with_staff=True),
        urgent=crisis is not None,
        transcript=[handoff.TranscriptEntry(role="resident", text=text, at=at)],
        language="ja",
        at=at,
    )


def table_counts(db_path: Path) -> dict[str, int]:
    """Rows in every table of the database (read on a connection of our own)."""
    conn = sqlite3.connect(db_path)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        conn.close()


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    """The tables whose row count moved."""
    return {
        k: (before.get(k, 0), after.get(k, 0))
        for k in set(before) | set(after)
        if before.get(k, 0) != after.get(k, 0)
    }


def app_routes(app: FastAPI) -> list[tuple[str, str, Any]]:
    """(method, path, route) of every route of the app, included routers flattened.

    FastAPI up to 0.11x copies included routes into ``app.routes``; newer versions keep
    the included router as one entry (``original_router``). Both are walked here.
    """
    out: list[tuple[str, str, Any]] = []
    stack: list[Any] = list(app.routes)
    while stack:
        route = stack.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            stack.extend(inner.routes)
            continue
        methods = getattr(route, "methods", None)
        if not methods:
            continue  # a Mount (/static)
        for method in sorted(set(methods) - {"HEAD"}):
            out.append((method, route.path, route))
    return out


def fill_path(app: FastAPI, path: str, case_id: int) -> str:
    """A route's path with real ids (a case, the first service and organization…)."""
    db = own_db(app)
    service = db.execute("SELECT id FROM services ORDER BY id LIMIT 1").fetchone()[0]
    org = db.execute("SELECT id FROM organizations ORDER BY id LIMIT 1").fetchone()[0]
    values = {
        "case_id": str(case_id),
        "service_id": service,
        "org_id": org,
        "sheet": "services.csv",
        "referral_id": "1",
        "follow_up_id": "1",
        "change": "retire",
    }
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"add a value for the path parameter in {path}"
    return path
