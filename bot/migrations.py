"""The bot package's tables, as named, append-only migrations.

Never edit or reorder a migration once it has shipped: add a new one.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("bot")


@migrations(name="001_front_door")
def m001_front_door(db: sqlite_utils.Database) -> None:
    # Every inbound event, stored before the webhook answers; the unique
    # constraint is what makes a redelivered event harmless.
    db.execute(
        """
        CREATE TABLE inbound_events (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            channel_event_id TEXT NOT NULL,
            resident_ref TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL DEFAULT '',
            reply_token TEXT,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            processed_at TEXT,
            UNIQUE (channel, channel_event_id)
        )
        """
    )
    db.execute("CREATE INDEX inbound_events_pending ON inbound_events(status, id)")
    # One row per turn (≤ 5 messages): a LINE reply token covers one turn.
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            resident_ref TEXT NOT NULL,
            channel TEXT NOT NULL,
            event_id INTEGER,
            payload TEXT NOT NULL,
            reply_token TEXT,
            retry_key TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            created_at REAL NOT NULL,
            sent_at REAL,
            last_error TEXT
        )
        """
    )
    db.execute("CREATE INDEX outbox_pending ON outbox(status, resident_ref, id)")
    db.execute(
        """
        CREATE TABLE conversations (
            resident_ref TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            state TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'ja',
            language_chosen INTEGER NOT NULL DEFAULT 0,
            assessment TEXT,
            consent TEXT NOT NULL DEFAULT '{}',
            consultation_start INTEGER NOT NULL DEFAULT 0,
            turns INTEGER NOT NULL DEFAULT 0,
            following INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE conversation_messages (
            id INTEGER PRIMARY KEY,
            resident_ref TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('resident', 'bot', 'staff', 'system')),
            text TEXT NOT NULL,
            at TEXT NOT NULL
        )
        """
    )
    db.execute(
        "CREATE INDEX conversation_messages_resident ON conversation_messages(resident_ref, id)"
    )
    # What the web chat page shows: the resident's own lines and the bot's
    # batches (stored once per outbox retry_key).
    db.execute(
        """
        CREATE TABLE webchat_messages (
            id INTEGER PRIMARY KEY,
            session TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('resident', 'bot')),
            text TEXT NOT NULL,
            choices TEXT NOT NULL DEFAULT '[]',
            retry_key TEXT,
            seq INTEGER NOT NULL DEFAULT 0,
            at REAL NOT NULL,
            UNIQUE (retry_key, seq)
        )
        """
    )
    db.execute("CREATE INDEX webchat_messages_session ON webchat_messages(session, id)")


@migrations(name="002_urgent_lane")
def m002_urgent_lane(db: sqlite_utils.Database) -> None:
    # A message with a crisis word is taken before a backlog (bot.events); the
    # partial indexes keep finding it, and its writer's earlier events, cheap.
    db.execute("ALTER TABLE inbound_events ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0")
    db.execute(
        "CREATE INDEX inbound_events_urgent ON inbound_events(id)"
        " WHERE status = 'pending' AND urgent = 1"
    )
    db.execute(
        "CREATE INDEX inbound_events_resident_pending ON inbound_events(resident_ref, id)"
        " WHERE status = 'pending'"
    )


def migrate(db: sqlite_utils.Database) -> None:
    """Apply any pending bot migrations."""
    migrations.apply(db)
