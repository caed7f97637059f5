"""Loading and exporting YAML: idempotent, all-or-nothing, precise errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from knowledge import (
    CATEGORIES,
    KnowledgeStore,
    LoadError,
    export_path,
    load_path,
    open_database,
    read_files,
    read_yaml,
    sample_path,
)

GOOD = """
organization: {id: org-x, name: テスト団体}
services:
  - id: svc-x
    name: テスト
    categories: [participation]
    example_concerns: [話し相手がほしい]
"""


def _store(tmp_path: Path) -> KnowledgeStore:
    return KnowledgeStore(open_database(tmp_path / "kb.db"))


def test_sample_kb_covers_every_category() -> None:
    files = read_files(sample_path())
    services = [s for f in files for s in f.services]
    assert len(services) >= 40
    per_category: Counter[str] = Counter()
    for s in services:
        for c in s.example_concerns:
            per_category[s.concern_category(c)] += 1
    assert set(per_category) == set(CATEGORIES)
    assert min(per_category.values()) >= 12, per_category


@pytest.mark.parametrize(
    ("number", "name_part"),
    [
        ("110", "警察"),
        ("119", ""),
        ("189", ""),
        ("#8008", ""),
        ("0120-279-338", "よりそい"),
        ("0570-064-556", ""),
        ("188", ""),
        ("#9110", ""),
    ],
)
def test_sample_kb_has_the_national_lines(number: str, name_part: str) -> None:
    services = [s for f in read_files(sample_path()) for s in f.services]
    phones = {s.phone: s for s in services if s.phone}
    assert number in phones, f"no service with phone {number}"
    assert phones[number].area == "全国"


def test_local_numbers_are_fictional() -> None:
    for f in read_files(sample_path()):
        for s in f.services:
            if s.area != "全国" and s.phone:
                assert s.phone.startswith("000-"), (s.id, s.phone)


def test_load_is_idempotent(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = load_path(store, sample_path())
    version = store.version
    second = load_path(store, sample_path())
    assert first.added and not second.added and not second.changed
    assert store.version == version


def test_bad_file_changes_nothing_and_names_file_record_field(tmp_path: Path) -> None:
    store = _store(tmp_path)
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.yaml").write_text(GOOD, encoding="utf-8")
    (folder / "b.yaml").write_text(
        GOOD.replace("org-x", "org-y")
        .replace("svc-x", "svc-y")
        .replace("participation", "cooking"),
        encoding="utf-8",
    )
    with pytest.raises(LoadError) as info:
        load_path(store, folder)
    (problem,) = info.value.problems
    assert (problem.file, problem.record, problem.field) == (
        "b.yaml",
        "services[0] id=svc-y",
        "categories",
    )
    assert store.services() == [] and store.organizations() == []


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("organization: {id: Bad_Id, name: x}\n", "id"),
        (GOOD.replace("    name: テスト\n", ""), "name"),
        (GOOD + "    surprise: 1\n", "surprise"),
        ("organization: [1, 2\n", "(file)"),
    ],
)
def test_each_kind_of_mistake_is_named(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LoadError) as info:
        read_files(path)
    assert any(p.field == field for p in info.value.problems), info.value.problems


def test_duplicate_service_ids_across_files_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.yaml").write_text(GOOD, encoding="utf-8")
    (folder / "b.yaml").write_text(GOOD.replace("org-x", "org-z"), encoding="utf-8")
    with pytest.raises(LoadError, match="重複"):
        read_files(folder)


def test_export_then_load_round_trips(tmp_path: Path) -> None:
    store = _store(tmp_path)
    load_path(store, sample_path())
    out = tmp_path / "export"
    written = export_path(store, out)
    assert written
    other = KnowledgeStore(open_database(tmp_path / "other.db"))
    load_path(other, out)
    assert [s.model_dump() for s in other.services()] == [s.model_dump() for s in store.services()]
    # and loading the export back into the original changes nothing
    report = load_path(store, out)
    assert not report.added and not report.changed


def test_uploaded_yaml_names_the_line_of_a_syntax_error_and_fields_in_japanese() -> None:
    bad_syntax = GOOD.replace("categories: [participation]", "categories: [participation")
    bad_schema = (
        GOOD.replace("org-x", "org-y").replace("svc-x", "svc-y").replace("participation", "cooking")
        + "    schedule: [{days: [mon], opens: '25:00', closes: '17:00'}]\n"
        + "    min_age: 二十\n"
    )
    with pytest.raises(LoadError) as info:
        read_yaml(
            {
                "a.yaml": bad_syntax.encode(),
                "b.yaml": bad_schema.encode(),
                "c.yaml": b"",
                "d.yaml": "\ufeff".encode() + GOOD.replace("-x", "-z").encode(),
            }
        )
    found = {(p.file, p.record, p.field): p.message for p in info.value.problems}
    (syntax,) = [k for k in found if k[0] == "a.yaml"]
    assert syntax[1] == "7行目" and syntax[2] == "(file)"
    assert found["b.yaml", "services[0] id=svc-y", "categories"].startswith(
        "不明なカテゴリ: cooking"
    )
    assert found["b.yaml", "services[0] id=svc-y", "schedule.0.opens"] == (
        "時刻は HH:MM で書いてください（例 08:30）"
    )
    assert found["b.yaml", "services[0] id=svc-y", "min_age"] == "整数で書いてください"
    assert found["c.yaml", "(file)", "(file)"] == "空のファイルです"
    assert not any(k[0] == "d.yaml" for k in found)  # a BOM is fine


def test_yaml_may_not_leave_a_service_active_under_a_retired_organization(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.apply(read_yaml({"a.yaml": GOOD.encode()}))
    retiring = GOOD.replace("テスト団体}", "テスト団体, status: retired}")
    with pytest.raises(LoadError) as info:
        read_yaml({"a.yaml": retiring.encode()}, store)
    (problem,) = info.value.problems
    assert (problem.file, problem.record, problem.field) == (
        "a.yaml",
        "services[0] id=svc-x",
        "status",
    )
    assert "retired" in problem.message
    files = read_yaml({"a.yaml": (retiring + "    status: retired\n").encode()}, store)
    store.apply(files)
    assert store.organization("org-x").status == "retired" and store.services() == []
