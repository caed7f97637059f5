"""Scoring the engine on a labelled set (schema of shared/eval/README.md).

Uses the very ``assess`` the bot uses, so the figures describe what
residents get.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine import Triage


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    categories: list[str]
    primary: str
    crisis: bool
    crisis_type: str | None
    complex: bool


def read_examples(path: Path) -> list[Example]:
    """Read a JSONL file; a broken line names its line number."""
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                out.append(
                    Example(
                        id=str(r["id"]),
                        text=str(r["text"]),
                        categories=list(r["categories"]),
                        primary=str(r["primary"]),
                        crisis=bool(r["crisis"]),
                        crisis_type=r.get("crisis_type"),
                        complex=bool(r.get("complex", len(r["categories"]) >= 2)),
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not an eval record ({exc})") from exc
    return out


def _f1(tp: int, fp: int, fn: int) -> float:
    if tp == 0:
        return 0.0
    p, r = tp / (tp + fp), tp / (tp + fn)
    return 2 * p * r / (p + r)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def evaluate(
    engine: Triage, examples: Iterable[Example], *, details: bool = False
) -> dict[str, Any]:
    """The metrics of the triage issue, over ``examples``."""
    examples = list(examples)
    if examples:  # warm up: first call pays for lazy set-up
        engine.assess(examples[0].text)
    n = 0
    primary_hits = 0
    gold_total = top3_hits = 0
    set_tp = set_fp = set_fn = 0
    c_tp = c_fp = c_fn = 0
    x_tp = x_fp = x_fn = 0
    latencies: list[float] = []
    rows = []
    for ex in examples:
        started = time.perf_counter()
        a = engine.assess(ex.text)
        latencies.append((time.perf_counter() - started) * 1000)
        n += 1
        predicted = a.codes
        order = predicted + [c for c, _ in a.ranked if c not in predicted]
        gold = set(ex.categories)
        primary_hits += int(bool(predicted) and predicted[0] == ex.primary)
        gold_total += len(gold)
        top3_hits += len(gold & set(order[:3]))
        pred_set = set(predicted)
        set_tp += len(gold & pred_set)
        set_fp += len(pred_set - gold)
        set_fn += len(gold - pred_set)
        c_tp += int(ex.crisis and a.is_crisis)
        c_fp += int(not ex.crisis and a.is_crisis)
        c_fn += int(ex.crisis and not a.is_crisis)
        x_tp += int(ex.complex and a.complex)
        x_fp += int(not ex.complex and a.complex)
        x_fn += int(ex.complex and not a.complex)
        if details:
            rows.append(
                {
                    "id": ex.id,
                    "gold": ex.categories,
                    "predicted": predicted,
                    "top3": order[:3],
                    "crisis": [ex.crisis_type, a.crisis.type if a.crisis else None],
                }
            )
    result: dict[str, Any] = {
        "n": n,
        "primary_at_1": round(primary_hits / n, 4) if n else 0.0,
        "recall_at_3": round(top3_hits / gold_total, 4) if gold_total else 0.0,
        "set_f1": round(_f1(set_tp, set_fp, set_fn), 4),
        "crisis_recall": round(c_tp / (c_tp + c_fn), 4) if c_tp + c_fn else 1.0,
        "crisis_precision": round(c_tp / (c_tp + c_fp), 4) if c_tp + c_fp else 1.0,
        "complex_f1": round(_f1(x_tp, x_fp, x_fn), 4),
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.5), 2),
            "p95": round(_percentile(latencies, 0.95), 2),
        },
    }
    if details:
        result["details"] = rows
    return result
