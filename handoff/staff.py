"""Staff accounts and their server-side sessions (the inbox's login).

Passwords are stored as argon2id hashes only (argon2-cffi). A session is a
random token in an HttpOnly cookie; the table keeps its SHA-256, so a copy
of the database does not hand out live sessions. Each session carries its
own CSRF token, which every form posts back. Five failed logins in a row
lock the account for 15 minutes; every login, failure, lock and logout is
an audit event (with no case).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from typing import Literal, cast

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel

from .cases import audit

StaffRole = Literal["staff", "admin"]
ROLES: tuple[StaffRole, ...] = ("staff", "admin")

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=12)
MIN_PASSWORD_CHARS = 10
_NAME_CHARS = 64

_hasher = PasswordHasher()
#: verified against when the name is unknown, so timing does not reveal which names exist
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class StaffError(Exception):
    """A staff operation that cannot be done; the message says why."""


class LoginError(Exception):
    """A refused login. The message is safe to show (it never says which part was wrong)."""

    def __init__(self, message: str, *, locked_until: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


class Staff(BaseModel):
    """A person who works cases in the inbox."""

    id: int
    name: str
    role: StaffRole
    active: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class StaffSession(BaseModel):
    """A logged-in staff member and the session's CSRF token."""

    staff: Staff
    csrf: str
    expires_at: dt.datetime


def _stamp(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise StaffError("timestamps must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _staff(row: dict[str, object]) -> Staff:
    return Staff(
        id=cast(int, row["id"]),
        name=cast(str, row["name"]),
        role=cast(StaffRole, row["role"]),
        active=bool(row["active"]),
    )


def staff_count(db: sqlite_utils.Database) -> int:
    """How many active accounts exist (0 on a fresh install: no default password)."""
    return int(db.execute("SELECT COUNT(*) FROM staff WHERE active = 1").fetchone()[0])


def add_staff(
    db: sqlite_utils.Database,
    name: str,
    password: str,
    *,
    role: StaffRole,
    now: dt.datetime,
    actor: str = "cli",
) -> Staff:
    """Create an account; StaffError for a taken name, a bad role or a short password."""
    name = name.strip()
    if not name or len(name) > _NAME_CHARS or any(ch.isspace() for ch in name):
        raise StaffError(f"a staff name is 1–{_NAME_CHARS} characters without spaces")
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise StaffError(f"the password must be at least {MIN_PASSWORD_CHARS} characters")
    with db.atomic():
        if db.execute("SELECT 1 FROM staff WHERE name = ?", [name]).fetchone():
            raise StaffError(f"a staff member named {name!r} already exists")
        cursor = db.execute(
            "INSERT INTO staff (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            [name, role, _hasher.hash(password), _stamp(now)],
        )
        audit(
            db,
            None,
            actor=actor,
            action="staff_added",
            from_value=None,
            to_value=name,
            detail={"role": role},
            at=now,
        )
    assert cursor.lastrowid is not None
    return get_staff(db, cursor.lastrowid)


def get_staff(db: sqlite_utils.Database, staff_id: int) -> Staff:
    rows = list(db.query("SELECT * FROM staff WHERE id = ?", [staff_id]))
    if not rows:
        raise StaffError(f"staff {staff_id} does not exist")
    return _staff(rows[0])


def list_staff(db: sqlite_utils.Database) -> list[Staff]:
    return [_staff(r) for r in db.query("SELECT * FROM staff ORDER BY name")]


def authenticate(db: sqlite_utils.Database, name: str, password: str, *, now: dt.datetime) -> Staff:
    """The account if the password is right; LoginError otherwise (also while locked)."""
    rows = list(db.query("SELECT * FROM staff WHERE name = ? AND active = 1", [name.strip()]))
    if not rows:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        with db.atomic():
            audit(
                db,
                None,
                actor="anonymous",
                action="login_failed",
                from_value=None,
                to_value=None,
                detail={"reason": "unknown name"},
                at=now,
            )
        raise LoginError("名前またはパスワードが違います。")
    row = rows[0]
    locked_until = dt.datetime.fromisoformat(row["locked_until"]) if row["locked_until"] else None
    if locked_until is not None and now < locked_until:
        raise LoginError(
            "ログインの失敗が続いたため、しばらくログインできません。", locked_until=locked_until
        )
    try:
        _hasher.verify(row["password_hash"], password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        failures = row["failed_logins"] + 1
        lock = now + LOCKOUT if failures >= MAX_FAILED_LOGINS else None
        with db.atomic():
            db.execute(
                "UPDATE staff SET failed_logins = ?, locked_until = ? WHERE id = ?",
                [0 if lock else failures, _stamp(lock) if lock else None, row["id"]],
            )
            audit(
                db,
                None,
                actor=row["name"],
                action="locked" if lock else "login_failed",
                from_value=None,
                to_value=None,
                detail={"failures": failures},
                at=now,
            )
        if lock is not None:
            raise LoginError(
                "ログインの失敗が続いたため、しばらくログインできません。", locked_until=lock
            ) from None
        raise LoginError("名前またはパスワードが違います。") from None
    with db.atomic():
        new_hash = (
            _hasher.hash(password) if _hasher.check_needs_rehash(row["password_hash"]) else None
        )
        db.execute(
            "UPDATE staff SET failed_logins = 0, locked_until = NULL,"
            " password_hash = COALESCE(?, password_hash) WHERE id = ?",
            [new_hash, row["id"]],
        )
    return _staff(row)


def start_session(
    db: sqlite_utils.Database, staff: Staff, *, now: dt.datetime, ttl: dt.timedelta = SESSION_TTL
) -> str:
    """A new session for ``staff``; returns the token for the cookie (stored only hashed)."""
    token = secrets.token_urlsafe(32)
    with db.atomic():
        db.execute("DELETE FROM staff_sessions WHERE expires_at <= ?", [_stamp(now)])
        db.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, csrf, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                _token_hash(token),
                staff.id,
                secrets.token_urlsafe(32),
                _stamp(now),
                _stamp(now + ttl),
            ],
        )
        audit(db, None, actor=staff.name, action="login", from_value=None, to_value=None, at=now)
    return token


def session_for(db: sqlite_utils.Database, token: str, *, now: dt.datetime) -> StaffSession | None:
    """The live session of this cookie token, or None (unknown, expired, account disabled)."""
    if not token or len(token) > 128:
        return None
    rows = list(
        db.query(
            "SELECT s.*, ss.csrf, ss.expires_at FROM staff_sessions ss"
            " JOIN staff s ON s.id = ss.staff_id WHERE ss.token_hash = ? AND s.active = 1",
            [_token_hash(token)],
        )
    )
    if not rows:
        return None
    expires = dt.datetime.fromisoformat(rows[0]["expires_at"])
    if now >= expires:
        return None
    return StaffSession(staff=_staff(rows[0]), csrf=rows[0]["csrf"], expires_at=expires)


def end_session(db: sqlite_utils.Database, token: str, *, now: dt.datetime) -> None:
    """Log out: the token stops working at once."""
    found = session_for(db, token, now=now)
    with db.atomic():
        db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", [_token_hash(token)])
        if found is not None:
            audit(
                db,
                None,
                actor=found.staff.name,
                action="logout",
                from_value=None,
                to_value=None,
                at=now,
            )


def csrf_ok(session: StaffSession, submitted: str | None) -> bool:
    """The form's token matches the session's (constant-time)."""
    given = (submitted or "").encode()
    return bool(given) and hmac.compare_digest(session.csrf.encode(), given)
