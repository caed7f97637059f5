"""Loading and exporting the knowledge base as YAML files.

A load validates every file before it writes anything, and writes all of
them in one transaction: a bad file changes nothing and the error names the
file, the record and the field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import (
    LEFT_UNDER_RETIRED,
    SERVICE_OF_RETIRED,
    LoadError,
    LoadProblem,
    ja_message,
)
from .models import OrganizationFile
from .store import ApplyReport, KnowledgeStore


def sample_path() -> Path:
    """The bundled sample knowledge base of the fictional ひなた市."""
    return Path(str(resources.files("knowledge") / "sample"))


def _record_name(data: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Turn a pydantic error location into (record, field) words."""
    if loc and loc[0] == "services" and len(loc) > 1 and isinstance(loc[1], int):
        idx = loc[1]
        sid = "?"
        with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
            sid = str(data["services"][idx].get("id", "?"))
        field = ".".join(str(p) for p in loc[2:]) or "(record)"
        return f"services[{idx}] id={sid}", field
    if loc and loc[0] == "organization":
        oid = "?"
        with contextlib.suppress(KeyError, TypeError, AttributeError):
            oid = str(data["organization"].get("id", "?"))
        return f"organization id={oid}", ".".join(str(p) for p in loc[1:]) or "(record)"
    return "(file)", ".".join(str(p) for p in loc) or "(file)"


def read_files(path: Path, store: KnowledgeStore | None = None) -> list[OrganizationFile]:
    """Parse and validate every YAML file at ``path`` (a file or a folder).

    Raises LoadError with every problem found; returns nothing partial.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
    elif path.exists():
        files = [path]
    else:
        raise LoadError([LoadProblem(str(path), "(file)", "(file)", "ファイルが見つかりません")])
    if not files:
        raise LoadError([LoadProblem(str(path), "(file)", "(file)", "YAML ファイルがありません")])
    return read_yaml({(f.name if path.is_dir() else str(f)): f.read_bytes() for f in files}, store)


def _parse(name: str, raw: bytes, problems: list[LoadProblem]) -> Any:
    try:
        return yaml.safe_load(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        problems.append(
            LoadProblem(
                name, "(file)", "(file)", "文字コードを読めません。UTF-8 で保存してください"
            )
        )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}行目" if mark is not None else "(file)"
        what = exc.problem or exc.context or ""
        problems.append(LoadProblem(name, where, "(file)", f"YAML として読めません: {what}"))
    except yaml.YAMLError as exc:
        problems.append(LoadProblem(name, "(file)", "(file)", f"YAML として読めません: {exc}"))
    except RecursionError:
        problems.append(LoadProblem(name, "(file)", "(file)", "入れ子が深すぎて読み込めません"))
    return None


def read_yaml(
    sources: Mapping[str, bytes], store: KnowledgeStore | None = None
) -> list[OrganizationFile]:
    """Parse and validate YAML files (name → bytes), one organization each.

    Raises LoadError naming the file, the record and the field of every
    problem; returns nothing partial. With ``store``, also refuses what would
    leave a service active under a retired organization.
    """
    problems: list[LoadProblem] = []
    parsed: list[OrganizationFile] = []
    service_files: dict[str, str] = {}
    service_index: dict[str, int] = {}
    org_files: dict[str, str] = {}
    for name, raw in sources.items():
        found = len(problems)
        data = _parse(name, raw, problems)
        if len(problems) > found:
            continue
        if data is None:
            problems.append(LoadProblem(name, "(file)", "(file)", "空のファイルです"))
            continue
        try:
            org_file = OrganizationFile.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                record, field = _record_name(data, tuple(err["loc"]))
                problems.append(LoadProblem(name, record, field, ja_message(err)))
            continue
        oid = org_file.organization.id
        if oid in org_files:
            problems.append(
                LoadProblem(
                    name, f"organization id={oid}", "id", f"{org_files[oid]} と重複しています"
                )
            )
        org_files[oid] = name
        for i, s in enumerate(org_file.services):
            if s.id in service_files:
                problems.append(
                    LoadProblem(
                        name,
                        f"services[{i}] id={s.id}",
                        "id",
                        f"{service_files[s.id]} と重複しています",
                    )
                )
            service_files[s.id] = name
            service_index[s.id] = i
        parsed.append(org_file)
    if not problems and store is not None:
        for oid, sid in store.active_under_retired(parsed):
            if sid in service_files:
                problems.append(
                    LoadProblem(
                        service_files[sid],
                        f"services[{service_index[sid]}] id={sid}",
                        "status",
                        SERVICE_OF_RETIRED.format(org=oid),
                    )
                )
            elif oid in org_files:
                problems.append(
                    LoadProblem(
                        org_files[oid],
                        f"organization id={oid}",
                        "status",
                        LEFT_UNDER_RETIRED.format(service=sid),
                    )
                )
    if problems:
        raise LoadError(problems)
    return parsed


def load_path(store: KnowledgeStore, path: Path) -> ApplyReport:
    """Validate then apply the YAML at ``path`` in one transaction (idempotent)."""
    return store.apply(read_files(path, store))


def dump_yaml(org_file: OrganizationFile) -> str:
    """One organization and its services as the YAML text ``read_yaml`` reads back."""
    data = org_file.model_dump(mode="json", exclude_defaults=False)
    for s in data["services"]:
        s.pop("organization_id", None)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def export_yaml(store: KnowledgeStore) -> dict[str, str]:
    """Every organization's YAML text, by file name (``<organization id>.yaml``)."""
    return {f"{f.organization.id}.yaml": dump_yaml(f) for f in store.export()}


def write_folder(path: Path, files: Mapping[str, bytes | str]) -> list[Path]:
    """Write an export's files (name → bytes, or text as UTF-8) into the folder ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in files.items():
        target = path / name
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        written.append(target)
    return written


def export_path(store: KnowledgeStore, path: Path) -> list[Path]:
    """Write one YAML file per organization into the folder ``path``."""
    return write_folder(path, export_yaml(store))
