"""Behaviour of the ACD engine, observed through the events it returns."""

from __future__ import annotations

import pytest

from glasshouse.domain.acd import (
    Acd,
    AcdError,
    AgentSpec,
    ClockError,
    ConfigError,
    InvalidTransition,
    QueueSpec,
    UnknownAgent,
    UnknownContact,
    UnknownQueue,
)
from glasshouse.domain.events import (
    AgentNotReady,
    CallbackDialing,
    ContactOffered,
    Event,
)

S = 1000  # ms


def kinds(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def offers(events: list[Event]) -> list[tuple[str, str]]:
    return [
        (e.body.contact_id, e.body.agent_id) for e in events if isinstance(e.body, ContactOffered)
    ]


def make(
    *queues: QueueSpec, agents: dict[str, dict[str, int]] | None = None, ready: bool = True
) -> Acd:
    acd = Acd("t1")
    for q in queues:
        acd.configure_queue(q, 0)
    for agent_id, skills in (agents or {}).items():
        acd.configure_agent(AgentSpec(agent_id, skills), 0)
    for i, agent_id in enumerate(agents or {}):
        acd.login(agent_id, i, ready=ready)
    return acd


def test_offer_answer_hold_end_wrap_up() -> None:
    acd = make(QueueSpec("sales", wrap_up_s=30), agents={"a1": {}})
    ev = acd.enqueue("c1", "sales", 10 * S)
    assert kinds(ev) == ["contact.queued", "contact.offered"]
    assert kinds(acd.answer("a1", "c1", 12 * S)) == ["contact.answered"]
    assert kinds(acd.hold("a1", "c1", 20 * S)) == ["contact.held"]
    assert kinds(acd.retrieve("a1", "c1", 25 * S)) == ["contact.retrieved"]
    assert kinds(acd.hangup("c1", 40 * S)) == ["contact.ended", "agent.acw_started"]
    assert acd.agent_view("a1").contacts == (("c1", "wrap_up"),)
    assert acd.next_deadline() == 70 * S
    ev = acd.advance(70 * S)
    assert kinds(ev) == ["agent.acw_ended"]
    assert ev[0].ts == 70 * S
    assert acd.agent_view("a1").contacts == ()


def test_zero_wrap_up_frees_agent_at_once_and_next_contact_is_offered() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    acd.enqueue("c1", "q", 0)
    acd.enqueue("c2", "q", 1)
    acd.answer("a1", "c1", 2)
    ev = acd.hangup("c1", 3)
    assert kinds(ev) == [
        "contact.ended",
        "agent.acw_started",
        "agent.acw_ended",
        "contact.offered",
    ]
    assert offers(ev) == [("c2", "a1")]


def test_end_wrap_up_early() -> None:
    acd = make(QueueSpec("q", wrap_up_s=60), agents={"a1": {}})
    acd.enqueue("c1", "q", 0)
    acd.answer("a1", "c1", 1)
    acd.hangup("c1", 2, by="agent")
    assert kinds(acd.end_wrap_up("a1", "c1", 5)) == ["agent.acw_ended"]
    assert acd.advance(70 * S) == []  # the wrap-up timer is void now


def test_longest_idle_agent_first() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}, "a2": {}, "a3": {}})
    # a1 went ready at 0, a2 at 1, a3 at 2: a1 has been idle longest
    assert offers(acd.enqueue("c1", "q", 10)) == [("c1", "a1")]
    assert offers(acd.enqueue("c2", "q", 11)) == [("c2", "a2")]


def test_round_robin_rotates() -> None:
    acd = make(QueueSpec("q", strategy="round_robin"), agents={"a1": {}, "a2": {}, "a3": {}})
    got = []
    for i in range(6):
        ev = acd.enqueue(f"c{i}", "q", 100 + i * 10)
        (cid, agent), *_ = offers(ev)
        got.append(agent)
        acd.answer(agent, cid, 101 + i * 10)
        acd.hangup(cid, 102 + i * 10)
    assert got == ["a1", "a2", "a3", "a1", "a2", "a3"]


def test_least_calls() -> None:
    acd = make(QueueSpec("q", strategy="least_calls"), agents={"a1": {}, "a2": {}})
    for i, t in enumerate((10, 20)):
        ev = acd.enqueue(f"c{i}", "q", t)
        (cid, agent), *_ = offers(ev)
        acd.answer(agent, cid, t + 1)
        acd.hangup(cid, t + 2)
    # both took one call; a1 idle longer -> a1; then a2 (fewer calls)
    ev = acd.enqueue("c9", "q", 30)
    assert offers(ev) == [("c9", "a1")]


def test_skills_based_prefers_highest_proficiency() -> None:
    acd = make(
        QueueSpec("billing", strategy="skills_based", skills={"billing": 1}),
        agents={"a1": {"billing": 2}, "a2": {"billing": 5}, "a3": {"billing": 5}, "a4": {}},
    )
    assert offers(acd.enqueue("c1", "billing", 10)) == [("c1", "a2")]
    assert offers(acd.enqueue("c2", "billing", 11)) == [("c2", "a3")]
    assert offers(acd.enqueue("c3", "billing", 12)) == [("c3", "a1")]
    ev = acd.enqueue("c4", "billing", 13)  # a4 lacks the skill
    assert offers(ev) == []


def test_contact_skill_requirement_and_widening() -> None:
    acd = make(
        QueueSpec("q", skills={"en": 1}, widen_after_s=(30, 60)),
        agents={"a1": {"en": 2}},
    )
    ev = acd.enqueue("c1", "q", 0, skills={"en": 4, "vip": 1})
    assert offers(ev) == []
    # after 30 s: en >= 3, vip >= 1 -> still no; after 60 s: extras dropped, en >= 1 -> a1
    assert offers(acd.advance(30 * S)) == []
    assert offers(acd.advance(60 * S)) == [("c1", "a1")]


def test_widening_lowers_levels() -> None:
    acd = make(
        QueueSpec("q", skills={"en": 3}, widen_after_s=(10, 20, 30)), agents={"a1": {"en": 2}}
    )
    acd.enqueue("c1", "q", 0)
    assert offers(acd.advance(9 * S)) == []
    assert offers(acd.advance(10 * S)) == [("c1", "a1")]


def test_priority_vip_first() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}}, ready=False)
    acd.enqueue("c1", "q", 0)
    acd.enqueue("c2", "q", 1, priority=5)
    acd.enqueue("c3", "q", 2)
    assert acd.position("c2") == 1
    assert acd.position("c1") == 2
    assert acd.position("c3") == 3
    assert offers(acd.ready("a1", 3)) == [("c2", "a1")]


def test_ring_all_first_answer_wins() -> None:
    acd = make(QueueSpec("q", strategy="ring_all"), agents={"a1": {}, "a2": {}, "a3": {}})
    ev = acd.enqueue("c1", "q", 10)
    assert sorted(offers(ev)) == [("c1", "a1"), ("c1", "a2"), ("c1", "a3")]
    ev = acd.answer("a2", "c1", 12)
    assert kinds(ev) == ["contact.answered", "contact.offer_withdrawn", "contact.offer_withdrawn"]
    assert {e.body.agent_id for e in ev[1:]} == {"a1", "a3"}  # type: ignore[attr-defined]
    # the others are free again
    assert offers(acd.enqueue("c2", "q", 13)) == [("c2", "a1"), ("c2", "a3")]


def test_ring_no_answer_puts_agent_not_ready_and_requeues_at_front() -> None:
    acd = make(QueueSpec("q", ring_timeout_s=10), agents={"a1": {}, "a2": {}})
    acd.not_ready("a2", "break", 1)
    acd.enqueue("c1", "q", 2)
    acd.enqueue("c2", "q", 3)
    ev = acd.advance(2 + 10 * S)
    assert kinds(ev) == ["contact.ring_no_answer", "agent.not_ready"]
    assert isinstance(ev[1].body, AgentNotReady) and ev[1].body.reason == "ring_no_answer"
    assert acd.position("c1") == 1  # back at the front
    ev = acd.ready("a2", 20 * S)
    assert offers(ev) == [("c1", "a2")]


def test_not_ready_while_busy_applies_after_wrap_up() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    acd.enqueue("c1", "q", 0)
    acd.answer("a1", "c1", 1)
    assert acd.not_ready("a1", "lunch", 2) == []
    acd.enqueue("c2", "q", 3)
    ev = acd.hangup("c1", 4)
    assert kinds(ev)[-1] == "agent.not_ready"
    assert acd.agent_view("a1").reason == "lunch"
    assert acd.queue_view("q").waiting == 1


def test_unknown_reason_code_rejected() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    with pytest.raises(AcdError, match="unknown not-ready reason 'nap'"):
        acd.not_ready("a1", "nap", 5)


def test_talking_agent_cannot_log_out() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    acd.enqueue("c1", "q", 0)
    acd.answer("a1", "c1", 1)
    with pytest.raises(InvalidTransition, match="contact 'c1' is talking"):
        acd.logout("a1", 2)
    assert acd.agent_view("a1").presence == "ready"
    acd.hangup("c1", 3)
    assert kinds(acd.logout("a1", 4)) == ["agent.logged_out"]


def test_max_wait_times_out() -> None:
    acd = make(QueueSpec("q", max_wait_s=60))
    acd.enqueue("c1", "q", 0)
    ev = acd.advance(60 * S)
    assert kinds(ev) == ["contact.timed_out"]
    with pytest.raises(UnknownContact):
        acd.position("c1")


def test_overflow_after_timeout() -> None:
    acd = make(QueueSpec("backup"), QueueSpec("q", overflow_queue_id="backup", overflow_after_s=30))
    acd.configure_agent(AgentSpec("b1", capacity={"voice": 1}), 0)
    acd.enqueue("c1", "q", 0)
    ev = acd.advance(30 * S)
    assert kinds(ev) == ["contact.overflowed", "contact.queued"]
    assert ev[1].body.queue_id == "backup"  # type: ignore[attr-defined]


def test_overflow_when_nobody_logged_in() -> None:
    acd = make(
        QueueSpec("backup"),
        QueueSpec("q", skills={"x": 1}, overflow_queue_id="backup", overflow_when_no_agents=True),
        agents={"a1": {}},
    )
    ev = acd.enqueue("c1", "q", 10)
    assert kinds(ev) == [
        "contact.queued",
        "contact.overflowed",
        "contact.queued",
        "contact.offered",
    ]


def test_max_wait_while_ringing_applies_if_it_rings_out() -> None:
    acd = make(QueueSpec("q", max_wait_s=5, ring_timeout_s=10), agents={"a1": {}})
    acd.enqueue("c1", "q", 0)
    assert acd.advance(5 * S) == []  # ringing: leave it
    ev = acd.advance(10 * S)
    assert kinds(ev) == ["contact.ring_no_answer", "agent.not_ready", "contact.timed_out"]


def test_abandon_while_ringing_withdraws_offer() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    acd.enqueue("c1", "q", 0)
    ev = acd.hangup("c1", 3 * S)
    assert kinds(ev) == ["contact.abandoned", "contact.offer_withdrawn"]
    assert acd.agent_view("a1").contacts == ()
    assert acd.advance(60 * S) == []


def test_callback_keeps_place_and_becomes_outbound_attempt() -> None:
    # Retried at once (callback_retry_s=0); the delay has its own tests.
    acd = make(
        QueueSpec("q", max_wait_s=100, callback_max_attempts=2, callback_retry_s=0),
        agents={"a1": {}},
        ready=False,
    )
    acd.enqueue("c1", "q", 0)
    acd.enqueue("c2", "q", 1)
    assert kinds(acd.request_callback("c1", 5)) == ["callback.requested"]
    assert acd.position("c1") == 1
    # c2 times out; c1 is a callback: maximum wait no longer applies to it
    assert kinds(acd.advance(200 * S)) == ["contact.timed_out"]
    assert acd.queue_view("q").waiting == 1
    ev = acd.ready("a1", 201 * S)
    assert kinds(ev) == ["agent.ready", "callback.dialing"]
    assert isinstance(ev[1].body, CallbackDialing)
    ev = acd.callback_failed("c1", 230 * S)
    assert kinds(ev) == ["callback.failed", "callback.dialing"]
    ev = acd.callback_connected("c1", 240 * S)
    assert kinds(ev) == ["contact.answered"]


def test_callback_given_up_after_attempts() -> None:
    acd = make(QueueSpec("q", callback_max_attempts=1), agents={"a1": {}}, ready=False)
    acd.enqueue("c1", "q", 0)
    acd.request_callback("c1", 1)
    acd.ready("a1", 2)
    ev = acd.callback_failed("c1", 3)
    assert ev[0].body.retry is False  # type: ignore[attr-defined]
    with pytest.raises(UnknownContact):
        acd.position("c1")


def test_expected_wait_and_position() -> None:
    acd = make(QueueSpec("q", default_aht_s=120), agents={"a1": {}, "a2": {}}, ready=False)
    for i in range(5):
        acd.enqueue(f"c{i}", "q", 10 + i)
    assert acd.position("c4") == 5
    assert acd.expected_wait_s("c4") == 300  # 5 x 120 s / 2 agents
    assert acd.expected_wait_s("c0") == 60


def test_chat_capacity() -> None:
    acd = Acd("t1")
    acd.configure_queue(QueueSpec("chat"), 0)
    acd.configure_agent(AgentSpec("a1", capacity={"chat": 3, "voice": 1}), 0)
    acd.login("a1", 0, ready=True)
    got = [offers(acd.enqueue(f"c{i}", "chat", 1 + i, channel="chat")) for i in range(4)]
    assert got[:3] == [[("c0", "a1")], [("c1", "a1")], [("c2", "a1")]]
    assert got[3] == []
    # a voice call is not offered while chats are open
    assert offers(acd.enqueue("v1", "chat", 10)) == []


def test_errors_leave_state_unchanged() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    with pytest.raises(UnknownQueue):
        acd.enqueue("c1", "nope", 1)
    with pytest.raises(UnknownAgent):
        acd.login("ghost", 1)
    with pytest.raises(InvalidTransition, match="already logged in"):
        acd.login("a1", 1)
    acd.configure_agent(AgentSpec("a2"), 1)
    acd.enqueue("c1", "q", 1)
    with pytest.raises(InvalidTransition, match="not ringing at agent 'a2'"):
        acd.answer("a2", "c1", 1)
    with pytest.raises(UnknownContact):
        acd.answer("a1", "zz", 1)
    with pytest.raises(ClockError, match="backwards"):
        acd.advance(0)
    with pytest.raises(ConfigError, match="level 9 is outside"):
        AgentSpec("x", {"en": 9})
    with pytest.raises(ConfigError, match="unknown strategy"):
        QueueSpec("q2", strategy="random")  # type: ignore[arg-type]
    with pytest.raises(AcdError, match="level must be 1-5"):
        acd.enqueue("c2", "q", 2, skills={"en": 0})
    assert acd.agent_view("a1").contacts == (("c1", "offered"),)


def test_events_are_stamped_with_tenant_and_time() -> None:
    acd = make(QueueSpec("q"), agents={"a1": {}})
    ev = acd.enqueue("c1", "q", 1234)
    assert all(e.tenant == "t1" and e.ts == 1234 and e.seq == 0 for e in ev)


def test_decline_is_a_ring_no_answer_at_once() -> None:
    from glasshouse.domain.acd import Acd, AgentSpec, QueueSpec
    from glasshouse.domain.acd.errors import InvalidTransition

    acd = Acd("t")
    acd.configure_queue(QueueSpec("q", ring_timeout_s=30), 0)
    for a in ("a1", "a2"):
        acd.configure_agent(AgentSpec(a), 0)
        acd.login(a, 0, ready=True)
    acd.arrive("c1", 10)
    events = acd.enqueue("c1", "q", 20)
    offered = [e.body for e in events if e.type == "contact.offered"]
    assert len(offered) == 1
    first = offered[0].agent_id  # type: ignore[attr-defined]
    events = acd.decline(first, "c1", 1_000)
    types = [e.type for e in events]
    assert types[:2] == ["contact.ring_no_answer", "agent.not_ready"]
    assert all(e.ts == 1_000 for e in events)
    reoffered = [e.body for e in events if e.type == "contact.offered"]
    assert [b.agent_id for b in reoffered] == [next(a for a in ("a1", "a2") if a != first)]  # type: ignore[attr-defined]
    import pytest

    with pytest.raises(InvalidTransition):
        acd.decline(first, "c1", 1_001)
