"""The knowledge package's tables, as named, append-only migrations.

Never edit or reorder a migration once it has shipped: add a new one.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("knowledge")


@migrations(name="001_initial")
def m001_initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE organizations (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            phone TEXT,
            url TEXT,
            email TEXT,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE services (
            id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL REFERENCES organizations(id),
            name TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'agency',
            categories TEXT NOT NULL,
            crisis_types TEXT NOT NULL DEFAULT '[]',
            description TEXT NOT NULL DEFAULT '',
            eligibility TEXT NOT NULL DEFAULT '',
            min_age INTEGER,
            max_age INTEGER,
            languages TEXT NOT NULL DEFAULT '["ja"]',
            fees TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active',
            assured_date TEXT,
            area TEXT NOT NULL DEFAULT '',
            phone TEXT,
            url TEXT,
            hours_note TEXT NOT NULL DEFAULT '',
            open_on_holidays INTEGER NOT NULL DEFAULT 0,
            content_hash TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX services_organization ON services(organization_id)")
    db.execute(
        """
        CREATE TABLE schedules (
            id INTEGER PRIMARY KEY,
            service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
            weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
            opens TEXT NOT NULL,
            closes TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX schedules_service ON schedules(service_id)")
    db.execute(
        """
        CREATE TABLE example_concerns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            service_id TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
            text TEXT NOT NULL,
            category TEXT
        )
        """
    )
    db.execute("CREATE INDEX example_concerns_service ON example_concerns(service_id)")
    db.execute("CREATE TABLE kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO kb_meta (key, value) VALUES ('version', '0')")


@migrations(name="002_organization_status")
def m002_organization_status(db: sqlite_utils.Database) -> None:
    """Organizations can be retired; a service retired with its organization remembers
    the status it had (``retired_with_organization``), so restoring the organization
    brings back exactly those services."""
    db.execute("ALTER TABLE organizations ADD COLUMN status TEXT NOT NULL DEFAULT 'active'")
    db.execute("ALTER TABLE services ADD COLUMN retired_with_organization TEXT")


def migrate(db: sqlite_utils.Database) -> None:
    """Apply any pending knowledge migrations."""
    migrations.apply(db)
