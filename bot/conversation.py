"""The conversation engine: one state machine for every channel.

States (persisted per resident in ``conversations``)::

    greeting → listening → offer → consent_staff → consent_agencies → handed_off
                  ↑___________________________________________|   (staff hand back)
                                                   follow_up ←┘

Rules that hold in every state (design.md §5): a crisis gets the fitting
emergency numbers at once and an urgent case without waiting for consent;
「担当者と話したい」 opens a case; a language request switches language;
nothing is a dead end. After a handoff the bot is silent: it relays the
resident's messages to the case and only speaks again for a crisis or when
staff hand the conversation back.

The engine is split in two so the worker can keep the event loop free:
``assess`` runs triage (CPU-bound, no database) in a thread; ``apply``
changes state, cases and transcript and returns the replies, and must run
inside the caller's transaction together with the outbox write.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeGuard, cast

import sqlite_utils

import handoff
from knowledge import CATEGORIES, KnowledgeStore, NotFound
from triage.assessment import Assessment, CategoryFinding, Evidence, ServiceMatch

from . import intents
from . import replies as r
from .messages import Inbound, Outbound, fit
from .office import OfficeHours
from .settings import Settings

log = logging.getLogger(__name__)

State = Literal[
    "greeting",
    "listening",
    "offer",
    "consent_staff",
    "consent_agencies",
    "handed_off",
    "follow_up",
]
Clock = Callable[[], dt.datetime]

#: Triage reads at most this much of one message: its cost grows with length and
#: one worker serves every resident, so a huge message must not hold the others up.
#: The head and the tail are read (a long story often ends with how bad it is now);
#: the whole text still goes to the case for a person to read.
MAX_TRIAGE_CHARS = 2000
TRIAGE_TAIL_CHARS = 500
#: Above this, the reply says thanks for the long message (all of it is kept).
LONG_MESSAGE = 2000
#: The merged text of a consultation kept on the conversation.
MAX_MERGED_TEXT = 8000
SERVICES_SHOWN = 3
NEEDS_NAMED = 3

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NON_JA = {"en", "zh", "ko", "vi", "pt", "tl", "id", "ne", "es"}


def triage_parts(text: str) -> list[str]:
    """What triage reads of a message: all of it, or its head and its tail when long.

    The tail is assessed on its own because triage looks at a bounded number
    of sentences: a crisis stated at the end of a long story must still be seen.
    """
    if len(text) <= MAX_TRIAGE_CHARS:
        return [text]
    return [text[: MAX_TRIAGE_CHARS - TRIAGE_TAIL_CHARS], text[-TRIAGE_TAIL_CHARS:]]


def system_clock() -> dt.datetime:
    """The real clock (UTC); tests inject their own."""
    return dt.datetime.now(dt.UTC)


def clean(text: str) -> str:
    """Drop NUL and other control characters a channel may pass through."""
    return _CONTROL.sub("", text).strip()


class Assessor(Protocol):
    """What the engine needs from triage (``triage.Triage`` satisfies it)."""

    def assess(self, text: str) -> Assessment: ...


@dataclass
class ConversationState:
    """One resident's conversation as stored between turns."""

    resident_ref: str
    channel: str
    state: State = "greeting"
    language: r.Lang = "ja"
    language_chosen: bool = False
    assessment: Assessment | None = None
    consent: handoff.Consent = field(default_factory=handoff.Consent)
    consultation_start: int = 0
    turns: int = 0
    following: bool = True


def merge(old: Assessment | None, new: Assessment) -> Assessment:
    """The needs of a whole consultation: every message's findings together.

    Residents tell their story over several messages; the offer and the
    case must show all the needs, not only those of the last message.
    """
    if old is None:
        return new
    # a vague message's best guess is not a need
    new_categories = [] if new.vague else new.categories
    new_services = [] if new.vague else new.services
    cats: dict[str, CategoryFinding] = {c.code: c for c in old.categories}
    for c in new_categories:
        if c.code in cats:
            prev = cats[c.code]
            seen = {e.sentence for e in prev.evidence}
            evidence = prev.evidence + [e for e in c.evidence if e.sentence not in seen]
            cats[c.code] = prev.model_copy(
                update={"score": max(prev.score, c.score), "evidence": evidence}
            )
        else:
            cats[c.code] = c
    services: dict[str, ServiceMatch] = {s.service_id: s for s in old.services}
    for s in new_services:
        if s.service_id not in services or services[s.service_id].score < s.score:
            services[s.service_id] = s
    categories = sorted(cats.values(), key=lambda c: -c.score)
    text = f"{old.text}\n{new.text}".strip() if new.text else old.text
    return Assessment(
        text=text[-MAX_MERGED_TEXT:],
        language=new.language,
        categories=categories,
        ranked=new.ranked or old.ranked,
        crisis=new.crisis or old.crisis,
        risk_concern=old.risk_concern or new.risk_concern,
        complex=old.complex or new.complex or len(categories) >= 2,
        vague=not categories,
        services=sorted(services.values(), key=lambda s: -s.score),
        kb_version=max(old.kb_version, new.kb_version),
    )


class Conversation:
    """Runs one resident turn: state in, replies out."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        triage: Assessor,
        settings: Settings,
        *,
        now: Clock | None = None,
    ) -> None:
        self.db = db
        self.triage = triage
        self.settings = settings
        self.now: Clock = now or system_clock
        self.office = OfficeHours.from_settings(settings)
        self.store = KnowledgeStore(db)

    # -- the two halves of a turn -----------------------------------------

    def assess(self, event: Inbound) -> Assessment | None:
        """Triage the message (thread-safe: touches no database of ours)."""
        if event.kind != "text":
            return None
        text = clean(event.text)
        if not text:
            return None
        head, *tail = (self.triage.assess(part) for part in triage_parts(text))
        for more in tail:
            head = merge(head, more)
        return head

    def apply(self, event: Inbound, assessment: Assessment | None) -> list[Outbound]:
        """Advance the state machine; call inside the caller's transaction."""
        now = self.now()
        conv = self.load(event.resident_ref) or ConversationState(event.resident_ref, event.channel)
        case = handoff.case_for_resident(self.db, conv.resident_ref)
        note = self._resident_note(event)
        if note is not None:
            self._record(conv, "resident", note, now, case)
        if assessment is not None and not conv.language_chosen:
            conv.language = self._auto_language(conv.language, assessment.language)
        replies = self._dispatch(conv, event, assessment, case, now)
        replies = fit(replies)
        case_after = handoff.case_for_resident(self.db, conv.resident_ref)
        for message in replies:
            self._record(conv, "bot", message.text, now, case_after)
        conv.turns += 1
        self.save(conv, now)
        return replies

    def handle(self, event: Inbound) -> list[Outbound]:
        """Both halves in one go, in one transaction (tests and tools)."""
        assessment = self.assess(event)
        with self.db.atomic():
            return self.apply(event, assessment)

    # -- persistence -------------------------------------------------------

    def load(self, resident_ref: str) -> ConversationState | None:
        rows = list(
            self.db.query("SELECT * FROM conversations WHERE resident_ref = ?", [resident_ref])
        )
        if not rows:
            return None
        row = rows[0]
        return ConversationState(
            resident_ref=row["resident_ref"],
            channel=row["channel"],
            state=cast(State, row["state"]),
            language=cast(r.Lang, row["language"]),
            language_chosen=bool(row["language_chosen"]),
            assessment=(
                Assessment.model_validate_json(row["assessment"]) if row["assessment"] else None
            ),
            consent=handoff.Consent.model_validate_json(row["consent"]),
            consultation_start=row["consultation_start"],
            turns=row["turns"],
            following=bool(row["following"]),
        )

    def save(self, conv: ConversationState, now: dt.datetime) -> None:
        stamp = now.astimezone(dt.UTC).isoformat(timespec="microseconds")
        self.db.execute(
            """
            INSERT INTO conversations (resident_ref, channel, state, language, language_chosen,
                assessment, consent, consultation_start, turns, following, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (resident_ref) DO UPDATE SET
                state = excluded.state, language = excluded.language,
                language_chosen = excluded.language_chosen, assessment = excluded.assessment,
                consent = excluded.consent, consultation_start = excluded.consultation_start,
                turns = excluded.turns, following = excluded.following,
                updated_at = excluded.updated_at
            """,
            [
                conv.resident_ref,
                conv.channel,
                conv.state,
                conv.language,
                int(conv.language_chosen),
                conv.assessment.model_dump_json() if conv.assessment else None,
                conv.consent.model_dump_json(),
                conv.consultation_start,
                conv.turns,
                int(conv.following),
                stamp,
                stamp,
            ],
        )

    def _record(
        self,
        conv: ConversationState,
        role: handoff.cases.Role,
        text: str,
        now: dt.datetime,
        case: handoff.Case | None,
    ) -> None:
        stamp = now.astimezone(dt.UTC).isoformat(timespec="microseconds")
        self.db.execute(
            "INSERT INTO conversation_messages (resident_ref, role, text, at) VALUES (?, ?, ?, ?)",
            [conv.resident_ref, role, text, stamp],
        )
        if case is not None:
            handoff.append_message(self.db, case.id, role, text, at=now)

    def _transcript(self, conv: ConversationState) -> list[handoff.TranscriptEntry]:
        return [
            handoff.TranscriptEntry(
                role=row["role"], text=row["text"], at=dt.datetime.fromisoformat(row["at"])
            )
            for row in self.db.query(
                "SELECT role, text, at FROM conversation_messages"
                " WHERE resident_ref = ? AND id > ? ORDER BY id",
                [conv.resident_ref, conv.consultation_start],
            )
        ]

    def _new_consultation(self, conv: ConversationState) -> None:
        """Forget the needs so far (the transcript stays in the table)."""
        row = self.db.execute(
            "SELECT COALESCE(MAX(id), 0) FROM conversation_messages WHERE resident_ref = ?",
            [conv.resident_ref],
        ).fetchone()
        conv.consultation_start = int(row[0])
        conv.assessment = None
        conv.consent = handoff.Consent()

    @staticmethod
    def _resident_note(event: Inbound) -> str | None:
        """What the transcript keeps of the resident's action."""
        if event.kind == "text":
            return clean(event.text) or "（空のメッセージ）"
        if event.kind == "postback":
            return f"［ボタン］{event.data}"
        if event.kind == "non_text":
            return "［文字以外のメッセージ（スタンプ・画像など）］"
        if event.kind == "unfollow":
            return "［友だち解除・ブロック］"
        if event.kind in ("follow", "start"):
            return "［開始］"
        return None

    @staticmethod
    def _auto_language(current: r.Lang, detected: str) -> r.Lang:
        if detected == "ja":
            return "ja" if current == "en" else current
        if detected in _NON_JA:
            return "en"
        return current

    # -- the state machine ---------------------------------------------------

    def _dispatch(
        self,
        conv: ConversationState,
        event: Inbound,
        assessment: Assessment | None,
        case: handoff.Case | None,
        now: dt.datetime,
    ) -> list[Outbound]:
        lang = conv.language
        if event.kind == "unfollow":
            conv.following = False
            return []
        if event.kind in ("follow", "start"):
            conv.following = True
            if case is not None and case.handled_by == "staff":
                conv.state = "handed_off"
                return []
            conv.state = "follow_up" if case is not None else "listening"
            return [Outbound(r.text(lang, "greeting"), r.category_buttons(lang))]

        if assessment is not None and assessment.crisis is not None:
            return self._crisis(conv, assessment, case, now)

        prefix: list[Outbound] = []
        if conv.state == "handed_off":
            if case is None:  # staff closed the case: a new consultation starts
                conv.state = "listening"
                self._new_consultation(conv)
            elif case.handled_by == "bot":
                conv.state = "follow_up"
                prefix.append(Outbound(r.text(lang, "handed_back")))
            else:
                if _has_needs(assessment):
                    conv.assessment = merge(conv.assessment, assessment)
                    handoff.update_assessment(self.db, case.id, conv.assessment, at=now)
                wanted = intents.language_request(clean(event.text)) if event.text else None
                if wanted is not None:  # remembered for when the bot speaks again
                    conv.language, conv.language_chosen = cast(r.Lang, wanted), True
                return []  # silent: a person has the conversation

        if event.kind == "non_text":
            return [*prefix, Outbound(r.text(lang, "non_text"), r.category_buttons(lang))]

        text = clean(event.text) if event.kind == "text" else ""
        data = event.data if event.kind == "postback" else ""

        wanted = intents.language_request(text) if text else None
        if data.startswith(r.DATA_LANG_PREFIX):
            wanted = data.removeprefix(r.DATA_LANG_PREFIX)
        if wanted in r.LANGS:
            conv.language = wanted
            conv.language_chosen = True
            return [*prefix, *self._language_set(conv)]

        if data == r.DATA_TALK or (text and intents.wants_person(text)):
            consent = conv.consent.model_copy(update={"share_with_staff": True})
            return [*prefix, *self._hand_off(conv, case, consent, now, requested=True)]

        if conv.state in ("consent_staff", "consent_agencies"):
            return [*prefix, *self._consent(conv, text, data, assessment, case, now)]

        if data:
            return [*prefix, *self._postback(conv, data)]
        if not text:
            return [*prefix, Outbound(r.text(lang, "empty"), r.category_buttons(lang))]
        return [*prefix, *self._listen(conv, text, assessment)]

    def _listen(
        self, conv: ConversationState, text: str, assessment: Assessment | None
    ) -> list[Outbound]:
        lang = conv.language
        first = not _has_needs(conv.assessment)
        accept = r.text(lang, "accept" if first else "accept_more")
        if len(text) > LONG_MESSAGE:
            accept = r.cat(lang, accept, r.text(lang, "too_long"))
        if not _has_needs(assessment):
            if _has_needs(conv.assessment):
                conv.state = "offer"
                again = r.cat(lang, accept, r.text(lang, "offer_next"))
                return [Outbound(again, r.offer_buttons(lang))]
            if conv.state == "greeting":
                conv.state = "listening"
            extra = ""
            if assessment is not None and assessment.risk_concern:
                extra = "\n" + r.text(
                    lang, "risk_concern", lines=r.hotline_lines(r.NIGHT_LINES, lang)
                )
            vague = r.cat(lang, accept, r.text(lang, "vague")) + extra
            return [Outbound(vague, r.category_buttons(lang))]
        conv.assessment = merge(conv.assessment, assessment)
        return self._offer(conv, accept)

    def _offer(self, conv: ConversationState, accept: str) -> list[Outbound]:
        lang = conv.language
        assert conv.assessment is not None
        needs = [r.category_label(c.code, lang) for c in conv.assessment.categories[:NEEDS_NAMED]]
        joiner = {"ja": "」「", "easy": "」「", "en": ", "}[lang]
        many = len(needs) > 1
        reflect = r.text(lang, "reflect_many" if many else "reflect_one", needs=joiner.join(needs))
        first = r.cat(lang, accept, reflect)
        if many:
            first = r.cat(lang, first, r.text(lang, "reflect_complex"))
        if conv.assessment.risk_concern:
            first += "\n" + r.text(lang, "risk_concern", lines=r.hotline_lines(r.NIGHT_LINES, lang))
        out = [Outbound(first)]
        services = conv.assessment.services[:SERVICES_SHOWN]
        if services:
            lines = [r.text(lang, "offer_intro")]
            for s in services:
                lines.append(
                    r.text(lang, "service", name=s.name, org=s.organization, reason=s.reason)
                )
                if s.hours:
                    lines.append(r.text(lang, "service_hours", hours=s.hours))
                if s.phone:
                    lines.append(r.text(lang, "service_phone", phone=s.phone))
            out.append(Outbound("\n".join(lines)))
        else:
            out.append(Outbound(r.text(lang, "offer_none")))
        out.append(Outbound(r.text(lang, "offer_next"), r.offer_buttons(lang)))
        conv.state = "offer"
        return out

    def _postback(self, conv: ConversationState, data: str) -> list[Outbound]:
        lang = conv.language
        if data.startswith(r.DATA_CATEGORY_PREFIX):
            code = data.removeprefix(r.DATA_CATEGORY_PREFIX)
            if code in CATEGORIES:
                conv.assessment = merge(conv.assessment, self._picked(code, conv))
                picked = r.text(lang, "category_picked", label=r.category_label(code, lang))
                return self._offer(conv, picked)
        if data == r.DATA_MORE:
            conv.state = "listening"
            return [Outbound(r.text(lang, "more"))]
        if data == r.DATA_DONE:
            conv.state = "listening"
            self._new_consultation(conv)
            return [Outbound(r.text(lang, "done"))]
        if data == r.DATA_HANDOFF:
            conv.state = "consent_staff"
            return [Outbound(r.text(lang, "consent_staff"), r.consent_staff_buttons(lang))]
        # an old or unknown button: still an open door
        log.info("unknown postback data (%d bytes)", len(data.encode()))
        return [Outbound(r.text(lang, "vague"), r.category_buttons(lang))]

    def _picked(self, code: str, conv: ConversationState) -> Assessment:
        """A category chosen by button, as if triage had found it."""
        label = CATEGORIES[code]
        services = sorted(
            self.store.services(category=code), key=lambda s: (s.kind != "agency", s.id)
        )
        matches = []
        for s in services[:SERVICES_SHOWN]:
            try:
                org = self.store.organization(s.organization_id).name
            except NotFound:
                org = ""
            matches.append(
                ServiceMatch(
                    service_id=s.id,
                    name=s.name,
                    organization=org,
                    categories=s.categories,
                    score=0.5,
                    reason=f"「{label}」の相談を受けています",
                    phone=s.phone,
                    hours=s.hours_text(),
                    url=s.url,
                )
            )
        evidence = Evidence(sentence="（ボタンで選択）", score=1.0, matched=code, source="button")
        return Assessment(
            text="",
            language=conv.language if conv.language != "easy" else "ja",
            categories=[CategoryFinding(code=code, label=label, score=1.0, evidence=[evidence])],
            services=matches,
        )

    def _consent(
        self,
        conv: ConversationState,
        text: str,
        data: str,
        assessment: Assessment | None,
        case: handoff.Case | None,
        now: dt.datetime,
    ) -> list[Outbound]:
        lang = conv.language
        by_button = {
            r.DATA_STAFF_YES: "yes",
            r.DATA_STAFF_ANON: "anon",
            r.DATA_STAFF_NO: "no",
            r.DATA_AGENCIES_YES: "yes",
            r.DATA_AGENCIES_NO: "no",
        }
        answer = by_button.get(data) or (intents.answer(text) if text else None)
        if conv.state == "consent_staff":
            question, buttons = "consent_staff", r.consent_staff_buttons(lang)
        else:
            question, buttons = "consent_agencies", r.consent_agencies_buttons(lang)
        if answer is None:
            if data:
                return [*self._postback(conv, data)]
            if _has_needs(assessment):
                conv.assessment = merge(conv.assessment, assessment)
                again = r.cat(lang, r.text(lang, "accept_more"), r.text(lang, question))
                return [Outbound(again, buttons)]
            unclear = r.cat(lang, r.text(lang, "consent_unclear"), r.text(lang, question))
            return [Outbound(unclear, buttons)]
        if conv.state == "consent_staff":
            if answer == "no":
                conv.consent = conv.consent.model_copy(update={"share_with_staff": False})
                conv.state = "listening"
                return [Outbound(r.text(lang, "consent_declined"))]
            conv.consent = conv.consent.model_copy(
                update={"share_with_staff": True, "anonymous": answer == "anon"}
            )
            conv.state = "consent_agencies"
            return [Outbound(r.text(lang, "consent_agencies"), r.consent_agencies_buttons(lang))]
        consent = conv.consent.model_copy(update={"share_with_agencies": answer != "no"})
        return self._hand_off(conv, case, consent, now, requested=False)

    def _next_step(self, lang: r.Lang, now: dt.datetime) -> list[str]:
        """What happens next and when (design.md §5.3)."""
        if self.office.is_open(now):
            return [r.text(lang, "next_in_hours", minutes=self.settings.reply_within_minutes)]
        office_hours = r.office_hours_text(
            lang, list(self.office.days), self.office.opens_text, self.office.closes_text
        )
        when = r.when_text(lang, self.office.next_open(now), self.office.local(now))
        return [
            r.text(lang, "next_out_of_hours", office_hours=office_hours, next_open=when),
            r.text(lang, "night_lines", lines=r.hotline_lines(r.NIGHT_LINES, lang)),
        ]

    def _hand_off(
        self,
        conv: ConversationState,
        case: handoff.Case | None,
        consent: handoff.Consent,
        now: dt.datetime,
        *,
        requested: bool,
    ) -> list[Outbound]:
        lang = conv.language
        conv.consent = consent
        if case is None:
            handoff.open_case(
                self.db,
                resident_ref=conv.resident_ref,
                channel=conv.channel,
                assessment=conv.assessment or self._empty_assessment(conv),
                consent=consent,
                urgent=False,
                transcript=self._transcript(conv),
                language=conv.language,
                at=now,
            )
        else:
            handoff.update_consent(self.db, case.id, consent, actor="resident", at=now)
            if conv.assessment is not None:
                handoff.update_assessment(self.db, case.id, conv.assessment, at=now)
            handoff.take_over(self.db, case.id, actor="resident", at=now)
        conv.state = "handed_off"
        head = r.text(lang, "handoff_requested" if requested else "handoff_done")
        first, *rest = self._next_step(lang, now)
        lines = [r.cat(lang, head, first), *rest]
        if consent.share_with_agencies is not True:
            lines.append(r.text(lang, "handoff_agencies_later"))
        return [Outbound("\n".join(lines))]

    def _crisis(
        self,
        conv: ConversationState,
        assessment: Assessment,
        case: handoff.Case | None,
        now: dt.datetime,
    ) -> list[Outbound]:
        """Numbers first, then a person, then an urgent case: in any state."""
        assert assessment.crisis is not None
        lang = conv.language
        kind = assessment.crisis.type
        keys = r.CRISIS_LINES.get(kind, ("police", "ambulance", "yorisoi"))
        template = f"crisis_{kind}" if kind in r.CRISIS_LINES else "crisis_violence"
        out = [Outbound(r.text(lang, template, lines=r.hotline_lines(keys, lang)))]
        conv.assessment = merge(conv.assessment, assessment)
        was_with_staff = case is not None and case.handled_by == "staff"
        if case is None:
            handoff.open_case(
                self.db,
                resident_ref=conv.resident_ref,
                channel=conv.channel,
                assessment=conv.assessment,
                consent=conv.consent,
                urgent=True,
                transcript=self._transcript(conv),
                language=conv.language,
                at=now,
            )
        else:
            handoff.update_assessment(self.db, case.id, conv.assessment, at=now)
            handoff.escalate(self.db, case.id, crisis_type=kind, at=now)
        conv.state = "handed_off"
        log.warning("crisis (%s) for %s: urgent case", kind, _ref_id(conv.resident_ref))
        if was_with_staff:
            out.append(Outbound(r.text(lang, "crisis_person_handed_off")))
        elif self.office.is_open(now):
            out.append(Outbound(r.text(lang, "crisis_person_in_hours")))
        else:
            when = r.when_text(lang, self.office.next_open(now), self.office.local(now))
            out.append(Outbound(r.text(lang, "crisis_person_out_of_hours", next_open=when)))
        return out

    def _language_set(self, conv: ConversationState) -> list[Outbound]:
        """Confirm the new language and repeat the question the resident is at."""
        lang = conv.language
        done = r.text(lang, "lang_set")
        if conv.state == "consent_staff":
            return [
                Outbound(done),
                Outbound(r.text(lang, "consent_staff"), r.consent_staff_buttons(lang)),
            ]
        if conv.state == "consent_agencies":
            return [
                Outbound(done),
                Outbound(r.text(lang, "consent_agencies"), r.consent_agencies_buttons(lang)),
            ]
        if conv.state == "offer":
            return [Outbound(done), Outbound(r.text(lang, "offer_next"), r.offer_buttons(lang))]
        if conv.state == "greeting":
            conv.state = "listening"
        return [Outbound(done, r.category_buttons(lang))]

    @staticmethod
    def _empty_assessment(conv: ConversationState) -> Assessment:
        return Assessment(text="", language=conv.language, vague=True)


def _has_needs(assessment: Assessment | None) -> TypeGuard[Assessment]:
    """Triage found needs (a vague message's best guess does not count)."""
    return assessment is not None and not assessment.vague and bool(assessment.categories)


def _ref_id(resident_ref: str) -> str:
    """A resident reference shortened for logs (no need to log the full id)."""
    channel, _, rest = resident_ref.partition(":")
    return f"{channel}:…{rest[-4:]}" if len(rest) > 4 else resident_ref


def describe(conv: ConversationState) -> str:
    """A one-line summary of a conversation for debugging tools (no content)."""
    return json.dumps(
        {
            "resident": _ref_id(conv.resident_ref),
            "state": conv.state,
            "language": conv.language,
            "needs": conv.assessment.codes if conv.assessment else [],
            "turns": conv.turns,
        }
    )
