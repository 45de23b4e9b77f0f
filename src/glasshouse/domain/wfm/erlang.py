"""Erlang B, Erlang C and Erlang A (M/M/n+M): the staffing maths.

Notation: ``A`` is the offered load in Erlangs (arrival rate x AHT), ``n`` the number of agents.

* **Erlang B** is computed by the recursion ``B(0) = 1``, ``B(k) = A B(k-1) / (k + A B(k-1))``,
  which never forms a factorial or a power and is stable for any load. For large loads the
  recursion is started part-way (see :func:`_recursion_start`) at a point chosen so that the
  result differs from the full recursion by less than 1e-20 relative; a staffing search then
  extends the same recursion one agent at a time instead of restarting it.
* **Erlang C** follows from Erlang B: ``C = n B / (n - A + A B)`` for ``n > A``; the service level
  is ``1 - C exp(-(n - A) T / AHT)`` and the ASA ``C AHT / (n - A)``.
* :func:`staff_erlang_c_many` staffs many intervals in one call, with numpy across the
  intervals, and returns exactly what :func:`staff_erlang_c` returns for each of them.
* **Erlang A** (Palm's M/M/n+M: exponential patience with mean ``patience``; Garnett, Mandelbaum
  and Reiman 2002, "Designing a call center with impatient customers"; Mandelbaum and Zeltyn,
  "The M/M/n+G queue: summary of performance measures") is solved exactly from its birth-death
  chain. Relative to the state "all n agents busy, nobody waiting", the state with ``k`` waiting
  has weight ``t_k = x^k / ((y+1)(y+2)...(y+k))`` with ``x = lambda / theta`` and
  ``y = n mu / theta``. Every measure is a short sum of such terms (at ``x`` for the stationary
  measures, at ``x exp(-theta T)`` for the waiting-time distribution, the incomplete-gamma
  terms of the papers above), taken outward from the largest term with logarithms for the
  scale, so nothing overflows at 100,000 Erlangs and the work grows like ``sqrt(lambda *
  patience)``, not like the load.

Accuracy: Erlang B and C to a few units in the last place; the Erlang A stationary figures to
about 1e-13 relative, checked against exact rational and 60-digit sums. An Erlang A service level
is a difference of two such figures, good to a few 1e-15 x lambda x patience absolute (under
1e-9 at 100,000 Erlangs with half an hour of patience), which only shows when it is practically 0.

Times are in seconds. Inputs are checked and a bad one raises :class:`ErlangError`, which names
the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final, TypeAlias, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "ErlangAResult",
    "ErlangError",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_asa",
    "erlang_c_service_level",
    "occupancy",
    "offered_load",
    "scheduled_agents",
    "staff_erlang_a",
    "staff_erlang_c",
    "staff_erlang_c_many",
]

# Targets count as met within this relative tolerance, so that e.g. 34 Erlangs on 40 agents
# meets an 85 % occupancy cap although 34 / 40 is not exactly 0.85 in binary floating point.
_TOL: Final = 1e-12
# A sum is cut where its next term is below this fraction of the running total.
_SUM_EPS: Final = 1e-18
# A warm-started Erlang B recursion must agree with the full one to this relative error.
_LOG_WARM_START_ERROR: Final = math.log(1e-20)
# Staffing searches give up beyond this many agents (only reachable with absurd targets).
_MAX_AGENTS: Final = 1 << 31


class ErlangError(ValueError):
    """A staffing input is out of range; ``parameter`` names it and the message says why."""

    def __init__(self, parameter: str, requirement: str, value: object) -> None:
        super().__init__(f"{parameter} {requirement}, got {value!r}")
        self.parameter = parameter
        self.requirement = requirement
        self.value = value


# ---------------------------------------------------------------------------------------------
# Input checks


def _number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ErlangError(name, "must be a number", value)
    x = float(value)
    if math.isnan(x):
        raise ErlangError(name, "must be a number", value)
    return x


def _non_negative(name: str, value: float) -> float:
    x = _number(name, value)
    if not (0.0 <= x < math.inf):
        raise ErlangError(name, "must be a finite number >= 0", value)
    return x


def _positive(name: str, value: float) -> float:
    x = _number(name, value)
    if not (0.0 < x < math.inf):
        raise ErlangError(name, "must be a finite number > 0", value)
    return x


def _open_unit(name: str, value: float) -> float:
    x = _number(name, value)
    if not (0.0 < x < 1.0):
        raise ErlangError(name, "must be strictly between 0 and 1", value)
    return x


def _occupancy_cap(value: float) -> float:
    x = _number("max_occupancy", value)
    if not (0.0 < x <= 1.0):
        raise ErlangError("max_occupancy", "must be in (0, 1]", value)
    return x


def _agents(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ErlangError("agents", "must be an integer", value)
    if value < 0:
        raise ErlangError("agents", "must be >= 0", value)
    return value


def _meets_min(value: float, target: float) -> bool:
    return value >= target - _TOL * max(1.0, abs(target))


def _meets_max(value: float, limit: float) -> bool:
    return value <= limit + _TOL * max(1.0, abs(limit))


# ---------------------------------------------------------------------------------------------
# Erlang B and Erlang C


def offered_load(calls_per_interval: float, aht_s: float, interval_s: float) -> float:
    """Offered load in Erlangs: ``calls * AHT / interval`` (AHT and interval in seconds)."""
    calls = _non_negative("calls_per_interval", calls_per_interval)
    aht = _positive("aht_s", aht_s)
    interval = _positive("interval_s", interval_s)
    return calls * aht / interval


def _recursion_start(n: int, a: float) -> int:
    """Where the Erlang B recursion may start with ``B = 1`` instead of at 0.

    With ``r(k) = 1 / B(k)`` the recursion reads ``r(k) = 1 + (k / A) r(k - 1)``, so starting
    at ``k0`` with ``r = 1`` under-states ``r(k0)`` by at most ``k0 / (A - k0)`` (for
    ``k0 < A``) and the error is multiplied by ``k / A`` at each later step. Up to
    ``m = min(n, floor(A))`` those factors are below 1 and shrink it by at least
    ``exp(-sum (A - k) / A)``; beyond ``A`` the relative error cannot grow. Starting about
    11 standard deviations (``11 sqrt(A)``) below ``m`` leaves a relative error under 1e-20.
    """
    m = min(n, math.floor(a))
    if m < 256:
        return 0
    k0 = math.floor(m - 11.0 * math.sqrt(a))
    if k0 <= 0:
        return 0
    steps = m - k0
    log_damping = -(steps * a - (k0 + 1 + m) * steps / 2.0) / a
    if math.log(k0 / (a - k0)) + log_damping > _LOG_WARM_START_ERROR:
        return 0
    return k0


def _erlang_b(n: int, a: float) -> float:
    b = 1.0
    for k in range(_recursion_start(n, a) + 1, n + 1):
        ab = a * b
        b = ab / (k + ab)
        if b == 0.0:  # underflow: B is below 1e-308 and only decreases from here
            break
    return b


def _erlang_c_from_b(n: int, a: float, b: float) -> float:
    if n <= a:
        return 1.0
    return n * b / ((n - a) + a * b)


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` servers offered ``load`` Erlangs with no queue."""
    return _erlang_b(_agents(agents), _non_negative("load", load))


def erlang_c(agents: int, load: float) -> float:
    """Probability that a call waits (M/M/n); 1.0 when ``agents <= load`` (no steady state)."""
    n = _agents(agents)
    a = _non_negative("load", load)
    if n <= a:
        return 1.0
    return _erlang_c_from_b(n, a, _erlang_b(n, a))


def _sl_c(n: int, a: float, c: float, aht: float, threshold: float) -> float:
    if n <= a:
        return 0.0
    return max(0.0, 1.0 - c * math.exp(-(n - a) * threshold / aht))


def _asa_c(n: int, a: float, c: float, aht: float) -> float:
    if n <= a:
        return math.inf
    return c * aht / (n - a)


def erlang_c_service_level(agents: int, load: float, aht_s: float, threshold_s: float) -> float:
    """Erlang C service level ``P(wait <= threshold)``; 0.0 when ``agents <= load``."""
    n = _agents(agents)
    a = _non_negative("load", load)
    aht = _positive("aht_s", aht_s)
    threshold = _non_negative("threshold_s", threshold_s)
    return _sl_c(n, a, erlang_c(n, a), aht, threshold)


def erlang_c_asa(agents: int, load: float, aht_s: float) -> float:
    """Erlang C average speed of answer in seconds; ``inf`` when ``agents <= load``."""
    n = _agents(agents)
    a = _non_negative("load", load)
    aht = _positive("aht_s", aht_s)
    return _asa_c(n, a, erlang_c(n, a), aht)


def occupancy(agents: int, load: float) -> float:
    """Erlang C occupancy ``load / agents``; above 1 means the queue has no steady state."""
    n = _agents(agents)
    a = _non_negative("load", load)
    if n == 0:
        return 0.0 if a == 0.0 else math.inf
    return a / n


def scheduled_agents(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that ``agents`` remain after ``shrinkage``: ceil(n / (1 - s)).

    The shrinkage is taken as the decimal it was written as (0.3, not the binary double just
    below it), so 14 agents at 30 % shrinkage schedule exactly 20.
    """
    n = _agents(agents)
    s = _number("shrinkage", shrinkage)
    if not (0.0 <= s < 1.0):
        raise ErlangError("shrinkage", "must be in [0, 1)", shrinkage)
    return math.ceil(n / (1 - Fraction(repr(s))))


def _min_agents_for_occupancy(a: float, cap: float) -> int:
    n = max(1, math.ceil(a / cap))
    while n > 1 and _meets_max(a / (n - 1), cap):
        n -= 1
    while not _meets_max(a / n, cap):
        n += 1
    return n


def staff_erlang_c(
    load: float,
    aht_s: float,
    target_sl: float,
    threshold_s: float,
    *,
    max_occupancy: float | None = None,
    asa_target: float | None = None,
) -> int:
    """Fewest agents whose Erlang C service level meets ``target_sl`` within ``threshold_s``.

    Optionally also ASA <= ``asa_target`` seconds and occupancy <= ``max_occupancy``; 0 for no load.
    """
    a = _non_negative("load", load)
    aht = _positive("aht_s", aht_s)
    target = _open_unit("target_sl", target_sl)
    threshold = _non_negative("threshold_s", threshold_s)
    cap = None if max_occupancy is None else _occupancy_cap(max_occupancy)
    asa_max = None if asa_target is None else _positive("asa_target", asa_target)
    if a == 0.0:
        return 0
    n = math.floor(a) + 1
    if cap is not None:
        n = max(n, _min_agents_for_occupancy(a, cap))
    return _search_c(n, a, _erlang_b(n, a), aht, target, threshold, asa_max)


def _search_c(
    n: int, a: float, b: float, aht: float, target: float, threshold: float, asa_max: float | None
) -> int:
    """Fewest agents from ``n`` up meeting the targets; ``b`` is Erlang B at ``n``, ``n > a``."""
    while n < _MAX_AGENTS:
        c = _erlang_c_from_b(n, a, b)
        if _meets_min(_sl_c(n, a, c, aht, threshold), target) and (
            asa_max is None or _meets_max(_asa_c(n, a, c, aht), asa_max)
        ):
            return n
        n += 1
        ab = a * b
        b = ab / (n + ab)
    raise ErlangError("target_sl", "cannot be met by any staffing", target)  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Erlang C staffing of many intervals at once

# Below this many inputs still in progress a plain Python loop beats a numpy step.
_BATCH_TAIL: Final = 32
# numpy's exp may differ from math.exp in the last bit, so a service level this close to the
# target is decided again with math.exp, exactly as staff_erlang_c decides it.
_EXP_RECHECK: Final = 1e-12
# Inputs that would start at this many agents or more go to staff_erlang_c one by one.
_BATCH_MAX_START: Final = float(1 << 30)
# The occupancy start is adjusted by at most this many agents in numpy, else in Python.
_BATCH_OCCUPANCY_STEPS: Final = 8

_Floats: TypeAlias = npt.NDArray[np.float64]


def _batch_values(name: str, values: Sequence[float], positive: bool) -> _Floats:
    """``values`` as a float array; element ``i`` is checked like a scalar named ``name[i]``."""
    check = _positive if positive else _non_negative
    if not isinstance(values, list | tuple | np.ndarray):
        values = list(values)
    arr: _Floats | None = None
    if isinstance(values, np.ndarray):
        if values.dtype == np.float64 and values.ndim == 1:
            arr = values
    elif set(map(type, values)) <= {float, int}:
        try:
            arr = np.array(values, dtype=np.float64)
        except OverflowError:  # an int beyond float range: the scalar check raises as usual
            arr = None
    if arr is None:  # bools, numpy scalars, strings...: checked one at a time
        return np.array([check(f"{name}[{i}]", v) for i, v in enumerate(values)], np.float64)
    bad = ~(((arr > 0.0) if positive else (arr >= 0.0)) & (arr < math.inf))
    if bad.any():
        i = int(np.argmax(bad))
        check(f"{name}[{i}]", values[i])  # raises
    return arr


def staff_erlang_c_many(
    loads: Sequence[float],
    aht_s: Sequence[float] | float,
    target_sl: float,
    threshold_s: float,
    *,
    max_occupancy: float | None = None,
    asa_target: float | None = None,
) -> list[int]:
    """:func:`staff_erlang_c` for each load, vectorised: the same agent counts, faster.

    ``aht_s`` is one AHT for all loads or one per load. The Erlang B recursion runs for all
    inputs at once, from the same start point as the scalar search and with the same operations
    in the same order, so every intermediate value is bit for bit the scalar one; only the
    exponential in the service level comes from numpy, and a service level within 1e-12 of
    the target is decided again with :func:`math.exp`. The last few inputs still in progress,
    and any that would start at 2**30 agents or more, finish in the scalar code itself.

    Inputs are checked like the scalar function's, in argument order; a bad element raises
    :class:`ErlangError` naming it with its index, e.g. ``loads[3]`` or ``aht_s[0]``.
    """
    a = _batch_values("loads", loads, positive=False)
    if isinstance(aht_s, Sequence | np.ndarray) and not isinstance(aht_s, str | bytes):
        if len(aht_s) != a.size:
            raise ErlangError("aht_s", f"must have one value per load ({a.size})", len(aht_s))
        aht = _batch_values("aht_s", aht_s, positive=True)
    else:
        aht = np.full(a.size, _positive("aht_s", cast(float, aht_s)))  # a str fails here
    target = _open_unit("target_sl", target_sl)
    threshold = _non_negative("threshold_s", threshold_s)
    cap = None if max_occupancy is None else _occupancy_cap(max_occupancy)
    asa_max = None if asa_target is None else _positive("asa_target", asa_target)
    return _staff_c_batch(a, aht, target, threshold, cap, asa_max)


def _occupancy_starts(a: _Floats, cap: float, scalar: npt.NDArray[np.bool_]) -> _Floats:
    """:func:`_min_agents_for_occupancy` for all inputs at once, but those marked ``scalar``.

    Inputs it cannot settle in a few steps (a tiny cap, whose tolerance spans many agents) or
    that would start at 2**30 agents or more are marked ``scalar`` instead.
    """
    limit = cap + _TOL * max(1.0, abs(cap))  # as in _meets_max
    n = np.maximum(np.ceil(a / cap), 1.0)
    scalar |= ~(n < _BATCH_MAX_START)
    for step in (-1.0, 1.0):
        for i in range(_BATCH_OCCUPANCY_STEPS + 1):
            if step < 0.0:
                move = (n > 1.0) & (a / np.maximum(n - 1.0, 1.0) <= limit)
            else:
                move = ~(a / n <= limit)
            move &= ~scalar
            if not move.any():
                break
            if i == _BATCH_OCCUPANCY_STEPS:
                scalar |= move
                break
            n[move] += step
    return n


def _staff_c_batch(
    a: _Floats,
    aht: _Floats,
    target: float,
    threshold: float,
    cap: float | None,
    asa_max: float | None,
    *,
    tail: int = _BATCH_TAIL,
    recheck: float = _EXP_RECHECK,
) -> list[int]:
    """The staffing search of :func:`staff_erlang_c` for checked inputs, ``tail`` >= 0."""
    with np.errstate(over="ignore"):  # Python floats overflow to inf silently too
        return _staff_c_search(a, aht, target, threshold, cap, asa_max, tail, recheck)


def _staff_c_search(
    a: _Floats,
    aht: _Floats,
    target: float,
    threshold: float,
    cap: float | None,
    asa_max: float | None,
    tail: int,
    recheck: float,
) -> list[int]:
    out = np.zeros(a.size, dtype=np.int64)
    # First candidates, as staff_erlang_c picks them; float n is exact below 2**53.
    n0 = np.floor(a) + 1.0
    scalar = a >= _BATCH_MAX_START
    if cap is not None:
        n0 = np.maximum(n0, _occupancy_starts(a, cap, scalar))
    for i in np.flatnonzero(scalar).tolist():
        out[i] = staff_erlang_c(
            float(a[i]), float(aht[i]), target, threshold, max_occupancy=cap, asa_target=asa_max
        )

    # Erlang B at the first candidate: the recursion from each input's start point, stepped for
    # all inputs together. Sorted by the number of steps, those still going are a prefix.
    work = np.flatnonzero((a > 0.0) & ~scalar)
    aw = a[work]
    nw = n0[work]
    start = np.zeros(work.size)
    for j in np.flatnonzero(aw >= 256.0).tolist():  # below, _recursion_start is 0
        start[j] = _recursion_start(int(nw[j]), float(aw[j]))
    steps = nw - start
    order = np.argsort(-steps, kind="stable")
    work, aw, nw, steps, hw = work[order], aw[order], nw[order], steps[order], aht[work][order]
    k = start[order] + 1.0  # the next k of each recursion
    b = np.ones(work.size)
    ab = np.empty(work.size)
    den = np.empty(work.size)
    max_steps = int(steps[0]) if work.size else 0
    going = work.size - np.searchsorted(steps[::-1], np.arange(max_steps), side="right")
    live = 0
    for count in going.tolist():
        if count < tail:
            live = count
            break
        a_, b_, k_, ab_, den_ = aw[:count], b[:count], k[:count], ab[:count], den[:count]
        np.multiply(a_, b_, out=ab_)
        np.add(k_, ab_, out=den_)
        np.divide(ab_, den_, out=b_)
        k_ += 1.0
    # The few longest recursions finish in Python, as _erlang_b would, and search from there.
    for i in range(live):
        ai, bi, ni = float(aw[i]), float(b[i]), int(nw[i])
        for kk in range(int(k[i]), ni + 1):
            abi = ai * bi
            bi = abi / (kk + abi)
            if bi == 0.0:
                break
        out[work[i]] = _search_c(ni, ai, bi, float(hw[i]), target, threshold, asa_max)

    # The search, one candidate n per step for every input not yet staffed.
    sl_min = target - _TOL * max(1.0, abs(target))  # as in _meets_min
    asa_limit = None if asa_max is None else asa_max + _TOL * max(1.0, abs(asa_max))
    pos, n, av, bv, hv = work[live:], nw[live:], aw[live:], b[live:], hw[live:]
    while pos.size and pos.size >= tail:
        d = n - av
        c = n * bv / (d + av * bv)
        sl = np.maximum(1.0 - c * np.exp(-d * threshold / hv), 0.0)
        met = sl >= sl_min
        for j in np.flatnonzero(np.abs(sl - sl_min) <= recheck).tolist():
            nj, aj, cj, hj = int(n[j]), float(av[j]), float(c[j]), float(hv[j])
            met[j] = _meets_min(_sl_c(nj, aj, cj, hj, threshold), target)
        if asa_limit is not None:
            met &= c * hv / d <= asa_limit
        out[pos[met]] = n[met]
        rest = ~met
        pos, n, av, bv, hv = pos[rest], n[rest] + 1.0, av[rest], bv[rest], hv[rest]
        ab = av * bv
        bv = ab / (n + ab)
    for j in range(pos.size):
        nj, aj, bj, hj = int(n[j]), float(av[j]), float(bv[j]), float(hv[j])
        out[pos[j]] = _search_c(nj, aj, bj, hj, target, threshold, asa_max)
    result: list[int] = out.tolist()
    return result


# ---------------------------------------------------------------------------------------------
# Special-function helpers for the Erlang A sums

_DIRECT_TERMS: Final = 64
_ASYMPTOTIC_FROM: Final = 16.0


def _log_rising(a: float, m: int) -> float:
    """``log(a (a+1) ... (a+m-1))`` = lgamma(a+m) - lgamma(a), for a >= 1, without cancellation."""
    if m <= _DIRECT_TERMS:
        return math.fsum(math.log(a + j) for j in range(m))
    head = 0.0
    if a < _ASYMPTOTIC_FROM:
        shift = math.ceil(_ASYMPTOTIC_FROM - a)
        head = math.fsum(math.log(a + j) for j in range(shift))
        a += shift
        m -= shift
    b = a + m
    # Stirling's series for lgamma(b) - lgamma(a), written so that no two large terms cancel.
    corr = (
        -m / (12.0 * a * b)
        - (1.0 / b**3 - 1.0 / a**3) / 360.0
        + (1.0 / b**5 - 1.0 / a**5) / 1260.0
        - (1.0 / b**7 - 1.0 / a**7) / 1680.0
    )
    return head + (a - 0.5) * math.log1p(m / a) + m * math.log(b) - m + corr


def _harmonic(a: float, m: int) -> float:
    """``1/a + 1/(a+1) + ... + 1/(a+m-1)`` = digamma(a+m) - digamma(a), for a >= 1."""
    if m <= _DIRECT_TERMS:
        return math.fsum(1.0 / (a + j) for j in range(m))
    head = 0.0
    if a < _ASYMPTOTIC_FROM:
        shift = math.ceil(_ASYMPTOTIC_FROM - a)
        head = math.fsum(1.0 / (a + j) for j in range(shift))
        a += shift
        m -= shift
    b = a + m
    corr = (
        m / (2.0 * a * b)
        - (1.0 / b**2 - 1.0 / a**2) / 12.0
        + (1.0 / b**4 - 1.0 / a**4) / 120.0
        - (1.0 / b**6 - 1.0 / a**6) / 252.0
        + (1.0 / b**8 - 1.0 / a**8) / 240.0
    )
    return head + math.log1p(m / a) + corr


@dataclass(frozen=True, slots=True)
class _QueueSums:
    """Sums over ``t_k = z^k / ((y+1)...(y+k))``, each divided by ``exp(log_scale)``."""

    log_scale: float
    s0: float  # sum over k >= 0 of t_k
    s0_pos: float  # sum over k >= 1 of t_k
    s1: float  # sum of k t_k
    sh: float  # sum of t_k (1/(y+1) + ... + 1/(y+k)); only when asked for


def _queue_sums(y: float, z: float, harmonic: bool) -> _QueueSums:
    if z <= 0.0:
        return _QueueSums(0.0, 1.0, 0.0, 0.0, 0.0)
    # t_k / t_(k-1) = z / (y + k) falls as k grows: the largest term is at k = floor(z - y).
    gap = z - y
    mode = math.floor(gap) if gap >= 1.0 else 0
    log_scale = mode * math.log(z) - _log_rising(y + 1.0, mode) if mode else 0.0
    h_mode = _harmonic(y + 1.0, mode) if harmonic and mode else 0.0
    s0 = 1.0
    s0_pos = 1.0 if mode else 0.0
    s1 = float(mode)
    sh = h_mode
    term, h, k = 1.0, h_mode, mode
    while True:  # upward: terms fall from the first step on
        k += 1
        term *= z / (y + k)
        if harmonic:
            h += 1.0 / (y + k)
            sh += term * h
        s0 += term
        s0_pos += term
        s1 += k * term
        if term < _SUM_EPS * s0:
            break
    term, h, k = 1.0, h_mode, mode
    while k > 0:  # downward to k = 0, or until negligible
        term *= (y + k) / z
        if harmonic:
            h -= 1.0 / (y + k)
            sh += term * max(h, 0.0)
        k -= 1
        s0 += term
        if k:
            s0_pos += term
            s1 += k * term
        if term < _SUM_EPS * s0:
            break
    return _QueueSums(log_scale, s0, s0_pos, s1, sh)


def _log(x: float) -> float:
    return math.log(x) if x > 0.0 else -math.inf


def _exp(x: float) -> float:
    return math.exp(x) if x > -math.inf else 0.0


def _logaddexp(u: float, v: float) -> float:
    if u < v:
        u, v = v, u
    if v == -math.inf:
        return u
    return u + math.log1p(math.exp(v - u))


# ---------------------------------------------------------------------------------------------
# Erlang A


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    """Steady-state figures of an M/M/n+M queue (Erlang A); times in seconds.

    ``p_wait``: an arriving call finds every agent busy. ``p_abandon``: fraction of calls that
    abandon. ``asa``: mean wait of answered calls (``inf`` with no agents). ``mean_wait_all``:
    mean time in queue over all calls, answered and abandoned. ``occupancy``: carried load per
    agent.
    """

    agents: int
    arrival_rate_per_s: float
    aht_s: float
    patience_s: float
    p_wait: float
    p_abandon: float
    asa: float
    mean_wait_all: float
    occupancy: float
    # log of the stationary probability of "all agents busy, nobody waiting"
    _log_p_full: float = field(repr=False, compare=False)

    @property
    def offered_load(self) -> float:
        """Offered load in Erlangs (arrival rate x AHT)."""
        return self.arrival_rate_per_s * self.aht_s

    @property
    def p_answered(self) -> float:
        """Fraction of calls answered (1 - ``p_abandon``)."""
        return 1.0 - self.p_abandon

    def _beyond(self, s: float) -> tuple[float, float]:
        """``P(answered after waiting more than s)``, ``P(abandoned after more than s)``."""
        if self.arrival_rate_per_s == 0.0:
            return 0.0, (math.exp(-s / self.patience_s) if self.agents == 0 else 0.0)
        x = self.arrival_rate_per_s * self.patience_s
        y = self.agents * self.patience_s / self.aht_s
        theta_s = s / self.patience_s
        z = x * math.exp(-theta_s)
        if z == 0.0:
            return 0.0, 0.0
        sums = _queue_sums(y, z, harmonic=False)
        # P(W > s) = p_full exp(-(y+1) theta s + x (1 - exp(-theta s))) sum_k t_k(z), split by
        # outcome into y sum_{k>=1} t_k(z) / z (answered) and sum_k k t_k(z) / z (abandoned).
        log_pref = self._log_p_full - (y + 1.0) * theta_s - x * math.expm1(-theta_s)
        log_pref += sums.log_scale - math.log(z)
        answered = _exp(log_pref + _log(y) + _log(sums.s0_pos))
        abandoned = _exp(log_pref + _log(sums.s1))
        return answered, abandoned

    def service_level(self, threshold_s: float) -> float:
        """Fraction of ALL arriving calls answered within ``threshold_s`` seconds."""
        threshold = _non_negative("threshold_s", threshold_s)
        answered_late, _ = self._beyond(threshold)
        return min(1.0, max(0.0, self.p_answered - answered_late))

    def service_level_excluding_short(self, threshold_s: float, short_abandon_s: float) -> float:
        """Answered within ``threshold_s`` / (answered + abandoned after ``short_abandon_s``).

        This is the GLOSSARY service level; with ``short_abandon_s = threshold_s`` it is the
        common "answered within T over answered plus abandoned after T".
        """
        threshold = _non_negative("threshold_s", threshold_s)
        short = _non_negative("short_abandon_s", short_abandon_s)
        answered_late, _ = self._beyond(threshold)
        _, abandoned_late = self._beyond(short)
        within = max(0.0, self.p_answered - answered_late)
        counted = self.p_answered + abandoned_late
        return min(1.0, within / counted) if counted > 0.0 else 0.0


def erlang_a(
    agents: int, arrival_rate_per_s: float, aht_s: float, patience_s: float
) -> ErlangAResult:
    """Exact steady state of M/M/n+M (Erlang A) with mean patience ``patience_s``.

    Defined for any load, including more calls than the agents can carry.
    """
    n = _agents(agents)
    lam = _non_negative("arrival_rate_per_s", arrival_rate_per_s)
    aht = _positive("aht_s", aht_s)
    patience = _positive("patience_s", patience_s)
    if lam == 0.0:
        if n == 0:  # an arrival would wait and, with nobody to answer, abandon
            return ErlangAResult(n, lam, aht, patience, 1.0, 1.0, math.inf, patience, 0.0, 0.0)
        return ErlangAResult(n, lam, aht, patience, 0.0, 0.0, 0.0, 0.0, 0.0, -math.inf)
    a = lam * aht
    x = lam * patience  # lambda / theta
    y = n * patience / aht  # n mu / theta
    b = _erlang_b(n, a)
    sums = _queue_sums(y, x, harmonic=True)
    # Work relative to the largest waiting term exp(log_scale): log_scale can be in the tens of
    # thousands, and adding then subtracting it would cost its rounding error in every figure.
    # States with an idle agent, relative to p_full, weigh (1 - B) / B.
    if b == 0.0:  # far more agents than load: B underflowed
        log_idle = math.inf
    elif b == 1.0:  # no agents
        log_idle = -math.inf
    else:
        log_idle = math.log1p(-b) - math.log(b)
    rel_idle = log_idle - sums.log_scale
    log_p_scaled = -_logaddexp(rel_idle, math.log(sums.s0))  # log(p_full) + log_scale
    p_wait = _exp(log_p_scaled + math.log(sums.s0))
    p_abandon = _exp(log_p_scaled + _log(sums.s1) - math.log(x))
    # Every figure is a sum of positive parts, so no probability is formed as 1 - (near 1).
    p_answered_waited = _exp(log_p_scaled + _log(sums.s0_pos) + _log(y) - math.log(x))
    p_no_wait = 1.0 if b == 0.0 else _exp(log_p_scaled + rel_idle)
    p_answered = p_no_wait + p_answered_waited
    # A call that finds j waiting ahead is answered with probability y / (y + j + 1) after a
    # mean (1/theta) sum_{i=1..j+1} 1 / (y + i); summed over j this is the harmonic sum.
    wait_answered = _exp(log_p_scaled + _log(sums.sh) + _log(y) - math.log(x)) * patience
    asa = wait_answered / p_answered if n > 0 and p_answered > 0.0 else math.inf
    p_abandon = min(1.0, p_abandon)
    return ErlangAResult(
        agents=n,
        arrival_rate_per_s=lam,
        aht_s=aht,
        patience_s=patience,
        p_wait=min(1.0, p_wait),
        p_abandon=p_abandon,
        asa=asa,
        mean_wait_all=p_abandon * patience,
        occupancy=min(1.0, a * p_answered / n) if n > 0 else 0.0,
        _log_p_full=log_p_scaled - sums.log_scale,
    )


def staff_erlang_a(
    arrival_rate_per_s: float,
    aht_s: float,
    patience_s: float,
    target_sl: float,
    threshold_s: float,
    *,
    max_occupancy: float | None = None,
    asa_target: float | None = None,
    max_abandon: float | None = None,
    short_abandon_s: float | None = None,
) -> int:
    """Fewest agents whose Erlang A service level meets ``target_sl`` within ``threshold_s``.

    The service level counts all calls, or excludes those abandoned within ``short_abandon_s``.
    Optional caps on ASA, abandon rate and occupancy. May be fewer agents than the offered load.
    """
    lam = _non_negative("arrival_rate_per_s", arrival_rate_per_s)
    aht = _positive("aht_s", aht_s)
    patience = _positive("patience_s", patience_s)
    target = _open_unit("target_sl", target_sl)
    threshold = _non_negative("threshold_s", threshold_s)
    cap = None if max_occupancy is None else _occupancy_cap(max_occupancy)
    asa_max = None if asa_target is None else _positive("asa_target", asa_target)
    abandon_max = None if max_abandon is None else _open_unit("max_abandon", max_abandon)
    short = None if short_abandon_s is None else _non_negative("short_abandon_s", short_abandon_s)
    if lam == 0.0:
        return 0

    def meets(n: int) -> bool:
        r = erlang_a(n, lam, aht, patience)
        if cap is not None and not _meets_max(r.occupancy, cap):
            return False
        if asa_max is not None and not _meets_max(r.asa, asa_max):
            return False
        if abandon_max is not None and not _meets_max(r.p_abandon, abandon_max):
            return False
        if short is None:
            sl = r.service_level(threshold)
        else:
            sl = r.service_level_excluding_short(threshold, short)
        return _meets_min(sl, target)

    # Every target improves with more agents, so bracket and bisect. The bracket starts below
    # the offered load: with abandonment, fewer agents than Erlangs can meet a target.
    failing, passing = 0, max(1, math.ceil(lam * aht))
    while not meets(passing):
        failing = passing
        passing *= 2
        if passing > _MAX_AGENTS:  # pragma: no cover - needs a target no staffing can meet
            raise ErlangError("target_sl", "cannot be met by any staffing", target_sl)
    while passing - failing > 1:
        mid = (failing + passing) // 2
        if meets(mid):
            passing = mid
        else:
            failing = mid
    return passing
