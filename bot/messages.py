"""Channel-neutral messages: what comes in from a resident and what goes out.

Adapters (LINE, Telegram, web chat) turn their own payloads into an
``Inbound`` and render an ``Outbound`` as their own buttons (LINE quick
replies, Telegram inline keyboards, web buttons). The engine never sees a
channel's payload, so one state machine serves every channel.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Literal

InboundKind = Literal["text", "postback", "follow", "unfollow", "non_text", "start"]
INBOUND_KINDS: tuple[str, ...] = ("text", "postback", "follow", "unfollow", "non_text", "start")
CHANNELS: tuple[str, ...] = ("line", "telegram", "web")

#: LINE's limits, the strictest of our channels (Telegram allows 4,096 chars,
#: so its adapter splits a long text; ours never exceed 5,000).
MAX_TEXT = 5000
MAX_MESSAGES = 5
MAX_CHOICES = 13
MAX_LABEL = 20
#: Telegram's callback_data limit, in bytes.
MAX_DATA_BYTES = 64
#: What we accept from a resident in one message before saying it is too long.
MAX_INBOUND_TEXT = 20000


class MessageError(ValueError):
    """A message that breaks a channel limit or our own format."""


def channel_of(resident_ref: str) -> str:
    """``line:U123`` → ``line``; raises MessageError for an unknown channel."""
    channel, sep, rest = resident_ref.partition(":")
    if not sep or not rest or channel not in CHANNELS:
        raise MessageError(
            f"resident_ref must be '<channel>:<id>' with channel one of {', '.join(CHANNELS)}"
        )
    return channel


@dataclass(frozen=True)
class Inbound:
    """One thing a resident did on a channel, as the engine sees it."""

    resident_ref: str
    kind: InboundKind
    channel_event_id: str
    # what the resident wrote never appears in a repr (and so in no log or traceback)
    text: str = field(default="", repr=False)
    data: str = field(default="", repr=False)
    reply_token: str | None = field(default=None, repr=False)
    received_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        channel_of(self.resident_ref)
        if self.kind not in INBOUND_KINDS:
            raise MessageError(f"unknown kind {self.kind!r}; use one of {', '.join(INBOUND_KINDS)}")
        if not self.channel_event_id:
            raise MessageError("channel_event_id is required (it makes redelivery harmless)")

    @property
    def channel(self) -> str:
        return channel_of(self.resident_ref)


@dataclass(frozen=True)
class Choice:
    """A button: what the resident sees, and what comes back when pressed."""

    label: str
    data: str

    def __post_init__(self) -> None:
        if not self.label or len(self.label) > MAX_LABEL:
            raise MessageError(f"choice label must be 1–{MAX_LABEL} characters: {self.label!r}")
        if not self.data or len(self.data.encode("utf-8")) > MAX_DATA_BYTES:
            raise MessageError(f"choice data must be 1–{MAX_DATA_BYTES} bytes: {self.data!r}")


@dataclass(frozen=True)
class Outbound:
    """One message to a resident; choices are shown under it as buttons."""

    text: str
    choices: tuple[Choice, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise MessageError("an outbound message needs text")
        if len(self.text) > MAX_TEXT:
            raise MessageError(f"outbound text is {len(self.text)} chars; the limit is {MAX_TEXT}")
        if len(self.choices) > MAX_CHOICES:
            raise MessageError(f"{len(self.choices)} choices; the limit is {MAX_CHOICES}")

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "choices": [[c.label, c.data] for c in self.choices]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outbound:
        return cls(
            text=str(data["text"]),
            choices=tuple(Choice(str(label), str(value)) for label, value in data["choices"]),
        )


def dump_batch(messages: list[Outbound]) -> str:
    """Serialise one turn's messages for the outbox table."""
    return json.dumps([m.to_json() for m in messages], ensure_ascii=False)


def load_batch(payload: str) -> list[Outbound]:
    """The inverse of ``dump_batch``."""
    return [Outbound.from_json(item) for item in json.loads(payload)]


def fit(messages: list[Outbound]) -> list[Outbound]:
    """Make one turn fit the channels: ≤ MAX_MESSAGES, each ≤ MAX_TEXT chars.

    Templates are short, so this rarely does anything; when it does, it joins
    the tail into the last message (keeping the last message's buttons) rather
    than dropping anything.
    """
    out = list(messages)
    while len(out) > MAX_MESSAGES:
        a, b = out[-2], out[-1]
        joined = f"{a.text}\n\n{b.text}"
        if len(joined) > MAX_TEXT:
            joined = joined[: MAX_TEXT - 1] + "…"
        out[-2:] = [Outbound(joined, b.choices)]
    return out
