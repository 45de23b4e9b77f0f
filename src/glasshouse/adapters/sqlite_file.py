"""Opening one of the product's SQLite files (the event log, the personal-data store): WAL mode,
the chosen ``synchronous`` level, the table layout created once and its format checked.

Both stores open their file the same way and differ only in their name (for messages), their
tables and extra pragmas, so the opening lives here once.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["SYNCHRONOUS", "open_store_file"]

# What an acknowledged write survives: "power" a power cut as well as a killed process.
SYNCHRONOUS: Final = {"power": "FULL", "process": "NORMAL"}


def open_store_file(
    path: str,
    *,
    what: str,
    schema: Sequence[str],
    store_format: int,
    durability: str,
    busy_timeout_s: float,
    create: bool,
    error: Callable[[str], Exception],
    pragmas: Sequence[str] = (),
) -> sqlite3.Connection:
    """A connection to the store ``what`` (e.g. "event store") at ``path``: in WAL mode, with the
    ``durability``'s synchronous level and ``pragmas``, its ``schema`` created in a new file.
    Every refusal is ``error(message)`` naming the file: a missing file with ``create=False``,
    a file system without WAL, another program's database, another format, an unknown
    ``durability``."""
    if durability not in SYNCHRONOUS:
        raise error(f"durability must be one of {', '.join(SYNCHRONOUS)}, got {durability!r}")
    in_memory = path == ":memory:"
    if not create and not in_memory and not os.path.exists(path):
        raise error(f"no {what} at {path}")
    try:
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout_s,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE ... COMMIT
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise error(f"cannot open {what} {path}: {exc}") from exc
    try:
        # Switching a new file to WAL needs an exclusive lock, and SQLite reports a concurrent
        # opener's lock as "database is locked" at once instead of waiting on the busy timeout:
        # retry for as long as the busy timeout allows.
        deadline = time.monotonic() + busy_timeout_s
        delay = 0.005
        while True:
            try:
                _set_up(conn, path, what, schema, store_format, SYNCHRONOUS[durability], pragmas)
                return conn
            except _Refused as refused:
                raise error(str(refused)) from None
            except sqlite3.Error as exc:
                locked = isinstance(exc, sqlite3.OperationalError) and (
                    "locked" in str(exc) or "busy" in str(exc)
                )
                if not locked or time.monotonic() >= deadline:
                    raise error(f"cannot open {what} {path}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
    except BaseException:
        conn.close()
        raise


class _Refused(Exception):
    """The file is not one this store can use (the message says why)."""


def _set_up(
    conn: sqlite3.Connection,
    path: str,
    what: str,
    schema: Sequence[str],
    store_format: int,
    synchronous: str,
    pragmas: Sequence[str],
) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if path != ":memory:" and str(mode).lower() != "wal":
        raise _Refused(
            f"{what} {path}: the file system does not support WAL mode "
            f"(journal mode is {mode!r}); durability cannot be guaranteed"
        )
    conn.execute(f"PRAGMA synchronous={synchronous}")
    for pragma in pragmas:
        conn.execute(pragma)
    # Concurrent first opens of a new file race to create the tables; the write lock makes
    # exactly one of them do it.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            others = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if others:
                raise _Refused(f"{path} is a SQLite database but not a Glasshouse {what}")
            for statement in schema:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={store_format}")
        elif version != store_format:
            raise _Refused(
                f"{what} {path} has format {version}; this version of Glasshouse reads "
                f"format {store_format}"
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
