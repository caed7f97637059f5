"""Property-based tests (hypothesis) of ``assess``: whatever a resident sends — any Unicode,
NUL bytes, emoji and combining marks, right-to-left overrides, 10,000 characters — it returns
a well-formed Assessment (never raises), and a plain statement of danger is still seen when
noise that is not words surrounds it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import CATEGORIES, CRISIS_TYPES
from triage import Triage
from triage.engine import read_within

EMOJI = st.sampled_from(["😀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "❤️", "🙇‍♀️", "😭"])
COMBINING = st.text(st.characters(categories=["Mn", "Me"]), min_size=1, max_size=6)
ODD = st.sampled_from(
    [
        "\x00",
        "\u202e",
        "\u200b",
        "\ufeff",
        "\r\n",
        "\t",
        "\u3000",
        "\\",
        "\n\n",
        "!!!",
        "...",
        "。。。",
        "\U0010ffff",
        "\x1b[31m",
    ]
)
NOISE = st.lists(st.one_of(EMOJI, COMBINING, ODD), max_size=12).map("".join)
ANY_TEXT = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(EMOJI, COMBINING, ODD, st.text(max_size=6)), max_size=60).map("".join),
)
#: 10,000 characters (a pasted document, a wall of emoji): a few seconds each to embed
LONG_TEXT = st.lists(
    st.one_of(EMOJI, COMBINING, ODD, st.text(min_size=1, max_size=6)), min_size=1, max_size=6
).map(lambda parts: ("".join(parts) * 10_000)[:10_000])
DANGER = {
    "もう死にたい。生きていたくない": "suicide",
    "夫に殴られて、殺されそうです": "violence",
    "父が倒れて息をしていない": "medical",
}


def _in_shape(sample_engine: Triage, text: str) -> None:
    a = sample_engine.assess(text)
    assert isinstance(a.language, str) and a.language
    assert {c.code for c in a.categories} <= set(CATEGORIES)
    assert all(math.isfinite(c.score) and c.score >= 0 for c in a.categories)  # fused: may pass 1
    assert a.crisis is None or a.crisis.type in CRISIS_TYPES
    assert len(a.services) <= 10
    assert a.model_validate_json(a.model_dump_json()) == a  # storable as is


@settings(max_examples=50)
@given(text=ANY_TEXT)
def test_assess_takes_anything_and_answers_in_shape(sample_engine: Triage, text: str) -> None:
    _in_shape(sample_engine, text)


@settings(max_examples=6)
@given(text=LONG_TEXT)
def test_assess_takes_10000_characters_of_anything(sample_engine: Triage, text: str) -> None:
    _in_shape(sample_engine, text)


@settings(max_examples=30)
@given(before=NOISE, after=NOISE, danger=st.sampled_from(sorted(DANGER)))
def test_danger_is_seen_through_noise(
    sample_engine: Triage, before: str, after: str, danger: str
) -> None:
    a = sample_engine.assess(f"{before}{danger}{after}")
    assert a.crisis is not None and a.crisis.type == DANGER[danger], (before, after)


@pytest.mark.parametrize("danger", sorted(DANGER))
def test_danger_after_10000_characters_without_a_word(sample_engine: Triage, danger: str) -> None:
    """More than the encoder reads (4,000 characters, 768 tokens) of emoji, then the plea."""
    noise = ("😀\u200b" * 5000)[:10_000]
    a = sample_engine.assess(noise + danger)
    assert a.crisis is not None and a.crisis.type == DANGER[danger]


STORY = "家賃が払えなくて困っていて仕事も見つからず母の介護もあって毎日どうしていいかわからず"


@pytest.mark.parametrize("danger", sorted(DANGER))
def test_a_pasted_page_is_read_within_the_budget_and_its_last_plea_still_counts(
    sample_engine: Triage, danger: str
) -> None:
    """10,000 characters without a full stop: the encoder reads its start, the words all."""
    a = sample_engine.assess((STORY * 300)[:10_000] + danger)
    assert "poverty" in a.codes
    assert a.crisis is not None and a.crisis.type == DANGER[danger]


@pytest.mark.parametrize(
    "sentences",
    [
        ["短い文です。"],
        ["母が認知症です。", "兄は仕事がありません。", "家賃が払えません。"],
        ["短い文です。", STORY * 40, "最後の文です。"],
        [STORY * 200],
        ["家賃が払えません。"] * 400,
    ],
    ids=["one", "a-few", "one-long", "a-page", "many"],
)
def test_read_within_cuts_long_sentences_and_stops_at_the_budget(
    sample_engine: Triage, sentences: list[str]
) -> None:
    count = sample_engine.embedder.token_count
    piece, budget = sample_engine.tuning.query_tokens_max, sample_engine.tuning.tokens_max
    read = read_within(sentences, count, piece=piece, budget=budget)
    if sum(count(s) for s in sentences) <= budget and all(count(s) <= piece for s in sentences):
        assert read == sentences  # an ordinary message is read whole
        return
    assert read and sum(count(r) for r in read) <= budget
    assert all(count(r) <= piece * 1.2 for r in read)
    # in order, nothing invented: the pieces are the message's own text from its start
    assert "".join(read) == "".join(sentences)[: len("".join(read))]
