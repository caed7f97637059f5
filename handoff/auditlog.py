"""The audit log as an auditor reads it: every event of a period, as CSV or JSON Lines.

The log is append-only. The app only ever inserts (``handoff.audit``) and the
database refuses UPDATE and DELETE on ``audit_events`` (migration
``003_audit_append_only``), so an export is the whole story. Rows hold who,
what, when and ids, never what a resident wrote (replies are audited by
length, notes by id).

Exports are read in pages by id, so a long log never sits in memory whole.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

FORMATS = ("csv", "jsonl")
COLUMNS = ("id", "at", "actor", "action", "case_id", "from_value", "to_value", "detail")
PAGE = 1000
#: a spreadsheet runs a cell that starts with one of these as a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AuditExportError(ValueError):
    """An export that cannot be made as asked; the message says why."""


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_bound(value: str | None, tz: ZoneInfo, *, end: bool) -> dt.datetime | None:
    """``2025-06-01`` (a local day: its start, or for ``end`` the next day's start) or an
    ISO timestamp with a zone; None for no bound."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            if end:
                day += dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time(), tzinfo=tz)
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise AuditExportError(
            f"{text!r} is not a date (2025-06-01) or an ISO timestamp (2025-06-01T09:00+09:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz)
    return when


def pages(
    db: sqlite_utils.Database,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    *,
    page: int = PAGE,
) -> Iterator[list[dict[str, Any]]]:
    """The events with ``since <= at < until``, oldest first, ``page`` rows at a time.

    Checks the period at once (AuditExportError), before the first page is read.
    """
    if since is not None and until is not None and until <= since:
        raise AuditExportError("the end of the period must be after its start")
    return _pages(db, since, until, page)


def _pages(
    db: sqlite_utils.Database, since: dt.datetime | None, until: dt.datetime | None, page: int
) -> Iterator[list[dict[str, Any]]]:
    where = ["id > ?"]
    bounds: list[Any] = []
    if since is not None:
        where.append("at >= ?")
        bounds.append(_stamp(since))
    if until is not None:
        where.append("at < ?")
        bounds.append(_stamp(until))
    sql = (
        "SELECT id, at, actor, action, case_id, from_value, to_value, detail FROM audit_events"
        " WHERE " + " AND ".join(where) + " ORDER BY id LIMIT ?"
    )
    last = 0
    while True:
        rows = list(db.query(sql, [last, *bounds, page]))
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]
        if len(rows) < page:
            return


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_header() -> str:
    """The first chunk of a CSV export: a BOM (so Excel reads UTF-8) and the column names."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(COLUMNS)
    return "\ufeff" + buf.getvalue()


def csv_rows(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return buf.getvalue()


def jsonl_rows(rows: list[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        record = {c: row[c] for c in COLUMNS}
        record["detail"] = json.loads(row["detail"] or "{}")
        out.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(out)


def export(
    db: sqlite_utils.Database,
    fmt: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Iterator[str]:
    """The export as text chunks (write them in order).

    AuditExportError for a bad format or period, raised here, before any chunk.
    """
    if fmt not in FORMATS:
        raise AuditExportError(f"the format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    chunks = pages(db, since, until)  # checks the period before the first chunk
    return _export(fmt, chunks)


def _export(fmt: str, chunks: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    if fmt == "csv":
        yield csv_header()
    for rows in chunks:
        yield csv_rows(rows) if fmt == "csv" else jsonl_rows(rows)


def count(
    db: sqlite_utils.Database, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> int:
    """How many events an export of this period holds."""
    return sum(len(rows) for rows in pages(db, since, until))
