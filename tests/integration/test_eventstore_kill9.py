"""An acknowledged append survives ``kill -9``: real writer processes, killed mid-stream.

Each writer is this file run as a script. It appends a deterministic stream of events in small
batches and prints ``SEQ I N`` (flushed) after each append returns: the batch of ``N`` events ending
with its ``I``-th event was acknowledged and its last event got ``SEQ``. The test kills the writers
with SIGKILL while they are appending, then opens the store and checks that every acknowledged
event is there with exactly the generated content, that seqs run 1, 2, 3... without gaps or
duplicates, and that SQLite's integrity check passes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.domain.events import (
    AgentNotReady,
    ContactAnswered,
    ContactArrived,
    ContactDispositioned,
    ContactQueued,
    Event,
    EventBody,
)

WRITER_LIMIT = 100_000  # a writer that is never killed still stops
ACKS_WANTED = 2_000  # per writer, before the kill
DEADLINE_S = 120.0
SRC = Path(__file__).resolve().parents[2] / "src"


def generated(tenant: str, writer: int, i: int) -> Event:
    """The ``i``-th event (from 1) of a writer. Every body carries the writer in an id, so two
    writers of one tenant never produce equal events."""
    contact = f"w{writer}-c{i}"
    agent = f"w{writer}-a{i % 11}"
    queue = f"q{i % 3}"
    bodies: list[EventBody] = [
        ContactArrived(contact, channel="chat" if i % 2 else "voice", entry=f"e{i % 7}"),
        ContactQueued(contact, queue, priority=i % 4, skills={"en": 1 + i % 5, "fr": 2}),
        ContactAnswered(contact, queue, agent),
        AgentNotReady(agent, reason=f"r{i}"),
        ContactDispositioned(contact, agent, code=f"d{i % 13}", justified_long=i % 2 == 0),
    ]
    return Event(tenant, 1_700_000_000_000 + 37 * i, bodies[i % 5], test=i % 10 == 0)


def batch_size(i: int) -> int:
    return 1 + i % 3


def write_until_killed(db: str, tenant: str, writer: int, durability: str = "power") -> None:
    with SqliteEventStore(db, durability=durability) as store:
        done = 0
        while done < WRITER_LIMIT:
            n = batch_size(done)
            stored = store.append([generated(tenant, writer, done + k) for k in range(1, n + 1)])
            done += n
            print(f"{stored[-1].seq} {done} {n}", flush=True)


@dataclass
class Writer:
    """A writer process and the acknowledgements it printed (collected by a thread)."""

    tenant: str
    number: int
    proc: subprocess.Popen[str]
    acks: list[tuple[int, int, int]] = field(default_factory=list)
    thread: threading.Thread | None = None

    def collect(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            seq, i, n = (int(part) for part in line.split())
            self.acks.append((seq, i, n))


def start_writer(db: Path, tenant: str, number: int, durability: str = "power") -> Writer:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, __file__, str(db), tenant, str(number), durability],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    writer = Writer(tenant, number, proc)
    writer.thread = threading.Thread(target=writer.collect, daemon=True)
    writer.thread.start()
    return writer


def run_and_kill(db: Path, specs: list[tuple[str, int]], durability: str = "power") -> list[Writer]:
    """Start one writer per (tenant, number), SIGKILL all once each has enough acks."""
    writers = [start_writer(db, tenant, number, durability) for tenant, number in specs]
    try:
        deadline = time.monotonic() + DEADLINE_S
        while any(len(w.acks) < ACKS_WANTED for w in writers):
            for w in writers:
                if w.proc.poll() is not None:
                    assert w.proc.stderr is not None
                    raise AssertionError(f"writer {w.number} exited early: {w.proc.stderr.read()}")
            assert time.monotonic() < deadline, "writers too slow to acknowledge"
            time.sleep(0.005)
        for w in writers:
            os.kill(w.proc.pid, signal.SIGKILL)
    finally:
        for w in writers:
            if w.proc.poll() is None:
                w.proc.kill()
            w.proc.wait(timeout=30)
            if w.thread is not None:
                w.thread.join(timeout=30)
            assert w.proc.stdout is not None and w.proc.stderr is not None
            w.proc.stdout.close()
            w.proc.stderr.close()
    for w in writers:
        assert w.proc.returncode == -signal.SIGKILL
        assert len(w.acks) >= ACKS_WANTED
    return writers


def assert_integrity(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def check_writers_of_one_tenant(store: SqliteEventStore, writers: list[Writer]) -> int:
    """Walk the tenant's log, attributing each event to the writer whose next generated event it
    is; every acknowledged batch must sit at the seqs it was acknowledged with."""
    tenant = writers[0].tenant
    next_i = {w.number: 1 for w in writers}
    seq_of: dict[tuple[int, int], int] = {}
    expected_seq = 0
    for event in store.read(tenant):
        expected_seq += 1
        assert event.seq == expected_seq, "seqs must be contiguous from 1"
        owners = [n for n in next_i if event == generated(tenant, n, next_i[n]).with_seq(event.seq)]
        assert len(owners) == 1, f"seq {event.seq} is not the next event of any writer: {event}"
        seq_of[(owners[0], next_i[owners[0]])] = event.seq
        next_i[owners[0]] += 1
    for w in writers:
        for seq, i, n in w.acks:
            for k in range(n):
                assert seq_of.get((w.number, i - k)) == seq - k, (
                    f"writer {w.number}: acknowledged event {i - k} missing or out of place"
                )
    assert store.last_seq(tenant) == expected_seq
    return expected_seq


@pytest.mark.parametrize("durability", ["power", "process"])
def test_acknowledged_events_survive_kill_9(tmp_path: Path, durability: str) -> None:
    db = tmp_path / "events.db"
    (writer,) = run_and_kill(db, [("acme", 0)], durability)
    last_acked = writer.acks[-1][0]
    with SqliteEventStore(db) as store:
        count = check_writers_of_one_tenant(store, [writer])
        assert count >= last_acked
        # Events committed but not yet acknowledged when the kill came are whole, never torn.
        assert count - last_acked <= batch_size(writer.acks[-1][1])
        # The store is still usable after the crash.
        assert store.append([generated("acme", 9, 1)])[0].seq == count + 1
    assert_integrity(db)


def test_two_writers_of_two_tenants_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    writers = run_and_kill(db, [("acme", 0), ("beta", 1)])
    with SqliteEventStore(db) as store:
        assert store.tenants() == ["acme", "beta"]
        for w in writers:
            assert check_writers_of_one_tenant(store, [w]) >= w.acks[-1][0]
    assert_integrity(db)


def test_two_writers_of_one_tenant_leave_no_gaps_or_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    writers = run_and_kill(db, [("acme", 0), ("acme", 1)])
    with SqliteEventStore(db) as store:
        assert store.tenants() == ["acme"]
        count = check_writers_of_one_tenant(store, writers)
        assert count >= max(w.acks[-1][0] for w in writers)
        assert count >= sum(w.acks[-1][1] for w in writers)
    assert_integrity(db)


if __name__ == "__main__":
    write_until_killed(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
