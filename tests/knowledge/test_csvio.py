"""CSV import/export: round trip, spreadsheet quirks, all-or-nothing with row and column."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from knowledge import KnowledgeStore, LoadError
from knowledge.csvio import (
    CsvProblem,
    export_csv,
    export_csv_path,
    load_csv_path,
    preview,
    read_csv,
)


@pytest.fixture
def store(sample_store: KnowledgeStore) -> KnowledgeStore:
    return sample_store


def _problems(exc: pytest.ExceptionInfo[LoadError]) -> list[CsvProblem]:
    out = [p for p in exc.value.problems if isinstance(p, CsvProblem)]
    assert len(out) == len(exc.value.problems)
    return out


def test_export_is_excel_friendly(store: KnowledgeStore) -> None:
    sheets = export_csv(store)
    assert set(sheets) == {
        "organizations.csv",
        "services.csv",
        "schedules.csv",
        "example_concerns.csv",
    }
    services = sheets["services.csv"]
    assert services.startswith(b"\xef\xbb\xbf")  # BOM
    header = services.decode("utf-8-sig").split("\r\n")[0]
    assert header.startswith("id,organization_id,name,kind,categories")
    assert "\r\n" in services.decode("utf-8-sig")


def test_round_trip_is_a_no_op(store: KnowledgeStore, tmp_path: Path) -> None:
    export_csv_path(store, tmp_path / "csv")
    version = store.version
    before = [s.content_hash() for s in store.services(include_retired=True)]
    csv_set = read_csv({p.name: p.read_bytes() for p in (tmp_path / "csv").iterdir()}, store)
    diff = preview(store, csv_set.files, retire_missing=True)
    assert diff.empty, diff
    report = load_csv_path(store, tmp_path / "csv", retire_missing=True)
    assert report.added == [] and report.changed == [] and report.retired == []
    assert store.version == version
    assert [s.content_hash() for s in store.services(include_retired=True)] == before


def test_a_spreadsheet_saved_file_imports(store: KnowledgeStore) -> None:
    sheets = export_csv(store)
    org = store.organizations()[0]
    services = (
        "\ufeffid,organization_id,name,categories,description,assured_date,open_on_holidays\r\n"
        f"kodomo-shokudo-new,{org.id},ひなた子ども食堂,child_family;participation,"
        '"毎週土曜のお昼ごはん。\r\n子どもは無料、大人300円。",2026/11/2,はい\r\n'
    ).encode()
    schedules = (
        "\ufeffservice_id,byday,opens_at,closes_at\r\nkodomo-shokudo-new,sat,11:00,14:00\r\n"
    ).encode()
    concerns = (
        "\ufeffservice_id,text,category\r\n"
        'kodomo-shokudo-new,"子どもに温かいごはんを\r\n食べさせたい",\r\n'
        "kodomo-shokudo-new,週末に子どもの居場所がほしい,participation\r\n"
    ).encode()
    csv_set = read_csv(
        {
            "organizations.csv": sheets["organizations.csv"],
            "services.csv": services,
            "schedules.csv": schedules,
            "example_concerns.csv": concerns,
        },
        store,
    )
    diff = preview(store, csv_set.files)
    assert diff.added == ["kodomo-shokudo-new"] and diff.changed == []
    store.apply(csv_set.files)
    s = store.service("kodomo-shokudo-new")
    assert s.description == "毎週土曜のお昼ごはん。\r\n子どもは無料、大人300円。"
    assert s.assured_date is not None and s.assured_date.isoformat() == "2026-11-02"
    assert s.open_on_holidays and s.categories == ["child_family", "participation"]
    assert s.hours_text() == "土 11:00–14:00"
    assert s.example_concerns[0].text == "子どもに温かいごはんを\r\n食べさせたい"


def test_one_bad_row_changes_nothing_and_names_row_and_column(
    store: KnowledgeStore, tmp_path: Path
) -> None:
    export_csv_path(store, tmp_path / "csv")
    path = tmp_path / "csv" / "services.csv"
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))
    header = rows[0]
    # row 4 (header is row 1): an unknown category; row 6: an age that is not a number
    rows[3][header.index("categories")] = "nonsense"
    rows[5][header.index("min_age")] = "二十歳"
    rows[2][header.index("name")] = "a good change that must not be applied either"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8-sig"))
    version = store.version
    with pytest.raises(LoadError) as exc:
        load_csv_path(store, tmp_path / "csv")
    problems = _problems(exc)
    found = {(p.file, p.row, p.column) for p in problems}
    assert ("services.csv", 4, "categories") in found
    assert ("services.csv", 6, "min_age") in found
    text = str(exc.value)
    assert "4行目" in text and "E列 categories" in text and "不明なカテゴリ" in text
    assert store.version == version


def test_child_rows_naming_no_service_and_bad_hours(store: KnowledgeStore) -> None:
    sheets = export_csv(store)
    schedules = "service_id,byday,opens_at,closes_at\nno-such-svc,mon,09:00,17:00\n"
    sid = store.services()[0].id
    schedules += f"{sid},funday,09:00,17:00\n{sid},mon,18:00,09:00\n"
    with pytest.raises(LoadError) as exc:
        read_csv({**sheets, "schedules.csv": schedules.encode()}, store)
    found = {(p.file, p.row, p.column) for p in _problems(exc)}
    assert found == {
        ("schedules.csv", 2, "service_id"),
        ("schedules.csv", 3, "byday"),
        ("schedules.csv", 4, "closes_at"),
    }


def test_missing_sheets_keep_hours_and_concerns_and_retired_shows_in_preview(
    store: KnowledgeStore,
) -> None:
    sheets = export_csv(store)
    s = store.services()[0]
    text = sheets["services.csv"].decode("utf-8-sig")
    csv_set = read_csv(
        {
            "organizations.csv": sheets["organizations.csv"],
            "services.csv": text.replace(f"\r\n{s.id},", f"\r\n{s.id}-renamed,", 1).encode(),
        },
        store,
    )
    diff = preview(store, csv_set.files, retire_missing=True)
    assert diff.added == [f"{s.id}-renamed"] and diff.retired == [s.id]
    report = store.apply(csv_set.files, retire_missing=True)
    assert report.retired == [s.id]
    assert store.service(f"{s.id}-renamed").example_concerns == []  # new service: none given
    other = store.services()[1]
    assert other.example_concerns  # known services keep theirs


def test_unknown_columns_and_files_are_named(store: KnowledgeStore) -> None:
    sheets = export_csv(store)
    with pytest.raises(LoadError) as exc:
        read_csv({**sheets, "services.csv": b"id,name,colour\n", "extra.csv": b"x\n"}, store)
    found = {(p.file, p.row, p.column) for p in _problems(exc)}
    assert ("services.csv", 1, "colour") in found and ("extra.csv", 1, "(file)") in found


def _table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _sheet(table: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(table)
    return buf.getvalue().encode("utf-8-sig")


def test_organization_status_round_trips_and_a_sheet_without_it_keeps_it(
    store: KnowledgeStore,
) -> None:
    org = store.organizations()[0]
    store.retire_organization(org.id)
    sheets = export_csv(store)
    orgs = _table(sheets["organizations.csv"])
    assert orgs[0][-1] == "status" and orgs[1][-1] == "retired" and orgs[2][-1] == "active"
    assert preview(store, read_csv(sheets, store).files).empty
    # an older sheet without the column (or an empty cell) keeps the store's status
    without = _sheet([row[:-1] for row in orgs])
    csv_set = read_csv({**sheets, "organizations.csv": without}, store)
    assert preview(store, csv_set.files).empty
    store.apply(csv_set.files)
    assert store.organization(org.id).status == "retired"


def test_retiring_an_organization_by_csv_needs_its_services_retired(
    store: KnowledgeStore,
) -> None:
    sheets = export_csv(store)
    orgs = _table(sheets["organizations.csv"])
    services = _table(sheets["services.csv"])
    oid = orgs[1][0]
    orgs[1][-1] = "retired"
    own = [i for i, row in enumerate(services) if row[1] == oid]
    assert own
    version = store.version
    with pytest.raises(LoadError) as exc:
        read_csv({**sheets, "organizations.csv": _sheet(orgs)}, store)
    found = {(p.file, p.row, p.column) for p in _problems(exc)}
    assert found == {("services.csv", i + 1, "status") for i in own}
    assert "retired" in str(exc.value)
    # leaving the services out of the file names the organization's row instead
    rest = [services[0]] + [row for row in services[1:] if row[1] != oid]
    with pytest.raises(LoadError) as exc:
        read_csv(
            {
                **sheets,
                "organizations.csv": _sheet(orgs),
                "services.csv": _sheet(rest),
                "schedules.csv": b"service_id,byday,opens_at,closes_at\r\n",
                "example_concerns.csv": b"service_id,text,category\r\n",
            },
            store,
        )
    problems = _problems(exc)
    assert {(p.file, p.record, p.field) for p in problems} == {
        ("organizations.csv", "2行目", "G列 status")
    }
    assert len(problems) == len(own)  # one per service left active, each named
    assert all(services[i][0] in str(exc.value) for i in own)
    assert store.version == version
    # with its services retired too, it previews as one organization retired
    status = services[0].index("status")
    for i in own:
        services[i][status] = "retired"
    csv_set = read_csv(
        {**sheets, "organizations.csv": _sheet(orgs), "services.csv": _sheet(services)}, store
    )
    diff = preview(store, csv_set.files)
    assert diff.organizations_retired == [oid] and sorted(diff.retired) == sorted(
        services[i][0] for i in own
    )
