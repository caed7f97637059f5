"""What a channel must provide so the outbox can deliver through it.

An adapter module (``bot/line.py``, ``bot/telegram.py``; the web chat is
``bot/webchat.py``) exposes:

- ``router``: a FastAPI ``APIRouter`` whose webhook verifies the request,
  turns it into ``bot.messages.Inbound`` events and stores them with
  ``bot.events.accept`` (or the ``Intake`` dependency) *before* answering 200;
- ``make_sender(settings) -> Sender``: the object the outbox worker calls.

``bot.app.create_app`` includes the router and registers the sender only
when the channel's credentials are set.

A sender raises ``TransientSendError`` for anything worth retrying (network
failure, 5xx, 429 with ``retry_after``) and ``PermanentSendError`` for what
never will succeed (blocked by the user, bad request); the outbox retries
the first with backoff and gives up on the second. ``retry_key`` is stable
across retries of the same outbox row: LINE uses it as ``X-Line-Retry-Key``
so a retried push is never delivered twice; the web chat uses it to store a
batch once. ``reply_token`` (a :class:`ReplyToken`) is given while the
event's token is fresh: a sender falls back to push when it is stale or
used, and then calls ``spent()`` so the outbox never offers it again. A
token offered again after an attempt whose outcome is unknown (a crash or a
timeout mid-reply) has ``tried`` set: "already used" then means our earlier
attempt delivered it, and pushing would deliver it twice.
Error messages are logged and stored: they say what failed (status code,
API error code), never what the message said.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .messages import Outbound


class SendError(Exception):
    """Delivery failed; subclasses say whether to try again."""


class TransientSendError(SendError):
    """Worth retrying later; ``retry_after`` (seconds) when the API said so."""

    def __init__(
        self, message: str = "transient send failure", *, retry_after: float | None = None
    ):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Will never succeed (blocked, unknown user, malformed): do not retry."""


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class ReplyToken:
    """A reply token as the outbox offers it (see the module docstring)."""

    value: str
    tried: bool = False
    spent: Callable[[], None] = field(default=_nothing, compare=False)


class Sender(Protocol):
    """Delivers one turn's messages (≤ 5) to one resident on one channel."""

    async def send(
        self,
        resident_ref: str,
        messages: Sequence[Outbound],
        *,
        reply_token: ReplyToken | None = None,
        retry_key: str,
    ) -> None: ...
