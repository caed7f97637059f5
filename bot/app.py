"""The FastAPI app factory: one app serves every channel, the web chat and health.

``create_app`` opens the database (loading the bundled sample KB into an
empty one), applies every package's migrations, starts triage (in a child
process by default, so the event loop answers webhooks while it works) and
assembles the front door; the lifespan starts the two workers, which first resume
whatever a previous run left pending (crash recovery).

Channel adapters plug in here: for each channel whose credentials are set,
the module in ``ADAPTERS`` is imported and must expose ``router`` (its
webhook) and ``make_sender(settings)`` (see ``bot.channels``). A channel
without credentials is off and the log says so; the web chat is always on.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import handoff
from handoff.staff import staff_count
from knowledge import KnowledgeStore, open_database
from triage import TriageError, TriageProcess, open_triage

from . import admin, auditlog, inbox, security, webchat
from . import events as events_mod
from . import migrations as bot_migrations
from . import outbox as outbox_mod
from .channels import Sender
from .conversation import Assessor, Clock, Conversation, system_clock
from .events import EventWorker, Intake
from .followups import FollowUpWorker
from .frontdoor import FrontDoor
from .outbox import Backoff, OutboxWorker
from .runtime import open_store
from .settings import Settings
from .storage import StorageError, reason

log = logging.getLogger(__name__)

#: channel → the adapter module that provides ``router`` and ``make_sender``.
ADAPTERS: dict[str, str] = {"line": "bot.line", "telegram": "bot.telegram"}


def channel_status(settings: Settings) -> dict[str, bool]:
    """Which channels have credentials (the web chat needs none)."""
    return {"line": settings.line_enabled, "telegram": settings.telegram_enabled, "web": True}


def _load_adapter(channel: str) -> Any | None:
    module_name = ADAPTERS[channel]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        log.warning(
            "%s: credentials are set but the adapter %s is not installed: off", channel, module_name
        )
        return None


def create_app(
    settings: Settings,
    *,
    now: Clock | None = None,
    triage: Assessor | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """Build the app. ``now`` injects the clock (tests); ``triage`` a shared engine (tests).

    ``freeze_gc`` (the server process, not a test process that builds many
    apps) moves what start-up built out of the collector's reach.
    """
    clock: Clock = now or system_clock
    store = open_store(settings, check_same_thread=False)
    db = store.db
    try:
        bot_migrations.migrate(db)
        handoff.migrate(db)
    except sqlite3.Error as exc:
        db.conn.close()
        raise StorageError(
            f"cannot migrate the database {settings.db_path}: {reason(exc)}"
        ) from None
    process: TriageProcess | None = None
    if triage is None and settings.triage_process:
        # its own process and connection; the executor thread only waits on it
        process = TriageProcess(
            settings.db_path,
            settings.embedder,
            settings.index_dir,
            nice=settings.triage_nice,
            threads=settings.triage_threads,
        )
        process.start()
        triage = process
    elif triage is None:
        # triage runs in the executor thread: it gets its own connection
        triage_store = KnowledgeStore(open_database(settings.db_path, check_same_thread=False))
        triage = open_triage(triage_store, settings.embedder, settings.index_dir)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage")
    conversation = Conversation(db, triage, settings, now=clock)
    senders: dict[str, Sender] = {"web": webchat.WebChatSender(db)}
    outbox = OutboxWorker(
        db,
        senders,
        clock=lambda: clock().timestamp(),
        backoff=Backoff(
            base=settings.outbox_backoff_seconds,
            cap=settings.outbox_backoff_max_seconds,
            max_attempts=settings.outbox_max_attempts,
        ),
    )
    events = EventWorker(db, conversation, executor, on_replies=outbox.wake)
    intake = Intake(db, now=clock, wake=events.wake)
    followups = FollowUpWorker(
        db, clock=clock, every=settings.follow_up_check_seconds, on_queued=outbox.wake
    )
    front_door = FrontDoor(
        settings=settings,
        db=db,
        now=clock,
        conversation=conversation,
        intake=intake,
        events=events,
        outbox=outbox,
        executor=executor,
        senders=senders,
        channels=channel_status(settings),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pending_events = events_mod.pending_count(db)
        pending_out = outbox_mod.pending_count(db)
        if pending_events or pending_out:
            log.info(
                "resuming %d pending events and %d pending outbox rows", pending_events, pending_out
            )
        # replies queued before a crash go out while the model is still loading: a LINE
        # reply retried inside its token's minute is delivered exactly once
        for sender in senders.values():
            open_sender = getattr(sender, "open", None)
            if open_sender is not None:
                await open_sender()
        outbox.start()
        try:
            if process is not None:
                try:
                    await asyncio.get_running_loop().run_in_executor(None, process.wait_ready)
                except TriageError as exc:
                    log.error("triage could not start: %s", exc)
                    raise
            events.start()
            followups.start()
            if freeze_gc:
                # what start-up built lives as long as the process: out of the collector's
                # full passes, which otherwise stalled every request for 100-250 ms at a time
                gc.collect()
                gc.freeze()
            yield
        finally:
            await followups.stop()
            await events.stop()
            await outbox.stop()
            for sender in senders.values():
                close = getattr(sender, "aclose", None)
                if close is not None:
                    await close()
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
            if process is not None:
                process.close()

    # no /docs, /redoc or /openapi.json: nothing public but the residents' and platforms' routes
    app = FastAPI(
        title="tsunagu", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.front_door = front_door
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness plus the backlog, so a monitor sees a stuck worker."""
        return {
            "status": "ok",
            "channels": front_door.channels,
            "pending_events": events_mod.pending_count(db),
            "pending_outbox": outbox_mod.pending_count(db),
        }

    # the webhooks first: routes are matched in order, and they take the traffic
    for channel in ("line", "telegram"):
        if not front_door.channels[channel]:
            log.info("%s: off (no credentials)", channel)
            continue
        adapter = _load_adapter(channel)
        if adapter is None:
            front_door.channels[channel] = False
            continue
        app.include_router(adapter.router)
        senders[channel] = adapter.make_sender(settings)
        log.info("%s: on", channel)
    app.include_router(webchat.router)
    inbox.install(app)
    admin.install(app)
    app.include_router(auditlog.router)
    security.install(app, settings)
    if staff_count(db) == 0:
        log.warning(
            "staff inbox: no staff accounts yet (there is no default password); create one with"
            " `tsunagu staff add NAME --role admin`, then log in at /inbox"
        )
    log.info("web chat: on")
    return app
