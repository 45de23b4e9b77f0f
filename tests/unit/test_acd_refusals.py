"""A refused command changes nothing: the engine's observable state is as it was."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.acd import Acd, AcdError
from glasshouse.testing.acd_workload import random_workload


def snapshot(acd: Acd) -> Any:
    agents = tuple(acd.agent_view(a.agent_id) for a in acd.agents())
    queues = tuple(acd.queue_view(q.queue_id) for q in acd.queues())
    contacts = tuple((cid, acd.contact_phase(cid)) for cid in acd.contact_ids())
    positions = tuple(
        (cid, acd.position(cid)) for cid in acd.contact_ids() if acd.contact_phase(cid) == "waiting"
    )
    return agents, queues, contacts, positions, acd.next_deadline(), acd.now


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_refused_commands_change_nothing(seed: int) -> None:
    acd = Acd("t")
    random_workload(acd, seed, steps=150)
    rng = random.Random(seed)
    agents = [a.agent_id for a in acd.agents()] + ["ghost"]
    contacts = [*acd.contact_ids(), "c1", "nobody"]
    queues = [q.queue_id for q in acd.queues()] + ["noq"]
    now = acd.now
    refused = 0
    for _ in range(200):
        a, c, q = rng.choice(agents), rng.choice(contacts), rng.choice(queues)
        commands = [
            (acd.login, (a, now)),
            (acd.logout, (a, now)),
            (acd.ready, (a, now)),
            (acd.not_ready, (a, rng.choice(("break", "nap")), now)),
            (acd.answer, (a, c, now)),
            (acd.hold, (a, c, now)),
            (acd.retrieve, (a, c, now)),
            (acd.hangup, (c, now)),
            (acd.end_wrap_up, (a, c, now)),
            (acd.abandon, (c, now)),
            (acd.request_callback, (c, now)),
            (acd.callback_connected, (c, now)),
            (acd.callback_failed, (c, now)),
            (acd.enqueue, (c, q, now)),
            (acd.disposition, (a, c, "", now)),
            (acd.advance, (now - 1,)),
            (acd.start_outbound, (a, c, now)),
            (acd.start_outbound, (a, "o1", now, {"consult_for": c})),
            (acd.outbound_failed, (c, now)),
            (acd.start_inbound_consult, (a, c, now)),
            (acd.transfer, (c, now, {"to_queue": q})),
            (acd.transfer, (c, now, {"to_agent": a})),
            (acd.complete_transfer, (c, rng.choice(contacts), now)),
        ]
        fn, args = rng.choice(commands)
        kwargs: dict[str, Any] = {}
        if args and isinstance(args[-1], dict):
            args, kwargs = args[:-1], args[-1]
        before = snapshot(acd)
        try:
            fn(*args, **kwargs)  # type: ignore[operator]
        except AcdError:
            refused += 1
            assert snapshot(acd) == before, f"{fn.__name__}{args} was refused but changed state"
        if rng.random() < 0.3:
            now += rng.choice((1, 1000, 20000))
            acd.advance(now)
    assert refused > 0
