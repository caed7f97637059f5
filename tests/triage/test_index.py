"""The faiss index: saved with a manifest, never used stale, updated incrementally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge import ExampleConcern, KnowledgeStore
from triage import make_embedder, open_triage
from triage.index import INDEX_FILE, MANIFEST_FILE


def test_first_open_builds_then_loads(small_store: KnowledgeStore, tmp_path: Path) -> None:
    first = open_triage(small_store, "e5-small", tmp_path / "idx")
    assert first.last_sync is not None and first.last_sync.action == "rebuilt"
    assert first.last_sync.total == 5
    manifest = json.loads((tmp_path / "idx" / MANIFEST_FILE).read_text())
    assert manifest["embedder"] == make_embedder("e5-small").id + "|query"
    assert manifest["dim"] == 384 and manifest["count"] == 5
    assert manifest["kb_hash"] == small_store.content_hash()
    again = open_triage(small_store, "e5-small", tmp_path / "idx")
    assert again.last_sync is not None
    assert (again.last_sync.action, again.last_sync.added) == ("loaded", 0)


def test_a_kb_change_re_embeds_only_what_changed(
    small_store: KnowledgeStore, tmp_path: Path
) -> None:
    engine = open_triage(small_store, "e5-small", tmp_path / "idx")
    svc = small_store.service("svc-money")
    small_store.upsert_service(
        svc.model_copy(
            update={
                "example_concerns": [
                    svc.example_concerns[0],
                    ExampleConcern(text="食べるものがない"),
                ]
            }
        )
    )
    report = engine.refresh()
    assert report is not None
    assert (report.action, report.added, report.removed, report.total) == ("updated", 1, 1, 5)
    assert engine.assess("今日食べるものがありません").categories[0].code == "poverty"
    # a retired service leaves the index without a restart
    small_store.set_status("svc-school", "retired")
    report = engine.refresh()
    assert report is not None and report.removed == 1 and report.total == 4
    assert all(s.service_id != "svc-school" for s in engine.assess("学校に行けない").services)


def test_unchanged_kb_does_not_touch_the_index(small_store: KnowledgeStore, tmp_path: Path) -> None:
    engine = open_triage(small_store, "e5-small", tmp_path / "idx")
    assert engine.refresh() is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / INDEX_FILE).write_bytes(b"not a faiss index"),
        lambda d: (d / INDEX_FILE).unlink(),
        lambda d: (d / MANIFEST_FILE).write_text("{broken"),
        lambda d: (d / MANIFEST_FILE).write_text(
            json.dumps({**json.loads((d / MANIFEST_FILE).read_text()), "embedder": "other-model"})
        ),
    ],
    ids=["corrupt-index", "missing-index", "corrupt-manifest", "other-embedder"],
)
def test_a_damaged_or_mismatched_index_is_rebuilt(
    small_store: KnowledgeStore,
    tmp_path: Path,
    damage,  # type: ignore[no-untyped-def]
) -> None:
    open_triage(small_store, "e5-small", tmp_path / "idx")
    damage(tmp_path / "idx")
    engine = open_triage(small_store, "e5-small", tmp_path / "idx")
    assert engine.last_sync is not None and engine.last_sync.action == "rebuilt"
    assert engine.last_sync.total == 5
    assert engine.assess("家賃が払えません").categories[0].code == "poverty"
