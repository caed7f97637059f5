"""The Telegram stub, driven by the real python-telegram-bot v22 ``Bot`` over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time
from typing import Any

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from tests.stubs import events
from tests.stubs.telegram_api import TelegramStub

CHAT = 5_550_001_111


def _retry_after_seconds(err: RetryAfter) -> float:
    """``retry_after`` is an int in PTB 22 and a timedelta with ``PTB_TIMEDELTA=1``/PTB 23."""
    value = err.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def test_get_me_and_send_message(telegram_stub: TelegramStub) -> None:
    async def scenario() -> Any:
        async with telegram_stub.bot() as bot:  # initialize() calls getMe
            assert bot.username == telegram_stub.bot_username
            assert (await bot.get_me()).is_bot is True
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("はい", callback_data="yes")]])
            first = await bot.send_message(
                CHAT, "ご相談ありがとうございます。", reply_markup=keyboard
            )
            await bot.send_message(CHAT, "担当課におつなぎします。")
            return first

    message = asyncio.run(scenario())
    assert message.text == "ご相談ありがとうございます。"
    assert message.chat.id == CHAT and message.chat.type == "private"
    assert message.from_user is not None and message.from_user.is_bot
    assert message.reply_markup is not None
    assert message.reply_markup.inline_keyboard[0][0].callback_data == "yes"
    assert telegram_stub.sent_texts(to=CHAT) == [
        "ご相談ありがとうございます。",
        "担当課におつなぎします。",
    ]
    sent = telegram_stub.last_request("sendMessage")
    assert sent.body["chat_id"] == CHAT and sent.status == 200
    assert telegram_stub.sent_messages(to=CHAT)[0]["reply_markup"]["inline_keyboard"]


def test_answer_callback_query_once(telegram_stub: TelegramStub) -> None:
    update = events.telegram_callback_query_update("topic:kosodate")
    query_id = update["callback_query"]["id"]

    async def scenario() -> None:
        async with telegram_stub.bot() as bot:
            parsed = Update.de_json(update, bot)
            assert parsed.callback_query is not None
            assert await parsed.callback_query.answer("受け付けました") is True
            with pytest.raises(BadRequest, match=r"(?i)query is too old"):
                await bot.answer_callback_query(query_id)
            telegram_stub.expire_callback_query("42")
            with pytest.raises(BadRequest):
                await bot.answer_callback_query("42")

    asyncio.run(scenario())
    answered = telegram_stub.answered_callbacks()
    assert [(a["callback_query_id"], a["text"]) for a in answered] == [(query_id, "受け付けました")]


# PTB 22 itself warns, while building RetryAfter, that retry_after will become a timedelta.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_429_becomes_retry_after(telegram_stub: TelegramStub) -> None:
    telegram_stub.fail_next("sendMessage", 429, retry_after=3)

    async def scenario() -> None:
        async with telegram_stub.bot() as bot:
            with pytest.raises(RetryAfter) as err:
                await bot.send_message(CHAT, "x")
            assert _retry_after_seconds(err.value) == 3
            await bot.send_message(CHAT, "y")

    asyncio.run(scenario())
    assert telegram_stub.sent_texts(to=CHAT) == ["y"]
    assert telegram_stub.requests("sendMessage")[0].status == 429


def test_500_and_timeouts(telegram_stub: TelegramStub) -> None:
    telegram_stub.fail_next("sendMessage", 500, times=2)
    telegram_stub.delay_next("sendChatAction", 0.5)

    async def scenario() -> None:
        async with telegram_stub.bot() as bot:
            for _ in range(2):
                with pytest.raises(NetworkError):
                    await bot.send_message(CHAT, "x")
            await bot.send_message(CHAT, "届いた")
            with pytest.raises(TimedOut):
                await bot.send_chat_action(CHAT, ChatAction.TYPING, read_timeout=0.1)

    asyncio.run(scenario())
    assert telegram_stub.sent_texts(to=CHAT) == ["届いた"]
    # The delayed request is still processed after the client gave up.
    status = telegram_stub.wait_for(lambda: telegram_stub.last_request("sendChatAction").status)
    assert status == 200


def test_wrong_token_is_invalid_token(telegram_stub: TelegramStub) -> None:
    async def scenario(token: str) -> None:
        bot = Bot(token, base_url=telegram_stub.base_url)
        with pytest.raises(InvalidToken):
            await bot.get_me()

    asyncio.run(scenario("987654321:WrongButWellFormedToken"))  # 401 Unauthorized
    asyncio.run(scenario("not-a-token"))  # 404 Not Found
    assert [r.status for r in telegram_stub.requests("getMe")] == [401, 404]
    raw = httpx.post(f"{telegram_stub.url}/botnope/getMe")
    assert raw.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_get_updates_respects_offset_and_long_polls(telegram_stub: TelegramStub) -> None:
    first = telegram_stub.queue_update(events.telegram_start_update("from-poster"))
    telegram_stub.queue_update(events.telegram_text_update("児童手当について"))

    async def scenario() -> None:
        async with telegram_stub.bot() as bot:
            updates = await bot.get_updates()
            assert updates[0].update_id == first and len(updates) == 2
            assert updates[0].message is not None
            assert updates[0].message.text == "/start from-poster"
            assert updates[1].message is not None and updates[1].message.text == "児童手当について"
            # Confirming with offset drops them.
            assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()
            assert telegram_stub.pending_updates() == []

            def queue_later() -> None:
                time.sleep(0.15)
                telegram_stub.queue_update(events.telegram_sticker_update())

            threading.Thread(target=queue_later).start()
            started = time.monotonic()
            polled = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=5)
            assert time.monotonic() - started < 2  # woken by the update, not the timeout
            assert len(polled) == 1 and polled[0].message is not None
            assert polled[0].message.sticker is not None

            started = time.monotonic()
            assert await bot.get_updates(offset=polled[0].update_id + 1, timeout=1) == ()
            assert time.monotonic() - started >= 0.9

    asyncio.run(scenario())


def test_webhook_lifecycle_and_conflict(telegram_stub: TelegramStub) -> None:
    async def scenario() -> None:
        async with telegram_stub.bot() as bot:
            with pytest.raises(BadRequest, match=r"(?i)https url"):
                await bot.set_webhook("http://127.0.0.1/webhook")
            assert await bot.set_webhook(
                "https://tsunagu.example.jp/webhook/telegram",
                secret_token="s3cret",
                allowed_updates=["message", "callback_query"],
            )
            info = await bot.get_webhook_info()
            assert info.url == "https://tsunagu.example.jp/webhook/telegram"
            with pytest.raises(Conflict):
                await bot.get_updates()
            assert await bot.delete_webhook(drop_pending_updates=True)
            assert (await bot.get_webhook_info()).url == ""
            assert await bot.get_updates() == ()

    asyncio.run(scenario())
    assert telegram_stub.webhook is None
    hook = telegram_stub.requests("setWebhook")[-1].body
    assert hook["secret_token"] == "s3cret"
    assert hook["allowed_updates"] == ["message", "callback_query"]


def test_chat_action_edit_markup_and_blocked_chat(telegram_stub: TelegramStub) -> None:
    async def scenario() -> None:
        async with telegram_stub.bot() as bot:
            assert await bot.send_chat_action(CHAT, ChatAction.TYPING)
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
            sent = await bot.send_message(CHAT, "選んでください", reply_markup=keyboard)
            edited = await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=None)
            assert isinstance(edited, type(sent)) and edited.reply_markup is None
            assert edited.text == "選んでください"
            with pytest.raises(BadRequest, match=r"(?i)not modified"):
                await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=None)
            telegram_stub.block_chat(CHAT)
            with pytest.raises(Forbidden, match=r"(?i)blocked"):
                await bot.send_message(CHAT, "x")

    asyncio.run(scenario())
    assert telegram_stub.last_request("sendChatAction").body["action"] == "typing"
    assert telegram_stub.sent_texts(to=CHAT) == ["選んでください"]


def test_fail_for_outage_window(telegram_stub: TelegramStub) -> None:
    async def scenario() -> None:
        async with telegram_stub.bot() as bot:  # warm connection: the window below is short
            ends = time.monotonic() + 0.5
            telegram_stub.fail_for("", 502, seconds=0.5)  # "" matches every method
            with pytest.raises(NetworkError):
                await bot.get_me()
            with pytest.raises(NetworkError):
                await bot.send_message(CHAT, "x")
            await asyncio.sleep(max(0.0, ends - time.monotonic()) + 0.05)
            assert (await bot.get_me()).username == telegram_stub.bot_username

    asyncio.run(scenario())


def test_update_builders_parse_with_ptb() -> None:
    user = 5_559_876_543
    built = {
        "text": events.telegram_text_update("こんにちは", user_id=user),
        "start": events.telegram_start_update(user_id=user),
        "callback": events.telegram_callback_query_update("menu", user_id=user),
        "sticker": events.telegram_sticker_update(user_id=user),
        "photo": events.telegram_photo_update(user_id=user, caption="書類の写真"),
        "group": events.telegram_text_update("質問", user_id=user, chat_id=-1001234567890),
    }
    parsed = {name: Update.de_json(data, None) for name, data in built.items()}
    assert parsed["text"].effective_user is not None and parsed["text"].effective_user.id == user
    assert parsed["text"].effective_chat is not None and parsed["text"].effective_chat.id == user
    start = parsed["start"].message
    assert start is not None and start.text == "/start"
    assert start.entities[0].type == "bot_command"
    callback = parsed["callback"].callback_query
    assert callback is not None and callback.data == "menu" and callback.from_user.id == user
    assert parsed["sticker"].message is not None and parsed["sticker"].message.sticker is not None
    photo = parsed["photo"].message
    assert photo is not None and len(photo.photo) == 3 and photo.caption == "書類の写真"
    assert parsed["group"].effective_chat is not None
    assert parsed["group"].effective_chat.type == "supergroup"
    ids = [data["update_id"] for data in built.values()]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events.telegram_webhook_headers("s")["X-Telegram-Bot-Api-Secret-Token"] == "s"


def test_concurrent_sends_with_a_bigger_pool(telegram_stub: TelegramStub) -> None:
    async def scenario() -> None:
        request = HTTPXRequest(connection_pool_size=8)
        async with telegram_stub.bot(request=request) as bot:
            await asyncio.gather(*(bot.send_message(CHAT + i % 4, f"m{i}") for i in range(100)))

    asyncio.run(scenario())
    assert len(telegram_stub.sent_texts()) == 100
    assert telegram_stub.sent_texts(to=CHAT) == [f"m{i}" for i in range(0, 100, 4)] or sorted(
        telegram_stub.sent_texts(to=CHAT)
    ) == sorted(f"m{i}" for i in range(0, 100, 4))
