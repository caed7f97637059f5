"""The knowledge base as CSV: one sheet per table, HSDS-style columns, Excel-friendly.

Four sheets, named after their table:

- ``organizations.csv``: id, name, description, phone, url, email, status
- ``services.csv``: id, organization_id, name, kind, categories, crisis_types,
  description, eligibility, min_age, max_age, languages, fees, status,
  assured_date, area, phone, url, hours_note, open_on_holidays
- ``schedules.csv``: service_id, byday, opens_at, closes_at
- ``example_concerns.csv``: service_id, text, category

List cells are joined with ``|`` (``;`` is read too). Files are written as
UTF-8 with a BOM and CRLF, so Excel opens them in Japanese; reading accepts
a BOM or none, CRLF or LF, quoted newlines, ``8:30`` for ``08:30`` and
``2025/6/1`` for ``2025-06-01`` (what Excel makes of them).

``organizations.csv`` and ``services.csv`` are required. A missing
``schedules.csv`` or ``example_concerns.csv`` keeps what the store has for
the services it already knows; an empty or missing organization ``status``
keeps the organization's status in the store. A retired organization may
only have retired services.

A bad file set is refused whole: :func:`read_csv` raises ``LoadError`` with
a :class:`CsvProblem` (file, row, column) for every error, and nothing is
written. :func:`preview` says what an apply would add, change and retire
without writing; :func:`apply_csv` writes in one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import (
    LEFT_UNDER_RETIRED,
    SERVICE_OF_RETIRED,
    LoadError,
    LoadProblem,
    NotFound,
    ja_message,
)
from .files import write_folder
from .models import WEEKDAYS, ExampleConcern, Organization, OrganizationFile, Schedule, Service
from .store import ApplyReport, KnowledgeStore

ORGANIZATION_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "description",
    "phone",
    "url",
    "email",
    "status",
)
SERVICE_COLUMNS: tuple[str, ...] = (
    "id",
    "organization_id",
    "name",
    "kind",
    "categories",
    "crisis_types",
    "description",
    "eligibility",
    "min_age",
    "max_age",
    "languages",
    "fees",
    "status",
    "assured_date",
    "area",
    "phone",
    "url",
    "hours_note",
    "open_on_holidays",
)
SCHEDULE_COLUMNS: tuple[str, ...] = ("service_id", "byday", "opens_at", "closes_at")
CONCERN_COLUMNS: tuple[str, ...] = ("service_id", "text", "category")

SHEETS: dict[str, tuple[str, ...]] = {
    "organizations.csv": ORGANIZATION_COLUMNS,
    "services.csv": SERVICE_COLUMNS,
    "schedules.csv": SCHEDULE_COLUMNS,
    "example_concerns.csv": CONCERN_COLUMNS,
}
REQUIRED_SHEETS: tuple[str, ...] = ("organizations.csv", "services.csv")

_LIST_FIELDS = ("categories", "crisis_types", "languages")
_OPTIONAL_TEXT = ("phone", "url", "email")
_SPLIT = re.compile(r"[|;]")
_SLASH_DATE = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_TRUE = {"true", "1", "yes", "y", "はい", "○", "〇"}
_FALSE = {"false", "0", "no", "n", "いいえ", "", "×"}


class CsvProblem(LoadProblem):
    """One problem in one cell: the file, the spreadsheet row (header = 1) and the column."""

    def __init__(self, file: str, row: int, column: str, message: str) -> None:
        letter = ""
        columns = SHEETS.get(file)
        if columns and column in columns:
            letter = f"{_column_letter(columns.index(column))}列 "
        super().__init__(file, f"{row}行目", f"{letter}{column}".strip(), message)
        self.row = row
        self.column = column

    def __str__(self) -> str:
        return f"{self.file} {self.record} {self.field}: {self.message}"


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


# -- writing -------------------------------------------------------------------------


def _join(values: list[str]) -> str:
    return "|".join(values)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def export_tables(store: KnowledgeStore) -> dict[str, list[dict[str, str]]]:
    """Every table as rows of strings, in the order the store keeps them."""
    orgs = [
        {k: _cell(v) for k, v in o.model_dump().items() if k in ORGANIZATION_COLUMNS}
        for o in store.organizations()
    ]
    services: list[dict[str, str]] = []
    schedules: list[dict[str, str]] = []
    concerns: list[dict[str, str]] = []
    for s in store.services(include_retired=True):
        row: dict[str, str] = {}
        for col in SERVICE_COLUMNS:
            value = getattr(s, col)
            row[col] = _join(value) if col in _LIST_FIELDS else _cell(value)
        services.append(row)
        for sch in s.schedule:
            schedules.append(
                {
                    "service_id": s.id,
                    "byday": _join(list(sch.days)),
                    "opens_at": sch.opens,
                    "closes_at": sch.closes,
                }
            )
        for c in s.example_concerns:
            concerns.append({"service_id": s.id, "text": c.text, "category": c.category or ""})
    return {
        "organizations.csv": orgs,
        "services.csv": services,
        "schedules.csv": schedules,
        "example_concerns.csv": concerns,
    }


def to_csv_bytes(columns: tuple[str, ...], rows: list[dict[str, str]]) -> bytes:
    """One sheet as UTF-8 with BOM and CRLF (what Excel expects)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


def export_csv(store: KnowledgeStore) -> dict[str, bytes]:
    """Every sheet as bytes, by file name."""
    return {name: to_csv_bytes(SHEETS[name], rows) for name, rows in export_tables(store).items()}


def export_csv_path(store: KnowledgeStore, path: Path) -> list[Path]:
    """Write the four sheets into the folder ``path``."""
    return write_folder(path, export_csv(store))


# -- reading -------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    rows: list[tuple[int, dict[str, str]]]  # (spreadsheet row, cells)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel's "CSV" in a Japanese Windows is Shift_JIS (cp932)
        return data.decode("cp932")


def _parse_sheet(name: str, data: bytes, problems: list[LoadProblem]) -> _Sheet | None:
    columns = SHEETS[name]
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        problems.append(
            CsvProblem(name, 1, "(file)", "文字コードを読めません。UTF-8 で保存してください")
        )
        return None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        table = list(reader)
    except csv.Error as exc:
        problems.append(CsvProblem(name, 1, "(file)", f"CSV として読めません: {exc}"))
        return None
    if not table:
        problems.append(CsvProblem(name, 1, "(file)", "見出し行がありません"))
        return None
    header = [h.strip().lstrip("\ufeff") for h in table[0]]
    missing = [c for c in columns if c not in header and c in ("id", "service_id", "name")]
    unknown = [h for h in header if h and h not in columns]
    for c in missing:
        problems.append(CsvProblem(name, 1, c, "この列がありません"))
    for h in unknown:
        problems.append(CsvProblem(name, 1, h, f"知らない列です（使える列: {', '.join(columns)}）"))
    if missing or unknown:
        return None
    rows: list[tuple[int, dict[str, str]]] = []
    for i, record in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines Excel leaves at the end
        if len(record) > len(header) and any(c.strip() for c in record[len(header) :]):
            problems.append(CsvProblem(name, i, header[-1], "見出しより多くの列に値があります"))
            continue
        cells = {h: (record[j] if j < len(record) else "") for j, h in enumerate(header) if h}
        rows.append((i, cells))
    return _Sheet(name, rows)


def _split(value: str) -> list[str]:
    return [v.strip() for v in _SPLIT.split(value) if v.strip()]


def _service_data(cells: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for col, raw in cells.items():
        value = raw if col in ("description", "eligibility", "fees", "hours_note") else raw.strip()
        if col in _LIST_FIELDS:
            if col == "languages" and not value:
                continue  # the model's default (ja)
            data[col] = _split(value)
        elif col in ("min_age", "max_age", "assured_date") or col in _OPTIONAL_TEXT:
            if col == "assured_date":
                m = _SLASH_DATE.match(value)
                if m:
                    value = f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
            data[col] = value or None
        elif col == "open_on_holidays":
            low = value.lower()
            data[col] = True if low in _TRUE else False if low in _FALSE else value
        elif col in ("kind", "status"):
            if value:
                data[col] = value
        else:
            data[col] = value
    return data


def _org_data(cells: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for col, raw in cells.items():
        value = raw.strip() if col != "description" else raw
        if col == "status" and not value:
            continue  # keep the store's (or the default)
        data[col] = (value or None) if col in _OPTIONAL_TEXT else value
    return data


def _errors(
    file: str, row: int, exc: ValidationError, problems: list[LoadProblem], default: str
) -> None:
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        column = loc[0] if loc else default
        problems.append(CsvProblem(file, row, column, ja_message(err)))


@dataclass
class CsvSet:
    """A validated CSV import: the organization files to apply, and what it covered."""

    files: list[OrganizationFile]
    service_rows: dict[str, int] = field(default_factory=dict)


def read_csv(sheets: Mapping[str, bytes], store: KnowledgeStore | None = None) -> CsvSet:
    """Parse and validate a set of sheets (file name → bytes); LoadError lists every problem.

    ``store`` supplies the organizations and the schedules/concerns of known
    services a file set leaves out; without it every sheet must say all.
    """
    problems: list[LoadProblem] = []
    names = {Path(n).name.lower(): data for n, data in sheets.items()}
    unknown = [n for n in names if n not in SHEETS]
    for n in unknown:
        problems.append(
            CsvProblem(n, 1, "(file)", f"知らないファイルです（使える名前: {', '.join(SHEETS)}）")
        )
    for n in REQUIRED_SHEETS:
        if n not in names:
            problems.append(CsvProblem(n, 1, "(file)", "このファイルが必要です"))
    parsed: dict[str, _Sheet] = {}
    for n, raw in names.items():
        if n in SHEETS:
            sheet = _parse_sheet(n, raw, problems)
            if sheet is not None:
                parsed[n] = sheet
    if problems:
        raise LoadError(problems)

    # organizations
    orgs: dict[str, Organization] = {}
    org_rows: dict[str, int] = {}
    for row, cells in parsed["organizations.csv"].rows:
        try:
            org = Organization.model_validate(_org_data(cells))
        except ValidationError as exc:
            _errors("organizations.csv", row, exc, problems, "id")
            continue
        if org.id in orgs:
            problems.append(
                CsvProblem("organizations.csv", row, "id", f"{org.id} が重複しています")
            )
        orgs[org.id] = org
        org_rows[org.id] = row

    # schedules and concerns, by service
    schedules: dict[str, list[Schedule]] | None = None
    if "schedules.csv" in parsed:
        schedules = {}
        for row, cells in parsed["schedules.csv"].rows:
            sid = cells.get("service_id", "").strip()
            days = [d.lower() for d in _split(cells.get("byday", ""))]
            try:
                sch = Schedule.model_validate(
                    {
                        "days": days,
                        "opens": cells.get("opens_at", ""),
                        "closes": cells.get("closes_at", ""),
                    }
                )
            except ValidationError as exc:
                for err in exc.errors():
                    loc = [str(p) for p in err["loc"]]
                    column = {"days": "byday", "opens": "opens_at", "closes": "closes_at"}.get(
                        loc[0] if loc else "", "closes_at" if not loc else loc[0]
                    )
                    msg = ja_message(err)
                    if loc and loc[0] == "days":
                        msg = f"曜日は {'|'.join(WEEKDAYS)} で書いてください"
                    problems.append(CsvProblem("schedules.csv", row, column, msg))
                continue
            schedules.setdefault(sid, []).append(sch)
    concern_rows: dict[str, list[tuple[int, ExampleConcern]]] | None = None
    if "example_concerns.csv" in parsed:
        concern_rows = {}
        for row, cells in parsed["example_concerns.csv"].rows:
            sid = cells.get("service_id", "").strip()
            try:
                concern = ExampleConcern.model_validate(
                    {
                        "text": cells.get("text", ""),
                        "category": cells.get("category", "").strip() or None,
                    }
                )
            except ValidationError as exc:
                _errors("example_concerns.csv", row, exc, problems, "text")
                continue
            concern_rows.setdefault(sid, []).append((row, concern))

    # services
    known_orgs = {o.id: o for o in store.organizations()} if store is not None else {}
    existing: dict[str, Service] = (
        {s.id: s for s in store.services(include_retired=True)} if store is not None else {}
    )
    services: list[Service] = []
    rows_of: dict[str, int] = {}
    for row, cells in parsed["services.csv"].rows:
        data = _service_data(cells)
        sid = str(data.get("id", ""))
        old = existing.get(sid)
        data["schedule"] = (
            schedules.get(sid, []) if schedules is not None else (old.schedule if old else [])
        )
        if concern_rows is not None:
            own = concern_rows.get(sid, [])
            cats = set(_split(cells.get("categories", "")))
            bad = False
            for crow, c in own:
                if c.category is not None and c.category not in cats:
                    problems.append(
                        CsvProblem(
                            "example_concerns.csv",
                            crow,
                            "category",
                            f"{c.category} はサービス {sid} のカテゴリにありません",
                        )
                    )
                    bad = True
            if bad:
                continue
            data["example_concerns"] = [c for _, c in own]
        else:
            data["example_concerns"] = old.example_concerns if old else []
        try:
            service = Service.model_validate(data)
        except ValidationError as exc:
            _errors("services.csv", row, exc, problems, "id")
            continue
        if service.id in rows_of:
            problems.append(
                CsvProblem(
                    "services.csv",
                    row,
                    "id",
                    f"{service.id} が重複しています（{rows_of[service.id]}行目）",
                )
            )
            continue
        if not service.organization_id:
            problems.append(CsvProblem("services.csv", row, "organization_id", "必須です"))
            continue
        if service.organization_id not in orgs and service.organization_id not in known_orgs:
            problems.append(
                CsvProblem(
                    "services.csv",
                    row,
                    "organization_id",
                    f"組織 {service.organization_id} が organizations.csv にありません",
                )
            )
            continue
        rows_of[service.id] = row
        services.append(service)

    # rows in the child sheets that name no service
    service_ids = {c.get("id", "").strip() for _, c in parsed["services.csv"].rows}
    for sheet_name in ("schedules.csv", "example_concerns.csv"):
        if sheet_name not in parsed:
            continue
        for row, cells in parsed[sheet_name].rows:
            sid = cells.get("service_id", "").strip()
            if sid not in service_ids and not _row_failed(problems, sheet_name, row):
                problems.append(
                    CsvProblem(
                        sheet_name,
                        row,
                        "service_id",
                        f"サービス {sid or '（空）'} が services.csv にありません",
                    )
                )
    if problems:
        raise LoadError(problems)

    files: list[OrganizationFile] = []
    all_orgs = {**known_orgs, **orgs}
    for oid in sorted({s.organization_id for s in services} | set(orgs)):
        files.append(
            OrganizationFile(
                organization=all_orgs[oid],
                services=[s for s in services if s.organization_id == oid],
            )
        )
    if store is not None:
        for oid, sid in store.active_under_retired(files):
            if sid in rows_of:
                problems.append(
                    CsvProblem(
                        "services.csv", rows_of[sid], "status", SERVICE_OF_RETIRED.format(org=oid)
                    )
                )
            elif oid in org_rows:
                problems.append(
                    CsvProblem(
                        "organizations.csv",
                        org_rows[oid],
                        "status",
                        LEFT_UNDER_RETIRED.format(service=sid),
                    )
                )
        if problems:
            raise LoadError(problems)
    return CsvSet(files=files, service_rows=rows_of)


def _row_failed(problems: list[LoadProblem], sheet: str, row: int) -> bool:
    return any(isinstance(p, CsvProblem) and p.file == sheet and p.row == row for p in problems)


def read_csv_path(path: Path, store: KnowledgeStore | None = None) -> CsvSet:
    """Read the sheets in the folder ``path`` (or one ``services.csv``-style file's folder)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not folder.exists():
        raise LoadError([LoadProblem(str(path), "(file)", "(file)", "フォルダが見つかりません")])
    sheets = {p.name: p.read_bytes() for p in folder.iterdir() if p.name.lower() in SHEETS}
    return read_csv(sheets, store)


# -- preview and apply ---------------------------------------------------------------


@dataclass
class Change:
    """One service an import would change, with the fields that differ."""

    id: str
    name: str
    fields: list[str]


@dataclass
class Preview:
    """What applying would do, by id; nothing has been written."""

    added: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    organizations_added: list[str] = field(default_factory=list)
    organizations_changed: list[str] = field(default_factory=list)
    organizations_retired: list[str] = field(default_factory=list)
    organizations_restored: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.changed
            or self.retired
            or self.organizations_added
            or self.organizations_changed
        )


def _fields_changed(old: Service, new: Service) -> list[str]:
    a = old.model_dump(mode="json")
    b = new.model_dump(mode="json")
    return [k for k in b if a.get(k) != b[k]]


def preview(
    store: KnowledgeStore, files: list[OrganizationFile], *, retire_missing: bool = False
) -> Preview:
    """What ``store.apply(files, retire_missing=...)`` would do, without writing."""
    out = Preview()
    seen: set[str] = set()
    for f in files:
        new_org = store.organization_as_applied(f.organization)
        try:
            old_org = store.organization(new_org.id)
        except NotFound:
            out.organizations_added.append(new_org.id)
        else:
            if old_org != new_org:
                out.organizations_changed.append(new_org.id)
            if old_org.status != new_org.status:
                target = (
                    out.organizations_retired
                    if new_org.status == "retired"
                    else out.organizations_restored
                )
                target.append(new_org.id)
        for s in f.services:
            s = s.model_copy(update={"organization_id": f.organization.id})
            seen.add(s.id)
            try:
                old = store.service(s.id)
            except NotFound:
                out.added.append(s.id)
                continue
            if old.content_hash() == s.content_hash():
                out.unchanged.append(s.id)
                continue
            if s.status == "retired" and old.status != "retired":
                out.retired.append(s.id)
            out.changed.append(Change(s.id, s.name, _fields_changed(old, s)))
    if retire_missing:
        out.retired.extend(s.id for s in store.services() if s.id not in seen)
    return out


def apply_csv(
    store: KnowledgeStore, csv_set: CsvSet, *, retire_missing: bool = False
) -> ApplyReport:
    """Write a validated import in one transaction."""
    return store.apply(csv_set.files, retire_missing=retire_missing)


def load_csv_path(
    store: KnowledgeStore, path: Path, *, retire_missing: bool = False
) -> ApplyReport:
    """Validate then apply the sheets in ``path`` (all or nothing)."""
    return apply_csv(store, read_csv_path(path, store), retire_missing=retire_missing)
