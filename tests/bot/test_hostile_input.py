"""Property-based tests (hypothesis) of everything a stranger can send the app: LINE and
Telegram webhooks (signed and not), web chat and inbox forms, the login form and the KB
import. Random bytes, invalid UTF-8, deep JSON, NUL bytes, emoji and combining marks,
10,000-character messages: never a 5xx, nothing half-stored (row counts are compared), and
every message a resident wrote gets a kind reply."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import replies as r
from bot.messages import MAX_INBOUND_TEXT
from tests.bot.hardening import (
    TG_SECRET,
    all_channels,
    build_app,
    changed,
    login,
    open_case,
    table_counts,
)
from tests.bot.helpers import own_db, wait_for
from tests.stubs.events import (
    line_text_event,
    line_user_id,
    line_webhook_headers,
    line_webhook_request,
    telegram_text_update,
    telegram_webhook_headers,
)
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

# -- what strangers send ----------------------------------------------------------------------

EMOJI = st.sampled_from(["😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "❤️", "🙇‍♀️", "𠮷"])
COMBINING = st.text(st.characters(categories=["Mn", "Me"]), min_size=1, max_size=8)
ODD = st.sampled_from(
    [
        "\x00",
        "\u202e",
        "\u200b",
        "\ufeff",
        "\r\n",
        "\t",
        "\u3000",
        "\\",
        "'",
        '"',
        "<",
        "%",
        "\U0010ffff",
    ]
)
PIECES = st.one_of(
    EMOJI,
    COMBINING,
    ODD,
    st.text(max_size=8),
    st.sampled_from(["母の介護", "家賃が払えない", "死にたい", "help"]),
)
RESIDENT_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(PIECES, max_size=40).map("".join),
    # 10,000 characters: a long message still gets an answer (the 20,000 limit: test_events)
    st.lists(PIECES, min_size=1, max_size=5)
    .map("".join)
    .filter(bool)
    .map(lambda seed: (seed * 10_000)[:10_000]),
)


#: nesting depths to try: deep enough to exhaust Python's recursion limit
DEPTHS = st.sampled_from([1, 50, 999, 1_001, 10_000, 100_000])


def _deep(n: int) -> bytes:
    return ("[" * n + "]" * n).encode()


JUNK = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8")),
    DEPTHS.map(_deep),
    DEPTHS.map(lambda n: b'{"events": ' + _deep(n) + b"}"),
    DEPTHS.map(lambda n: b'{"update_id": 1, "message": ' + b'{"a": ' * n + b"1" + b"}" * n + b"}"),
    st.sampled_from(
        [
            b"\xff\xfe\x00",
            b"\xc3\x28",
            b'{"events": [1, 2]}',
            b"null",
            b'{"events": [{"type": "message"}]}',
            b"{}" * 1000,
        ]
    ),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)

SORRY = {r.text(lang, "sorry_error") for lang in r.LANGS}
#: the encoder reads at most ~768 tokens of a message (about 1.3 s here, idle), but
#: several hypothesis examples queue behind each other on a loaded 2-core machine
REPLY_WAIT = 120


@pytest.fixture
def app(
    template_db: Path,
    tmp_path: Path,
    line_stub: LineStub,
    telegram_stub: TelegramStub,
    triage_engine: Triage,
) -> FastAPI:
    return build_app(
        template_db, all_channels(tmp_path / "data", line_stub, telegram_stub), triage_engine
    )


def _db(app: FastAPI) -> Path:
    path: Path = app.state.front_door.settings.db_path
    return path


def _settle(app: FastAPI) -> None:
    """Wait until the workers have done everything earlier examples started."""

    def idle() -> bool:
        counts = sqlite3.connect(_db(app))
        try:
            return not counts.execute(
                "SELECT (SELECT COUNT(*) FROM inbound_events WHERE status = 'pending')"
                " + (SELECT COUNT(*) FROM outbox WHERE status = 'pending')"
            ).fetchone()[0]
        finally:
            counts.close()

    wait_for(idle, timeout=REPLY_WAIT, what="the workers to finish")


def _kind(texts: list[str]) -> None:
    """A reply that accepts: there is one, it has words, and it is not the error apology."""
    assert texts and all(t.strip() for t in texts)
    assert not SORRY & set(texts), texts


# -- LINE --------------------------------------------------------------------------------------


@settings(max_examples=20)
@given(texts=st.lists(RESIDENT_TEXT, min_size=1, max_size=3))
def test_line_every_signed_message_is_stored_once_and_answered_kindly(
    app: FastAPI,
    client: TestClient,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
    texts: list[str],
) -> None:
    users = [line_user_id() for _ in texts]
    events = [line_text_event(t, user_id=u) for t, u in zip(texts, users, strict=True)]
    _settle(app)
    before = table_counts(_db(app))["inbound_events"]
    body, headers = line_webhook_request(*events, channel_secret=line_stub.channel_secret)
    response = client.post("/webhooks/line", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(texts)
    assert table_counts(_db(app))["inbound_events"] == before + len(texts)
    for user in users:
        _kind(line_stub.wait_for_texts(to=user, timeout=REPLY_WAIT))
        rows = query("SELECT status FROM inbound_events WHERE resident_ref = ?", f"line:{user}")
        assert [row["status"] for row in rows] == ["done"]


@settings(max_examples=60)
@given(body=JUNK, signed=st.booleans())
def test_line_junk_is_refused_whole_signed_or_not(
    app: FastAPI, client: TestClient, line_stub: LineStub, body: bytes, signed: bool
) -> None:
    headers = line_webhook_headers(body, line_stub.channel_secret)
    if not signed:
        headers["x-line-signature"] = "bm90IGEgc2lnbmF0dXJl"
    _settle(app)
    before = table_counts(_db(app))
    response = client.post("/webhooks/line", content=body, headers=headers)
    assert response.status_code in (400, 401, 413) or (
        signed and response.status_code == 200 and response.json()["accepted"] == 0
    ), (response.status_code, response.text[:200])
    assert "error" in response.json() or response.status_code == 200
    assert changed(before, table_counts(_db(app))) == {}


@settings(max_examples=25)
@given(good=st.lists(RESIDENT_TEXT, min_size=1, max_size=3), at=st.integers(0, 3))
def test_line_a_body_with_one_refused_event_stores_none_of_them(
    app: FastAPI, client: TestClient, line_stub: LineStub, good: list[str], at: int
) -> None:
    """An event over the length limit among good ones: 400 and none is stored (not a prefix)."""
    events = [line_text_event(t, user_id=line_user_id()) for t in good]
    events.insert(min(at, len(events)), line_text_event("あ" * (MAX_INBOUND_TEXT + 1)))
    _settle(app)
    before = table_counts(_db(app))
    body, headers = line_webhook_request(*events, channel_secret=line_stub.channel_secret)
    response = client.post("/webhooks/line", content=body, headers=headers)
    assert response.status_code == 400 and "limit" in response.json()["error"]
    assert changed(before, table_counts(_db(app))) == {}


def test_line_a_replayed_webhook_is_processed_once(
    app: FastAPI,
    client: TestClient,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
) -> None:
    """The same signed body again (a replay, or LINE's redelivery): acknowledged, not redone."""
    user = line_user_id()
    body, headers = line_webhook_request(
        line_text_event("母の介護がつらい", user_id=user), channel_secret=line_stub.channel_secret
    )
    assert client.post("/webhooks/line", content=body, headers=headers).json()["accepted"] == 1
    line_stub.wait_for_texts(to=user, timeout=30)
    _settle(app)
    before = table_counts(_db(app))
    for _ in range(3):
        again = client.post("/webhooks/line", content=body, headers=headers)
        assert again.status_code == 200 and again.json() == {
            "accepted": 0,
            "duplicates": 1,
            "ignored": 0,
        }
    assert changed(before, table_counts(_db(app))) == {}
    assert len(query("SELECT id FROM outbox WHERE resident_ref = ?", f"line:{user}")) == 1


# -- Telegram ----------------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    text=RESIDENT_TEXT,
    chat=st.integers(min_value=1, max_value=2**40),
    secret=st.sampled_from(["right", "wrong", "missing"]),
)
def test_telegram_only_the_right_secret_stores_and_every_message_is_answered(
    app: FastAPI,
    client: TestClient,
    telegram_stub: TelegramStub,
    text: str,
    chat: int,
    secret: str,
) -> None:
    token = {"right": TG_SECRET, "wrong": TG_SECRET[:-1] + "!", "missing": None}[secret]
    update = telegram_text_update(text, user_id=chat)
    _settle(app)
    before = table_counts(_db(app))
    response = client.post(
        "/webhooks/telegram",
        content=json.dumps(update).encode(),
        headers=telegram_webhook_headers(token),
    )
    if secret != "right":
        assert response.status_code in (401, 403)
        assert changed(before, table_counts(_db(app))) == {}
        return
    assert response.status_code == 200 and response.json()["result"] == "accepted"
    if text.strip().startswith("/start"):
        return  # a command, not a message
    _kind(telegram_stub.wait_for_texts(to=chat, timeout=REPLY_WAIT))


@settings(max_examples=60)
@given(
    body=st.one_of(
        JUNK,
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        st.builds(
            lambda extra: json.dumps({"update_id": 7, **extra}).encode(),
            st.dictionaries(
                st.sampled_from(["message", "callback_query", "edited_message"]),
                JSON_VALUES,
                max_size=2,
            ),
        ),
    )
)
def test_telegram_junk_is_refused_or_ignored_never_half_stored(
    app: FastAPI, client: TestClient, body: bytes
) -> None:
    _settle(app)
    before = table_counts(_db(app))
    response = client.post(
        "/webhooks/telegram", content=body, headers=telegram_webhook_headers(TG_SECRET)
    )
    assert response.status_code < 500, response.text[:300]
    after = table_counts(_db(app))
    if response.status_code == 200 and response.json()["result"] == "accepted":
        assert changed(before, after).keys() <= {
            "inbound_events",
            "outbox",
            "conversations",
            "conversation_messages",
            "cases",
            "case_messages",
            "audit_events",
        }
    else:
        assert changed(before, after) == {}


# -- web chat ----------------------------------------------------------------------------------


@settings(max_examples=30)
@given(
    text=RESIDENT_TEXT,
    data=st.one_of(st.none(), st.text(max_size=80)),
    client_id=st.one_of(st.just("a-good-client-id"), st.text(max_size=70)),
)
def test_web_chat_posts_are_stored_whole_or_not_at_all_and_answered(
    app: FastAPI,
    client: TestClient,
    query: Callable[..., list[sqlite3.Row]],
    text: str,
    data: str | None,
    client_id: str,
) -> None:
    client.cookies.clear()
    client.get("/chat")  # a fresh session, greeted
    session = client.cookies.get("tsunagu_chat")
    ref = f"web:{session}"

    def bot_lines() -> int:
        return int(
            query("SELECT COUNT(*) FROM webchat_messages WHERE session = ? AND role = 'bot'", ref)[
                0
            ][0]
        )

    wait_for(
        lambda: query("SELECT 1 FROM outbox WHERE resident_ref = ? AND status = 'sent'", ref),
        what="greeting",
    )
    greeted = bot_lines()
    _settle(app)
    before = table_counts(_db(app))
    form = {
        "client_id": f"{client_id}-{session[:8]}" if client_id == "a-good-client-id" else client_id,
        "text": text,
    }
    if data is not None:
        form["data"] = data
    response = client.post("/chat/messages", data=form, headers={"Accept": "application/json"})
    assert response.status_code in (202, 400, 413, 422), response.text[:200]
    if response.status_code != 202:
        assert changed(before, table_counts(_db(app))) == {}
        return
    mine = query("SELECT COUNT(*) FROM inbound_events WHERE resident_ref = ?", ref)[0][0]
    assert mine == 2  # the greeting's start event and this one
    wait_for(lambda: bot_lines() > greeted, timeout=REPLY_WAIT, what="a reply")
    replies = query(
        "SELECT text FROM webchat_messages WHERE session = ? AND role = 'bot' ORDER BY id", ref
    )[greeted:]
    _kind([row["text"] for row in replies])


@settings(max_examples=40)
@given(
    body=JUNK,
    path=st.sampled_from(["/chat/messages", "/inbox/login"]),
    ctype=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "text/plain",
            "multipart/form-data",
        ]
    ),
)
def test_raw_junk_to_the_forms_is_never_a_5xx(
    app: FastAPI, client: TestClient, body: bytes, path: str, ctype: str
) -> None:
    client.get("/chat")
    _settle(app)
    before = table_counts(_db(app))
    response = client.post(path, content=body, headers={"Content-Type": ctype})
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.status_code != 303  # nobody got logged in
    after = changed(before, table_counts(_db(app)))
    assert after.keys() <= {"audit_events"}  # at most a failed login is audited


# -- the inbox ---------------------------------------------------------------------------------


@settings(max_examples=40)
@given(name=st.text(max_size=80), password=st.text(max_size=200))
def test_login_with_anything_is_refused_cleanly(
    app: FastAPI, client: TestClient, name: str, password: str
) -> None:
    page = client.get("/inbox/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/inbox/login",
        data={"name": name, "password": password, "csrf": token},
        follow_redirects=False,
    )
    # 429 once the address has failed too often (bot.security): refused all the same
    assert response.status_code in (401, 403, 422, 429), response.status_code
    assert table_counts(_db(app))["staff_sessions"] == 0


@settings(max_examples=40)
@given(
    action=st.sampled_from(["reply", "notes", "status", "assign"]),
    text=RESIDENT_TEXT,
    status=st.sampled_from(["claimed", "closed", "referred", "bogus", ""]),
)
def test_inbox_forms_take_anything_without_a_5xx_or_a_half_write(
    app: FastAPI, client: TestClient, action: str, text: str, status: str
) -> None:
    db = own_db(app)
    case = open_case(db, f"line:U{abs(hash(text)) % 10**12:012d}", "相談", "poverty")
    if "tsunagu_staff" not in client.cookies:
        login(client, "kanri")
    csrf = client.get("/inbox").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    form = {"csrf": csrf, "text": text, "status": status, "reason": text, "assignee": text}
    _settle(app)
    before = table_counts(_db(app))
    response = client.post(f"/inbox/cases/{case.id}/{action}", data=form, follow_redirects=False)
    assert response.status_code in (303, 409, 422), (action, response.status_code)
    moved = changed(before, table_counts(_db(app)))
    if response.status_code != 303:
        assert moved == {}
    elif action == "reply":  # the message, its copy, the outbox row and the audit, together
        assert set(moved) >= {"case_messages", "conversation_messages", "outbox", "audit_events"}
    elif action == "notes":
        assert set(moved) == {"case_notes", "audit_events"}


# -- the KB import -----------------------------------------------------------------------------


def _sheet(app: FastAPI) -> tuple[list[str], list[list[str]]]:
    from knowledge import KnowledgeStore
    from knowledge.csvio import export_csv

    data = export_csv(KnowledgeStore(own_db(app)))["services.csv"]
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    return rows[0], rows[1:]


def _kb_counts(app: FastAPI) -> dict[str, int]:
    counts = table_counts(_db(app))
    return {
        k: v
        for k, v in counts.items()
        if k in ("organizations", "services", "schedules", "example_concerns", "kb_meta")
    }


@settings(max_examples=30)
@given(
    junk=st.one_of(
        JUNK,
        st.lists(st.lists(st.text(max_size=30), max_size=6), max_size=5).map(
            lambda rows: "\n".join(",".join(r) for r in rows).encode()
        ),
    )
)
def test_import_junk_is_refused_with_nothing_written(
    app: FastAPI, client: TestClient, junk: bytes
) -> None:
    if "tsunagu_staff" not in client.cookies:
        login(client, "kanri")
    csrf = client.get("/inbox").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    before = _kb_counts(app)
    response = client.post(
        "/admin/import", data={"csrf": csrf}, files={"files": ("services.csv", junk, "text/csv")}
    )
    assert response.status_code in (200, 413, 422), response.status_code
    assert _kb_counts(app) == before  # a preview never writes


@settings(max_examples=25)
@given(
    description=RESIDENT_TEXT,
    column=st.sampled_from(["description", "name", "phone", "min_age", "languages"]),
)
def test_import_apply_writes_exactly_the_preview_or_nothing(
    app: FastAPI, client: TestClient, description: str, column: str
) -> None:
    if "tsunagu_staff" not in client.cookies:
        login(client, "kanri")
    csrf = client.get("/inbox").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    header, rows = _sheet(app)
    rows[0][header.index(column)] = description
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8-sig")
    before = _kb_counts(app)
    preview = client.post(
        "/admin/import", data={"csrf": csrf}, files={"files": ("services.csv", data, "text/csv")}
    )
    assert preview.status_code in (200, 422), preview.status_code
    if preview.status_code == 422:
        assert _kb_counts(app) == before
        return
    if 'name="token"' not in preview.text:
        return  # nothing would change
    token = preview.text.split('name="token" value="', 1)[1].split('"', 1)[0]
    applied = client.post("/admin/import/apply", data={"csrf": csrf, "token": token})
    assert applied.status_code in (200, 422), applied.status_code
    if applied.status_code == 422:
        assert _kb_counts(app) == before
        return
    assert "変更 1件" in applied.text or "変更 0件" in applied.text
    assert _kb_counts(app)["services"] == before["services"]
    assert _sheet(app)[1][1:] == rows[1:]  # every other service exactly as it was


@settings(max_examples=25)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_import_of_a_damaged_zip_is_refused_never_a_5xx(
    app: FastAPI, client: TestClient, flips: list[tuple[int, int]], cut: int | None
) -> None:
    """The export's own zip, damaged (flipped bytes, cut short): 422 or read, nothing written."""
    if "tsunagu_staff" not in client.cookies:
        login(client, "kanri")
    csrf = client.get("/inbox").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    if not hasattr(app.state, "export_zip"):
        app.state.export_zip = client.get("/admin/export.zip").content
    data = bytearray(app.state.export_zip)
    for where, bits in flips:
        data[where % len(data)] ^= bits
    if cut is not None:
        del data[cut % len(data) :]
    before = _kb_counts(app)
    response = client.post(
        "/admin/import",
        data={"csrf": csrf},
        files={"files": ("tsunagu-kb.zip", bytes(data), "application/zip")},
    )
    assert response.status_code in (200, 422), response.status_code
    assert _kb_counts(app) == before
