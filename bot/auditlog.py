"""``GET /admin/audit/export``: the audit log of a period for an auditor (admins only).

The same export as ``tsunagu audit export`` (``handoff.auditlog``), streamed a
page at a time on the event loop thread (which owns the database
connection). Exporting is itself an audit event: who took a copy, of which
period, in which format.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse

import handoff
from handoff import auditlog

from .deps import AdminStaff, FrontDoorDep

log = logging.getLogger(__name__)

router = APIRouter(prefix="/admin/audit", tags=["audit"])

MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


async def _stream(chunks: Iterator[str]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")
        await asyncio.sleep(0)  # one page at a time; let the workers run in between


@router.get("/export", name="admin_audit_export")
async def export_audit(
    front_door: FrontDoorDep,
    session: AdminStaff,
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    format: Annotated[str, Query(max_length=8)] = "csv",
) -> Response:
    """Download the events from ``since`` to ``until`` (local dates or ISO times)."""
    tz = front_door.settings.tz
    try:
        start = auditlog.parse_bound(since, tz, end=False)
        end = auditlog.parse_bound(until, tz, end=True)
        chunks = auditlog.export(front_door.db, format, start, end)
    except auditlog.AuditExportError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)
    with front_door.db.atomic():
        handoff.audit(
            front_door.db,
            None,
            actor=session.staff.name,
            action="audit_exported",
            from_value=None,
            to_value=None,
            detail={"since": since or None, "until": until or None, "format": format},
            at=front_door.now(),
        )
    log.info("audit log exported as %s by staff %d", format, session.staff.id)
    stamp = front_door.now().astimezone(tz).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(
        _stream(chunks),
        media_type=MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="tsunagu-audit-{stamp}.{format}"',
            "Cache-Control": "no-store",
        },
    )
