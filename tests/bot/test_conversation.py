"""The conversation engine against the real triage engine and a real database."""

from __future__ import annotations

import datetime as dt

import pytest

import handoff
from bot import replies as r
from bot.conversation import Conversation
from bot.messages import MAX_MESSAGES, MAX_TEXT, Outbound
from tests.bot.helpers import (
    CHILD_ABUSE,
    ELDERLY,
    IN_HOURS,
    JST,
    MEDICAL,
    MULTI,
    OUT_OF_HOURS,
    SUICIDE,
    VAGUE,
    VIOLENCE,
    Clock,
    Resident,
    choice_data,
    joined,
)


@pytest.fixture(autouse=True)
def _house_rules(resident: Resident) -> object:
    """Whatever a test does: never 「対象外」, and every turn fits the channels."""
    yield None
    for turn in resident.log:
        assert len(turn) <= MAX_MESSAGES
        for message in turn:
            assert "対象外" not in message.text
            assert 0 < len(message.text) <= MAX_TEXT


def _to_offer(resident: Resident) -> list[Outbound]:
    replies = resident.say(ELDERLY)
    assert resident.state == "offer"
    return replies


def _to_handed_off(resident: Resident) -> handoff.Case:
    _to_offer(resident)
    resident.press(r.DATA_HANDOFF)
    resident.press(r.DATA_STAFF_YES)
    resident.press(r.DATA_AGENCIES_YES)
    case = resident.case()
    assert case is not None and resident.state == "handed_off"
    return case


# -- greeting, listening, offer ----------------------------------------------


def test_follow_greets_with_topic_buttons(resident: Resident) -> None:
    replies = resident.follow()
    assert "どんなことでも" in joined(replies)
    data = choice_data(replies)
    assert "cat:elderly_care" in data and r.DATA_TALK in data and "lang:en" in data
    assert resident.state == "listening"


def test_a_concern_is_accepted_reflected_and_offered(resident: Resident) -> None:
    replies = _to_offer(resident)
    text = joined(replies)
    assert replies[0].text.startswith("話してくださって、ありがとうございます。")
    assert "高齢・介護" in text  # the need, reflected back in plain words
    assert "受付:" in text and "電話:" in text  # services with hours
    assert "地域包括支援センター" in text or "高齢者の総合相談" in text
    assert r.DATA_HANDOFF in choice_data(replies)
    assert resident.case() is None  # nothing shared before consent


def test_several_needs_are_all_named(resident: Resident) -> None:
    replies = resident.say(MULTI)
    text = joined(replies)
    conv = resident.conversation
    assert conv.assessment is not None and len(conv.assessment.codes) >= 2
    for code in conv.assessment.codes[:3]:
        assert r.category_label(code, "ja") in text


def test_needs_add_up_over_messages(resident: Resident) -> None:
    resident.say(ELDERLY)
    resident.say("それに、家賃も払えなくなりそうです")
    conv = resident.conversation
    assert conv.assessment is not None
    assert {"elderly_care", "poverty"} <= set(conv.assessment.codes)


@pytest.mark.parametrize("text", [VAGUE, "相談したいことがあります"])
def test_vague_gets_an_open_question_and_topic_buttons(resident: Resident, text: str) -> None:
    replies = resident.say(text)
    assert "もう少し教えてください" in joined(replies)
    data = choice_data(replies)
    assert sum(d.startswith("cat:") for d in data) >= 5 and r.DATA_TALK in data
    assert resident.state == "listening"


def test_a_topic_button_offers_that_topic(resident: Resident) -> None:
    resident.say(VAGUE)
    replies = resident.press("cat:poverty")
    text = joined(replies)
    assert "生活困窮" in text and "受付:" in text
    assert r.DATA_HANDOFF in choice_data(replies)
    assert resident.state == "offer"


def test_unknown_button_is_still_an_open_door(resident: Resident) -> None:
    replies = resident.press("no-such-button")
    assert any(d.startswith("cat:") for d in choice_data(replies))


def test_done_starts_afresh(resident: Resident) -> None:
    _to_offer(resident)
    replies = resident.press(r.DATA_DONE)
    assert "ありがとうございました" in joined(replies)
    assert resident.conversation.assessment is None and resident.state == "listening"


# -- consent and handoff -------------------------------------------------------


def test_consent_by_buttons_opens_a_case_with_the_transcript(resident: Resident) -> None:
    _to_offer(resident)
    asked = resident.press(r.DATA_HANDOFF)
    assert "伝えてもよいですか" in joined(asked)
    assert set(choice_data(asked)) == {r.DATA_STAFF_YES, r.DATA_STAFF_ANON, r.DATA_STAFF_NO}
    agencies = resident.press(r.DATA_STAFF_ANON)
    assert set(choice_data(agencies)) == {r.DATA_AGENCIES_YES, r.DATA_AGENCIES_NO}
    done = resident.press(r.DATA_AGENCIES_NO)
    case = resident.case()
    assert case is not None
    assert case.consent == handoff.Consent(
        share_with_staff=True, share_with_agencies=False, anonymous=True
    )
    assert case.channel == "line" and case.resident_ref == resident.ref
    assert "elderly_care" in case.categories and not case.urgent
    assert "30分以内" in joined(done)
    texts = [m.text for m in handoff.transcript(resident.engine.db, case.id)]
    assert ELDERLY in texts
    assert resident.state == "handed_off"
    actions = [e.action for e in handoff.audit_trail(resident.engine.db, case.id)]
    assert actions[0] == "opened"


@pytest.mark.parametrize(
    ("staff", "agencies", "expected"),
    [
        ("はい", "はい", (True, True, False)),
        ("名前を出さずにお願いします", "いいえ", (True, False, True)),
        ("OK", "yes", (True, True, False)),
    ],
)
def test_consent_in_free_text(
    resident: Resident, staff: str, agencies: str, expected: tuple[bool, bool, bool]
) -> None:
    _to_offer(resident)
    resident.press(r.DATA_HANDOFF)
    resident.say(staff)
    assert resident.state == "consent_agencies"
    resident.say(agencies)
    case = resident.case()
    assert case is not None
    consent = case.consent
    assert (consent.share_with_staff, consent.share_with_agencies, consent.anonymous) == expected


def test_declining_shares_nothing(resident: Resident) -> None:
    _to_offer(resident)
    resident.press(r.DATA_HANDOFF)
    replies = resident.say("伝えないでください")
    assert "だれにも伝えません" in joined(replies)
    assert resident.case() is None and resident.state == "listening"


def test_unclear_consent_answer_asks_again(resident: Resident) -> None:
    _to_offer(resident)
    resident.press(r.DATA_HANDOFF)
    replies = resident.say("うーん")
    assert "伝えてもよいですか" in joined(replies)  # the question again, never a dead end
    assert resident.state == "consent_staff"
    assert set(choice_data(replies)) == {r.DATA_STAFF_YES, r.DATA_STAFF_ANON, r.DATA_STAFF_NO}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("担当者と話したい", "greeting"),
        ("talk to a person", "greeting"),
        ("誰かと話したいです", "greeting"),
        ("担当者と話したい", "offer"),
        ("人と話したいです", "consent_staff"),
    ],
)
def test_talk_to_a_person_opens_a_case_at_any_time(
    resident: Resident, text: str, where: str
) -> None:
    if where in ("offer", "consent_staff"):
        _to_offer(resident)
    if where == "consent_staff":
        resident.press(r.DATA_HANDOFF)
    replies = resident.say(text)
    case = resident.case()
    assert case is not None and case.consent.share_with_staff is True
    assert resident.state == "handed_off"
    assert "担当者" in joined(replies) or "staff member" in joined(replies)


def test_the_talk_button_opens_a_case(resident: Resident) -> None:
    resident.follow()
    replies = resident.press(r.DATA_TALK)
    assert resident.case() is not None and "担当者におつなぎします" in joined(replies)


def test_after_handoff_the_bot_is_silent_and_relays(resident: Resident) -> None:
    case = _to_handed_off(resident)
    assert resident.say("それと、息子が10年部屋から出てこないんです") == []
    assert resident.send("non_text") == []
    texts = [m.text for m in handoff.transcript(resident.engine.db, case.id)]
    assert "それと、息子が10年部屋から出てこないんです" in texts
    updated = resident.case()
    assert updated is not None and "hikikomori" in updated.categories


def test_staff_hand_back_then_follow_up_reuses_the_case(resident: Resident) -> None:
    case = _to_handed_off(resident)
    db = resident.engine.db
    handoff.hand_back(db, case.id, actor="staff:sato")
    replies = resident.say("家賃も払えなくなりそうです")
    assert r.text("ja", "handed_back") in joined(replies)
    assert resident.state == "offer"
    resident.press(r.DATA_HANDOFF)
    resident.press(r.DATA_STAFF_YES)
    resident.press(r.DATA_AGENCIES_YES)
    again = resident.case()
    assert again is not None and again.id == case.id and again.handled_by == "staff"
    assert "poverty" in again.categories
    handlers = [
        (e.from_value, e.to_value)
        for e in handoff.audit_trail(db, case.id)
        if e.action == "handled_by"
    ]
    assert handlers == [("staff", "bot"), ("bot", "staff")]


def test_closed_case_means_a_new_consultation(resident: Resident) -> None:
    case = _to_handed_off(resident)
    handoff.set_status(resident.engine.db, case.id, "closed", actor="staff:sato", outcome="解決")
    replies = resident.say(VAGUE)
    assert replies and resident.case() is None
    assert resident.conversation.assessment is None


# -- crisis, in every state -------------------------------------------------------

CRISIS_NUMBERS = {
    "suicide": ["0570-783-556", "0120-279-338", "0570-064-556", "119"],
    "violence": ["110", "0120-279-889", "#8008"],
    "child_abuse": ["189", "110"],
    "medical": ["119", "#7119"],
}


def _reach(resident: Resident, state: str) -> None:
    if state == "greeting":
        return
    if state == "listening":
        resident.say(VAGUE)
    elif state == "offer":
        _to_offer(resident)
    elif state == "consent_staff":
        _to_offer(resident)
        resident.press(r.DATA_HANDOFF)
    elif state == "consent_agencies":
        _to_offer(resident)
        resident.press(r.DATA_HANDOFF)
        resident.press(r.DATA_STAFF_YES)
    elif state == "handed_off":
        _to_handed_off(resident)
    elif state == "follow_up":
        case = _to_handed_off(resident)
        handoff.hand_back(resident.engine.db, case.id, actor="staff:sato")
    assert resident.state == state or state == "follow_up"


@pytest.mark.parametrize(
    "state",
    [
        "greeting",
        "listening",
        "offer",
        "consent_staff",
        "consent_agencies",
        "handed_off",
        "follow_up",
    ],
)
def test_crisis_in_every_state(resident: Resident, state: str) -> None:
    _reach(resident, state)
    replies = resident.say(SUICIDE)
    first = replies[0].text
    for number in CRISIS_NUMBERS["suicide"]:
        assert number in first
    case = resident.case()
    assert case is not None and case.urgent and case.priority == handoff.PRIORITY_CRISIS
    assert case.crisis_type == "suicide" and case.handled_by == "staff"
    assert resident.state == "handed_off"
    if state == "handed_off":
        assert r.text("ja", "crisis_person_handed_off") in joined(replies)
        assert "escalated" in [e.action for e in handoff.audit_trail(resident.engine.db, case.id)]
    else:
        assert "担当者が、このあとすぐ" in joined(replies)
    if state in ("greeting", "listening", "offer", "consent_staff"):
        # opened without waiting for consent
        assert case.consent.share_with_agencies is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (SUICIDE, "suicide"),
        (VIOLENCE, "violence"),
        (CHILD_ABUSE, "child_abuse"),
        (MEDICAL, "medical"),
    ],
)
def test_crisis_numbers_fit_the_type(resident: Resident, text: str, kind: str) -> None:
    replies = resident.say(text)
    for number in CRISIS_NUMBERS[kind]:
        assert number in replies[0].text, (kind, number)
    case = resident.case()
    assert case is not None and case.crisis_type == kind and case.urgent


def test_crisis_out_of_hours_says_when_and_keeps_the_lines(
    resident: Resident, clock: Clock
) -> None:
    clock.set(OUT_OF_HOURS)
    replies = resident.say(SUICIDE)
    text = joined(replies)
    assert "0120-279-338" in text and "6月9日（月）8:30" in text


def test_crisis_in_english(resident: Resident) -> None:
    resident.say("I lost my job and I can't pay the rent")
    replies = resident.say("I want to die")
    assert "0120-279-338" in replies[0].text and "Please do not stay alone" in replies[0].text


# -- office hours ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (OUT_OF_HOURS, "6月9日（月）8:30"),
        (dt.datetime(2025, 6, 6, 18, 0, tzinfo=JST), "6月9日（月）8:30"),  # Friday evening
        (dt.datetime(2025, 6, 3, 7, 0, tzinfo=JST), "今日の8:30"),  # Tuesday early
        (dt.datetime(2025, 6, 3, 17, 15, tzinfo=JST), "明日（水）の8:30"),  # just closed
    ],
)
def test_out_of_hours_handoff_says_when_a_person_reads_it(
    resident: Resident, clock: Clock, when: dt.datetime, expected: str
) -> None:
    clock.set(when)
    replies = resident.say("担当者と話したい")
    text = joined(replies)
    assert "受付時間外" in text and expected in text
    assert "0120-279-338" in text  # the 24-hour line is still given
    assert "分以内" not in text


def test_in_hours_handoff_promises_minutes(resident: Resident, clock: Clock) -> None:
    clock.set(IN_HOURS)
    text = joined(resident.say("担当者と話したい"))
    assert "30分以内" in text and "受付時間外" not in text


# -- languages ---------------------------------------------------------------------


def test_english_is_detected_and_answered(resident: Resident) -> None:
    replies = resident.say("I lost my job and I can't pay the rent")
    assert replies[0].text.startswith("Thank you for telling us.")
    assert "Talk to a person" in [c.label for m in replies for c in m.choices]
    assert resident.conversation.language == "en"


def test_easy_japanese_on_request_by_button_and_by_text(resident: Resident) -> None:
    replies = resident.press("lang:easy")
    assert "やさしい にほんごで" in joined(replies)
    replies = resident.say(ELDERLY)
    assert "ありがとう ございます" in replies[0].text
    assert resident.conversation.language == "easy"
    resident.say("日本語で")
    assert resident.conversation.language == "ja"
    resident.say("やさしい日本語で")
    assert resident.conversation.language == "easy"


def test_a_chosen_language_sticks(resident: Resident) -> None:
    resident.say("English please")
    replies = resident.say(ELDERLY)
    assert replies[0].text.startswith("Thank you")
    assert "elderly care" in joined(replies)


def test_language_switch_repeats_the_open_question(resident: Resident) -> None:
    _to_offer(resident)
    resident.press(r.DATA_HANDOFF)
    replies = resident.press("lang:en")
    assert "May we share" in joined(replies)
    assert r.DATA_STAFF_YES in choice_data(replies)


# -- odd input ---------------------------------------------------------------------


def test_non_text_gets_a_kind_request_for_words(resident: Resident) -> None:
    replies = resident.send("non_text")
    assert "ことばで教えてください" in joined(replies) and choice_data(replies)


@pytest.mark.parametrize("text", ["", "   ", "\x00\x00", "\u3000\n"])
def test_empty_messages_get_a_kind_reply(resident: Resident, text: str) -> None:
    replies = resident.say(text)
    assert "空のよう" in joined(replies) and choice_data(replies)


def test_nul_bytes_are_dropped_not_fatal(resident: Resident) -> None:
    replies = resident.say("母が認知症で\x00介護に疲れて\x00しまいました")
    assert replies and resident.state == "offer"
    rows = resident.engine.db.execute("SELECT text FROM conversation_messages").fetchall()
    assert all("\x00" not in row[0] for row in rows)


def test_a_crisis_at_the_end_of_a_huge_message_is_seen(resident: Resident) -> None:
    text = ("母の介護と家賃のことで困っています。" * 600)[:9_980] + "もう死にたいです。"
    replies = resident.say(text)
    assert "0120-279-338" in replies[0].text
    case = resident.case()
    assert case is not None and case.urgent


def test_a_huge_message_gets_a_kind_reply(resident: Resident) -> None:
    text = ("母の介護と家賃のことで困っています。" * 600)[:10_000]
    replies = resident.say(text)
    assert "長いメッセージをありがとうございます" in joined(replies)
    rows = resident.engine.db.execute(
        "SELECT text FROM conversation_messages WHERE role = 'resident'"
    ).fetchall()
    assert len(rows[-1][0]) == 10_000  # all of it is kept for the case


def test_unfollow_is_silent_and_noted_on_an_open_case(resident: Resident) -> None:
    case = _to_handed_off(resident)
    assert resident.send("unfollow") == []
    assert not resident.conversation.following
    texts = [m.text for m in handoff.transcript(resident.engine.db, case.id)]
    assert any("友だち解除" in t for t in texts)


def test_state_survives_a_new_engine(resident: Resident, engine: Conversation) -> None:
    _to_offer(resident)
    fresh = Conversation(engine.db, engine.triage, engine.settings, now=engine.now)
    again = Resident(fresh, ref=resident.ref, n=100)
    again.press(r.DATA_HANDOFF)
    assert again.state == "consent_staff"
