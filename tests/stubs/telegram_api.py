"""Local stand-in for the Telegram Bot API (``https://api.telegram.org/bot<token>/<method>``).

Use with python-telegram-bot: ``Bot(stub.token, base_url=stub.base_url)`` or ``stub.bot()``.
Answers follow the platform's envelope (``{"ok": true, "result": ...}`` / ``{"ok": false,
"error_code": ..., "description": ...}``) because PTB maps exactly those onto its exceptions
(``RetryAfter``, ``Forbidden``, ``BadRequest``, ``InvalidToken``, ``Conflict``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from fastapi import Response

from tests.stubs._core import RecordedRequest, StubBase, json_response
from tests.stubs.events import telegram_chat

if TYPE_CHECKING:
    from telegram import Bot

JSONDict = dict[str, Any]

_PATH_RE = re.compile(r"^/bot([^/]*)/([^/]+)$")
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_INT_PARAMS = {
    "chat_id",
    "message_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "cache_time",
    "max_connections",
    "message_thread_id",
    "reply_to_message_id",
    "from_chat_id",
}
_BOOL_PARAMS = {
    "disable_notification",
    "protect_content",
    "show_alert",
    "drop_pending_updates",
    "disable_web_page_preview",
    "allow_sending_without_reply",
}
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
HTTPS_REQUIRED = "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
BLOCKED = "Forbidden: bot was blocked by the user"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _decode(key: str, value: Any) -> Any:
    """Undo PTB's form encoding: objects come JSON-encoded, numbers and booleans as text."""
    if not isinstance(value, str):
        return value
    if key in _INT_PARAMS and value.lstrip("-").isdigit():
        return int(value)
    if key in _BOOL_PARAMS and value in ("true", "false", "True", "False"):
        return value.lower() == "true"
    if value[:1] in ("{", "[") and key != "text":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class TelegramStub(StubBase):
    """The Bot API methods a chatbot uses, plus fault injection (see ``StubBase``).

    A wrong token answers like Telegram: 401 "Unauthorized" for a well-formed token, 404
    "Not Found" for a malformed one; PTB raises ``telegram.error.InvalidToken`` for both.
    Unknown methods answer 404 too, unless given a result with ``set_result``.
    """

    DEFAULT_TOKEN = "123456789:AAF-tsunagu-test-token-0123456789ab"

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "tsunagu_test_bot",
        bot_first_name: str = "つなぐ",
        max_records: int = 50_000,
    ) -> None:
        super().__init__(max_records=max_records)
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self._max_messages = max_records
        self._updates: list[JSONDict] = []
        self._next_update_id = 900_000_000
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._messages: OrderedDict[tuple[str, int], JSONDict] = OrderedDict()
        self._next_message_id = 5000
        self._blocked: set[str] = set()
        self._stale_queries: set[str] = set()
        self._answered: list[JSONDict] = []
        self._webhook: JSONDict | None = None
        self._commands: list[Any] = []
        self._results: dict[str, Any] = {}

    # ------------------------------------------------------------------ conveniences
    @property
    def base_url(self) -> str:
        """Value for ``Bot(base_url=...)``; PTB appends the token itself."""
        return f"{self.url}/bot"

    def bot(self, **kwargs: Any) -> Bot:
        """A real ``telegram.Bot`` pointing at this stub (use ``async with`` to initialise)."""
        from telegram import Bot

        return Bot(self.token, base_url=self.base_url, **kwargs)

    def bot_user(self) -> JSONDict:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ------------------------------------------------------------------ programming state
    def queue_update(self, update: JSONDict) -> int:
        """Make ``update`` available to ``getUpdates``; assigns ``update_id`` if missing."""
        with self._cond:
            if "update_id" not in update:
                update = {"update_id": self._next_update_id, **update}
            self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
            self._updates.append(update)
            self._updates.sort(key=lambda u: u["update_id"])
            self._changed()
        self._wake_waiters()
        return int(update["update_id"])

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a ``getUpdates`` offset."""
        with self._cond:
            return list(self._updates)

    def block_chat(self, chat_id: int | str) -> None:
        """Sends to ``chat_id`` answer 403 "Forbidden: bot was blocked by the user"."""
        with self._cond:
            self._blocked.add(str(chat_id))

    def unblock_chat(self, chat_id: int | str) -> None:
        with self._cond:
            self._blocked.discard(str(chat_id))

    def expire_callback_query(self, callback_query_id: str) -> None:
        """``answerCallbackQuery`` for it answers 400 "query is too old ..."."""
        with self._cond:
            self._stale_queries.add(callback_query_id)

    def answered_callbacks(self) -> list[JSONDict]:
        """Parameters of every accepted ``answerCallbackQuery``, in order."""
        with self._cond:
            return list(self._answered)

    @property
    def webhook(self) -> JSONDict | None:
        """Parameters of the active ``setWebhook`` (``url``, ``secret_token``...), or None."""
        with self._cond:
            return dict(self._webhook) if self._webhook else None

    def set_result(self, method: str, result: Any) -> None:
        """Answer ``method`` (any Bot API method, case-insensitive) with ``result``."""
        with self._cond:
            self._results[method.lower()] = result

    def _reset_state(self) -> None:
        self._updates.clear()
        self._messages.clear()
        self._blocked.clear()
        self._stale_queries.clear()
        self._answered.clear()
        self._webhook = None
        self._commands = []
        self._results.clear()

    def _wake_waiters(self) -> None:
        with self._cond:
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    # ------------------------------------------------------------------ pipeline hooks
    def _authorize(self, record: RecordedRequest) -> Response | None:
        match = _PATH_RE.match(record.path)
        if match is None:
            return self._fail(404, "Not Found")
        token = match.group(1)
        if token != self.token:
            if _TOKEN_RE.match(token):
                return self._fail(401, "Unauthorized")
            return self._fail(404, "Not Found")
        return None

    def _normalize_body(self, body: Any) -> Any:
        """PTB posts form fields; record them typed (ints, bools, decoded JSON objects)."""
        if isinstance(body, dict):
            return {k: _decode(k, v) for k, v in body.items()}
        return body

    def _error(self, status: int, retry_after: int | None, body: Any) -> Response:
        if body is not None:
            return json_response(body, status)
        if status == 429:
            seconds = 1 if retry_after is None else retry_after
            return json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {seconds}",
                    "parameters": {"retry_after": seconds},
                },
                429,
                {"Retry-After": str(seconds)},
            )
        return self._fail(status, _DESCRIPTIONS.get(status, "Internal Server Error"))

    async def _handle(self, record: RecordedRequest) -> Response:
        match = _PATH_RE.match(record.path)
        assert match is not None  # checked by _authorize
        method = match.group(2).lower()
        params: JSONDict = {k: _decode(k, v) for k, v in record.query.items()}
        if isinstance(record.body, dict):
            params.update(record.body)
        with self._cond:
            if method in self._results:
                return self._ok(self._results[method])
        if method == "getupdates":
            return await self._get_updates(params)
        handler = _HANDLERS.get(method)
        if handler is None:
            return self._fail(404, "Not Found")
        return handler(self, record, params)

    # ------------------------------------------------------------------ methods
    def _get_me(self, record: RecordedRequest, params: JSONDict) -> Response:
        return self._ok(
            {
                **self.bot_user(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    def _send_message(self, record: RecordedRequest, params: JSONDict) -> Response:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return self._fail(400, "Bad Request: chat_id is empty")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._fail(400, "Bad Request: message text is empty")
        if _utf16_len(text) > 4096:
            return self._fail(400, "Bad Request: message is too long")
        key = str(chat_id)
        with self._cond:
            if key in self._blocked:
                return self._fail(403, BLOCKED)
            message = self._new_message(chat_id, text, params.get("reply_markup"))
        delivered = dict(message)
        for extra in ("reply_markup", "parse_mode", "reply_parameters"):
            if extra in params:
                delivered[extra] = params[extra]
        self._deliver(record, key, "sendMessage", delivered)
        return self._ok(message)

    def _answer_callback_query(self, record: RecordedRequest, params: JSONDict) -> Response:
        query_id = params.get("callback_query_id")
        if not query_id:
            return self._fail(400, 'Bad Request: parameter "callback_query_id" is required')
        with self._cond:
            if str(query_id) in self._stale_queries:
                return self._fail(400, QUERY_INVALID)
            self._stale_queries.add(str(query_id))  # a query can be answered once
            self._answered.append(params)
            self._changed()
        return self._ok(True)

    async def _get_updates(self, params: JSONDict) -> Response:
        """Long polling: wait up to ``timeout`` s for updates at or after ``offset``."""
        offset = params.get("offset")
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        deadline = time.monotonic() + float(timeout)
        while True:
            event = asyncio.Event()
            with self._cond:
                if self._webhook is not None:
                    return self._fail(409, WEBHOOK_CONFLICT)
                if isinstance(offset, int):
                    if offset < 0:
                        self._updates = self._updates[offset:]
                    else:
                        self._updates = [u for u in self._updates if u["update_id"] >= offset]
                batch = self._updates[: int(limit)]
                remaining = deadline - time.monotonic()
                if batch or remaining <= 0:
                    return self._ok(batch)
                waiter = (asyncio.get_running_loop(), event)
                self._waiters.append(waiter)
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                pass
            finally:
                with self._cond:
                    self._waiters.remove(waiter)

    def _set_webhook(self, record: RecordedRequest, params: JSONDict) -> Response:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(record, params)
        if not str(url).startswith("https://"):
            return self._fail(400, HTTPS_REQUIRED)
        with self._cond:
            self._webhook = {k: v for k, v in params.items() if k != "certificate"}
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return self._ok(True, description="Webhook was set")

    def _delete_webhook(self, record: RecordedRequest, params: JSONDict) -> Response:
        with self._cond:
            existed = self._webhook is not None
            self._webhook = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return self._ok(
            True, description="Webhook was deleted" if existed else "Webhook is already deleted"
        )

    def _get_webhook_info(self, record: RecordedRequest, params: JSONDict) -> Response:
        with self._cond:
            hook = self._webhook or {}
            info: JSONDict = {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if hook:
                info["max_connections"] = hook.get("max_connections", 40)
                info["ip_address"] = "127.0.0.1"
                if "allowed_updates" in hook:
                    info["allowed_updates"] = hook["allowed_updates"]
        return self._ok(info)

    def _send_chat_action(self, record: RecordedRequest, params: JSONDict) -> Response:
        if params.get("chat_id") in (None, ""):
            return self._fail(400, "Bad Request: chat_id is empty")
        if params.get("action") not in _CHAT_ACTIONS:
            return self._fail(400, "Bad Request: wrong parameter action in request")
        with self._cond:
            if str(params["chat_id"]) in self._blocked:
                return self._fail(403, BLOCKED)
        return self._ok(True)

    def _edit_message(self, record: RecordedRequest, params: JSONDict, *, text: bool) -> Response:
        """editMessageText / editMessageReplyMarkup on a message this stub sent (or any other)."""
        if params.get("inline_message_id"):
            return self._ok(True)
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if chat_id in (None, "") or not isinstance(message_id, int):
            return self._fail(400, "Bad Request: message identifier is not specified")
        new_text = params.get("text")
        if text and (not isinstance(new_text, str) or not new_text.strip()):
            return self._fail(400, "Bad Request: message text is empty")
        markup = params.get("reply_markup")
        with self._cond:
            key = (str(chat_id), message_id)
            current = self._messages.get(key)
            if current is None:
                current = {
                    "message_id": message_id,
                    "from": self.bot_user(),
                    "chat": self._chat(chat_id),
                    "date": int(time.time()) - 1,
                }
            old_text, old_markup = current.get("text"), current.get("reply_markup")
            if (not text or new_text == old_text) and markup == old_markup:
                return self._fail(400, NOT_MODIFIED)
            edited = dict(current)
            if text:
                edited["text"] = new_text
            edited.pop("reply_markup", None)
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                edited["reply_markup"] = markup
            edited["edit_date"] = int(time.time())
            self._messages[key] = edited
        return self._ok(edited)

    def _edit_reply_markup(self, record: RecordedRequest, params: JSONDict) -> Response:
        return self._edit_message(record, params, text=False)

    def _edit_text(self, record: RecordedRequest, params: JSONDict) -> Response:
        return self._edit_message(record, params, text=True)

    def _delete_message(self, record: RecordedRequest, params: JSONDict) -> Response:
        with self._cond:
            self._messages.pop((str(params.get("chat_id")), params.get("message_id") or 0), None)
        return self._ok(True)

    def _set_my_commands(self, record: RecordedRequest, params: JSONDict) -> Response:
        with self._cond:
            self._commands = list(params.get("commands") or [])
        return self._ok(True)

    def _get_my_commands(self, record: RecordedRequest, params: JSONDict) -> Response:
        with self._cond:
            return self._ok(list(self._commands))

    def _true(self, record: RecordedRequest, params: JSONDict) -> Response:
        return self._ok(True)

    # ------------------------------------------------------------------ helpers
    def _chat(self, chat_id: Any) -> JSONDict:
        if isinstance(chat_id, int):
            return telegram_chat(chat_id)
        name = str(chat_id).lstrip("@")
        return {
            "id": -1_001_000_000_000 - zlib.crc32(name.encode()),
            "type": "channel",
            "title": name,
            "username": name,
        }

    def _new_message(self, chat_id: Any, text: str, markup: Any) -> JSONDict:
        """Create and remember a bot message (caller holds the lock)."""
        self._next_message_id += 1
        message: JSONDict = {
            "message_id": self._next_message_id,
            "from": self.bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        self._messages[(str(chat_id), message["message_id"])] = message
        if len(self._messages) > self._max_messages:
            self._messages.popitem(last=False)
        return message

    @staticmethod
    def _ok(result: Any, description: str | None = None) -> Response:
        body: JSONDict = {"ok": True, "result": result}
        if description:
            body["description"] = description
        return json_response(body)

    @staticmethod
    def _fail(code: int, description: str) -> Response:
        return json_response({"ok": False, "error_code": code, "description": description}, code)


_HANDLERS = {
    "getme": TelegramStub._get_me,
    "sendmessage": TelegramStub._send_message,
    "answercallbackquery": TelegramStub._answer_callback_query,
    "setwebhook": TelegramStub._set_webhook,
    "deletewebhook": TelegramStub._delete_webhook,
    "getwebhookinfo": TelegramStub._get_webhook_info,
    "sendchataction": TelegramStub._send_chat_action,
    "editmessagereplymarkup": TelegramStub._edit_reply_markup,
    "editmessagetext": TelegramStub._edit_text,
    "deletemessage": TelegramStub._delete_message,
    "setmycommands": TelegramStub._set_my_commands,
    "getmycommands": TelegramStub._get_my_commands,
    "deletemycommands": TelegramStub._true,
    "logout": TelegramStub._true,
    "close": TelegramStub._true,
}
