"""Which sentences may show a need, and household facts the labelling rules add.

The engine reads a field from the whole message and from each sentence; a
second field is only listed when some sentence is mainly about it
(``Triage._supported``).  Some sentences are about something else, whatever
words they use (eval README rule 1: a background fact alone adds no field):

- the writer introducing themself (〇〇小学校の担任です, 民生委員をしております,
  大学生です): who writes is not what they need;
- a joke or exaggeration (死ぬほど疲れた, 腰が死んでる笑): the words are not meant;
- an episode in the past (去年の秋に入院して…): a lexicon word there is a
  background fact unless the sentence itself reads as a need now;
- a condition already under care (うつ病で心療内科に通っています) with no
  trouble voiced about it.

Rule 5 adds ``child_family`` to partner violence when children are there
with the victim; ``children_present`` finds that.
"""

from __future__ import annotations

import re

# Roles a writer introduces themself with; the sentence must be nothing more
# than "(…の)ROLE です / をしています" (no particle が/を/に before the role,
# so 「お金がないです」 or 「息子が不登校です」 never match).
_ROLE = (
    r"(?:担任|副担任|教員|教師|教諭|養護教諭|先生|校長|教頭|保育士|民生委員|児童委員|主任児童委員|"
    r"ボランティア|職員|ケアマネ(?:ジャー)?|保健師|看護師|ヘルパー|相談員|支援員|ソーシャルワーカー|"
    r"自治会長|町内会長|大家|管理人|学生|大学生|院生|専門学校生|高校生|中学生|小学生|"
    r"(?:大学|高校|中学|小学)?(?:\d|[一二三四五六])年(?:生)?|(?:小|中|高)(?:\d|[一二三])|\d{1,3}(?:歳|才)?)"
)
_SELF_INTRO = re.compile(
    r"^(?:(?:私|わたし|僕|ぼく|俺|おれ)は)?(?:[^。、!?\s]{0,16}(?:の|で))?"
    + _ROLE
    + r"(?:の(?:(?!こと)[^。、!?\s]){0,8})?"
    r"(?:です|でございます|をしています|をしております|をしてます|"
    r"をやっています|をやってます|しています|しております)[。!！]?$"
)

# Jokes and everyday exaggeration (crisis.py masks the same idioms for danger).
_JOKE = re.compile(
    r"\(笑\)|笑(?=$|[)\s。、!?…])|(?<![a-zA-Z])[wｗ]{2,}|(?<![a-zA-Z])[wｗ][。!?…]*$|草[。!?…]*$|"
    r"冗談|\blol\b|\bhaha|なんてね|"
    r"(?:死|し)ぬ(?:ほど|程|くらい|ぐらい)|(?:死|し)にそう(?:な)?(?:くらい|ぐらい|ほど)|"
    r"(?:腰|足|肩|体|からだ|喉|のど|目|頭)(?:が|も)(?:もう)?(?:死|し)んで"
)


def is_self_introduction(sentence: str) -> bool:
    """True for a sentence that only says who the writer is (担任です, 26です)."""
    return len(sentence) <= 40 and bool(_SELF_INTRO.match(sentence.strip()))


# Greetings and bare closing pleas: the whole sentence names no topic.
_TOPIC_FREE = re.compile(
    r"^(?:こんにちは|こんばんは|おはようございます|はじめまして|初めまして|お世話になっております|"
    r"お世話になります|お疲れ様です|失礼します|(?:どうぞ)?よろしくお願い(?:します|いたします|致します)|"
    r"お願いします|教えてください|(?:私|わたし)?(?:は)?(?:どう|どのように)(?:したら|すれば)"
    r"(?:いい|よい|良い)(?:の)?(?:ですか|でしょうか|か|かな|んでしょうか|のでしょうか)?|どうしよう|"
    r"どこに(?:相談|連絡)(?:したら|すれば)(?:いい|よい)(?:ですか|でしょうか|の)?|"
    r"hello|hi|good (?:morning|afternoon|evening)|xin chào|안녕하세요|你好|您好|"
    r"boa (?:tarde|noite)|bom dia|ol[aá]|selamat (?:pagi|siang|sore|malam)|namaste|kumusta|"
    r"magandang (?:umaga|hapon|gabi))"
    r"[。.!！?？、,…\s]*$",
    re.IGNORECASE,
)


def is_topic_free(sentence: str) -> bool:
    """True for a greeting, a bare plea for advice or a self-introduction.

    Such a sentence shows no need; the engine does not spend the encoder on it.
    """
    s = sentence.strip()
    return bool(_TOPIC_FREE.match(s)) or is_self_introduction(s)


# Markers of a past episode; "since last year" (去年から) is ongoing, not past.
_PAST = re.compile(
    r"(?:去年|昨年|先月|先週|以前|昔|むかし|\d+年前|数年前|何年も前|当時|かつて|"
    r"(?:若い|子どもの|子供の|学生の|小さい)(?:頃|ころ))(?!から|より|以来|ずっと)"
)


def is_past(sentence: str) -> bool:
    """True when the sentence tells of a past episode (去年の秋に入院して…)."""
    return bool(_PAST.search(sentence))


# A condition already under care, told as a fact: 「うつ病で心療内科に通っています」.
_UNDER_CARE = re.compile(
    r"(?:通院|通っ|かよっ|治療|服薬|受診)(?:を|も)?(?:し)?(?:ています|ていて|てます|てる|ており|中|しながら|ながら)"
)
_COMPLAINT = re.compile(
    r"ない|なく|つらい|辛い|しんどい|苦し|不安|心配|悪化|困|でき(?:な|ず)|やめ|止め|迷|悩|たい|\?|？"
)


def is_under_care(sentence: str) -> bool:
    """True for a sentence that only says a condition is already being treated.

    Like a past hospital stay, ongoing care is background (eval README rule 1)
    unless the sentence also voices a trouble with it.
    """
    return bool(_UNDER_CARE.search(sentence)) and not _COMPLAINT.search(sentence)


def is_joking(sentence: str) -> bool:
    """True when a joke or exaggeration marker shows the words are not meant."""
    return bool(_JOKE.search(sentence))


# A child with the victim: hiding, fleeing, watching, or simply there.
_CHILD = (
    r"(?:子ども|子供|こども|うちの子|上の子|下の子|娘|息子|赤ちゃん|乳児|幼児|\d+歳の子|小さい子)"
)
_CHILDREN_PRESENT = re.compile(
    _CHILD + r"(?:たち|達|2人|二人|ふたり)?(?:と(?:一緒に|いっしょに)?(?:[^。]{0,12})?"
    r"(?:逃げ|にげ|隠れ|かくれ|避難|家を出|いる|います)|を(?:連れて|つれて|抱えて|かかえて|守)|の(?:前で|目の前)|"
    r"(?:も|が)(?:見て|みて|見てい|泣い|おびえ|怯え|怖が|こわが|一緒|いっしょ|そば|家に|います|いる))"
    r"|(?:子ども|子供|こども|娘|息子)(?:が|も)(?:\d+人|[一二三]人|ふたり)(?:い|お)"
    r"|(?:with|and) (?:my |the )?(?:kids?|children|son|daughter|baby)"
    r"|(?:in front of|hiding with) (?:my |the )?(?:kids?|children)",
    re.IGNORECASE,
)


def children_present(text: str) -> bool:
    """True when children are with the victim of partner violence (rule 5)."""
    return bool(_CHILDREN_PRESENT.search(text))
