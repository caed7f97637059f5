"""Loading and exporting the knowledge base as YAML files.

A load validates every file before it writes anything, and writes all of
them in one transaction: a bad file changes nothing and the error names the
file, the record and the field.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import LoadError, LoadProblem
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


def read_files(path: Path) -> list[OrganizationFile]:
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
    problems: list[LoadProblem] = []
    parsed: list[OrganizationFile] = []
    service_files: dict[str, str] = {}
    org_files: dict[str, str] = {}
    for f in files:
        name = f.name if path.is_dir() else str(f)
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8-sig"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            problems.append(LoadProblem(name, "(file)", "(file)", f"読み込めません: {exc}"))
            continue
        except RecursionError:
            problems.append(LoadProblem(name, "(file)", "(file)", "入れ子が深すぎて読み込めません"))
            continue
        try:
            org_file = OrganizationFile.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                record, field = _record_name(data, tuple(err["loc"]))
                problems.append(LoadProblem(name, record, field, err["msg"]))
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
        parsed.append(org_file)
    if problems:
        raise LoadError(problems)
    return parsed


def load_path(store: KnowledgeStore, path: Path) -> ApplyReport:
    """Validate then apply the YAML at ``path`` in one transaction (idempotent)."""
    return store.apply(read_files(path))


def export_path(store: KnowledgeStore, path: Path) -> list[Path]:
    """Write one YAML file per organization into the folder ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for org_file in store.export():
        data = org_file.model_dump(mode="json", exclude_defaults=False)
        for s in data["services"]:
            s.pop("organization_id", None)
        target = path / f"{org_file.organization.id}.yaml"
        target.write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
        written.append(target)
    return written
