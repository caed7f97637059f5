"""Which sentences may show a need (eval README rule 1) and who is in the household (rule 5)."""

from __future__ import annotations

import pytest

from triage.support import (
    children_present,
    is_joking,
    is_past,
    is_self_introduction,
    is_topic_free,
    is_under_care,
)


@pytest.mark.parametrize(
    ("sentence", "intro"),
    [
        ("中学校の養護教諭です。", True),
        ("民生委員をしております。", True),
        ("子ども食堂でボランティアをしています。", True),
        ("専門学校生です。", True),
        ("34です。", True),
        ("高2です。", True),
        ("私は看護師です。", True),
        # a need, or a person other than the writer, is not an introduction
        ("お金がないです。", False),
        ("娘が不登校です。", False),
        ("高校1年の息子のことです。", False),
        ("75歳、ひとり暮らしです。", False),
        ("小さな工務店をやっています。", False),
    ],
)
def test_self_introductions(sentence: str, intro: bool) -> None:
    assert is_self_introduction(sentence) is intro


@pytest.mark.parametrize(
    ("sentence", "joking"),
    [
        ("毎日死ぬほど眠い。", True),
        ("肩がもう死んでる笑", True),
        ("ほんとに無理www", True),
        ("けんかになりそう(笑)", True),
        ("夜に眠れなくて、体がつらい。", False),
        ("I found a new website.", False),
    ],
)
def test_jokes_and_exaggeration(sentence: str, joking: bool) -> None:
    assert is_joking(sentence) is joking


@pytest.mark.parametrize(
    ("sentence", "past"),
    [
        ("昨年、手術で2週間入院しました。", True),
        ("昔、職場でいじめにあった。", True),
        ("5年前に離婚しました。", True),
        ("去年から足が悪くて通院しています。", False),  # since last year: ongoing
        ("先月から家賃が払えていません。", False),
        ("今、熱が下がりません。", False),
    ],
)
def test_past_episodes(sentence: str, past: bool) -> None:
    assert is_past(sentence) is past


@pytest.mark.parametrize(
    ("sentence", "background"),
    [
        ("糖尿病で月に一度通院しています。", True),
        ("パニック障害で治療中です。", True),
        ("通院しているのに、ちっとも良くならない。", False),  # a trouble voiced
        ("薬を飲んでいるけど眠れない。", False),
        ("病院に行ったほうがいいでしょうか？", False),
    ],
)
def test_ongoing_care_is_background(sentence: str, background: bool) -> None:
    assert is_under_care(sentence) is background


@pytest.mark.parametrize(
    ("text", "present"),
    [
        ("夫が怒鳴って物を投げる。子どもを連れて実家に逃げたい。", True),
        ("彼が暴れるとき、娘も泣いて怯えています。", True),
        ("子どもの前で平気で殴ってくる。", True),
        ("赤ちゃんと一緒に寝室に隠れています。", True),
        ("He hits me and I am hiding with my kids.", True),
        # the daughter is the one being controlled: no children with the victim
        ("高校生の娘が彼氏に束縛されていて心配です。", False),
        ("元夫から毎日メッセージが来ます。", False),
    ],
)
def test_children_present_during_violence(text: str, present: bool) -> None:
    assert children_present(text) is present


@pytest.mark.parametrize(
    ("sentence", "topic_free"),
    [
        ("はじめまして。", True),
        ("よろしくお願いいたします。", True),
        ("どうすればいいでしょうか", True),
        ("Good morning.", True),
        ("안녕하세요.", True),
        ("地域包括支援センターの職員です。", True),
        ("助けてください", False),  # a plea the crisis check must keep reading
        ("夫はどうしたらいいと思っているのか", False),
        ("Hi, I lost my job.", False),
    ],
)
def test_topic_free_sentences(sentence: str, topic_free: bool) -> None:
    assert is_topic_free(sentence) is topic_free
