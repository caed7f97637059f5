"""Local stand-in for the LINE Messaging API (``https://api.line.me``), for line-bot-sdk v3.

Point the SDK at it with ``Configuration(host=stub.url, access_token=stub.access_token)``.
Behaviour copied from the platform because the adapter must handle it: reply tokens work once,
pushes with a repeated ``X-Line-Retry-Key`` answer 409, request bodies are validated (count of
messages, text length), every answer carries ``x-line-request-id``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import Response

from tests.stubs._core import RecordedRequest, StubBase, json_response
from tests.stubs.events import LINE_BOT_USER_ID, reply_token_info

if TYPE_CHECKING:
    from linebot.v3.messaging import Configuration

log = logging.getLogger(__name__)

INVALID_REPLY_TOKEN = "Invalid reply token"
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
INVALID_TO = "The property, 'to', in the request body is invalid (line: -, column: -)"
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
AUTH_MISSING = (
    "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
)
AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)

_ID_RE = re.compile(r"^[UCR][0-9a-f]{32}$")
_USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
_PROFILE_RE = re.compile(r"^/v2/bot/profile/([^/]+)$")
_CONTENT_RE = re.compile(r"^/v2/bot/message/([^/]+)/content$")
_QUOTABLE = {"text", "textV2", "sticker", "image", "video"}
_MESSAGE_TYPES = {
    "text",
    "textV2",
    "sticker",
    "image",
    "video",
    "audio",
    "location",
    "imagemap",
    "template",
    "flex",
}
# Smallest valid PNG (1x1), served as message content by default.
_PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class LineStub(StubBase):
    """The LINE Messaging API endpoints a chatbot uses, plus fault injection (see ``StubBase``).

    ``strict_reply_tokens``: reject tokens that were neither built by ``tests.stubs.events`` nor
    registered with ``register_reply_token`` (real LINE rejects tokens it did not issue).
    ``reply_token_ttl``: seconds after the event timestamp a token stays valid (LINE documents
    one minute); ``None`` disables expiry by age.
    ``validate_ids``: reject ``to``/``chatId`` that are not LINE IDs (``U``/``C``/``R`` + 32 hex).
    """

    DEFAULT_ACCESS_TOKEN = "tsunagu-test-line-channel-access-token"
    DEFAULT_CHANNEL_SECRET = "tsunagu-test-line-channel-secret"

    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        *,
        channel_secret: str = DEFAULT_CHANNEL_SECRET,
        strict_reply_tokens: bool = True,
        reply_token_ttl: float | None = None,
        validate_ids: bool = True,
        max_records: int = 50_000,
    ) -> None:
        super().__init__(max_records=max_records)
        self.access_token = access_token
        self.channel_secret = channel_secret
        self.strict_reply_tokens = strict_reply_tokens
        self.reply_token_ttl = reply_token_ttl
        self.validate_ids = validate_ids
        self._defaults = (strict_reply_tokens, reply_token_ttl, validate_ids)
        self._reply_owner: dict[str, str] = {}
        self._used_tokens: set[str] = set()
        self._stale_tokens: set[str] = set()
        self._retry_keys: dict[str, tuple[str, list[dict[str, str]]]] = {}
        self._profiles: dict[str, dict[str, str]] = {}
        self._missing_profiles: set[str] = set()
        self._contents: dict[str, tuple[bytes, str]] = {}

    # ------------------------------------------------------------------ conveniences
    def configuration(self) -> Configuration:
        """A real SDK ``Configuration`` pointing at this stub."""
        from linebot.v3.messaging import Configuration

        return Configuration(host=self.url, access_token=self.access_token)

    def sign(self, body: bytes | str) -> str:
        """``x-line-signature`` for ``body`` with this stub's channel secret."""
        from tests.stubs.events import sign_line_body

        return sign_line_body(body, self.channel_secret)

    # ------------------------------------------------------------------ programming state
    def register_reply_token(self, token: str, to: str) -> None:
        """Accept ``token`` once, replies landing in chat ``to`` (builders do this for you)."""
        with self._cond:
            self._reply_owner[token] = to

    def expire_reply_token(self, token: str) -> None:
        """Make ``token`` answer 400 "Invalid reply token" (expired or already used)."""
        with self._cond:
            self._stale_tokens.add(token)

    def set_profile(
        self,
        user_id: str,
        display_name: str,
        *,
        language: str | None = "ja",
        picture_url: str | None = None,
        status_message: str | None = None,
    ) -> None:
        profile = {"displayName": display_name, "userId": user_id}
        if picture_url:
            profile["pictureUrl"] = picture_url
        if status_message:
            profile["statusMessage"] = status_message
        if language:
            profile["language"] = language
        with self._cond:
            self._profiles[user_id] = profile
            self._missing_profiles.discard(user_id)

    def remove_profile(self, user_id: str) -> None:
        """``get_profile(user_id)`` answers 404 (user blocked the account / not a friend)."""
        with self._cond:
            self._profiles.pop(user_id, None)
            self._missing_profiles.add(user_id)

    def set_content(self, message_id: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Bytes served at ``/v2/bot/message/{message_id}/content`` (default: a 1x1 PNG)."""
        with self._cond:
            self._contents[message_id] = (data, content_type)

    def accepted_retry_keys(self) -> list[str]:
        with self._cond:
            return list(self._retry_keys)

    def _reset_state(self) -> None:
        self.strict_reply_tokens, self.reply_token_ttl, self.validate_ids = self._defaults
        self._reply_owner.clear()
        self._used_tokens.clear()
        self._stale_tokens.clear()
        self._retry_keys.clear()
        self._profiles.clear()
        self._missing_profiles.clear()
        self._contents.clear()

    # ------------------------------------------------------------------ pipeline hooks
    def _authorize(self, record: RecordedRequest) -> Response | None:
        auth = record.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return self._json({"message": AUTH_MISSING}, 401)
        if auth[7:] != self.access_token:
            return self._json({"message": AUTH_FAILED}, 401)
        return None

    def _error(self, status: int, retry_after: int | None, body: Any) -> Response:
        if body is None:
            if status == 429:
                body = {"message": RATE_LIMITED}
            elif status >= 500:
                body = {"message": "Internal server error"}
            else:
                body = {"message": "Bad request" if status == 400 else "Error"}
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return self._json(body, status, headers)

    async def _handle(self, record: RecordedRequest) -> Response:
        path, method = record.path, record.method
        if method == "POST":
            if path == "/v2/bot/message/reply":
                return self._reply(record)
            if path == "/v2/bot/message/push":
                return self._push(record)
            if path == "/v2/bot/message/multicast":
                return self._multicast(record)
            if path == "/v2/bot/chat/loading/start":
                return self._loading(record)
        elif method == "GET":
            if match := _PROFILE_RE.match(path):
                return self._profile(match.group(1))
            if match := _CONTENT_RE.match(path):
                return self._content(match.group(1))
            if path == "/v2/bot/info":
                return self._json(
                    {
                        "userId": LINE_BOT_USER_ID,
                        "basicId": "@123tsnag",
                        "displayName": "つなぐ",
                        "chatMode": "bot",
                        "markAsReadMode": "auto",
                    }
                )
        return self._json({"message": "Not found"}, 404)

    # ------------------------------------------------------------------ endpoints
    def _reply(self, record: RecordedRequest) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            return self._invalid([("must be specified", "replyToken")])
        problems = self._check_messages(body.get("messages"))
        if problems:
            return self._invalid(problems)
        with self._cond:
            usable, to = self._claim_reply_token(token)
            if not usable:
                return self._json({"message": INVALID_REPLY_TOKEN}, 400)
            sent = self._sent_messages(body["messages"])
        for message in body["messages"]:
            self._deliver(record, to, "reply", message)
        return self._json({"sentMessages": sent})

    def _claim_reply_token(self, token: str) -> tuple[bool, str | None]:
        """(usable, chat the reply lands in); a usable token is marked used."""
        if token in self._used_tokens or token in self._stale_tokens:
            return False, None
        owner = self._reply_owner.get(token)
        if owner is None:
            info = reply_token_info(token)
            if info is not None:
                if self.reply_token_ttl is not None and (
                    time.time() - info.timestamp_ms / 1000 > self.reply_token_ttl
                ):
                    return False, None
                owner = info.to
        if owner is None and self.strict_reply_tokens:
            log.warning(
                "LINE stub: unknown reply token %r; build events with "
                "tests.stubs.events or call register_reply_token()",
                token,
            )
            return False, None
        self._used_tokens.add(token)
        return True, owner

    def _push(self, record: RecordedRequest) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        to = body.get("to")
        if not isinstance(to, str) or (self.validate_ids and not _ID_RE.match(to)):
            return self._json({"message": INVALID_TO}, 400)
        problems = self._check_messages(body.get("messages"))
        if problems:
            return self._invalid(problems)
        return self._accept_with_retry_key(record, [to], "push", body["messages"])

    def _multicast(self, record: RecordedRequest) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        recipients = body.get("to")
        if (
            not isinstance(recipients, list)
            or not 1 <= len(recipients) <= 500
            or not all(isinstance(r, str) for r in recipients)
            or (self.validate_ids and not all(_USER_ID_RE.match(r) for r in recipients))
        ):
            return self._invalid([("Size must be between 1 and 500", "to")])
        problems = self._check_messages(body.get("messages"))
        if problems:
            return self._invalid(problems)
        return self._accept_with_retry_key(record, recipients, "multicast", body["messages"])

    def _accept_with_retry_key(
        self,
        record: RecordedRequest,
        recipients: list[str],
        kind: str,
        messages: list[dict[str, Any]],
    ) -> Response:
        """Deliver once per retry key; a repeat gets 409 naming the accepted request."""
        retry_key = record.headers.get("x-line-retry-key")
        request_id = str(uuid.uuid4())
        if retry_key is not None:
            try:
                uuid.UUID(retry_key)
            except ValueError:
                return self._json(
                    {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}, 400
                )
        with self._cond:
            sent = self._sent_messages(messages)
            if retry_key is not None:
                previous = self._retry_keys.get(retry_key)
                if previous is not None:
                    accepted_id, accepted_sent = previous
                    body: dict[str, Any] = {"message": RETRY_KEY_ACCEPTED}
                    if kind == "push":
                        body["sentMessages"] = accepted_sent
                    return self._json(
                        body, 409, {"x-line-accepted-request-id": accepted_id}, request_id
                    )
                self._retry_keys[retry_key] = (request_id, sent)
        for to in recipients:
            for message in messages:
                self._deliver(record, to, kind, message)
        return self._json({"sentMessages": sent} if kind == "push" else {}, request_id=request_id)

    def _loading(self, record: RecordedRequest) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        chat_id = body.get("chatId")
        if not isinstance(chat_id, str) or (self.validate_ids and not _USER_ID_RE.match(chat_id)):
            return self._invalid([("must be a valid user ID", "chatId")])
        seconds = body.get("loadingSeconds", 20)
        if not isinstance(seconds, int) or not 5 <= seconds <= 60 or seconds % 5:
            return self._invalid([("must be a multiple of 5 between 5 and 60", "loadingSeconds")])
        return self._json({}, 202)

    def _profile(self, user_id: str) -> Response:
        with self._cond:
            if user_id in self._missing_profiles:
                return self._json({"message": "Not found"}, 404)
            profile = self._profiles.get(user_id)
        if profile is None:
            profile = {
                "displayName": "LINE利用者",
                "userId": user_id,
                "pictureUrl": f"https://profile.line-scdn.net/{user_id[1:]}",
                "language": "ja",
            }
        return self._json(profile)

    def _content(self, message_id: str) -> Response:
        with self._cond:
            data, content_type = self._contents.get(message_id, (_PNG_1X1, "image/png"))
        return Response(
            data, media_type=content_type, headers={"x-line-request-id": str(uuid.uuid4())}
        )

    # ------------------------------------------------------------------ helpers
    def _check_messages(self, messages: Any) -> list[tuple[str, str]]:
        """Validation errors LINE reports for the ``messages`` array (as message, property)."""
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return [("Size must be between 1 and 5", "messages")]
        problems: list[tuple[str, str]] = []
        for i, message in enumerate(messages):
            where = f"messages[{i}]"
            if not isinstance(message, dict) or message.get("type") not in _MESSAGE_TYPES:
                problems.append(("must be one of the message types", f"{where}.type"))
                continue
            if message["type"] in ("text", "textV2"):
                text = message.get("text")
                if not isinstance(text, str) or not text:
                    problems.append(("must be specified", f"{where}.text"))
                elif _utf16_len(text) > 5000:
                    problems.append(("Length must be between 0 and 5000", f"{where}.text"))
            if message["type"] in ("template", "flex") and not message.get("altText"):
                problems.append(("must be specified", f"{where}.altText"))
            quick = message.get("quickReply")
            if isinstance(quick, dict):
                items = quick.get("items")
                if not isinstance(items, list) or not 1 <= len(items) <= 13:
                    problems.append(("Size must be between 1 and 13", f"{where}.quickReply.items"))
        return problems

    @staticmethod
    def _sent_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        sent = []
        for message in messages:
            item = {"id": str(secrets.randbelow(9 * 10**17) + 10**17)}
            if message.get("type") in _QUOTABLE:
                item["quoteToken"] = secrets.token_urlsafe(66)
            sent.append(item)
        return sent

    def _invalid(self, problems: list[tuple[str, str]]) -> Response:
        return self._json(
            {
                "message": f"The request body has {len(problems)} error(s)",
                "details": [{"message": m, "property": p} for m, p in problems],
            },
            400,
        )

    @staticmethod
    def _json(
        body: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
        request_id: str | None = None,
    ) -> Response:
        all_headers = {"x-line-request-id": request_id or str(uuid.uuid4())}
        if headers:
            all_headers.update(headers)
        return json_response(body, status, all_headers)
