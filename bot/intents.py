"""The few fixed things a resident may say that are requests, not concerns.

"Talk to a person", a language request and yes/no answers are recognised
here, before triage, because they change what the bot does rather than
what it understands about the resident's troubles. Patterns are matched
on NFKC-folded, lower-cased text so full-width and half-width both work.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Answer = Literal["yes", "no", "anon"]

_PERSON = re.compile(
    r"(担当(者|の方|のかた|の人)?|相談員|職員|人間|人|ひと|だれか|誰か"
    r"|スタッフ|たんとうの ?ひと|専門家)"
    r"(と|に|へ)?(直接|ちょくせつ)? ?"
    r"((話|はな)(したい|せますか|せる[?？]|をしたい)|相談(したい|できますか)|そうだん ?したい"
    r"|つな(いで|げて|ぎたい|がりたい)|代わって|かわって"
    r"|(電話|でんわ|連絡|れんらく)(したい|ください|して(ほしい|ください)|がほしい))"
    r"|オペレーター"
    r"|talk (to|with) (a |an |some |the )?(person|human|someone|staff|people|real)"
    r"|speak (to|with) (a |an |some |the )?(person|human|someone|staff)"
    r"|real person|human please|\bagent\b|\boperator\b",
)
_EASY = re.compile(
    r"やさしい ?(日本語|にほんご)|簡単な日本語|かんたんな ?(日本語|にほんご)|easy japanese"
)
_ENGLISH = re.compile(
    r"^(in )?english( please)?[.!]?$|英語で|えいごで|english please|reply in english"
)
_JAPANESE = re.compile(
    r"^(普通の)?日本語で(お願い|おねがい)?(します)?[。.!！]?$|^in japanese|^japanese( please)?$"
)

_YES = re.compile(
    r"^(はい|ええ|うん|お願いします|おねがいします|いいです|いいですよ|大丈夫です?|だいじょうぶ(です)?"
    r"|伝えて(いい|よい|ください|大丈夫)|よい|よいです|かまいません|構いません|ok|okay|yes|yeah|sure|y)"
    r"[。.!！、,]*$"
)
_NO = re.compile(
    r"^(いいえ|いや|だめ|ダメ|やめて|やめておきます|伝えないで(ください)?|伝えない|結構です|けっこうです"
    r"|嫌です|いやです|no|nope|n|don't|do not)[。.!！、,]*$"
)
_ANON = re.compile(
    r"匿名|名前(は|を)?(出さ|言わ|いわ)|なまえを ?(いわ|ださ)|anonymous|without (my )?name"
)


def fold(text: str) -> str:
    """NFKC, lower case, spaces trimmed: the spelling patterns are written for."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def wants_person(text: str) -> bool:
    """「担当者と話したい」, "talk to a person" and the like."""
    folded = fold(text)
    return len(folded) <= 80 and bool(_PERSON.search(folded))


def language_request(text: str) -> str | None:
    """``easy``, ``en`` or ``ja`` when the message asks for a language, else None."""
    folded = fold(text)
    if len(folded) > 40:
        return None
    if _EASY.search(folded):
        return "easy"
    if _ENGLISH.search(folded):
        return "en"
    if _JAPANESE.search(folded):
        return "ja"
    return None


def answer(text: str) -> Answer | None:
    """A yes / no / anonymous answer to a consent question, if it is one."""
    folded = fold(text)
    if len(folded) > 40:
        return None
    if _ANON.search(folded):
        return "anon"
    if _YES.match(folded):
        return "yes"
    if _NO.match(folded):
        return "no"
    return None
