"""The event store contract: an append-only, per-tenant, durable log of :class:`Event`.

Every implementation (``SqliteEventStore``, the in-memory fake in ``glasshouse.testing``) keeps the
same promises, which the shared contract tests check:

* ``append`` is atomic: the whole batch is stored or none of it is.
* Each tenant has its own sequence 1, 2, 3... with no gaps; the store assigns it and ignores the
  ``seq`` an event arrives with.
* When ``append`` returns, the events are durable.
* Reads name the tenant first and never return another tenant's events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, Protocol

from glasshouse.domain.events import EVENT_TYPES, Event, EventError, event_from_dict

# SQLite stores integers as signed 64-bit; keeping both stores to the same range keeps the fake
# honest about what the real store accepts.
MAX_TS: Final = 2**63 - 1


class EventStoreError(Exception):
    """The store refused an operation or could not perform it; the message says which and why."""


class EventStore(Protocol):
    """An append-only, per-tenant event log (the source of truth)."""

    def append(self, events: Sequence[Event]) -> list[Event]:
        """Atomically append ``events`` in order, assigning each tenant's next ``seq`` values.

        Returns the stored events with ``seq`` set; they are durable when this returns.
        """
        ...

    def read(self, tenant: str, after_seq: int = 0, limit: int | None = None) -> Iterator[Event]:
        """The tenant's events with ``seq > after_seq`` in ``seq`` order, at most ``limit``."""
        ...

    def last_seq(self, tenant: str) -> int:
        """The tenant's highest ``seq`` (0 when it has no events)."""
        ...

    def tenants(self) -> list[str]:
        """The tenants that have at least one event, sorted."""
        ...

    def close(self) -> None:
        """Release the store's resources; further calls raise :class:`EventStoreError`."""
        ...


def check_tenant(tenant: object) -> str:
    """Return ``tenant`` if it is a valid tenant name, else raise :class:`EventStoreError`."""
    if not isinstance(tenant, str) or not tenant:
        raise EventStoreError(f"tenant must be a non-empty string, got {tenant!r}")
    return tenant


def check_read_args(tenant: object, after_seq: object, limit: object) -> None:
    """Validate the arguments of :meth:`EventStore.read` (shared so both stores agree)."""
    check_tenant(tenant)
    if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
        raise EventStoreError(f"after_seq must be a non-negative integer, got {after_seq!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise EventStoreError(f"limit must be a non-negative integer or None, got {limit!r}")


def normalise_for_append(events: Sequence[Event]) -> list[tuple[Event, dict[str, Any]]]:
    """Validate a batch and return each event re-parsed from its JSON form, with that form.

    Re-parsing through :func:`event_from_dict` guarantees that whatever is stored can be read back
    (a log that cannot be read is lost), and copies mutable mappings the caller may still hold.
    Raises :class:`EventStoreError` naming the position of the first bad event.
    """
    out: list[tuple[Event, dict[str, Any]]] = []
    for index, event in enumerate(events):
        where = f"event {index} of the batch"
        if not isinstance(event, Event):
            raise EventStoreError(f"{where}: expected an Event, got {type(event).__name__}")
        body_cls = type(event.body)
        if EVENT_TYPES.get(getattr(body_cls, "TYPE", "")) is not body_cls:
            raise EventStoreError(f"{where}: {body_cls.__name__} is not a registered event type")
        if isinstance(event.ts, int) and not isinstance(event.ts, bool) and event.ts > MAX_TS:
            raise EventStoreError(f"{where}: field 'ts' is out of range ({event.ts})")
        try:
            if isinstance(event.tenant, str):
                # SQLite cannot store a string holding lone surrogates.
                event.tenant.encode("utf-8")
            form = event.to_dict()
            form["seq"] = 0
            parsed = event_from_dict(form, where)
        except EventError as exc:
            raise EventStoreError(str(exc)) from exc
        except (UnicodeEncodeError, TypeError, ValueError) as exc:
            raise EventStoreError(f"{where}: cannot be stored ({exc})") from exc
        out.append((parsed, form))
    return out
