"""Opening what every entry point needs: the database, the KB and the triage engine."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

import sqlite_utils

import handoff
from knowledge import KnowledgeStore, load_path, sample_path
from triage import Triage, open_triage

from . import migrations as bot_migrations
from .settings import Settings
from .storage import StorageError, check_data_dir, create_database, open_checked, reason

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: sqlite_utils.Database
    store: KnowledgeStore
    triage: Triage


def _load_sample_if_empty(store: KnowledgeStore) -> None:
    empty = store.db.execute("SELECT COUNT(*) FROM services").fetchone()[0] == 0
    if empty:
        report = load_path(store, sample_path())
        log.info(
            "knowledge base was empty: loaded the bundled sample knowledge base (%d services)",
            len(report.added),
        )


def _build(db: sqlite_utils.Database) -> None:
    """Everything a new database holds before its first use (see ``storage``)."""
    store = KnowledgeStore(db)
    bot_migrations.migrate(db)
    handoff.migrate(db)
    _load_sample_if_empty(store)


def open_store(settings: Settings, *, check_same_thread: bool = True) -> KnowledgeStore:
    """Open the database and its KB; a first run builds it whole with the sample KB.

    StorageError (naming the path) when the data directory cannot be written
    or the database cannot be opened, created or migrated.
    """
    check_data_dir(settings.data_dir)
    if not settings.db_path.exists():
        create_database(settings.db_path, _build)
    db = open_checked(settings.db_path, check_same_thread=check_same_thread)
    try:
        store = KnowledgeStore(db)
        _load_sample_if_empty(store)
    except sqlite3.Error as exc:
        db.conn.close()
        raise StorageError(f"cannot open the database {settings.db_path}: {reason(exc)}") from None
    return store


def open_runtime(settings: Settings, *, check_same_thread: bool = True) -> Runtime:
    """Database, KB and a warm triage engine for ``settings``."""
    store = open_store(settings, check_same_thread=check_same_thread)
    engine = open_triage(store, settings.embedder, settings.index_dir)
    return Runtime(settings, store.db, store, engine)
