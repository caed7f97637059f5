"""Opening what every entry point needs: the database, the KB and the triage engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlite_utils

from knowledge import KnowledgeStore, load_path, open_database, sample_path
from triage import Triage, open_triage

from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: sqlite_utils.Database
    store: KnowledgeStore
    triage: Triage


def open_store(settings: Settings, *, check_same_thread: bool = True) -> KnowledgeStore:
    """Open the database and its KB; load the bundled sample KB into an empty one.

    A first run then needs nothing else, and says so in its log.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_database(settings.db_path, check_same_thread=check_same_thread)
    store = KnowledgeStore(db)
    empty = db.execute("SELECT COUNT(*) FROM services").fetchone()[0] == 0
    if empty:
        report = load_path(store, sample_path())
        log.info(
            "knowledge base was empty: loaded the bundled sample knowledge base (%d services)",
            len(report.added),
        )
    return store


def open_runtime(settings: Settings, *, check_same_thread: bool = True) -> Runtime:
    """Database, KB and a warm triage engine for ``settings``."""
    store = open_store(settings, check_same_thread=check_same_thread)
    engine = open_triage(store, settings.embedder, settings.index_dir)
    return Runtime(settings, store.db, store, engine)
