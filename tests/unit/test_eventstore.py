"""Contract tests for every EventStore (SQLite and the in-memory fake), plus SQLite specifics."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from glasshouse.adapters.eventstore.base import MAX_TS, EventStore, EventStoreError
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.domain.events import (
    EVENT_TYPES,
    AgentConfigured,
    AgentLoggedIn,
    ContactArrived,
    ContactQueued,
    Event,
    EventBody,
)
from glasshouse.testing.memory_store import MemoryEventStore

StoreFactory = Callable[[], EventStore]


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores of one kind; for SQLite every store opened shares one file (like processes
    sharing a database), for memory each call returns the same fake."""
    opened: list[EventStore] = []
    memory = MemoryEventStore()

    def factory() -> EventStore:
        store: EventStore = (
            memory if request.param == "memory" else SqliteEventStore(tmp_path / "events.db")
        )
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> EventStore:
    return make_store()


def arrived(tenant: str, ts: int, n: int) -> Event:
    return Event(tenant=tenant, ts=ts, body=ContactArrived(contact_id=f"c{n}"))


def non_default_body(cls: type[EventBody]) -> EventBody:
    """An instance of ``cls`` with every field set to a value that differs from its default."""
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if hint is str:
            kwargs[f.name] = f"{f.name}-{cls.TYPE}"
        elif hint is bool:
            kwargs[f.name] = not default
        elif hint is int:
            kwargs[f.name] = (default or 0) + 7
        else:
            kwargs[f.name] = {"en": 3, "fr": 1}
    body = cls(**kwargs)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(body, f.name) != f.default, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert getattr(body, f.name) != f.default_factory(), f.name
    return body


# ---------------------------------------------------------------------------------------------
# The contract


def test_an_empty_store_has_no_tenants_and_no_events(store: EventStore) -> None:
    assert store.tenants() == []
    assert store.last_seq("acme") == 0
    assert list(store.read("acme")) == []
    assert store.append([]) == []


def test_append_assigns_contiguous_seq_per_tenant_and_returns_stored_events(
    store: EventStore,
) -> None:
    first = store.append([arrived("acme", 1000, n) for n in range(3)])
    assert [e.seq for e in first] == [1, 2, 3]
    assert [e.body for e in first] == [ContactArrived(f"c{n}") for n in range(3)]
    second = store.append([arrived("acme", 2000, n) for n in range(3, 5)])
    assert [e.seq for e in second] == [4, 5]
    assert store.last_seq("acme") == 5
    assert list(store.read("acme")) == first + second


def test_the_incoming_seq_is_ignored(store: EventStore) -> None:
    stored = store.append([arrived("acme", 1, 1).with_seq(42), arrived("acme", 2, 2).with_seq(7)])
    assert [e.seq for e in stored] == [1, 2]


def test_a_mixed_batch_sequences_each_tenant_on_its_own(store: EventStore) -> None:
    store.append([arrived("beta", 5, 0)])
    stored = store.append([arrived("acme", 10, 1), arrived("beta", 10, 2), arrived("acme", 11, 3)])
    assert [(e.tenant, e.seq) for e in stored] == [("acme", 1), ("beta", 2), ("acme", 2)]
    assert store.tenants() == ["acme", "beta"]
    assert [e.body for e in store.read("acme")] == [ContactArrived("c1"), ContactArrived("c3")]


def test_read_after_seq_and_limit(store: EventStore) -> None:
    store.append([arrived("acme", n, n) for n in range(10)])
    assert [e.seq for e in store.read("acme", after_seq=7)] == [8, 9, 10]
    assert [e.seq for e in store.read("acme", after_seq=2, limit=3)] == [3, 4, 5]
    assert [e.seq for e in store.read("acme", limit=0)] == []
    assert [e.seq for e in store.read("acme", after_seq=10)] == []
    assert [e.seq for e in store.read("acme", after_seq=99, limit=5)] == []


def test_read_spans_many_pages(store: EventStore) -> None:
    store.append([arrived("acme", n, n) for n in range(2500)])
    assert [e.seq for e in store.read("acme")] == list(range(1, 2501))
    assert [e.seq for e in store.read("acme", after_seq=900, limit=1200)] == list(range(901, 2101))


def test_tenants_are_isolated(store: EventStore) -> None:
    # Names that are prefixes of each other or SQL wildcards must not leak into each other.
    names = ["a", "ab", "a%", "a_", "A", "b"]
    for i, name in enumerate(names):
        store.append([arrived(name, 100 + i, i)] * (i + 1))
    assert store.tenants() == sorted(names)
    for i, name in enumerate(names):
        events = list(store.read(name))
        assert len(events) == i + 1 == store.last_seq(name)
        assert {e.tenant for e in events} == {name}
        assert [e.seq for e in events] == list(range(1, i + 2))
    assert list(store.read("a*")) == []


@pytest.mark.parametrize("cls", list(EVENT_TYPES.values()), ids=list(EVENT_TYPES))
def test_every_event_type_round_trips_with_non_default_values(
    store: EventStore, cls: type[EventBody]
) -> None:
    event = Event(tenant="acme", ts=1_700_000_000_123, body=non_default_body(cls), test=True)
    (stored,) = store.append([event])
    assert stored == event.with_seq(1)
    (read,) = store.read("acme")
    assert read == event.with_seq(1)
    assert read.to_json() == event.with_seq(1).to_json()


def test_the_test_flag_is_kept(store: EventStore) -> None:
    store.append([arrived("acme", 1, 1), dataclasses.replace(arrived("acme", 2, 2), test=True)])
    assert [e.test for e in store.read("acme")] == [False, True]


def test_the_store_keeps_its_own_copy_of_mappings(store: EventStore) -> None:
    skills = {"en": 3}
    store.append([Event("acme", 1, AgentConfigured("a1", skills=skills))])
    skills["fr"] = 5
    (read,) = store.read("acme")
    assert isinstance(read.body, AgentConfigured)
    assert dict(read.body.skills) == {"en": 3}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Event("", 1, ContactArrived("c1")), "tenant"),
        (Event("acme", -1, ContactArrived("c1")), "'ts'"),
        (Event("acme", True, ContactArrived("c1")), "'ts'"),  # bool is not a time
        (Event("acme", MAX_TS + 1, ContactArrived("c1")), "out of range"),
        (Event("acme", 1, ContactArrived("")), "contact_id"),
        (Event("acme", 1, ContactQueued("c1", "q1", skills={"en": "x"})), "skills"),  # type: ignore[dict-item]
        (Event("acme", 1, EventBody()), "not a registered event type"),
        (Event("\ud800", 1, ContactArrived("c1")), "cannot be stored"),
        ("not an event", "expected an Event"),
    ],
)
def test_a_bad_event_rejects_the_whole_batch(store: EventStore, bad: Any, message: str) -> None:
    store.append([arrived("acme", 1, 1)])
    with pytest.raises(EventStoreError, match=message) as info:
        store.append([arrived("acme", 2, 2), arrived("beta", 2, 2), bad])
    assert "event 2 of the batch" in str(info.value)
    assert store.last_seq("acme") == 1
    assert store.tenants() == ["acme"]
    assert [e.seq for e in store.read("acme")] == [1]


def test_an_unregistered_subclass_is_refused(store: EventStore) -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Private(ContactArrived):
        secret: str = "x"

    with pytest.raises(EventStoreError, match="not a registered event type"):
        store.append([Event("acme", 1, Private("c1"))])


@pytest.mark.parametrize(
    ("tenant", "after_seq", "limit", "message"),
    [
        ("", 0, None, "tenant"),
        ("acme", -1, None, "after_seq"),
        ("acme", True, None, "after_seq"),
        ("acme", 0, -1, "limit"),
    ],
)
def test_read_arguments_are_checked(
    store: EventStore, tenant: str, after_seq: int, limit: int | None, message: str
) -> None:
    with pytest.raises(EventStoreError, match=message):
        store.read(tenant, after_seq, limit)


def test_last_seq_checks_the_tenant(store: EventStore) -> None:
    with pytest.raises(EventStoreError, match="tenant"):
        store.last_seq("")


def test_a_closed_store_refuses_every_call(store: EventStore) -> None:
    store.append([arrived("acme", 1, 1)])
    store.close()
    store.close()  # idempotent
    calls: list[Callable[[], object]] = [
        lambda: store.append([arrived("acme", 2, 2)]),
        lambda: store.append([]),
        lambda: store.read("acme"),
        lambda: store.last_seq("acme"),
        store.tenants,
    ]
    for call in calls:
        with pytest.raises(EventStoreError, match="closed"):
            call()


def test_concurrent_appends_from_threads_stay_contiguous(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(2)]
    errors: list[BaseException] = []

    def writer(store: EventStore, worker: int) -> None:
        try:
            for n in range(50):
                store.append([arrived("acme", n, worker * 1000 + n)] * (1 + n % 3))
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(stores[i % 2], i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    events = list(stores[0].read("acme"))
    expected = 4 * sum(1 + n % 3 for n in range(50))
    assert [e.seq for e in events] == list(range(1, expected + 1))
    # Each batch is contiguous: the same contact id never straddles another writer's batch.
    runs = [events[0].body]
    for event in events[1:]:
        if event.body != runs[-1]:
            runs.append(event.body)
    assert len(runs) == 4 * 50


def test_appending_while_a_read_is_in_progress_does_not_block(store: EventStore) -> None:
    store.append([arrived("acme", n, n) for n in range(1500)])
    reader = store.read("acme")
    assert next(reader).seq == 1
    store.append([arrived("acme", 2000, 0)])
    rest = [e.seq for e in reader]
    # The store may or may not show the event appended mid-read; what it shows is in order.
    assert rest in (list(range(2, 1501)), list(range(2, 1502)))


# ---------------------------------------------------------------------------------------------
# SQLite specifics


def test_sqlite_events_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        stored = store.append([arrived("acme", n, n) for n in range(5)])
    with SqliteEventStore(path) as store:
        assert list(store.read("acme")) == stored
        assert store.append([arrived("acme", 9, 9)])[0].seq == 6


def test_sqlite_file_is_in_wal_mode_with_compact_json_rows(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        store.append([Event("acme", 5, ContactQueued("c1", "q1", skills={"z": 1, "a": 2}))])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = conn.execute("SELECT tenant, seq, ts, type, v, test, data FROM events").fetchone()
    finally:
        conn.close()
    assert row[:6] == ("acme", 1, 5, "contact.queued", 1, 0)
    assert row[6] == (
        '{"channel":"voice","contact_id":"c1","priority":0,"queue_id":"q1","skills":{"a":2,"z":1}}'
    )


def test_sqlite_create_false_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EventStoreError, match="no event store at"):
        SqliteEventStore(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("hello, this is not SQLite\n" * 100)
    with pytest.raises(EventStoreError, match="cannot open event store"):
        SqliteEventStore(path)


def test_sqlite_refuses_another_applications_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TABLE customers (id INTEGER)")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(EventStoreError, match="not a Glasshouse event store"):
        SqliteEventStore(path)


def test_sqlite_refuses_a_newer_store_format(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    SqliteEventStore(path).close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA user_version=99")
    finally:
        conn.close()
    with pytest.raises(EventStoreError, match="has format 99"):
        SqliteEventStore(path)


def test_sqlite_refuses_a_path_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(EventStoreError, match="cannot open event store"):
        SqliteEventStore(tmp_path / "no-such-dir" / "events.db")


@pytest.mark.parametrize(
    ("data", "message"),
    [("{not json", "not valid JSON"), ('{"contact_id": 5}', "contact_id")],
)
def test_sqlite_reports_a_corrupt_row_with_tenant_and_seq(
    tmp_path: Path, data: str, message: str
) -> None:
    path = tmp_path / "events.db"
    with SqliteEventStore(path) as store:
        store.append([arrived("acme", 1, 1), arrived("acme", 2, 2)])
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE events SET data = ? WHERE seq = 2", (data,))
        conn.commit()
    finally:
        conn.close()
    with SqliteEventStore(path) as store:
        with pytest.raises(EventStoreError, match=message) as info:
            list(store.read("acme"))
        assert "tenant 'acme' seq 2" in str(info.value)


def test_sqlite_two_stores_on_one_file_interleave_without_gaps(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "e.db") as one, SqliteEventStore(tmp_path / "e.db") as two:
        for n in range(20):
            (one if n % 2 else two).append([arrived("acme", n, n)] * 2)
        assert [e.seq for e in one.read("acme")] == list(range(1, 41))
        assert two.last_seq("acme") == 40


def test_sqlite_tenants_lists_many_tenants_in_order(tmp_path: Path) -> None:
    names = [f"t{n:03d}" for n in range(150)]
    with SqliteEventStore(tmp_path / "e.db") as store:
        store.append([arrived(name, 1, n) for n, name in enumerate(reversed(names))])
        assert store.tenants() == names


def test_sqlite_in_memory_database_works(tmp_path: Path) -> None:
    with SqliteEventStore(":memory:") as store:
        store.append([Event("acme", 1, AgentLoggedIn("a1"))])
        assert [e.body for e in store.read("acme")] == [AgentLoggedIn("a1")]


def test_sqlite_repr_names_the_file(tmp_path: Path) -> None:
    with SqliteEventStore(tmp_path / "e.db") as store:
        assert "e.db" in repr(store)


def test_stores_agree_event_for_event(tmp_path: Path) -> None:
    batch = [
        Event(f"t{n % 3}", 1000 + n, non_default_body(cls), test=bool(n % 2))
        for n, cls in enumerate(EVENT_TYPES.values())
    ]
    with SqliteEventStore(tmp_path / "e.db") as real, MemoryEventStore() as fake:
        assert real.append(batch) == fake.append(batch)
        assert real.tenants() == fake.tenants()
        for tenant in real.tenants():
            assert list(real.read(tenant)) == list(fake.read(tenant))
