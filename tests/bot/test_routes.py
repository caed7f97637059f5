"""Every route of the whole app, found by walking the app itself (so a route added later is
checked too): anonymous visitors are sent to the login or refused, staff get 403 on admin
routes, and a POST without this session's CSRF token — missing, forged, or stolen from
another logged-in session — is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.deps import admin_staff, current_staff
from tests.bot.hardening import (
    HTML,
    add_staff,
    all_channels,
    app_routes,
    changed,
    fill_path,
    login,
    open_case,
    table_counts,
)
from tests.bot.helpers import IN_HOURS, RunningClock, copy_template, own_db
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

#: the only routes anyone may use without a staff session (residents and the platforms)
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/chat"),
    ("GET", "/chat/messages"),
    ("POST", "/chat/messages"),
    ("POST", "/webhooks/line"),
    ("POST", "/webhooks/telegram"),
    ("GET", "/inbox/login"),
    ("POST", "/inbox/login"),
}


@pytest.fixture
def app(
    template_db: Path,
    tmp_path: Path,
    line_stub: LineStub,
    telegram_stub: TelegramStub,
    triage_engine: Triage,
) -> FastAPI:
    settings = all_channels(tmp_path / "data", line_stub, telegram_stub)
    copy_template(template_db, settings)
    add_staff(settings)
    return create_app(settings, now=RunningClock(IN_HOURS), triage=triage_engine)


def _needs(route: object) -> set[object]:
    found: set[object] = set()
    if not isinstance(route, APIRoute):
        return found  # a plain Starlette route: no dependencies, so no login either
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if dep.call is not None:
            found.add(dep.call)
        stack.extend(dep.dependencies)
    return found


def routes(app: FastAPI) -> Iterator[tuple[str, str, object]]:
    yield from app_routes(app)


def _url(app: FastAPI, path: str, case_id: int) -> str:
    return fill_path(app, path, case_id)


def test_the_public_routes_are_exactly_the_residents_and_the_platforms(app: FastAPI) -> None:
    public = {(m, p) for m, p, r in routes(app) if current_staff not in _needs(r)}
    assert public == PUBLIC
    assert len(list(routes(app))) > len(PUBLIC) + 20  # the walk really found the rest


def test_anonymous_visitors_are_sent_to_login_or_refused(app: FastAPI, client: TestClient) -> None:
    case = open_case(own_db(app), "line:Uanon", "相談です", "poverty")
    before = table_counts(app.state.front_door.settings.db_path)
    checked = 0
    for method, path, _route in routes(app):
        if (method, path) in PUBLIC:
            continue
        url = _url(app, path, case.id)
        if method == "GET":
            page = client.get(url, headers=HTML, follow_redirects=False)
            assert page.status_code == 303, (method, path, page.status_code)
            assert page.headers["location"].startswith("/inbox/login")
        response = client.request(
            method, url, data={"csrf": "x"} if method == "POST" else None, follow_redirects=False
        )
        assert response.status_code == 401, (method, path, response.status_code)
        checked += 1
    assert checked > 20
    assert changed(before, table_counts(app.state.front_door.settings.db_path)) == {}


def test_staff_get_403_on_every_admin_route(app: FastAPI, client: TestClient) -> None:
    case = open_case(own_db(app), "line:Urole", "相談です", "poverty")
    csrf = login(client, "sato")
    admin_only = [(m, p) for m, p, r in routes(app) if admin_staff in _needs(r)]
    assert len(admin_only) >= 15
    db_path = app.state.front_door.settings.db_path
    before = table_counts(db_path)
    for method, path in admin_only:
        url = _url(app, path, case.id)
        data = {"csrf": csrf, "status": "retired", "assignee": "sato"} if method == "POST" else None
        response = client.request(method, url, data=data, follow_redirects=False)
        assert response.status_code == 403, (method, path, response.status_code)
    assert changed(before, table_counts(db_path)) == {}


@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
def test_every_post_needs_this_sessions_csrf_token(
    app: FastAPI, client: TestClient, token: str
) -> None:
    db = own_db(app)
    case = open_case(db, "line:Ucsrf", "相談です", "poverty")
    value: str | None = None
    if token == "another session's":
        other = TestClient(app)  # a second browser, logged in as someone else
        value = login(other, "tanaka")
    elif token == "forged":
        value = "A" * 43
    login(client, "kanri")
    posts = [(m, p) for m, p, r in routes(app) if m == "POST" and (m, p) not in PUBLIC]
    assert len(posts) >= 10
    db_path = app.state.front_door.settings.db_path
    before = table_counts(db_path)
    for _method, path in posts:
        data = {"status": "closed", "reason": "x", "text": "x", "assignee": "sato"}
        if value is not None:
            data["csrf"] = value
        response = client.post(_url(app, path, case.id), data=data, follow_redirects=False)
        assert response.status_code == 403, (path, token, response.status_code)
    assert changed(before, table_counts(db_path)) == {}
    assert client.get("/inbox", follow_redirects=False).status_code == 200  # still logged in
