"""The LINE stub, driven by the real line-bot-sdk v3 clients over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import httpx
import pytest
import urllib3
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MessageAction,
    MessagingApi,
    MessagingApiBlob,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)

from tests.stubs import events
from tests.stubs.line_api import LineStub


def _api(stub: LineStub) -> tuple[ApiClient, MessagingApi]:
    client = ApiClient(stub.configuration())
    return client, MessagingApi(client)


def _body(exc: pytest.ExceptionInfo[ApiException]) -> str:
    """The error body (the sync client decodes it, the async one leaves bytes)."""
    body = exc.value.body
    return body.decode("utf-8") if isinstance(body, bytes) else str(body)


def _text(text: str) -> TextMessage:
    return TextMessage(text=text, quickReply=None, quoteToken=None)


def test_reply_is_recorded_for_the_event_user(line_stub: LineStub) -> None:
    user = events.line_user_id("reply-user")
    event = events.line_text_event("ごみの出し方", user_id=user)
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        response = api.reply_message(
            ReplyMessageRequest(
                replyToken=event["replyToken"],
                messages=[_text("燃えるごみは月・木です。"), _text("ほかに質問はありますか？")],
                notificationDisabled=False,
            )
        )
    assert len(response.sent_messages) == 2
    assert response.sent_messages[0].id.isdigit() and response.sent_messages[0].quote_token
    assert line_stub.sent_texts(to=user) == ["燃えるごみは月・木です。", "ほかに質問はありますか？"]
    request = line_stub.last_request("/v2/bot/message/reply")
    assert request.header("authorization") == f"Bearer {line_stub.access_token}"
    assert request.body["replyToken"] == event["replyToken"]
    assert request.status == 200


def test_reply_token_works_once_and_can_be_expired(line_stub: LineStub) -> None:
    first = events.line_text_event("a")
    second = events.line_text_event("b")
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        request = ReplyMessageRequest(replyToken=first["replyToken"], messages=[_text("1")])
        api.reply_message(request)
        with pytest.raises(ApiException) as reused:
            api.reply_message(request)
        assert reused.value.status == 400
        assert '"Invalid reply token"' in _body(reused)

        line_stub.expire_reply_token(second["replyToken"])
        with pytest.raises(ApiException) as expired:
            api.reply_message(
                ReplyMessageRequest(replyToken=second["replyToken"], messages=[_text("2")])
            )
        assert expired.value.status == 400

        with pytest.raises(ApiException) as unknown:
            api.reply_message(ReplyMessageRequest(replyToken="0" * 32, messages=[_text("3")]))
        assert unknown.value.status == 400
    assert line_stub.sent_texts() == ["1"]


def test_reply_token_ttl_counts_from_event_timestamp(line_stub: LineStub) -> None:
    line_stub.reply_token_ttl = 60
    old = events.line_text_event("x", timestamp_ms=int((time.time() - 61) * 1000))
    fresh = events.line_text_event("y")
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        with pytest.raises(ApiException) as exc:
            api.reply_message(
                ReplyMessageRequest(replyToken=old["replyToken"], messages=[_text("late")])
            )
        assert exc.value.status == 400
        api.reply_message(
            ReplyMessageRequest(replyToken=fresh["replyToken"], messages=[_text("ok")])
        )
    assert line_stub.sent_texts() == ["ok"]


def test_push_with_repeated_retry_key_is_409_and_counted_once(line_stub: LineStub) -> None:
    user = events.line_user_id("push-user")
    key = str(uuid.uuid4())
    request = PushMessageRequest(to=user, messages=[_text("窓口は9時からです。")])
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        first = api.push_message_with_http_info(request, x_line_retry_key=key)
        assert first.status_code == 200
        with pytest.raises(ApiException) as repeat:
            api.push_message(request, x_line_retry_key=key)
    assert repeat.value.status == 409
    assert repeat.value.headers is not None
    assert repeat.value.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert line_stub.sent_texts(to=user) == ["窓口は9時からです。"]
    assert line_stub.requests("/push")[-1].header("x-line-retry-key") == key


def test_lost_response_then_retry_with_same_key(line_stub: LineStub) -> None:
    """processed=True: LINE delivered, the client saw 500; the retry must get 409, not a dupe."""
    user = events.line_user_id()
    key = str(uuid.uuid4())
    line_stub.fail_next("/v2/bot/message/push", 500, processed=True)
    request = PushMessageRequest(to=user, messages=[_text("届いています")])
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        with pytest.raises(ApiException) as lost:
            api.push_message(request, x_line_retry_key=key)
        assert lost.value.status == 500
        with pytest.raises(ApiException) as retry:
            api.push_message(request, x_line_retry_key=key)
        assert retry.value.status == 409
    assert line_stub.sent_texts(to=user) == ["届いています"]


def test_injected_500s_and_429_reach_the_sdk(line_stub: LineStub) -> None:
    user = events.line_user_id()
    line_stub.fail_next("/push", 500, times=2)
    request = PushMessageRequest(to=user, messages=[_text("x")])
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        for _ in range(2):
            with pytest.raises(ApiException) as err:
                api.push_message(request)
            assert err.value.status == 500
        api.push_message(request)  # third attempt goes through
        line_stub.fail_next("/push", 429)
        with pytest.raises(ApiException) as limited:
            api.push_message(request)
    assert limited.value.status == 429
    assert "The API rate limit has been exceeded. Try again later." in _body(limited)
    assert line_stub.sent_texts(to=user) == ["x"]
    assert [r.status for r in line_stub.requests("/push")] == [500, 500, 200, 429]


def test_fail_for_is_an_outage_window(line_stub: LineStub) -> None:
    user = events.line_user_id()
    request = PushMessageRequest(to=user, messages=[_text("x")])
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        api.push_message(request)  # warm connection: the window below is short
        ends = time.monotonic() + 0.5
        line_stub.fail_for("/push", 503, seconds=0.5)
        for _ in range(2):
            with pytest.raises(ApiException) as err:
                api.push_message(request)
            assert err.value.status == 503
        time.sleep(max(0.0, ends - time.monotonic()) + 0.05)
        api.push_message(request)
    assert line_stub.sent_texts(to=user) == ["x", "x"]


def test_delay_makes_the_client_time_out_but_still_delivers(line_stub: LineStub) -> None:
    user = events.line_user_id()
    line_stub.delay_next("/push", 1.0)
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        started = time.monotonic()
        with pytest.raises(urllib3.exceptions.HTTPError):
            api.push_message(
                PushMessageRequest(to=user, messages=[_text("slow")]), _request_timeout=0.2
            )
        assert time.monotonic() - started < 0.9
    assert line_stub.sent_texts(to=user) == []
    assert line_stub.wait_for_texts(to=user, timeout=3) == ["slow"]


def test_wrong_or_missing_token_is_401(line_stub: LineStub) -> None:
    messages = []
    for token in ("not-the-token", ""):
        config = Configuration(host=line_stub.url, access_token=token)
        with ApiClient(config) as client, pytest.raises(ApiException) as err:
            MessagingApi(client).push_message(
                PushMessageRequest(to=events.line_user_id(), messages=[_text("x")])
            )
        assert err.value.status == 401
        messages.append(json.loads(_body(err))["message"])
    assert messages[0].startswith("Authentication failed.")
    assert messages[1].startswith("Authorization header required.")
    no_header = httpx.get(f"{line_stub.url}/v2/bot/profile/{events.line_user_id()}")
    assert no_header.status_code == 401
    assert line_stub.sent_texts() == []


def test_request_validation_like_line(line_stub: LineStub) -> None:
    user = events.line_user_id()
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        # The SDK refuses >5 messages client-side, so this one goes over raw HTTP.
        too_many = httpx.post(
            f"{line_stub.url}/v2/bot/message/push",
            json={"to": user, "messages": [{"type": "text", "text": str(i)} for i in range(6)]},
            headers={"Authorization": f"Bearer {line_stub.access_token}"},
        )
        assert too_many.status_code == 400
        assert too_many.json()["details"] == [
            {"message": "Size must be between 1 and 5", "property": "messages"}
        ]
        with pytest.raises(ApiException) as too_long:
            api.push_message(PushMessageRequest(to=user, messages=[_text("あ" * 5001)]))
        assert "messages[0].text" in _body(too_long)
        with pytest.raises(ApiException) as bad_to:
            api.push_message(PushMessageRequest(to="U123", messages=[_text("x")]))
        assert bad_to.value.status == 400
        item = {"type": "action", "action": {"type": "message", "label": "x", "text": "x"}}
        quick = httpx.post(
            f"{line_stub.url}/v2/bot/message/push",
            json={
                "to": user,
                "messages": [{"type": "text", "text": "q", "quickReply": {"items": [item] * 14}}],
            },
            headers={"Authorization": f"Bearer {line_stub.access_token}"},
        )
        assert quick.json()["details"][0]["property"] == "messages[0].quickReply.items"
        items = [QuickReplyItem(action=MessageAction(label="相談", text="相談"))]
        api.push_message(
            PushMessageRequest(
                to=user, messages=[TextMessage(text="q", quickReply=QuickReply(items=items))]
            )
        )
        api.push_message(PushMessageRequest(to=user, messages=[_text("あ" * 5000)]))
    assert line_stub.sent_texts(to=user) == ["q", "あ" * 5000]
    quick_reply = line_stub.sent_messages(to=user)[0]["quickReply"]
    assert quick_reply["items"][0]["action"]["label"] == "相談"


def test_loading_profile_and_content(line_stub: LineStub) -> None:
    user = events.line_user_id("profile")
    line_stub.set_profile(user, "山田花子", language="ja")
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        response = api.show_loading_animation_with_http_info(
            ShowLoadingAnimationRequest(chatId=user, loadingSeconds=20)
        )
        assert response.status_code == 202
        profile = api.get_profile(user)
        assert (profile.display_name, profile.user_id, profile.language) == ("山田花子", user, "ja")
        line_stub.remove_profile(user)
        with pytest.raises(ApiException) as missing:
            api.get_profile(user)
        assert missing.value.status == 404
        line_stub.set_content("12345", b"\xff\xd8jpeg", "image/jpeg")
        assert MessagingApiBlob(client).get_message_content("12345") == b"\xff\xd8jpeg"
    assert line_stub.last_request("/loading/start").body == {"chatId": user, "loadingSeconds": 20}


def test_async_client_reply_push_and_faults(line_stub: LineStub) -> None:
    user = events.line_user_id("async")
    event = events.line_text_event("相談したい", user_id=user)

    async def scenario() -> None:
        async with AsyncApiClient(line_stub.configuration()) as client:
            api = AsyncMessagingApi(client)
            await api.reply_message(
                ReplyMessageRequest(replyToken=event["replyToken"], messages=[_text("はい")])
            )
            await api.push_message(PushMessageRequest(to=user, messages=[_text("続き")]))
            line_stub.fail_next("/push", 500)
            with pytest.raises(ApiException) as err:
                await api.push_message(PushMessageRequest(to=user, messages=[_text("x")]))
            assert err.value.status == 500
            profile = await api.get_profile(user)
            assert profile.user_id == user

    asyncio.run(scenario())
    assert line_stub.sent_texts(to=user) == ["はい", "続き"]


def test_wait_for_returns_as_soon_as_delivered(line_stub: LineStub) -> None:
    user = events.line_user_id()

    def later() -> None:
        time.sleep(0.1)
        with _api(line_stub)[0] as client:
            MessagingApi(client).push_message(
                PushMessageRequest(to=user, messages=[_text("遅れて")])
            )

    thread = threading.Thread(target=later)
    started = time.monotonic()
    thread.start()
    assert line_stub.wait_for_texts(to=user) == ["遅れて"]
    assert time.monotonic() - started < 1.5
    thread.join()
    with pytest.raises(TimeoutError):
        line_stub.wait_for(lambda: len(line_stub.sent_texts()) > 1, timeout=0.1)
    line_stub.clear()
    assert line_stub.requests() == [] and line_stub.sent_texts() == []


def test_wait_for_async_does_not_block_the_loop(line_stub: LineStub) -> None:
    user = events.line_user_id()

    async def scenario() -> list[str]:
        async with AsyncApiClient(line_stub.configuration()) as client:
            api = AsyncMessagingApi(client)

            async def send_later() -> None:
                await asyncio.sleep(0.05)
                await api.push_message(PushMessageRequest(to=user, messages=[_text("非同期")]))

            task = asyncio.create_task(send_later())
            texts = await line_stub.wait_for_async(lambda: line_stub.sent_texts(to=user))
            await task
            return texts

    assert asyncio.run(scenario()) == ["非同期"]


def test_webhook_builders_parse_and_verify_with_the_sdk() -> None:
    secret = LineStub.DEFAULT_CHANNEL_SECRET
    user = events.line_user_id("webhook")
    group = events.line_group_id("g")
    built = [
        events.line_text_event("こんにちは", user_id=user, redelivery=True),
        events.line_text_event("グループから", user_id=user, group_id=group),
        events.line_follow_event(user_id=user, unblocked=True),
        events.line_unfollow_event(user_id=user),
        events.line_postback_event("action=menu&id=1", user_id=user),
        events.line_sticker_event(user_id=user),
        events.line_image_event(user_id=user),
    ]
    body, headers = events.line_webhook_request(*built, channel_secret=secret)
    parsed = WebhookParser(secret).parse(body.decode("utf-8"), headers["x-line-signature"])
    assert [type(e) for e in parsed] == [
        MessageEvent,
        MessageEvent,
        FollowEvent,
        UnfollowEvent,
        PostbackEvent,
        MessageEvent,
        MessageEvent,
    ]
    text_event = parsed[0]
    assert isinstance(text_event, MessageEvent)
    assert isinstance(text_event.message, TextMessageContent)
    assert text_event.message.text == "こんにちは"
    assert text_event.delivery_context.is_redelivery is True
    assert text_event.source is not None and text_event.source.to_dict()["userId"] == user
    assert text_event.mode.value == "active"
    assert len(text_event.webhook_event_id) == 26
    assert isinstance(parsed[5], MessageEvent)
    assert isinstance(parsed[5].message, StickerMessageContent)
    assert isinstance(parsed[6], MessageEvent)
    assert isinstance(parsed[6].message, ImageMessageContent)
    assert "replyToken" not in built[3]
    assert events.reply_token_info(built[1]["replyToken"]) is not None
    assert events.reply_token_info(built[1]["replyToken"]).to == group  # type: ignore[union-attr]

    with pytest.raises(InvalidSignatureError):
        WebhookParser(secret).parse(body.decode("utf-8") + " ", headers["x-line-signature"])
    assert events.sign_line_body(body, secret) == LineStub(channel_secret=secret).sign(body)


def test_group_reply_lands_in_the_group(line_stub: LineStub) -> None:
    group = events.line_group_id("reply-group")
    event = events.line_text_event("質問", group_id=group)
    with _api(line_stub)[0] as client:
        MessagingApi(client).reply_message(
            ReplyMessageRequest(replyToken=event["replyToken"], messages=[_text("回答")])
        )
    assert line_stub.sent_texts(to=group) == ["回答"]


def test_throughput_on_loopback(line_stub: LineStub) -> None:
    """Benchmarks need ~500 req/s; guards against per-request stalls (sleeps, Nagle)."""
    user = events.line_user_id()
    request = PushMessageRequest(to=user, messages=[_text("x")])
    with _api(line_stub)[0] as client:
        api = MessagingApi(client)
        started = time.perf_counter()
        for _ in range(200):
            api.push_message(request)
        elapsed = time.perf_counter() - started
    assert len(line_stub.sent_texts(to=user)) == 200
    # ~600 req/s here (client and server share one GIL); Nagle's stall would give ~20.
    assert 200 / elapsed > 100, f"{200 / elapsed:.0f} req/s"
