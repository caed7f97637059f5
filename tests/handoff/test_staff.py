"""Staff accounts and sessions on real SQLite: argon2 hashes, lockout, sessions, CSRF."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils

import handoff
from handoff import staff
from knowledge import open_database

T0 = dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    database = open_database(tmp_path / "staff.db")
    handoff.migrate(database)
    return database


def test_passwords_are_stored_as_argon2_hashes_only(db: sqlite_utils.Database) -> None:
    member = staff.add_staff(db, "sato", PASSWORD, role="staff", now=T0)
    stored = db.execute("SELECT password_hash FROM staff WHERE id = ?", [member.id]).fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert staff.authenticate(db, "sato", PASSWORD, now=T0).name == "sato"
    assert staff.staff_count(db) == 1


@pytest.mark.parametrize(
    ("name", "password", "role", "words"),
    [
        ("sato", "short", "staff", "at least"),
        ("", PASSWORD, "staff", "name"),
        ("a b", PASSWORD, "staff", "name"),
        ("sato", PASSWORD, "root", "role"),
    ],
)
def test_bad_accounts_are_refused(
    db: sqlite_utils.Database, name: str, password: str, role: str, words: str
) -> None:
    with pytest.raises(staff.StaffError, match=words):
        staff.add_staff(db, name, password, role=role, now=T0)  # type: ignore[arg-type]
    assert staff.staff_count(db) == 0


def test_a_name_is_taken_once(db: sqlite_utils.Database) -> None:
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T0)
    with pytest.raises(staff.StaffError, match="already exists"):
        staff.add_staff(db, "sato", PASSWORD + "x", role="admin", now=T0)


def test_five_failures_lock_the_account_for_15_minutes(db: sqlite_utils.Database) -> None:
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T0)
    for _ in range(4):
        with pytest.raises(staff.LoginError, match="違います"):
            staff.authenticate(db, "sato", "wrong password", now=T0)
    with pytest.raises(staff.LoginError) as locked:
        staff.authenticate(db, "sato", "wrong password", now=T0)
    assert locked.value.locked_until == T0 + dt.timedelta(minutes=15)
    # even the right password is refused while locked
    with pytest.raises(staff.LoginError, match="しばらく"):
        staff.authenticate(db, "sato", PASSWORD, now=T0 + dt.timedelta(minutes=14))
    assert (
        staff.authenticate(db, "sato", PASSWORD, now=T0 + dt.timedelta(minutes=15)).name == "sato"
    )
    actions = [r["action"] for r in db.query("SELECT action FROM audit_events ORDER BY id")]
    assert actions.count("login_failed") == 4 and actions.count("locked") == 1


def test_a_success_resets_the_failure_count(db: sqlite_utils.Database) -> None:
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T0)
    for _ in range(4):
        with pytest.raises(staff.LoginError):
            staff.authenticate(db, "sato", "nope nope", now=T0)
    staff.authenticate(db, "sato", PASSWORD, now=T0)
    with pytest.raises(staff.LoginError, match="違います"):
        staff.authenticate(db, "sato", "nope nope", now=T0)  # 1 failure, not 5


def test_an_unknown_name_gets_the_same_answer(db: sqlite_utils.Database) -> None:
    with pytest.raises(staff.LoginError, match="名前またはパスワードが違います"):
        staff.authenticate(db, "nobody", PASSWORD, now=T0)


def test_sessions_are_stored_hashed_expire_and_end_at_logout(db: sqlite_utils.Database) -> None:
    member = staff.add_staff(db, "sato", PASSWORD, role="admin", now=T0)
    token = staff.start_session(db, member, now=T0)
    assert (
        db.execute("SELECT COUNT(*) FROM staff_sessions WHERE token_hash = ?", [token]).fetchone()[
            0
        ]
        == 0
    )
    session = staff.session_for(db, token, now=T0)
    assert session is not None and session.staff.is_admin and len(session.csrf) >= 32
    assert staff.csrf_ok(session, session.csrf)
    assert not staff.csrf_ok(session, None) and not staff.csrf_ok(session, "x" + session.csrf)
    assert staff.session_for(db, token, now=T0 + staff.SESSION_TTL) is None
    assert staff.session_for(db, "not-a-token", now=T0) is None
    staff.end_session(db, token, now=T0)
    assert staff.session_for(db, token, now=T0) is None
    other = staff.start_session(db, member, now=T0)
    assert staff.session_for(db, other, now=T0).csrf != session.csrf  # type: ignore[union-attr]


def test_cli_staff_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = {"TSUNAGU_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    run = [
        sys.executable,
        "-c",
        "from bot.cli import main; main()",
        "staff",
        "add",
        "suzuki",
        "--role",
        "admin",
    ]
    cwd = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        run, input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "suzuki" in done.stdout and PASSWORD not in done.stdout + done.stderr
    db = open_database(tmp_path / "data" / "tsunagu.db")
    assert staff.authenticate(db, "suzuki", PASSWORD, now=T0).role == "admin"
    again = subprocess.run(
        run, input="short\n", capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )
    assert again.returncode == 2 and "at least" in again.stderr
