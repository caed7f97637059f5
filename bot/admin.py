"""The admin pages at ``/admin``: keep the knowledge base true, try triage, see the numbers.

Every route needs an admin session (``AdminStaff`` from ``bot.deps``: an
anonymous visitor is sent to the inbox login, a staff member gets 403, a
POST without the session's CSRF token gets 403). Pages are server-rendered
under the web chat's strict CSP: no inline script or style, charts are
inline SVG built here.

Every change to the KB is written with an audit event (before/after) in
one transaction, and then the triage index is refreshed in the triage
executor, so the bot routes by the new KB at once (only changed concerns
are re-embedded).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import re
import secrets
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol, runtime_checkable

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from pydantic_core import to_jsonable_python

import handoff
from handoff import reports as report_queries
from handoff.staff import StaffSession
from knowledge import (
    CATEGORIES,
    CRISIS_TYPES,
    KnowledgeStore,
    LoadError,
    LoadProblem,
    NotFound,
    Organization,
    OrganizationRetired,
    Service,
    export_yaml,
    ja_message,
    read_bundle,
)
from knowledge.csvio import export_csv, preview
from knowledge.models import WEEKDAYS, WEEKDAYS_JA, ExampleConcern, Schedule
from triage.assessment import Assessment

from . import charts
from .deps import AdminStaff, Forbidden, FrontDoorDep, LoginRequired
from .frontdoor import FrontDoor
from .webchat import CSP

log = logging.getLogger(__name__)

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/admin", tags=["admin"])

KIND_LABELS = {"agency": "窓口", "hotline": "電話相談", "place": "居場所", "program": "事業"}
STATUS_LABELS = {"active": "公開中", "inactive": "休止中", "retired": "廃止"}
ORG_STATUS_LABELS = {"active": "活動中", "retired": "廃止"}
ORG_RETIRED = (
    "このサービスの組織は廃止されています。"
    "先に組織を元に戻してください（廃止のままなら保存できます）"
)
IMPORT_TTL = 30 * 60
MAX_UPLOAD = 5 * 1024 * 1024

# -- what the admin needs from triage ---------------------------------------------------


@runtime_checkable
class Refreshable(Protocol):
    def refresh(self) -> object: ...


def _triage(front_door: FrontDoor) -> Any:
    return front_door.conversation.triage


async def refresh_triage(front_door: FrontDoor) -> None:
    """Bring the index up to the KB now, in the triage thread (only changes re-embed)."""
    engine = _triage(front_door)
    if isinstance(engine, Refreshable):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(front_door.executor, engine.refresh)


async def try_assess(front_door: FrontDoor, text: str) -> Assessment:
    engine = _triage(front_door)
    loop = asyncio.get_running_loop()
    result: Assessment = await loop.run_in_executor(front_door.executor, engine.assess, text)
    return result


# -- helpers ----------------------------------------------------------------------------


def _store(front_door: FrontDoor) -> KnowledgeStore:
    return KnowledgeStore(front_door.db)


def _today(front_door: FrontDoor) -> dt.date:
    return front_door.now().astimezone(front_door.settings.tz).date()


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` earlier (clamped to the month's last day)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    month = m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(y, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def stale_cutoff(front_door: FrontDoor) -> dt.date:
    return months_before(_today(front_door), front_door.settings.kb_stale_months)


def is_stale(service: Service, cutoff: dt.date) -> bool:
    return service.status == "active" and (
        service.assured_date is None or service.assured_date < cutoff
    )


def _harden(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _page(
    request: Request,
    name: str,
    session: StaffSession,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> Response:
    base = {
        "me": session.staff,
        "csrf": session.csrf,
        "categories": CATEGORIES,
        "crisis_types": CRISIS_TYPES,
        "kind_labels": KIND_LABELS,
        "status_labels": STATUS_LABELS,
        "org_status_labels": ORG_STATUS_LABELS,
        "flash": request.query_params.get("done", ""),
    }
    return _harden(
        templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)
    )


@dataclass(frozen=True)
class Change:
    """One audited change to the KB: what was done, the record before and after, to what."""

    action: str
    before: Any
    after: Any
    detail: dict[str, Any] = field(default_factory=dict)


def _dump(value: Any) -> str | None:
    """A record (models nested in dicts too) as the audit log's JSON."""
    if value is None:
        return None
    return json.dumps(to_jsonable_python(value), ensure_ascii=False, sort_keys=True)


async def commit(
    front_door: FrontDoor, session: StaffSession, write: Callable[[], list[Change]]
) -> list[Change]:
    """Run ``write`` and audit the changes it reports in one transaction, then refresh triage.

    Every admin change goes through here, so none can be written without its
    audit event (before/after, as JSON) and the bot routes by it at once.
    """
    with front_door.db.atomic():
        changes = write()
        for c in changes:
            handoff.audit(
                front_door.db,
                None,
                actor=session.staff.name,
                action=c.action,
                from_value=_dump(c.before),
                to_value=_dump(c.after),
                detail=c.detail,
                at=front_door.now(),
            )
    if changes:
        await refresh_triage(front_door)
        log.info(
            "admin: %s by staff %d (%d records)", changes[0].action, session.staff.id, len(changes)
        )
    return changes


def _done(request: Request, route: str, done: str, **params: str) -> Response:
    """After a change, back to the record's page with a flash (POST-redirect-GET)."""
    return RedirectResponse(f"{request.url_for(route, **params).path}?done={done}", status_code=303)


class Missing(Exception):
    """A record named in the URL that does not exist (rendered as a 404 admin page)."""

    def __init__(self, session: StaffSession, message: str) -> None:
        super().__init__(message)
        self.session = session
        self.message = message


async def _service_in_path(
    front_door: FrontDoorDep, session: AdminStaff, service_id: str
) -> Service:
    try:
        return _store(front_door).service(service_id)
    except NotFound:
        raise Missing(session, "そのサービスは見つかりません。") from None


async def _organization_in_path(
    front_door: FrontDoorDep, session: AdminStaff, org_id: str
) -> Organization:
    try:
        return _store(front_door).organization(org_id)
    except NotFound:
        raise Missing(session, "その組織は見つかりません。") from None


#: the service / organization the path names (after the admin check), else a 404 page;
#: ``async`` like every dependency here, so the database is read on the event loop's thread
ServiceInPath = Annotated[Service, Depends(_service_in_path)]
OrganizationInPath = Annotated[Organization, Depends(_organization_in_path)]


def _message(request: Request, session: StaffSession, message: str, status_code: int) -> Response:
    return _page(
        request, "admin/message.html", session, {"message": message}, status_code=status_code
    )


async def _missing(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Missing)
    return _message(request, exc.session, exc.message, 404)


# -- the service form: text fields in, a Service or field errors out ---------------------

_DAY_JA = dict(zip(WEEKDAYS_JA, WEEKDAYS, strict=True))
_RANGE = re.compile(r"^(.+?)\s+(\d{1,2}:\d{2})\s*[-–〜~]\s*(\d{1,2}:\d{2})$")
_TAG = re.compile(r"^(.*?)\s*\[([a-z_]+)\]$")


def schedule_text(service: Service) -> str:
    """One line per schedule, in the form the parser reads back (「月〜金 08:30-17:15」)."""
    lines = []
    for s in service.schedule:
        idx = sorted(WEEKDAYS.index(d) for d in s.days)
        if len(idx) > 2 and idx == list(range(idx[0], idx[-1] + 1)):
            days = f"{WEEKDAYS_JA[idx[0]]}〜{WEEKDAYS_JA[idx[-1]]}"
        else:
            days = "・".join(WEEKDAYS_JA[i] for i in idx)
        lines.append(f"{days} {s.opens}-{s.closes}")
    return "\n".join(lines)


def _parse_days(text: str) -> list[str]:
    text = text.strip().replace("～", "〜")
    if "〜" in text or re.fullmatch(r"[a-z]{3}-[a-z]{3}", text):
        a, _, b = text.replace("-", "〜").partition("〜")
        lo, hi = _day(a), _day(b)
        if hi < lo:
            raise ValueError(f"曜日の範囲「{text}」が逆です")
        return list(WEEKDAYS[lo : hi + 1])
    parts = [p for p in re.split(r"[・,、|\s]+", text) if p]
    if len(parts) == 1 and all(ch in _DAY_JA for ch in parts[0]) and len(parts[0]) > 1:
        parts = list(parts[0])
    return [WEEKDAYS[_day(p)] for p in parts]


def _day(token: str) -> int:
    token = token.strip().lower().removesuffix("曜日").removesuffix("曜")
    if token in _DAY_JA:
        return WEEKDAYS.index(_DAY_JA[token])
    if token[:3] in WEEKDAYS:
        return WEEKDAYS.index(token[:3])
    raise ValueError(f"曜日「{token}」がわかりません（月 火 水 木 金 土 日）")


def parse_schedule(text: str) -> list[Schedule]:
    """Lines like 「月〜金 08:30-17:15」「月・水 9:00-12:00」; ValueError names the line."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        m = _RANGE.match(line)
        if not m:
            raise ValueError(f"{n}行目「{line}」: 「月〜金 08:30-17:15」の形で書いてください")
        try:
            days = _parse_days(m[1])
            out.append(Schedule.model_validate({"days": days, "opens": m[2], "closes": m[3]}))
        except ValidationError as exc:
            raise ValueError(f"{n}行目: {ja_message(exc.errors()[0])}") from None
        except ValueError as exc:
            raise ValueError(f"{n}行目: {exc}") from None
    return out


def concerns_text(service: Service) -> str:
    return "\n".join(
        f"{c.text} [{c.category}]" if c.category else c.text for c in service.example_concerns
    )


def parse_concerns(text: str) -> list[ExampleConcern]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _TAG.match(line)
        out.append(ExampleConcern(text=m[1], category=m[2]) if m else ExampleConcern(text=line))
    return out


FORM_FIELDS = (
    "id",
    "organization_id",
    "name",
    "kind",
    "description",
    "eligibility",
    "min_age",
    "max_age",
    "languages",
    "fees",
    "status",
    "assured_date",
    "area",
    "phone",
    "url",
    "hours_note",
    "schedule",
    "example_concerns",
)


def form_values(service: Service | None) -> dict[str, Any]:
    """What the edit form shows for ``service`` (empty for a new one)."""
    if service is None:
        return {
            "kind": "agency",
            "status": "active",
            "languages": "ja",
            "categories": [],
            "crisis_types": [],
            "open_on_holidays": False,
        }
    data = service.model_dump(mode="json")
    data["languages"] = ", ".join(service.languages)
    data["schedule"] = schedule_text(service)
    data["example_concerns"] = concerns_text(service)
    for key in ("min_age", "max_age", "assured_date", "phone", "url"):
        data[key] = data[key] if data[key] is not None else ""
    return data


def service_from_form(
    values: dict[str, Any],
) -> tuple[Service | None, dict[str, str]]:
    """Validate the submitted form; (service, {}) or (None, {field: Japanese message})."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    for key in FORM_FIELDS:
        raw = values.get(key, "")
        data[key] = (
            raw.strip()
            if isinstance(raw, str)
            and key not in ("description", "eligibility", "fees", "hours_note")
            else raw
        )
    for key in ("min_age", "max_age", "assured_date", "phone", "url"):
        if data[key] == "":
            data[key] = None
    data["languages"] = [v for v in re.split(r"[,、|;\s]+", data["languages"] or "") if v] or ["ja"]
    data["categories"] = list(values.get("categories", []))
    data["crisis_types"] = list(values.get("crisis_types", []))
    data["open_on_holidays"] = bool(values.get("open_on_holidays"))
    try:
        data["schedule"] = parse_schedule(values.get("schedule", ""))
    except ValueError as exc:
        errors["schedule"] = str(exc)
        data["schedule"] = []
    try:
        data["example_concerns"] = parse_concerns(values.get("example_concerns", ""))
    except ValidationError as exc:
        errors["example_concerns"] = ja_message(exc.errors()[0])
        data["example_concerns"] = []
    try:
        service = Service.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = loc[0] if loc else _model_error_field(str(err["msg"]))
            errors.setdefault(key, ja_message(err))
        return None, errors
    if errors:
        return None, errors
    if not service.organization_id:
        return None, {"organization_id": "組織を選んでください"}
    return service, {}


def _model_error_field(message: str) -> str:
    if "min_age" in message:
        return "min_age"
    if "相談例" in message:
        return "example_concerns"
    return "name"


# -- errors: anonymous and wrong role ---------------------------------------------------


async def _login_required(request: Request, exc: Exception) -> Response:
    """Fallback only used when the inbox has not installed its own handler."""
    return RedirectResponse("/inbox/login", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return _harden(
        HTMLResponse(
            "<!doctype html><meta charset='utf-8'><p>権限がありません。</p>", status_code=403
        )
    )


def install(app: FastAPI) -> None:
    """Add the admin routes (call after ``inbox.install``, whose 401/403 handlers we share)."""
    app.exception_handlers.setdefault(LoginRequired, _login_required)
    app.exception_handlers.setdefault(Forbidden, _forbidden)
    app.add_exception_handler(Missing, _missing)
    app.state.kb_imports = {}
    app.include_router(router)


# -- dashboard and Try it ---------------------------------------------------------------


def _dashboard(
    request: Request, front_door: FrontDoor, session: StaffSession, **extra: Any
) -> Response:
    store = _store(front_door)
    cutoff = stale_cutoff(front_door)
    services = store.services(include_retired=True)
    counts = {k: sum(1 for s in services if s.status == k) for k in STATUS_LABELS}
    stale = [s for s in services if is_stale(s, cutoff)]
    today = _today(front_door)
    summary = report_queries.summary(
        front_door.db, today - dt.timedelta(days=29), today, tz=front_door.settings.tz
    )
    return _page(
        request,
        "admin/dashboard.html",
        session,
        {
            "counts": counts,
            "stale": stale[:10],
            "stale_count": len(stale),
            "stale_months": front_door.settings.kb_stale_months,
            "kb_version": store.version,
            "summary": summary,
            "try_text": "",
            "assessment": None,
            **extra,
        },
    )


@router.get("", response_class=HTMLResponse, name="admin_home")
async def home(request: Request, front_door: FrontDoorDep, session: AdminStaff) -> Response:
    return _dashboard(request, front_door, session)


@router.post("/try", response_class=HTMLResponse, name="admin_try")
async def try_it(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Assess a typed concern against the current KB (nothing is stored or logged)."""
    assessment = await try_assess(front_door, text) if text.strip() else None
    return _dashboard(request, front_door, session, try_text=text, assessment=assessment)


# -- services ---------------------------------------------------------------------------


@router.get("/services", response_class=HTMLResponse, name="admin_services")
async def services_page(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[str, Query(max_length=32)] = "",
    area: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    stale: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    store = _store(front_door)
    cutoff = stale_cutoff(front_door)
    orgs = {o.id: o.name for o in store.organizations()}
    rows = []
    needle = q.strip().lower()
    for s in store.services(include_retired=True):
        if category and category not in s.categories:
            continue
        if area and s.area != area:
            continue
        if status and s.status != status:
            continue
        if stale and not is_stale(s, cutoff):
            continue
        if needle:
            hay = " ".join(
                [
                    s.id,
                    s.name,
                    s.description,
                    orgs.get(s.organization_id, ""),
                    *(c.text for c in s.example_concerns),
                ]
            ).lower()
            if needle not in hay:
                continue
        rows.append({"s": s, "org": orgs.get(s.organization_id, ""), "stale": is_stale(s, cutoff)})
    areas = sorted({s.area for s in store.services(include_retired=True) if s.area})
    return _page(
        request,
        "admin/services.html",
        session,
        {
            "rows": rows,
            "areas": areas,
            "filters": {
                "q": q,
                "category": category,
                "area": area,
                "status": status,
                "stale": stale,
            },
            "stale_months": front_door.settings.kb_stale_months,
        },
    )


def _form_page(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    values: dict[str, Any],
    *,
    service: Service | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    store = _store(front_door)
    cutoff = stale_cutoff(front_door)
    orgs = store.organizations()
    return _page(
        request,
        "admin/service.html",
        session,
        {
            "service": service,
            "v": values,
            "errors": errors or {},
            # a new service can only join an active organization
            "organizations": [
                o for o in orgs if o.status == "active" or o.id == values.get("organization_id")
            ],
            "stale": service is not None and is_stale(service, cutoff),
            "org": next((o for o in orgs if service and o.id == service.organization_id), None),
        },
        status_code=status_code,
    )


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    values["categories"] = [v for v in form.getlist("categories") if isinstance(v, str)]
    values["crisis_types"] = [v for v in form.getlist("crisis_types") if isinstance(v, str)]
    values["open_on_holidays"] = form.get("open_on_holidays") == "1"
    return values


@router.get("/services/new", response_class=HTMLResponse, name="admin_service_new")
async def new_service(request: Request, front_door: FrontDoorDep, session: AdminStaff) -> Response:
    values = form_values(None)
    values["organization_id"] = request.query_params.get("organization_id", "")
    return _form_page(request, front_door, session, values, service=None)


@router.post("/services/new", response_class=HTMLResponse, name="admin_service_create")
async def create_service(
    request: Request, front_door: FrontDoorDep, session: AdminStaff
) -> Response:
    values = await _form(request)
    service, errors = service_from_form(values)
    store = _store(front_door)
    if service is not None:
        try:
            store.service(service.id)
            errors = {"id": f"{service.id} はもう使われています"}
        except NotFound:
            pass
    if service is None or errors:
        return _form_page(
            request, front_door, session, values, service=None, errors=errors, status_code=422
        )
    return await _save(request, front_door, session, values, None, service, "kb_service_added")


async def _save(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    values: dict[str, Any],
    before: Service | None,
    after: Service,
    action: str,
) -> Response:
    store = _store(front_door)

    def write() -> list[Change]:
        if store.upsert_service(after) == "unchanged":
            return []
        return [Change(action, before, after, {"service_id": after.id})]

    try:
        await commit(front_door, session, write)
    except NotFound:
        errors = {"organization_id": "その組織はありません"}
    except OrganizationRetired:
        errors = {"status": ORG_RETIRED}
    else:
        return _done(request, "admin_service", "saved", service_id=after.id)
    return _form_page(
        request, front_door, session, values, service=before, errors=errors, status_code=422
    )


@router.get("/services/{service_id}", response_class=HTMLResponse, name="admin_service")
async def service_page(
    request: Request, front_door: FrontDoorDep, session: AdminStaff, service: ServiceInPath
) -> Response:
    return _form_page(request, front_door, session, form_values(service), service=service)


@router.post("/services/{service_id}", response_class=HTMLResponse, name="admin_service_save")
async def save_service(
    request: Request, front_door: FrontDoorDep, session: AdminStaff, before: ServiceInPath
) -> Response:
    values = await _form(request)
    values["id"] = before.id  # ids never change: the index and referrals point at them
    service, errors = service_from_form(values)
    if service is None:
        return _form_page(
            request, front_door, session, values, service=before, errors=errors, status_code=422
        )
    return await _save(request, front_door, session, values, before, service, "kb_service_changed")


@router.post("/services/{service_id}/confirm", name="admin_service_confirm")
async def confirm_service(
    request: Request, front_door: FrontDoorDep, session: AdminStaff, before: ServiceInPath
) -> Response:
    """「確認済み」: the entry was checked today (assured_date = today)."""
    store = _store(front_door)
    after = before.model_copy(update={"assured_date": _today(front_door)})

    def write() -> list[Change]:
        if store.upsert_service(after) == "unchanged":
            return []
        return [
            Change(
                "kb_service_confirmed",
                {"assured_date": before.model_dump(mode="json")["assured_date"]},
                {"assured_date": after.model_dump(mode="json")["assured_date"]},
                {"service_id": after.id},
            )
        ]

    await commit(front_door, session, write)
    back = request.headers.get("referer", "")
    path = back if back.startswith(str(request.base_url)) else ""
    target = path or request.url_for("admin_service", service_id=after.id).path
    return RedirectResponse(target, status_code=303)


@router.post("/services/{service_id}/status", name="admin_service_status")
async def service_status(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    before: ServiceInPath,
    status: Annotated[str, Form(max_length=16)],
) -> Response:
    """Retire (or reactivate) a service: its concerns leave (or rejoin) the index."""
    store = _store(front_door)
    if status not in STATUS_LABELS:
        return _message(request, session, "状態は 公開中・休止中・廃止 のどれかです。", 422)

    def write() -> list[Change]:
        store.set_status(before.id, status)
        if before.status == status:
            return []
        return [
            Change(
                "kb_service_status",
                {"status": before.status},
                {"status": status},
                {"service_id": before.id},
            )
        ]

    try:
        await commit(front_door, session, write)
    except OrganizationRetired:
        return _message(request, session, ORG_RETIRED, 409)
    return _done(request, "admin_service", "status", service_id=before.id)


# -- organizations ----------------------------------------------------------------------


def _org_page(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    org: Organization | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    store = _store(front_door)
    services = store.services(organization_id=org.id, include_retired=True) if org else []
    return _page(
        request,
        "admin/organization.html",
        session,
        {"org": org, "v": values, "errors": errors or {}, "services": services},
        status_code=status_code,
    )


@router.get("/organizations", response_class=HTMLResponse, name="admin_organizations")
async def organizations_page(
    request: Request, front_door: FrontDoorDep, session: AdminStaff
) -> Response:
    store = _store(front_door)
    services = store.services()
    rows = [
        {"o": o, "n": sum(1 for s in services if s.organization_id == o.id)}
        for o in store.organizations()
    ]
    return _page(
        request, "admin/organizations.html", session, {"rows": rows, "v": {}, "errors": {}}
    )


@router.get("/organizations/{org_id}", response_class=HTMLResponse, name="admin_organization")
async def organization_page(
    request: Request, front_door: FrontDoorDep, session: AdminStaff, org: OrganizationInPath
) -> Response:
    return _org_page(request, front_door, session, org, org.model_dump())


@router.post("/organizations", response_class=HTMLResponse, name="admin_organization_save")
async def save_organization(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    id: Annotated[str, Form(max_length=80)] = "",
    name: Annotated[str, Form(max_length=300)] = "",
    description: Annotated[str, Form(max_length=5000)] = "",
    phone: Annotated[str, Form(max_length=50)] = "",
    url: Annotated[str, Form(max_length=500)] = "",
    email: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Create an organization, or edit the one with this id (its status is kept)."""
    store = _store(front_door)
    values = {
        "id": id.strip(),
        "name": name.strip(),
        "description": description,
        "phone": phone.strip() or None,
        "url": url.strip() or None,
        "email": email.strip() or None,
    }
    try:
        before: Organization | None = store.organization(values["id"] or "")
    except NotFound:
        before = None
    try:
        org = Organization.model_validate(
            {**values, "status": before.status if before else "active"}
        )
    except ValidationError as exc:
        errors = {str(e["loc"][0]) if e["loc"] else "name": ja_message(e) for e in exc.errors()}
        return _org_page(request, front_door, session, before, values, errors, 422)

    def write() -> list[Change]:
        if not store.upsert_organization(org):
            return []
        action = "kb_organization_changed" if before else "kb_organization_added"
        return [Change(action, before, org, {"organization_id": org.id})]

    await commit(front_door, session, write)
    return _done(request, "admin_organization", "saved", org_id=org.id)


def _status_changes(
    action: str,
    before: Organization,
    after: Organization,
    was: Mapping[str, str],
    now: Mapping[str, str],
) -> list[Change]:
    """An organization's retire/restore: its own event with its services' statuses, and one
    status event per service (so each service's history shows it too)."""
    detail = {"organization_id": after.id, "service_ids": list(now)}
    return [
        Change(
            action,
            {"organization": before, "services": dict(was)},
            {"organization": after, "services": dict(now)},
            detail,
        ),
        *(
            Change(
                "kb_service_status",
                {"status": was[sid]},
                {"status": now[sid]},
                {"service_id": sid, "organization_id": after.id},
            )
            for sid in now
        ),
    ]


def _confirm_org_status(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    org: Organization,
    *,
    retiring: bool,
) -> Response:
    """The confirm step: which services go (or come back) with the organization."""
    store = _store(front_door)
    services = (
        store.services(organization_id=org.id)
        if retiring
        else list(store.services_by_id(store.retired_with_organization(org.id)).values())
    )
    return _page(
        request,
        "admin/org_status.html",
        session,
        {"org": org, "services": services, "retiring": retiring},
    )


async def _set_org_status(
    request: Request,
    front_door: FrontDoor,
    session: StaffSession,
    org: Organization,
    *,
    retiring: bool,
) -> Response:
    """Retire an organization with its services (their concerns leave the index), or restore
    it with the services retired with it; audited, and triage follows at once."""
    store = _store(front_door)

    def write() -> list[Change]:
        if (org.status == "retired") == retiring:
            return []
        if retiring:
            was = {s.id: s.status for s in store.services(organization_id=org.id)}
            now = dict.fromkeys(store.retire_organization(org.id), "retired")
        else:
            now = store.retired_with_organization(org.id)
            was = dict.fromkeys(store.restore_organization(org.id), "retired")
        action = "kb_organization_retired" if retiring else "kb_organization_restored"
        return _status_changes(action, org, store.organization(org.id), was, now)

    await commit(front_door, session, write)
    return _done(
        request, "admin_organization", "retired" if retiring else "restored", org_id=org.id
    )


#: what an organization's status page may do: retire it, or restore it
ORG_CHANGES = {"retire": True, "restore": False}


def _retiring(session: StaffSession, change: str) -> bool:
    if change not in ORG_CHANGES:
        raise Missing(session, "そのページは見つかりません。")
    return ORG_CHANGES[change]


@router.get(
    "/organizations/{org_id}/{change}",
    response_class=HTMLResponse,
    name="admin_organization_status_confirm",
)
async def organization_status_confirm(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    org: OrganizationInPath,
    change: str,
) -> Response:
    """``retire`` / ``restore``: the confirm step, saying which services go or come back."""
    retiring = _retiring(session, change)
    return _confirm_org_status(request, front_door, session, org, retiring=retiring)


@router.post("/organizations/{org_id}/{change}", name="admin_organization_status")
async def organization_status(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    org: OrganizationInPath,
    change: str,
) -> Response:
    retiring = _retiring(session, change)
    return await _set_org_status(request, front_door, session, org, retiring=retiring)


# -- import and export ------------------------------------------------------------------


@dataclass
class PendingImport:
    """An upload previewed but not applied yet: whose it is and its files, for a while."""

    at: float
    staff_id: int
    uploads: dict[str, bytes]


def _imports(request: Request) -> dict[str, PendingImport]:
    pending: dict[str, PendingImport] = request.app.state.kb_imports
    now = time.monotonic()
    for key in [k for k, v in pending.items() if now - v.at > IMPORT_TTL]:
        del pending[key]
    return pending


def _import_page(
    request: Request,
    session: StaffSession,
    problems: list[LoadProblem] | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    return _page(
        request,
        "admin/import.html",
        session,
        {"problems": problems or [], "diff": None, **context},
        status_code=status_code,
    )


@router.get("/import", response_class=HTMLResponse, name="admin_import")
async def import_page(request: Request, front_door: FrontDoorDep, session: AdminStaff) -> Response:
    return _import_page(request, session)


@router.post("/import", response_class=HTMLResponse, name="admin_import_preview")
async def import_preview(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    files: Annotated[list[UploadFile], File()],
    retire_missing: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    """Validate the uploaded CSV sheets or YAML files (or the export's zip) and show what
    applying would change; nothing is written."""
    uploads: dict[str, bytes] = {}
    for upload in files:
        data = await upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return _import_page(
                request,
                session,
                [
                    LoadProblem(
                        upload.filename or "?",
                        "(file)",
                        "(file)",
                        "ファイルが大きすぎます（5MBまで）",
                    )
                ],
                status_code=413,
            )
        if upload.filename:
            uploads[Path(upload.filename).name] = data
    store = _store(front_door)
    try:
        bundle = read_bundle(uploads, store)
    except LoadError as exc:
        log.info(
            "admin: import refused for staff %d (%d problems)", session.staff.id, len(exc.problems)
        )
        return _import_page(request, session, exc.problems, status_code=422)
    diff = preview(store, bundle.files, retire_missing=retire_missing == "1")
    token = secrets.token_urlsafe(16)
    _imports(request)[token] = PendingImport(time.monotonic(), session.staff.id, uploads)
    return _import_page(
        request,
        session,
        diff=diff,
        token=token,
        kind=bundle.kind,
        retire_missing=retire_missing == "1",
        names={s.id: s.name for f in bundle.files for s in f.services},
    )


@router.post("/import/apply", response_class=HTMLResponse, name="admin_import_apply")
async def import_apply(
    request: Request,
    front_door: FrontDoorDep,
    session: AdminStaff,
    token: Annotated[str, Form(max_length=64)],
    retire_missing: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    """Apply a previewed import in one transaction (re-validated against the KB as it is now)."""
    pending = _imports(request).pop(token, None)
    if pending is None or pending.staff_id != session.staff.id:
        return _import_page(
            request,
            session,
            [
                LoadProblem(
                    "(upload)",
                    "(file)",
                    "(file)",
                    "確認の期限が切れました。もう一度アップロードしてください",
                )
            ],
            status_code=409,
        )
    store = _store(front_door)
    try:
        bundle = read_bundle(pending.uploads, store)
    except LoadError as exc:
        return _import_page(request, session, exc.problems, status_code=422)
    reports = []

    def write() -> list[Change]:
        services = {s.id: s for s in store.services(include_retired=True)}
        orgs = {o.id: o for o in store.organizations()}
        report = store.apply(bundle.files, retire_missing=retire_missing == "1")
        reports.append(report)
        changes = [
            Change(
                "kb_import",
                services.get(sid),
                store.service(sid),
                {"service_id": sid, "format": bundle.kind},
            )
            for sid in [*report.added, *report.changed, *report.retired]
        ]
        for f in bundle.files:
            after = store.organization(f.organization.id)
            if orgs.get(after.id) != after:
                changes.append(
                    Change(
                        "kb_import_organization",
                        orgs.get(after.id),
                        after,
                        {"organization_id": after.id, "format": bundle.kind},
                    )
                )
        return changes

    await commit(front_door, session, write)
    return _import_page(request, session, applied=reports[0])


@router.get("/export.zip", name="admin_export")
async def export_zip(
    front_door: FrontDoorDep,
    session: AdminStaff,
    format: Annotated[str, Query(pattern="^(csv|yaml)$")] = "csv",
) -> Response:
    """The whole KB as a zip of the four CSV sheets, or of one YAML file per organization."""
    store = _store(front_door)
    files: Mapping[str, bytes | str] = export_csv(store) if format == "csv" else export_yaml(store)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    stamp = _today(front_door).isoformat()
    return Response(
        buf.getvalue(),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="tsunagu-kb-{format}-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/export/{sheet}", name="admin_export_sheet")
async def export_sheet(front_door: FrontDoorDep, session: AdminStaff, sheet: str) -> Response:
    sheets = export_csv(_store(front_door))
    if sheet not in sheets:
        return Response("no such sheet", status_code=404)
    return Response(
        sheets[sheet],
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{sheet}"',
            "Cache-Control": "no-store",
        },
    )


# -- reports ----------------------------------------------------------------------------


def _period(front_door: FrontDoor, start: str, end: str) -> tuple[dt.date, dt.date]:
    today = _today(front_door)
    try:
        to = dt.date.fromisoformat(end) if end else today
    except ValueError:
        to = today
    try:
        since = dt.date.fromisoformat(start) if start else to - dt.timedelta(days=29)
    except ValueError:
        since = to - dt.timedelta(days=29)
    if since > to:
        since, to = to, since
    return since, to


@dataclass(frozen=True)
class PeriodReport:
    """The figures for the period and grouping a report page or CSV asks for."""

    since: dt.date
    to: dt.date
    group: str
    report: report_queries.Report


async def _period_report(
    front_door: FrontDoorDep,
    session: AdminStaff,
    start: Annotated[str, Query(max_length=10, alias="from")] = "",
    end: Annotated[str, Query(max_length=10, alias="to")] = "",
    group: Annotated[str, Query(pattern="^(day|week|month)$")] = "day",
) -> PeriodReport:
    since, to = _period(front_door, start, end)
    report = report_queries.build(
        front_door.db, since, to, tz=front_door.settings.tz, group=group, now=front_door.now()
    )
    return PeriodReport(since, to, group, report)


#: the report for ``?from=&to=&group=`` (after the admin check)
ReportDep = Annotated[PeriodReport, Depends(_period_report)]


@router.get("/reports", response_class=HTMLResponse, name="admin_reports")
async def reports_page(request: Request, session: AdminStaff, asked: ReportDep) -> Response:
    report = asked.report
    return _page(
        request,
        "admin/reports.html",
        session,
        {
            "r": report,
            "since": asked.since,
            "to": asked.to,
            "group": asked.group,
            "chart_period": charts.bar_chart(
                [(label, n) for label, n in report.per_period], title="相談件数"
            ),
            "chart_category": charts.bar_chart(
                [(CATEGORIES.get(c, c), n) for c, n in report.per_category],
                title="分野別",
                horizontal=True,
            ),
            "chart_channel": charts.bar_chart(
                [(report_queries.CHANNEL_LABELS.get(c, c), n) for c, n in report.per_channel],
                title="窓口別",
                horizontal=True,
            ),
            "chart_status": charts.bar_chart(
                [(handoff.STATUS_LABELS.get(s, s), n) for s, n in report.per_status],
                title="状態別",
                horizontal=True,
            ),
        },
    )


@router.get("/reports.csv", name="admin_reports_csv")
async def reports_csv(session: AdminStaff, asked: ReportDep) -> Response:
    """The same figures as the page, small counts shown as "<3"; no personal data."""
    data = report_queries.to_csv(asked.report)
    name = f"tsunagu-report-{asked.since.isoformat()}-{asked.to.isoformat()}.csv"
    return Response(
        data,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
