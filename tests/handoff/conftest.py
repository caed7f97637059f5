"""Fixtures for casework tests: a real SQLite database with the sample KB and every
handoff migration (built once, copied per test), and a helper that opens a case."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

import handoff
from knowledge import KnowledgeStore, load_path, open_database, sample_path
from triage.assessment import Assessment, CategoryFinding, CrisisFinding

JST = ZoneInfo("Asia/Tokyo")
#: Tuesday 3 June 2025, 10:00 in Tokyo
T0 = dt.datetime(2025, 6, 3, 10, 0, tzinfo=JST)


@pytest.fixture(scope="session")
def kb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "kb.db"
    db = open_database(path)
    load_path(KnowledgeStore(db), sample_path())
    handoff.migrate(db)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def kb_db(kb_template: Path, tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    """A fresh copy of the database with the sample KB and the handoff tables."""
    path = tmp_path / "case.db"
    shutil.copy(kb_template, path)
    db = open_database(path)
    yield db
    db.conn.close()


OpenCase = Callable[..., handoff.Case]


@pytest.fixture
def open_case(kb_db: sqlite_utils.Database) -> OpenCase:
    """Open a case (claimed by ``sato`` unless ``claim=False``) with the given needs."""
    count = 0

    def make(
        *codes: str,
        crisis: str | None = None,
        agencies: bool | None = True,
        claim: bool = True,
        at: dt.datetime = T0,
    ) -> handoff.Case:
        nonlocal count
        count += 1
        assessment = Assessment(
            text="…",
            language="ja",
            categories=[CategoryFinding(code=c, label=c, score=0.9) for c in codes],
            crisis=CrisisFinding(type=crisis) if crisis else None,
            complex=len(codes) >= 2,
        )
        case = handoff.open_case(
            kb_db,
            resident_ref=f"line:U{count:04d}",
            channel="line",
            assessment=assessment,
            consent=handoff.Consent(share_with_staff=True, share_with_agencies=agencies),
            urgent=crisis is not None,
            transcript=[handoff.TranscriptEntry(role="resident", text="母の介護がつらい", at=at)],
            language="ja",
            at=at,
        )
        if claim:
            case = handoff.claim(kb_db, case.id, actor="sato", at=at)
        return case

    return make
