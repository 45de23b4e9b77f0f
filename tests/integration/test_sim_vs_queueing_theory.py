"""The simulator, driving the production ACD, reproduces queueing theory.

M/M/c (Poisson arrivals, exponential handle times, no abandonment) must match Erlang C;
with exponential patience (M/M/c+M) it must match Erlang A. Estimates use batch means: the
run is cut into 1-day batches (busy periods last minutes, so days are practically
independent) and the theoretical value must lie within 4 standard errors of the batch mean.
Seeds are fixed, so the outcome is deterministic; the bounds say how far chance alone could
take a correct simulator.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from glasshouse.domain.events import Event
from glasshouse.domain.sim import parse_scenario, simulate
from glasshouse.domain.wfm.erlang import erlang_a, erlang_c, erlang_c_asa

DAY_MS = 86_400_000
Z = 4.0


@dataclass
class Call:
    queued: int
    answered: int | None = None
    abandoned: int | None = None


def calls_by_day(events: list[Event], start_ms: int, warmup_ms: int) -> dict[int, list[Call]]:
    calls: dict[str, Call] = {}
    for e in events:
        body = e.body
        cid = getattr(body, "contact_id", None)
        if e.type == "contact.queued":
            calls[cid] = Call(e.ts)  # type: ignore[index]
        elif e.type == "contact.answered":
            calls[cid].answered = e.ts  # type: ignore[index]
        elif e.type == "contact.abandoned":
            calls[cid].abandoned = e.ts  # type: ignore[index]
    days: dict[int, list[Call]] = {}
    for call in calls.values():
        if call.queued < start_ms + warmup_ms:
            continue
        days.setdefault((call.queued - start_ms) // DAY_MS, []).append(call)
    return days


def within(batches: list[float], expected: float) -> tuple[bool, str]:
    mean = statistics.fmean(batches)
    se = statistics.stdev(batches) / math.sqrt(len(batches))
    ok = abs(mean - expected) <= Z * se
    return ok, f"simulated {mean:.4f} +/- {se:.4f} (n={len(batches)}), theory {expected:.4f}"


def run(
    agents: int,
    calls_per_hour: float,
    aht_s: float,
    days: int,
    seed: int,
    patience_s: float | None = None,
) -> tuple[int, dict[int, list[Call]]]:
    arrivals: dict[str, object] = {
        "queue": "q",
        "rate_per_hour": calls_per_hour,
        "handle_time": {"dist": "exponential", "mean_s": aht_s},
    }
    if patience_s is not None:
        arrivals["patience"] = {"dist": "exponential", "mean_s": patience_s}
    scenario = parse_scenario(
        {
            "duration": f"{days}d",
            "interval": "60m",
            "seed": seed,
            "queues": [{"id": "q", "strategy": "longest_idle"}],
            "agents": [{"count": agents, "prefix": "a"}],
            "arrivals": [arrivals],
            "drain": "1h",
        }
    )
    result = simulate(scenario)
    assert result.unfinished == 0
    return scenario.start_ms, calls_by_day(result.events, scenario.start_ms, warmup_ms=3_600_000)


def per_day(days: dict[int, list[Call]], stat: Callable[[list[Call]], float]) -> list[float]:
    return [stat(calls) for _, calls in sorted(days.items()) if calls]


@pytest.mark.slow
def test_mmc_matches_erlang_c() -> None:
    agents, aht, load = 10, 180.0, 8.0
    _, days = run(agents, load * 3600 / aht, aht, days=14, seed=11)
    p_wait = per_day(days, lambda cs: sum(1 for c in cs if c.answered != c.queued) / len(cs))
    asa = per_day(days, lambda cs: sum((c.answered or 0) - c.queued for c in cs) / len(cs) / 1000)
    ok, msg = within(p_wait, erlang_c(agents, load))
    assert ok, "P(wait): " + msg
    ok, msg = within(asa, erlang_c_asa(agents, load, aht))
    assert ok, "ASA: " + msg


@pytest.mark.slow
def test_mmc_with_patience_matches_erlang_a() -> None:
    # more calls than the agents can carry: only abandonment keeps the queue finite
    agents, aht, patience, rate_per_hour = 10, 180.0, 120.0, 220.0
    _, days = run(agents, rate_per_hour, aht, days=14, seed=12, patience_s=patience)
    theory = erlang_a(agents, rate_per_hour / 3600, aht, patience)

    def abandon(cs: list[Call]) -> float:
        return sum(1 for c in cs if c.abandoned is not None) / len(cs)

    def waits(cs: list[Call]) -> float:
        return sum(1 for c in cs if c.answered != c.queued) / len(cs)

    def asa(cs: list[Call]) -> float:
        answered = [c.answered - c.queued for c in cs if c.answered is not None]
        return sum(answered) / len(answered) / 1000

    for name, stat, expected in (
        ("P(abandon)", abandon, theory.p_abandon),
        ("P(wait)", waits, theory.p_wait),
        ("ASA", asa, theory.asa),
    ):
        ok, msg = within(per_day(days, stat), expected)
        assert ok, f"{name}: {msg}"


def test_bounds_reject_a_wrong_model() -> None:
    """The check has teeth: the same run is far outside the bounds of a different model."""
    agents, aht, load = 10, 180.0, 8.0
    _, days = run(agents, load * 3600 / aht, aht, days=5, seed=11)
    p_wait = per_day(days, lambda cs: sum(1 for c in cs if c.answered != c.queued) / len(cs))
    ok, _ = within(p_wait, erlang_c(agents + 1, load))
    assert not ok
