"""The dev-set floor: a regression in triage quality fails CI.

The figures the issue asks for are primary_at_1 >= 0.85, recall_at_3 >= 0.92,
crisis_recall = 1.0, crisis_precision >= 0.85 and complex_f1 >= 0.80; the
floors below hold what the engine reaches today, a little under the measured
figures so that harmless numeric noise does not fail the build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from triage import Triage
from triage.evaluate import evaluate, read_examples

DEV = Path(__file__).resolve().parents[3] / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(scope="module")
def dev_result(sample_engine: Triage) -> dict[str, object]:
    assert DEV.exists(), f"the shared dev set is expected at {DEV}"
    return evaluate(sample_engine, read_examples(DEV))


@pytest.mark.parametrize(
    ("metric", "floor"),
    [
        ("primary_at_1", 0.90),
        ("recall_at_3", 0.97),
        ("set_f1", 0.90),
        ("crisis_recall", 1.0),
        ("crisis_precision", 0.95),
        ("complex_f1", 0.88),
    ],
)
def test_dev_set_floor(dev_result: dict[str, float], metric: str, floor: float) -> None:
    assert dev_result[metric] >= floor, json.dumps(dev_result)


def test_eval_reports_exactly_the_agreed_keys(dev_result: dict[str, object]) -> None:
    assert set(dev_result) == {
        "n",
        "primary_at_1",
        "recall_at_3",
        "set_f1",
        "crisis_recall",
        "crisis_precision",
        "complex_f1",
        "latency_ms",
    }
    assert dev_result["n"] == 100
    latency = dev_result["latency_ms"]
    assert isinstance(latency, dict) and set(latency) == {"p50", "p95"}


def test_a_broken_eval_file_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "x", "text": "a", "categories": ["poverty"], "primary": "poverty", '
        '"crisis": false}\n{"id": 1}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        read_examples(bad)
