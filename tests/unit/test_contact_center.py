from __future__ import annotations

import pytest

from glasshouse.domain.acd import Acd, AgentSpec, InvalidTransition, QueueSpec
from glasshouse.domain.events import Event
from glasshouse.service.contact_center import ContactCenter
from glasshouse.testing.memory_store import MemoryEventStore


def test_events_are_stored_before_listeners_see_them() -> None:
    store = MemoryEventStore()
    center = ContactCenter(Acd("acme"), store)
    seen: list[list[Event]] = []
    center.subscribe(
        lambda batch: seen.append([e for e in batch if store.last_seq("acme") >= e.seq])
    )
    center.run(Acd.configure_queue, QueueSpec("sales"), 0)
    center.run(Acd.configure_agent, AgentSpec("a1"), 0)
    center.run(Acd.login, "a1", 1, ready=True)
    stored = center.run(Acd.enqueue, "c1", "sales", 2)
    assert [e.type for e in stored] == ["contact.queued", "contact.offered"]
    assert [e.seq for e in stored] == [6, 7]
    assert [e.type for e in store.read("acme")][-2:] == ["contact.queued", "contact.offered"]
    assert seen[-1] == stored


def test_refused_command_appends_nothing() -> None:
    store = MemoryEventStore()
    center = ContactCenter(Acd("acme"), store)
    center.run(Acd.configure_agent, AgentSpec("a1"), 0)
    before = store.last_seq("acme")
    with pytest.raises(InvalidTransition):
        center.run(Acd.logout, "a1", 1)
    assert store.last_seq("acme") == before
