"""An in-memory event store for unit tests, with the same contract as the SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from types import TracebackType

from glasshouse.adapters.eventstore.base import (
    EventStoreError,
    check_read_args,
    check_tenant,
    normalise_for_append,
)
from glasshouse.domain.events import Event


class MemoryEventStore:
    """A fake :class:`~glasshouse.adapters.eventstore.base.EventStore` that keeps events in a dict.

    It validates, sequences and isolates exactly like ``SqliteEventStore`` (the shared contract
    tests run against both); only durability differs: everything is gone once the object is.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, list[Event]] = {}
        self._closed = False

    def __enter__(self) -> MemoryEventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise EventStoreError("memory event store is closed")

    def append(self, events: Sequence[Event]) -> list[Event]:
        prepared = normalise_for_append(events)
        with self._lock:
            self._check_open()
            # Sequence the whole batch before touching the logs, so a batch is all-or-nothing.
            next_seq = {tenant: len(log) + 1 for tenant, log in self._logs.items()}
            stored: list[Event] = []
            for event, _ in prepared:
                seq = next_seq.get(event.tenant, 1)
                next_seq[event.tenant] = seq + 1
                stored.append(event.with_seq(seq))
            for event in stored:
                self._logs.setdefault(event.tenant, []).append(event)
        return stored

    def read(self, tenant: str, after_seq: int = 0, limit: int | None = None) -> Iterator[Event]:
        check_read_args(tenant, after_seq, limit)
        with self._lock:
            self._check_open()
            # seq n lives at index n - 1: the log has no gaps.
            log = self._logs.get(tenant, [])
            end = len(log) if limit is None else min(len(log), after_seq + limit)
            snapshot = log[after_seq:end]
        return iter(snapshot)

    def last_seq(self, tenant: str) -> int:
        check_tenant(tenant)
        with self._lock:
            self._check_open()
            return len(self._logs.get(tenant, ()))

    def tenants(self) -> list[str]:
        with self._lock:
            self._check_open()
            return sorted(self._logs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
