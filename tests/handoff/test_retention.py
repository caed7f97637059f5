"""handoff.retention on its own: what a redacted assessment keeps, and which cases qualify."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlite_utils

import handoff
from handoff.retention import purge_closed_cases, purged_ref, redact_assessment
from knowledge import open_database
from triage.assessment import (
    Assessment,
    CategoryFinding,
    CrisisFinding,
    Evidence,
    ServiceMatch,
)

T = dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC)
WORDS = "夫に殴られて家を出たい"


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    database = open_database(tmp_path / "retention.db")
    handoff.migrate(database)
    return database


def _assessment() -> Assessment:
    return Assessment(
        text=WORDS,
        language="ja",
        categories=[
            CategoryFinding(
                code="dv_abuse",
                label="DV",
                score=0.9,
                evidence=[Evidence(sentence=WORDS, score=0.9, matched="殴られ", source="lexicon")],
            )
        ],
        ranked=[("dv_abuse", 0.9), ("housing", 0.4)],
        crisis=CrisisFinding(type="violence", phrases=["殴られ"], sentences=[WORDS]),
        complex=True,
        services=[
            ServiceMatch(
                service_id="s1",
                name="配偶者暴力相談支援センター",
                organization="県",
                categories=["dv_abuse"],
                score=0.8,
                reason=f"「{WORDS}」という相談は…",
                phone="000",
            )
        ],
        kb_version=7,
    )


def test_a_redacted_assessment_keeps_the_findings_not_the_words() -> None:
    redacted = redact_assessment(_assessment())
    assert WORDS not in redacted.model_dump_json() and "殴られ" not in redacted.model_dump_json()
    assert redacted.codes == ["dv_abuse"] and redacted.ranked == [
        ("dv_abuse", 0.9),
        ("housing", 0.4),
    ]
    assert redacted.crisis is not None and redacted.crisis.type == "violence"
    assert redacted.complex and redacted.kb_version == 7
    assert [(s.service_id, s.phone, s.reason) for s in redacted.services] == [("s1", "000", "")]


def test_only_cases_closed_before_the_cutoff_qualify_and_only_once(
    db: sqlite_utils.Database,
) -> None:
    def open_(ref: str) -> handoff.Case:
        return handoff.open_case(
            db,
            resident_ref=ref,
            channel="line",
            assessment=_assessment(),
            consent=handoff.Consent(),
            urgent=True,
            language="ja",
            at=T,
            transcript=[handoff.TranscriptEntry(role="resident", text=WORDS, at=T)],
        )

    closed_early = open_("line:U1")
    closed_late = open_("line:U2")
    still_open = open_("line:U3")
    handoff.set_status(
        db, closed_early.id, "closed", actor="x", outcome="ok", at=T + dt.timedelta(days=1)
    )
    handoff.set_status(
        db, closed_late.id, "closed", actor="x", outcome="ok", at=T + dt.timedelta(days=30)
    )
    cutoff = T + dt.timedelta(days=10)
    with db.atomic():
        first = purge_closed_cases(db, cutoff)
    assert (first.cases, first.messages, first.notes) == (1, 1, 0)
    assert handoff.get_case(db, closed_early.id).resident_ref == purged_ref("line")
    for kept in (closed_late, still_open):
        case = handoff.get_case(db, kept.id)
        assert case.resident_ref == kept.resident_ref
        assert handoff.transcript(db, kept.id)[0].text == WORDS
    with db.atomic():
        assert purge_closed_cases(db, cutoff).cases == 0
    with pytest.raises(ValueError, match="timezone"):
        purge_closed_cases(db, dt.datetime(2025, 1, 1))
