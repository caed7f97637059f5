"""The handoff package's tables, as named, append-only migrations.

Never edit or reorder a migration once it has shipped: add a new one.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("handoff")


@migrations(name="001_cases")
def m001_cases(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            resident_ref TEXT NOT NULL,
            channel TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',
            handled_by TEXT NOT NULL DEFAULT 'staff' CHECK (handled_by IN ('staff', 'bot')),
            priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 2),
            urgent INTEGER NOT NULL DEFAULT 0,
            crisis_type TEXT,
            complex INTEGER NOT NULL DEFAULT 0,
            categories TEXT NOT NULL DEFAULT '[]',
            assessment TEXT NOT NULL,
            consent TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'ja',
            assignee TEXT,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            outcome TEXT
        )
        """
    )
    db.execute("CREATE INDEX cases_resident ON cases(resident_ref, status)")
    db.execute("CREATE INDEX cases_queue ON cases(status, priority, opened_at)")
    db.execute(
        """
        CREATE TABLE case_messages (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('resident', 'bot', 'staff', 'system')),
            text TEXT NOT NULL,
            at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX case_messages_case ON case_messages(case_id, id)")
    db.execute(
        """
        CREATE TABLE audit_events (
            id INTEGER PRIMARY KEY,
            case_id INTEGER REFERENCES cases(id) ON DELETE CASCADE,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            from_value TEXT,
            to_value TEXT,
            detail TEXT NOT NULL DEFAULT '{}',
            at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX audit_events_case ON audit_events(case_id, id)")


@migrations(name="002_staff_inbox")
def m002_staff_inbox(db: sqlite_utils.Database) -> None:
    # Staff accounts: argon2 hashes only; failed logins lock the account for a while.
    db.execute(
        """
        CREATE TABLE staff (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('staff', 'admin')),
            password_hash TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            created_at TEXT NOT NULL
        )
        """
    )
    # Server-side sessions: the cookie holds a random token, the table its SHA-256.
    db.execute(
        """
        CREATE TABLE staff_sessions (
            token_hash TEXT PRIMARY KEY,
            staff_id INTEGER NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id)")
    # Internal notes on a case: never sent to the resident.
    db.execute(
        """
        CREATE TABLE case_notes (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            author TEXT NOT NULL,
            text TEXT NOT NULL,
            at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX case_notes_case ON case_notes(case_id, id)")


@migrations(name="003_casework")
def m003_casework(db: sqlite_utils.Database) -> None:
    # What staff set on a case: team and area (圏域・地区), free labels, the corrected writer
    # (NULL: the summary's inference stands), the 重層的支援会議 flag, the resident's consent
    # to follow-up messages (NULL: not asked, 1 yes, 0 no) and why the case needs a person
    # again (NULL: nothing new).
    for column in (
        "team TEXT",
        "area TEXT",
        "labels TEXT NOT NULL DEFAULT '[]'",
        "writer TEXT",
        "meeting INTEGER NOT NULL DEFAULT 0",
        "follow_up_consent INTEGER",
        "attention TEXT",
        "attention_at TEXT",
    ):
        db.execute(f"ALTER TABLE cases ADD COLUMN {column}")
    db.execute("CREATE INDEX cases_area ON cases(area)")
    # Referrals (確実なつなぎ): one row per service a case was referred to, with the names as
    # they were when referred (the KB may change later) and its own answer deadline.
    db.execute(
        """
        CREATE TABLE referrals (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            service_id TEXT NOT NULL,
            service_name TEXT NOT NULL,
            organization TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'sent'
                CHECK (status IN ('sent', 'accepted', 'declined', 'no_response')),
            reason TEXT,
            due_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            responded_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX referrals_case ON referrals(case_id, id)")
    db.execute("CREATE INDEX referrals_open ON referrals(status, due_at)")
    # The support plan (支援プラン) of a case: goals, responsible agencies, next review.
    db.execute(
        """
        CREATE TABLE support_plans (
            case_id INTEGER PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE,
            goals TEXT NOT NULL DEFAULT '[]',
            agencies TEXT NOT NULL DEFAULT '[]',
            next_review TEXT,
            updated_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    # Follow-ups (見守り): a check-in message staff schedule; the worker sends it when due.
    db.execute(
        """
        CREATE TABLE follow_ups (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
            due_at TEXT NOT NULL,
            message TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'scheduled'
                CHECK (status IN ('scheduled', 'sent', 'not_sent', 'cancelled', 'answered')),
            reason TEXT,
            outbox_id INTEGER,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            done_at TEXT,
            answered_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX follow_ups_due ON follow_ups(status, due_at)")
    db.execute("CREATE INDEX follow_ups_case ON follow_ups(case_id, id)")


@migrations(name="004_audit_append_only")
def m004_audit_append_only(db: sqlite_utils.Database) -> None:
    # The audit log is append-only: the database itself refuses to change or remove a row,
    # whatever code (or a later bug) tries. Cases are never deleted either (their ON DELETE
    # CASCADE would remove audit rows); retention redacts a case's contents instead.
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"""
            CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events
            BEGIN
                SELECT RAISE(ABORT, 'audit_events is append-only');
            END
            """
        )


def migrate(db: sqlite_utils.Database) -> None:
    """Apply any pending handoff migrations."""
    migrations.apply(db)
