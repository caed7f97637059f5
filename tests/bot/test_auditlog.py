"""The audit log for an auditor through the app and the command: an admin downloads a period
as CSV or JSON Lines (and that download is itself audited), and no audit row ever holds what
a resident wrote, a reply or a note."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.bot.hardening import all_channels, build_app, login, open_case
from tests.bot.helpers import own_db
from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub
from triage import Triage


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


def _work_a_case(app: FastAPI, client: TestClient, marker: str) -> int:
    case = open_case(own_db(app), "line:Uaudit", f"{marker} 母の介護", "elderly_care")
    csrf = login(client, "kanri")
    url = f"/inbox/cases/{case.id}"
    client.get(url)
    client.post(f"{url}/claim", data={"csrf": csrf})
    client.post(f"{url}/reply", data={"csrf": csrf, "text": f"{marker} お返事です"})
    client.post(f"{url}/notes", data={"csrf": csrf, "text": f"{marker} 内部メモ"})
    client.post(f"{url}/status", data={"csrf": csrf, "status": "in_support"})
    return case.id


def test_an_admin_downloads_the_log_and_the_download_is_audited(
    app: FastAPI, client: TestClient
) -> None:
    case_id = _work_a_case(app, client, "x")
    response = client.get("/admin/audit/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'attachment; filename="tsunagu-audit-' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    actions = [(r["case_id"], r["action"]) for r in rows]
    for action in ("opened", "viewed", "assigned", "reply", "note", "status"):
        assert (str(case_id), action) in actions, action
    assert ("", "login") in actions and ("", "staff_added") in actions
    assert actions[-1] == ("", "audit_exported")  # this very download
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    jsonl = client.get("/admin/audit/export", params={"format": "jsonl", "since": "2000-01-01"})
    records = [json.loads(line) for line in jsonl.text.splitlines()]
    assert records[-1]["action"] == "audit_exported" and records[-1]["actor"] == "kanri"
    assert records[-1]["detail"] == {"since": "2000-01-01", "until": None, "format": "jsonl"}
    assert len(records) == len(rows) + 1


def test_a_bad_period_is_a_422_that_says_why(app: FastAPI, client: TestClient) -> None:
    login(client, "kanri")
    response = client.get("/admin/audit/export", params={"since": "last week"})
    assert response.status_code == 422 and "not a date" in response.json()["error"]
    response = client.get("/admin/audit/export", params={"format": "xlsx"})
    assert response.status_code == 422 and "csv, jsonl" in response.json()["error"]


def test_staff_may_not_download_it(app: FastAPI, client: TestClient) -> None:
    login(client, "sato")
    assert client.get("/admin/audit/export").status_code == 403


def test_no_audit_row_holds_what_was_written(app: FastAPI, client: TestClient) -> None:
    marker = uuid.uuid4().hex
    _work_a_case(app, client, marker)
    db = own_db(app)
    assert (
        db.execute("SELECT COUNT(*) FROM case_notes WHERE text LIKE ?", [f"%{marker}%"]).fetchone()[
            0
        ]
        == 1
    )  # it was written…
    hits = db.execute(
        "SELECT action FROM audit_events WHERE instr(actor || ifnull(from_value, '') ||"
        " ifnull(to_value, '') || detail, ?) > 0",
        [marker],
    ).fetchall()
    assert hits == []  # …and the audit log only says that it was


def test_the_command_exports_a_period(app: FastAPI, client: TestClient, tmp_path: Path) -> None:
    _work_a_case(app, client, "y")
    data_dir = app.state.front_door.settings.data_dir
    out = tmp_path / "audit.jsonl"
    env = {"TSUNAGU_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "audit",
            "export",
            "--format",
            "jsonl",
            "--since",
            "2000-01-01",
            "--until",
            "2100-12-31",
            "-o",
            str(out),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {"opened", "reply", "note", "login"} <= {r["action"] for r in records}
    assert records[-1]["action"] == "audit_exported" and records[-1]["actor"] == "cli"
    to_stdout = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "export", "--until", "2000-01-01"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert to_stdout.returncode == 0
    assert to_stdout.stdout.splitlines() == [
        "\ufeffid,at,actor,action,case_id,from_value,to_value,detail"
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "export", "--format", "xml"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "format must be one of csv, jsonl" in bad.stderr
