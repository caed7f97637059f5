"""The assembled front door: what the app's routes and workers share.

``bot.app.create_app`` builds one and keeps it on ``app.state.front_door``;
routes reach it through ``bot.deps``. Everything that touches the database
runs on the event loop thread (async routes, the workers); only triage
runs in the executor, on its own connection.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import sqlite_utils

from .channels import Sender
from .conversation import Clock, Conversation
from .events import EventWorker, Intake
from .outbox import OutboxWorker
from .settings import Settings


@dataclass
class FrontDoor:
    settings: Settings
    db: sqlite_utils.Database
    now: Clock
    conversation: Conversation
    intake: Intake
    events: EventWorker
    outbox: OutboxWorker
    executor: ThreadPoolExecutor
    senders: dict[str, Sender] = field(default_factory=dict)
    channels: dict[str, bool] = field(default_factory=dict)
