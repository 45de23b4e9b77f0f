"""Callbacks through the ACD: a contact queued straight as a callback, an agent who does not
take one, a callback taken back after a restart, and the metrics of such logs; the IVR's
callback node asking the service, and what a log leaves to dial after a restart."""

from __future__ import annotations

import pytest

from glasshouse.domain.acd import Acd, AcdError, AgentSpec, InvalidTransition, QueueSpec
from glasshouse.domain.events import (
    AgentNotReady,
    CallbackDialing,
    CallbackFailed,
    CallbackRequested,
    CallbackRestored,
    ContactAnswered,
    Event,
    event_from_json,
)
from glasshouse.domain.ivr import FlowRun, Hangup, RequestCallback, Step, load_flow_text
from glasshouse.domain.metrics import compute, config_from_events
from glasshouse.service.voice.callbacks import RecoveredCallback, pending_callbacks

S = 1000  # ms


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def make(
    *queues: QueueSpec, agents: tuple[str, ...] = (), log: list[Event] | None = None, at: int = 0
) -> Acd:
    acd = Acd("t1")
    out = log if log is not None else []
    for queue in queues:
        out += acd.configure_queue(queue, at)
    for agent_id in agents:
        out += acd.configure_agent(AgentSpec(agent_id, {}), at)
    return acd


def test_callback_entry_is_logged_queued_then_requested_before_any_dialling() -> None:
    log: list[Event] = []
    acd = make(QueueSpec("q"), agents=("a1",), log=log)
    log += acd.login("a1", 1, ready=True)
    ev = acd.enqueue_callback("c1", "q", 2 * S, number_ref="pd-00112233445566aa")
    log += ev
    assert kinds(ev) == ["contact.queued", "callback.requested", "callback.dialing"]
    requested = ev[1].body
    assert isinstance(requested, CallbackRequested)
    assert (requested.queue_id, requested.number_ref) == ("q", "pd-00112233445566aa")
    assert acd.contact_phase("c1") == "dialing"
    # The reference survives the JSON round trip of the log.
    assert event_from_json(ev[1].to_json()).body == requested
    log += acd.callback_connected("c1", 5 * S)
    ended = acd.hangup("c1", 65 * S, by="agent")
    log += ended
    assert kinds(ended)[:2] == ["contact.ended", "agent.acw_started"]
    report = compute(log, config_from_events(log))
    totals = report.queue_totals["q"]
    assert (totals.callbacks_requested, totals.callbacks_connected) == (1, 1)


def test_callback_entry_without_a_free_agent_waits_and_is_refused_like_enqueue() -> None:
    acd = make(QueueSpec("q"), agents=("a1",))
    ev = acd.enqueue_callback("c1", "q", 0, number_ref="pd-000000000000007b")
    assert kinds(ev) == ["contact.queued", "callback.requested"]
    assert acd.queue_view("q").callbacks_waiting == 1
    with pytest.raises(InvalidTransition, match="already in the ACD"):
        acd.enqueue_callback("c1", "q", 1)
    with pytest.raises(AcdError, match="unknown queue"):
        acd.enqueue_callback("c2", "nope", 1)
    with pytest.raises(AcdError, match="skill 'x' level must be 1-5"):
        acd.enqueue_callback("c3", "q", 1, skills={"x": 9})
    # The customer's original call hanging up does not abandon a callback.
    with pytest.raises(InvalidTransition, match="a callback request"):
        acd.abandon("c1", 2)


def test_agent_declining_a_callback_puts_it_back_first_and_does_not_spend_an_attempt() -> None:
    log: list[Event] = []
    acd = make(QueueSpec("q", callback_max_attempts=1), agents=("a1", "a2"), log=log)
    log += acd.enqueue_callback("c1", "q", 0, number_ref="pd-000000000000007b")
    log += acd.enqueue_callback("c2", "q", 1, number_ref="pd-00000000000001c8")
    log += acd.login("a1", 2 * S, ready=True)
    ev = acd.callback_declined("c1", 3 * S)
    log += ev
    assert kinds(ev) == ["callback.failed", "agent.not_ready"]
    failed = ev[0].body
    assert isinstance(failed, CallbackFailed) and failed.retry and failed.agent_id == "a1"
    assert isinstance(ev[1].body, AgentNotReady) and ev[1].body.reason == "ring_no_answer"
    with pytest.raises(InvalidTransition, match="not a callback being dialled"):
        acd.callback_declined("c2", 3 * S)
    # c1 kept its place ahead of c2: the next agent dials c1.
    ev = acd.login("a2", 4 * S, ready=True)
    log += ev
    dialing = [e.body for e in ev if isinstance(e.body, CallbackDialing)]
    assert [(d.contact_id, d.agent_id) for d in dialing] == [("c1", "a2")]
    # The declined attempt did not count: one real attempt is still allowed.
    ev = acd.callback_failed("c1", 5 * S)
    log += ev
    assert [e.body.retry for e in ev if isinstance(e.body, CallbackFailed)] == [False]
    compute(log, config_from_events(log))  # the log fits the metrics' lifecycle


def test_restored_callback_waits_and_is_dialled_and_the_log_still_computes() -> None:
    # The log of a first run: a callback requested, then dialled when the process stopped.
    first: list[Event] = []
    acd = make(QueueSpec("q", callback_max_attempts=3), agents=("a1",), log=first)
    first += acd.enqueue_callback("c1", "q", 0, number_ref="pd-000000000000007b")
    first += acd.login("a1", 1 * S, ready=True)
    assert kinds(first)[-1] == "callback.dialing"
    # The next run takes it back: the interrupted attempt is logged failed first.
    later: list[Event] = []
    again = make(QueueSpec("q", callback_max_attempts=3), agents=("a1",), log=later, at=10 * S)
    ev = again.restore_callback("c1", "q", 10 * S, attempts=5, dialing_agent="a1")
    later += ev
    assert kinds(ev) == ["callback.failed", "callback.restored"]
    assert again.queue_view("q").callbacks_waiting == 1
    with pytest.raises(InvalidTransition, match="already active"):
        again.restore_callback("c1", "q", 11 * S)
    with pytest.raises(AcdError, match="attempts must be"):
        again.restore_callback("c2", "q", 11 * S, attempts=-1)
    compute(first + later, config_from_events(first + later))  # the log still computes
    ev = again.login("a1", 12 * S, ready=True)
    assert kinds(ev)[-1] == "callback.dialing"
    # attempts were capped so one is left: this failure is final.
    final = again.callback_failed("c1", 13 * S)
    assert [e.body.retry for e in final if isinstance(e.body, CallbackFailed)] == [False]


def test_a_callback_given_up_fails_for_good_with_attempts_left_and_frees_the_agent() -> None:
    log: list[Event] = []
    acd = make(QueueSpec("q", callback_max_attempts=3), agents=("a1",), log=log)
    log += acd.enqueue_callback("c1", "q", 0, number_ref="pd-000000000000007b")
    log += acd.enqueue_callback("c2", "q", 1, number_ref="pd-00000000000001c8")
    log += acd.login("a1", 2 * S, ready=True)
    ev = acd.callback_given_up("c1", 3 * S)
    log += ev
    # The first attempt of three, yet final; the agent goes straight on to the next callback.
    assert kinds(ev) == ["callback.failed", "callback.dialing"]
    failed = ev[0].body
    assert isinstance(failed, CallbackFailed) and not failed.retry and failed.agent_id == "a1"
    assert acd.contact_phase("c1") is None
    assert acd.contact_phase("c2") == "dialing"
    with pytest.raises(AcdError, match="unknown contact 'c1'"):
        acd.callback_given_up("c1", 4 * S)
    acd.enqueue_callback("c3", "q", 4 * S, number_ref="pd-0000000000000315")
    with pytest.raises(InvalidTransition, match="not a callback being dialled"):
        acd.callback_given_up("c3", 5 * S)  # waiting, not dialled
    assert pending_callbacks(log) == [
        RecoveredCallback("c2", "q", "pd-00000000000001c8", dialing_agent="a1")
    ]
    report = compute(log, config_from_events(log))
    assert report.queue_totals["q"].callbacks_requested == 2


def test_connected_callback_hangs_up_like_any_answered_call() -> None:
    acd = make(QueueSpec("q", wrap_up_s=10), agents=("a1",))
    acd.login("a1", 0, ready=True)
    acd.enqueue_callback("c1", "q", 1, number_ref="pd-000000000000007b")
    assert kinds(acd.callback_connected("c1", 2 * S)) == ["contact.answered"]
    assert kinds(acd.hold("a1", "c1", 3 * S)) == ["contact.held"]
    assert kinds(acd.hangup("c1", 4 * S, by="customer")) == ["contact.ended", "agent.acw_started"]
    assert kinds(acd.advance(14 * S)) == ["agent.acw_ended"]
    assert acd.contact_phase("c1") is None


FLOW = """
id: f
version: 1
name: Callback
start: offer
nodes:
  offer: {type: callback, number: "{{caller}}", queue: q, next: bye, fallback: sorry}
  bye: {type: hangup, reason: callback}
  sorry: {type: hangup, reason: no_callback}
"""


@pytest.mark.parametrize(
    ("problem", "outcome"), [(None, "callback requested"), ("no trunk", "unavailable")]
)
def test_the_services_check_decides_whether_the_callback_node_goes_on(
    problem: str | None, outcome: str
) -> None:
    asked: list[tuple[str, str]] = []

    def check(number: str, queue_id: str) -> str | None:
        asked.append((number, queue_id))
        return problem

    run = FlowRun(
        load_flow_text(FLOW), call_id="c1", variables={"caller": "+33 6 12"}, now_ms=0,
        callback_check=check,
    )  # fmt: skip
    actions = run.start(0)
    assert asked == [("+33612", "q")]
    steps = [(a.node_id, a.outcome) for a in actions if isinstance(a, Step)]
    assert steps[0] == ("offer", outcome)
    requested = [a for a in actions if isinstance(a, RequestCallback)]
    assert len(requested) == (problem is None)
    assert actions[-1] == Hangup("callback" if problem is None else "no_callback")


def test_pending_callbacks_are_those_neither_connected_nor_finally_failed() -> None:
    bodies = [
        CallbackRequested("done", "q", "pd-0000000000000111"),
        CallbackDialing("done", "q", "a1"),
        ContactAnswered("done", "q", "a1"),
        CallbackRequested("lost", "q", "pd-0000000000000222"),
        CallbackDialing("lost", "q", "a1"),
        CallbackFailed("lost", "q", "a1", retry=False),
        CallbackRequested("open", "q", "pd-0000000000000333"),
        CallbackDialing("open", "q", "a1"),
        CallbackFailed("open", "q", "a1", retry=True),
        CallbackRestored("open", "q2"),
        CallbackDialing("open", "q2", "a2"),  # the process stopped while dialling
        CallbackRequested("inbound", "q"),  # no number: nothing to dial after a restart
    ]
    log = [Event("t1", ts, body) for ts, body in enumerate(bodies)]
    assert pending_callbacks(log) == [
        RecoveredCallback("open", "q2", "pd-0000000000000333", attempts=1, dialing_agent="a2")
    ]
