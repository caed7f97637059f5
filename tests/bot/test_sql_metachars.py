"""SQL: every query is parameterised. Statically, the code never builds SQL from values (only
placeholders and fixed names, each reviewed below); dynamically, SQL metacharacters sent
through every search and filter change nothing, match nothing extra and break nothing."""

from __future__ import annotations

import ast
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from knowledge import KnowledgeStore
from tests.bot.hardening import (
    HTML,
    all_channels,
    build_app,
    changed,
    login,
    open_case,
    table_counts,
)
from tests.bot.helpers import own_db
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handoff", "knowledge", "triage")
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|CREATE|DROP|ALTER|PRAGMA|VALUES)\b")

#: every non-literal piece of SQL text in the code, and why it cannot carry a value
REVIEWED = {
    ("bot/outbox.py", "skip"): "'?' placeholders, one per busy resident",
    ("handoff/reports.py", "open_sql"): "a fixed condition string",
    ("handoff/reports.py", "due"): "a column name from a fixed tuple, checked against the table",
    ("handoff/migrations.py", "verb"): "UPDATE or DELETE, from a fixed tuple",
    ("handoff/migrations.py", "verb.lower()"): "update or delete, from a fixed tuple",
    ("knowledge/store.py", "marks"): "'?' placeholders, one per id",
    ("handoff/auditlog.py", "' AND '.join(where)"): "literal conditions with ? (see below)",
    ("handoff/cases.py", "' AND '.join(where)"): "literal conditions with ? (see below)",
    ("handoff/cases.py", "' WHERE ' + ' AND '.join(where)"): "literal conditions with ?",
    ("handoff/cases.py", "sql"): "the statement being built from the above",
    ("knowledge/store.py", "' AND '.join(where)"): "literal conditions with ? (see below)",
    ("knowledge/store.py", "' WHERE ' + ' AND '.join(where)"): "literal conditions with ?",
    ("knowledge/store.py", "sql"): "the statement being built from the above",
    ("handoff/cases.py", "where"): "_queue_where's literal conditions with ? (see below)",
    ("handoff/cases.py", "column"): "_set_column's column: a literal at every call (see below)",
    ("handoff/migrations.py", "column"): "ALTER TABLE … ADD COLUMN from a fixed tuple",
}
#: functions whose argument at this position is put into SQL as a name: literals only
NAME_ARGUMENTS = {"_set_column": 2}


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def scan(where: str, source: str) -> set[tuple[str, str]]:
    """The non-literal pieces of SQL text in ``source``: (file, expression)."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if _SQL.search(literal):
                found |= {
                    (where, ast.unparse(v.value))
                    for v in node.values
                    if isinstance(v, ast.FormattedValue)
                }
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if _is_text(node.left) and _SQL.search(node.left.value):  # type: ignore[attr-defined]
                found.add((where, "% formatting"))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            if any(_is_text(s) and _SQL.search(s.value) for s in sides):  # type: ignore[attr-defined]
                found |= {(where, ast.unparse(s)) for s in sides if not _is_text(s)}
        elif isinstance(node, ast.AugAssign) and ast.unparse(node.target) == "sql":
            found.add((where, "sql"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and _is_text(node.func.value)
            and _SQL.search(node.func.value.value)
        ):  # type: ignore[attr-defined]
            found.add((where, ".format()"))
    return found


def _dynamic_sql() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found |= scan(str(path.relative_to(REPO)), path.read_text(encoding="utf-8"))
    return found


def _where_appends() -> list[tuple[str, str]]:
    """``where.append(...)`` calls whose argument is not a literal string."""
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "append"
                    and ast.unparse(node.func.value) == "where"
                    and not all(_is_text(a) for a in node.args)
                ):
                    out.append((str(path.relative_to(REPO)), ast.unparse(node)))
    return out


def _name_arguments() -> list[tuple[str, str]]:
    """Calls that pass something other than a literal where a column name goes."""
    out = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    at = NAME_ARGUMENTS.get(node.func.id)
                    if at is not None and not (len(node.args) > at and _is_text(node.args[at])):
                        out.append((str(path.relative_to(REPO)), ast.unparse(node)))
    return out


def test_sql_is_never_built_from_values() -> None:
    dynamic = _dynamic_sql()
    unreviewed = dynamic - set(REVIEWED)
    assert not unreviewed, f"SQL built from these; use ? placeholders: {sorted(unreviewed)}"
    assert _where_appends() == []
    assert _name_arguments() == []


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scanner itself: a value formatted into SQL is caught, four ways."""
    bad = (
        "db.execute(f\"SELECT * FROM staff WHERE name = '{name}'\")\n"
        'db.execute("DELETE FROM cases WHERE id = %s" % case_id)\n'
        'db.execute("UPDATE cases SET status = \'" + status + "\'")\n'
        'db.execute("SELECT * FROM cases WHERE id = {}".format(case_id))\n'
    )
    assert scan("x.py", bad) == {
        ("x.py", "name"),
        ("x.py", "% formatting"),
        ("x.py", "status"),
        ("x.py", ".format()"),
    }


# -- metacharacters through every search and filter -----------------------------------------

METACHARS = [
    "' OR 1=1 --",
    "' OR '1'='1",
    '"; DROP TABLE cases; --',
    "'); DELETE FROM audit_events; --",
    "%",
    "_",
    "%' --",
    "\\",
    "\\'",
    "*",
    "1; SELECT * FROM staff",
    "\x00",
    "' UNION SELECT password_hash FROM staff --",
]


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


def _schema(db_path: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db_path)
    try:
        return list(conn.execute("SELECT type, name FROM sqlite_master ORDER BY type, name"))
    finally:
        conn.close()


def _rows(html: str) -> list[str]:
    return re.findall(r'data-case="(\d+)"', html)


def test_metacharacters_through_every_search_and_filter(
    app: FastAPI, client: TestClient, query: Callable[..., list[sqlite3.Row]]
) -> None:
    db = own_db(app)
    db_path: Path = app.state.front_door.settings.db_path
    for n in range(3):
        open_case(db, f"line:Usql{n}", "母の介護がつらい", "elderly_care")
    csrf = login(client, "kanri")
    schema = _schema(db_path)
    services = [r["id"] for r in query("SELECT id FROM services")]
    store = KnowledgeStore(db)
    orgs = {o.id: o.name for o in store.organizations()}
    # what the search reads, as plain text: a literal match must be found, nothing more
    kb_text = "\n".join(
        " ".join(
            [
                sv.id,
                sv.name,
                sv.description,
                orgs.get(sv.organization_id, ""),
                *(c.text for c in sv.example_concerns),
            ]
        )
        for sv in store.services(include_retired=True)
    ).lower()
    before = table_counts(db_path)
    for value in METACHARS:
        for path in ("/inbox", "/inbox/queue"):
            for field in ("status", "category", "assignee"):
                response = client.get(path, params={field: value}, headers=HTML)
                assert response.status_code in (200, 422), (path, field, value)
                if response.status_code == 422:  # longer than the field allows
                    continue
                if field == "assignee" and value != "*":  # "*" is the filter's "anyone"
                    assert _rows(response.text) == [], (field, value)  # no one has that name
                else:  # not a status or category: ignored, the full queue
                    assert len(_rows(response.text)) == 3, (field, value)
        for field in ("q", "category", "area", "status"):
            page = client.get("/admin/services", params={field: value})
            assert page.status_code in (200, 422), (field, value)
            if page.status_code == 422:
                continue
            shown = set(re.findall(r'href="/admin/services/([^"?/]+)"', page.text)) - {"new"}
            assert shown <= set(services)
            if field != "q" or value.lower() not in kb_text:
                assert shown == set(), (field, value)  # nothing has these words or codes
            else:  # the text is in the KB somewhere: a literal match, never a wildcard
                assert 0 < len(shown) < len(services), (field, value)
        for params in ({"from": value}, {"to": value}, {"from": value[:10], "to": value[:10]}):
            for path in ("/admin/reports", "/admin/reports.csv"):  # 422: over 10 characters
                assert client.get(path, params=params).status_code in (200, 422), params
        assert client.get("/admin/audit/export", params={"since": value}).status_code == 422
        tried = client.post("/admin/try", data={"csrf": csrf, "text": value})
        assert tried.status_code == 200, value
        assert client.get("/inbox/cases/1/messages", params={"after": value}).status_code == 422
    assert changed(before, table_counts(db_path)) == {}
    assert _schema(db_path) == schema


def test_metacharacters_are_stored_verbatim(
    app: FastAPI, client: TestClient, query: Callable[..., list[sqlite3.Row]]
) -> None:
    """What a resident or staff member writes is data, whatever it looks like."""
    db = own_db(app)
    case = open_case(db, "line:Uverbatim", METACHARS[2], "poverty")
    csrf = login(client, "kanri")
    for value in METACHARS:
        text = f"メモ {value}"
        assert (
            client.post(
                f"/inbox/cases/{case.id}/notes", data={"csrf": csrf, "text": text}
            ).status_code
            == 200
        )
    notes = [r["text"] for r in query("SELECT text FROM case_notes WHERE case_id = ?", case.id)]
    assert notes == [f"メモ {v}".strip() for v in METACHARS]
    assert query("SELECT text FROM case_messages WHERE case_id = ?", case.id)[0][0] == METACHARS[2]
    assert query("SELECT COUNT(*) FROM cases")[0][0] == 1
