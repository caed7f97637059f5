"""The web chat: an anonymous consultation page at ``/chat``.

Same engine and rules as LINE and Telegram: the page posts what the
resident types (or the button pressed) as an inbound event and fetches the
replies the outbox delivered. The "sender" of this channel just stores the
replies for the page. The page works without JavaScript (forms and a
reload); with the small script in ``static/chat.js`` it updates itself.
No inline script or style, so a strict CSP holds.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import sqlite_utils
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from .channels import ReplyToken
from .deps import FrontDoorDep
from .messages import MAX_INBOUND_TEXT, Inbound, MessageError, Outbound

log = logging.getLogger(__name__)

COOKIE = "tsunagu_chat"
COOKIE_MAX_AGE = 7 * 24 * 3600
_SESSION = re.compile(r"^[0-9a-f]{32}$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/chat", tags=["web chat"])


class WebChatSender:
    """The web channel's sender: store the batch for the page, once per retry_key."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    async def send(
        self,
        resident_ref: str,
        messages: Sequence[Outbound],
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None:
        now = time.time()
        with self.db.atomic():
            for seq, message in enumerate(messages):
                self.db.execute(
                    "INSERT OR IGNORE INTO webchat_messages (session, role, text, choices,"
                    " retry_key, seq, at) VALUES (?, 'bot', ?, ?, ?, ?, ?)",
                    [
                        resident_ref,
                        message.text,
                        json.dumps(
                            [[c.label, c.data] for c in message.choices], ensure_ascii=False
                        ),
                        retry_key,
                        seq,
                        now,
                    ],
                )


def _ref(session: str) -> str:
    return f"web:{session}"


def _session(request: Request) -> str | None:
    value = request.cookies.get(COOKIE, "")
    return value if _SESSION.match(value) else None


def _messages(db: sqlite_utils.Database, session: str, after: int) -> list[dict[str, Any]]:
    return [
        {
            "id": row["id"],
            "role": row["role"],
            "text": row["text"],
            "choices": [
                {"label": label, "data": data} for label, data in json.loads(row["choices"])
            ],
        }
        for row in db.query(
            "SELECT id, role, text, choices FROM webchat_messages WHERE session = ? AND id > ?"
            " ORDER BY id LIMIT 200",
            [_ref(session), after],
        )
    ]


def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _new_id() -> str:
    return secrets.token_hex(16)


@router.get("", response_class=HTMLResponse, name="chat_page")
async def chat_page(request: Request, front_door: FrontDoorDep) -> Response:
    """The chat page; a new visitor gets an anonymous session and the greeting."""
    session = _session(request)
    fresh = session is None
    if session is None:
        session = _new_id()
    messages = _messages(front_door.db, session, 0)
    if not messages:
        # the greeting comes from the engine like every other reply
        front_door.intake.accept(
            Inbound(resident_ref=_ref(session), kind="start", channel_event_id=f"{session}:start")
        )
    last_bot = next((m for m in reversed(messages) if m["role"] == "bot"), None)
    choices = last_bot["choices"] if last_bot and last_bot is messages[-1] else []
    response = templates.TemplateResponse(
        request,
        "chat.html",
        {
            "messages": messages,
            "choices": [{**c, "client_id": _new_id()} for c in choices],
            "client_id": _new_id(),
            "last_id": messages[-1]["id"] if messages else 0,
            "max_chars": MAX_INBOUND_TEXT,
        },
    )
    if fresh:
        response.set_cookie(
            COOKIE,
            session,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return _harden(response)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return _harden(HTMLResponse(f'<!doctype html><meta charset="utf-8"><p>{message}</p>', status))


def _label_for(db: sqlite_utils.Database, session: str, data: str) -> str:
    """The button's text, to show the resident what they pressed."""
    for row in db.query(
        "SELECT choices FROM webchat_messages WHERE session = ? AND role = 'bot'"
        " ORDER BY id DESC LIMIT 5",
        [_ref(session)],
    ):
        for label, value in json.loads(row["choices"]):
            if value == data:
                return str(label)
    return "（ボタン）"


@router.post("/messages", name="chat_post")
async def chat_post(
    request: Request,
    front_door: FrontDoorDep,
    client_id: Annotated[str, Form(max_length=64)],
    text: Annotated[str | None, Form()] = None,
    data: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """One message or button press. Stored before we answer; repeats are ignored."""
    session = _session(request)
    if session is None:
        return _error(request, 400, "チャットの画面（/chat）を開いてから送ってください。")
    if not _CLIENT_ID.match(client_id):
        return _error(request, 422, "client_id must be 8–64 characters of A–Z, a–z, 0–9, _ or -")
    if text is not None and len(text) > MAX_INBOUND_TEXT:
        return _error(
            request,
            413,
            f"メッセージが長すぎます（{MAX_INBOUND_TEXT:,}文字まで）。分けて送ってください。",
        )
    db = front_door.db
    if data:
        event = Inbound(
            resident_ref=_ref(session),
            kind="postback",
            data=data,
            channel_event_id=f"{session}:{client_id}",
        )
        shown = _label_for(db, session, data)
    else:
        event = Inbound(
            resident_ref=_ref(session),
            kind="text",
            text=text or "",
            channel_event_id=f"{session}:{client_id}",
        )
        shown = (text or "").replace("\x00", "")

    def keep_line(row_id: int) -> None:
        db.execute(
            "INSERT INTO webchat_messages (session, role, text, at) VALUES (?, 'resident', ?, ?)",
            [_ref(session), shown or "（空のメッセージ）", time.time()],
        )

    try:
        accepted = front_door.intake.accept(event, also=keep_line)
    except MessageError as exc:
        return _error(request, 422, str(exc))
    if _wants_json(request):
        return JSONResponse({"accepted": True, "duplicate": not accepted}, status_code=202)
    return RedirectResponse(request.url_for("chat_page"), status_code=303)


@router.get("/messages", name="chat_messages")
async def chat_messages(
    request: Request,
    front_door: FrontDoorDep,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Messages of this session after ``after`` (the page polls this)."""
    session = _session(request)
    if session is None:
        return JSONResponse({"error": "no chat session; open /chat first"}, status_code=400)
    response = JSONResponse({"messages": _messages(front_door.db, session, after)})
    response.headers["Cache-Control"] = "no-store"
    return response
