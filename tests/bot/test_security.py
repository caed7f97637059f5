"""bot.security through the real app: bodies over the limit refused before they are read
(checked on a live server with a raw socket), security headers on every page, cookies with
HttpOnly/SameSite/Secure, session ids rotated at login, and failed logins throttled per
client address."""

from __future__ import annotations

import re
import select
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.deps import STAFF_COOKIE
from bot.settings import Settings
from handoff import staff
from tests.bot.hardening import (
    HTML,
    PASSWORD,
    TG_SECRET,
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

LIMIT = 100_000  # a small limit keeps the tests quick; the default is 1 MB
IMPORT_LIMIT = 400_000


@pytest.fixture
def make_app(
    template_db: Path,
    tmp_path: Path,
    line_stub: LineStub,
    telegram_stub: TelegramStub,
    triage_engine: Triage,
) -> Callable[..., FastAPI]:
    def build(**overrides: object) -> FastAPI:
        values: dict[str, object] = {"max_body_bytes": LIMIT, "max_import_bytes": IMPORT_LIMIT}
        values.update(overrides)
        settings = all_channels(tmp_path / "data", line_stub, telegram_stub, **values)
        copy_template(template_db, settings)
        add_staff(settings)
        return create_app(settings, now=RunningClock(IN_HOURS), triage=triage_engine)

    return build


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


def _db_path(app: FastAPI) -> Path:
    path: Path = app.state.front_door.settings.db_path
    return path


# -- request size --------------------------------------------------------------------------

BIG = b"x" * (LIMIT + 1)
ROUTES = {
    "line webhook": (
        "/webhooks/line",
        {"x-line-signature": "c2ln", "content-type": "application/json"},
    ),
    "telegram webhook": (
        "/webhooks/telegram",
        {"x-telegram-bot-api-secret-token": TG_SECRET, "content-type": "application/json"},
    ),
    "web chat": ("/chat/messages", {"content-type": "application/x-www-form-urlencoded", **HTML}),
    "login": ("/inbox/login", {"content-type": "application/x-www-form-urlencoded", **HTML}),
}


@pytest.mark.parametrize("name", list(ROUTES))
def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(
    app: FastAPI, client: TestClient, name: str
) -> None:
    path, headers = ROUTES[name]
    before = table_counts(_db_path(app))
    response = client.post(path, content=b"text=" + BIG, headers=headers)
    assert response.status_code == 413
    if "text/html" in headers.get("Accept", ""):
        assert "大きすぎます" in response.text
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    else:
        assert response.json() == {"error": f"request body is over {LIMIT:,} bytes"}
    assert changed(before, table_counts(_db_path(app))) == {}


def test_the_default_limit_fits_the_longest_message_we_accept(
    make_app: Callable[..., FastAPI],
) -> None:
    """20,000 emoji (the most a resident may write at once), percent-encoded: ~240 KB."""
    app = make_app(max_body_bytes=Settings.model_fields["max_body_bytes"].default)
    with TestClient(app) as client:
        client.get("/chat")
        response = client.post(
            "/chat/messages",
            data={"client_id": "under-the-limit", "text": "😀" * 20_000},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 202
        assert (
            client.post(
                "/chat/messages",
                data={"client_id": "over-the-limit", "text": "😀" * 20_001},
                headers={"Accept": "application/json"},
            ).status_code
            == 413
        )


def test_the_kb_import_may_be_larger_but_not_unbounded(app: FastAPI, client: TestClient) -> None:
    csrf = login(client, "kanri")
    sheet = b"id,organization_id,name\r\n" + b"svc-x,org,\xe5\x90\x8d\r\n" * 15_000  # ~300 KB
    assert LIMIT < len(sheet) < IMPORT_LIMIT
    ok = client.post(
        "/admin/import", data={"csrf": csrf}, files={"files": ("services.csv", sheet, "text/csv")}
    )
    assert ok.status_code == 422 and "services.csv" in ok.text  # read and judged
    before = table_counts(_db_path(app))
    big = client.post(
        "/admin/import",
        data={"csrf": csrf},
        files={"files": ("services.csv", sheet * 2, "text/csv")},
        headers=HTML,
    )
    assert big.status_code == 413
    assert changed(before, table_counts(_db_path(app))) == {}


def _raw(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    return sock


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The response's status and body (read by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def test_a_declared_huge_body_is_refused_before_it_is_sent(app: FastAPI, live_url: str) -> None:
    """50 MB announced, 1 KB sent: the 413 comes at once (nobody waits for the rest)."""
    sock = _raw(live_url)
    try:
        sock.sendall(
            b"POST /webhooks/line HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"X-Line-Signature: c2ln\r\nContent-Length: 50000000\r\n\r\n" + b"{" * 1024
        )
        started = time.monotonic()
        status, body = _status(sock)
        assert status == 413 and b"over 100,000 bytes" in body
        assert time.monotonic() - started < 5
    finally:
        sock.close()
    assert table_counts(_db_path(app))["inbound_events"] == 0


@pytest.mark.parametrize("path", ["/webhooks/line", "/chat/messages"])
def test_a_streamed_body_is_cut_off_at_the_limit(app: FastAPI, live_url: str, path: str) -> None:
    """No Content-Length (chunked): counted as it arrives and refused once past the limit,
    long before the 20 MB the client would send."""
    sock = _raw(live_url)
    sent = 0
    chunk = b"x" * 16_384
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    try:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: t\r\nX-Line-Signature: c2ln\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Cookie: tsunagu_chat={'a' * 32}\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sock.sendall(head.encode())
        while sent < 20_000_000:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(framed)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, _ = _status(sock)
    finally:
        sock.close()
    assert status == 413
    assert sent < 20_000_000 // 4, sent  # refused early, not after reading it all
    counts = table_counts(_db_path(app))
    assert counts["inbound_events"] == 0 and counts["webchat_messages"] == 0


# -- headers -------------------------------------------------------------------------------


def _check_headers(response: object, where: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    csp = headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, where
    assert "default-src 'self'" in csp, where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-frame-options") == "DENY", where


_INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # an inline script
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle=", re.I),
    re.compile(r"\son[a-z]+=", re.I),  # onclick=, onerror=…
    re.compile(r"javascript:", re.I),
]


def test_every_page_has_the_security_headers_and_no_inline_script(
    app: FastAPI, client: TestClient
) -> None:
    db = own_db(app)
    case = open_case(db, "line:Uheaders", "母の介護がつらい", "elderly_care")
    pages = ["/chat", "/inbox/login", "/healthz", "/chat/messages", "/nowhere", "/static/inbox.js"]
    for path in pages:
        _check_headers(client.get(path), path)
    login(client, "kanri")
    checked = 0
    for method, route_path, _route in app_routes(app):
        if method != "GET":
            continue
        path = fill_path(app, route_path, case.id)
        response = client.get(path, headers=HTML)
        assert response.status_code < 500, path
        _check_headers(response, path)
        if response.headers.get("content-type", "").startswith("text/html"):
            for pattern in _INLINE:
                assert not pattern.search(response.text), (path, pattern.pattern)
            assert response.headers.get("cache-control") == "no-store", path
            checked += 1
    assert checked >= 12
    for response in (
        client.get(f"/inbox/cases/{case.id + 999}"),
        client.post("/inbox/logout", data={"csrf": "wrong"}),
    ):
        _check_headers(response, "error")


def test_hsts_only_over_https(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as https:
        assert https.get("/chat").headers["strict-transport-security"].startswith("max-age=")
    with TestClient(app) as plain:
        assert "strict-transport-security" not in plain.get("/chat").headers


# -- cookies -------------------------------------------------------------------------------


def _cookie(response: object, name: str) -> str:
    for value in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        if value.startswith(name + "="):
            return str(value)
    raise AssertionError(f"no {name} cookie")


def _flags(cookie: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}


@pytest.mark.parametrize(
    ("base_url", "proxy", "forwarded", "secure"),
    [
        ("http://testserver", False, None, False),
        ("https://testserver", False, None, True),
        # a client's own X-Forwarded-Proto is ignored unless the app is behind a proxy
        ("http://testserver", False, "https", False),
        ("http://testserver", True, "https", True),
        ("http://testserver", True, None, False),
    ],
)
def test_cookies_are_httponly_samesite_and_secure_over_https(
    make_app: Callable[..., FastAPI],
    base_url: str,
    proxy: bool,
    forwarded: str | None,
    secure: bool,
) -> None:
    app = make_app(behind_proxy=proxy, forwarded_allow_ips="*")
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    with TestClient(app, base_url=base_url, headers=headers) as client:
        chat = _cookie(client.get("/chat"), "tsunagu_chat")
        page = client.get("/inbox/login")
        login_csrf = _cookie(page, "tsunagu_login_csrf")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        # sent by hand: over plain http the client itself would hold back a Secure cookie
        value = login_csrf.split(";")[0].split("=", 1)[1]
        response = client.post(
            "/inbox/login",
            follow_redirects=False,
            data={"name": "sato", "password": PASSWORD, "csrf": token.group(1)},
            headers={"Cookie": f"tsunagu_login_csrf={value}"},
        )
        session = _cookie(response, STAFF_COOKIE)
    for cookie in (chat, login_csrf, session):
        flags = _flags(cookie)
        assert "httponly" in flags and "samesite" in flags, cookie
        assert ("secure" in flags) is secure, cookie
    assert "samesite=strict" in login_csrf.lower()
    assert "samesite=lax" in session.lower()


# -- sessions and logins -------------------------------------------------------------------


def test_a_session_id_planted_before_login_is_not_honoured_after(
    app: FastAPI, client: TestClient
) -> None:
    db = own_db(app)
    planted = "attacker-chosen-session-id-0123456789"
    client.cookies.set(STAFF_COOKIE, planted, domain="testserver.local")
    login(client, "sato")
    assert client.cookies.get(STAFF_COOKIE) != planted
    assert staff.session_for(db, planted, now=app.state.front_door.now()) is None
    attacker = TestClient(app, cookies={STAFF_COOKIE: planted})
    assert attacker.get("/inbox", headers=HTML, follow_redirects=False).status_code == 303


def test_the_session_id_rotates_at_every_login(app: FastAPI, client: TestClient) -> None:
    """A valid id the browser held (e.g. fixed on it by someone else) dies at the next login."""
    other = TestClient(app)
    login(other, "tanaka")
    fixed = other.cookies.get(STAFF_COOKIE)
    assert fixed
    client.cookies.set(STAFF_COOKIE, fixed, domain="testserver.local")
    login(client, "sato")
    assert client.cookies.get(STAFF_COOKIE) != fixed
    now = app.state.front_door.now()
    assert staff.session_for(own_db(app), fixed, now=now) is None
    assert "sato" in client.get("/inbox").text


def test_passwords_are_only_stored_as_argon2id(app: FastAPI) -> None:
    conn = sqlite3.connect(_db_path(app))
    hashes = [r[0] for r in conn.execute("SELECT password_hash FROM staff")]
    conn.close()
    assert len(hashes) == 3 and all(h.startswith("$argon2id$") for h in hashes)
    raw = _db_path(app).read_bytes()
    assert PASSWORD.encode() not in raw


def _fail_login(client: TestClient, name: str) -> int:
    page = client.get("/inbox/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post(
        "/inbox/login",
        data={"name": name, "password": "not the password", "csrf": token.group(1)},
        headers=HTML,
    )
    return response.status_code


def test_failed_logins_are_throttled_per_client_address(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(login_ip_max_failures=4, login_ip_window_minutes=1)
    db_path = _db_path(app)
    with TestClient(app, client=("203.0.113.7", 5000)) as attacker:
        # spread over names, so no single account reaches its own lockout
        codes = [_fail_login(attacker, name) for name in ("sato", "tanaka", "kanri", "nobody")]
        assert codes == [401, 401, 401, 401]
        throttled = attacker.post(
            "/inbox/login", data={"name": "sato", "password": PASSWORD, "csrf": "x"}, headers=HTML
        )
        assert throttled.status_code == 429 and "しばらく" in throttled.text
        assert 1 <= int(throttled.headers["retry-after"]) <= 61
        again = attacker.post("/inbox/login", data={"name": "sato", "password": PASSWORD})
        assert again.status_code == 429
    with TestClient(app, client=("198.51.100.2", 5000)) as colleague:
        login(colleague, "sato")  # another address is not held back, the account is not locked
    conn = sqlite3.connect(db_path)
    actions = [r[0] for r in conn.execute("SELECT action FROM audit_events ORDER BY id")]
    locked = conn.execute("SELECT COUNT(*) FROM staff WHERE locked_until IS NOT NULL").fetchone()
    conn.close()
    assert actions.count("login_throttled") == 1  # once per blocked window, not per attempt
    assert locked[0] == 0


def test_the_throttle_lets_an_address_try_again_after_the_window(
    make_app: Callable[..., FastAPI],
) -> None:
    from bot.security import LoginThrottle

    app = make_app(login_ip_max_failures=2)
    throttle = next(m for m in app.user_middleware if m.cls is LoginThrottle)
    now = [1000.0]
    throttle.kwargs["clock"] = lambda: now[0]
    with TestClient(app) as client:
        assert [_fail_login(client, "sato") for _ in range(2)] == [401, 401]
        assert _fail_login(client, "sato") == 429
        now[0] += 15 * 60 + 1
        assert _fail_login(client, "sato") == 401
