"""Erlang B / C / A against published figures and independent exact computations.

Independent references used below (none shares code with the module under test):

* ``_b_exact`` / ``_c_exact``: the textbook definitions with factorials and powers, in exact
  rational arithmetic (``fractions.Fraction``).
* ``_erlang_a_exact``: the M/M/n+M birth-death chain summed in 60-digit ``decimal`` arithmetic
  and truncated where the terms fall below 1e-45 of the total, plus the tagged-caller model: a
  caller who finds ``j`` waiting passes stages with exit rates ``n mu + i theta`` (i = j..0)
  and abandons at rate ``theta``; the service level (only when a threshold is given) uses the
  hypoexponential distribution of the stage times by partial fractions, used only where the
  queue is short, as that sum alternates.
"""

from __future__ import annotations

import itertools
import math
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.wfm import erlang as erlang_module
from glasshouse.domain.wfm.erlang import (
    ErlangAResult,
    ErlangError,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_asa,
    erlang_c_service_level,
    occupancy,
    offered_load,
    scheduled_agents,
    staff_erlang_a,
    staff_erlang_c,
)

# ---------------------------------------------------------------------------------------------
# Independent references


def _b_exact(n: int, load: Fraction) -> Fraction:
    terms = [load**k / math.factorial(k) for k in range(n + 1)]
    return terms[n] / sum(terms)


def _c_exact(n: int, load: Fraction) -> Fraction:
    top = load**n / math.factorial(n) * Fraction(n) / (n - load)
    return top / (sum(load**k / math.factorial(k) for k in range(n)) + top)


def _erlang_a_exact(
    n: int, lam: float, aht: float, patience: float, threshold: float | None
) -> dict[str, float]:
    with localcontext() as ctx:
        ctx.prec = 60
        lam_d, mu, theta = Decimal(repr(lam)), 1 / Decimal(repr(aht)), 1 / Decimal(repr(patience))
        weights = [Decimal(1)]
        total = Decimal(1)
        k = 0
        while k <= n + 5 or weights[-1] > total * Decimal("1e-45"):
            k += 1
            weights.append(weights[-1] * lam_d / (min(k, n) * mu + max(k - n, 0) * theta))
            total += weights[-1]
        pi = [w / total for w in weights]
        waiting = sum((k - n) * pi[k] for k in range(n, len(pi)))
        answered = sum(pi[:n], Decimal(0))
        within = sum(pi[:n], Decimal(0))
        wait_of_answered = Decimal(0)
        t = Decimal(repr(threshold or 0.0))
        for k in range(n, len(pi)):
            rates = [n * mu + i * theta for i in range(1, k - n + 2)]
            p_answer = Decimal(1)
            for i, rate in enumerate(rates):
                p_answer *= (n * mu + i * theta) / rate
            answered += pi[k] * p_answer
            wait_of_answered += pi[k] * p_answer * sum(1 / r for r in rates)
            if threshold is None:
                continue
            survival = Decimal(0)
            for i, ri in enumerate(rates):
                coeff = Decimal(1)
                for j, rj in enumerate(rates):
                    if j != i:
                        coeff *= rj / (rj - ri)
                survival += coeff * (-ri * t).exp()
            within += pi[k] * p_answer * (1 - survival)
        figures = {
            "p_wait": float(sum(pi[n:])),
            "p_abandon": float(theta * waiting / lam_d),
            "asa": float(wait_of_answered / answered),
            "mean_wait_all": float(waiting / lam_d),
            "occupancy": float(answered * lam_d / mu / n),
        }
        if threshold is not None:
            figures["service_level"] = float(within)
        return figures


def _full_recursion(n: int, load: float) -> float:
    b = 1.0
    for k in range(1, n + 1):
        b = load * b / (k + load * b)
    return b


# ---------------------------------------------------------------------------------------------
# Erlang B


def test_erlang_b_table_values() -> None:
    # Erlang B table entries for 10 Erlangs: 10 lines -> 0.2146, 15 lines -> 0.0365 (standard
    # printed Erlang B tables); the exact rationals agree (0.214582..., 0.036497...).
    assert erlang_b(10, 10) == pytest.approx(0.2146, abs=5e-5)
    assert erlang_b(15, 10) == pytest.approx(0.0365, abs=5e-5)
    assert erlang_b(10, 10) == pytest.approx(float(_b_exact(10, Fraction(10))), rel=1e-14)
    assert erlang_b(15, 10) == pytest.approx(float(_b_exact(15, Fraction(10))), rel=1e-14)


def test_erlang_b_wolfram_examples() -> None:
    # Wolfram Language documentation, ErlangB "Applications": a pool of four modems offered
    # 2 Erlangs (exact value 2/21 from the definition), and "30 call lines and 25 Erlangs:
    # the loss probability is approximately 0.05".
    assert erlang_b(4, 2) == pytest.approx(2 / 21, rel=1e-15)
    assert erlang_b(30, 25) == pytest.approx(0.05, abs=0.005)
    assert erlang_b(30, 25) == pytest.approx(float(_b_exact(30, Fraction(25))), rel=1e-14)


@pytest.mark.parametrize(
    ("n", "load"),
    [
        (0, Fraction(3)),
        (1, Fraction(1)),
        (5, Fraction(1, 3)),
        (7, Fraction(22, 7)),
        (40, Fraction(48)),
        (120, Fraction(1001, 10)),
    ],
)
def test_erlang_b_matches_exact_definition(n: int, load: Fraction) -> None:
    assert erlang_b(n, float(load)) == pytest.approx(float(_b_exact(n, load)), rel=1e-13)


def test_erlang_b_edge_cases() -> None:
    assert erlang_b(0, 0.0) == 1.0
    assert erlang_b(5, 0.0) == 0.0
    assert erlang_b(1, 1.0) == 0.5
    assert erlang_b(2_000, 1.0) == 0.0  # underflows cleanly, no error


def test_warm_started_recursion_equals_full_recursion() -> None:
    # Large loads start the recursion part-way; the result must equal the recursion from 0.
    for load in (300.0, 1000.5, 12_345.6, 100_000.0):
        for n in (int(load * 0.7), int(load) - 3, int(load), int(load) + 1, int(load * 1.01)):
            full = _full_recursion(n, load)
            assert erlang_b(n, load) == pytest.approx(full, rel=1e-15, abs=0.0)


# ---------------------------------------------------------------------------------------------
# Erlang C


def test_erlang_c_pyworkforce_example() -> None:
    # pyworkforce, pyworkforce/queuing/tests/test_erlang.py (the Call Centre Helper "Erlang C
    # formula made simple" inputs): 100 calls per 30 min, AHT 3 min, threshold 0.33 min,
    # 80 % target, max occupancy 85 %, shrinkage 30 % -> 14 raw positions, 20 positions,
    # service level 0.888, occupancy 0.714, waiting probability 0.174.
    load = offered_load(100, 180, 1800)
    assert load == 10.0
    n = staff_erlang_c(load, 180, 0.8, 19.8, max_occupancy=0.85)
    assert n == 14
    assert scheduled_agents(n, 0.3) == 20
    assert round(erlang_c_service_level(n, load, 180, 19.8), 3) == 0.888
    assert round(occupancy(n, load), 3) == 0.714
    assert round(erlang_c(n, load), 3) == 0.174
    # Same file: max occupancy 0.7 -> 15 raw, 22 positions, SL 0.941, occupancy 0.667, 0.102.
    n = staff_erlang_c(load, 180, 0.8, 19.8, max_occupancy=0.7)
    assert n == 15
    assert scheduled_agents(n, 0.3) == 22
    assert round(erlang_c_service_level(n, load, 180, 19.8), 3) == 0.941
    assert round(occupancy(n, load), 3) == 0.667
    assert round(erlang_c(n, load), 3) == 0.102


def test_erlang_c_pyworkforce_readme_example() -> None:
    # pyworkforce README, "Queue systems" example: ErlangC(transactions=100, asa=20/60, aht=3,
    # interval=30, shrinkage=0.3).required_positions(service_level=0.8, max_occupancy=0.85)
    # -> raw_positions 14, positions 20, service_level 0.8883500191794669,
    # occupancy 0.7142857142857143, waiting_probability 0.1741319335950498.
    load = offered_load(100, 180, 1800)
    n = staff_erlang_c(load, 180, 0.8, 20, max_occupancy=0.85)
    assert (n, scheduled_agents(n, 0.3)) == (14, 20)
    assert erlang_c_service_level(n, load, 180, 20) == pytest.approx(0.8883500191794669, rel=1e-14)
    assert occupancy(n, load) == pytest.approx(0.7142857142857143, rel=1e-15)
    assert erlang_c(n, load) == pytest.approx(0.1741319335950498, rel=1e-14)
    assert erlang_c(n, load) == pytest.approx(float(_c_exact(14, Fraction(10))), rel=1e-14)


def test_erlang_c_westbay_example() -> None:
    # Inputs of the widely reproduced step-by-step Erlang C example: 360 calls per half hour,
    # average duration 4 min, 55 agents, 15 s target answer time (A = 48 Erlangs, occupancy
    # 0.873). Reference values computed here from the factorial definition in exact
    # rationals: P(wait) = 0.238701, ASA = 8.18403 s, P(wait <= 15 s) = 0.845883.
    load = offered_load(360, 240, 1800)
    assert load == 48.0
    exact_c = _c_exact(55, Fraction(48))
    assert erlang_c(55, load) == pytest.approx(float(exact_c), rel=1e-13)
    assert erlang_c(55, load) == pytest.approx(0.238701, abs=5e-7)
    assert erlang_c_asa(55, load, 240) == pytest.approx(float(exact_c * 240 / 7), rel=1e-13)
    assert erlang_c_asa(55, load, 240) == pytest.approx(8.18403, abs=5e-6)
    sl = 1 - float(exact_c) * math.exp(-7 * 15 / 240)
    assert erlang_c_service_level(55, load, 240, 15) == pytest.approx(sl, rel=1e-13)
    assert erlang_c_service_level(55, load, 240, 15) == pytest.approx(0.845883, abs=5e-7)
    assert occupancy(55, load) == pytest.approx(0.873, abs=5e-4)


@pytest.mark.parametrize(
    ("n", "load"),
    [
        (1, Fraction(1, 2)),
        (3, Fraction(5, 2)),
        (12, Fraction(10)),
        (20, Fraction(19)),
        (60, Fraction(48)),
    ],
)
def test_erlang_c_matches_exact_definition(n: int, load: Fraction) -> None:
    assert erlang_c(n, float(load)) == pytest.approx(float(_c_exact(n, load)), rel=1e-13)


def test_erlang_c_without_steady_state() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c(9, 10.0) == 1.0
    assert erlang_c_service_level(10, 10.0, 180, 20) == 0.0
    assert erlang_c_asa(10, 10.0, 180) == math.inf
    assert occupancy(8, 10.0) == 1.25
    assert occupancy(0, 0.0) == 0.0
    assert occupancy(0, 1.0) == math.inf
    assert erlang_c(3, 0.0) == 0.0
    assert erlang_c_service_level(3, 0.0, 180, 20) == 1.0
    assert erlang_c_asa(3, 0.0, 180) == 0.0


def test_erlang_c_staffing_is_the_smallest_that_meets_every_target() -> None:
    load = offered_load(360, 240, 1800)
    n = staff_erlang_c(load, 240, 0.8, 20)
    assert n == 54
    assert (
        erlang_c_service_level(n, load, 240, 20) >= 0.8 > erlang_c_service_level(53, load, 240, 20)
    )
    n_asa = staff_erlang_c(load, 240, 0.8, 20, asa_target=3.0)
    assert erlang_c_asa(n_asa, load, 240) <= 3.0 < erlang_c_asa(n_asa - 1, load, 240)
    # The occupancy cap is met exactly at 34 / 40 = 0.85 despite binary rounding.
    assert staff_erlang_c(34, 60, 0.5, 60, max_occupancy=0.85) == 40
    assert staff_erlang_c(0.0, 240, 0.8, 20) == 0


def test_shrinkage_is_exact_for_decimal_inputs() -> None:
    assert scheduled_agents(14, 0.3) == 20  # 14 / 0.7 is 20.000000000000004 in floating point
    assert scheduled_agents(9, 0.1) == 10
    assert scheduled_agents(7, 0.3) == 10
    assert scheduled_agents(46, 0.3) == 66
    assert scheduled_agents(5, 0.0) == 5
    assert scheduled_agents(0, 0.5) == 0


# ---------------------------------------------------------------------------------------------
# Erlang A


def test_erlang_a_pyworkforce_snapshot() -> None:
    # pyworkforce, pyworkforce/queuing/tests/test_abandonment.py (its own truncated chain and
    # uniformisation): 100 calls per 30 min, AHT 3 min, mean patience 5 min, 14 positions ->
    # waiting probability 0.14526, abandonment 0.013984, occupancy 0.704297, mean wait of all
    # calls 0.069919 min, answered within 20 s 0.916792.
    r = erlang_a(14, 100 / 1800, 180, 300)
    assert round(r.p_wait, 5) == 0.14526
    assert round(r.p_abandon, 6) == 0.013984
    assert round(r.occupancy, 6) == 0.704297
    assert round(r.mean_wait_all / 60, 6) == 0.069919
    assert round(r.service_level(20), 6) == 0.916792


@pytest.mark.parametrize(
    ("n", "lam", "aht", "patience", "threshold"),
    [
        (14, 100 / 1800, 180.0, 300.0, 20.0),  # the pyworkforce case
        (3, 0.05, 100.0, 30.0, 10.0),
        (5, 1.0, 10.0, 2.0, 1.0),  # overloaded, impatient
        (8, 0.3, 40.0, 15.0, 30.0),
        (20, 1.0, 30.0, 20.0, 10.0),  # fewer agents than the 30 Erlangs offered
        (1, 0.1, 30.0, 60.0, 5.0),
    ],
)
def test_erlang_a_matches_exact_chain(
    n: int, lam: float, aht: float, patience: float, threshold: float
) -> None:
    ref = _erlang_a_exact(n, lam, aht, patience, threshold)
    r = erlang_a(n, lam, aht, patience)
    for name in ("p_wait", "p_abandon", "asa", "mean_wait_all", "occupancy"):
        assert getattr(r, name) == pytest.approx(ref[name], rel=1e-12), name
    assert r.service_level(threshold) == pytest.approx(ref["service_level"], rel=1e-11)


@pytest.mark.parametrize(
    ("n", "lam", "aht", "patience"),
    [
        (40, 1.0, 60.0, 600.0),  # 60 Erlangs on 40 agents: about 200 waiting
        (100, 1.0, 120.0, 900.0),  # 120 Erlangs on 100 agents: about 150 waiting
        (2, 0.5, 60.0, 300.0),  # 30 Erlangs on 2 agents: about 140 waiting
    ],
)
def test_erlang_a_long_queues_match_exact_chain(
    n: int, lam: float, aht: float, patience: float
) -> None:
    # Deep queues exercise the asymptotic series for the log-gamma and harmonic sums.
    ref = _erlang_a_exact(n, lam, aht, patience, None)
    r = erlang_a(n, lam, aht, patience)
    for name in ("p_wait", "p_abandon", "asa", "mean_wait_all", "occupancy"):
        assert getattr(r, name) == pytest.approx(ref[name], rel=1e-11), name
    assert r.service_level(0.0) == pytest.approx(1 - ref["p_wait"], abs=1e-12)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    load, aht = 10.0, 180.0
    for n in (11, 12, 15):
        r = erlang_a(n, load / aht, aht, 1e10)
        assert r.p_wait == pytest.approx(erlang_c(n, load), rel=1e-6)
        assert r.asa == pytest.approx(erlang_c_asa(n, load, aht), rel=1e-5)
        assert r.service_level(20) == pytest.approx(
            erlang_c_service_level(n, load, aht, 20), rel=1e-6
        )
        assert r.p_abandon < 1e-6


def test_erlang_a_tends_to_erlang_b_as_patience_vanishes() -> None:
    # With no patience nobody queues: the callers who find every agent busy are lost.
    load, aht = 10.0, 180.0
    for n in (5, 10, 15):
        r = erlang_a(n, load / aht, aht, 1e-6)
        assert r.p_wait == pytest.approx(erlang_b(n, load), rel=1e-6)
        assert r.p_abandon == pytest.approx(erlang_b(n, load), rel=1e-6)


def test_erlang_a_edge_cases() -> None:
    r = erlang_a(0, 0.1, 60, 30)
    assert (r.p_wait, r.p_abandon, r.asa, r.occupancy) == (1.0, 1.0, math.inf, 0.0)
    assert r.mean_wait_all == pytest.approx(30.0)
    assert r.service_level(20) == 0.0
    idle = erlang_a(3, 0.0, 60, 30)
    assert (idle.p_wait, idle.p_abandon, idle.asa, idle.service_level(0)) == (0.0, 0.0, 0.0, 1.0)
    huge = erlang_a(1_000, 0.01, 60, 30)  # Erlang B underflows; everything answered at once
    assert (huge.p_wait, huge.p_abandon, huge.service_level(0)) == (0.0, 0.0, 1.0)


def test_erlang_a_service_level_variants() -> None:
    r = erlang_a(46, 0.2, 240, 60)
    all_calls = r.service_level(20)
    over_counted = r.service_level_excluding_short(20, 20)
    glossary = r.service_level_excluding_short(20, 5)
    # Leaving early abandons out of the denominator can only raise the figure.
    assert all_calls < glossary < over_counted < 1
    assert r.service_level_excluding_short(20, 0) == pytest.approx(all_calls, rel=1e-12)
    assert r.service_level(0) == pytest.approx(1 - r.p_wait, rel=1e-12)
    assert r.service_level(1e6) == pytest.approx(r.p_answered, rel=1e-12)


def test_erlang_a_staffs_below_the_offered_load() -> None:
    # 360 calls per 30 min at 240 s = 48 Erlangs; callers wait 60 s on average. With
    # abandonment 46 agents answer 80 % of all calls within 20 s; a search that starts at the
    # offered load (as pyworkforce 0.5.4 does) can only answer 48.
    lam, aht, patience = 360 / 1800, 240.0, 60.0
    n = staff_erlang_a(lam, aht, patience, 0.8, 20)
    assert n == 46 < 48
    assert erlang_a(46, lam, aht, patience).service_level(20) >= 0.8
    assert erlang_a(45, lam, aht, patience).service_level(20) < 0.8
    first_from_load = next(
        m for m in range(48, 100) if erlang_a(m, lam, aht, patience).service_level(20) >= 0.8
    )
    assert first_from_load == 48


def test_erlang_a_staffing_honours_every_cap() -> None:
    lam, aht, patience = 360 / 1800, 240.0, 60.0
    n = staff_erlang_a(
        lam, aht, patience, 0.8, 20, max_occupancy=0.9, asa_target=4.0, max_abandon=0.08
    )
    r, below = erlang_a(n, lam, aht, patience), erlang_a(n - 1, lam, aht, patience)
    assert r.occupancy <= 0.9 and r.asa <= 4.0 and r.p_abandon <= 0.08
    assert r.service_level(20) >= 0.8
    assert not (
        below.occupancy <= 0.9
        and below.asa <= 4.0
        and below.p_abandon <= 0.08
        and below.service_level(20) >= 0.8
    )
    glossary = staff_erlang_a(lam, aht, patience, 0.8, 20, short_abandon_s=5)
    assert erlang_a(glossary, lam, aht, patience).service_level_excluding_short(20, 5) >= 0.8
    assert erlang_a(glossary - 1, lam, aht, patience).service_level_excluding_short(20, 5) < 0.8
    assert staff_erlang_a(0.0, aht, patience, 0.8, 20) == 0


# ---------------------------------------------------------------------------------------------
# Very large loads


def test_erlang_b_and_c_at_100k_erlangs() -> None:
    load = 100_000.0
    bs = [erlang_b(n, load) for n in range(99_900, 100_400, 50)]
    assert all(0.0 < b < 1.0 for b in bs)
    assert all(a > b for a, b in itertools.pairwise(bs))
    cs = [erlang_c(n, load) for n in range(100_001, 100_400, 50)]
    assert all(0.0 < c <= 1.0 for c in cs)
    assert all(a > b for a, b in itertools.pairwise(cs))
    n = staff_erlang_c(load, 180, 0.8, 20)
    assert erlang_c_service_level(n, load, 180, 20) >= 0.8
    assert erlang_c_service_level(n - 1, load, 180, 20) < 0.8
    assert load < n < load + 100


@pytest.mark.parametrize("load", [10_000.0, 100_000.0])
def test_erlang_a_at_very_large_loads(load: float) -> None:
    aht, patience = 180.0, 180.0
    previous: ErlangAResult | None = None
    for n in (int(load * 0.9), int(load * 0.99), int(load), int(load * 1.01)):
        r = erlang_a(n, load / aht, aht, patience)
        figures = (r.p_wait, r.p_abandon, r.occupancy, r.service_level(20))
        assert all(0.0 <= f <= 1.0 for f in figures)
        assert math.isfinite(r.asa) and math.isfinite(r.mean_wait_all)
        # Carried load: every answered call occupies an agent for one AHT.
        assert r.occupancy * n == pytest.approx(load * (1 - r.p_abandon), rel=1e-9)
        if previous is not None:
            assert r.p_abandon < previous.p_abandon
            assert r.service_level(20) >= previous.service_level(20)
        previous = r
    n = staff_erlang_a(load / aht, aht, patience, 0.8, 20)
    assert erlang_a(n, load / aht, aht, patience).service_level(20) >= 0.8
    assert erlang_a(n - 1, load / aht, aht, patience).service_level(20) < 0.8


# ---------------------------------------------------------------------------------------------
# Numerical helpers


@pytest.mark.parametrize("a", [1.0, 1.5, 7.25, 16.0, 250.5, 1e5, 3e7])
@pytest.mark.parametrize("m", [0, 1, 63, 64, 65, 200, 5_000])
def test_special_function_helpers(a: float, m: int) -> None:
    direct_log = math.fsum(math.log(a + j) for j in range(m))
    direct_harmonic = math.fsum(1.0 / (a + j) for j in range(m))
    assert erlang_module._log_rising(a, m) == pytest.approx(direct_log, rel=1e-14, abs=1e-14)
    assert erlang_module._harmonic(a, m) == pytest.approx(direct_harmonic, rel=1e-13, abs=1e-300)


# ---------------------------------------------------------------------------------------------
# Properties

loads = st.floats(min_value=0.01, max_value=300.0, allow_nan=False)
agent_counts = st.integers(min_value=0, max_value=400)
times = st.floats(min_value=0.0, max_value=600.0, allow_nan=False)
ahts = st.floats(min_value=5.0, max_value=900.0, allow_nan=False)
patiences = st.floats(min_value=1.0, max_value=3_600.0, allow_nan=False)


@settings(deadline=None)
@given(n=agent_counts, load=loads)
def test_erlang_b_is_a_probability_falling_in_agents_rising_in_load(n: int, load: float) -> None:
    b = erlang_b(n, load)
    assert 0.0 <= b <= 1.0
    assert erlang_b(n + 1, load) <= b
    assert erlang_b(n, load * 1.1) >= b
    assert erlang_c(n, load) >= b


@settings(deadline=None)
@given(n=agent_counts, load=loads, aht=ahts, t1=times, t2=times)
def test_erlang_c_service_level_rises_with_threshold_and_agents(
    n: int, load: float, aht: float, t1: float, t2: float
) -> None:
    low, high = sorted((t1, t2))
    sl_low = erlang_c_service_level(n, load, aht, low)
    assert 0.0 <= sl_low <= erlang_c_service_level(n, load, aht, high) <= 1.0
    assert erlang_c_service_level(n + 1, load, aht, low) >= sl_low
    assert 0.0 <= erlang_c(n + 1, load) <= erlang_c(n, load) <= 1.0
    assert erlang_c_asa(n + 1, load, aht) <= erlang_c_asa(n, load, aht)


@settings(deadline=None, max_examples=60)
@given(n=st.integers(min_value=0, max_value=150), load=loads, aht=ahts, patience=patiences, t=times)
def test_erlang_a_is_consistent_and_improves_with_agents(
    n: int, load: float, aht: float, patience: float, t: float
) -> None:
    lam = load / aht
    r, more = erlang_a(n, lam, aht, patience), erlang_a(n + 1, lam, aht, patience)
    for p in (r.p_wait, r.p_abandon, r.occupancy, r.service_level(t)):
        assert 0.0 <= p <= 1.0
    # Service levels are accurate to about 1e-11 absolute at the heaviest overloads.
    assert r.service_level(t) <= r.service_level(t + 10.0) + 1e-10
    assert r.service_level(t) <= r.p_answered + 1e-10
    assert r.p_abandon <= r.p_wait + 1e-12
    assert r.mean_wait_all == pytest.approx(r.p_abandon * patience, rel=1e-12)
    if n > 0:
        assert r.occupancy * n == pytest.approx(load * (1 - r.p_abandon), rel=1e-9, abs=1e-12)
    # More agents never hurt (to within rounding of figures that are essentially 0 or 1).
    assert more.service_level(t) >= r.service_level(t) - 1e-10
    assert more.p_abandon <= r.p_abandon + 1e-12
    assert more.p_wait <= r.p_wait + 1e-12
    assert more.asa <= r.asa * (1 + 1e-12)
    assert n == 0 or more.occupancy <= r.occupancy + 1e-12


@settings(deadline=None, max_examples=40)
@given(load=st.floats(min_value=0.1, max_value=200.0), aht=ahts, patience=patiences)
def test_erlang_a_staffing_is_minimal(load: float, aht: float, patience: float) -> None:
    lam = load / aht
    n = staff_erlang_a(lam, aht, patience, 0.8, 20)
    assert erlang_a(n, lam, aht, patience).service_level(20) >= 0.8 - 1e-12
    assert n == 1 or erlang_a(n - 1, lam, aht, patience).service_level(20) < 0.8


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: erlang_b(-1, 1.0), "agents"),
        (lambda: erlang_b(2.5, 1.0), "agents"),  # type: ignore[arg-type]
        (lambda: erlang_b(True, 1.0), "agents"),
        (lambda: erlang_b(3, -0.5), "load"),
        (lambda: erlang_c(3, math.nan), "load"),
        (lambda: erlang_c(3, math.inf), "load"),
        (lambda: erlang_c_service_level(3, 1.0, 0.0, 20), "aht_s"),
        (lambda: erlang_c_service_level(3, 1.0, 60, -1), "threshold_s"),
        (lambda: erlang_c_asa(3, 1.0, -60), "aht_s"),
        (lambda: offered_load(-1, 60, 1800), "calls_per_interval"),
        (lambda: offered_load(10, 60, 0), "interval_s"),
        (lambda: staff_erlang_c(10, 180, 1.0, 20), "target_sl"),
        (lambda: staff_erlang_c(10, 180, 0.0, 20), "target_sl"),
        (lambda: staff_erlang_c(10, 180, 0.8, 20, max_occupancy=1.2), "max_occupancy"),
        (lambda: staff_erlang_c(10, 180, 0.8, 20, asa_target=0), "asa_target"),
        (lambda: erlang_a(3, 0.1, 60, 0.0), "patience_s"),
        (lambda: erlang_a(3, -0.1, 60, 30), "arrival_rate_per_s"),
        (lambda: erlang_a(3, 0.1, 60, 30).service_level(-5), "threshold_s"),
        (lambda: staff_erlang_a(0.1, 60, 30, 0.8, 20, max_abandon=1.5), "max_abandon"),
        (lambda: staff_erlang_a(0.1, 60, 30, 0.8, 20, short_abandon_s=-1), "short_abandon_s"),
        (lambda: scheduled_agents(10, 1.0), "shrinkage"),
        (lambda: scheduled_agents(10, -0.1), "shrinkage"),
    ],
)
def test_bad_input_raises_erlang_error_naming_the_parameter(call: object, parameter: str) -> None:
    with pytest.raises(ErlangError) as info:
        call()  # type: ignore[operator]
    assert info.value.parameter == parameter
    assert str(info.value).startswith(parameter)
    assert isinstance(info.value, ValueError)
