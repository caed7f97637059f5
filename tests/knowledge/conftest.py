"""Fixtures for the knowledge tests: the sample KB loaded once, copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge import KnowledgeStore, load_path, open_database, sample_path


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the sample KB, to copy (loading the YAML again is slower)."""
    path = tmp_path_factory.mktemp("kb") / "kb.db"
    db = open_database(path)
    load_path(KnowledgeStore(db), sample_path())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def sample_store(sample_db: Path, tmp_path: Path) -> KnowledgeStore:
    """A store of its own on a copy of the sample KB."""
    shutil.copy(sample_db, tmp_path / "kb.db")
    return KnowledgeStore(open_database(tmp_path / "kb.db"))
