"""The event log in one SQLite file: WAL mode, ``synchronous=FULL``, one table.

Durability: in WAL mode with ``synchronous=FULL`` SQLite syncs the write-ahead log on every commit,
so an acknowledged append survives the process being killed and (on storage that honours
flushes) the machine losing power. ``durability="process"`` (``synchronous=NORMAL``) keeps the
first guarantee and drops the second: a commit is in the write-ahead log, hence in the operating
system's hands, before the append returns, so ``kill -9`` loses nothing, but a power cut may lose
the last transactions. It saves an fsync per append, which is what a voice server appending a
few events per SIP message needs; run it on a host whose power and storage are protected.

Concurrency: every append runs in ``BEGIN IMMEDIATE``, which takes the database's write lock
before the next ``seq`` is read, so several processes appending to the same file (even for the
same tenant) stay gap-free and ordered; a waiting writer retries for ``busy_timeout_s``.

Threads: one store holds one connection, shared by all threads behind a lock. A ``sqlite3``
connection must not be used by two threads at once, SQLite serialises writers anyway, and a single
connection is one that :meth:`SqliteEventStore.close` can actually close (per-thread connections
would stay open in threads that have finished with the store). Reads are paged, and the lock is
released between pages, so a slow consumer of :meth:`SqliteEventStore.read` never blocks writers.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Final

from glasshouse.adapters.eventstore.base import (
    EventStoreError,
    check_read_args,
    check_tenant,
    normalise_for_append,
)
from glasshouse.adapters.sqlite_file import open_store_file
from glasshouse.domain.events import SCHEMA_VERSION, Event, EventError, event_from_dict

# Version of the table layout (``PRAGMA user_version``), not of the event schema (column ``v``).
STORE_FORMAT: Final = 1

_READ_PAGE: Final = 1000

# One encoder for every append: json.dumps with options builds a new encoder per call.
_ENCODE: Final = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode

_SCHEMA: Final = """
CREATE TABLE events (
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq > 0),
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    v INTEGER NOT NULL,
    test INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID
"""

# DISTINCT over the whole table would scan every event; this walks the primary key from one tenant
# to the next, one index seek per tenant.
_TENANTS: Final = """
WITH RECURSIVE t(name) AS (
    SELECT MIN(tenant) FROM events
    UNION ALL
    SELECT (SELECT MIN(tenant) FROM events WHERE tenant > t.name) FROM t WHERE t.name IS NOT NULL
)
SELECT name FROM t WHERE name IS NOT NULL
"""


class SqliteEventStore:
    """A durable :class:`~glasshouse.adapters.eventstore.base.EventStore` in a SQLite file.

    ``create=False`` refuses to create a missing file (for commands that only read).
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
            what="event store",
            schema=(_SCHEMA,),
            store_format=STORE_FORMAT,
            durability=durability,
            busy_timeout_s=busy_timeout_s,
            create=create,
            error=EventStoreError,
        )

    # -- context manager ---------------------------------------------------------------------

    def __enter__(self) -> SqliteEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteEventStore({self.path!r})"

    # -- the EventStore protocol -------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise EventStoreError(f"event store {self.path} is closed")
        return self._conn

    def append(self, events: Sequence[Event]) -> list[Event]:
        """Atomically append ``events``; durable on return. See ``EventStore.append``."""
        prepared = normalise_for_append(events)
        if not prepared:
            with self._lock:
                self._connection()
            return []
        # Serialise outside the lock: only the seq assignment and the insert need it.
        payloads = [(_ENCODE(form["data"]), event) for event, form in prepared]
        tenants = list(dict.fromkeys(event.tenant for event, _ in prepared))
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    next_seq: dict[str, int] = {}
                    for tenant in tenants:
                        row = conn.execute(
                            "SELECT MAX(seq) FROM events WHERE tenant = ?", (tenant,)
                        ).fetchone()
                        next_seq[tenant] = (row[0] or 0) + 1
                    stored: list[Event] = []
                    rows: list[tuple[str, int, int, str, int, int, str]] = []
                    for data, event in payloads:
                        seq = next_seq[event.tenant]
                        next_seq[event.tenant] = seq + 1
                        stored.append(event.with_seq(seq))
                        rows.append(
                            (
                                event.tenant,
                                seq,
                                event.ts,
                                event.type,
                                SCHEMA_VERSION,
                                int(event.test),
                                data,
                            )
                        )
                    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise EventStoreError(
                    f"event store {self.path}: append of {len(prepared)} event(s) failed, "
                    f"nothing was written: {exc}"
                ) from exc
        return stored

    def read(self, tenant: str, after_seq: int = 0, limit: int | None = None) -> Iterator[Event]:
        """The tenant's events after ``after_seq`` in seq order. See ``EventStore.read``."""
        check_read_args(tenant, after_seq, limit)
        self._connection()  # fail now, not at the first next(), if the store is closed
        return self._read(tenant, after_seq, limit)

    def _read(self, tenant: str, after_seq: int, limit: int | None) -> Iterator[Event]:
        remaining = limit
        while remaining is None or remaining > 0:
            page = _READ_PAGE if remaining is None else min(_READ_PAGE, remaining)
            with self._lock:
                conn = self._connection()
                try:
                    rows = conn.execute(
                        "SELECT seq, ts, type, v, test, data FROM events "
                        "WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?",
                        (tenant, after_seq, page),
                    ).fetchall()
                except sqlite3.Error as exc:
                    raise EventStoreError(f"event store {self.path}: read failed: {exc}") from exc
            for seq, ts, type_name, v, test, data in rows:
                yield self._decode(tenant, seq, ts, type_name, v, test, data)
            if len(rows) < page:
                return
            after_seq = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def _decode(
        self, tenant: str, seq: int, ts: int, type_name: str, v: int, test: int, data: str
    ) -> Event:
        where = f"event store {self.path}: tenant {tenant!r} seq {seq}"
        try:
            return event_from_dict(
                {
                    "v": v,
                    "tenant": tenant,
                    "seq": seq,
                    "ts": ts,
                    "type": type_name,
                    "data": json.loads(data),
                    "test": bool(test),
                },
                where,
            )
        except json.JSONDecodeError as exc:
            raise EventStoreError(f"{where}: stored data is not valid JSON ({exc})") from exc
        except EventError as exc:
            raise EventStoreError(f"stored event is invalid: {exc}") from exc

    def last_seq(self, tenant: str) -> int:
        check_tenant(tenant)
        with self._lock:
            conn = self._connection()
            try:
                row = conn.execute(
                    "SELECT MAX(seq) FROM events WHERE tenant = ?", (tenant,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise EventStoreError(f"event store {self.path}: read failed: {exc}") from exc
        return int(row[0] or 0)

    def tenants(self) -> list[str]:
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute(_TENANTS).fetchall()
            except sqlite3.Error as exc:
                raise EventStoreError(f"event store {self.path}: read failed: {exc}") from exc
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        """Close the connection. Idempotent; later calls on the store raise EventStoreError."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
