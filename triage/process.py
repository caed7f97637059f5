"""The triage engine in a process of its own, behind the same small interface.

Why a process: ``assess`` is CPU work, and in the server's process it holds
the GIL between the encoder's calls, so every webhook ack queued behind it
(at 200 events/s acks took seconds). In a child process the server's event
loop keeps its core and the interpreter lock to itself; the child runs at a
lower priority, so under overload replies slow down before acks do.

The child opens the KB database itself and ``assess`` re-reads the KB when
its version changes, so admin edits reach it without any message from us.
A child that dies (a crash on some input, the OOM killer) is replaced on the
next call; the call that saw it die raises :class:`TriageUnavailable`, and
the caller retries as it would any failure.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .assessment import Assessment
from .errors import TriageError

log = logging.getLogger(__name__)
#: the child's log lines look like the server's (``tsunagu serve``)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_PR_SET_PDEATHSIG = 1
_engine: Any = None  # the child's Triage


class TriageUnavailable(TriageError):
    """The triage process died during a call; a new one starts on the next call."""


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL us when the server dies, so no orphan outlives a crash."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the pool's pipes still end us
        pass


def _start(
    db_path: str,
    embedder: str,
    index_dir: str | None,
    nice: int,
    threads: int,
    parent: int,
    level: int,
) -> None:
    """Pool initializer, in the child: open the KB and the engine once."""
    global _engine
    # a spawned child starts with logging unset: log like the server (an index rebuilt at
    # start must say so), to the same stderr
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server shuts us down, not Ctrl-C
    if nice:
        os.nice(nice)
    from knowledge import KnowledgeStore, open_database

    from .engine import open_triage

    store = KnowledgeStore(open_database(Path(db_path)))
    _engine = open_triage(store, embedder, Path(index_dir) if index_dir else None)
    if threads:
        # the encoder's OpenMP runtime is loaded by now; the server keeps the other core
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="openmp")


def _assess(text: str) -> Assessment:
    result: Assessment = _engine.assess(text)
    return result


def _refresh() -> bool:
    return _engine.refresh() is not None


def _ready() -> int:
    return os.getpid()


class TriageProcess:
    """``assess`` and ``refresh`` of a Triage living in a child process."""

    def __init__(
        self,
        db_path: Path,
        embedder: str = "e5-small",
        index_dir: Path | None = None,
        *,
        nice: int = 5,
        threads: int = 1,
    ) -> None:
        self._args = (str(db_path), embedder, str(index_dir) if index_dir else None, nice, threads)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._starting: Future[int] | None = None
        self.pid: int | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent has threads and native libraries loaded
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(*self._args, os.getpid(), logging.getLogger().getEffectiveLevel()),
        )

    def _call(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            pool = self._pool
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            log.error("triage process died during a call; a new one starts on the next call")
            raise TriageUnavailable("the triage process died") from exc

    def start(self) -> None:
        """Start the child; it loads the model and the index while the caller goes on."""
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            self._starting = self._pool.submit(_ready)

    def wait_ready(self) -> None:
        """Block until the child's engine is ready; its start-up errors are raised here."""
        if self._starting is None:
            self.start()
        assert self._starting is not None
        try:
            self.pid = int(self._starting.result())
        except BrokenProcessPool as exc:
            raise TriageUnavailable("the triage process could not start") from exc
        log.info("triage: running in process %d", self.pid)

    def assess(self, text: str) -> Assessment:
        result: Assessment = self._call(_assess, text)
        return result

    def refresh(self) -> bool:
        """Bring the child's index up to the KB now (it would on the next assess anyway)."""
        return bool(self._call(_refresh))

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
