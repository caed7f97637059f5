"""The summary note (共通アセスメントシート) of a case: extractive and deterministic.

Everything in the note comes from the triage Assessment stored on the case
and from the resident's own words in the transcript: who is writing
(本人/家族/近隣/関係者, by simple rules, with the rule that fired), each need
with the resident's sentences that show it, household members mentioned
(relation word + age + a few plain attributes such as 無職 or 認知症, by
regular expressions), crisis flags, consent, contact wishes, suggested
services with their reasons and hours, and the language. No model, no
cloud service, nothing the resident did not write: the same case always
gives the same note, and it is rebuilt whenever the case page is shown, so
it follows the resident's newest messages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal, cast, get_args

from pydantic import BaseModel, Field

from triage.assessment import Assessment

from .cases import Case, Consent, TranscriptEntry

Writer = Literal["本人", "家族", "近隣", "関係者"]
_WRITERS: tuple[str, ...] = get_args(Writer)

CRISIS_LABELS = {
    "suicide": "自殺・自傷の危険",
    "violence": "暴力の危険",
    "child_abuse": "児童虐待の疑い",
    "medical": "救急の必要",
}
LANGUAGE_LABELS = {"ja": "日本語", "easy": "やさしい日本語", "en": "English"}

# -- relation words -------------------------------------------------------------------

#: surface form → the label the note shows (longer forms first in the regex below)
_RELATIONS: dict[str, str] = {
    "お母さん": "母",
    "母さん": "母",
    "母親": "母",
    "母": "母",
    "お父さん": "父",
    "父さん": "父",
    "父親": "父",
    "父": "父",
    "おばあちゃん": "祖母",
    "祖母": "祖母",
    "おじいちゃん": "祖父",
    "祖父": "祖父",
    "義母": "義母",
    "義父": "義父",
    "姑": "義母",
    "舅": "義父",
    "主人": "夫",
    "旦那": "夫",
    "夫": "夫",
    "妻": "妻",
    "家内": "妻",
    "息子": "息子",
    "長男": "長男",
    "次男": "次男",
    "三男": "三男",
    "娘": "娘",
    "長女": "長女",
    "次女": "次女",
    "三女": "三女",
    "兄": "兄",
    "弟": "弟",
    "姉": "姉",
    "妹": "妹",
    "子ども": "子ども",
    "子供": "子ども",
    "こども": "子ども",
    "孫": "孫",
}
#: the writer themself: a member only when an age is given (「私は45歳」)
_SELF = ("私", "わたし", "自分", "僕", "ぼく", "俺")

# Look-arounds keep compounds out: 祖母/義母/父母/保母/母子, 大丈夫, 兄弟/姉妹, 弟子,
# 子ども食堂, 子ども家庭センター … are not people in the household.
_GUARDS: dict[str, tuple[str, str]] = {
    "母": (r"(?<![祖義父保伯叔])", r"(?![子国語校])"),
    "父": (r"(?<![祖義伯叔神])", r"(?![母兄子])"),
    "夫": (r"(?<![丈工農])", r"(?!婦)"),
    "妻": (r"(?<![夫])", r""),
    "兄": (r"(?<![義父])", r"(?![弟姉妹])"),
    "弟": (r"(?<![兄義師])", r"(?![子])"),
    "姉": (r"(?<![義])", r"(?![妹])"),
    "妹": (r"(?<![姉義])", r""),
    "娘": (r"", r""),
    "孫": (r"(?<![子])", r""),
    "子ども": (r"", r"(?!(?:食堂|家庭|会|向け|の居場所|の頃|のころ|時代|の時|のとき))"),
    "子供": (r"", r"(?!(?:食堂|家庭|会|向け|の居場所|の頃|のころ|時代|の時|のとき))"),
    "こども": (r"", r"(?!(?:食堂|家庭|会|向け|の居場所|の頃|のころ|時代|の時|のとき))"),
}


def _relation_regex() -> re.Pattern[str]:
    parts = []
    for surface in sorted([*_RELATIONS, *_SELF], key=len, reverse=True):
        before, after = _GUARDS.get(surface, ("", ""))
        parts.append(f"{before}{re.escape(surface)}{after}")
    return re.compile("|".join(parts))


_RELATION = _relation_regex()
_AGE_AFTER = re.compile(
    r"^(?:さん|ちゃん|くん)?(?:は|が|も|で|、|\s)*[（(]?\s*(\d{1,3})\s*(歳|才|代)|"
    r"^(?:さん|ちゃん|くん)?\s*[（(]\s*(\d{1,3})\s*[）)]"
)
_AGE_BEFORE = re.compile(r"(\d{1,3})\s*(歳|才|代)の\s*$")

#: plain attributes a resident states about a person → the word the note shows
_ATTRIBUTES: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"要介護\s*[1-5]"), None),
    (re.compile(r"要介護"), "要介護"),
    (re.compile(r"要支援\s*[12]"), None),
    (re.compile(r"無職|働いていない|働いておらず|仕事をしていない|仕事をしておらず"), "無職"),
    (re.compile(r"認知症"), "認知症"),
    (re.compile(r"ひきこもり|引きこもり|ひきこもって|引きこもって"), "ひきこもり"),
    (re.compile(r"寝たきり"), "寝たきり"),
    (re.compile(r"不登校|学校に行けて?いない|学校に行っていない"), "不登校"),
    (re.compile(r"障害|障がい"), "障害"),
    (re.compile(r"入院"), "入院"),
    (re.compile(r"一人暮らし|ひとり暮らし"), "一人暮らし"),
    (re.compile(r"(?:小学|中学|高校)\d年生?|小学生|中学生|高校生|大学生"), None),
    (re.compile(r"乳児|赤ちゃん|未就学"), None),
    (re.compile(r"生活保護"), "生活保護"),
    (re.compile(r"うつ病|うつ"), "うつ"),
]
_NEGATION = re.compile(r"^(?:で|じゃ|では)(?:は)?な")

_SENTENCE_END = re.compile(r"(?<=[。！？!?\n])")
_CLAUSE_STOP = re.compile(r"[。！？!?\n]")

# -- who is writing ---------------------------------------------------------------------

_PROFESSIONAL = re.compile(
    r"(民生委員|ケアマネ(?:ジャー)?|担任|教員|教師|保健師|ヘルパー|看護師|大家|管理人|支援員|"
    r"相談員|職員|保育士|スクールカウンセラー)\s*(?:を\s*し|として|です|をやって|の者です)"
    r"|担当している(?:利用者|生徒|児童|方)"
)
_NEIGHBOUR = re.compile(r"隣の|隣に住|お隣|隣家|近所の|向かいの|同じアパート|同じマンション|近隣の")

# -- contact wishes -----------------------------------------------------------------------

_CONTACT = re.compile(r"連絡|電話|メール|返信|返事|折り返し")
_CONTACT_WISH = re.compile(
    r"午前|午後|夕方|夜|朝|昼|\d{1,2}時|平日|土日|曜|LINEで|ラインで|しないで|やめて|困り|困る|"
    r"ほしい|欲しい|ください|希望|都合"
)


class HouseholdMember(BaseModel):
    """A person the resident mentions, with what they said about them."""

    relation: str
    age: str | None = None
    attributes: list[str] = Field(default_factory=list)
    sentence: str

    @property
    def text(self) -> str:
        return " ".join([self.relation + (self.age or ""), *self.attributes])


class Need(BaseModel):
    """A need triage found, with the resident's own sentences as evidence."""

    code: str
    label: str
    sentences: list[str] = Field(default_factory=list)
    by_button: bool = False


class ServiceLine(BaseModel):
    name: str
    organization: str
    reason: str
    hours: str = ""
    phone: str | None = None


class ConsentLine(BaseModel):
    label: str
    value: str


class SummaryNote(BaseModel):
    """共通アセスメントシート: what a person needs to see first."""

    writer: Writer
    writer_reason: str
    needs: list[Need]
    household: list[HouseholdMember]
    urgent: bool
    crisis_type: str | None
    crisis_label: str | None
    crisis_sentences: list[str]
    risk_concern: bool
    complex: bool
    consent: list[ConsentLine]
    contact: list[str]
    services: list[ServiceLine]
    language: str
    language_label: str


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def sentences(text: str) -> list[str]:
    """The text cut into sentences (after 。！？ and line breaks), stripped, non-empty."""
    return [s.strip() for s in _SENTENCE_END.split(_norm(text)) if s.strip()]


def who_is_writing(text: str) -> tuple[Writer, str]:
    """本人/家族/近隣/関係者 by simple rules, and the words that decided it."""
    text = _norm(text)
    if found := _PROFESSIONAL.search(text):
        return "関係者", f"「{found.group(0)}」と書いている"
    if found := _NEIGHBOUR.search(text):
        return "近隣", f"「{found.group(0)}」と書いている"
    for match in _RELATION.finditer(text):
        if match.group(0) not in _SELF:
            return "家族", f"家族（「{match.group(0)}」）のことを書いている"
    return "本人", "家族・近隣・関係者を示す言葉がない"


def _age(number: str, unit: str) -> str:
    return f"{int(number)}{'歳' if unit == '才' else unit}"


def _attributes(clause: str) -> list[str]:
    found: list[str] = []
    taken: list[tuple[int, int]] = []
    for pattern, label in _ATTRIBUTES:
        for m in pattern.finditer(clause):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            if _NEGATION.match(clause[m.end() :]):
                continue
            word = label or re.sub(r"\s+", "", m.group(0))
            taken.append((m.start(), m.end()))
            if word not in found:
                found.append(word)
    return found


def household_members(text: str) -> list[HouseholdMember]:
    """Relation words with an age and plain attributes, in the order first mentioned.

    「母（82歳）は認知症」「52歳の兄は無職」「小学生の娘」: the age is taken right
    before (「82歳の」) or after (「は82歳」「（82）」) the word; attributes from the
    rest of the clause up to the next person or sentence end, and from right
    before the word when joined by の (「無職の兄」).
    """
    members: dict[str, HouseholdMember] = {}
    for sentence in sentences(text):
        matches = list(_RELATION.finditer(sentence))
        for i, m in enumerate(matches):
            surface = m.group(0)
            is_self = surface in _SELF
            relation = "本人" if is_self else _RELATIONS[surface]
            end = matches[i + 1].start() if i + 1 < len(matches) else len(sentence)
            stop = _CLAUSE_STOP.search(sentence, m.end(), end)
            clause = sentence[m.end() : stop.start() if stop else end]
            start = matches[i - 1].end() if i > 0 else 0
            left = re.split(r"[、,]", sentence[start : m.start()])[-1]
            age = None
            if after := _AGE_AFTER.match(clause):
                number, unit = (
                    (after.group(1), after.group(2)) if after.group(1) else (after.group(3), "歳")
                )
                age = _age(number, unit)
            elif before := _AGE_BEFORE.search(left):
                age = _age(before.group(1), before.group(2))
            attributes = _attributes(clause)
            if left.endswith("の"):
                attributes = [a for a in _attributes(left) if a not in attributes] + attributes
            if is_self and age is None:
                continue  # the writer is the note's 相談者; only an age makes them a line
            if is_self:
                attributes = []  # the writer's own troubles are the needs, not attributes
            known = members.get(relation)
            if known is None:
                members[relation] = HouseholdMember(
                    relation=relation, age=age, attributes=attributes, sentence=sentence
                )
            else:
                known.age = known.age or age
                known.attributes += [a for a in attributes if a not in known.attributes]
    return list(members.values())


def _consent_lines(
    consent: Consent, urgent: bool, follow_up: bool | None = None
) -> list[ConsentLine]:
    def answer(value: bool | None) -> str:
        if value is None:
            return "未確認（危機のため確認前につないだ）" if urgent else "未確認"
        return "同意あり" if value else "同意なし"

    return [
        ConsentLine(label="職員への共有", value=answer(consent.share_with_staff)),
        ConsentLine(label="関係機関への共有", value=answer(consent.share_with_agencies)),
        ConsentLine(label="匿名での相談", value="希望" if consent.anonymous else "希望なし"),
        ConsentLine(
            label="見守りの連絡",
            value="未確認" if follow_up is None else ("同意あり" if follow_up else "同意なし"),
        ),
    ]


def build_summary(
    case: Case, transcript: Sequence[TranscriptEntry], *, max_services: int = 5
) -> SummaryNote:
    """The note for ``case`` from its Assessment and the resident's messages."""
    resident_text = "\n".join(
        e.text for e in transcript if e.role == "resident" and not e.text.startswith("［")
    )
    resident_sentences = sentences(resident_text)
    joined = _norm(resident_text)
    assessment: Assessment = case.assessment
    writer, reason = who_is_writing(resident_text)
    if case.writer in _WRITERS and case.writer != writer:
        reason = f"職員が訂正（自動の推定は{writer}：{reason}）"
        writer = cast(Writer, case.writer)
    elif case.writer in _WRITERS:
        reason = f"職員が確認（{reason}）"

    needs: list[Need] = []
    for finding in assessment.categories:
        found: list[str] = []
        by_button = False
        for evidence in finding.evidence:
            if evidence.source == "button":
                by_button = True
                continue
            said = _norm(evidence.sentence).strip()
            if not said or said not in joined:
                continue  # only the resident's own words, never a paraphrase
            full = next((s for s in resident_sentences if said in s), said)
            if full not in found:
                found.append(full)
        needs.append(
            Need(code=finding.code, label=finding.label, sentences=found, by_button=by_button)
        )

    crisis = assessment.crisis
    crisis_sentences = [s for s in (crisis.sentences if crisis else []) if _norm(s) in joined]
    contact = [s for s in resident_sentences if _CONTACT.search(s) and _CONTACT_WISH.search(s)]
    services = [
        ServiceLine(
            name=s.name, organization=s.organization, reason=s.reason, hours=s.hours, phone=s.phone
        )
        for s in assessment.services[:max_services]
    ]
    crisis_type = case.crisis_type or (crisis.type if crisis else None)
    return SummaryNote(
        writer=writer,
        writer_reason=reason,
        needs=needs,
        household=household_members(resident_text),
        urgent=case.urgent,
        crisis_type=crisis_type,
        crisis_label=CRISIS_LABELS.get(crisis_type, crisis_type) if crisis_type else None,
        crisis_sentences=crisis_sentences,
        risk_concern=assessment.risk_concern,
        complex=case.complex,
        consent=_consent_lines(case.consent, case.urgent, case.follow_up_consent),
        contact=contact,
        services=services,
        language=case.language,
        language_label=LANGUAGE_LABELS.get(case.language, case.language),
    )
