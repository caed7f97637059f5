"""Which language a resident wrote in, from scripts and common words.

Deterministic and dependency-free: the bot needs a reply language and the
summary note a label, not a research-grade detector. Codes: ja, en, zh, ko,
vi, pt, tl, id, ne, es, other.
"""

from __future__ import annotations

import re

LANGUAGE_NAMES = {
    "ja": "日本語",
    "en": "English",
    "zh": "中文",
    "ko": "한국어",
    "vi": "Tiếng Việt",
    "pt": "Português",
    "tl": "Tagalog",
    "id": "Bahasa Indonesia",
    "ne": "नेपाली",
    "es": "Español",
    "other": "その他",
}

_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_VI = re.compile(r"[ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)
_WORD = re.compile(r"[a-zà-ÿ']+", re.I)

# a few very common function words per language (lower case)
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "i",
            "my",
            "is",
            "are",
            "was",
            "to",
            "of",
            "a",
            "in",
            "it",
            "me",
            "he",
            "she",
            "we",
            "you",
            "not",
            "have",
            "has",
            "with",
            "for",
            "this",
            "that",
            "do",
            "don't",
            "can",
            "can't",
            "help",
            "please",
            "what",
            "how",
        ]
    ),
    "pt": frozenset(
        [
            "não",
            "eu",
            "meu",
            "minha",
            "você",
            "que",
            "de",
            "com",
            "para",
            "por",
            "uma",
            "um",
            "os",
            "as",
            "está",
            "estou",
            "tenho",
            "muito",
            "ajuda",
            "trabalho",
            "filho",
            "filha",
            "é",
        ]
    ),
    "es": frozenset(
        [
            "no",
            "yo",
            "mi",
            "que",
            "de",
            "con",
            "para",
            "por",
            "una",
            "un",
            "los",
            "las",
            "está",
            "estoy",
            "tengo",
            "muy",
            "ayuda",
        ]
    ),
    "tl": frozenset(
        [
            "ang",
            "ng",
            "mga",
            "ako",
            "po",
            "ko",
            "sa",
            "hindi",
            "na",
            "ay",
            "siya",
            "kami",
            "namin",
            "aking",
            "walang",
            "trabaho",
            "tulong",
            "anak",
        ]
    ),
    "id": frozenset(
        [
            "saya",
            "tidak",
            "yang",
            "dan",
            "di",
            "ini",
            "itu",
            "ada",
            "dengan",
            "untuk",
            "anak",
            "kerja",
            "bisa",
            "tolong",
            "sudah",
            "belum",
            "karena",
        ]
    ),
    "vi": frozenset(
        [
            "tôi",
            "không",
            "có",
            "và",
            "của",
            "là",
            "được",
            "cho",
            "với",
            "em",
            "anh",
            "chị",
            "tiền",
            "việc",
            "nhà",
            "con",
        ]
    ),
    # romanised Nepali
    "ne": frozenset(
        [
            "ma",
            "malai",
            "mero",
            "cha",
            "chha",
            "chhaina",
            "chaina",
            "ho",
            "hoina",
            "garna",
            "ra",
            "ko",
            "lai",
            "pani",
            "kaam",
            "paisa",
            "sahayog",
            "bhayo",
        ]
    ),
}


def detect_language(text: str) -> str:
    """The most likely language code of ``text`` (``other`` when unsure)."""
    if not text.strip():
        return "other"
    kana = len(_KANA.findall(text))
    han = len(_HAN.findall(text))
    hangul = len(_HANGUL.findall(text))
    if kana >= 2 or (kana and kana >= hangul):
        return "ja"
    if hangul >= 2:
        return "ko"
    if han >= 2:
        return "zh"
    if len(_DEVANAGARI.findall(text)) >= 2:
        return "ne"
    if len(_VI.findall(text)) >= 2:
        return "vi"
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return "ja" if han else "other"
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    if scores[best] == 0:
        return "other"
    # Portuguese and Spanish share words; ã/õ/ç tip it to Portuguese
    if best in ("pt", "es") and re.search(r"[ãõç]", text):
        return "pt"
    return best
