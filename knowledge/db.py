"""Opening the one SQLite file every package shares (WAL, foreign keys)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils


def open_database(path: Path | str, *, check_same_thread: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite database in WAL mode.

    WAL lets the web workers read while the background worker writes;
    ``busy_timeout`` makes concurrent writers wait instead of failing.
    ``":memory:"`` is accepted for throwaway use.
    """
    if str(path) == ":memory:":
        conn = sqlite3.connect(
            ":memory:", check_same_thread=check_same_thread, isolation_level=None
        )
    else:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            str(p), check_same_thread=check_same_thread, timeout=30, isolation_level=None
        )
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return sqlite_utils.Database(conn)
