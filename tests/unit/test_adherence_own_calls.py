"""Adherence and the calls agents place, consultations and transfers: the agent is busy on them
from start to end, as on a contact the ACD offered (the log comes from the ACD itself)."""

from __future__ import annotations

from glasshouse.domain.acd import Acd, AgentSpec, QueueSpec
from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentLoggedIn,
    AgentReady,
    ContactAnswered,
    ContactEnded,
    ContactOffered,
    ContactOutboundStarted,
    ContactQueued,
    ContactTransferred,
    Event,
)
from glasshouse.domain.wfm.adherence import (
    BUSY,
    READY,
    Activity,
    AdherenceMonitor,
    Schedule,
    ScheduledActivity,
    StateSpan,
    adherence_report,
    agent_timelines,
    not_ready,
)

MIN = 60_000


def m(minutes: float) -> int:
    return round(minutes * MIN)


def own_calls_log() -> list[Event]:
    """a1 places a call (m5-m8) and one that fails (m10-m11), answers c1 (m20), holds it and
    consults a2 (not ready) about it (m23-m24), then hands it over (m26, 1 min of wrap-up);
    a2 hangs up at m30 (1 min of wrap-up)."""
    acd = Acd("acme")
    log: list[Event] = []
    log += acd.configure_queue(QueueSpec("sales", wrap_up_s=60, members=frozenset({"a1"})), 0)
    for agent in ("a1", "a2"):
        log += acd.configure_agent(AgentSpec(agent), 0)
    log += acd.login("a1", 0, ready=True)
    log += acd.login("a2", 0)
    log += acd.start_outbound("a1", "o1", m(5), number="+15550001")
    log += acd.hangup("o1", m(8), by="agent")
    log += acd.start_outbound("a1", "o2", m(10), number="+15550002")
    log += acd.outbound_failed("o2", m(11), reason="busy")
    log += acd.enqueue("c1", "sales", m(20))
    log += acd.answer("a1", "c1", m(20))
    log += acd.hold("a1", "c1", m(22))
    log += acd.start_outbound("a1", "o3", m(23), consult_for="c1")
    log += acd.start_inbound_consult("a2", "o3", m(24))
    log += acd.complete_transfer("c1", "o3", m(26))
    log += acd.hangup("c1", m(30))
    log += acd.advance(m(40))
    return log


def test_own_calls_consultations_and_transfers_make_the_agent_busy() -> None:
    log = own_calls_log()
    types = {e.type for e in log}
    assert {"contact.outbound_failed", "contact.transfer_connected"} <= types
    timelines = agent_timelines(log, 0, m(40))
    assert timelines["a1"] == (
        StateSpan("a1", 0, m(5), READY),
        StateSpan("a1", m(5), m(8), BUSY),  # the call they placed
        StateSpan("a1", m(8), m(10), READY),
        StateSpan("a1", m(10), m(11), BUSY),  # placed, never connected
        StateSpan("a1", m(11), m(20), READY),
        StateSpan("a1", m(20), m(27), BUSY),  # c1, the consultation, wrap-up after the transfer
        StateSpan("a1", m(27), m(40), READY),
    )
    assert timelines["a2"] == (
        StateSpan("a2", 0, m(24), not_ready("login")),
        StateSpan("a2", m(24), m(31), BUSY),  # the consultation, then c1 handed over
        StateSpan("a2", m(31), m(40), not_ready("login")),
    )


def test_adherence_counts_the_time_on_own_calls_as_work() -> None:
    log = own_calls_log()
    schedule = Schedule(
        [
            ScheduledActivity("a1", 0, m(40), Activity.WORK),
            ScheduledActivity("a1", m(5), m(8), Activity.BREAK),
            ScheduledActivity("a2", m(24), m(31), Activity.WORK),
        ]
    )
    report = adherence_report(schedule, log, 0, m(40))
    a1 = report.agents["a1"]
    # on the phone during the break: out of adherence, as with a call the ACD offered
    assert [(s.start_ms, s.end_ms, s.actual) for s in a1.spans] == [(m(5), m(8), BUSY)]
    assert a1.figures.in_adherence_ms == m(37)
    a2 = report.agents["a2"]
    assert a2.figures.in_adherence_ms == a2.figures.scheduled_ms == m(7)
    monitor = AdherenceMonitor(schedule, 60)
    for event in log:
        if event.ts <= m(25):
            monitor.ingest(event)
    assert (monitor.state("a1"), monitor.state("a2")) == (BUSY, BUSY)


def test_a_blind_transfer_keeps_the_agent_busy_to_the_end_of_their_wrap_up() -> None:
    bodies = [
        AgentLoggedIn("a1"),
        AgentReady("a1"),
        ContactOutboundStarted("o1", "a1"),
        ContactTransferred("o1", "a1", "blind", "queue:sales"),
        ContactEnded("o1", "a1", by="agent"),
        AgentAcwStarted("a1", "o1"),
        ContactQueued("o1", "sales"),
        ContactOffered("o1", "sales", "a2"),
        ContactAnswered("o1", "sales", "a2"),
        AgentAcwEnded("a1", "o1"),
    ]
    log = [Event("acme", m(i), body) for i, body in enumerate(bodies)]
    # test-mode traffic is left out: a test call changes nothing
    log.insert(3, Event("acme", m(2), ContactOutboundStarted("t1", "a1"), test=True))
    assert agent_timelines(log, 0, m(12))["a1"] == (
        StateSpan("a1", 0, m(1), not_ready("login")),
        StateSpan("a1", m(1), m(2), READY),
        StateSpan("a1", m(2), m(9), BUSY),
        StateSpan("a1", m(9), m(12), READY),
    )
