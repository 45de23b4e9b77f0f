"""Personal data in one SQLite file per data directory (``personal.db``, next to the event log).

Durability is the event log's: WAL mode, ``synchronous=FULL`` (``durability="power"``) or
``NORMAL`` (``"process"``: an acknowledged ``put`` survives ``kill -9``, a power cut may lose the
last ones). Several processes may share the file (the voice server writing, ``glasshouse
privacy`` erasing): writes take the write lock with ``BEGIN IMMEDIATE`` and wait for it up to
``busy_timeout_s``.

Erasure removes the bytes, not just the row: ``secure_delete`` overwrites deleted content with
zeros, and each erasure ends with a ``TRUNCATE`` checkpoint so the write-ahead log holding the
old pages is emptied. A reader of another process in the middle of a read can make that
checkpoint wait for the next erasure or the next automatic checkpoint; the row itself is gone
at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from types import TracebackType
from typing import Final

from glasshouse.adapters.personal.base import (
    PersonalStoreError,
    check_kind,
    check_ref,
    check_tenant,
    check_value,
    new_ref,
)
from glasshouse.adapters.sqlite_file import open_store_file

__all__ = ["STORE_FORMAT", "SqlitePersonalStore"]

# Version of the table layout (``PRAGMA user_version``).
STORE_FORMAT: Final = 1

_SCHEMA: Final = (
    """
    CREATE TABLE personal (
        tenant TEXT NOT NULL,
        ref TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (tenant, ref)
    ) WITHOUT ROWID
    """,
    # Erasure by value ("this customer's number") must not scan every tenant's data.
    "CREATE INDEX personal_by_value ON personal (tenant, value)",
)

# A fresh reference colliding with a stored one is a 2**-64 event; a few tries cover it.
_PUT_TRIES: Final = 4


class SqlitePersonalStore:
    """A durable :class:`~glasshouse.adapters.personal.base.PersonalStore` in a SQLite file.

    ``create=False`` refuses to create a missing file (for commands that only read or erase).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 30.0,
        create: bool = True,
        durability: str = "power",
    ) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = open_store_file(
            self.path,
            what="personal data store",
            schema=_SCHEMA,
            store_format=STORE_FORMAT,
            durability=durability,
            busy_timeout_s=busy_timeout_s,
            create=create,
            error=PersonalStoreError,
            pragmas=("PRAGMA secure_delete=ON",),
        )

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> SqlitePersonalStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlitePersonalStore({self.path!r})"

    # -- the PersonalStore protocol ----------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise PersonalStoreError(f"personal data store {self.path} is closed")
        return self._conn

    def put(self, tenant: str, kind: str, value: str) -> str:
        """Store ``value`` and return its new reference; durable on return."""
        check_tenant(tenant)
        check_kind(kind)
        check_value(value)
        with self._lock:
            conn = self._connection()
            for _ in range(_PUT_TRIES):
                ref = new_ref()
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        conn.execute(
                            "INSERT INTO personal VALUES (?, ?, ?, ?)", (tenant, ref, kind, value)
                        )
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                except sqlite3.IntegrityError:
                    continue  # the reference is taken: draw another
                except sqlite3.Error as exc:
                    raise PersonalStoreError(
                        f"personal data store {self.path}: storing a {kind} value for tenant "
                        f"{tenant!r} failed, nothing was written: {exc}"
                    ) from exc
                return ref
        raise PersonalStoreError(
            f"personal data store {self.path}: no free reference found in {_PUT_TRIES} draws"
        )

    def get(self, tenant: str, ref: str) -> str | None:
        """The value behind ``ref`` for ``tenant``, or None (erased, or never stored)."""
        check_tenant(tenant)
        check_ref(ref)
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute(
                    "SELECT value FROM personal WHERE tenant = ? AND ref = ?", (tenant, ref)
                ).fetchone()
            except sqlite3.Error as exc:
                raise PersonalStoreError(
                    f"personal data store {self.path}: read failed: {exc}"
                ) from exc
        return None if row is None else str(row[0])

    def erase_value(self, tenant: str, value: str) -> int:
        """Erase every reference of ``tenant`` to ``value``; return how many were erased."""
        check_tenant(tenant)
        check_value(value)
        return self._erase("tenant = ? AND value = ?", (tenant, value))

    def erase_ref(self, tenant: str, ref: str) -> bool:
        """Erase the value behind ``ref``; False when there was none."""
        check_tenant(tenant)
        check_ref(ref)
        return self._erase("tenant = ? AND ref = ?", (tenant, ref)) > 0

    def _erase(self, where: str, args: tuple[str, str]) -> int:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    erased = conn.execute(f"DELETE FROM personal WHERE {where}", args).rowcount
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                if erased:
                    # The old pages live on in the write-ahead log until it is checkpointed.
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                raise PersonalStoreError(
                    f"personal data store {self.path}: erasure failed: {exc}"
                ) from exc
        return int(erased)

    def close(self) -> None:
        """Close the connection. Idempotent; later calls on the store raise an error."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
