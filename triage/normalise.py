"""Text normalisation and sentence splitting before anything else looks at it."""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 4000
# the crisis check reads further than the encoder: a plea at the end of a long message counts
CRISIS_MAX_CHARS = 20000
MAX_SENTENCES = 32

# control characters except tab/newline; NUL and friends never reach the model
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ \t\u3000]+")
_BREAK = re.compile(r"(?<=[。！？!?…])|\n+|(?<=[.])\s+(?=[^\sa-z])")
_OPEN, _CLOSE = "「『", "」』"


def normalise(text: str, *, max_chars: int = MAX_CHARS) -> str:
    """NFKC, no control characters, one space between words; emoji kept intact.

    NFKC folds full-width ASCII and half-width kana, so lexicon patterns and
    the embedder see one spelling. Lone surrogates (broken emoji) are dropped.
    """
    text = text.encode("utf-8", "ignore").decode("utf-8") if _has_surrogate(text) else text
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "\n").split("\n")]
    text = "\n".join(line for line in lines if line)
    return text[:max_chars]


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


_CLAUSE = re.compile(r"(?<=[、,])")


def split_sentences(
    text: str,
    *,
    max_sentences: int = MAX_SENTENCES,
    halves_over: int = 60,
    halves_only: bool = False,
) -> list[str]:
    """Split a normalised message into sentences; long ones also into halves.

    Residents often pack two troubles into one long sentence joined by 、,
    so a sentence over 60 characters is also offered as two clause groups.
    A quoted utterance (兄から「もう疲れた。ごめん」って来た) stays in its
    sentence: its pieces alone mean nothing. With ``halves_only`` a long
    sentence is given as its two halves instead of before them (the encoder
    then reads its words once).
    """
    parts = _join_quotes([p.strip() for p in _BREAK.split(text)])
    sentences = [p for p in parts if p and any(ch.isalnum() for ch in p)]
    out: list[str] = []
    for s in sentences:
        clauses = [c for c in _CLAUSE.split(s) if c.strip()] if len(s) > halves_over else []
        if len(clauses) < 2 or not halves_only:
            out.append(s)
        if len(clauses) >= 2:
            mid = len(clauses) // 2
            out.append("".join(clauses[:mid]).strip())
            out.append("".join(clauses[mid:]).strip())
    return out[:max_sentences]


def _join_quotes(parts: list[str]) -> list[str]:
    """Glue the pieces of a 「…」 quotation back together when it closes later."""
    out: list[str] = []
    depth = 0
    for i, part in enumerate(parts):
        if depth > 0 and out:
            out[-1] += part
        else:
            out.append(part)
        depth += sum(part.count(c) for c in _OPEN) - sum(part.count(c) for c in _CLOSE)
        if depth > 0 and not any(c in p for p in parts[i + 1 :] for c in _CLOSE):
            depth = 0  # never closed: split as usual
        depth = max(depth, 0)
    return out
