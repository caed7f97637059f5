"""Reading an upload: CSV sheets, YAML files or the export's zip; one format at a time."""

from __future__ import annotations

import io
import zipfile

import pytest

from knowledge import (
    KnowledgeStore,
    LoadError,
    export_yaml,
    read_bundle,
)
from knowledge.bundle import MAX_UNPACKED
from knowledge.csvio import export_csv, preview


@pytest.fixture
def store(sample_store: KnowledgeStore) -> KnowledgeStore:
    return sample_store


def _zip(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_the_exports_zip_reads_back_as_no_change(store: KnowledgeStore, fmt: str) -> None:
    files: dict[str, bytes | str] = {**(export_csv(store) if fmt == "csv" else export_yaml(store))}
    bundle = read_bundle({"tsunagu-kb.zip": _zip(files)}, store)
    assert bundle.kind == fmt and set(bundle.sources) == set(files)
    assert preview(store, bundle.files, retire_missing=True).empty


def test_loose_yaml_files_read_as_yaml(store: KnowledgeStore) -> None:
    texts = export_yaml(store)
    name = sorted(texts)[0]
    bundle = read_bundle({name: texts[name].encode()}, store)
    assert bundle.kind == "yaml" and [f.organization.id for f in bundle.files] == [name[:-5]]


@pytest.mark.parametrize(
    ("uploads", "file", "words"),
    [
        (
            {"a.yaml": b"organization: {id: a-b, name: x}\n", "services.csv": b"id\n"},
            "a.yaml",
            "別々に",
        ),
        ({"kb.xlsx": b"PK..."}, "kb.xlsx", "CSV（.csv）か YAML（.yaml）"),
        ({"kb.zip": b"not a zip"}, "kb.zip", "zip として開けません"),
        ({"kb.zip": _zip({"big.yaml": b"\n" * (MAX_UNPACKED + 1)})}, "kb.zip", "多すぎます"),
        ({}, "(upload)", "ファイルがありません"),
    ],
)
def test_what_cannot_be_read_is_named(
    store: KnowledgeStore, uploads: dict[str, bytes], file: str, words: str
) -> None:
    with pytest.raises(LoadError) as exc:
        read_bundle(uploads, store)
    assert any(p.file == file and words in p.message for p in exc.value.problems), exc.value
