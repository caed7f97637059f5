"""The Telegram adapter: a thin layer over python-telegram-bot v22.

Webhook (``POST /webhooks/telegram``): the ``X-Telegram-Bot-Api-Secret-Token``
header (set with ``setWebhook(secret_token=...)``) is compared in constant
time before the body is read; the update is parsed with
``telegram.Update.de_json`` and stored through the ``Intake`` keyed by its
``update_id`` before we answer 200. ``tsunagu telegram-poll`` feeds
``getUpdates`` through the very same ``accept_update``.

The resident is the *chat* (``telegram:<chat id>``): in a private chat that
is the user, and a bot may only write to chats that wrote to it first, so
the reply must go where the message came from. A photo or document with a
caption is treated as the caption's words; other non-text messages get the
engine's kind request for words. Service messages (joins, pins…) and other
update types are acknowledged and ignored.

Sender: one ``Bot`` per app, initialised on first use. Telegram allows about
one message per second per chat, so each chat has its own async pacing
(a lock and a "not before" time): a chat waits for itself, never for another
chat. 429 ``RetryAfter`` becomes ``TransientSendError(retry_after=...)`` and
also holds that chat's pacing; ``Forbidden`` (blocked) and ``BadRequest`` are
permanent; network errors and timeouts are transient.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from .channels import PermanentSendError, ReplyToken, TransientSendError
from .deps import FrontDoorDep
from .frontdoor import FrontDoor
from .line import BodyTooLarge, error_response, read_body, split_text, too_large
from .messages import Choice, Inbound, InboundKind, MessageError, Outbound
from .settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["telegram"])

#: Telegram's limit per message, in UTF-16 code units.
TELEGRAM_MAX_TEXT = 4096
#: At most one message per second per chat (Telegram's documented limit).
MIN_INTERVAL = 1.0
#: Buttons per keyboard row (labels are ≤ 20 characters; two fit a phone).
BUTTONS_PER_ROW = 2
#: How long a chat's pacing entry is kept after its last send.
_PACE_KEEP = 60.0
_PROGRESS_KEEP = 10_000
#: Update types we ask ``getUpdates`` for (the webhook should be set the same way).
ALLOWED_UPDATES = ("message", "callback_query")


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def retry_after_seconds(exc: RetryAfter) -> float:
    """``RetryAfter.retry_after`` in seconds, whichever type this PTB version gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's int→timedelta deprecation notice
        return _seconds(exc.retry_after)


# -- turning an update into an Inbound ----------------------------------------


@dataclass(frozen=True)
class TelegramEvent:
    """An update as the engine sees it, plus what the adapter does on the side."""

    inbound: Inbound
    chat_id: int
    detail: str  # e.g. "message/text", for the log
    callback_query_id: str | None = None
    private: bool = False


def _message_event(update_id: int, message: Message) -> TelegramEvent | None:
    if message.from_user is not None and message.from_user.is_bot:
        return None
    chat_id = message.chat.id
    kind: InboundKind
    text = data = ""
    words = message.text if message.text is not None else message.caption
    if words is not None:
        command = words.split(maxsplit=1)[0].split("@", 1)[0] if words.strip() else ""
        if message.text is not None and command == "/start":
            kind, detail = "start", "message/start"
            data = words.split(maxsplit=1)[1].strip() if len(words.split(maxsplit=1)) > 1 else ""
        else:
            kind, text = "text", words
            detail = "message/text" if message.text is not None else "message/caption"
    elif message.effective_attachment is not None:
        kind, detail = "non_text", f"message/{_attachment_name(message)}"
    else:
        return None  # a service message (member joined, pinned…): nothing to answer
    return TelegramEvent(
        inbound=Inbound(
            resident_ref=f"telegram:{chat_id}",
            kind=kind,
            channel_event_id=str(update_id),
            text=text,
            data=data,
        ),
        chat_id=chat_id,
        detail=detail,
        private=message.chat.type == "private",
    )


def _attachment_name(message: Message) -> str:
    attachment = message.effective_attachment
    if isinstance(attachment, tuple):  # photo sizes
        return "photo"
    return type(attachment).__name__.lower()


def _callback_event(update_id: int, query: CallbackQuery) -> TelegramEvent | None:
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    private = query.message is None or query.message.chat.type == "private"
    if not query.data:
        return None  # a game button: nothing for us
    return TelegramEvent(
        inbound=Inbound(
            resident_ref=f"telegram:{chat_id}",
            kind="postback",
            channel_event_id=str(update_id),
            data=query.data,
        ),
        chat_id=chat_id,
        detail="callback_query",
        callback_query_id=query.id,
        private=private,
    )


def to_event(update: Update) -> TelegramEvent | None:
    """The one ``Inbound`` an update carries, or None for updates we do not handle."""
    if update.callback_query is not None:
        return _callback_event(update.update_id, update.callback_query)
    if update.message is not None:
        return _message_event(update.update_id, update.message)
    return None


Outcome = Literal["accepted", "duplicate", "ignored"]


def accept_update(front_door: FrontDoor, update: Update) -> Outcome:
    """Store the update's event (webhook and polling share this); then the side calls.

    Raises MessageError for input we refuse; nothing is stored then.
    """
    event = to_event(update)
    if event is None:
        log.info("telegram update %d ignored (no message or button press)", update.update_id)
        return "ignored"
    new = front_door.intake.accept(event.inbound)
    log.info(
        "telegram update %s %s (%d chars) → %s",
        event.inbound.channel_event_id,
        event.detail,
        len(event.inbound.text),
        "accepted" if new else "duplicate",
    )
    sender = front_door.senders.get("telegram")
    if new and isinstance(sender, TelegramSender):
        if event.callback_query_id is not None:
            sender.answer_callback(event.callback_query_id)
        if event.private and event.inbound.kind in ("text", "postback", "non_text"):
            sender.show_typing(event.chat_id)
    return "accepted" if new else "duplicate"


# -- webhook -------------------------------------------------------------------


def _secret_ok(given: str | None, expected: str | None) -> bool | None:
    """None when missing, else whether it matches (constant time)."""
    if not given:
        return None
    return bool(expected) and hmac.compare_digest(
        given.encode("utf-8"), (expected or "").encode("utf-8")
    )


def _has_int_id(value: Any, key: str = "id") -> bool:
    return isinstance(value, dict) and isinstance(value.get(key), int)


def _check_shape(data: dict[str, Any]) -> None:
    """The fields we rely on (``de_json`` itself checks almost nothing)."""
    message, query = data.get("message"), data.get("callback_query")
    if message is not None:
        if not isinstance(message, dict):
            raise ValueError("'message' must be an object")
        if not _has_int_id(message.get("chat")):
            raise ValueError("'message.chat' must be an object with an integer 'id'")
        if not isinstance(message.get("message_id"), int) or not isinstance(
            message.get("date"), int
        ):
            raise ValueError("'message' needs an integer 'message_id' and 'date'")
    if query is not None:
        if not isinstance(query, dict):
            raise ValueError("'callback_query' must be an object")
        if not isinstance(query.get("id"), str) or not _has_int_id(query.get("from")):
            raise ValueError("'callback_query' needs a string 'id' and a 'from' user")
        inner = query.get("message")
        if inner is not None and not _has_int_id(
            inner.get("chat") if isinstance(inner, dict) else None
        ):
            raise ValueError("'callback_query.message.chat' must be an object with an integer 'id'")


def parse_update(raw: bytes, bot: Bot | None) -> Update:
    """The body as an ``Update``; ValueError with a precise reason otherwise."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ValueError("request body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object (a Telegram Update)")
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ValueError("'update_id' must be an integer")
    _check_shape(data)
    try:
        return Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        where = f" ({exc})" if isinstance(exc, KeyError) else ""
        raise ValueError(f"not a valid Telegram Update: {type(exc).__name__}{where}") from None


@router.post("/webhooks/telegram", name="telegram_webhook")
async def telegram_webhook(request: Request, front_door: FrontDoorDep) -> Response:
    """Check the secret, store the update, then answer 200 (triage happens after)."""
    ok = _secret_ok(
        request.headers.get("x-telegram-bot-api-secret-token"),
        front_door.settings.telegram_webhook_secret,
    )
    if ok is None:
        log.warning("telegram webhook: refused, no secret token header")
        return error_response(401, "missing X-Telegram-Bot-Api-Secret-Token header")
    if not ok:
        log.warning("telegram webhook: refused, wrong secret token")
        return error_response(403, "wrong X-Telegram-Bot-Api-Secret-Token")
    try:
        raw = await read_body(request)
    except BodyTooLarge:
        log.warning("telegram webhook: refused, body too large")
        return too_large()
    sender = front_door.senders.get("telegram")
    try:
        update = parse_update(raw, sender.bot if isinstance(sender, TelegramSender) else None)
    except ValueError as exc:
        log.warning("telegram webhook: refused, %s (%d bytes)", exc, len(raw))
        return error_response(400, str(exc))
    try:
        outcome = accept_update(front_door, update)
    except MessageError as exc:
        log.warning("telegram update %d refused: %s", update.update_id, exc)
        return error_response(400, str(exc))
    return JSONResponse({"ok": True, "result": outcome})


# -- sender --------------------------------------------------------------------


def keyboard(choices: Sequence[Choice]) -> InlineKeyboardMarkup:
    """Choices as an inline keyboard; pressing one comes back as a callback query."""
    buttons = [InlineKeyboardButton(c.label, callback_data=c.data) for c in choices]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


def render(messages: Sequence[Outbound]) -> list[tuple[str, InlineKeyboardMarkup | None]]:
    """One turn as Telegram messages; each Outbound's keyboard goes on its last part."""
    out: list[tuple[str, InlineKeyboardMarkup | None]] = []
    for message in messages:
        parts = split_text(message.text, TELEGRAM_MAX_TEXT)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            out.append((part, keyboard(message.choices) if last and message.choices else None))
    return out


@dataclass
class _Pace:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    not_before: float = 0.0  # time.monotonic()


class TelegramSender:
    """Delivers a turn with ``sendMessage``, paced per chat."""

    def __init__(self, settings: Settings, *, min_interval: float = MIN_INTERVAL) -> None:
        self.bot = Bot(settings.telegram_bot_token or "", base_url=settings.telegram_api_base_url)
        # httpx logs every request URL at INFO, and Bot API URLs contain the token
        httpx_log = logging.getLogger("httpx")
        httpx_log.setLevel(max(httpx_log.level, logging.WARNING))
        self.min_interval = min_interval
        self._ready = False
        self._init_lock = asyncio.Lock()
        self._paces: dict[int, _Pace] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # messages already delivered per retry_key: a retry after a partial
        # failure resumes after them (Telegram has no idempotency key)
        self._progress: OrderedDict[str, int] = OrderedDict()

    async def ready(self) -> Bot:
        """The initialised ``Bot`` (``getMe`` once, then reused)."""
        if not self._ready:
            async with self._init_lock:
                if not self._ready:
                    await self.bot.initialize()
                    self._ready = True
        return self.bot

    async def send(
        self,
        resident_ref: str,
        messages: Sequence[Outbound],
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None:
        chat_id = int(resident_ref.partition(":")[2])
        try:
            bot = await self.ready()
        except TelegramError as exc:
            raise self._classify(exc, chat_id) from None
        done = self._progress.get(retry_key, 0)
        for index, (text, markup) in enumerate(render(messages)):
            if index < done:
                continue
            await self._send_one(bot, chat_id, text, markup)
            self._progress[retry_key] = index + 1
            self._progress.move_to_end(retry_key)
            while len(self._progress) > _PROGRESS_KEEP:
                self._progress.popitem(last=False)
        self._progress.pop(retry_key, None)

    def _pace(self, chat_id: int) -> _Pace:
        pace = self._paces.get(chat_id)
        if pace is None:
            if len(self._paces) > 1000:
                self._forget_idle()
            pace = self._paces[chat_id] = _Pace()
        return pace

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for chat, pace in list(self._paces.items()):
            if not pace.lock.locked() and pace.not_before < now - _PACE_KEEP:
                del self._paces[chat]

    async def _send_one(
        self, bot: Bot, chat_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        """One sendMessage, at least ``min_interval`` after this chat's previous one."""
        pace = self._pace(chat_id)
        async with pace.lock:
            wait = pace.not_before - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await bot.send_message(chat_id, text, reply_markup=markup)
            except TelegramError as exc:
                error = self._classify(exc, chat_id)
                retry_after = getattr(error, "retry_after", None)
                if retry_after:  # Telegram said how long this chat must wait
                    pace.not_before = time.monotonic() + retry_after
                elif isinstance(exc, TimedOut):  # it may have arrived all the same
                    pace.not_before = time.monotonic() + self.min_interval
                raise error from None
            # counted from the answer, so the next one reaches Telegram ≥ 1 s later
            pace.not_before = time.monotonic() + self.min_interval

    @staticmethod
    def _classify(exc: TelegramError, chat_id: int) -> TransientSendError | PermanentSendError:
        """Map a PTB error onto the outbox's retry policy (the message is Telegram's)."""
        detail = f"Telegram sendMessage: {type(exc).__name__}: {exc.message[:120]}"
        if isinstance(exc, RetryAfter):
            return TransientSendError(detail, retry_after=retry_after_seconds(exc))
        if isinstance(exc, Forbidden | BadRequest | ChatMigrated):
            return PermanentSendError(detail)  # blocked, chat gone, or a malformed request
        if isinstance(exc, InvalidToken):  # fixable by configuration: keep the rows
            return TransientSendError(detail + " (check TSUNAGU_TELEGRAM_BOT_TOKEN)")
        if isinstance(exc, TimedOut | NetworkError):
            return TransientSendError(detail)
        return TransientSendError(detail)

    # -- best-effort side calls (never fail a turn) ---------------------------

    def _background(self, what: str, call: Any) -> None:
        async def run() -> None:
            try:
                await call(await self.ready())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("telegram %s failed: %s", what, type(exc).__name__)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def answer_callback(self, callback_query_id: str) -> None:
        """Stop the button's spinner at once; the real answer follows as a message."""
        self._background(
            "answerCallbackQuery",
            lambda bot: bot.answer_callback_query(callback_query_id),
        )

    def show_typing(self, chat_id: int) -> None:
        """Show "typing…" while the engine prepares the reply."""
        self._background(
            "sendChatAction", lambda bot: bot.send_chat_action(chat_id, ChatAction.TYPING)
        )

    async def aclose(self) -> None:
        """Stop background calls and release the HTTP clients (app shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ready:
            await self.bot.shutdown()
            self._ready = False


def make_sender(settings: Settings) -> TelegramSender:
    return TelegramSender(settings)


# -- polling (trying Telegram without a public URL) ---------------------------


class PollingError(RuntimeError):
    """Polling cannot work as configured; the message says what to do."""


async def run_polling(
    app: FastAPI,
    *,
    stop: threading.Event | None = None,
    poll_timeout: float = 25.0,
    delete_webhook: bool = False,
) -> int:
    """Run the app's workers and feed ``getUpdates`` through ``accept_update``.

    An update is confirmed (the next offset) only after it was stored, so a
    crash re-fetches it and the intake drops the duplicate. Returns how many
    updates were accepted when ``stop`` is set.
    """
    front_door: FrontDoor = app.state.front_door
    accepted = 0
    async with app.router.lifespan_context(app):
        sender = front_door.senders.get("telegram")
        if not isinstance(sender, TelegramSender):
            raise PollingError(
                "Telegram is off: set TSUNAGU_TELEGRAM_BOT_TOKEN"
                " and TSUNAGU_TELEGRAM_WEBHOOK_SECRET"
            )
        try:
            bot = await sender.ready()
            if delete_webhook:
                await bot.delete_webhook()
        except InvalidToken:
            raise PollingError("Telegram rejected TSUNAGU_TELEGRAM_BOT_TOKEN") from None
        log.info("telegram polling as @%s", bot.username)
        offset: int | None = None
        pause = 1.0
        while stop is None or not stop.is_set():
            try:
                updates = await bot.get_updates(
                    offset=offset, timeout=int(poll_timeout), allowed_updates=ALLOWED_UPDATES
                )
            except Conflict:
                raise PollingError(
                    "getUpdates conflicts with an active webhook or another poller; "
                    "run with --delete-webhook or stop the other one"
                ) from None
            except RetryAfter as exc:
                await asyncio.sleep(retry_after_seconds(exc))
                continue
            except (TimedOut, NetworkError) as exc:
                log.warning("telegram getUpdates failed (%s); again in %.0fs", exc.message, pause)
                await asyncio.sleep(pause)
                pause = min(30.0, pause * 2)
                continue
            pause = 1.0
            for update in updates:
                try:
                    accepted += accept_update(front_door, update) == "accepted"
                except MessageError as exc:
                    log.warning("telegram update %d refused: %s", update.update_id, exc)
                offset = update.update_id + 1
            if not updates:
                await asyncio.sleep(0)
    return accepted
