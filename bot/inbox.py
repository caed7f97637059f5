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

The case page also carries the casework of ``handoff``: referrals to KB
services with answer deadlines (overdue ones are flagged here and in the
queue), the support plan and 重層的支援会議 flag, follow-ups with the
resident's consent, team/area/labels and the corrected writer; a field error
comes back as the case page with a Japanese message and 422. The print view
(``/cases/N/print``) is the 共通アセスメントシート for paper.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

import handoff
from handoff import staff as staff_mod
from handoff.staff import LoginError, StaffSession
from knowledge import CATEGORIES, KnowledgeStore

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
    return _page(
        request,
        "inbox/error.html",
        {"message": "その相談は見つかりません。"},
        session=session,
        status_code=404,
    )


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
        return _harden(
            HTMLResponse(
                '<!doctype html><meta charset="utf-8"><title>403</title>'
                "<p>この操作をする権限がありません。</p>",
                status_code=403,
            )
        )
    return _harden(JSONResponse({"error": reason}, status_code=403))


def install(app: FastAPI) -> None:
    """Add the inbox's routes and its 401/403 handlers to ``app``."""
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.include_router(router)


# -- login / logout -----------------------------------------------------------------------


_SAFE_NEXT = re.compile(r"^/(?:inbox|admin)(?:[/?#][^\\\s\x00-\x1f\x7f]*)?$")


def _safe_next(value: str | None) -> str:
    """Where to go after login: a path of the inbox or the admin pages, nothing else.

    Refused: absolute URLs, scheme-relative ``//host``, backslashes (browsers read
    ``/\\host`` as ``//host``), control characters and look-alikes such as ``/inboxes``.
    """
    if value and _SAFE_NEXT.match(value) and "//" not in value and "/.." not in value:
        return value
    return "/inbox"


@router.get("/login", response_class=HTMLResponse, name="inbox_login")
async def login_page(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    """The login form; a double-submit cookie protects it (there is no session yet)."""
    return _login_form(request, next, None)


def _login_form(
    request: Request, next: str | None, error: str | None, *, status_code: int = 200
) -> Response:
    """The login page with a fresh double-submit token in its form and its cookie."""
    token = secrets.token_urlsafe(24)
    response = _page(
        request,
        "inbox/login.html",
        {"login_csrf": token, "next": _safe_next(next), "error": error},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/inbox",
    )
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
        return _login_form(request, next, str(exc), status_code=401)
    previous = request.cookies.get(STAFF_COOKIE, "")
    if previous:  # a new id at every login: whatever the browser held before stops working
        staff_mod.end_session(front_door.db, previous, now=now)
    session_token = staff_mod.start_session(front_door.db, member, now=now)
    log.info("inbox: staff %d logged in", member.id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        STAFF_COOKIE,
        session_token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=int(staff_mod.SESSION_TTL.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/inbox")
    return response


@router.post("/logout", name="inbox_logout")
async def logout(request: Request, front_door: FrontDoorDep, session: CurrentStaff) -> Response:
    staff_mod.end_session(
        front_door.db, request.cookies.get(STAFF_COOKIE, ""), now=front_door.now()
    )
    response = RedirectResponse("/inbox/login", status_code=303)
    response.delete_cookie(STAFF_COOKIE, path="/")
    return response


# -- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters as the page and its live rows read them from the query string."""

    status: str | None = None
    category: str | None = None
    assignee: str | None = None  # None: everyone, "": unassigned
    area: str | None = None
    team: str | None = None
    label: str | None = None
    attention: bool = False
    overdue: bool = False
    page: int = 1

    def form(self) -> dict[str, Any]:
        return {
            "status": self.status or "",
            "category": self.category or "",
            "assignee": self.assignee if self.assignee is not None else "*",
            "area": self.area or "",
            "team": self.team or "",
            "label": self.label or "",
            "attention": self.attention,
            "overdue": self.overdue,
        }


def _queue_filter(
    status: Annotated[str | None, Query(max_length=32)] = None,
    category: Annotated[str | None, Query(max_length=32)] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    area: Annotated[str | None, Query(max_length=handoff.MAX_TEAM_CHARS)] = None,
    team: Annotated[str | None, Query(max_length=handoff.MAX_TEAM_CHARS)] = None,
    label: Annotated[str | None, Query(max_length=handoff.MAX_LABEL_CHARS)] = None,
    attention: Annotated[str | None, Query(max_length=1)] = None,
    overdue: Annotated[str | None, Query(max_length=1)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> QueueFilter:
    return QueueFilter(
        status=status if status in handoff.STATUSES else None,
        category=category if category in CATEGORIES else None,
        assignee=None if assignee in (None, "*") else assignee,
        area=area or None,
        team=team or None,
        label=label or None,
        attention=attention == "1",
        overdue=overdue == "1",
        page=page,
    )


QueueFilterDep = Annotated[QueueFilter, Depends(_queue_filter)]


def _with_page(request: Request, page: int) -> str:
    """The current query string with another page number (the filters stay)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    return urlencode([*params, ("page", str(page))])


#: Cases per queue page: a screenful in priority order, then the next page.
QUEUE_PAGE = 100


def _queue_filters(f: QueueFilter, now: dt.datetime) -> dict[str, Any]:
    return {
        "status": f.status,
        "category": f.category,
        "assignee": f.assignee,
        "area": f.area,
        "team": f.team,
        "label": f.label,
        "attention": f.attention,
        "overdue_at": now if f.overdue else None,
    }


def _queue_rows(front_door: FrontDoor, f: QueueFilter) -> list[dict[str, Any]]:
    now = front_door.now()
    db = front_door.db
    overdue = handoff.overdue_counts(db, now)
    rows = []
    for case in handoff.queue(
        db, limit=QUEUE_PAGE, offset=(f.page - 1) * QUEUE_PAGE, **_queue_filters(f, now)
    ):
        rows.append(
            {
                "case": case,
                "who": short_ref(case.resident_ref),
                "waiting": waiting_text(case.opened_at, now),
                "opened": _local(front_door, case.opened_at),
                "labels": [CATEGORIES.get(c, c) for c in case.categories],
                "overdue": overdue.get(case.id, 0),
                "attention": handoff.ATTENTION_LABELS.get(case.attention or "", case.attention),
            }
        )
    return rows


def _choices(front_door: FrontDoor) -> dict[str, list[str]]:
    """Areas (the KB's 圏域 plus those already on cases), teams and labels in use."""
    db = front_door.db
    kb_areas = [
        r["area"]
        for r in db.query(
            "SELECT DISTINCT area FROM services WHERE area NOT IN ('', '市内全域', '全国')"
            " ORDER BY area"
        )
    ]
    used = list(db.query("SELECT DISTINCT area, team FROM cases"))
    areas = sorted({*kb_areas, *(r["area"] for r in used if r["area"])})
    teams = sorted({r["team"] for r in used if r["team"]})
    labels = sorted(
        {
            r["value"]
            for r in db.query("SELECT DISTINCT j.value FROM cases, json_each(cases.labels) AS j")
        }
    )
    return {"areas": areas, "teams": teams, "labels": labels}


@router.get("", response_class=HTMLResponse, name="inbox_queue")
async def queue_page(
    request: Request, front_door: FrontDoorDep, session: CurrentStaff, f: QueueFilterDep
) -> Response:
    """Cases by priority (crisis > complex > other), then by how long they have waited."""
    total = handoff.queue_total(front_door.db, **_queue_filters(f, front_door.now()))
    pages = max(1, -(-total // QUEUE_PAGE))
    return _page(
        request,
        "inbox/queue.html",
        {
            "rows": _queue_rows(front_door, f),
            "total": total,
            "page": f.page,
            "pages": pages,
            "page_size": QUEUE_PAGE,
            "prev_query": _with_page(request, f.page - 1),
            "next_query": _with_page(request, f.page + 1),
            "filter": f.form(),
            "staff_names": [s.name for s in staff_mod.list_staff(front_door.db)],
            "choices": _choices(front_door),
            "query": request.url.query,
        },
        session=session,
    )


@router.get("/queue", response_class=HTMLResponse, name="inbox_queue_rows")
async def queue_rows(
    request: Request, front_door: FrontDoorDep, session: CurrentStaff, f: QueueFilterDep
) -> Response:
    """The queue's rows only: what ``inbox.js`` fetches every few seconds."""
    return _page(request, "inbox/_rows.html", {"rows": _queue_rows(front_door, f)}, session=session)


# -- the case page -----------------------------------------------------------------------


_WEEKDAYS = "月火水木金土日"


def _date_text(day: dt.date) -> str:
    return f"{day.month}月{day.day}日（{_WEEKDAYS[day.weekday()]}）"


def _deadline_text(front_door: FrontDoor, due: dt.datetime) -> str:
    """「6月5日（木）まで」: a deadline at 24:00 shown as the day it ends."""
    local = due.astimezone(front_door.settings.tz)
    if local.time() == dt.time():
        return f"{_date_text(local.date() - dt.timedelta(days=1))}まで"
    return f"{_date_text(local.date())}{local:%H:%M}まで"


def _search_services(store: KnowledgeStore, q: str, *, limit: int = 20) -> list[dict[str, Any]]:
    """Active KB services whose name, organization, description, fields or area hold every
    word of ``q`` (NFKC, case-insensitive)."""
    words = unicodedata.normalize("NFKC", q).lower().split()
    if not words:
        return []
    orgs = {o.id: o.name for o in store.organizations()}
    found = []
    for service in store.services():
        org = orgs.get(service.organization_id, "")
        hay = unicodedata.normalize(
            "NFKC",
            " ".join(
                [
                    service.name,
                    org,
                    service.description,
                    service.area,
                    *(CATEGORIES.get(c, c) for c in service.categories),
                ]
            ),
        ).lower()
        if all(w in hay for w in words):
            found.append(
                {
                    "id": service.id,
                    "name": service.name,
                    "organization": org,
                    "hours": service.hours_text(),
                }
            )
        if len(found) >= limit:
            break
    return found


def _casework(front_door: FrontDoor, case: handoff.Case) -> dict[str, Any]:
    """Referrals, plan, follow-ups and tags as the case page and the print view show them."""
    db = front_door.db
    now = front_door.now()
    today = now.astimezone(front_door.settings.tz).date()
    refs = handoff.list_referrals(db, case.id)
    plan = handoff.get_plan(db, case.id)
    follow_ups = handoff.follow_ups(db, case.id)
    return {
        "referrals": [
            {
                "r": r,
                "due": _deadline_text(front_door, r.due_at),
                "overdue": r.overdue(now),
                "next": handoff.REFERRAL_TRANSITIONS[r.status],
                "at": _local(front_door, r.created_at),
            }
            for r in refs
        ],
        "overdue_count": sum(1 for r in refs if r.overdue(now)),
        "referral_labels": handoff.REFERRAL_LABELS,
        "plan": plan,
        "plan_review": _date_text(plan.next_review) if plan and plan.next_review else None,
        "plan_review_due": plan.review_due(today) if plan else False,
        "follow_ups": [
            {
                "f": f,
                "due": _local(front_door, f.due_at),
                "done": _local(front_door, f.done_at) if f.done_at else None,
            }
            for f in follow_ups
        ],
        "follow_up_blocker": handoff.why_no_follow_up(case),
        "attention_label": handoff.ATTENTION_LABELS.get(case.attention or "", case.attention),
        "attention_at": _local(front_door, case.attention_at) if case.attention_at else None,
    }


def _case_page(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    case: handoff.Case,
    *,
    error: str | None = None,
    status_code: int = 200,
    q: str = "",
) -> Response:
    db = front_door.db
    now = front_door.now()
    settings = front_door.settings
    entries = handoff.transcript(db, case.id)
    messages = handoff.messages_since(db, case.id)
    note = handoff.build_summary(case, entries)
    trail = handoff.audit_trail(db, case.id)
    store = KnowledgeStore(db)
    referred = {r.service_id for r in handoff.list_referrals(db, case.id)}
    suggested = [
        {
            "id": s.service_id,
            "name": s.name,
            "organization": s.organization,
            "reason": s.reason,
            "hours": s.hours,
        }
        for s in case.assessment.services[:8]
    ]
    default_due = handoff.deadline(now, settings.referral_deadline_business_days, settings.tz)
    return _page(
        request,
        "inbox/case.html",
        {
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
            "waiting": waiting_text(case.opened_at, now),
            "opened": _local(front_door, case.opened_at),
            "staff_names": [s.name for s in staff_mod.list_staff(db)],
            "error": error,
            "max_text": MAX_TEXT,
            **_casework(front_door, case),
            "referred_ids": referred,
            "suggested": suggested,
            "q": q,
            "search_results": _search_services(store, q) if q else [],
            "default_due": _deadline_text(front_door, default_due),
            "business_days": settings.referral_deadline_business_days,
            "organizations": store.organizations(),
            "writers": handoff.WRITERS,
            "consent_sources": handoff.CONSENT_SOURCES,
            "choices": _choices(front_door),
            "today": now.astimezone(settings.tz).date().isoformat(),
            "min_follow_up": (now + dt.timedelta(minutes=5))
            .astimezone(settings.tz)
            .strftime("%Y-%m-%dT%H:%M"),
        },
        session=session,
        status_code=status_code,
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse, name="inbox_case")
async def case_page(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """Summary note on top, then referrals, plan, follow-ups, the transcript, reply box,
    notes, actions and audit trail. ``q`` searches the KB for services to refer to."""
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _not_found(request, session)
    with front_door.db.atomic():
        handoff.audit(
            front_door.db,
            case.id,
            actor=session.staff.name,
            action="viewed",
            from_value=None,
            to_value=None,
            at=front_door.now(),
        )
    return _case_page(request, front_door, session, case, q=q.strip())


@router.get("/cases/{case_id}/print", response_class=HTMLResponse, name="inbox_case_print")
async def case_print(
    request: Request, front_door: FrontDoorDep, session: CurrentStaff, case_id: int
) -> Response:
    """The summary note (共通アセスメントシート) with referrals, plan and the transcript, for
    paper: no controls, print CSS. Printing is a view of the case, so it is audited."""
    case = _case_or_404(front_door, case_id)
    if case is None:
        return _not_found(request, session)
    now = front_door.now()
    with front_door.db.atomic():
        handoff.audit(
            front_door.db,
            case.id,
            actor=session.staff.name,
            action="printed",
            from_value=None,
            to_value=None,
            at=now,
        )
    db = front_door.db
    messages = handoff.messages_since(db, case.id)
    return _page(
        request,
        "inbox/print.html",
        {
            "case": case,
            "who": short_ref(case.resident_ref),
            "channel": CHANNEL_LABELS.get(case.channel, case.channel),
            "note": handoff.build_summary(case, handoff.transcript(db, case.id)),
            "messages": [{"m": m, "at": _local(front_door, m.at)} for m in messages],
            "opened": _local(front_door, case.opened_at),
            "printed": _local(front_door, now),
            **_casework(front_door, case),
        },
        session=session,
    )


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
            {
                "id": m.id,
                "role": m.role,
                "who": ROLE_LABELS.get(m.role, m.role),
                "text": m.text,
                "at": _local(front_door, m.at),
            }
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
        return _case_page(
            request, front_door, session, case, error="その職員はいません。", status_code=422
        )
    handoff.assign(
        front_door.db, case_id, assignee or None, actor=session.staff.name, at=front_door.now()
    )
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
        return _case_page(
            request,
            front_door,
            session,
            case,
            status_code=422,
            error=f"返信は1〜{MAX_TEXT:,}文字で書いてください。",
        )
    if not case.is_open:
        return _case_page(
            request,
            front_door,
            session,
            case,
            status_code=409,
            error="終結した相談には返信できません。",
        )
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
        handoff.audit(
            db,
            case_id,
            actor=session.staff.name,
            action="reply",
            from_value=None,
            to_value=str(message_id),
            detail={"outbox_id": outbox_id, "chars": len(text)},
            at=now,
        )
        handoff.clear_attention(db, case_id, actor=session.staff.name, at=now)
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
        handoff.add_note(
            front_door.db, case_id, text, author=session.staff.name, at=front_door.now()
        )
    except handoff.CaseError:
        return _case_page(
            request, front_door, session, found, status_code=422, error="メモが空です。"
        )
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
    now = front_door.now()
    try:
        with front_door.db.atomic():
            handoff.change_status(
                front_door.db, case_id, status, actor=session.staff.name, reason=reason, at=now
            )
            handoff.clear_attention(front_door.db, case_id, actor=session.staff.name, at=now)
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


# -- casework: referrals, plan and 重層的支援会議, follow-ups, tags, writer -----------------


MAX_PICKED = 20


def _refused(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    case_id: int,
    action: str,
    message: str,
) -> Response:
    """A field error: the case page again with the reason in Japanese (422), and a log line
    that names the case and the action but nothing anyone wrote."""
    log.info("inbox: case %d: %s refused", case_id, action)
    case = handoff.get_case(front_door.db, case_id)
    return _case_page(request, front_door, session, case, error=message, status_code=422)


def _local_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


@router.post("/cases/{case_id}/referrals", name="inbox_refer")
async def refer(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    service_id: Annotated[list[str] | None, Form(max_length=64)] = None,
    due_date: Annotated[str, Form(max_length=10)] = "",
    consent_confirmed: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Refer the case to the services ticked (suggested or found in the KB)."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    picked = service_id or []
    if len(picked) > MAX_PICKED:
        return _refused(
            request,
            front_door,
            session,
            case_id,
            "referral",
            f"一度につなげる窓口は{MAX_PICKED}までです。",
        )
    settings = front_door.settings
    now = front_door.now()
    if due_date.strip():
        day = _local_date(due_date)
        if day is None:
            return _refused(
                request,
                front_door,
                session,
                case_id,
                "referral",
                "回答期限の日付が正しくありません。",
            )
        due = handoff.end_of_day(day, settings.tz)
    else:
        due = handoff.deadline(now, settings.referral_deadline_business_days, settings.tz)
    try:
        made = handoff.refer(
            front_door.db,
            case_id,
            picked,
            actor=session.staff.name,
            now=now,
            due_at=due,
            consent_confirmed=consent_confirmed == "1",
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "referral", str(exc))
    log.info("inbox: case %d referred to %d services", case_id, len(made))
    return _back(request, case_id)


@router.post("/cases/{case_id}/referrals/{referral_id}", name="inbox_referral_answer")
async def referral_answer(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    referral_id: int,
    status: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record a service's answer: accepted, declined (with its reason) or no response."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    if not any(r.id == referral_id for r in handoff.list_referrals(front_door.db, case_id)):
        return _not_found(request, session)
    try:
        handoff.respond(
            front_door.db,
            referral_id,
            status,
            actor=session.staff.name,
            now=front_door.now(),
            reason=reason,
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "referral answer", str(exc))
    return _back(request, case_id)


@router.post("/cases/{case_id}/plan", name="inbox_plan")
async def save_plan(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    goals: Annotated[str, Form(max_length=4000)] = "",
    agency: Annotated[list[str] | None, Form(max_length=64)] = None,
    next_review: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Create or change the support plan: goals (one a line), agencies, next review."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    review: dt.date | None = None
    if next_review.strip():
        review = _local_date(next_review)
        if review is None:
            return _refused(
                request,
                front_door,
                session,
                case_id,
                "plan",
                "次回見直し日の日付が正しくありません。",
            )
    now = front_door.now()
    try:
        handoff.save_plan(
            front_door.db,
            case_id,
            goals=handoff.parse_goals(goals),
            agency_ids=agency or [],
            next_review=review,
            actor=session.staff.name,
            now=now,
            today=now.astimezone(front_door.settings.tz).date(),
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "plan", str(exc))
    return _back(request, case_id)


@router.post("/cases/{case_id}/meeting", name="inbox_meeting")
async def meeting(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    flagged: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Flag the case for the 重層的支援会議 (``flagged=1``) or take the flag off."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    handoff.set_meeting(
        front_door.db, case_id, flagged == "1", actor=session.staff.name, now=front_door.now()
    )
    return _back(request, case_id)


def _local_datetime(value: str, front_door: FrontDoor) -> dt.datetime | None:
    """A ``datetime-local`` field (office time) as an aware datetime."""
    try:
        naive = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return None
    return naive.replace(tzinfo=front_door.settings.tz)


@router.post("/cases/{case_id}/follow-ups", name="inbox_follow_up")
async def schedule_follow_up(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    due: Annotated[str, Form(max_length=32)] = "",
    message: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Schedule a check-in (見守り); it goes out when due, only with the resident's consent."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    when = _local_datetime(due, front_door)
    if when is None:
        return _refused(
            request, front_door, session, case_id, "follow-up", "見守りの日時を入れてください。"
        )
    try:
        handoff.schedule_follow_up(
            front_door.db, case_id, when, message, actor=session.staff.name, now=front_door.now()
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "follow-up", str(exc))
    return _back(request, case_id)


@router.post("/cases/{case_id}/follow-ups/{follow_up_id}/cancel", name="inbox_follow_up_cancel")
async def cancel_follow_up(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    follow_up_id: int,
) -> Response:
    """Call off a follow-up that has not gone out."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    if not any(f.id == follow_up_id for f in handoff.follow_ups(front_door.db, case_id)):
        return _not_found(request, session)
    try:
        handoff.cancel_follow_up(
            front_door.db, follow_up_id, actor=session.staff.name, now=front_door.now()
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "follow-up cancel", str(exc))
    return _back(request, case_id)


_CONSENT_VALUES: dict[str, bool | None] = {"yes": True, "no": False, "unknown": None}


@router.post("/cases/{case_id}/consent", name="inbox_consent")
async def follow_up_consent(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    follow_up: Annotated[str, Form(max_length=10)] = "",
    source: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Record the resident's own answer about follow-up messages, and how it was given."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    if follow_up not in _CONSENT_VALUES:
        return _refused(
            request,
            front_door,
            session,
            case_id,
            "consent",
            "見守りの連絡への同意を選んでください。",
        )
    try:
        handoff.set_follow_up_consent(
            front_door.db,
            case_id,
            _CONSENT_VALUES[follow_up],
            source=source,
            actor=session.staff.name,
            at=front_door.now(),
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "consent", str(exc))
    return _back(request, case_id)


@router.post("/cases/{case_id}/tags", name="inbox_tags")
async def tags(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    team: Annotated[str, Form(max_length=200)] = "",
    area: Annotated[str, Form(max_length=200)] = "",
    labels: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Team, area (圏域・地区) and labels of the case; each change audited."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    now = front_door.now()
    try:
        parsed = handoff.parse_labels(labels)
        with front_door.db.atomic():
            handoff.set_team_area(
                front_door.db, case_id, team=team, area=area, actor=session.staff.name, at=now
            )
            handoff.set_labels(front_door.db, case_id, parsed, actor=session.staff.name, at=now)
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "tags", str(exc))
    return _back(request, case_id)


@router.post("/cases/{case_id}/writer", name="inbox_writer")
async def writer(
    request: Request,
    front_door: FrontDoorDep,
    session: CurrentStaff,
    case_id: int,
    writer: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Correct who is writing (本人/家族/近隣/関係者); empty goes back to the inference."""
    found = await _acting(request, front_door, session, case_id)
    if isinstance(found, Response):
        return found
    try:
        handoff.set_writer(
            front_door.db, case_id, writer or None, actor=session.staff.name, at=front_door.now()
        )
    except handoff.CaseError as exc:
        return _refused(request, front_door, session, case_id, "writer", str(exc))
    return _back(request, case_id)


# -- admin -------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse, name="inbox_audit")
async def audit_log(request: Request, front_door: FrontDoorDep, session: AdminStaff) -> Response:
    """The latest audit events of every case and login (admins only)."""
    rows = list(
        front_door.db.query(
            "SELECT id, case_id, actor, action, from_value, to_value, at FROM audit_events"
            " ORDER BY id DESC LIMIT 300"
        )
    )
    events = [{**r, "at": _local(front_door, dt.datetime.fromisoformat(r["at"]))} for r in rows]
    return _page(request, "inbox/audit.html", {"events": events}, session=session)
