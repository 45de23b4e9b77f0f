"""A callback the customer did not answer is dialled again no sooner than its queue's
``callback_retry_s``: it keeps its place meanwhile, and contacts behind it are served."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.acd import Acd, AgentSpec, ConfigError, QueueSpec
from glasshouse.domain.acd.engine import RouterFactory
from glasshouse.domain.events import (
    CallbackDialing,
    CallbackFailed,
    ContactOffered,
    Event,
    QueueConfigured,
    event_from_json,
)
from glasshouse.domain.metrics import config_from_events
from glasshouse.domain.sim import ScenarioError, parse_scenario, simulate
from glasshouse.domain.sim.scenario import parse_queue
from glasshouse.testing.naive_router import NaiveRouter

S = 1000  # ms


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def make(queue: QueueSpec, *agents: str, router: RouterFactory | None = None) -> Acd:
    acd = Acd("t1", router=router)
    acd.configure_queue(queue, 0)
    for agent_id in agents:
        acd.configure_agent(AgentSpec(agent_id, {}), 0)
        acd.login(agent_id, 0, ready=True)
    return acd


def failed_at_10s(retry_s: int, *agents: str, router: RouterFactory | None = None) -> Acd:
    """c1 was dialled at 1 s with the first agent and the customer did not answer at 10 s."""
    acd = make(QueueSpec("q", callback_retry_s=retry_s), *agents, router=router)
    assert kinds(acd.enqueue_callback("c1", "q", 1 * S))[-1] == "callback.dialing"
    return acd


def test_failed_attempt_is_not_dialled_before_the_delay_and_exactly_at_it() -> None:
    acd = failed_at_10s(60, "a1")
    ev = acd.callback_failed("c1", 10 * S)
    assert kinds(ev) == ["callback.failed"]
    assert isinstance(ev[0].body, CallbackFailed) and ev[0].body.retry
    # It stays queued, at its place, while it waits out the delay.
    assert acd.contact_phase("c1") == "waiting"
    assert acd.position("c1") == 1
    assert acd.queue_view("q").callbacks_waiting == 1
    assert acd.next_deadline() == 70 * S
    assert acd.advance(70 * S - 1) == []
    ev = acd.advance(70 * S)
    assert kinds(ev) == ["callback.dialing"]
    assert ev[0].ts == 70 * S
    assert isinstance(ev[0].body, CallbackDialing) and ev[0].body.agent_id == "a1"


def test_a_later_command_first_releases_the_callback_at_its_due_time() -> None:
    acd = failed_at_10s(60, "a1")
    acd.callback_failed("c1", 10 * S)
    acd.not_ready("a1", "break", 11 * S)
    # Due at 70 s while nobody is free; the agent coming back later dials it at once.
    assert kinds(acd.advance(70 * S)) == []
    ev = acd.ready("a1", 90 * S)
    assert kinds(ev) == ["agent.ready", "callback.dialing"]


def test_contacts_behind_a_held_callback_are_served_meanwhile() -> None:
    acd = failed_at_10s(60, "a1")
    acd.callback_failed("c1", 10 * S)
    acd.not_ready("a1", "break", 11 * S)
    acd.enqueue("c2", "q", 20 * S)
    acd.enqueue_callback("c3", "q", 21 * S)
    assert [acd.position(c) for c in ("c1", "c2", "c3")] == [1, 2, 3]
    # The agent skips the held callback at the head and takes the next contact.
    ev = acd.ready("a1", 30 * S)
    assert kinds(ev) == ["agent.ready", "contact.offered"]
    assert isinstance(ev[1].body, ContactOffered) and ev[1].body.contact_id == "c2"
    acd.answer("a1", "c2", 31 * S)
    # The callback behind it is not blocked either.
    ev = acd.hangup("c2", 40 * S)
    dialing = [e.body for e in ev if isinstance(e.body, CallbackDialing)]
    assert [d.contact_id for d in dialing] == ["c3"]
    assert acd.position("c1") == 1


def test_once_due_the_callback_is_ahead_of_contacts_that_came_after_its_failure() -> None:
    acd = failed_at_10s(60, "a1")
    acd.callback_failed("c1", 10 * S)
    acd.not_ready("a1", "break", 11 * S)
    acd.enqueue("c2", "q", 20 * S)
    ev = acd.ready("a1", 75 * S)
    assert kinds(ev) == ["agent.ready", "callback.dialing"]
    assert acd.position("c2") == 1


def test_reconfiguring_the_queue_does_not_dial_a_held_callback_early() -> None:
    acd = failed_at_10s(60, "a1")
    acd.callback_failed("c1", 10 * S)
    assert kinds(acd.configure_queue(QueueSpec("q", callback_retry_s=60), 20 * S)) == [
        "queue.configured"
    ]
    assert acd.advance(70 * S - 1) == []
    assert kinds(acd.advance(70 * S)) == ["callback.dialing"]


def test_zero_keeps_dialling_again_at_once() -> None:
    acd = failed_at_10s(0, "a1")
    ev = acd.callback_failed("c1", 10 * S)
    assert kinds(ev) == ["callback.failed", "callback.dialing"]
    assert {e.ts for e in ev} == {10 * S}


def test_the_default_delay_is_five_minutes() -> None:
    assert QueueSpec("q").callback_retry_s == 300
    acd = make(QueueSpec("q"), "a1")
    acd.enqueue_callback("c1", "q", 0)
    acd.callback_failed("c1", 10 * S)
    assert acd.advance(310 * S - 1) == []
    assert kinds(acd.advance(310 * S)) == ["callback.dialing"]


def test_a_declined_callback_is_not_delayed() -> None:
    # The agent, not the customer, failed: the customer was never dialled.
    acd = failed_at_10s(60, "a1", "a2")
    ev = acd.callback_declined("c1", 5 * S)
    assert kinds(ev) == ["callback.failed", "agent.not_ready", "callback.dialing"]


def test_the_last_failed_attempt_ends_the_callback_without_a_delay() -> None:
    acd = make(QueueSpec("q", callback_max_attempts=1, callback_retry_s=60), "a1")
    acd.enqueue_callback("c1", "q", 0)
    ev = acd.callback_failed("c1", 10 * S)
    assert [e.body.retry for e in ev if isinstance(e.body, CallbackFailed)] == [False]
    assert acd.contact_phase("c1") is None
    assert acd.advance(100 * S) == []


@pytest.mark.parametrize("value", [-1, None, True, 1.5, "5m"])
def test_invalid_delay_is_refused_by_name(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        QueueSpec("q", callback_retry_s=value)
    assert str(info.value) == (
        f"queue 'q': 'callback_retry_s' must be a whole number of seconds >= 0, got {value!r}"
    )


def test_queue_files_take_the_delay_as_a_duration() -> None:
    assert parse_queue({"id": "q", "callback_retry_s": "2m"}, "q").callback_retry_s == 120
    assert parse_queue({"id": "q", "callback_retry_s": 0}, "q").callback_retry_s == 0
    assert parse_queue({"id": "q"}, "q").callback_retry_s == 300
    with pytest.raises(ScenarioError, match=r"queues\[0\].callback_retry_s: expected a duration"):
        parse_queue({"id": "q", "callback_retry_s": "soon"}, "queues[0]")
    with pytest.raises(ScenarioError, match=r"queues\[0\]: queue 'q': 'callback_retry_s' must"):
        parse_queue({"id": "q", "callback_retry_s": None}, "queues[0]")


def test_queue_configured_carries_the_delay_and_old_logs_still_read() -> None:
    acd = Acd("t1")
    (event,) = acd.configure_queue(QueueSpec("q", callback_retry_s=90), 0)
    assert isinstance(event.body, QueueConfigured) and event.body.callback_retry_s == 90
    assert event_from_json(event.to_json()) == event
    # A log written before the setting existed: its queues retried at once.
    old = event.to_dict()
    del old["data"]["callback_retry_s"]
    body = event_from_json(json.dumps(old)).body
    assert isinstance(body, QueueConfigured) and body.callback_retry_s == 0
    config = config_from_events([event_from_json(json.dumps(old))])
    assert config.queue_thresholds["q"].sl_threshold_s == 20


def _held_run(router: RouterFactory | None, switch_at: int | None) -> list[dict[str, Any]]:
    """Two agents, a held callback and contacts around it; ``switch_at`` swaps in the naive
    router after that many steps (its index is rebuilt while the callback is held)."""
    acd = make(QueueSpec("q", callback_retry_s=30), "a1", "a2", router=router)
    steps: list[Any] = [
        lambda: acd.enqueue_callback("c1", "q", 1 * S),
        lambda: acd.enqueue("c2", "q", 2 * S),
        lambda: acd.callback_failed("c1", 5 * S),
        lambda: acd.enqueue("c3", "q", 6 * S),
        lambda: acd.enqueue_callback("c4", "q", 7 * S),
        lambda: acd.answer("a2", "c2", 8 * S),
        lambda: acd.answer("a1", "c3", 9 * S),
        lambda: acd.hangup("c2", 20 * S),
        lambda: acd.callback_connected("c4", 21 * S),
        lambda: acd.hangup("c3", 30 * S),
        lambda: acd.advance(35 * S - 1),
        lambda: acd.advance(35 * S),
    ]
    out: list[dict[str, Any]] = []
    for n, step in enumerate(steps):
        if n == switch_at:
            acd.replace_router(NaiveRouter)
        out += [e.to_dict() for e in step()]
    return out


@settings(max_examples=20, deadline=None)
@given(st.one_of(st.none(), st.integers(min_value=0, max_value=11)))
def test_indexed_and_naive_routers_agree_around_a_held_callback(switch_at: int | None) -> None:
    indexed = _held_run(None, switch_at)
    assert indexed == _held_run(NaiveRouter, None)
    dialled = [
        (e["ts"], e["data"]["contact_id"]) for e in indexed if e["type"] == "callback.dialing"
    ]
    # c4, behind the held c1, is dialled first; c1 again exactly 30 s after its failure
    assert dialled == [(1 * S, "c1"), (20 * S, "c4"), (35 * S, "c1")]


def _retry_gaps(retry_s: int) -> list[int]:
    scenario = parse_scenario(
        {
            "duration": "1h",
            "drain": "1h",
            "queues": [{"id": "q", "callback_retry_s": retry_s, "callback_max_attempts": 3}],
            "agents": [{"count": 1, "prefix": "a"}],
            "arrivals": [
                {
                    "queue": "q",
                    "rate_per_hour": 20,
                    "handle_time": 120,
                    "callback_share": 1,
                    "callback_after_s": 5,
                    "callback_answer_share": 0,
                    "callback_dial_s": 10,
                }
            ],
        }
    )
    failed: dict[str, int] = {}
    gaps: list[int] = []
    for event in simulate(scenario).events:
        body = event.body
        if isinstance(body, CallbackFailed) and body.retry:
            failed[body.contact_id] = event.ts
        elif isinstance(body, CallbackDialing) and body.contact_id in failed:
            gaps.append(event.ts - failed.pop(body.contact_id))
    return gaps


def test_the_simulator_honours_the_delay() -> None:
    gaps = _retry_gaps(120)
    assert gaps and min(gaps) >= 120 * S
    assert min(_retry_gaps(0)) < 120 * S  # without the delay, retries come sooner
