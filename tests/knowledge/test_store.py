"""The knowledge store on real SQLite: migrations, upserts, stable concern ids."""

from __future__ import annotations

import datetime as dt

import pytest

from knowledge import (
    ExampleConcern,
    KnowledgeStore,
    NotFound,
    Organization,
    OrganizationFile,
    Schedule,
    Service,
    open_database,
)


def _service(**kw: object) -> Service:
    base: dict[str, object] = {
        "id": "svc-a",
        "name": "家計の相談",
        "categories": ["poverty", "housing"],
        "schedule": [Schedule(days=["mon", "tue", "wed", "thu", "fri"], opens="08:30", closes="17:15")],
        "example_concerns": ["家賃が払えない", {"text": "家を出ないといけない", "category": "housing"}],
    }
    base.update(kw)
    return Service.model_validate(base)


@pytest.fixture
def store(tmp_path) -> KnowledgeStore:  # type: ignore[no-untyped-def]
    s = KnowledgeStore(open_database(tmp_path / "kb.db"))
    s.upsert_organization(Organization(id="org-a", name="ひなた市"))
    return s


def test_database_is_wal_and_migrated_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = open_database(tmp_path / "x.db")
    KnowledgeStore(db)
    KnowledgeStore(db)  # a second open applies nothing twice
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations")]
    assert names == ["001_initial"]


def test_upsert_reports_added_changed_unchanged(store: KnowledgeStore) -> None:
    svc = _service().model_copy(update={"organization_id": "org-a"})
    v0 = store.version
    assert store.upsert_service(svc) == "added"
    assert store.upsert_service(svc) == "unchanged"
    assert store.version == v0 + 1
    assert store.upsert_service(svc.model_copy(update={"name": "家計と住まいの相談"})) == "changed"
    assert store.service("svc-a").name == "家計と住まいの相談"


def test_concern_ids_survive_unrelated_edits(store: KnowledgeStore) -> None:
    svc = _service().model_copy(update={"organization_id": "org-a"})
    store.upsert_service(svc)
    before = {c.text: c.id for c in store.concerns()}
    edited = svc.model_copy(
        update={"example_concerns": [*svc.example_concerns, ExampleConcern(text="電気が止まった")]}
    )
    store.upsert_service(edited)
    after = {c.text: c.id for c in store.concerns()}
    assert after["家賃が払えない"] == before["家賃が払えない"]
    assert after["家を出ないといけない"] == before["家を出ないといけない"]
    assert "電気が止まった" in after


def test_concern_category_defaults_to_the_services_first(store: KnowledgeStore) -> None:
    store.upsert_service(_service().model_copy(update={"organization_id": "org-a"}))
    cats = {c.text: c.category for c in store.concerns()}
    assert cats == {"家賃が払えない": "poverty", "家を出ないといけない": "housing"}


def test_retired_services_leave_the_concerns(store: KnowledgeStore) -> None:
    store.upsert_service(_service().model_copy(update={"organization_id": "org-a"}))
    store.set_status("svc-a", "retired")
    assert store.concerns() == []
    assert store.services() == []
    assert [s.id for s in store.services(include_retired=True)] == ["svc-a"]


def test_unknown_ids_raise_not_found(store: KnowledgeStore) -> None:
    with pytest.raises(NotFound):
        store.service("nope")
    with pytest.raises(NotFound):
        store.upsert_service(_service().model_copy(update={"organization_id": "no-org"}))


def test_apply_is_one_transaction(store: KnowledgeStore) -> None:
    good = OrganizationFile(organization=Organization(id="org-b", name="B"), services=[_service()])
    bad = OrganizationFile(
        organization=Organization(id="org-c", name="C"),
        services=[_service(id="svc-c").model_copy(update={"organization_id": "x"})],
    )
    # a failure half-way (here: a schedule row violating the CHECK) rolls everything back
    broken = bad.model_copy(deep=True)
    broken.services[0].schedule[0].days = ["mon"]
    store.db.execute("CREATE TRIGGER boom BEFORE INSERT ON schedules WHEN NEW.service_id = 'svc-c' "
                     "BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(Exception, match="boom"):
        store.apply([good, broken])
    assert store.services() == []
    assert [o.id for o in store.organizations()] == ["org-a"]


@pytest.mark.parametrize(
    ("when", "holiday", "expected"),
    [
        (dt.datetime(2026, 11, 27, 10, 0), False, True),  # Friday morning
        (dt.datetime(2026, 11, 27, 17, 15), False, False),  # closing time
        (dt.datetime(2026, 11, 28, 10, 0), False, False),  # Saturday
        (dt.datetime(2026, 11, 27, 10, 0), True, False),  # a holiday
    ],
)
def test_is_open(when: dt.datetime, holiday: bool, expected: bool) -> None:
    assert _service().is_open(when, holiday=holiday) is expected


def test_hours_text_reads_as_japanese() -> None:
    assert _service().hours_text() == "月〜金 08:30–17:15"
