"""The staff inbox at ``/inbox``: login, the queue, the case page and its actions.

Server-rendered pages under the same strict CSP as the web chat (no inline
script or style); ``static/inbox.js`` only polls for new cases and new
resident messages. Every route needs a staff session (``CurrentStaff``):
pages redirect an anonymous visitor to the login form, the JSON/fragment
endpoints answer 401, a wrong role gets 403, and every POST must carry the
session's CSRF token (403 otherwise). Every view and every change of a case
is an audit event. Replies go out through the outbox on the resident's own
channel; internal notes never leave the inbox. Nothing here logs what a
resident or a staff member wrote.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import handoff
from handoff import staff as staff_mod
from handoff.staff import LoginError, StaffSession
from knowledge import CATEGORIES

from .deps import STAFF_COOKIE, AdminStaff, CurrentStaff, Forbidden, FrontDoorDep, LoginRequired
from .frontdoor import FrontDoor
from .messages import MAX_TEXT, MessageError, Outbound
from .outbox import enqueue
from .webchat import CSP

log = logging.getLogger(__name__)

LOGIN_CSRF_COOKIE = "tsunagu_login_csrf"
MAX_NOTE = 5000
PRIORITY_LABELS = {0: "危機", 1: "複合", 2: "その他"}
ROLE_LABELS = {"resident": "相談者", "bot": "つなぐ", "staff": "職員", "system": "システム"}
CHANNEL_LABELS = {"line": "LINE", "telegram": "Telegram", "web": "Webチャット"}

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/inbox", tags=["staff inbox"])


# -- helpers ------------------------------------------------------------------------------


def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def waiting_text(since: dt.datetime, now: dt.datetime) -> str:
    """「12分」「3時間5分」「2日4時間」: how long a case has waited."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}分"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}時間{minutes}分" if minutes else f"{hours}時間"
    days, hours = divmod(hours, 24)
    return f"{days}日{hours}時間" if hours else f"{days}日"


def short_ref(resident_ref: str) -> str:
    channel, _, rest = resident_ref.partition(":")
    return f"{CHANNEL_LABELS.get(channel, channel)} …{rest[-4:]}"


def _local(front_door: FrontDoor, when: dt.datetime) -> str:
    return when.astimezone(front_door.settings.tz).strftime("%Y-%m-%d %H:%M")


def _page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    session: StaffSession | None = None,
    status_code: int = 200,
) -> Response:
    base: dict[str, Any] = {
        "me": session.staff if session else None,
        "csrf": session.csrf if session else "",
        "priority_labels": PRIORITY_LABELS,
        "status_labels": handoff.STATUS_LABELS,
        "categories": CATEGORIES,
        "role_labels": ROLE_LABELS,
    }
    response = templates.TemplateResponse(
        request, name, {**base, **context}, status_code=status_code
    )
    return _harden(response)


def _can_act(session: StaffSession, case: handoff.Case) -> bool:
    """Admins act on any case; staff on the cases assigned to them."""
    return session.staff.is_admin or case.assignee == session.staff.name


def _case_or_404(front_door: FrontDoor, case_id: int) -> handoff.Case | None:
    try:
        return handoff.get_case(front_door.db, case_id)
    except handoff.CaseError:
        return None


def _not_found(request: Request, session: StaffSession) -> Response:
    return _page(request, "inbox/error.html", {"message": "その相談は見つかりません。"},
                 session=session, status_code=404)


def _back(request: Request, case_id: int) -> Response:
    url = request.url_for("inbox_case", case_id=case_id).path
    return RedirectResponse(url, status_code=303)


# -- errors: anonymous, wrong role, no CSRF -----------------------------------------------


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept


async def _login_required(request: Request, exc: Exception) -> Response:
    if _wants_html(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/inbox/login?next={quote(target, safe='')}", status_code=303)
    return _harden(JSONResponse({"error": "login required"}, status_code=401))


async def _forbidden(request: Request, exc: Exception) -> Response:
    reason = exc.reason if isinstance(exc, Forbidden) else "forbidden"
    if _wants_html(request):
        return _harden(HTMLResponse(
            '<!doctype html><meta charset="utf-8"><title>403</title>'
            "<p>この操作をする権限がありません。</p>", status_code=403))
    return _harden(JSONResponse({"error": reason}, status_code=403))


def install(app: FastAPI) -> None:
    """Add the inbox's routes and its 401/403 handlers to ``app``."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.include_router(router)


# -- login / logout -----------------------------------------------------------------------


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/inbox") and not value.startswith("//"):
        return value
    return "/inbox"


@router.get("/login", response_class=HTMLResponse, name="inbox_login")
async def login_page(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    """The login form; a double-submit cookie protects it (there is no session yet)."""
    token = secrets.token_urlsafe(24)
    response = _page(request, "inbox/login.html",
                     {"login_csrf": token, "next": _safe_next(next), "error": None})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/inbox")
    return response


@router.post("/login", name="inbox_login_post")
async def login_post(
    request: Request,
    front_door: FrontDoorDep,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/inbox",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf):
        raise Forbidden("CSRF token missing or wrong")
    now = front_door.now()
    try:
        member = staff_mod.authenticate(front_door.db, name, password, now=now)
    except LoginError as exc:
        token = secrets.token_urlsafe(24)
        response = _page(request, "inbox/login.html",
                         {"login_csrf": token, "next": _safe_next(next), "error": str(exc)},
                         status_code=401)
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/inbox")
        return response
    previous = request.cookies.get(STAFF_COOKIE, "")
    if previous:  # a new id at every login: whatever the browser held before stops working
        staff_mod.end_session(front_door.db, previous, now=now)
    session_token = staff_mod.start_session(front_door.db, member, now=now)
    log.info("inbox: staff %d logged in", member.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        STAFF_COOKIE, session_token, httponly=True, samesite="lax",
        secure=request.url.scheme == "https", path="/",
        max_age=int(staff_mod.SESSION_TTL.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/inbox")
    return response


@router.post("/logout", name="inbox_logout")
async def logout(request: Request, front_door: FrontDoorDep, session: CurrentStaff) -> Response:
    staff_mod.end_session(front_door.db, request.cookies.get(STAFF_COOKIE, ""),
                          now=front_door.now())
    response = RedirectResponse("/inbox/login", status_code=303)
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response


# -- the queue ---------------------------------------------------------------------------


def _queue_rows(
    front_door: FrontDoor, status: str | None, category: str | None, assignee: str | None
) -> list[dict[str, Any]]:
    now = front_door.now()
    rows = []
    for case in handoff.queue(front_door.db, status=status or None, category=category or None,
                              assignee=assignee):
        rows.append({
            "case": case,
            "who": short_ref(case.resident_ref),
            "waiting": waiting_text(case.opened_at, now),
            "opened": _local(front_door, case.opened_at),
            "labels": [CATEGORIES.get(c, c) for c in case.categories],
        })
    return rows


def _filters(
    status: str | None, category: str | None, assignee: str | None
) -> tuple[str | None, str | None, str | None]:
    status = status if status in handoff.STATUSES else None
    category = category if category in CATEGORIES else None
    return status, category, None if assignee in (None, "*") else assignee


@router.get("", response_class=HTMLResponse, name="inbox_queue")
async def queue_page(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    status: Annotated[str | None, Query(max_length=32)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Cases by priority (crisis > complex > other), then by how long they have waited."""
    status, category, assignee = _filters(status, category, assignee)
    return _page(request, "inbox/queue.html", {
        "rows": _queue_rows(front_door, status, category, assignee),
        "filter": {"status": status or "", "category": category or "",
                   "assignee": assignee if assignee is not None else "*"},
        "staff_names": [s.name for s in staff_mod.list_staff(front_door.db)],
        "query": request.url.query,
    }, session=session)


@router.get("/queue", response_class=HTMLResponse, name="inbox_queue_rows")
async def queue_rows(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    status: Annotated[str | None, Query(max_length=32)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The queue's rows only: what ``inbox.js`` fetches every few seconds."""
    status, category, assignee = _filters(status, category, assignee)
    return _page(request, "inbox/_rows.html",
                 {"rows": _queue_rows(front_door, status, category, assignee)}, session=session)


# -- the case page -----------------------------------------------------------------------


def _case_page(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    case: handoff.Case,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    db = front_door.db
    entries = handoff.transcript(db, case.id)
    messages = handoff.messages_since(db, case.id)
    note = handoff.build_summary(case, entries)
    trail = handoff.audit_trail(db, case.id)
    return _page(request, "inbox/case.html", {
        "case": case,
        "who": short_ref(case.resident_ref),
        "channel": CHANNEL_LABELS.get(case.channel, case.channel),
        "note": note,
        "messages": [{"m": m, "at": _local(front_door, m.at)} for m in messages],
        "last_id": messages[-1].id if messages else 0,
        "notes": [{"n": n, "at": _local(front_door, n.at)} for n in handoff.notes(db, case.id)],
        "trail": [{"e": e, "at": _local(front_door, e.at)} for e in trail],
        "next_statuses": handoff.TRANSITIONS.get(case.status, ()),
        "can_act": _can_act(session, case),
        "waiting": waiting_text(case.opened_at, front_door.now()),
        "opened": _local(front_door, case.opened_at),
        "staff_names": [s.name for s in staff_mod.list_staff(db)],
        "error": error,
        "max_text": MAX_TEXT,
    }, session=session, status_code=status_code)


@router.get("/cases/{case_id}", response_class=HTMLResponse, name="inbox_case")
async def case_page(
    request: Request, front_door: FrontDoorDep, session: CurrentStaff, case_id: int
) -> Response:
    """Summary note on top, then the transcript, reply box, notes, actions and audit trail."""
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _not_found(request, session)
    with front_door.db.atomic():
        handoff.audit(front_door.db, case.id, actor=session.staff.name, action="viewed",
                      from_value=None, to_value=None, at=front_door.now())
    return _case_page(request, front_door, session, case)


@router.get("/cases/{case_id}/messages", name="inbox_case_messages")
async def case_messages(
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    after: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Messages after ``after`` (the case page polls this while it is open)."""
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _harden(JSONResponse({"error": "no such case"}, status_code=404))
    body = {
        "status": case.status,
        "handled_by": case.handled_by,
        "messages": [
            {"id": m.id, "role": m.role, "who": ROLE_LABELS.get(m.role, m.role), "text": m.text,
             "at": _local(front_door, m.at)}
            for m in handoff.messages_since(front_door.db, case_id, after)
        ],
    }
    return _harden(JSONResponse(body))


async def _acting(
    request: Request, front_door: FrontDoor, session: StaffSession, case_id: int
) -> handoff.Case | Response:
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _not_found(request, session)
    if not _can_act(session, case):
        raise Forbidden("this case is assigned to someone else")
    return case


@router.post("/cases/{case_id}/claim", name="inbox_claim")
async def claim(
    request: Request, front_door: FrontDoorDep, session: CurrentStaff, case_id: int
) -> Response:
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _not_found(request, session)
    try:
        handoff.claim(front_door.db, case_id, actor=session.staff.name, at=front_door.now())
    except handoff.CaseError as exc:
        return _case_page(request, front_door, session, case, error=str(exc), status_code=409)
    return _back(request, case_id)


@router.post("/cases/{case_id}/assign", name="inbox_assign")
async def assign(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    case_id: int,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Admins give a case to a staff member (or take it off everyone)."""
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _not_found(request, session)
    names = {s.name for s in staff_mod.list_staff(front_door.db)}
    if assignee and assignee not in names:
        return _case_page(request, front_door, session, case,
                          error="その職員はいません。", status_code=422)
    handoff.assign(front_door.db, case_id, assignee or None, actor=session.staff.name,
                   at=front_door.now())
    return _back(request, case_id)


@router.post("/cases/{case_id}/reply", name="inbox_reply")
async def reply(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    text: Annotated[str, Form(max_length=MAX_TEXT * 2)] = "",
) -> Response:
    """Send a message to the resident on their own channel, through the outbox."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    case = found
    text = text.replace("\r\n", "\n").strip()
    try:
        message = Outbound(text)
    except MessageError:
        return _case_page(request, front_door, session, case, status_code=422,
                          error=f"返信は1〜{MAX_TEXT:,}文字で書いてください。")
    if not case.is_open:
        return _case_page(request, front_door, session, case, status_code=409,
                          error="終結した相談には返信できません。")
    db = front_door.db
    now = front_door.now()
    stamp = now.astimezone(dt.UTC).isoformat(timespec="microseconds")
    with db.atomic():
        if case.handled_by != "staff":
            handoff.take_over(db, case_id, actor=session.staff.name, at=now)
        message_id = handoff.append_message(db, case_id, "staff", text, at=now)
        # the conversation's own transcript, so a later consultation sees it too
        db.execute(
            "INSERT INTO conversation_messages (resident_ref, role, text, at)"
            " VALUES (?, 'staff', ?, ?)",
            [case.resident_ref, text, stamp],
        )
        outbox_id = enqueue(db, case.resident_ref, [message], now=now.timestamp())
        handoff.audit(db, case_id, actor=session.staff.name, action="reply", from_value=None,
                      to_value=str(message_id),
                      detail={"outbox_id": outbox_id, "chars": len(text)}, at=now)
    front_door.outbox.wake()
    log.info("inbox: case %d reply queued as outbox %s (%d chars)", case_id, outbox_id, len(text))
    return _back(request, case_id)


@router.post("/cases/{case_id}/notes", name="inbox_note")
async def add_note(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    text: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    """An internal note: kept on the case, never sent."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    try:
        handoff.add_note(front_door.db, case_id, text, author=session.staff.name,
                         at=front_door.now())
    except handoff.CaseError:
        return _case_page(request, front_door, session, found, status_code=422,
                          error="メモが空です。")
    return _back(request, case_id)


@router.post("/cases/{case_id}/status", name="inbox_status")
async def change_status(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    status: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Move the case along its lifecycle (declined needs a reason, closed an outcome)."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    try:
        handoff.change_status(front_door.db, case_id, status, actor=session.staff.name,
                              reason=reason, at=front_door.now())
    except handoff.CaseError as exc:
        return _case_page(request, front_door, session, found, error=str(exc), status_code=409)
    return _back(request, case_id)


@router.post("/cases/{case_id}/hand-back", name="inbox_hand_back")
async def hand_back(
    request: Request, front_door: FrontDoorDep, session: CurrentStaff, case_id: int
) -> Response:
    """Give the conversation back to the bot; the case stays open."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    try:
        handoff.hand_back(front_door.db, case_id, actor=session.staff.name, at=front_door.now())
    except handoff.CaseError as exc:
        return _case_page(request, front_door, session, found, error=str(exc), status_code=409)
    return _back(request, case_id)


# -- admin -------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse, name="inbox_audit")
async def audit_log(request: Request, front_door: FrontDoorDep, session: AdminStaff) -> Response:
    """The latest audit events of every case and login (admins only)."""
    rows = list(front_door.db.query(
        "SELECT id, case_id, actor, action, from_value, to_value, at FROM audit_events"
        " ORDER BY id DESC LIMIT 300"))
    events = [{**r, "at": _local(front_door, dt.datetime.fromisoformat(r["at"]))} for r in rows]
    return _page(request, "inbox/audit.html", {"events": events}, session=session)
