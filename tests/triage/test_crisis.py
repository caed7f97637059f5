"""Tests for the crisis detector: the right type for real danger in many
registers and languages, no alarm for everyday exaggeration, and embeddings
that can only escalate a weak lexicon cue.

Every message here is written for the test; none comes from the eval set.
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from triage.crisis import (
    CRISIS_EXEMPLARS,
    CRISIS_ORDER,
    CUE_AMPLIFIERS,
    EMBED_ESCALATE_THRESHOLD,
    LEXICON,
    detect_crisis,
    may_be_crisis,
)


def split(text: str) -> list[str]:
    """Normalise and split like the engine does."""
    text = unicodedata.normalize("NFKC", text)
    return [s.strip() for s in re.split(r"[。！？!?\n]+", text) if s.strip()]


def crisis_type(text: str, scores: dict[str, float] | None = None) -> str | None:
    return detect_crisis(split(text), scores).type


SUICIDE = [
    "もう死にたい",
    "しにたい。もうむり",
    "シニタイ",
    "死にたいです。誰にも言えなくて",
    "今夜、死のうと思います",
    "死ぬつもりで準備をしています",
    "遺書を書きました。家族には申し訳ないです",
    "睡眠薬を50錠ためてあります",
    "さっき薬を全部飲みました",
    "処方された薬をまとめて飲んだ",
    "これから飛び降ります",
    "駅のホームの端にいます、もう疲れた",
    "首をつるつもりでロープを用意した",
    "練炭を買ってきました",
    "みんな今までありがとう。さようなら",
    "もう限界です。消えたい",
    "今日で人生を終わりにします",
    "もう生きていたくない",
    "自殺の方法を調べてしまう、もう無理",
    "夫が「死にたい」と言って家を出たまま連絡がつかない",
    "借金は保険金で返すしかない。月末にけりをつける",
    "子どもたちのこと、よろしくお願いします。もう疲れました",
    "今から海に行って、そのまま帰らないつもり",
    "睡眠薬をお酒で流し込んで飲んだ、もうどうでもいい",
    "もう全部終わりにしたい",
    "屋上の柵を越えました",
    "I'm standing on the roof and I want to jump",
    "I want to die",
    "I'm going to kill myself tonight",
    "I will end it tonight",
    "我想死",
    "죽고 싶어요",
    "Tôi muốn chết",
    "Eu quero morrer",
]

VIOLENCE = [
    "今、夫に殴られています。助けて",
    "いま彼氏になぐられてる",
    "夫が包丁を持って暴れている",
    "元彼が家の前にいる。怖い",
    "昨日の夜、首を絞められました",
    "殺すと言われて、今も外で待ち伏せされています",
    "逃げてきたけど、追いかけてくる",
    "辞めたら家族に危害を加えると脅されています",
    "兄が今、母を殴っている",
    "このままだと殺される",
    "元夫が合鍵で入ってきて、今リビングにいます",
    "父が母を殴っている。止められない",
    "旦那が酔って暴れてる、押し入れに隠れてる、たすけて",
    "He is hitting me right now",
    "My boyfriend has a knife and says he will kill me",
    "他在打我",
    "Ele vai me matar",
]

CHILD_ABUSE = [
    "近所の子が家に帰りたくない、帰るとお父さんに叩かれるって泣いている",
    "隣の部屋から今も子どもの悲鳴と叩く音が聞こえる",
    "ママにたたかれるから、おうちにかえりたくない",
    "今にも子どもを叩いてしまいそうです、助けて",
    "5歳くらいの子が夜なのにベランダに出されて泣いている、今も",
    "My stepdad beats me and I'm afraid to go home",
    "担任です。生徒が「家に帰ったらまた蹴られる」と言って震えています",
]

MEDICAL = [
    "父が急にろれつが回らなくなった",
    "母の右半身が動かない、さっきまで普通だったのに",
    "祖母が倒れて動かない",
    "呼んでも反応がありません",
    "夫が息をしていない",
    "子どもがけいれんしている",
    "祖父の顔がゆがんでいて、うまくしゃべれない",
    "祖母が急に箸を落として、話しかけても言葉が出ない",
    "夫が胸を押さえて苦しそうで、冷や汗がひどい",
    "赤ちゃんの唇が紫色になっている",
    "My dad is not breathing",
    "She is unconscious",
    "我爸爸没有呼吸",
    "아버지가 의식이 없어요",
    "Mẹ tôi không thở",
    "Minha mãe não está respirando",
]


@pytest.mark.parametrize("text", SUICIDE + VIOLENCE + CHILD_ABUSE + MEDICAL)
def test_every_crisis_message_takes_the_urgent_lane(text: str) -> None:
    """The front door's cheap first look must never miss what the detector would call."""
    assert may_be_crisis(text)
    assert may_be_crisis("😀" * 3000 + "。" + text)  # wherever it is in the message


@pytest.mark.parametrize(
    "text", ["家賃が払えなくて困っています", "母の介護に疲れました", "I lost my job", ""]
)
def test_an_ordinary_message_waits_its_turn(text: str) -> None:
    assert not may_be_crisis(text)


@pytest.mark.parametrize("text", SUICIDE)
def test_suicide(text: str) -> None:
    assert crisis_type(text) == "suicide"


@pytest.mark.parametrize("text", VIOLENCE)
def test_violence(text: str) -> None:
    assert crisis_type(text) == "violence"


@pytest.mark.parametrize("text", CHILD_ABUSE)
def test_child_abuse(text: str) -> None:
    assert crisis_type(text) == "child_abuse"


@pytest.mark.parametrize("text", MEDICAL)
def test_medical(text: str) -> None:
    assert crisis_type(text) == "medical"


def test_overdose_alone_is_suicide_but_with_unconsciousness_medical() -> None:
    assert crisis_type("薬を全部飲んだ") == "suicide"
    assert crisis_type("友人が薬を大量に飲んで、呼んでも返事がない") == "medical"


# harmless uses: (text, risk_concern expected)
HARMLESS = [
    ("毎日死ぬほど忙しい", False),
    ("仕事が多すぎて死にそう(笑)", False),
    ("借金で首が回らない", False),
    ("亡くなった父の相続の手続きを知りたい", False),
    ("ペットが死んで悲しい", False),
    ("妹とチャンネル争いで殺し合いになりそう(笑)", False),
    ("殺されるかと思った(冗談)", False),
    ("上司に死ねって言われた", False),
    ("お前なんか消えろと怒鳴られる", False),
    ("会社を首になった", False),
    ("自分で自分の首を絞めている気がする", False),
    ("このままでは共倒れになりそう", False),
    ("息が詰まるような毎日です", False),
    ("胃が痛い", False),
    ("前の夫に殴られていました", False),
    ("元夫に殴られていた", False),
    ("父は脳梗塞の後遺症で右手が動かない", False),
    ("母は3年前の脳出血以来、今も左手が動かない", False),
    ("去年倒れてから介護が必要になった", False),
    ("母は認知症で言葉が出てこない", False),
    ("昔リストカットしていた", True),
    ("昔、死のうとしたことがある", True),
    ("若い頃に自殺未遂をしたことがあります", True),
    ("消えたいと思うことがある", True),
    ("たまに死にたくなるけど、今は大丈夫", True),
    ("自分が生きてる意味って何だろう", True),
    ("いつか子どもに手を上げてしまいそうで怖い", True),
    ("夫に殴られることがあります", True),
    ("Sometimes I think I want to die", True),
    ("母が毎日「死にたい」と言います。介護がもう限界です", True),
    ("夫に殴られました。今は実家に避難しています", True),
    ("部長から「おまえなんかいなくなれ」と書かれたメールが来た", False),
    ("うちの犬が息をしていない", False),
    ("夫が酔ってろれつが回らなくなるまで飲む", False),
    ("急に仕事を辞めさせられた。最近胸が苦しい", False),
    ("母が今朝倒れて救急車で運ばれました。今は病院にいます", False),
    ("引っ越すことに決めました。今までお世話になりました", True),
]


@pytest.mark.parametrize(("text", "risk"), HARMLESS)
def test_harmless_is_not_crisis(text: str, risk: bool) -> None:
    result = detect_crisis(split(text))
    assert result.type is None
    assert not result.is_crisis
    assert result.risk_concern is risk


def test_relative_who_says_死にたい_escalates_when_they_go_missing() -> None:
    assert crisis_type("姉が「死にたい」と言っていた") is None
    assert crisis_type("姉が「死にたい」と言って出て行ったきり、電話に出ない") == "suicide"


def test_long_sentence_halves_do_not_duplicate_hits() -> None:
    full = "ずっと我慢してきたけれど夫が包丁を持って暴れていて、子どもと一緒に寝室に隠れています。"
    halves = [
        "ずっと我慢してきたけれど夫が包丁を持って暴れていて、",
        "子どもと一緒に寝室に隠れています。",
    ]
    alone = detect_crisis([full])
    with_halves = detect_crisis([full, *halves])
    assert alone.type == with_halves.type == "violence"
    assert len(with_halves.hits) == len(alone.hits)


def test_switched_off_cues_are_reported_with_the_reason() -> None:
    result = detect_crisis(split("昔、死のうとしたことがある"))
    assert result.hits
    assert all(not h.strong for h in result.hits)
    assert any("〔" in h.phrase for h in result.hits)


def test_everyday_お迎え_is_not_crisis() -> None:
    result = detect_crisis(split("90歳の祖母の口ぐせは「早くお迎えが来てほしいねえ」です"))
    assert result.type is None


def test_weak_cue_escalates_only_with_high_embedding_score() -> None:
    sentences = split("消えたい")
    assert detect_crisis(sentences).type is None
    assert detect_crisis(sentences, {"suicide": 0.80}).type is None
    assert detect_crisis(sentences, {"suicide": EMBED_ESCALATE_THRESHOLD - 0.01}).type is None
    assert detect_crisis(sentences, {"suicide": EMBED_ESCALATE_THRESHOLD}).type == "suicide"
    # the score must be for the cue's own type
    assert detect_crisis(sentences, {"violence": 0.99}).type is None


@pytest.mark.parametrize(
    "text", ["今日はいい天気ですね", "子育ての相談をしたいです", "毎日死ぬほど忙しい"]
)
def test_embedding_alone_never_makes_a_crisis(text: str) -> None:
    scores = dict.fromkeys(CRISIS_ORDER, 0.99)
    assert detect_crisis(split(text), scores).type is None


def test_context_switched_off_cue_is_not_escalated() -> None:
    scores = {"suicide": 0.99}
    result = detect_crisis(split("消えたいと思うことがある"), scores)
    assert result.type is None
    assert result.risk_concern


def test_hits_record_the_cue_and_sentence() -> None:
    result = detect_crisis(split("相談です。今、夫が包丁を持っています"))
    assert result.type == "violence"
    hit = next(h for h in result.hits if h.strong)
    assert hit.sentence == "今、夫が包丁を持っています"
    assert hit.type == "violence"


def test_lexicon_and_exemplars_are_well_formed() -> None:
    assert set(LEXICON) == set(CRISIS_ORDER) == set(CRISIS_EXEMPLARS)
    descriptions = {d for entries in LEXICON.values() for _, _, d in entries}
    assert set(CUE_AMPLIFIERS) <= descriptions
    for kind, exemplars in CRISIS_EXEMPLARS.items():
        assert 15 <= len(exemplars) <= 30, kind
    for entries in LEXICON.values():
        for pattern, strong, description in entries:
            re.compile(pattern)
            assert isinstance(strong, bool)
            assert description
