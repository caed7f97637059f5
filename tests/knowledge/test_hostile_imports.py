"""Property-based tests (hypothesis) of the KB imports: whatever bytes arrive as CSV sheets
or YAML files — random bytes, invalid UTF-8, NUL bytes, deep nesting, aliases, huge cells —
reading gives either a validated set or a LoadError listing problems (nothing else), and a
refused import changes nothing in the store."""

from __future__ import annotations

import csv
import io
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import KnowledgeStore, LoadError, load_path, open_database, read_files, sample_path
from knowledge.bundle import read_bundle
from knowledge.csvio import SHEETS, export_csv, read_csv

#: nesting depths to try: deep enough to exhaust Python's recursion limit
DEPTHS = st.sampled_from([1, 50, 999, 1_001, 10_000, 100_000])
CELLS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "\x00",
            "=cmd|' /C calc'!A0",
            "\ufeff",
            "\r",
            '"',
            "a,b",
            "|",
            "2025/13/40",
            "-1",
            "9" * 30,
            "👨‍👩‍👧",
            "e\u0301",
        ]
    ),
)
TABLES = st.lists(st.lists(CELLS, max_size=8), max_size=6)


def _deep(n: int) -> bytes:
    return ("[" * n + "]" * n).encode()


def _csv_bytes(rows: list[list[str]], header: tuple[str, ...] | None) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


SHEET_BYTES = st.one_of(
    st.binary(max_size=2000),
    st.builds(_csv_bytes, TABLES, st.one_of(st.none(), st.sampled_from(list(SHEETS.values())))),
    st.integers(1, 200_000).map(lambda n: b"id,name\r\n" + b"x" * n + b",y\r\n"),  # a huge cell
    DEPTHS.map(_deep),
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kb") / "kb.db"
    db = open_database(path)
    load_path(KnowledgeStore(db), sample_path())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture(scope="module")
def store(template: Path, tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    target = tmp_path_factory.mktemp("hostile") / "kb.db"
    shutil.copy(template, target)
    return KnowledgeStore(open_database(target))


def _snapshot(store: KnowledgeStore) -> tuple[int, dict[str, bytes]]:
    return store.version, export_csv(store)


@settings(max_examples=60)
@given(sheets=st.dictionaries(st.sampled_from([*SHEETS, "other.csv"]), SHEET_BYTES, max_size=4))
def test_csv_sheets_are_read_or_refused_with_problems(
    store: KnowledgeStore, sheets: dict[str, bytes]
) -> None:
    before = _snapshot(store)
    try:
        result = read_csv(sheets, store)
    except LoadError as exc:
        assert exc.problems, "a LoadError names its problems"
        for problem in exc.problems:
            assert str(problem)  # each one can be shown
    else:
        assert isinstance(result.files, list)
    assert _snapshot(store) == before  # reading never writes


@settings(max_examples=30)
@given(
    row=st.integers(0, 40),
    column=st.sampled_from(
        ["description", "min_age", "categories", "assured_date", "status", "phone"]
    ),
    value=CELLS,
)
def test_one_bad_cell_refuses_the_whole_import_or_applies_it_whole(
    store: KnowledgeStore, row: int, column: str, value: str
) -> None:
    sheets = export_csv(store)
    table = list(csv.reader(io.StringIO(sheets["services.csv"].decode("utf-8-sig"))))
    header, body = table[0], table[1:]
    body[row % len(body)][header.index(column)] = value
    sheets["services.csv"] = _csv_bytes(body, tuple(header))
    before = _snapshot(store)
    try:
        result = read_csv(sheets, store)
    except LoadError as exc:
        # the problems name where (this cell, or what depends on it, like a concern's category)
        assert exc.problems and all(p.file.endswith(".csv") for p in exc.problems)
        assert _snapshot(store) == before
        return
    report = store.apply(result.files)
    assert len(report.changed) <= 1 and not report.added and not report.retired


YAML_TEXT = st.one_of(
    st.text(max_size=400),
    st.binary(max_size=400).map(lambda b: b.decode("latin-1")),
    DEPTHS.map(lambda n: "a: " + "[" * n + "]" * n),
    st.integers(1, 20_000).map(
        lambda n: "a:\n" + "".join(" " * i + "- \n" for i in range(n % 300))
    ),
    st.just("organization: &o {id: x, name: y}\nservices: [*o, *o]\n"),
    # an alias "bomb": nine levels of ten references each
    st.just(
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
            for i in range(8)
        )
        + "services: *i\norganization: {id: o, name: n}\n"
    ),
    st.builds(
        lambda d: yaml.safe_dump(d, allow_unicode=True),
        st.dictionaries(
            st.sampled_from(["organization", "services", "id", "name"]),
            st.recursive(
                st.none() | st.text(max_size=10) | st.integers(),
                lambda c: (
                    st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3)
                ),
                max_leaves=12,
            ),
            max_size=3,
        ),
    ),
)


@settings(max_examples=60)
@given(text=YAML_TEXT, nul=st.booleans())
def test_yaml_files_are_read_or_refused_with_problems(
    tmp_path_factory: pytest.TempPathFactory, text: str, nul: bool
) -> None:
    folder = tmp_path_factory.mktemp("yaml")
    (folder / "org.yaml").write_text(text + ("\x00" if nul else ""), encoding="utf-8")
    try:
        files = read_files(folder)
    except LoadError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
    else:
        assert all(f.organization.id for f in files)


# -- zips (the admin's upload may be the export's own zip) ------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


def _crafted() -> dict[str, bytes]:
    """Zips that open but cannot be read: each must be a LoadError, never a crash."""
    plain = _zip({"services.csv": b"id,name\r\nx,y\r\n" * 100})
    central = plain.find(b"PK\x01\x02")
    corrupt = bytearray(plain)
    start = plain.find(b"services.csv") + len("services.csv") + 5
    for i in range(start, start + 20):
        corrupt[i] ^= 0xFF
    encrypted = bytearray(plain)
    encrypted[6] |= 1
    encrypted[central + 8] |= 1
    method = bytearray(plain)
    method[8:10] = struct.pack("<H", 99)
    method[central + 10 : central + 12] = struct.pack("<H", 99)
    big = _zip({"services.csv": b"0" * 3_000_000})
    lying = bytearray(big)
    at = big.find(b"PK\x01\x02")
    lying[at + 24 : at + 28] = struct.pack("<I", 100)  # says 100 bytes, holds 3 MB
    bomb = _zip({f"s{i}.csv": b"\0" * 5_000_000 for i in range(5)})  # 25 MB from ~25 KB
    return {
        "corrupt data": bytes(corrupt),
        "encrypted": bytes(encrypted),
        "unknown method": bytes(method),
        "lying size": bytes(lying),
        "zip bomb": bomb,
    }


@pytest.mark.parametrize("case", list(_crafted()))
def test_a_zip_that_cannot_be_read_is_a_load_error(store: KnowledgeStore, case: str) -> None:
    before = _snapshot(store)
    with pytest.raises(LoadError) as refused:
        read_bundle({"kb.zip": _crafted()[case]}, store)
    assert all(str(p) for p in refused.value.problems)
    assert _snapshot(store) == before


@settings(max_examples=60)
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_a_damaged_export_zip_is_read_or_refused(
    store: KnowledgeStore, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(_zip(export_csv(store)))
    for where, bits in flips:
        data[where % len(data)] ^= bits
    if cut is not None:
        del data[cut % len(data) :]
    try:
        bundle = read_bundle({"kb.zip": bytes(data)}, store)
    except LoadError as exc:
        assert exc.problems
    else:
        assert bundle.files
