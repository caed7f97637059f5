"""An import bundle: the files an admin uploads, read as CSV sheets or YAML files.

The admin page takes what the exports give: the four CSV sheets, YAML files
(one organization each), or the export's own zip of either. One upload is
one format; a mix is refused, as is a file of any other kind. The bundle
is validated whole (``read_csv`` / ``read_yaml``) before anything is written.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from .csvio import read_csv
from .errors import LoadError, LoadProblem
from .files import read_yaml
from .models import OrganizationFile
from .store import KnowledgeStore

BundleKind = Literal["csv", "yaml"]

#: what a zip may unpack to, at most (a zip bomb is refused, not unpacked)
MAX_MEMBERS = 500
MAX_UNPACKED = 20 * 1024 * 1024

_KINDS: dict[str, BundleKind] = {".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}


@dataclass
class Bundle:
    """A validated upload: its format, the files it was made of, and what to apply."""

    kind: BundleKind
    sources: dict[str, bytes]
    files: list[OrganizationFile]


def _unzip(name: str, data: bytes, problems: list[LoadProblem]) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except zipfile.BadZipFile:
        problems.append(LoadProblem(name, "(file)", "(file)", "zip として開けません"))
        return {}
    members = [
        m
        for m in members
        if not PurePosixPath(m.filename).name.startswith(".") and "__MACOSX" not in m.filename
    ]
    if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED:
        problems.append(
            LoadProblem(name, "(file)", "(file)", "zip の中身が多すぎます（500ファイル・20MBまで）")
        )
        return {}
    out: dict[str, bytes] = {}
    for m in members:
        inner = PurePosixPath(m.filename).name
        if inner in out:
            problems.append(
                LoadProblem(
                    f"{name}/{m.filename}", "(file)", "(file)", "同じ名前のファイルが2つあります"
                )
            )
            continue
        try:
            out[inner] = archive.read(m)
        except (
            zipfile.BadZipFile,
            RuntimeError,
            NotImplementedError,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
        ):
            # damaged data, a wrong size or CRC, encryption, an unknown compression method
            problems.append(
                LoadProblem(
                    f"{name}/{m.filename}",
                    "(file)",
                    "(file)",
                    "zip の中のファイルを読めません（壊れているか暗号化されています）",
                )
            )
    return out


def sources_of(uploads: Mapping[str, bytes]) -> tuple[BundleKind, dict[str, bytes]]:
    """The files inside ``uploads`` (zips opened) and their one format; LoadError if mixed."""
    problems: list[LoadProblem] = []
    sources: dict[str, bytes] = {}
    for name, data in uploads.items():
        base = PurePosixPath(name.replace("\\", "/")).name
        if base.lower().endswith(".zip"):
            sources.update(_unzip(base, data, problems))
        else:
            sources[base] = data
    kinds: dict[BundleKind, list[str]] = {}
    for name in sources:
        kind = _KINDS.get(PurePosixPath(name).suffix.lower())
        if kind is None:
            problems.append(
                LoadProblem(
                    name,
                    "(file)",
                    "(file)",
                    "CSV（.csv）か YAML（.yaml）のファイルを選んでください",
                )
            )
        else:
            kinds.setdefault(kind, []).append(name)
    if not sources and not problems:
        problems.append(LoadProblem("(upload)", "(file)", "(file)", "ファイルがありません"))
    if len(kinds) > 1:
        problems.append(
            LoadProblem(
                ", ".join(kinds["yaml"]),
                "(file)",
                "(file)",
                "CSV と YAML は別々に取り込んでください",
            )
        )
    if problems:
        raise LoadError(problems)
    (kind,) = kinds
    return kind, sources


def read_bundle(uploads: Mapping[str, bytes], store: KnowledgeStore) -> Bundle:
    """Read and validate an upload against the store; LoadError names every problem."""
    kind, sources = sources_of(uploads)
    files = read_csv(sources, store).files if kind == "csv" else read_yaml(sources, store)
    return Bundle(kind, sources, files)
