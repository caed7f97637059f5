"""One real engine on the sample KB per test session (the model loads once)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge import KnowledgeStore, load_path, open_database, sample_path
from triage import Triage, open_triage


@pytest.fixture(scope="session")
def sample_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Triage]:
    tmp = tmp_path_factory.mktemp("triage")
    store = KnowledgeStore(open_database(tmp / "kb.db"))
    load_path(store, sample_path())
    yield open_triage(store, "e5-small", tmp / "index")


@pytest.fixture
def small_store(tmp_path: Path) -> KnowledgeStore:
    """A three-service KB, small enough to rebuild in every test."""
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "org.yaml").write_text(
        """
organization: {id: org-t, name: テスト市}
services:
  - id: svc-care
    name: 介護の相談
    categories: [elderly_care]
    example_concerns: [母の物忘れがひどい, 父の介護に疲れた]
  - id: svc-money
    name: お金の相談
    categories: [poverty]
    example_concerns: [家賃が払えない, 電気が止まりそう]
  - id: svc-school
    name: 学校の相談
    categories: [education]
    example_concerns: [子どもが学校に行けない]
""",
        encoding="utf-8",
    )
    store = KnowledgeStore(open_database(tmp_path / "kb.db"))
    load_path(store, folder)
    return store
