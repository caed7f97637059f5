"""The data directory at start: writable, with room, and a database that is whole or absent.

Before anything opens the database, ``check_data_dir`` creates the directory
and writes, syncs and removes a small probe file in it, so a read-only or
full disk (or a file where the directory should be) stops the start with an
error that names the path, instead of a traceback halfway through.

A new database is built whole in ``tsunagu.db.new`` (every migration, the
sample KB) and only renamed to ``tsunagu.db`` once complete, so a start that
fails part-way (disk full) never leaves a half-made database behind; the
next start simply builds it again. An existing database is migrated in
place: each migration is its own transaction.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from knowledge import open_database

log = logging.getLogger(__name__)

#: bytes written by the probe: a few pages, enough to see a disk that is already full
PROBE_BYTES = 64 * 1024
PROBE_NAME = ".tsunagu-write-probe"
NEW_SUFFIX = ".new"


class StorageError(Exception):
    """The data directory or database cannot be used; the message names the path and why."""


def reason(exc: BaseException) -> str:
    """Why an OS or SQLite error happened, in words an operator can act on."""
    code = getattr(exc, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if code == errno.EFBIG:
        return "the file size limit was reached (disk full or ulimit -f)"
    if code == errno.EROFS:
        return "the file system is read-only"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied (read-only?)"
    if code in (errno.ENOTDIR, errno.EEXIST):
        return "a file is in the way where a directory should be"
    if isinstance(exc, sqlite3.Error):
        message = str(exc)
        if "full" in message:
            return "the disk is full"
        if "readonly" in message or "read-only" in message:
            return "the database is read-only"
        if "not a database" in message:
            return "the file is not a tsunagu database (damaged?)"
        return f"SQLite: {message}"
    return os.strerror(code) if isinstance(code, int) else type(exc).__name__


def check_data_dir(path: Path) -> None:
    """Create ``path`` if needed and prove that it takes a write; StorageError otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the data directory {path}: {reason(exc)}") from None
    if not path.is_dir():
        raise StorageError(f"the data directory {path} is not a directory")
    probe = path / PROBE_NAME
    try:
        with probe.open("wb") as f:
            f.write(b"\0" * PROBE_BYTES)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        raise StorageError(f"cannot write to the data directory {path}: {reason(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _remove(db_path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(OSError):
            Path(str(db_path) + suffix).unlink()


def create_database(db_path: Path, build: Callable[[sqlite_utils.Database], None]) -> None:
    """Build a new database whole beside ``db_path``, then rename it into place.

    ``build`` applies the migrations and loads the first data. On any failure
    the partial file is removed and StorageError says where and why.
    """
    tmp = db_path.with_name(db_path.name + NEW_SUFFIX)
    _remove(tmp)  # a leftover of an earlier failed start
    try:
        db = open_database(tmp)
        try:
            build(db)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.conn.close()
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, db_path)
        directory = os.open(db_path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except (OSError, sqlite3.Error) as exc:
        _remove(tmp)
        raise StorageError(f"cannot create the database {db_path}: {reason(exc)}") from None
    except BaseException:
        _remove(tmp)
        raise
    log.info("created the database %s", db_path)


def open_checked(db_path: Path, *, check_same_thread: bool = True) -> sqlite_utils.Database:
    """Open an existing database, turning SQLite's complaints into a StorageError."""
    try:
        db = open_database(db_path, check_same_thread=check_same_thread)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the database {db_path}: {reason(exc)}") from None
    return db
