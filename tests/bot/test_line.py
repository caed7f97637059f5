"""The LINE adapter end to end: signed webhooks into the real app, replies out through the
real line-bot-sdk to the local Messaging API stub. Nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot import replies as r
from bot.app import create_app
from bot.channels import ReplyToken
from bot.line import (
    LINE_MAX_MESSAGES,
    LINE_MAX_TEXT,
    LOADING_IN_FLIGHT_MAX,
    LineSender,
    split_text,
    utf16_len,
)
from bot.messages import Choice, Outbound
from bot.settings import Settings
from tests.bot.helpers import (
    IN_HOURS,
    SUICIDE,
    VAGUE,
    RunningClock,
    copy_template,
    make_settings,
    wait_for,
)
from tests.stubs.events import (
    line_follow_event,
    line_group_id,
    line_image_event,
    line_postback_event,
    line_sticker_event,
    line_text_event,
    line_unfollow_event,
    line_user_id,
    line_webhook_headers,
    line_webhook_request,
)
from tests.stubs.line_api import LineStub
from triage import Triage

JSONDict = dict[str, Any]
URL = "/webhooks/line"


@pytest.fixture
def line_settings(tmp_path: Path, line_stub: LineStub) -> Settings:
    return make_settings(
        tmp_path / "data",
        line_channel_secret=line_stub.channel_secret,
        line_channel_access_token=line_stub.access_token,
        line_api_base_url=line_stub.url,
    )


@pytest.fixture
def app(template_db: Path, line_settings: Settings, triage_engine: Triage) -> FastAPI:
    copy_template(template_db, line_settings)
    return create_app(line_settings, now=RunningClock(IN_HOURS), triage=triage_engine)


def post(client: TestClient, stub: LineStub, *events: JSONDict) -> Any:
    body, headers = line_webhook_request(*events, channel_secret=stub.channel_secret)
    return client.post(URL, content=body, headers=headers)


# -- the webhook ---------------------------------------------------------------


def test_a_signed_text_gets_a_reply_with_quick_replies_and_the_loading_animation(
    client: TestClient, line_stub: LineStub
) -> None:
    user = line_user_id()
    response = post(client, line_stub, line_text_event(VAGUE, user_id=user))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "ignored": 0}
    line_stub.wait_for_texts(to=user)
    delivery = line_stub.deliveries(user)[-1]
    assert delivery.kind == "reply"
    items = delivery.message["quickReply"]["items"]
    assert 1 <= len(items) <= 13
    for item in items:
        action = item["action"]
        assert item["type"] == "action" and action["type"] == "postback"
        assert 1 <= len(action["label"]) <= 20
        assert action["displayText"] == action["label"] and action["data"]
    assert "talk" in [item["action"]["data"] for item in items]
    loading = line_stub.wait_for(lambda: line_stub.requests("/v2/bot/chat/loading/start"))
    assert loading[0].body["chatId"] == user and loading[0].body["loadingSeconds"] % 5 == 0


def test_in_a_burst_the_loading_animation_gives_way_and_every_event_is_answered(
    client: TestClient, line_stub: LineStub
) -> None:
    """A slow animation API must not pile up calls: past the cap, events go without one."""
    burst = LOADING_IN_FLIGHT_MAX + 8
    users = [line_user_id(f"burst-{i}") for i in range(burst)]
    line_stub.delay_next("/v2/bot/chat/loading/start", 2.0, times=burst)
    response = post(client, line_stub, *(line_text_event(VAGUE, user_id=u) for u in users))
    assert response.json()["accepted"] == burst
    for user in users:
        line_stub.wait_for_texts(to=user, timeout=60)
    asked = {r.body["chatId"] for r in line_stub.requests("/v2/bot/chat/loading/start")}
    assert len(asked) == LOADING_IN_FLIGHT_MAX and asked <= set(users)


def _signed(body: bytes, stub: LineStub) -> dict[str, str]:
    return line_webhook_headers(body, stub.channel_secret)


SECRET_TEXT = "ひみつの相談内容です"


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("unsigned", 400, "missing X-Line-Signature"),
        ("wrong signature", 401, "invalid X-Line-Signature"),
        ("signed with another secret", 401, "invalid X-Line-Signature"),
        ("malformed JSON", 400, "malformed JSON"),
        ("not an object", 400, "JSON object"),
        ("events not a list", 400, "'events' must be a list"),
        ("message event without message", 400, "events[0] (message): missing or invalid message"),
        ("event without id", 400, "events[0] (message): missing or invalid webhookEventId"),
        ("not UTF-8", 400, "not UTF-8"),
        ("over 1 MB", 413, "over 1,000,000 bytes"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_stored_or_sent(
    client: TestClient,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
    caplog: pytest.LogCaptureFixture,
    case: str,
    status: int,
    error: str,
) -> None:
    event = line_text_event(SECRET_TEXT)
    body, headers = line_webhook_request(event, channel_secret=line_stub.channel_secret)
    if case == "unsigned":
        del headers["x-line-signature"]
    elif case == "wrong signature":
        headers["x-line-signature"] = headers["x-line-signature"][::-1]
    elif case == "signed with another secret":
        headers = line_webhook_headers(body, "another-channel-secret")
    elif case == "malformed JSON":
        body = body[:-2]
        headers = _signed(body, line_stub)
    elif case == "not an object":
        body = b"[]"
        headers = _signed(body, line_stub)
    elif case == "events not a list":
        body = json.dumps({"destination": "U1", "events": {"a": 1}}).encode()
        headers = _signed(body, line_stub)
    elif case == "message event without message":
        del event["message"]
        body = json.dumps({"destination": "U1", "events": [event]}).encode()
        headers = _signed(body, line_stub)
    elif case == "event without id":
        del event["webhookEventId"]
        body = json.dumps({"destination": "U1", "events": [event]}).encode()
        headers = _signed(body, line_stub)
    elif case == "not UTF-8":
        body = SECRET_TEXT.encode("shift_jis")
        headers["x-line-signature"] = "c2lnbmF0dXJl"
    elif case == "over 1 MB":
        body = b"{" + b" " * 1_000_001 + b"}"
    with caplog.at_level(logging.INFO):
        response = client.post(URL, content=body, headers=headers)
    assert response.status_code == status
    assert error in response.json()["error"]
    assert query("SELECT COUNT(*) FROM inbound_events")[0][0] == 0
    assert line_stub.requests() == []
    assert SECRET_TEXT not in caplog.text and SECRET_TEXT not in response.text
    assert any("line webhook: refused" in m for m in caplog.messages)


def test_an_empty_verification_request_is_answered(client: TestClient, line_stub: LineStub) -> None:
    response = post(client, line_stub)  # the console's "Verify" button sends no events
    assert response.status_code == 200 and response.json()["accepted"] == 0


def test_a_duplicate_and_a_redelivery_are_processed_once(
    client: TestClient,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    user = line_user_id()
    event = line_text_event(VAGUE, user_id=user)
    redelivered = {**event, "deliveryContext": {"isRedelivery": True}}
    with caplog.at_level(logging.INFO, logger="bot.line"):
        first = post(client, line_stub, event)
        again = post(client, line_stub, event)
        late = post(client, line_stub, redelivered)
    assert first.json()["accepted"] == 1
    assert again.json()["duplicates"] == 1 and late.json()["duplicates"] == 1
    assert any("redelivery → duplicate" in m for m in caplog.messages)
    line_stub.wait_for_texts(to=user)
    # a later message is answered after the duplicates would have been: still one reply each
    post(client, line_stub, line_text_event("ありがとう", user_id=user))
    wait_for(lambda: query("SELECT 1 FROM outbox WHERE status = 'sent'")[1:], what="2 sent")
    assert query("SELECT COUNT(*) FROM inbound_events")[0][0] == 2
    assert len(query("SELECT * FROM outbox")) == 2


def test_a_stale_reply_token_falls_back_to_push_with_the_retry_key(
    client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    user = line_user_id()
    event = line_text_event(VAGUE, user_id=user)
    line_stub.expire_reply_token(event["replyToken"])
    post(client, line_stub, event)
    line_stub.wait_for_texts(to=user)
    assert [d.kind for d in line_stub.deliveries(user)] == ["push"]
    assert line_stub.last_request("/reply").status == 400
    push = line_stub.last_request("/push")
    key = push.header("x-line-retry-key")
    assert key is not None and uuid.UUID(key)
    assert key == query("SELECT retry_key FROM outbox")[0][0]


@pytest.mark.parametrize(
    ("status", "times", "processed", "row", "delivered", "attempts"),
    [
        (500, 2, False, "sent", 1, 3),  # an outage: retried, delivered once
        (500, 2, True, "sent", 1, 3),  # lost responses: LINE dedups the retry key (409)
        (403, 1, False, "failed", 0, 1),  # never retried
        (400, 1, False, "failed", 0, 1),
    ],
)
def test_push_failures_are_retried_or_given_up_and_never_duplicate(
    client: TestClient,
    line_stub: LineStub,
    query: Callable[..., list[sqlite3.Row]],
    status: int,
    times: int,
    processed: bool,
    row: str,
    delivered: int,
    attempts: int,
) -> None:
    user = line_user_id()
    line_stub.fail_next("/v2/bot/message/push", status, times=times, processed=processed)
    event = line_text_event(VAGUE, user_id=user, reply_token=False)  # no token: push
    post(client, line_stub, event)
    done = wait_for(
        lambda: query("SELECT status, attempts, last_error FROM outbox WHERE status != 'pending'"),
        what="the outbox row to settle",
    )
    assert (done[0]["status"], done[0]["attempts"]) == (row, attempts)
    assert len(line_stub.deliveries(user)) == delivered
    keys = {r.header("x-line-retry-key") for r in line_stub.requests("/push")}
    assert len(keys) == 1  # every retry carried the same key
    if row == "failed":
        assert f"HTTP {status}" in done[0]["last_error"] and VAGUE not in done[0]["last_error"]


def test_a_429_is_retried_after_retry_after_with_the_same_reply_token(
    client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    user = line_user_id()
    line_stub.fail_next("/v2/bot/message/reply", 429, retry_after=1)
    post(client, line_stub, line_text_event(VAGUE, user_id=user))
    line_stub.wait_for_texts(to=user)
    first, second = line_stub.requests("/reply")[:2]  # a slow machine may time out a third
    assert first.status == 429 and second.status == 200  # the token was still good: no push
    assert second.time - first.time >= 0.95
    assert [d.kind for d in line_stub.deliveries(user)] == ["reply"]


@pytest.mark.parametrize("lost", ["response", "request"])
def test_a_reply_of_unknown_outcome_is_delivered_exactly_once(
    client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]], lost: str
) -> None:
    """A 500 after LINE delivered (lost response) or before (lost request): once either way."""
    user = line_user_id()
    line_stub.fail_next("/v2/bot/message/reply", 500, processed=lost == "response")
    post(client, line_stub, line_text_event(VAGUE, user_id=user))
    wait_for(lambda: query("SELECT 1 FROM outbox WHERE status = 'sent'"), what="the row to be sent")
    assert len(line_stub.deliveries(user)) == 1
    assert line_stub.requests("/push") == []
    statuses = [r.status for r in line_stub.requests("/reply")]
    assert statuses == ([500, 400] if lost == "response" else [500, 200])


@pytest.mark.parametrize("build", [line_sticker_event, line_image_event])
def test_non_text_messages_get_a_kind_request_for_words(
    client: TestClient, line_stub: LineStub, build: Callable[..., JSONDict]
) -> None:
    user = line_user_id()
    post(client, line_stub, build(user_id=user))
    texts = line_stub.wait_for_texts(to=user)
    assert texts[0] == r.text("ja", "non_text")


def test_follow_greets_and_unfollow_is_recorded_silently(
    client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    user = line_user_id()
    post(client, line_stub, line_follow_event(user_id=user))
    assert line_stub.wait_for_texts(to=user)[0] == r.text("ja", "greeting")
    post(client, line_stub, line_unfollow_event(user_id=user))
    wait_for(lambda: query("SELECT 1 FROM conversations WHERE following = 0"), what="unfollow done")
    assert len(line_stub.deliveries(user)) == 1
    assert line_stub.requests("/loading/start") == []  # no animation for follow/unfollow


def _quick_data(stub: LineStub, user: str) -> list[str]:
    message = stub.deliveries(user)[-1].message
    return [item["action"]["data"] for item in message.get("quickReply", {}).get("items", [])]


def test_quick_reply_postbacks_move_the_conversation_on(
    client: TestClient, line_stub: LineStub
) -> None:
    user = line_user_id()

    def offered(data: str) -> bool:
        return data in _quick_data(line_stub, user) if line_stub.deliveries(user) else False

    post(client, line_stub, line_text_event(VAGUE, user_id=user))
    line_stub.wait_for(lambda: offered("talk"), message="category buttons")
    category = next(d for d in _quick_data(line_stub, user) if d.startswith("cat:"))
    post(client, line_stub, line_postback_event(category, user_id=user))
    line_stub.wait_for(lambda: offered(r.DATA_HANDOFF), message="the offer")
    post(client, line_stub, line_postback_event(r.DATA_HANDOFF, user_id=user))
    line_stub.wait_for(lambda: offered(r.DATA_STAFF_YES), message="the consent question")
    assert [d.kind for d in line_stub.deliveries(user)].count("push") == 0


def test_a_crisis_gets_the_emergency_numbers_in_the_first_reply(
    client: TestClient, line_stub: LineStub
) -> None:
    user = line_user_id()
    post(client, line_stub, line_text_event(SUICIDE, user_id=user))
    first = line_stub.wait_for_texts(to=user)[0]
    assert "119" in first and "0120-279-338" in first


def test_in_a_group_the_reply_lands_in_the_group_and_the_resident_is_the_user(
    client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    user, group = line_user_id(), line_group_id()
    post(client, line_stub, line_text_event(VAGUE, user_id=user, group_id=group))
    line_stub.wait_for_texts(to=group)
    assert query("SELECT resident_ref FROM conversations")[0][0] == f"line:{user}"
    assert line_stub.requests("/loading/start") == []  # 1:1 chats only


def test_standby_and_unknown_events_are_acknowledged_and_ignored(
    client: TestClient, line_stub: LineStub, query: Callable[..., list[sqlite3.Row]]
) -> None:
    standby = line_text_event(VAGUE, mode="standby")
    join = {**line_follow_event(), "type": "join"}
    join.pop("follow")
    response = post(client, line_stub, standby, join)
    assert response.status_code == 200 and response.json()["ignored"] == 2
    assert query("SELECT COUNT(*) FROM inbound_events")[0][0] == 0


# -- the sender on its own: LINE's size limits ------------------------------------


def test_long_texts_are_split_on_sentences_within_line_limits(
    line_stub: LineStub, line_settings: Settings
) -> None:
    user = line_user_id()
    sentence = "今日は相談に来てくれてありがとう😀。"  # the emoji counts 2 for LINE
    text = (sentence * 400)[:4990].rstrip("。") + "。"
    assert utf16_len(text) > LINE_MAX_TEXT
    choices = (Choice("はい", "consent:staff:yes"),)
    turn = [Outbound(text) for _ in range(4)] + [Outbound(text, choices)]
    event = line_text_event("x", user_id=user)  # mints a valid reply token
    retry_key = str(uuid.uuid4())

    async def run() -> None:
        sender = LineSender(line_settings)
        try:
            await sender.send(
                f"line:{user}",
                turn,
                reply_token=ReplyToken(event["replyToken"]),
                retry_key=retry_key,
            )
        finally:
            await sender.aclose()

    asyncio.run(run())
    requests = line_stub.requests("/reply") + line_stub.requests("/push")
    assert [len(q.body["messages"]) for q in requests] == [LINE_MAX_MESSAGES] * 2
    assert requests[1].header("x-line-retry-key") not in (None, retry_key)
    parts = line_stub.sent_texts(user)
    assert len(parts) == 10
    assert all(utf16_len(p) <= LINE_MAX_TEXT and p.endswith("。") for p in parts)
    assert "".join(parts) == text * 5
    messages = line_stub.sent_messages(user)
    assert "quickReply" in messages[-1]
    assert all("quickReply" not in m for m in messages[:-1])


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("短い。", 10, ["短い。"]),
        ("一文目です。二文目です。", 8, ["一文目です。", "二文目です。"]),
        ("First one. Second one.", 14, ["First one.", "Second one."]),
        ("段落一\n\n段落二です", 8, ["段落一", "段落二です"]),
        ("あ" * 25, 10, ["あ" * 10, "あ" * 10, "あ" * 5]),
        ("😀" * 6, 5, ["😀😀", "😀😀", "😀😀"]),
    ],
)
def test_split_text(text: str, limit: int, expected: list[str]) -> None:
    parts = split_text(text, limit)
    assert parts == expected
    assert all(utf16_len(p) <= limit for p in parts)
