"""The contact-centre use case: run an ACD command, append its events to the tenant's log,
then hand them to whoever acts on them.

This is the rule "the event log is the source of truth" in code: nothing the engine decides
reaches an adapter (a ringing phone, a wall display) before it is durable in the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, ParamSpec

from glasshouse.adapters.eventstore.base import EventStore
from glasshouse.domain.acd import Acd
from glasshouse.domain.events import Event

P = ParamSpec("P")

Listener = Callable[[list[Event]], None]


class ContactCenter:
    """One tenant's ACD bound to its event log."""

    def __init__(self, acd: Acd, store: EventStore) -> None:
        self.acd = acd
        self.store = store
        self._listeners: list[Listener] = []

    @property
    def tenant(self) -> str:
        return self.acd.tenant

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with every batch of stored events (with their sequence numbers)."""
        self._listeners.append(listener)

    def run(
        self, command: Callable[Concatenate[Acd, P], list[Event]], *args: P.args, **kwargs: P.kwargs
    ) -> list[Event]:
        """``center.run(Acd.enqueue, "c1", "sales", now)``: run the command on this tenant's
        ACD, append what it caused, notify listeners, and return the stored events. A refused
        command raises its :class:`AcdError` and appends nothing."""
        events = command(self.acd, *args, **kwargs)
        if not events:
            return []
        stored = self.store.append(events)
        for listener in self._listeners:
            listener(stored)
        return stored
