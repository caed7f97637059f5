"""A background loop that drains a table, woken early when there is work.

Both workers (inbound events, outbox) are asyncio tasks inside the app's
lifespan: ``run_once`` does one batch and returns how much it did; the loop
sleeps until woken or until ``idle`` seconds pass, so work that became due
(a retry after backoff) is picked up without anyone waking it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


def error_summary(exc: BaseException) -> str:
    """Exception class and stack frames, without the message.

    Messages can echo their input (pydantic does), and input is what a
    resident wrote: it must never reach a log or an error column.
    """
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = " < ".join(
        f"{f.name}@{f.filename.rsplit('/', 1)[-1]}:{f.lineno}" for f in reversed(frames)
    )
    return f"{type(exc).__name__} at {where}" if where else type(exc).__name__


class Worker(ABC):
    """Start, wake and stop one draining loop."""

    name = "worker"
    idle = 1.0

    def __init__(self) -> None:
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @abstractmethod
    async def run_once(self) -> int:
        """Do one batch of due work; return how many items were handled."""

    async def step(self) -> int:
        """What the loop runs each pass: ``run_once`` unless a worker dispatches."""
        return await self.run_once()

    async def on_stop(self) -> None:  # noqa: B027 (an optional hook, empty by default)
        """Hook: end what the worker started besides its loop."""

    def wake(self) -> None:
        """There may be new work: stop sleeping (a no-op until started)."""
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Start the loop on the running event loop (the app's lifespan)."""
        if self._task is not None and not self._task.done():
            raise RuntimeError(f"{self.name} is already running")
        self._stopping = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.on_stop()

    def sleep_for(self) -> float:
        """How long to sleep when idle (subclasses may know when work is due)."""
        return self.idle

    async def _loop(self) -> None:
        log.info("%s started", self.name)
        wake = self._wake
        assert wake is not None
        while not self._stopping:
            wake.clear()  # before the pass: a wake during it is kept
            try:
                done = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the loop alive; the next pass retries
                log.error("%s pass failed: %s", self.name, error_summary(exc))
                done = 0
            if done:
                await asyncio.sleep(0)  # let the webhooks in between batches
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self.sleep_for())
