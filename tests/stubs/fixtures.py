"""pytest fixtures ``line_stub`` and ``telegram_stub`` (register: ``pytest_plugins``).

One server per platform per session (starting uvicorn costs ~0.1 s), reset before each test
so no test sees another's requests, faults, tokens or queued updates.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stubs.line_api import LineStub
from tests.stubs.telegram_api import TelegramStub


@pytest.fixture(scope="session")
def _line_stub_server() -> Iterator[LineStub]:
    with LineStub() as stub:
        yield stub


@pytest.fixture(scope="session")
def _telegram_stub_server() -> Iterator[TelegramStub]:
    with TelegramStub() as stub:
        yield stub


@pytest.fixture
def line_stub(_line_stub_server: LineStub) -> Iterator[LineStub]:
    """A running LINE Messaging API stub in its initial state; ``.url``, ``.configuration()``."""
    _line_stub_server.reset()
    yield _line_stub_server
    _line_stub_server.reset()


@pytest.fixture
def telegram_stub(_telegram_stub_server: TelegramStub) -> Iterator[TelegramStub]:
    """A running Telegram Bot API stub in its initial state; ``.base_url``, ``.bot()``."""
    _telegram_stub_server.reset()
    yield _telegram_stub_server
    _telegram_stub_server.reset()
