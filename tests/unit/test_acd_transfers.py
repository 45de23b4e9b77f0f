"""Calls agents place, consultations and transfers in the ACD, observed through its events;
and the metrics of logs that contain them (batch and live agree, and hand-checked figures)."""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.acd import (
    Acd,
    AcdError,
    AgentSpec,
    InvalidTransition,
    QueueSpec,
    UnknownAgent,
    UnknownContact,
    UnknownQueue,
)
from glasshouse.domain.events import ContactOutboundStarted, Event, EventBody
from glasshouse.domain.metrics.batch import compute, compute_rolling
from glasshouse.domain.metrics.config import MetricsConfig
from glasshouse.domain.metrics.incremental import LiveMetrics

S = 1000  # ms


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def bodies(events: list[Event]) -> list[EventBody]:
    return [e.body for e in events]


def make(*queues: QueueSpec, agents: tuple[str, ...] = ("a1", "a2", "a3")) -> Acd:
    acd = Acd("t1")
    for q in queues or (QueueSpec("q"),):
        acd.configure_queue(q, 0)
    for agent_id in agents:
        acd.configure_agent(AgentSpec(agent_id), 0)
        acd.login(agent_id, 0, ready=True)
    return acd


def talking(acd: Acd, contact_id: str, queue: str, agent_id: str, now: int) -> None:
    """Queue a contact and have ``agent_id`` answer it (the only free agent, or the first)."""
    offered = [
        e.body.agent_id  # type: ignore[attr-defined]
        for e in acd.enqueue(contact_id, queue, now)
        if e.type == "contact.offered"
    ]
    assert offered == [agent_id], offered
    acd.answer(agent_id, contact_id, now + S)


def busy(acd: Acd, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        acd.not_ready(agent_id, "break", acd.now)


# ---------------------------------------------------------------------------------------------
# 1. Calls agents place


def test_a_placed_call_makes_the_agent_busy_and_ends_like_a_talking_contact() -> None:
    acd = make()
    ev = acd.start_outbound("a1", "o1", 5 * S, number="+15551234")
    assert kinds(ev) == ["contact.outbound_started"]
    body = ev[0].body
    assert (body.contact_id, body.agent_id, body.consult_for) == ("o1", "a1", "")  # type: ignore[attr-defined]
    assert "+15551234" not in ev[0].to_json()  # numbers stay out of the log
    assert acd.agent_view("a1").contacts == (("o1", "talking"),)
    # nothing is offered to an agent on a placed call
    ev = acd.enqueue("c1", "q", 6 * S)
    assert [(e.type, getattr(e.body, "agent_id", "")) for e in ev][1] == ("contact.offered", "a2")
    assert kinds(acd.hold("a1", "o1", 7 * S)) == ["contact.held"]
    assert kinds(acd.retrieve("a1", "o1", 8 * S)) == ["contact.retrieved"]
    assert kinds(acd.disposition("a1", "o1", "sale", 9 * S)) == ["contact.dispositioned"]
    acd.answer("a2", "c1", 9 * S)
    busy(acd, "a3")
    acd.enqueue("c2", "q", 10 * S)  # waits: nobody is free
    ev = acd.hangup("o1", 20 * S, by="agent")
    # no queue sets a wrap-up time: after-call work ends at once, and the next contact rings
    assert kinds(ev) == [
        "contact.ended",
        "agent.acw_started",
        "agent.acw_ended",
        "contact.offered",
    ]
    assert ev[0].body.by == "agent"  # type: ignore[attr-defined]
    assert ev[3].body.contact_id == "c2"  # type: ignore[attr-defined]
    assert acd.contact_phase("o1") is None


def test_not_ready_while_on_a_placed_call_applies_when_it_ends() -> None:
    acd = make(agents=("a1",))
    acd.start_outbound("a1", "o1", 0)
    assert acd.not_ready("a1", "lunch", S) == []
    assert acd.agent_view("a1").presence == "ready"
    ev = acd.hangup("o1", 2 * S)
    assert bodies(ev)[-1].reason == "lunch"  # type: ignore[attr-defined]
    assert acd.agent_view("a1").presence == "not_ready"


def test_a_placed_call_that_fails_frees_the_agent_without_wrap_up() -> None:
    acd = make(QueueSpec("q", wrap_up_s=30), agents=("a1",))
    acd.start_outbound("a1", "o1", 0)
    acd.enqueue("c1", "q", S)
    ev = acd.outbound_failed("o1", 4 * S, reason="busy")
    assert kinds(ev) == ["contact.outbound_failed", "contact.offered"]
    assert ev[0].body.reason == "busy"  # type: ignore[attr-defined]
    assert acd.contact_phase("o1") is None
    assert acd.agent_view("a1").contacts == (("c1", "offered"),)


def test_a_consultation_while_the_customer_holds() -> None:
    acd = make(QueueSpec("q", wrap_up_s=30))
    talking(acd, "c1", "q", "a1", 0)
    with pytest.raises(InvalidTransition, match="contact 'c1' is talking"):
        acd.start_outbound("a1", "k1", 2 * S)
    with pytest.raises(InvalidTransition, match="not held"):
        acd.start_outbound("a1", "k1", 2 * S, consult_for="c1")
    acd.hold("a1", "c1", 3 * S)
    ev = acd.start_outbound("a1", "k1", 4 * S, consult_for="c1")
    assert ev[0].body.consult_for == "c1"  # type: ignore[attr-defined]
    assert acd.agent_view("a1").contacts == (("c1", "held"), ("k1", "talking"))
    # one consultation at a time
    with pytest.raises(InvalidTransition, match="contact 'k1' is talking"):
        acd.start_outbound("a1", "k2", 5 * S, consult_for="c1")
    # the consultation fails: back with the held customer, not offered anything
    acd.enqueue("c2", "q", 5 * S)  # rings at a2
    ev = acd.outbound_failed("k1", 6 * S, reason="no answer")
    assert kinds(ev) == ["contact.outbound_failed"]
    assert acd.agent_view("a1").contacts == (("c1", "held"),)
    assert kinds(acd.retrieve("a1", "c1", 7 * S)) == ["contact.retrieved"]


def test_a_consultation_ended_leaves_the_agent_with_the_held_customer() -> None:
    acd = make()
    talking(acd, "c1", "q", "a1", 0)
    acd.hold("a1", "c1", 2 * S)
    acd.start_outbound("a1", "k1", 3 * S, consult_for="c1")
    ev = acd.hangup("k1", 9 * S, by="agent")
    assert kinds(ev) == ["contact.ended", "agent.acw_started", "agent.acw_ended"]
    assert acd.agent_view("a1").contacts == (("c1", "held"),)


@pytest.mark.parametrize(
    ("setup", "error", "match"),
    [
        ("logged_out", InvalidTransition, "not logged in"),
        ("ringing", InvalidTransition, "contact 'c1' is ringing"),
        ("wrap_up", InvalidTransition, "contact 'c1' is wrap_up"),
        ("no_voice", InvalidTransition, "no voice capacity"),
        ("duplicate", InvalidTransition, "already active"),
        ("unknown_agent", UnknownAgent, "ghost"),
        ("unknown_consult", UnknownContact, "nobody"),
        ("others_contact", InvalidTransition, "with 'a2'"),
    ],
)
def test_placing_a_call_is_refused_and_changes_nothing(
    setup: str, error: type[AcdError], match: str
) -> None:
    acd = make(QueueSpec("q", wrap_up_s=30), agents=("a1", "a2"))
    agent, contact_id, consult = "a1", "o1", None
    if setup == "logged_out":
        acd.logout("a1", 0)
    elif setup == "ringing":
        acd.not_ready("a2", "break", 0)
        acd.enqueue("c1", "q", 0)
    elif setup == "wrap_up":
        talking(acd, "c1", "q", "a1", 0)
        acd.hangup("c1", 2 * S)
    elif setup == "no_voice":
        acd.configure_agent(AgentSpec("a1", capacity={"chat": 2}), 0)
    elif setup == "duplicate":
        acd.start_outbound("a2", "o1", 0)
    elif setup == "unknown_agent":
        agent = "ghost"
    elif setup == "unknown_consult":
        consult = "nobody"
    elif setup == "others_contact":
        acd.not_ready("a1", "break", 0)
        talking(acd, "c1", "q", "a2", 0)
        acd.hold("a2", "c1", 2 * S)
        consult = "c1"
    before = (acd.agent_view("a1"), acd.agent_view("a2"), acd.contact_ids(), acd.next_deadline())
    with pytest.raises(error, match=match):
        acd.start_outbound(agent, contact_id, 3 * S, consult_for=consult)
    after = (acd.agent_view("a1"), acd.agent_view("a2"), acd.contact_ids(), acd.next_deadline())
    assert after == before


def test_outbound_failed_is_refused_for_other_contacts() -> None:
    acd = make()
    talking(acd, "c1", "q", "a1", 0)
    with pytest.raises(InvalidTransition, match="not a call an agent is placing"):
        acd.outbound_failed("c1", 2 * S)
    with pytest.raises(UnknownContact):
        acd.outbound_failed("nobody", 2 * S)
    acd.start_outbound("a2", "o1", 2 * S)
    acd.start_inbound_consult("a3", "o1", 3 * S)
    with pytest.raises(InvalidTransition, match="agent 'a3' answered it"):
        acd.outbound_failed("o1", 4 * S)
    with pytest.raises(AcdError, match="reason"):
        acd.outbound_failed("o1", 4 * S, reason=3)  # type: ignore[arg-type]


def test_an_agent_to_agent_call_keeps_both_busy_until_it_ends() -> None:
    acd = make()
    acd.start_outbound("a1", "k1", 0)
    ev = acd.start_inbound_consult("a2", "k1", 2 * S)
    assert kinds(ev) == ["contact.consult_answered"]
    body = ev[0].body
    assert (body.agent_id, body.from_agent_id) == ("a2", "a1")  # type: ignore[attr-defined]
    assert acd.agent_view("a2").contacts == (("k1", "talking"),)
    busy(acd, "a3")
    acd.enqueue("c1", "q", 3 * S)  # nobody is free
    assert acd.contact_phase("c1") == "waiting"
    with pytest.raises(InvalidTransition, match="already answered by agent 'a2'"):
        acd.start_inbound_consult("a3", "k1", 4 * S)
    with pytest.raises(InvalidTransition, match="cannot put on hold"):
        acd.hold("a2", "k1", 4 * S)
    ev = acd.hangup("k1", 10 * S, by="agent")
    # the answering agent leaves without after-call work, then the caller's part ends (0 s of
    # wrap-up: the call has no queue); the caller is free first and takes the waiting contact
    assert [(e.type, e.body.agent_id) for e in ev] == [  # type: ignore[attr-defined]
        ("contact.ended", "a2"),
        ("agent.acw_started", "a2"),
        ("agent.acw_ended", "a2"),
        ("contact.ended", "a1"),
        ("agent.acw_started", "a1"),
        ("agent.acw_ended", "a1"),
        ("contact.offered", "a1"),
    ]
    assert acd.agent_view("a2").contacts == ()


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("queued", r"not a call an agent is placing \(it is talking, from a queue\)"),
        ("self", "placed contact 'k1' and cannot answer it"),
        ("busy", "contact 'c1' is talking"),
        ("ringing", "contact 'c1' is ringing"),
        ("logged_out", "not logged in"),
    ],
)
def test_answering_an_agents_call_is_refused_and_changes_nothing(setup: str, match: str) -> None:
    acd = make()
    acd.start_outbound("a1", "k1", 0)
    agent, contact_id = "a2", "k1"
    if setup == "queued":
        talking(acd, "c1", "q", "a2", 0)
        contact_id = "c1"
    elif setup == "self":
        agent = "a1"
    elif setup == "busy":
        busy(acd, "a3")
        talking(acd, "c1", "q", "a2", 0)
    elif setup == "ringing":
        busy(acd, "a3")
        acd.enqueue("c1", "q", 0)
    elif setup == "logged_out":
        acd.logout("a2", 0)
    before = [acd.agent_view(a) for a in ("a1", "a2", "a3")], acd.contact_ids()
    with pytest.raises(InvalidTransition, match=match):
        acd.start_inbound_consult(agent, contact_id, 3 * S)
    assert ([acd.agent_view(a) for a in ("a1", "a2", "a3")], acd.contact_ids()) == before


# ---------------------------------------------------------------------------------------------
# 2. Blind transfers


def test_blind_transfer_to_a_queue_puts_the_agent_in_wrap_up_apart_from_the_contact() -> None:
    acd = make(
        QueueSpec("sales", wrap_up_s=30, members=frozenset({"a1"})),
        QueueSpec("care", members=frozenset({"a2"})),
    )
    acd.not_ready("a2", "break", 0)
    acd.enqueue("c1", "sales", 0, priority=5)
    acd.answer("a1", "c1", S)
    ev = acd.transfer("c1", 10 * S, to_queue="care")
    assert kinds(ev) == [
        "contact.transferred",
        "contact.ended",
        "agent.acw_started",
        "contact.queued",
    ]
    moved = ev[0].body
    assert (moved.agent_id, moved.kind, moved.target) == ("a1", "blind", "queue:care")  # type: ignore[attr-defined]
    assert ev[1].body.by == "agent"  # type: ignore[attr-defined]
    assert ev[3].body.priority == 5  # type: ignore[attr-defined]
    assert acd.agent_view("a1").contacts == (("c1", "wrap_up"),)
    assert acd.contact_phase("c1") == "waiting"
    # the transferring agent may record the outcome during their after-call work
    assert kinds(acd.disposition("a1", "c1", "transferred", 12 * S)) == ["contact.dispositioned"]
    with pytest.raises(InvalidTransition, match="cannot log out: contact 'c1' is wrap_up"):
        acd.logout("a1", 12 * S)
    # the contact is answered in its new queue while the first agent still wraps up
    assert kinds(acd.ready("a2", 15 * S)) == ["agent.ready", "contact.offered"]
    acd.answer("a2", "c1", 16 * S)
    assert acd.agent_view("a1").contacts == (("c1", "wrap_up"),)
    assert acd.agent_view("a2").contacts == (("c1", "talking"),)
    # the sales queue's 30 s of wrap-up end on their own
    ev = acd.advance(40 * S)
    assert [(e.type, e.body.agent_id) for e in ev] == [("agent.acw_ended", "a1")]  # type: ignore[attr-defined]
    assert ev[0].ts == 40 * S
    assert acd.agent_view("a1").contacts == ()
    assert kinds(acd.hangup("c1", 50 * S)) == [
        "contact.ended",
        "agent.acw_started",
        "agent.acw_ended",
    ]
    assert acd.contact_ids() == []


def test_wrap_up_apart_can_end_early_and_its_timer_then_does_nothing() -> None:
    acd = make(QueueSpec("q", wrap_up_s=30), QueueSpec("r"), agents=("a1", "a2"))
    acd.not_ready("a2", "break", 0)
    talking(acd, "c1", "q", "a1", 0)
    acd.transfer("c1", 5 * S, to_queue="r")
    ev = acd.end_wrap_up("a1", "c1", 6 * S)
    # a1 is free: they serve r too, so the transferred contact comes back to them
    assert kinds(ev) == ["agent.acw_ended", "contact.offered"]
    acd.answer("a1", "c1", 7 * S)
    assert acd.advance(40 * S) == []  # the first wrap-up's timer is void
    assert acd.agent_view("a1").contacts == (("c1", "talking"),)


def test_a_transferred_contact_is_not_offered_back_while_another_agent_is_free() -> None:
    acd = make(QueueSpec("q"), QueueSpec("r"), agents=("a1", "a2"))
    talking(acd, "c1", "q", "a1", 0)
    ev = acd.transfer("c1", 5 * S, to_queue="r")
    assert [(e.type, getattr(e.body, "agent_id", "")) for e in ev][-2:] == [
        ("contact.queued", ""),
        ("contact.offered", "a2"),
    ]
    assert "agent.acw_ended" in kinds(ev)  # no wrap-up time in q: the agent is free at once
    assert acd.agent_view("a1").contacts == ()


def test_a_transferred_contact_keeps_its_priority_in_the_new_queue() -> None:
    acd = make(QueueSpec("q", members=frozenset({"a1"})), QueueSpec("r", members=frozenset({"a2"})))
    busy(acd, "a2")
    acd.enqueue("w1", "r", 0)
    acd.enqueue("c1", "q", S, priority=3)
    acd.answer("a1", "c1", 2 * S)
    acd.enqueue("w2", "r", 3 * S)
    acd.transfer("c1", 4 * S, to_queue="r")
    assert [acd.position(c) for c in ("c1", "w1", "w2")] == [1, 2, 3]
    acd.ready("a2", 5 * S)
    assert acd.agent_view("a2").contacts == (("c1", "offered"),)


def test_blind_transfer_to_an_agent_rings_them_from_the_contacts_queue() -> None:
    acd = make(QueueSpec("q", wrap_up_s=10))
    talking(acd, "c1", "q", "a1", 0)
    ev = acd.transfer("c1", 5 * S, to_agent="a3")
    assert [(e.type, getattr(e.body, "agent_id", "")) for e in ev] == [
        ("contact.transferred", "a1"),
        ("contact.ended", "a1"),
        ("agent.acw_started", "a1"),
        ("contact.queued", ""),
        ("contact.offered", "a3"),
    ]
    assert ev[0].body.target == "agent:a3"  # type: ignore[attr-defined]
    assert ev[3].body.queue_id == "q"  # type: ignore[attr-defined]
    assert kinds(acd.answer("a3", "c1", 7 * S)) == ["contact.answered"]
    assert acd.agent_view("a3").contacts == (("c1", "talking"),)


@pytest.mark.parametrize("how", ["declined", "rang out"])
def test_an_agent_transfer_not_answered_waits_at_the_front_of_its_queue(how: str) -> None:
    # a3 does not serve q: they ring only because the contact is transferred to them
    acd = make(QueueSpec("q", members=frozenset({"a1", "a2"})), agents=("a1", "a2", "a3"))
    talking(acd, "c1", "q", "a1", 0)
    busy(acd, "a2")
    acd.enqueue("w1", "q", S)
    acd.enqueue("w2", "q", 2 * S)
    acd.not_ready("a1", "break", 3 * S)  # after the transfer the first agent leaves
    acd.transfer("c1", 5 * S, to_agent="a3")
    assert acd.agent_view("a1").presence == "not_ready"
    ev = acd.decline("a3", "c1", 6 * S) if how == "declined" else acd.advance(20 * S)
    assert kinds(ev) == ["contact.ring_no_answer", "agent.not_ready"]
    assert [acd.position(c) for c in ("c1", "w1", "w2")] == [1, 2, 3]
    ev = acd.ready("a2", 21 * S)
    assert [(e.type, getattr(e.body, "contact_id", "")) for e in ev] == [
        ("agent.ready", ""),
        ("contact.offered", "c1"),
    ]


def test_transfer_of_a_held_contact_and_of_a_placed_call_to_a_queue() -> None:
    acd = make(QueueSpec("q"), QueueSpec("r"), agents=("a1", "a2"))
    acd.start_outbound("a1", "o1", 0)
    acd.hold("a1", "o1", 5 * S)
    busy(acd, "a2")
    ev = acd.transfer("o1", 8 * S, to_queue="r")
    assert kinds(ev) == [
        "contact.transferred",
        "contact.ended",
        "agent.acw_started",
        "agent.acw_ended",
        "contact.queued",
        "contact.offered",  # the agent who placed the call is the only one free
    ]
    acd.answer("a1", "o1", 9 * S)
    assert acd.agent_view("a1").contacts == (("o1", "talking"),)


@pytest.mark.parametrize(
    ("kwargs", "setup", "error", "match"),
    [
        ({}, "", AcdError, "exactly one target"),
        ({"to_queue": "r", "to_agent": "a2"}, "", AcdError, "exactly one target"),
        ({"to_queue": "nowhere"}, "", UnknownQueue, "nowhere"),
        ({"to_agent": "ghost"}, "", UnknownAgent, "ghost"),
        ({"to_agent": "a1"}, "", InvalidTransition, "to themselves"),
        ({"to_agent": "a2"}, "a2_break", InvalidTransition, r"not ready \(break\)"),
        ({"to_agent": "a2"}, "a2_out", InvalidTransition, "not logged in"),
        ({"to_agent": "a2"}, "a2_busy", InvalidTransition, "no free voice line"),
        ({"to_queue": "r"}, "waiting", InvalidTransition, "it is waiting"),
        ({"to_queue": "r"}, "chat", InvalidTransition, "only voice contacts"),
        ({"to_queue": "r"}, "consulting", InvalidTransition, "consultation 'k1' is in progress"),
        ({"to_queue": "r"}, "consult_call", InvalidTransition, "a call between agents"),
        ({"to_agent": "a2"}, "placed", InvalidTransition, "transfer it to a queue"),
        ({"to_queue": "r"}, "unknown", UnknownContact, "nobody"),
    ],
)
def test_a_refused_transfer_changes_nothing(
    kwargs: dict[str, str], setup: str, error: type[AcdError], match: str
) -> None:
    acd = make(QueueSpec("q", wrap_up_s=5), QueueSpec("r"), agents=("a1", "a2", "a3"))
    acd.configure_agent(AgentSpec("a1", capacity={"voice": 1, "chat": 2}), 0)
    contact_id = "c1"
    if setup == "chat":
        busy(acd, "a2", "a3")
        acd.enqueue("c1", "q", 0, channel="chat")
        acd.answer("a1", "c1", S)
    elif setup == "placed":
        acd.start_outbound("a1", "c1", 0)
    elif setup == "consult_call":
        acd.start_outbound("a1", "c1", 0)
        acd.start_inbound_consult("a3", "c1", S)
    elif setup == "waiting":
        busy(acd, "a1", "a2", "a3")
        acd.enqueue("c1", "q", 0)
    else:
        talking(acd, "c1", "q", "a1", 0)
    if setup == "consulting":
        acd.hold("a1", "c1", 2 * S)
        acd.start_outbound("a1", "k1", 2 * S, consult_for="c1")
    elif setup == "a2_break":
        acd.not_ready("a2", "break", 2 * S)
    elif setup == "a2_out":
        acd.logout("a2", 2 * S)
    elif setup == "a2_busy":
        acd.start_outbound("a2", "o2", 2 * S)
    elif setup == "unknown":
        contact_id = "nobody"

    def state() -> object:
        return (
            [acd.agent_view(a) for a in ("a1", "a2", "a3")],
            [(c, acd.contact_phase(c)) for c in acd.contact_ids()],
            acd.next_deadline(),
        )

    before = state()
    with pytest.raises(error, match=match):
        acd.transfer(contact_id, 3 * S, **kwargs)
    assert state() == before


# ---------------------------------------------------------------------------------------------
# 3. Attended transfers


def consulting(acd: Acd, *, to_agent: str | None) -> None:
    """a1 answered c1 from q, holds it and consults (another agent, or an outside number)."""
    talking(acd, "c1", "q", "a1", 0)
    acd.hold("a1", "c1", 10 * S)
    acd.start_outbound("a1", "k1", 11 * S, consult_for="c1")
    if to_agent is not None:
        acd.start_inbound_consult(to_agent, "k1", 15 * S)


def test_attended_transfer_to_an_agent_hands_the_customer_over() -> None:
    acd = make(QueueSpec("q", wrap_up_s=20))
    consulting(acd, to_agent="a2")
    ev = acd.complete_transfer("c1", "k1", 30 * S)
    assert [(e.type, e.body.contact_id, e.body.agent_id) for e in ev] == [  # type: ignore[attr-defined]
        ("contact.transferred", "c1", "a1"),
        ("contact.ended", "k1", "a2"),
        ("agent.acw_started", "k1", "a2"),
        ("agent.acw_ended", "k1", "a2"),
        ("contact.ended", "k1", "a1"),
        ("agent.acw_started", "k1", "a1"),
        ("agent.acw_ended", "k1", "a1"),
        ("contact.ended", "c1", "a1"),
        ("agent.acw_started", "c1", "a1"),
        ("contact.transfer_connected", "c1", "a2"),
    ]
    moved = ev[0].body
    assert (moved.kind, moved.target) == ("attended", "agent:a2")  # type: ignore[attr-defined]
    joined = ev[-1].body
    assert (joined.from_agent_id, joined.consult_id) == ("a1", "k1")  # type: ignore[attr-defined]
    assert acd.agent_view("a1").contacts == (("c1", "wrap_up"),)
    assert acd.agent_view("a2").contacts == (("c1", "talking"),)
    assert acd.contact_phase("k1") is None
    # the queue's wrap-up applies to the first agent; the second handles the contact on
    assert kinds(acd.advance(50 * S)) == ["agent.acw_ended"]
    assert kinds(acd.hold("a2", "c1", 55 * S)) == ["contact.held"]
    ev = acd.hangup("c1", 60 * S)
    assert [(e.type, e.body.agent_id) for e in ev] == [  # type: ignore[attr-defined]
        ("contact.ended", "a2"),
        ("agent.acw_started", "a2"),
    ]


def test_attended_transfer_to_an_outside_number_lets_the_contact_leave() -> None:
    acd = make(QueueSpec("q"))
    consulting(acd, to_agent=None)
    ev = acd.complete_transfer("c1", "k1", 30 * S)
    assert [(e.type, e.body.contact_id) for e in ev] == [  # type: ignore[attr-defined]
        ("contact.transferred", "c1"),
        ("contact.ended", "k1"),
        ("agent.acw_started", "k1"),
        ("agent.acw_ended", "k1"),
        ("contact.ended", "c1"),
        ("agent.acw_started", "c1"),
        ("agent.acw_ended", "c1"),
    ]
    assert ev[0].body.target == "external:k1"  # type: ignore[attr-defined]
    assert acd.contact_ids() == []
    assert acd.agent_view("a1").contacts == ()


@pytest.mark.parametrize(
    ("setup", "args", "error", "match"),
    [
        ("retrieved", ("c1", "k1"), InvalidTransition, "it is talking, not held"),
        ("", ("c1", "c2"), InvalidTransition, "not a consultation in progress about"),
        ("", ("c1", "nobody"), UnknownContact, "nobody"),
        ("", ("k1", "c1"), InvalidTransition, "it is talking, not held"),
        ("consult_held", ("c1", "k2"), InvalidTransition, "not a consultation in progress"),
    ],
)
def test_a_refused_attended_transfer_changes_nothing(
    setup: str, args: tuple[str, str], error: type[AcdError], match: str
) -> None:
    acd = make(QueueSpec("q"), agents=("a1", "a2", "a3"))
    consulting(acd, to_agent="a2")
    talking(acd, "c2", "q", "a3", 20 * S)
    if setup == "retrieved":
        acd.retrieve("a1", "c1", 25 * S)
    elif setup == "consult_held":
        acd.hold("a3", "c2", 25 * S)
        acd.start_outbound("a3", "k2", 25 * S, consult_for="c2")
    before = [acd.agent_view(a) for a in ("a1", "a2", "a3")], acd.contact_ids()
    with pytest.raises(error, match=match):
        acd.complete_transfer(*args, 30 * S)
    assert ([acd.agent_view(a) for a in ("a1", "a2", "a3")], acd.contact_ids()) == before


# ---------------------------------------------------------------------------------------------
# Metrics of logs with transfers


def logged(events: list[Event]) -> list[Event]:
    """The ACD's events as the log numbers them."""
    return [e.with_seq(i) for i, e in enumerate(events, 1)]


def test_hand_checked_figures_of_a_contact_answered_in_two_queues() -> None:
    """c1 waits 4 s in sales and talks 60 s with a1 (10 s of wrap-up), who transfers it to care,
    where it waits 9 s and talks 60 s with a2 (no wrap-up)."""
    acd = Acd("t1")
    log: list[Event] = []
    log += acd.configure_queue(QueueSpec("sales", wrap_up_s=10, members=frozenset({"a1"})), 0)
    log += acd.configure_queue(QueueSpec("care", members=frozenset({"a2"})), 0)
    for agent_id in ("a1", "a2"):
        log += acd.configure_agent(AgentSpec(agent_id), 0)
    log += acd.login("a1", 0, ready=True)
    log += acd.login("a2", 0)
    log += acd.arrive("c1", 8 * S)
    log += acd.enqueue("c1", "sales", 10 * S)
    log += acd.answer("a1", "c1", 14 * S)
    log += acd.transfer("c1", 74 * S, to_queue="care")
    log += acd.ready("a2", 80 * S)
    log += acd.answer("a2", "c1", 83 * S)
    log += acd.hangup("c1", 143 * S)
    log += acd.advance(900 * S)
    events = logged(log)
    config = MetricsConfig()
    report = compute(events, config, as_of_ms=900 * S)
    live = LiveMetrics(config)
    for event in events:
        live.ingest(event)
    assert live.report(now_ms=900 * S) == report

    sales, care = report.queue_totals["sales"], report.queue_totals["care"]
    # each queue counts the wait it had: one offered, one answered, its own queue time
    assert (sales.offered, sales.answered, sales.answered_queue_ms) == (1, 1, 4 * S)
    assert (care.offered, care.answered, care.answered_queue_ms) == (1, 1, 9 * S)
    assert (sales.asa_ms, care.asa_ms) == (Fraction(4 * S), Fraction(9 * S))
    assert (sales.service_level, care.service_level) == (Fraction(1), Fraction(1))
    # each agent's part is one handled contact of the queue it was answered from
    assert (sales.handled, sales.talk_ms, sales.acw_ms) == (1, 60 * S, 10 * S)
    assert (care.handled, care.talk_ms, care.acw_ms) == (1, 60 * S, 0)
    assert (sales.aht_ms, care.aht_ms) == (Fraction(70 * S), Fraction(60 * S))
    # the tenant counts the customer once, by their first wait; both parts are handled
    tenant = report.tenant_total.contacts
    assert (tenant.offered, tenant.answered, tenant.answered_queue_ms) == (1, 1, 4 * S)
    assert (tenant.handled, tenant.talk_ms, tenant.acw_ms) == (2, 120 * S, 10 * S)
    loss = report.tenant_total.loss
    assert (loss.arrived, loss.answered, loss.lost) == (1, 1, 0)
    a1, a2 = report.agent_totals["a1"], report.agent_totals["a2"]
    assert (a1.answered, a1.handled, a1.talk_ms, a1.acw_ms) == (1, 1, 60 * S, 10 * S)
    assert (a2.answered, a2.handled, a2.talk_ms, a2.acw_ms) == (1, 1, 60 * S, 0)


def test_hand_checked_figures_of_an_attended_transfer_and_a_placed_call() -> None:
    """a1 answers c1 (2 s wait), talks 18 s, holds it 10 s while consulting a2 (who answers
    after 4 s), then hands c1 over; a2 talks 30 s more. a3 places a call of 35 s."""
    acd = Acd("t1")
    log = acd.configure_queue(QueueSpec("q", wrap_up_s=5, members=frozenset({"a1"})), 0)
    for agent_id in ("a1", "a2", "a3"):
        log += acd.configure_agent(AgentSpec(agent_id), 0)
        log += acd.login(agent_id, 0, ready=True)
    log += acd.enqueue("c1", "q", 10 * S)
    log += acd.answer("a1", "c1", 12 * S)
    log += acd.hold("a1", "c1", 30 * S)
    log += acd.start_outbound("a1", "k1", 30 * S, consult_for="c1")
    log += acd.start_inbound_consult("a2", "k1", 34 * S)
    log += acd.complete_transfer("c1", "k1", 40 * S)
    log += acd.start_outbound("a3", "o1", 41 * S)
    log += acd.hangup("c1", 70 * S)
    log += acd.hangup("o1", 76 * S)
    log += acd.advance(100 * S)
    events = logged(log)
    config = MetricsConfig()
    report = compute(events, config, as_of_ms=100 * S)
    live = LiveMetrics(config)
    for event in events:
        live.ingest(event)
    assert live.report(now_ms=100 * S) == report
    q = report.queue_totals["q"]
    assert (q.offered, q.answered, q.answered_queue_ms) == (1, 1, 2 * S)
    # two handled parts: a1's (18 s talk, 10 s hold, 5 s wrap-up) and a2's (30 s talk, and q's
    # 5 s of wrap-up when they end it)
    assert (q.handled, q.talk_ms, q.hold_ms, q.acw_ms) == (2, 48 * S, 10 * S, 10 * S)
    a1, a2, a3 = (report.agent_totals[a] for a in ("a1", "a2", "a3"))
    # the consultation is talk time of both agents, and a handled contact of neither
    assert (a1.handled, a1.talk_ms, a1.hold_ms, a1.acw_ms) == (1, 28 * S, 10 * S, 5 * S)
    assert (a2.handled, a2.talk_ms, a2.acw_ms) == (1, 36 * S, 5 * S)
    # a placed call is agent time only: nothing handled, in no queue
    assert (a3.handled, a3.talk_ms, a3.acw_ms) == (0, 35 * S, 0)
    assert set(report.queue_totals) == {"q"}


# ---------------------------------------------------------------------------------------------
# Random workloads with transfers: refusals change nothing, and the log's metrics agree


HELD = "held"


def snapshot(acd: Acd) -> object:
    agents = tuple(acd.agent_view(a.agent_id) for a in acd.agents())
    queues = tuple(acd.queue_view(q.queue_id) for q in acd.queues())
    contacts = tuple((cid, acd.contact_phase(cid)) for cid in acd.contact_ids())
    positions = tuple(
        (cid, acd.position(cid)) for cid in acd.contact_ids() if acd.contact_phase(cid) == "waiting"
    )
    return agents, queues, contacts, positions, acd.next_deadline(), acd.now


Command = tuple[Callable[..., list[Event]], tuple[Any, ...], dict[str, Any]]


class Workload:
    """Random commands for an ACD, biased toward what can succeed: answers, holds, placed
    calls, consultations and transfers among them."""

    def __init__(self, seed: int) -> None:
        rng = self.rng = random.Random(seed)
        self.acd = Acd("t1")
        self.log: list[Event] = []
        self.queues = [
            QueueSpec("q0", wrap_up_s=rng.choice((0, 5, 30))),
            QueueSpec("q1", wrap_up_s=rng.choice((0, 10)), strategy="ring_all"),
            QueueSpec("q2", members=frozenset({"a0", "a1"}), max_wait_s=rng.choice((None, 90))),
        ]
        for q in self.queues:
            self.log += self.acd.configure_queue(q, 0)
        self.agent_ids = [f"a{i}" for i in range(rng.randint(2, 5))]
        for agent_id in self.agent_ids:
            self.log += self.acd.configure_agent(AgentSpec(agent_id), 0)
        self.consults: dict[str, str] = {}  # consultation -> the held contact it is about
        self.now = 0
        self.n = 0

    def mine(self, agent_id: str, *phases: str) -> list[str]:
        return [c for c, p in self.acd.agent_view(agent_id).contacts if p in phases]

    def pairs(self, *phases: str) -> list[tuple[str, str]]:
        """(agent, contact) for every contact an agent holds in one of ``phases``."""
        return [(a, c) for a in self.agent_ids for c in self.mine(a, *phases)]

    def free(self, but: str = "") -> list[str]:
        """Logged-in agents other than ``but`` with no contact."""
        views = [self.acd.agent_view(a) for a in self.agent_ids if a != but]
        return [v.agent_id for v in views if v.presence != "logged_out" and not v.contacts]

    def command(self) -> Command:
        acd, rng, now = self.acd, self.rng, self.now
        a, b = rng.choice(self.agent_ids), rng.choice(self.agent_ids)
        live = acd.contact_ids()
        c = rng.choice(live) if live and rng.random() < 0.9 else f"x{rng.randint(0, self.n + 1)}"
        on_call = self.pairs("talking", "held")
        consults = self.consults.items()
        held = [(h, k) for k, h in consults if k in live and acd.contact_phase(h) == HELD]
        holders = [y for _, y in self.pairs("talking", "held", "wrap_up", "offered")]
        answered = [(h, k) for h, k in held if holders.count(k) == 2]  # by another agent too
        waiting = [k for h, k in held if holders.count(k) == 1]
        ringing = self.pairs("offered")
        out = [x for x in self.agent_ids if acd.agent_view(x).presence == "logged_out"]
        if out and rng.random() < 0.1:
            return acd.login, (rng.choice(out), now), {"ready": True}
        if answered and rng.random() < 0.3:
            return acd.complete_transfer, (*rng.choice(answered), now), {}
        free = self.free()
        if waiting and free and rng.random() < 0.3:
            return acd.start_inbound_consult, (rng.choice(free), rng.choice(waiting), now), {}
        if held and rng.random() < 0.05:
            return acd.complete_transfer, (*rng.choice(held), now), {}
        if ringing and rng.random() < 0.4:
            x, y = rng.choice(ringing)
            return rng.choice((acd.answer,) * 4 + (acd.decline,)), (x, y, now), {}
        op = rng.randrange(20)
        if op < 4:
            if sum(acd.contact_phase(x) == "waiting" for x in live) >= 3:
                return acd.advance, (now,), {}
            self.n += 1
            return acd.enqueue, (f"c{self.n}", rng.choice(self.queues).queue_id, now), {}
        if op < 6:
            return rng.choice(((acd.login, (a, now), {"ready": True}), (acd.ready, (a, now), {})))
        if op == 6:
            return rng.choice(((acd.not_ready, (a, "break", now), {}), (acd.logout, (a, now), {})))
        if op < 9:
            x, y = rng.choice(on_call) if on_call else (a, c)
            return rng.choice((acd.hold, acd.retrieve)), (x, y, now), {}
        if op < 10:
            if rng.random() < 0.5:
                return acd.hangup, (rng.choice(on_call)[1] if on_call else c, now), {}
            wrapping = self.pairs("wrap_up")
            return acd.end_wrap_up, (*(rng.choice(wrapping) if wrapping else (a, c)), now), {}
        if op < 12:
            self.n += 1
            holding = self.pairs("held")
            about: str | None = None
            if holding and rng.random() < 0.7:
                a, about = rng.choice(holding)
            return acd.start_outbound, (a, f"o{self.n}", now), {"consult_for": about}
        if op == 12:
            placed = [x for x in live if x.startswith("o")]
            dialing = [x for x in live if acd.contact_phase(x) == "dialing"]
            if dialing and rng.random() < 0.5:
                return (
                    rng.choice((acd.callback_connected, acd.callback_failed)),
                    (dialing[0], now),
                    {},
                )
            return (
                acd.outbound_failed,
                (rng.choice(placed) if placed else c, now),
                {"reason": "busy"},
            )
        if op < 15:
            placed = [x for x in live if x in self.consults] or [x for x in live if x[0] == "o"]
            k = rng.choice(placed) if placed else c
            return acd.start_inbound_consult, (rng.choice(free) if free else b, k, now), {}
        if op < 17:
            x, y = rng.choice(on_call) if on_call and rng.random() < 0.8 else (a, c)
            free = self.free(but=x)
            if not free or rng.random() < 0.5:
                return acd.transfer, (y, now), {"to_queue": rng.choice(self.queues).queue_id}
            b = rng.choice(free)
            if acd.agent_view(b).presence == "not_ready":  # they go ready to take it
                self.log += acd.ready(b, now)
            return acd.transfer, (y, now), {"to_agent": b}
        if op == 17:
            return acd.disposition, (a, c, "done", now), {"justified_long": rng.random() < 0.3}
        if op == 18:
            return rng.choice((acd.abandon, acd.request_callback)), (c, now), {}
        return acd.advance, (now,), {}

    def run(self, steps: int) -> int:
        """Apply ``steps`` commands; every refused one must leave the ACD as it was. Returns
        how many were refused."""
        refused = 0
        for _ in range(steps):
            self.now += self.rng.choice((0, 1, 500, 1000, 3000, 10000, 20000))
            self.log += self.acd.advance(self.now)
            fn, args, kwargs = self.command()
            before = snapshot(self.acd)
            try:
                events = fn(*args, **kwargs)
            except AcdError:
                refused += 1
                assert snapshot(self.acd) == before, f"{fn.__name__}{args} {kwargs} changed it"
                continue
            self.log += events
            for event in events:
                if isinstance(event.body, ContactOutboundStarted) and event.body.consult_for:
                    self.consults[event.body.contact_id] = event.body.consult_for
        return refused


def transfer_workload(seed: int, steps: int) -> tuple[list[Event], int, set[str]]:
    """The log of a random workload, the number of refused commands, the events' types."""
    work = Workload(seed)
    refused = work.run(steps)
    return logged(work.log), refused, {e.type for e in work.log}


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1), steps=st.integers(10, 250))
def test_random_workloads_refuse_cleanly_and_their_metrics_agree(seed: int, steps: int) -> None:
    events, _, _ = transfer_workload(seed, steps)
    rng = random.Random(seed)
    config = MetricsConfig(
        interval_s=rng.choice((900, 1800)),
        ring_period_s=rng.choice((1, 5)),
        above_hold_baseline=rng.choice(("queue", "tenant", "fixed")),
        above_hold_fixed_s=10,
    )
    live = LiveMetrics(config)
    for event in events:
        live.ingest(event)
    assert live.report() == compute(events, config)
    end = events[-1].ts
    later = end + rng.choice((0, 1, 450_000))
    assert live.report(now_ms=later) == compute(events, config, as_of_ms=later)
    for window in (60_000, 900_000):
        assert live.rolling(later, window) == compute_rolling(events, config, later, window)
    at = rng.randint(0, end)
    prefix = [e for e in events if e.ts <= at]
    partial = LiveMetrics(config)
    for event in prefix:
        partial.ingest(event)
    assert partial.rolling(at, 900_000) == compute_rolling(events, config, at, 900_000)
    assert partial.report(now_ms=at) == compute(events, config, as_of_ms=at)


def test_random_workloads_exercise_transfers() -> None:
    seen: set[str] = set()
    refused = 0
    for seed in range(30):
        _, n, kinds_seen = transfer_workload(seed, 250)
        seen |= kinds_seen
        refused += n
    assert refused > 0
    expected = {
        "contact.outbound_started",
        "contact.outbound_failed",
        "contact.consult_answered",
        "contact.transferred",
        "contact.transfer_connected",
        "contact.ring_no_answer",
        "callback.requested",
        "agent.acw_ended",
    }
    assert expected <= seen, expected - seen
