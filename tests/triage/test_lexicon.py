"""The curated lexicon: plain words for needs, and the words it must not misread."""

from __future__ import annotations

import pytest

from triage.lexicon import lexicon_hits, lexicon_scores


def _fields(text: str) -> set[str]:
    return {h.category for h in lexicon_hits([text]) if h.weight >= 0.5}


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("家賃を3か月ためてしまいました。", "poverty"),
        ("お金に困っています。", "poverty"),
        ("住まいと、できれば仕事も探したい。", "employment"),
        ("大家に今月中に出ていけと言われた。", "housing"),
        ("息子はダウン症です。", "disability"),
        ("祖父(83)が一人で住んでいます。", "elderly_care"),
        ("近所の90代の男性が心配です。", "elderly_care"),
        ("訪問販売で高い浄水器を買わされた。", "legal"),
        ("身分証の画像を送ってしまった。", "legal"),
        ("部屋がすごく散らかっていて足の踏み場がない。", "living_environment"),
        # other languages: the real need, not only "foreign"
        ("월세를 두 달 못 냈어요.", "poverty"),
        ("我儿子明年要上小学。", "education"),
        ("Estou grávida de três meses.", "child_family"),
        ("Tôi bị sa thải tuần trước.", "employment"),
    ],
)
def test_plain_words_show_their_field(text: str, field: str) -> None:
    assert field in _fields(text), lexicon_hits([text])


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("盲腸で入院しました。", "disability"),  # 盲 of 盲腸 is no visual impairment
        ("本人は大丈夫だと言っています。", "dv_abuse"),  # 夫 of 大丈夫 is no husband
        ("工夫して暮らしています。", "dv_abuse"),
        ("病院から請求書が届いた。", "health"),  # a place, not a need
    ],
)
def test_words_inside_other_words_are_not_read(text: str, field: str) -> None:
    assert field not in _fields(text), lexicon_hits([text])


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("このまま引きこもりになったらと心配です。", "hikikomori"),
        ("父が認知症になるのではと不安です。", "elderly_care"),
        ("いつか借金にならないか怖い。", "legal"),
    ],
)
def test_a_worry_about_the_future_is_not_a_need_yet(text: str, field: str) -> None:
    # eval README rule 1: fear that something *might* happen is not labelled
    assert field not in _fields(text)
    assert field in _fields(text.split("に")[0] + "です。")  # the word itself is known


def test_income_that_stops_is_not_a_future_worry() -> None:
    assert "poverty" in _fields("夫の収入がなくなったら生活できません。")


def test_each_sentence_gets_its_own_hits_but_a_word_counts_once() -> None:
    sentences = ["学費が払えません。", "このままだと退学です。"]
    hits = lexicon_hits(sentences)
    assert {h.sentence for h in hits if h.category == "education"} == set(sentences)
    once = lexicon_scores(lexicon_hits(["借金があります。", "借金の返済が苦しい。"]))
    assert once["legal"] == pytest.approx(1.0)
