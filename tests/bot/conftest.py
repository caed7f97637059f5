"""Fixtures for the front door: a real KB, one real triage engine, a settable clock.

The sample KB and every migration are applied once into a template database
that each test copies (a copy is much faster than loading the YAML again).
Triage is built once per session on its own copy and shared: building the
index is the slow part, assessing is fast.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.conversation import Conversation
from bot.settings import Settings
from knowledge import KnowledgeStore, load_path, open_database, sample_path
from tests.bot.helpers import (
    IN_HOURS,
    Clock,
    Resident,
    copy_template,
    make_settings,
    migrate_all,
    wait_for,
)
from triage import Triage, open_triage


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: starts real server processes (deselect with -m 'not slow' while iterating)",
    )


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with every migration and the sample KB, to copy per test."""
    path = tmp_path_factory.mktemp("template") / "tsunagu.db"
    db = open_database(path)
    migrate_all(db)
    load_path(KnowledgeStore(db), sample_path())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture(scope="session")
def triage_engine(
    template_db: Path, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Triage:
    """The real triage engine on the sample KB, built once for the session.

    The index is kept in pytest's cache between runs: it is tagged with the
    embedder and the KB's content hash, so a changed sample KB is re-synced
    (never used stale) and an unchanged one costs nothing the next run.
    """
    tmp = tmp_path_factory.mktemp("triage")
    shutil.copy(template_db, tmp / "kb.db")
    store = KnowledgeStore(open_database(tmp / "kb.db", check_same_thread=False))
    assert pytestconfig.cache is not None
    return open_triage(store, "e5-small", pytestconfig.cache.mkdir("bot-triage-index"))


@pytest.fixture
def clock() -> Clock:
    return Clock(IN_HOURS)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def db(template_db: Path, settings: Settings) -> Iterator[sqlite_utils.Database]:
    copy_template(template_db, settings)
    database = open_database(settings.db_path, check_same_thread=False)
    yield database
    database.conn.close()


@pytest.fixture
def engine(
    db: sqlite_utils.Database, triage_engine: Triage, settings: Settings, clock: Clock
) -> Conversation:
    return Conversation(db, triage_engine, settings, now=clock)


@pytest.fixture
def resident(engine: Conversation) -> Resident:
    return Resident(engine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The test's app served by uvicorn on loopback, for the browser."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=20, what="uvicorn")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """The test module's app with its lifespan (workers) running."""
    with TestClient(app) as c:
        yield c


@pytest.fixture
def query(app: FastAPI) -> Iterator[Callable[..., list[sqlite3.Row]]]:
    """Read the app's database on a connection of our own (the app's is its loop's)."""
    conn = sqlite3.connect(app.state.front_door.settings.db_path)
    conn.row_factory = sqlite3.Row

    def run(sql: str, *params: Any) -> list[sqlite3.Row]:
        return conn.execute(sql, params).fetchall()

    yield run
    conn.close()
