"""The audit log is append-only (the database refuses UPDATE and DELETE, whoever asks) and
exports whole, in order, as CSV or JSON Lines, for a period."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

import handoff
from handoff import auditlog
from knowledge import open_database

REPO = Path(__file__).resolve().parents[2]
JST = ZoneInfo("Asia/Tokyo")
T = dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC)  # 10:00 JST


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    database = open_database(tmp_path / "audit.db")
    handoff.migrate(database)
    for day in range(5):
        handoff.audit(
            database,
            None,
            actor="sato",
            action="login",
            from_value=None,
            to_value=None,
            detail={"n": day},
            at=T + dt.timedelta(days=day),
        )
    return database


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'someone else'",
        "UPDATE audit_events SET detail = '{}' WHERE id = 1",
        "DELETE FROM audit_events WHERE id = 1",
        "DELETE FROM audit_events",
    ],
)
def test_the_database_refuses_to_change_or_remove_an_audit_row(
    db: sqlite_utils.Database, statement: str
) -> None:
    before = list(db.query("SELECT * FROM audit_events ORDER BY id"))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute(statement)
    assert list(db.query("SELECT * FROM audit_events ORDER BY id")) == before
    handoff.audit(db, None, actor="sato", action="logout", from_value=None, to_value=None, at=T)
    assert db.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0] == len(before) + 1


def test_a_case_cannot_be_deleted_out_from_under_its_trail(db: sqlite_utils.Database) -> None:
    """Deleting a case would cascade to its audit rows: refused too."""
    from triage.assessment import Assessment

    case = handoff.open_case(
        db,
        resident_ref="line:U1",
        channel="line",
        assessment=Assessment(text="", language="ja"),
        consent=handoff.Consent(),
        urgent=False,
        transcript=[],
        language="ja",
        at=T,
    )
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM cases WHERE id = ?", [case.id])
    assert handoff.get_case(db, case.id).id == case.id


def test_no_code_updates_or_deletes_audit_rows() -> None:
    pattern = re.compile(
        r"(UPDATE\s+audit_events|DELETE\s+FROM\s+audit_events|"
        r"DELETE\s+FROM\s+cases\b|\[\"audit_events\"\]\.(update|delete))",
        re.I,
    )
    offenders = []
    for package in ("bot", "handoff", "knowledge", "triage"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for m in pattern.finditer(text):
                line = text[: m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == []


def test_csv_export_has_every_event_in_order_with_a_bom(db: sqlite_utils.Database) -> None:
    text = "".join(auditlog.export(db, "csv"))
    assert text.startswith("\ufeffid,at,actor,action,case_id,from_value,to_value,detail\r\n")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [int(r["id"]) for r in rows] == [1, 2, 3, 4, 5]
    assert {r["action"] for r in rows} == {"login"}
    assert json.loads(rows[2]["detail"]) == {"n": 2}


def test_jsonl_export_for_a_period_in_local_days(db: sqlite_utils.Database) -> None:
    since = auditlog.parse_bound("2025-06-04", JST, end=False)
    until = auditlog.parse_bound("2025-06-05", JST, end=True)
    lines = "".join(auditlog.export(db, "jsonl", since, until)).splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["detail"]["n"] for r in records] == [1, 2]
    assert set(records[0]) == set(auditlog.COLUMNS)


def test_export_reads_page_by_page(db: sqlite_utils.Database) -> None:
    pages = list(auditlog.pages(db, page=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r["id"] for p in pages for r in p] == [1, 2, 3, 4, 5]


def test_cells_a_spreadsheet_would_run_are_defused(db: sqlite_utils.Database) -> None:
    handoff.audit(
        db,
        None,
        actor='=HYPERLINK("http://x")',
        action="status",
        from_value="+1",
        to_value="@SUM(A1)",
        at=T,
    )
    rows = list(csv.reader(io.StringIO("".join(auditlog.export(db, "csv")).lstrip("\ufeff"))))
    assert rows[-1][2:7] == ['\'=HYPERLINK("http://x")', "status", "", "'+1", "'@SUM(A1)"]


@pytest.mark.parametrize(
    ("fmt", "since", "until", "problem"),
    [
        ("xml", None, None, "format must be one of csv, jsonl"),
        ("csv", "yesterday", None, "not a date"),
        ("csv", "2025-06-05", "2025-06-01", "end of the period must be after its start"),
    ],
)
def test_a_bad_export_request_says_what_is_wrong(
    db: sqlite_utils.Database, fmt: str, since: str | None, until: str | None, problem: str
) -> None:
    with pytest.raises(auditlog.AuditExportError, match=problem):
        auditlog.export(
            db,
            fmt,
            auditlog.parse_bound(since, JST, end=False),
            auditlog.parse_bound(until, JST, end=True),
        )
