"""The LINE adapter: a thin layer over line-bot-sdk v3.

Webhook (``POST /webhooks/line``): the signature is checked on the raw body
with the SDK's ``WebhookParser`` before anything else is looked at; each
event becomes an ``Inbound`` keyed by its ``webhookEventId`` and is stored
through the ``Intake`` before we answer 200, so a redelivered event is a
no-op and an acknowledged one survives a crash. Nothing here decides what
to say: the engine does, after the ack.

Group and room chats: the resident is keyed by the *user* who wrote
(``line:U…``), so one person's consultation is theirs wherever they type.
The reply token answers in the chat the event came from (the group); a
fallback push goes to the user's 1:1 chat, never into the group, which is
also the safer place for anything personal. Without a user id (LINE omits
it for some clients) the group itself is the resident, so the message is
still answered. Standby-mode events (another module owns the chat) are
left alone.

Sender: the reply token first (valid once, ~1 minute); when it is stale,
used or absent, a push carrying ``X-Line-Retry-Key`` so a retried push is
never delivered twice (409 means LINE already has it). Quick-reply choices
become LINE quick reply buttons; texts are split on sentence boundaries to
LINE's 5,000 UTF-16 units and sent ≤ 5 per request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import aiohttp
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException
from linebot.v3.models.events import UnknownEvent
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
)
from linebot.v3.webhooks import models as webhook_models

from .channels import PermanentSendError, ReplyToken, SendError, TransientSendError
from .deps import FrontDoorDep
from .messages import Inbound, InboundKind, MessageError, Outbound
from .settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["line"])

#: Webhook bodies above this are refused (LINE's are a few KB).
MAX_BODY_BYTES = 1_000_000
#: LINE's limits per text message (UTF-16 code units) and per request.
LINE_MAX_TEXT = 5000
LINE_MAX_MESSAGES = 5
#: How long the loading animation may show; a reply ends it sooner.
LOADING_SECONDS = 10
#: The animation is a courtesy: with this many requests for it already in
#: flight (a burst the API cannot keep up with), a new event goes without.
LOADING_IN_FLIGHT_MAX = 16
#: Per-request timeout for LINE API calls, seconds.
API_TIMEOUT = 10.0
#: Progress of multi-request rows kept in memory (see ``LineSender.send``).
_PROGRESS_KEEP = 10_000

_HANDLED_TYPES = {"message", "follow", "unfollow", "postback"}
_KNOWN_MESSAGE_TYPES = {"text", "image", "video", "audio", "file", "location", "sticker"}
_SENTENCE_END = re.compile(r"(?<=[。．！？!?…])|(?<=[.;:])(?=\s)")


# -- shared small helpers (the Telegram adapter uses them too) ---------------


class BodyTooLarge(Exception):
    """The request body is over the limit."""


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(status: int, message: str) -> JSONResponse:
    """A webhook error: what was wrong, never what the body said."""
    return JSONResponse({"error": message}, status_code=status)


def too_large() -> JSONResponse:
    return error_response(413, f"request body is over {MAX_BODY_BYTES:,} bytes")


def utf16_len(text: str) -> int:
    """Length as LINE and Telegram count it (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of ≤ ``limit`` UTF-16 units, cutting cleanly.

    Prefers a paragraph break, then a line break, then the end of a
    sentence (。！？ or . ! ? before a space), then any space; only a text
    without any of these is cut mid-run. Nothing is dropped.
    """
    parts: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        window = _prefix_within(rest, limit)
        cut = _best_cut(window)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest.strip():
        parts.append(rest)
    return parts or [text]


def _prefix_within(text: str, limit: int) -> str:
    """The longest prefix of ``text`` that is ≤ ``limit`` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _best_cut(window: str) -> int:
    """Where to cut ``window`` (an index > 0), by the preference of ``split_text``."""
    floor = len(window) // 3  # never leave a tiny first part for a far-away break
    for sep in ("\n\n", "\n"):
        at = window.rfind(sep)
        if at > floor:
            return at + len(sep)
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if floor < m.end() < len(window)]
    if ends:
        return ends[-1]
    at = max(window.rfind(" "), window.rfind("　"))
    if at > floor:
        return at + 1
    return len(window)


# -- webhook -------------------------------------------------------------------


@lru_cache(maxsize=4)
def _parser(channel_secret: str) -> Any:
    return WebhookParser(channel_secret)


@dataclass(frozen=True)
class LineEvent:
    """One webhook event turned into what the engine needs, plus delivery facts."""

    inbound: Inbound
    redelivery: bool
    #: the user of a 1:1 chat, for the loading animation (None in groups/rooms)
    chat_user: str | None
    detail: str  # e.g. "message/text" or "postback", for the log


class BodyError(ValueError):
    """A signed body we cannot use; the message says exactly what is wrong."""


@router.post("/webhooks/line", name="line_webhook")
async def line_webhook(request: Request, front_door: FrontDoorDep) -> Response:
    """Verify, store every event, then answer 200 (triage happens after)."""
    signature = request.headers.get("x-line-signature")
    if not signature:
        log.warning("line webhook: refused, no X-Line-Signature header")
        return error_response(400, "missing X-Line-Signature header")
    try:
        raw = await read_body(request)
    except BodyTooLarge:
        log.warning("line webhook: refused, body over %d bytes", MAX_BODY_BYTES)
        return too_large()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("line webhook: refused, body is not UTF-8 (%d bytes)", len(raw))
        return error_response(400, "request body is not UTF-8")
    secret = front_door.settings.line_channel_secret or ""
    try:
        payload = _parser(secret).parse(text, signature, as_payload=True)
    except InvalidSignatureError:
        log.warning("line webhook: refused, invalid signature (%d bytes)", len(raw))
        return error_response(401, "invalid X-Line-Signature")
    except Exception as exc:
        problem = describe_body_problem(text, exc)
        log.warning("line webhook: refused, %s (%d bytes)", problem, len(raw))
        return error_response(400, problem)
    try:
        events = to_events(payload.events, json.loads(text)["events"])
    except BodyError as exc:
        log.warning("line webhook: refused, %s (%d bytes)", exc, len(raw))
        return error_response(400, str(exc))

    fresh: list[bool] = []
    current = ""
    try:
        # all of the body's events or none: a refused one must not leave the others stored
        with front_door.db.atomic():
            for event in events:
                current = event.inbound.channel_event_id
                fresh.append(front_door.intake.accept(event.inbound))
    except MessageError as exc:
        log.warning("line webhook: refused, event %s: %s (nothing stored)", current, exc)
        return error_response(400, f"event {current}: {exc}")
    sender = front_door.senders.get("line")
    for event, new in zip(events, fresh, strict=True):
        log.info(
            "line event %s %s (%d chars)%s → %s",
            event.inbound.channel_event_id,
            event.detail,
            len(event.inbound.text),
            " redelivery" if event.redelivery else "",
            "accepted" if new else "duplicate",
        )
        if new and event.chat_user is not None and isinstance(sender, LineSender):
            sender.show_loading(event.chat_user)
    accepted = sum(fresh)
    duplicates = len(fresh) - accepted
    ignored = len(payload.events) - len(events)
    return JSONResponse({"accepted": accepted, "duplicates": duplicates, "ignored": ignored})


def to_events(parsed: Sequence[Any], raw_events: Sequence[Any]) -> list[LineEvent]:
    """The events the engine handles; others (join, unsend, standby…) are skipped."""
    out: list[LineEvent] = []
    for index, (event, raw) in enumerate(zip(parsed, raw_events, strict=True)):
        converted = _convert(index, event, raw)
        if converted is None:
            log.info(
                "line event %s (%s, mode %s) ignored",
                getattr(event, "webhook_event_id", "?"),
                getattr(event, "type", "?"),
                _mode(event),
            )
        else:
            out.append(converted)
    return out


def _mode(event: Any) -> str:
    mode = getattr(event, "mode", None)
    return str(getattr(mode, "value", mode))


def _convert(index: int, event: Any, raw: dict[str, Any]) -> LineEvent | None:
    if isinstance(event, UnknownEvent) and event.type in _HANDLED_TYPES:
        if not _is_new_message_type(raw):
            raise BodyError(_validation_problem(index, raw))
    elif not isinstance(event, MessageEvent | FollowEvent | UnfollowEvent | PostbackEvent):
        return None
    if _mode(event) != "active":
        return None
    who = _resident_id(raw.get("source"))
    if who is None:
        return None
    resident_id, one_to_one = who
    kind: InboundKind
    text = data = ""
    if isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
        kind, text, detail = "text", event.message.text, "message/text"
    elif isinstance(event, MessageEvent | UnknownEvent):
        kind = "non_text"
        detail = f"message/{raw.get('message', {}).get('type', '?')}"
    elif isinstance(event, PostbackEvent):
        kind, data, detail = "postback", event.postback.data, "postback"
    elif isinstance(event, FollowEvent):
        kind, detail = "follow", "follow"
    else:
        kind, detail = "unfollow", "unfollow"
    reply_token = raw.get("replyToken") if isinstance(raw.get("replyToken"), str) else None
    inbound = Inbound(
        resident_ref=f"line:{resident_id}",
        kind=kind,
        channel_event_id=event.webhook_event_id,
        text=text,
        data=data,
        reply_token=reply_token,
    )
    wants_loading = one_to_one and kind in ("text", "postback", "non_text")
    return LineEvent(
        inbound=inbound,
        redelivery=bool(event.delivery_context.is_redelivery),
        chat_user=resident_id if wants_loading else None,
        detail=detail,
    )


def _resident_id(source: Any) -> tuple[str, bool] | None:
    """(id the resident is keyed by, whether this is a 1:1 chat); the source is verified."""
    if not isinstance(source, dict):
        return None
    user = source.get("userId")
    user = user if isinstance(user, str) and user else None
    if source.get("type") == "user":
        return (user, True) if user else None
    chat = source.get("groupId") or source.get("roomId")
    if user:
        return user, False
    return (chat, False) if isinstance(chat, str) and chat else None


def _is_new_message_type(raw: dict[str, Any]) -> bool:
    """A message event whose content type the SDK does not know yet: still a message."""
    message = raw.get("message")
    return (
        raw.get("type") == "message"
        and isinstance(message, dict)
        and isinstance(message.get("type"), str)
        and message["type"] not in _KNOWN_MESSAGE_TYPES
        and isinstance(message.get("id"), str)
    )


_EVENT_CLASSES = {
    "message": "MessageEvent",
    "follow": "FollowEvent",
    "unfollow": "UnfollowEvent",
    "postback": "PostbackEvent",
}


def _validation_problem(index: int, raw: dict[str, Any]) -> str:
    """Which fields of event ``index`` are missing or invalid (names only, no values)."""
    event_type = str(raw.get("type"))
    klass = getattr(webhook_models, _EVENT_CLASSES.get(event_type, "Event"))
    try:
        klass.from_dict(raw)
    except Exception as exc:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in errors()})
            return f"events[{index}] ({event_type}): missing or invalid {', '.join(fields)}"
        return f"events[{index}] ({event_type}): {type(exc).__name__}"
    return f"events[{index}] ({event_type}): unexpected shape"


def describe_body_problem(text: str, exc: Exception) -> str:
    """A precise reason a signed body could not be parsed (the SDK's own is vague)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as err:
        return f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}"
    except RecursionError:
        return "malformed JSON: nested too deeply"
    if not isinstance(body, dict):
        return "the body must be a JSON object with an 'events' list"
    events = body.get("events")
    if not isinstance(events, list):
        return "'events' must be a list"
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            return f"events[{index}] must be an object"
        if not isinstance(event.get("type"), str):
            return f"events[{index}] has no 'type'"
    for index, event in enumerate(events):
        problem = _validation_problem(index, event)
        if not problem.endswith("unexpected shape"):
            return problem
    return f"unexpected body ({type(exc).__name__})"


# -- sender ------------------------------------------------------------------


def quick_reply(choices: Sequence[Any]) -> Any:
    """Choices as LINE quick reply buttons: postbacks that also show the label as said."""
    return QuickReply(
        items=[
            QuickReplyItem(
                action=PostbackAction(label=c.label[:20], data=c.data, display_text=c.label)
            )
            for c in choices[:13]
        ]
    )


def render(messages: Sequence[Outbound]) -> list[Any]:
    """One turn as LINE text messages; each Outbound's buttons go on its last part."""
    out: list[Any] = []
    for message in messages:
        parts = split_text(message.text, LINE_MAX_TEXT)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            quick = quick_reply(message.choices) if last and message.choices else None
            out.append(TextMessage(text=part, quick_reply=quick))
    return out


def batch_retry_key(retry_key: str, batch: int) -> str:
    """The retry key of a row's n-th request: stable across retries, distinct per request."""
    if batch == 0:
        return retry_key
    return str(uuid.uuid5(uuid.UUID(retry_key), f"batch-{batch}"))


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _api_message(exc: ApiException) -> str:
    """LINE's error ``message`` (e.g. "Invalid reply token"); it never echoes our text."""
    try:
        body = json.loads(exc.body or b"{}")
    except (ValueError, TypeError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:120] if message else ""


def classify(exc: ApiException, what: str) -> SendError:
    """Map a LINE API error onto the outbox's retry policy."""
    status = int(exc.status or 0)
    detail = f"LINE {what}: HTTP {status}"
    message = _api_message(exc)
    if message:
        detail += f" {message}"
    if status == 429 or status >= 500 or status == 0:
        return TransientSendError(detail, retry_after=_retry_after(exc))
    if status == 401:  # a wrong or expired access token: fixable, so keep the rows
        return TransientSendError(detail + " (check TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN)")
    return PermanentSendError(detail)


def _is_invalid_reply_token(exc: ApiException) -> bool:
    return exc.status == 400 and "reply token" in _api_message(exc).lower()


class LineSender:
    """Delivers a turn through the Messaging API (async SDK client, one per app)."""

    def __init__(self, settings: Settings) -> None:
        self.configuration = Configuration(
            host=settings.line_api_base_url.rstrip("/"),
            access_token=settings.line_channel_access_token,
        )
        self._client: Any = None
        self._api: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loading: dict[str, asyncio.Task[None]] = {}
        # batches already delivered per retry_key, so a retry after a partial
        # failure does not resend what arrived (LINE dedups pushes; not replies)
        self._progress: OrderedDict[str, int] = OrderedDict()

    async def open(self) -> None:
        """Create the SDK client at start-up, so the first resident does not wait for it."""
        self.api()

    def api(self) -> Any:
        """The SDK client, created on first use inside the running event loop."""
        if self._api is None:
            self._client = AsyncApiClient(self.configuration)
            self._api = AsyncMessagingApi(self._client)
        return self._api

    async def send(
        self,
        resident_ref: str,
        messages: Sequence[Outbound],
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None:
        to = resident_ref.partition(":")[2]
        loading = self._loading.get(to)
        if loading is not None and not loading.done():
            # a late animation request would start the animation after our reply
            await asyncio.wait({loading}, timeout=API_TIMEOUT / 2)
        rendered = render(messages)
        batches = [
            rendered[i : i + LINE_MAX_MESSAGES] for i in range(0, len(rendered), LINE_MAX_MESSAGES)
        ]
        done = self._progress.get(retry_key, 0)
        for index, batch in enumerate(batches):
            if index < done:
                continue
            if index == 0 and reply_token is not None and await self._reply(reply_token, batch):
                pass
            else:
                await self._push(to, batch, batch_retry_key(retry_key, index))
            self._remember(retry_key, index + 1)
        self._progress.pop(retry_key, None)

    def _remember(self, retry_key: str, batches_done: int) -> None:
        self._progress[retry_key] = batches_done
        self._progress.move_to_end(retry_key)
        while len(self._progress) > _PROGRESS_KEEP:
            self._progress.popitem(last=False)

    async def _reply(self, token: ReplyToken, batch: list[Any]) -> bool:
        """True when the batch reached the resident by this token (now or by an earlier try).

        False when the token is stale or used by nobody but LINE's clock: push instead.
        """
        try:
            await self.api().reply_message(
                ReplyMessageRequest(reply_token=token.value, messages=batch),
                _request_timeout=API_TIMEOUT,
            )
        except ApiException as exc:
            if _is_invalid_reply_token(exc):
                if token.tried:
                    log.info("LINE reply token used by our earlier attempt: already delivered")
                    return True
                log.info("LINE reply token stale or used: pushing instead")
                token.spent()
                return False
            raise classify(exc, "reply") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientSendError(f"LINE reply: {type(exc).__name__}") from None
        return True

    async def _push(self, to: str, batch: list[Any], retry_key: str) -> None:
        try:
            await self.api().push_message(
                PushMessageRequest(to=to, messages=batch),
                x_line_retry_key=retry_key,
                _request_timeout=API_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 409:  # this retry key was accepted before: delivered
                log.info("LINE push: retry key already accepted, not sent again")
                return
            raise classify(exc, "push") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientSendError(f"LINE push: {type(exc).__name__}") from None

    def show_loading(self, user_id: str) -> None:
        """Start the loading animation in a 1:1 chat, in the background, best effort.

        Skipped in a burst (LOADING_IN_FLIGHT_MAX calls pending) or while this
        resident's animation request is still on its way: the webhook's own work,
        storing the event and answering 200, must not queue behind courtesies.
        """
        pending = self._loading.get(user_id)
        if len(self._loading) >= LOADING_IN_FLIGHT_MAX or (
            pending is not None and not pending.done()
        ):
            log.debug("LINE loading animation skipped (%d in flight)", len(self._loading))
            return
        task = asyncio.get_running_loop().create_task(self._show_loading(user_id))
        self._tasks.add(task)
        self._loading[user_id] = task

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if self._loading.get(user_id) is finished:
                del self._loading[user_id]

        task.add_done_callback(done)

    async def _show_loading(self, user_id: str) -> None:
        try:
            await self.api().show_loading_animation(
                ShowLoadingAnimationRequest(chat_id=user_id, loading_seconds=LOADING_SECONDS),
                _request_timeout=API_TIMEOUT / 2,
            )
        except asyncio.CancelledError:
            raise
        except ApiException as exc:
            log.info("LINE loading animation not shown: HTTP %s", exc.status)
        except Exception as exc:  # best effort: never fails a turn
            log.info("LINE loading animation not shown: %s", type(exc).__name__)

    async def aclose(self) -> None:
        """Stop background calls and close the HTTP session (app shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = self._api = None


def make_sender(settings: Settings) -> LineSender:
    return LineSender(settings)
