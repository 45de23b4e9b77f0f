"""Closing what a stopped server left open in a tenant's log: for each open phase, the closing
events; then the metrics (batch and live, which must agree) accept the closed log followed by a
fresh login of every agent, and closing the closed log finds nothing more."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_acd_transfers import Workload

from glasshouse.domain.acd.recovery import CloseOut, RecoveryError, close_out
from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    CallbackDialing,
    CallbackFailed,
    CallbackRequested,
    CallbackRestored,
    ContactAbandoned,
    ContactAnswered,
    ContactArrived,
    ContactConsultAnswered,
    ContactDispositioned,
    ContactEnded,
    ContactHeld,
    ContactIvrCompleted,
    ContactLost,
    ContactOffered,
    ContactOfferWithdrawn,
    ContactOutboundFailed,
    ContactOutboundStarted,
    ContactOverflowed,
    ContactQueued,
    ContactTransferConnected,
    ContactTransferred,
    Event,
    EventBody,
    IvrStep,
)
from glasshouse.domain.metrics.batch import compute
from glasshouse.domain.metrics.config import MetricsConfig
from glasshouse.domain.metrics.errors import MetricsError
from glasshouse.domain.metrics.figures import Report
from glasshouse.domain.metrics.incremental import LiveMetrics
from glasshouse.service.voice.callbacks import RecoveredCallback, pending_callbacks

TENANT = "acme"
T0 = 1_700_000_000_000 + 7 * 60_000
S = 1000
CONFIG = MetricsConfig(interval_s=900)


def build(*bodies: EventBody, test: bool = False, start: int = T0) -> list[Event]:
    """One event per body, a second apart from ``start``, numbered as the log numbers them."""
    return [Event(TENANT, start + i * S, body, i + 1, test) for i, body in enumerate(bodies)]


def appended(log: list[Event], more: tuple[Event, ...] | list[Event]) -> list[Event]:
    return log + [e.with_seq(len(log) + i) for i, e in enumerate(more, 1)]


def login(agent: str) -> tuple[EventBody, ...]:
    return (AgentLoggedIn(agent), AgentNotReady(agent, "login"), AgentReady(agent))


def answered(cid: str, agent: str, queue: str = "sales") -> tuple[EventBody, ...]:
    return (
        ContactArrived(cid),
        ContactQueued(cid, queue),
        ContactOffered(cid, queue, agent),
        ContactAnswered(cid, queue, agent),
    )


def metrics(events: list[Event]) -> Report:
    """The batch report, checked against the live one fed event by event."""
    live = LiveMetrics(CONFIG)
    for event in events:
        live.ingest(event)
    report = compute(events, CONFIG)
    assert live.report() == report
    return report


def settle(log: list[Event]) -> tuple[CloseOut, list[Event], Report]:
    """Close ``log``; check the closing events, idempotence and the metrics after every agent
    logs in again. Returns the close-out, the closed log and its report."""
    result = close_out(log)
    last = max(e.ts for e in log)
    assert all(e.ts == last and e.tenant == TENANT and e.seq == 0 for e in result.events)
    closed = appended(log, result.events)
    assert close_out(closed) == CloseOut()
    report = metrics(closed)
    agents = dict.fromkeys(
        e.body.agent_id for e in log if isinstance(e.body, AgentLoggedIn) and not e.test
    )
    again = [Event(TENANT, last + S, AgentLoggedIn(agent)) for agent in agents]
    metrics(appended(closed, again))
    return result, closed, report


def bodies(result: CloseOut) -> list[EventBody]:
    return [e.body for e in result.events]


# ---------------------------------------------------------------------------------------------
# The problem: a second login after a restart breaks the metrics


def test_without_a_close_out_the_login_after_a_restart_breaks_the_metrics() -> None:
    log = build(*login("a1"))
    again = appended(log, [Event(TENANT, T0 + 60 * S, AgentLoggedIn("a1"))])
    with pytest.raises(MetricsError, match="already logged in"):
        compute(again, CONFIG)
    with pytest.raises(MetricsError, match="already logged in"):
        metrics(again)


def test_nothing_to_close() -> None:
    assert close_out([]) == CloseOut()
    log = build(
        *login("a1"),
        *answered("c1", "a1"),
        ContactEnded("c1", "a1"),
        AgentAcwStarted("a1", "c1"),
        AgentAcwEnded("a1", "c1"),
        ContactArrived("c2"),
        ContactIvrCompleted("c2"),
        AgentLoggedOut("a1"),
    )
    assert close_out(log) == CloseOut()


def test_an_idle_agent_is_logged_out() -> None:
    result, _, report = settle(build(*login("a1"), *login("a2"), AgentLoggedOut("a2")))
    assert bodies(result) == [AgentLoggedOut("a1")]
    assert (result.contacts, result.agents) == (0, 1)
    assert report.agent_totals["a1"].logged_in_ms == 6 * S  # to the last event


# ---------------------------------------------------------------------------------------------
# Contacts nobody was talking with: lost, counted as blocked in call loss


def test_a_contact_in_the_ivr_is_lost() -> None:
    result, _, report = settle(
        build(ContactArrived("c1"), IvrStep("c1", "main", 1, "menu", "menu", "digit 1"))
    )
    assert bodies(result) == [ContactLost("c1", "restart")]
    assert result.contacts == 1
    loss = report.tenant_total.loss
    assert (loss.arrived, loss.blocked, loss.lost_in_ivr, loss.lost) == (1, 1, 0, 1)


def test_a_waiting_contact_is_lost_not_abandoned() -> None:
    result, _, report = settle(build(ContactArrived("c1"), ContactQueued("c1", "sales")))
    assert bodies(result) == [ContactLost("c1", "restart")]
    sales = report.queue_totals["sales"]
    assert (sales.offered, sales.answered, sales.abandoned, sales.timed_out) == (1, 0, 0, 0)
    assert sales.abandon_rate == 0
    loss = report.tenant_total.loss
    assert (loss.blocked, loss.abandoned_in_queue) == (1, 0)


def test_a_ringing_contact_is_lost_and_its_offers_withdrawn() -> None:
    log = build(
        *login("a1"),
        *login("a2"),
        ContactArrived("c1"),
        ContactQueued("c1", "sales"),
        ContactOffered("c1", "sales", "a1"),
        ContactOffered("c1", "sales", "a2"),
    )
    result, _, report = settle(log)
    assert bodies(result) == [
        ContactLost("c1", "restart"),
        ContactOfferWithdrawn("c1", "sales", "a1", "lost"),
        ContactOfferWithdrawn("c1", "sales", "a2", "lost"),
        AgentLoggedOut("a1"),
        AgentLoggedOut("a2"),
    ]
    assert (result.contacts, result.agents) == (1, 2)
    assert report.agent_totals["a1"].ringing_ms == 1 * S
    assert report.agent_totals["a2"].ringing_ms == 0


def test_a_contact_between_two_queues_is_lost() -> None:
    log = build(
        ContactArrived("c1"),
        ContactQueued("c1", "sales"),
        ContactOverflowed("c1", "sales", "care", "timeout"),
    )
    result, _, report = settle(log)
    assert bodies(result) == [ContactLost("c1", "restart")]
    assert report.queue_totals["sales"].overflowed == 1
    assert report.tenant_total.loss.blocked == 1


# ---------------------------------------------------------------------------------------------
# Conversations: ended by the system at the last event, 0 s of after-call work


def test_a_talking_contact_is_ended_by_the_system_and_counts_as_handled() -> None:
    log = build(*login("a1"), *answered("c1", "a1"), ContactDispositioned("c1", "a1", "sale"))
    result, _, report = settle(log)
    assert bodies(result) == [
        ContactEnded("c1", "a1", by="system"),
        AgentAcwStarted("a1", "c1"),
        AgentAcwEnded("a1", "c1"),
        AgentLoggedOut("a1"),
    ]
    assert (result.contacts, result.agents) == (1, 1)
    sales = report.queue_totals["sales"]
    assert (sales.answered, sales.handled, sales.talk_ms, sales.acw_ms) == (1, 1, 1 * S, 0)
    assert report.tenant_total.loss.answered == 1


def test_a_held_contact_ends_on_hold() -> None:
    log = build(
        *login("a1"),
        *answered("c1", "a1"),
        ContactHeld("c1", "a1"),
        ContactDispositioned("c1", "a1", "sale"),
        ContactDispositioned("c1", "a1", "sale"),
    )
    result, _, report = settle(log)
    assert bodies(result)[:3] == [
        ContactEnded("c1", "a1", by="system"),
        AgentAcwStarted("a1", "c1"),
        AgentAcwEnded("a1", "c1"),
    ]
    sales = report.queue_totals["sales"]
    assert (sales.handled, sales.talk_ms, sales.hold_ms) == (1, 1 * S, 2 * S)


def test_after_call_work_in_progress_ends() -> None:
    log = build(
        *login("a1"),
        *answered("c1", "a1"),
        ContactEnded("c1", "a1"),
        AgentAcwStarted("a1", "c1"),
    )
    result, _, report = settle(log)
    assert bodies(result) == [AgentAcwEnded("a1", "c1"), AgentLoggedOut("a1")]
    assert report.queue_totals["sales"].handled == 1


def test_a_placed_call_ends_without_after_call_work() -> None:
    log = build(
        *login("a1"),
        ContactOutboundStarted("o1", "a1"),
        ContactHeld("o1", "a1"),
        ContactDispositioned("o1", "a1", "info"),
    )
    result, _, report = settle(log)
    assert bodies(result) == [
        ContactEnded("o1", "a1", by="system"),
        AgentAcwStarted("a1", "o1"),
        AgentAcwEnded("a1", "o1"),
        AgentLoggedOut("a1"),
    ]
    agent = report.agent_totals["a1"]
    assert (agent.talk_ms, agent.hold_ms, agent.handled) == (1 * S, 1 * S, 0)


def test_a_placed_call_that_failed_leaves_nothing_open_but_the_login() -> None:
    log = build(
        *login("a1"), ContactOutboundStarted("o1", "a1"), ContactOutboundFailed("o1", "a1", "busy")
    )
    result, _, _ = settle(log)
    assert bodies(result) == [AgentLoggedOut("a1")]


def test_a_consultation_ends_for_both_agents_and_the_held_customer() -> None:
    log = build(
        *login("a1"),
        *login("a2"),
        *answered("c1", "a1"),
        ContactHeld("c1", "a1"),
        ContactOutboundStarted("o1", "a1", consult_for="c1"),
        ContactConsultAnswered("o1", "a2", from_agent_id="a1"),
        ContactDispositioned("c1", "a1", "sale"),
    )
    result, _, report = settle(log)
    end = [
        (
            ContactEnded(cid, agent, by="system"),
            AgentAcwStarted(agent, cid),
            AgentAcwEnded(agent, cid),
        )
        for cid, agent in (("c1", "a1"), ("o1", "a2"), ("o1", "a1"))
    ]
    assert bodies(result) == [
        *end[0],
        *end[1],
        *end[2],
        AgentLoggedOut("a1"),
        AgentLoggedOut("a2"),
    ]
    assert (result.contacts, result.agents) == (2, 2)
    assert report.queue_totals["sales"].handled == 1
    assert report.agent_totals["a2"].talk_ms == 1 * S


def test_a_contact_taken_over_in_an_attended_transfer_ends_with_its_new_agent() -> None:
    log = build(
        *login("a1"),
        *login("a2"),
        *answered("c1", "a1"),
        ContactHeld("c1", "a1"),
        ContactOutboundStarted("o1", "a1", consult_for="c1"),
        ContactConsultAnswered("o1", "a2", from_agent_id="a1"),
        ContactTransferred("c1", "a1", "attended", "agent:a2"),
        ContactEnded("o1", "a2", by="agent"),
        AgentAcwStarted("a2", "o1"),
        AgentAcwEnded("a2", "o1"),
        ContactEnded("o1", "a1", by="agent"),
        AgentAcwStarted("a1", "o1"),
        AgentAcwEnded("a1", "o1"),
        ContactEnded("c1", "a1", by="agent"),
        AgentAcwStarted("a1", "c1"),
        ContactTransferConnected("c1", "a2", from_agent_id="a1", consult_id="o1"),
    )
    result, _, report = settle(log)
    assert bodies(result) == [
        ContactEnded("c1", "a2", by="system"),
        AgentAcwStarted("a2", "c1"),
        AgentAcwEnded("a2", "c1"),
        AgentAcwEnded("a1", "c1"),  # the transferring agent's wrap-up, apart from the contact
        AgentLoggedOut("a1"),
        AgentLoggedOut("a2"),
    ]
    assert report.queue_totals["sales"].handled == 2


def test_a_blind_transfer_waiting_in_its_new_queue_is_lost_after_the_wrap_up_ends() -> None:
    log = build(
        *login("a1"),
        *answered("c1", "a1"),
        ContactTransferred("c1", "a1", "blind", "queue:care"),
        ContactEnded("c1", "a1", by="agent"),
        AgentAcwStarted("a1", "c1"),
        ContactQueued("c1", "care"),
    )
    result, _, report = settle(log)
    assert bodies(result) == [
        AgentAcwEnded("a1", "c1"),
        ContactLost("c1", "restart"),
        AgentLoggedOut("a1"),
    ]
    assert report.queue_totals["sales"].handled == 1
    assert report.queue_totals["care"].offered == 1
    loss = report.tenant_total.loss
    assert (loss.answered, loss.blocked) == (1, 0)  # answered once: not lost


def test_a_contact_on_its_way_to_a_transfer_target_is_lost() -> None:
    log = build(
        *login("a1"),
        *answered("c1", "a1"),
        ContactTransferred("c1", "a1", "blind", "queue:care"),
        ContactEnded("c1", "a1", by="agent"),
        AgentAcwStarted("a1", "c1"),
        AgentAcwEnded("a1", "c1"),
    )
    result, _, _ = settle(log)
    assert bodies(result) == [ContactLost("c1", "restart"), AgentLoggedOut("a1")]


# ---------------------------------------------------------------------------------------------
# Callbacks: pending ones are left for the server to take back


def test_a_pending_callback_is_left_alone_and_still_restored() -> None:
    log = build(
        *login("a1"),
        ContactArrived("c1"),
        ContactQueued("c1", "sales"),
        CallbackRequested("c1", "sales", number_ref="pd-1"),
    )
    result, closed, report = settle(log)
    assert bodies(result) == [AgentLoggedOut("a1")]
    assert result.contacts == 0
    assert pending_callbacks(closed) == [RecoveredCallback("c1", "sales", "pd-1")]
    assert report.queue_totals["sales"].callbacks_requested == 1
    assert report.tenant_total.loss.lost == 0
    restored = appended(closed, [Event(TENANT, T0 + 99 * S, CallbackRestored("c1", "sales"))])
    assert close_out(restored) == CloseOut()
    metrics(restored)


def test_a_callback_being_dialled_fails_for_this_attempt_and_stays_pending() -> None:
    log = build(
        *login("a1"),
        ContactArrived("c1"),
        ContactQueued("c1", "sales"),
        CallbackRequested("c1", "sales", number_ref="pd-1"),
        CallbackDialing("c1", "sales", "a1"),
    )
    result, closed, _ = settle(log)
    assert bodies(result) == [CallbackFailed("c1", "sales", "a1", retry=True), AgentLoggedOut("a1")]
    assert pending_callbacks(closed) == [RecoveredCallback("c1", "sales", "pd-1", attempts=1)]


def test_a_callback_without_a_number_cannot_be_dialled_again_and_is_lost() -> None:
    log = build(
        ContactArrived("c1"), ContactQueued("c1", "sales"), CallbackRequested("c1", "sales")
    )
    result, closed, report = settle(log)
    assert bodies(result) == [ContactLost("c1", "restart")]
    assert pending_callbacks(closed) == []
    assert report.tenant_total.loss.blocked == 1


# ---------------------------------------------------------------------------------------------
# Logs as they are


def test_test_mode_events_are_closed_with_test_mode_events() -> None:
    log = build(*login("t1"), *answered("c1", "t1"), test=True)
    log = appended(log, build(*login("a1"), start=T0 + 10 * S))
    result, _, report = settle(log)
    assert [(e.type, e.test) for e in result.events] == [
        ("agent.logged_out", False),
        ("contact.ended", True),
        ("agent.acw_started", True),
        ("agent.acw_ended", True),
        ("agent.logged_out", True),
    ]
    assert "t1" not in report.agent_totals


def test_a_log_already_broken_by_a_second_login_can_still_be_closed() -> None:
    log = build(*login("a1"), *login("a1"), ContactArrived("c1"), ContactAbandoned("c1", "x"))
    assert bodies(close_out(log)) == [AgentLoggedOut("a1")]


def test_events_of_two_tenants_are_refused() -> None:
    log = [*build(*login("a1")), Event("other", T0, AgentLoggedIn("b1"), 9)]
    with pytest.raises(RecoveryError, match="several tenants \\('acme', 'other'\\) at seq 9"):
        close_out(log)


# ---------------------------------------------------------------------------------------------
# Any moment of a random ACD workload (placed calls, consultations, transfers, callbacks)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), steps=st.integers(1, 200))
def test_a_log_stopped_after_any_command_closes_into_one_the_metrics_accept(
    seed: int, steps: int
) -> None:
    work = Workload(seed)
    work.run(steps)
    test = random.Random(seed).random() < 0.2
    log = [Event(TENANT, e.ts + T0, e.body, i, test) for i, e in enumerate(work.log, 1)]
    result, _, _ = settle(log)
    logged_in = {a for a in work.agent_ids if work.acd.agent_view(a).presence != "logged_out"}
    assert result.agents == len(logged_in)
    out = {e.body.agent_id for e in result.events if isinstance(e.body, AgentLoggedOut)}
    assert out == logged_in
    assert all(e.test == test for e in result.events)
    # every contact the ACD still held is closed, or is a callback left to be taken back
    touched = {getattr(e.body, "contact_id", None) for e in result.events}
    assert set(work.acd.contact_ids()) <= touched
