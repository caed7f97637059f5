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
    OrganizationRetired,
    Schedule,
    Service,
    open_database,
)


def _service(**kw: object) -> Service:
    base: dict[str, object] = {
        "id": "svc-a",
        "name": "家計の相談",
        "categories": ["poverty", "housing"],
        "schedule": [
            Schedule(days=["mon", "tue", "wed", "thu", "fri"], opens="08:30", closes="17:15")
        ],
        "example_concerns": [
            "家賃が払えない",
            {"text": "家を出ないといけない", "category": "housing"},
        ],
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
    assert names == ["001_initial", "002_organization_status"]


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
    store.db.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON schedules WHEN NEW.service_id = 'svc-c' "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    with pytest.raises(Exception, match="boom"):
        store.apply([good, broken])
    assert store.services() == []
    assert [o.id for o in store.organizations()] == ["org-a"]


# -- retiring an organization -------------------------------------------------------------


@pytest.fixture
def three(store: KnowledgeStore) -> KnowledgeStore:
    """org-a with an active, a paused and an already retired service."""
    for sid, status in (("svc-a", "active"), ("svc-b", "inactive"), ("svc-c", "retired")):
        store.upsert_service(
            _service(id=sid, status=status).model_copy(update={"organization_id": "org-a"})
        )
    return store


def _statuses(store: KnowledgeStore) -> dict[str, str]:
    return {s.id: s.status for s in store.services(include_retired=True)}


def test_retiring_an_organization_retires_its_services_and_restoring_brings_back_those(
    three: KnowledgeStore,
) -> None:
    version = three.version
    assert three.retire_organization("org-a") == ["svc-a", "svc-b"]
    assert three.organization("org-a").status == "retired"
    assert _statuses(three) == {"svc-a": "retired", "svc-b": "retired", "svc-c": "retired"}
    assert three.concerns() == [] and three.version > version
    assert three.retired_with_organization("org-a") == {"svc-a": "active", "svc-b": "inactive"}
    # retiring twice changes nothing more
    version = three.version
    assert three.retire_organization("org-a") == []
    assert three.version == version

    assert three.restore_organization("org-a") == ["svc-a", "svc-b"]
    assert three.organization("org-a").status == "active"
    # each comes back as it was; the one retired before stays retired
    assert _statuses(three) == {"svc-a": "active", "svc-b": "inactive", "svc-c": "retired"}
    assert {c.service_id for c in three.concerns()} == {"svc-a"}
    assert three.retired_with_organization("org-a") == {}


def test_no_active_service_under_a_retired_organization(three: KnowledgeStore) -> None:
    three.retire_organization("org-a")
    version = three.version
    with pytest.raises(OrganizationRetired):
        three.set_status("svc-a", "active")
    with pytest.raises(OrganizationRetired):
        three.upsert_service(_service(id="svc-new").model_copy(update={"organization_id": "org-a"}))
    assert three.version == version and _statuses(three)["svc-a"] == "retired"
    # editing a retired service of a retired organization is fine, and keeps its way back
    three.upsert_service(three.service("svc-a").model_copy(update={"name": "新しい名前"}))
    assert three.restore_organization("org-a") == ["svc-a", "svc-b"]


def test_a_file_silent_on_status_keeps_the_organizations(three: KnowledgeStore) -> None:
    three.retire_organization("org-a")
    silent = OrganizationFile(organization=Organization(id="org-a", name="ひなた市（改称）"))
    assert "status" not in silent.organization.model_fields_set
    three.apply([silent])
    assert three.organization("org-a") == Organization(
        id="org-a", name="ひなた市（改称）", status="retired"
    )
    said = OrganizationFile(organization=Organization(id="org-a", name="ひなた市", status="active"))
    three.apply([said])
    assert three.organization("org-a").status == "active"


def test_active_under_retired_names_what_an_import_must_refuse(three: KnowledgeStore) -> None:
    retiring = OrganizationFile(organization=Organization(id="org-a", name="x", status="retired"))
    assert three.active_under_retired([retiring]) == [("org-a", "svc-a"), ("org-a", "svc-b")]
    with_services = retiring.model_copy(
        update={
            "services": [
                three.service(sid).model_copy(update={"status": "retired"})
                for sid in ("svc-a", "svc-b")
            ]
        }
    )
    assert three.active_under_retired([with_services]) == []
    three.retire_organization("org-a")
    silent = OrganizationFile(
        organization=Organization(id="org-a", name="x"), services=[_service(id="svc-a")]
    )
    assert three.active_under_retired([silent]) == [("org-a", "svc-a")]


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
