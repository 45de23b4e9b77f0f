"""The indexed router chooses exactly what the naive full scan chooses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.acd import Acd
from glasshouse.testing.acd_workload import random_workload
from glasshouse.testing.naive_router import NaiveRouter


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_indexed_and_naive_routers_agree(seed: int) -> None:
    fast = random_workload(Acd("t"), seed)
    slow = random_workload(Acd("t", router=NaiveRouter), seed)
    assert fast.errors == slow.errors
    assert [e.to_dict() for e in fast.events] == [e.to_dict() for e in slow.events]


def test_workloads_exercise_the_engine() -> None:
    kinds: set[str] = set()
    for seed in range(40):
        kinds.update(e.type for e in random_workload(Acd("t"), seed).events)
    expected = {
        "contact.offered",
        "contact.answered",
        "contact.ended",
        "contact.abandoned",
        "contact.ring_no_answer",
        "contact.overflowed",
        "contact.timed_out",
        "contact.offer_withdrawn",
        "callback.requested",
        "callback.dialing",
        "callback.failed",
        "agent.acw_ended",
        "agent.not_ready",
    }
    assert expected <= kinds, expected - kinds
