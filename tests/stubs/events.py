"""Realistic inbound payloads: LINE webhook events (+ signing) and Telegram ``Update`` JSON.

The webhook receivers are tested against these, so the shapes follow the platforms' documented
payloads field by field (and are checked against the SDKs' own parsers in the stub tests).

Reply tokens created here are registered in a process-wide table, so the LINE stub knows which
user a reply goes to (``line_stub.sent_texts(to=user_id)``) and rejects tokens it never issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]

# ====================================================================== LINE

#: ``destination`` of webhook bodies: the bot's own user ID.
LINE_BOT_USER_ID = "U" + hashlib.md5(b"tsunagu-bot").hexdigest()

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_line_message_ids = itertools.count(int(time.time() * 1000) * 1000)


def sign_line_body(body: bytes | str, channel_secret: str) -> str:
    """The ``x-line-signature`` LINE sends: base64(HMAC-SHA256(channel secret, raw body))."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    digest = hmac.new(channel_secret.encode("utf-8"), raw, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def line_user_id(seed: str | None = None) -> str:
    """A valid LINE user ID (``U`` + 32 hex); deterministic for a given ``seed``."""
    return "U" + _hex32(seed)


def line_group_id(seed: str | None = None) -> str:
    """A valid LINE group ID (``C`` + 32 hex)."""
    return "C" + _hex32(seed)


def _hex32(seed: str | None) -> str:
    if seed is None:
        return secrets.token_hex(16)
    return hashlib.md5(seed.encode("utf-8")).hexdigest()


def new_reply_token() -> str:
    """Opaque 32-hex reply token, like LINE's."""
    return secrets.token_hex(16)


def new_webhook_event_id(timestamp_ms: int | None = None) -> str:
    """A ULID, the format of ``webhookEventId`` (26 Crockford base32 characters)."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (ts << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


@dataclass(frozen=True, slots=True)
class ReplyTokenInfo:
    to: str  # user, group or room the reply lands in
    timestamp_ms: int  # of the event that carried the token


_reply_tokens: dict[str, ReplyTokenInfo] = {}
_reply_tokens_lock = threading.Lock()
_MAX_REPLY_TOKENS = 200_000  # long benchmarks build events without end; keep memory bounded


def register_reply_token(token: str, to: str, timestamp_ms: int | None = None) -> None:
    """Declare a reply token as issued by LINE for chat ``to`` (done by every builder below)."""
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    with _reply_tokens_lock:
        _reply_tokens[token] = ReplyTokenInfo(to, ts)
        if len(_reply_tokens) > _MAX_REPLY_TOKENS:
            for old in list(itertools.islice(_reply_tokens, _MAX_REPLY_TOKENS // 10)):
                del _reply_tokens[old]


def reply_token_info(token: str) -> ReplyTokenInfo | None:
    with _reply_tokens_lock:
        return _reply_tokens.get(token)


def _line_event(
    event_type: str,
    *,
    user_id: str | None,
    group_id: str | None,
    reply_token: str | bool | None,
    timestamp_ms: int | None,
    redelivery: bool,
    mode: str,
    webhook_event_id: str | None,
) -> JSONDict:
    """Common properties of every webhook event; ``reply_token=True`` mints and registers one."""
    uid = user_id or line_user_id()
    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    source: JSONDict = (
        {"type": "group", "groupId": group_id, "userId": uid}
        if group_id
        else {"type": "user", "userId": uid}
    )
    event: JSONDict = {"type": event_type}
    # Standby-mode events (another module owns the chat) carry no reply token.
    if reply_token is not False and reply_token is not None and mode == "active":
        token = new_reply_token() if reply_token is True else reply_token
        event["replyToken"] = token
        register_reply_token(token, group_id or uid, ts)
    event.update(
        {
            "source": source,
            "timestamp": ts,
            "mode": mode,
            "webhookEventId": webhook_event_id or new_webhook_event_id(ts),
            "deliveryContext": {"isRedelivery": redelivery},
        }
    )
    return event


def _message_id() -> str:
    return str(next(_line_message_ids))


def _quote_token() -> str:
    return secrets.token_urlsafe(66)


def line_text_event(
    text: str,
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    reply_token: str | bool = True,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    mode: str = "active",
    webhook_event_id: str | None = None,
    message_id: str | None = None,
    quoted_message_id: str | None = None,
) -> JSONDict:
    """A user sends a text message (``type: message``, ``message.type: text``)."""
    event = _line_event(
        "message",
        user_id=user_id,
        group_id=group_id,
        reply_token=reply_token,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        mode=mode,
        webhook_event_id=webhook_event_id,
    )
    message: JSONDict = {
        "id": message_id or _message_id(),
        "type": "text",
        "quoteToken": _quote_token(),
        "markAsReadToken": secrets.token_urlsafe(24),
        "text": text,
    }
    if quoted_message_id:
        message["quotedMessageId"] = quoted_message_id
    event["message"] = message
    return event


def line_sticker_event(
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    package_id: str = "446",
    sticker_id: str = "1988",
    keywords: list[str] | None = None,
    reply_token: str | bool = True,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    mode: str = "active",
    webhook_event_id: str | None = None,
) -> JSONDict:
    """A user sends a sticker (no text: the bot must cope with a non-text message)."""
    event = _line_event(
        "message",
        user_id=user_id,
        group_id=group_id,
        reply_token=reply_token,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        mode=mode,
        webhook_event_id=webhook_event_id,
    )
    event["message"] = {
        "id": _message_id(),
        "type": "sticker",
        "quoteToken": _quote_token(),
        "markAsReadToken": secrets.token_urlsafe(24),
        "packageId": package_id,
        "stickerId": sticker_id,
        "stickerResourceType": "STATIC",
        "keywords": keywords if keywords is not None else ["Happy", "Smile"],
    }
    return event


def line_image_event(
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    message_id: str | None = None,
    reply_token: str | bool = True,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    mode: str = "active",
    webhook_event_id: str | None = None,
) -> JSONDict:
    """A user sends a photo; its bytes are at ``GET /v2/bot/message/{id}/content`` on the stub."""
    event = _line_event(
        "message",
        user_id=user_id,
        group_id=group_id,
        reply_token=reply_token,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        mode=mode,
        webhook_event_id=webhook_event_id,
    )
    event["message"] = {
        "id": message_id or _message_id(),
        "type": "image",
        "quoteToken": _quote_token(),
        "markAsReadToken": secrets.token_urlsafe(24),
        "contentProvider": {"type": "line"},
    }
    return event


def line_follow_event(
    *,
    user_id: str | None = None,
    unblocked: bool = False,
    reply_token: str | bool = True,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    mode: str = "active",
    webhook_event_id: str | None = None,
) -> JSONDict:
    """A user adds the account as a friend (or unblocks it: ``unblocked=True``)."""
    event = _line_event(
        "follow",
        user_id=user_id,
        group_id=None,
        reply_token=reply_token,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        mode=mode,
        webhook_event_id=webhook_event_id,
    )
    event["follow"] = {"isUnblocked": unblocked}
    return event


def line_unfollow_event(
    *,
    user_id: str | None = None,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    mode: str = "active",
    webhook_event_id: str | None = None,
) -> JSONDict:
    """A user blocks the account; LINE sends no reply token with it."""
    return _line_event(
        "unfollow",
        user_id=user_id,
        group_id=None,
        reply_token=None,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        mode=mode,
        webhook_event_id=webhook_event_id,
    )


def line_postback_event(
    data: str,
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    params: dict[str, str] | None = None,
    reply_token: str | bool = True,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
    mode: str = "active",
    webhook_event_id: str | None = None,
) -> JSONDict:
    """A user taps a postback action (quick reply / rich menu button) carrying ``data``."""
    event = _line_event(
        "postback",
        user_id=user_id,
        group_id=group_id,
        reply_token=reply_token,
        timestamp_ms=timestamp_ms,
        redelivery=redelivery,
        mode=mode,
        webhook_event_id=webhook_event_id,
    )
    postback: JSONDict = {"data": data}
    if params is not None:
        postback["params"] = params
    event["postback"] = postback
    return event


def line_webhook_body(*events: JSONDict, destination: str = LINE_BOT_USER_ID) -> JSONDict:
    """The POST body LINE sends: ``{"destination": ..., "events": [...]}`` (may be empty)."""
    return {"destination": destination, "events": list(events)}


def line_webhook_request(
    *events: JSONDict, channel_secret: str, destination: str = LINE_BOT_USER_ID
) -> tuple[bytes, dict[str, str]]:
    """Raw body and headers for posting ``events`` to a webhook receiver, signed like LINE.

    Usage: ``body, headers = line_webhook_request(ev, channel_secret=s)``;
    ``client.post("/webhook/line", content=body, headers=headers)``.
    """
    body = json.dumps(
        line_webhook_body(*events, destination=destination),
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    return body, line_webhook_headers(body, channel_secret)


def line_webhook_headers(body: bytes, channel_secret: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "LineBotWebhook/2.0",
        "x-line-signature": sign_line_body(body, channel_secret),
    }


# ====================================================================== Telegram

_tg_update_ids = itertools.count(700_000_000 + secrets.randbelow(1_000_000))
_tg_message_ids = itertools.count(1000)
_tg_callback_ids = itertools.count(4_000_000_000_000_000_000 + secrets.randbelow(10**12))

#: Default user of the builders (a private chat has chat id == user id).
TELEGRAM_USER_ID = 5_551_234_567


def telegram_user(
    user_id: int = TELEGRAM_USER_ID,
    *,
    first_name: str = "花子",
    last_name: str | None = "山田",
    username: str | None = None,
    language_code: str | None = "ja",
) -> JSONDict:
    user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def telegram_chat(chat_id: int, user: JSONDict | None = None) -> JSONDict:
    """A private chat for positive ids, a supergroup for ``-100…`` ids, else a group."""
    if chat_id > 0:
        chat: JSONDict = {"id": chat_id, "type": "private"}
        if user:
            for key in ("first_name", "last_name", "username"):
                if key in user:
                    chat[key] = user[key]
        return chat
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": "相談グループ"}


def _tg_message(
    *,
    user_id: int,
    chat_id: int | None,
    message_id: int | None,
    date: int | None,
    user: JSONDict | None,
) -> JSONDict:
    sender = user or telegram_user(user_id)
    return {
        "message_id": message_id if message_id is not None else next(_tg_message_ids),
        "from": sender,
        "chat": telegram_chat(chat_id if chat_id is not None else sender["id"], sender),
        "date": int(time.time()) if date is None else date,
    }


def _tg_update(key: str, payload: JSONDict, update_id: int | None) -> JSONDict:
    return {"update_id": update_id if update_id is not None else next(_tg_update_ids), key: payload}


def telegram_text_update(
    text: str,
    *,
    user_id: int = TELEGRAM_USER_ID,
    chat_id: int | None = None,
    user: JSONDict | None = None,
    message_id: int | None = None,
    date: int | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """A user writes ``text`` (a bot command gets its ``bot_command`` entity automatically)."""
    message = _tg_message(
        user_id=user_id, chat_id=chat_id, message_id=message_id, date=date, user=user
    )
    message["text"] = text
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0]
        message["entities"] = [
            {"offset": 0, "length": len(command.encode("utf-16-le")) // 2, "type": "bot_command"}
        ]
    return _tg_update("message", message, update_id)


def telegram_start_update(
    payload: str | None = None,
    *,
    user_id: int = TELEGRAM_USER_ID,
    user: JSONDict | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """``/start`` (with a deep-link ``payload`` if given), the first thing a new user sends."""
    text = "/start" if payload is None else f"/start {payload}"
    return telegram_text_update(text, user_id=user_id, user=user, update_id=update_id)


def telegram_callback_query_update(
    data: str,
    *,
    user_id: int = TELEGRAM_USER_ID,
    chat_id: int | None = None,
    user: JSONDict | None = None,
    message_id: int | None = None,
    message_text: str = "ご相談の内容を選んでください。",
    bot_id: int = 123456789,
    bot_username: str = "tsunagu_test_bot",
    reply_markup: JSONDict | None = None,
    callback_query_id: str | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """A user taps an inline button with ``callback_data=data`` under a message of the bot."""
    sender = user or telegram_user(user_id)
    bot_user: JSONDict = {
        "id": bot_id,
        "is_bot": True,
        "first_name": "つなぐ",
        "username": bot_username,
    }
    message = _tg_message(
        user_id=sender["id"], chat_id=chat_id, message_id=message_id, date=None, user=sender
    )
    message["from"] = bot_user
    message["text"] = message_text
    message["reply_markup"] = reply_markup or {
        "inline_keyboard": [[{"text": "選ぶ", "callback_data": data}]]
    }
    query: JSONDict = {
        "id": callback_query_id or str(next(_tg_callback_ids)),
        "from": sender,
        "message": message,
        "chat_instance": str(-(abs(hash((sender["id"], bot_id))) % 10**18)),
        "data": data,
    }
    return _tg_update("callback_query", query, update_id)


def telegram_sticker_update(
    *,
    user_id: int = TELEGRAM_USER_ID,
    chat_id: int | None = None,
    emoji: str = "👍",
    update_id: int | None = None,
) -> JSONDict:
    """A user sends a sticker (no text)."""
    message = _tg_message(user_id=user_id, chat_id=chat_id, message_id=None, date=None, user=None)
    unique = secrets.token_urlsafe(12)
    message["sticker"] = {
        "file_id": "CAACAgIAAxkBAAE" + secrets.token_urlsafe(40),
        "file_unique_id": "AgAD" + unique,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "HotCherry",
        "file_size": 27_000,
    }
    return _tg_update("message", message, update_id)


def telegram_photo_update(
    *,
    user_id: int = TELEGRAM_USER_ID,
    chat_id: int | None = None,
    caption: str | None = None,
    update_id: int | None = None,
) -> JSONDict:
    """A user sends a photo (Telegram delivers several sizes, smallest first)."""
    message = _tg_message(user_id=user_id, chat_id=chat_id, message_id=None, date=None, user=None)
    base = secrets.token_urlsafe(30)
    message["photo"] = [
        {
            "file_id": f"AgACAgUAAxkBAAI{base}{suffix}",
            "file_unique_id": f"AQAD{base[:10]}{suffix}",
            "width": width,
            "height": height,
            "file_size": size,
        }
        for suffix, width, height, size in (
            ("m", 90, 67, 1_200),
            ("x", 320, 240, 15_000),
            ("y", 1280, 960, 120_000),
        )
    ]
    if caption is not None:
        message["caption"] = caption
    return _tg_update("message", message, update_id)


def telegram_webhook_headers(secret_token: str | None = None) -> dict[str, str]:
    """Headers Telegram sends to a webhook (the secret set via ``setWebhook(secret_token=...)``)."""
    headers = {"Content-Type": "application/json"}
    if secret_token is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
    return headers
