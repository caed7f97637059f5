"""Normalisation and sentence splitting."""

from __future__ import annotations

import pytest

from triage import detect_language, normalise, split_sentences


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("ＡＢＣ１２３", "ABC123"),  # full-width ASCII folds
        ("ｶﾀｶﾅ", "カタカナ"),  # half-width kana folds
        ("a\x00b\x07c", "abc"),  # control characters go
        ("  家賃\u3000が \t 払えない  ", "家賃 が 払えない"),
        ("👨‍👩‍👧 家族", "👨‍👩‍👧 家族"),  # emoji ZWJ sequences stay whole
        ("bad \ud800 surrogate", "bad surrogate"),
    ],
)
def test_normalise(raw: str, clean: str) -> None:
    assert normalise(raw) == clean


def test_normalise_caps_length() -> None:
    assert len(normalise("あ" * 20_000)) == 4000


def test_split_sentences_on_japanese_and_latin_punctuation() -> None:
    text = normalise("母が認知症です。兄は無職！どうしたら？\nI need help. Thanks")
    assert split_sentences(text) == [
        "母が認知症です。",
        "兄は無職!",
        "どうしたら?",
        "I need help.",
        "Thanks",
    ]


def test_long_sentences_are_also_offered_in_halves() -> None:
    s = "母が認知症で毎晩のように外に出ようとするので目が離せず、私も長く勤めた仕事を辞めることになり、家計がとても苦しくなっています。"
    parts = split_sentences(s)
    assert parts[0] == s and len(parts) == 3
    assert "".join(parts[1:]) == s


def test_a_long_sentence_can_be_read_as_its_halves_only() -> None:
    s = "母が認知症で毎晩のように外に出ようとするので目が離せず、私も長く勤めた仕事を辞めることになり、家計がとても苦しくなっています。"
    halves = split_sentences(s, halves_only=True)
    assert len(halves) == 2 and "".join(halves) == s


def test_a_quotation_stays_in_its_sentence() -> None:
    text = "妹から「もう無理。さようなら」とLINEが来ました。電話に出ません。"
    assert split_sentences(text) == [
        "妹から「もう無理。さようなら」とLINEが来ました。",
        "電話に出ません。",
    ]
    # a quotation that never closes does not swallow the rest
    assert split_sentences("彼は「もう嫌だ。出ていく。") == ["彼は「もう嫌だ。", "出ていく。"]


def test_sentences_split_in_scripts_without_capitals() -> None:
    text = "안녕하세요. 월세를 못 냈어요. 도와주세요."
    assert split_sentences(text) == ["안녕하세요.", "월세를 못 냈어요.", "도와주세요."]


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("母が心配です", "ja"),
        ("I am worried about my mother", "en"),
        ("我没有钱付房租", "zh"),
        ("월세를 낼 돈이 없어요", "ko"),
        ("Tôi không có tiền", "vi"),
        ("Não tenho dinheiro para o aluguel", "pt"),
        ("Wala po akong trabaho ngayon", "tl"),
        ("Saya tidak punya uang untuk sewa", "id"),
        ("Malai kaam chhaina, paisa pani chhaina", "ne"),
        ("", "other"),
        ("12345", "other"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang
