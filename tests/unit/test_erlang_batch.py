"""staff_erlang_c_many against staff_erlang_c: the same answer for every input, and its checks.

The batch search is compared with the scalar one it must reproduce exactly, both through the
public function and through its internal search with the numpy part stretched to every step
(``tail=0``), shrunk to nothing (every input finished in Python) and with every service level
decided again with ``math.exp`` (``recheck=inf``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from glasshouse.domain.wfm import erlang as erlang_module
from glasshouse.domain.wfm.erlang import ErlangError, staff_erlang_c, staff_erlang_c_many


def _scalar(
    loads: Sequence[float],
    aht: Sequence[float] | float,
    target: float,
    threshold: float,
    cap: float | None,
    asa: float | None,
) -> list[int]:
    ahts = [aht] * len(loads) if isinstance(aht, int | float) else list(aht)
    return [
        staff_erlang_c(x, h, target, threshold, max_occupancy=cap, asa_target=asa)
        for x, h in zip(loads, ahts, strict=True)
    ]


def _check_all_ways(
    loads: Sequence[float],
    aht: Sequence[float] | float,
    target: float,
    threshold: float,
    cap: float | None = None,
    asa: float | None = None,
) -> list[int]:
    expected = _scalar(loads, aht, target, threshold, cap, asa)
    got = staff_erlang_c_many(loads, aht, target, threshold, max_occupancy=cap, asa_target=asa)
    assert got == expected
    assert all(type(n) is int for n in got)
    a = np.array(loads, dtype=np.float64)
    h = np.full(a.size, float(aht)) if isinstance(aht, int | float) else np.array(aht, np.float64)
    for tail, recheck in ((0, erlang_module._EXP_RECHECK), (10**9, 0.0), (0, math.inf)):
        inner = erlang_module._staff_c_batch(
            a, h, target, threshold, cap, asa, tail=tail, recheck=recheck
        )
        assert inner == expected, (tail, recheck)
    return got


# ---------------------------------------------------------------------------------------------
# Random inputs

_loads = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.0, max_value=1e-3),
    st.floats(min_value=0.0, max_value=300.0),
    st.integers(min_value=0, max_value=400),  # whole Erlangs, as Python ints
    st.integers(min_value=0, max_value=400).map(float),
    st.builds(lambda calls, aht: calls * aht / 900.0, st.integers(1, 400), st.integers(60, 900)),
    st.floats(min_value=240.0, max_value=300.0),  # around the warm-start threshold of 256
    st.floats(min_value=300.0, max_value=100_000.0),
)
_ahts = st.one_of(st.floats(min_value=1.0, max_value=3600.0), st.integers(1, 3600))
_targets = st.one_of(
    st.sampled_from([0.5, 0.8, 0.9, 0.95, 0.99]), st.floats(min_value=0.01, max_value=0.999)
)
_thresholds = st.one_of(st.sampled_from([0.0, 10.0, 20.0, 60.0]), st.floats(0.0, 600.0))
_caps = st.one_of(
    st.none(), st.sampled_from([0.7, 0.8, 0.85, 0.9, 1.0]), st.floats(min_value=0.5, max_value=1.0)
)
_asas = st.one_of(
    st.none(), st.sampled_from([1.0, 3.0, 20.0, 30.0]), st.floats(min_value=0.1, max_value=600.0)
)


@st.composite
def _batches(draw: st.DrawFn) -> tuple[list[float], list[float] | float]:
    loads = draw(st.lists(_loads, max_size=30))
    assume(sum(1 for x in loads if x > 5000) <= 1)  # keeps each example quick
    if draw(st.booleans()):
        return loads, draw(_ahts)
    return loads, [draw(_ahts) for _ in loads]


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(batch=_batches(), target=_targets, threshold=_thresholds, cap=_caps, asa=_asas)
def test_batch_equals_scalar_on_random_inputs(
    batch: tuple[list[float], list[float] | float],
    target: float,
    threshold: float,
    cap: float | None,
    asa: float | None,
) -> None:
    loads, aht = batch
    _check_all_ways(loads, aht, target, threshold, cap, asa)


@pytest.mark.parametrize("cap", [None, 0.85, 0.6])
@pytest.mark.parametrize("asa", [None, 15.0])
def test_batch_equals_scalar_on_a_large_mixed_batch(cap: float | None, asa: float | None) -> None:
    # Thousands of intervals of mixed size, so the numpy steps carry most of the work.
    rng = random.Random(7)
    loads = [rng.randint(5, 400) * rng.randint(120, 600) / 900.0 for _ in range(3000)]
    loads += [0.0] * 20 + [rng.uniform(0.0, 1.0) for _ in range(100)]
    loads += [rng.uniform(256.0, 2000.0) for _ in range(60)]
    rng.shuffle(loads)
    ahts = [float(rng.randint(120, 600)) for _ in loads]
    _check_all_ways(loads, ahts, 0.8, 20.0, cap, asa)


# ---------------------------------------------------------------------------------------------
# Edge cases


def test_empty_and_zero_loads() -> None:
    assert staff_erlang_c_many([], 180, 0.8, 20) == []
    assert staff_erlang_c_many([], [], 0.8, 20, max_occupancy=0.85, asa_target=10) == []
    assert _check_all_ways([0.0, 0, 0.0], 180.0, 0.8, 20.0) == [0, 0, 0]
    assert _check_all_ways([0.0, 10.0, 0.0], 180.0, 0.8, 20.0, cap=0.85) == [0, 14, 0]


def test_known_answers() -> None:
    # The scalar tests' figures: 10 Erlangs at 180 s, 80 % in 19.8 s and an 85 % cap -> 14;
    # 48 Erlangs at 240 s, 80 % in 20 s -> 54; 34 / 40 = 0.85 meets the cap despite rounding.
    assert staff_erlang_c_many([10.0], 180, 0.8, 19.8, max_occupancy=0.85) == [14]
    assert staff_erlang_c_many([10.0], 180, 0.8, 19.8, max_occupancy=0.7) == [15]
    assert staff_erlang_c_many([48.0, 34.0], [240, 60], 0.8, 20) == [54, 37]
    assert staff_erlang_c_many([34.0], 60, 0.5, 60, max_occupancy=0.85) == [40]


@pytest.mark.parametrize(
    "loads",
    [
        [5e-324, 1e-300, 1e-12, 1e-6, 0.5, 1.0],  # subnormal and tiny loads staff 1 agent
        [255.0, 255.99999999999997, 256.0, 256.5, 257.0, 300.0],  # warm start begins at 256
        [1_000.5, 12_345.6, 99_999.99, 100_000.0],
        [float(n) for n in range(1, 60)],  # whole-number loads, where n = A + 1 is first
    ],
)
@pytest.mark.parametrize(
    ("cap", "asa"), [(None, None), (0.85, None), (None, 2.0), (0.95, 10.0), (1.0, None)]
)
def test_edge_loads(loads: list[float], cap: float | None, asa: float | None) -> None:
    _check_all_ways(loads, 180.0, 0.8, 20.0, cap, asa)
    _check_all_ways(loads, 30.0, 0.99, 0.0, cap, asa)


def test_occupancy_cap_on_exact_quotients() -> None:
    # Loads whose quotient by the cap is a whole number in exact arithmetic but not in binary
    # (71.4 / 0.85 = 84.00000000000001): the cap's tolerance must decide them as the scalar does.
    loads = [calls * aht / 900.0 for calls in range(1, 401) for aht in (153, 180, 255, 306, 510)]
    for cap in (0.85, 0.7, 0.8, 0.9, 0.6, 0.51):
        _check_all_ways(loads, 180.0, 0.5, 20.0, cap)
        _check_all_ways(loads, 180.0, 0.2, 600.0, cap)  # the cap, not the SL, binds


def test_small_caps_and_tight_targets() -> None:
    loads = [0.01, 0.3, 2.5, 17.0, 40.25, 120.0]
    _check_all_ways(loads, 180.0, 0.8, 20.0, cap=0.05)
    _check_all_ways(loads, 180.0, 0.999, 0.0, asa=0.01)
    _check_all_ways(loads, 3600.0, 0.01, 0.0, cap=0.3, asa=1e-3)


def test_inputs_handed_to_the_scalar_search() -> None:
    # A cap of 1e-7 has a tolerance of 1e-12 absolute, which spans about 100 agents at 1 Erlang
    # (more than the batch adjusts itself) and hundreds of thousands at 200 Erlangs, which also
    # start beyond 2**30 agents, as does a load of 2**30: staff_erlang_c answers for these,
    # next to inputs that stay in the batch.
    loads = [1.0, 10.0, 200.0, 0.0, 5.0]
    assert _check_all_ways(loads, 180.0, 0.8, 20.0, cap=1e-7)[0] == 9_999_901
    loads = [2.0**30 + 0.5, 10.0, 0.0]
    assert staff_erlang_c_many(loads, 180, 0.8, 20) == _scalar(loads, 180, 0.8, 20, None, None)


def test_per_load_aht_and_sequence_types() -> None:
    loads = (10.0, 20.0, 30.0)
    ahts = [60.0, 180, 600.0]
    expected = _scalar(loads, ahts, 0.8, 20, None, None)
    assert staff_erlang_c_many(loads, ahts, 0.8, 20) == expected
    assert staff_erlang_c_many(list(loads), tuple(ahts), 0.8, 20) == expected
    assert staff_erlang_c_many(np.array(loads), np.array(ahts, np.float64), 0.8, 20) == expected
    assert staff_erlang_c_many(range(3), 180, 0.8, 20) == _scalar(
        [0, 1, 2], 180, 0.8, 20, None, None
    )
    # numpy scalars are floats like any other, one at a time
    assert staff_erlang_c_many([np.float64(10.0)], np.float64(180.0), 0.8, 20) == [
        staff_erlang_c(10.0, 180.0, 0.8, 20)
    ]


def test_service_levels_next_to_the_target_are_decided_with_math_exp() -> None:
    # numpy's exp can differ from math.exp in the last bit. Look for inputs where that moves
    # the service level at the first candidate, put the target's tolerance between the two
    # values, and check that the batch answer is still the scalar one.
    rng = random.Random(3)
    found = 0
    for _ in range(20_000):
        load = rng.uniform(1.0, 200.0)
        aht = float(rng.randint(60, 900))
        threshold = float(rng.randint(1, 120))
        n = math.floor(load) + 1
        b = erlang_module._erlang_b(n, load)
        c = erlang_module._erlang_c_from_b(n, load, b)
        x = -(n - load) * threshold / aht
        sl_math = 1.0 - c * math.exp(x)
        sl_numpy = 1.0 - c * float(np.exp(np.float64(x)))
        if sl_math == sl_numpy or not 0.05 < sl_math < 0.95:
            continue
        target = max(sl_math, sl_numpy) + erlang_module._TOL
        while target - erlang_module._TOL > max(sl_math, sl_numpy):
            target = math.nextafter(target, 0.0)
        while target - erlang_module._TOL <= min(sl_math, sl_numpy):
            target = math.nextafter(target, 1.0)
        assert min(sl_math, sl_numpy) < target - erlang_module._TOL <= max(sl_math, sl_numpy)
        expected = staff_erlang_c(load, aht, target, threshold)
        assert (expected == n) == (sl_math > sl_numpy)
        batch = [load] * 40
        assert staff_erlang_c_many(batch, aht, target, threshold) == [expected] * 40
        a, h = np.full(40, load), np.full(40, aht)
        inner = erlang_module._staff_c_batch(a, h, target, threshold, None, None, tail=0)
        assert inner == [expected] * 40
        found += 1
        if found == 5:
            break
    if not found:
        pytest.skip("numpy's exp agreed with math.exp on every value tried on this platform")


# ---------------------------------------------------------------------------------------------
# Input checks


@pytest.mark.parametrize(
    ("loads", "aht", "parameter", "message"),
    [
        ([1.0, -0.5], 180, "loads[1]", "loads[1] must be a finite number >= 0, got -0.5"),
        ([math.nan], 180, "loads[0]", "loads[0] must be a number, got nan"),
        ([1.0, 2.0, math.inf], 180, "loads[2]", "loads[2] must be a finite number >= 0, got inf"),
        ([1.0, True], 180, "loads[1]", "loads[1] must be a number, got True"),
        ([1.0, "2"], 180, "loads[1]", "loads[1] must be a number, got '2'"),
        ([None], 180, "loads[0]", "loads[0] must be a number, got None"),
        (np.array([1.0, -2.0]), 180, "loads[1]", "loads[1] must be a finite number >= 0, got"),
        (np.array([1, 2]), 180, "loads[0]", "loads[0] must be a number, got"),
        ([1.0, 2.0], 0, "aht_s", "aht_s must be a finite number > 0, got 0"),
        ([1.0, 2.0], math.inf, "aht_s", "aht_s must be a finite number > 0, got inf"),
        ([1.0, 2.0], "180", "aht_s", "aht_s must be a number, got '180'"),
        ([1.0, 2.0], [180, 0.0], "aht_s[1]", "aht_s[1] must be a finite number > 0, got 0.0"),
        ([1.0, 2.0], [-1, 180], "aht_s[0]", "aht_s[0] must be a finite number > 0, got -1"),
        ([1.0, 2.0], [180, math.nan], "aht_s[1]", "aht_s[1] must be a number, got nan"),
        ([1.0, 2.0], [180, False], "aht_s[1]", "aht_s[1] must be a number, got False"),
        ([1.0, 2.0], [180], "aht_s", "aht_s must have one value per load (2), got 1"),
        ([1.0], [180, 180, 180], "aht_s", "aht_s must have one value per load (1), got 3"),
        ([-1.0], [0.0], "loads[0]", "loads[0] must be a finite number >= 0, got -1.0"),
    ],
)
def test_bad_elements_name_parameter_and_index(
    loads: Sequence[float], aht: Sequence[float] | float, parameter: str, message: str
) -> None:
    with pytest.raises(ErlangError) as info:
        staff_erlang_c_many(loads, aht, 0.8, 20)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"target_sl": 1.0}, "target_sl"),
        ({"target_sl": 0.0}, "target_sl"),
        ({"target_sl": math.nan}, "target_sl"),
        ({"threshold_s": -1.0}, "threshold_s"),
        ({"max_occupancy": 1.2}, "max_occupancy"),
        ({"max_occupancy": 0.0}, "max_occupancy"),
        ({"asa_target": 0}, "asa_target"),
        ({"asa_target": -3.0}, "asa_target"),
    ],
)
def test_bad_scalar_arguments_raise_as_in_the_scalar_function(
    kwargs: dict[str, float], parameter: str
) -> None:
    args: dict[str, float] = {"target_sl": 0.8, "threshold_s": 20.0}
    args.update(kwargs)
    options = {k: args.pop(k) for k in ("max_occupancy", "asa_target") if k in args}
    with pytest.raises(ErlangError) as batch_info:
        staff_erlang_c_many([10.0, 20.0], 180, args["target_sl"], args["threshold_s"], **options)
    with pytest.raises(ErlangError) as scalar_info:
        staff_erlang_c(10.0, 180, args["target_sl"], args["threshold_s"], **options)
    assert batch_info.value.parameter == scalar_info.value.parameter == parameter
    assert str(batch_info.value) == str(scalar_info.value)
    # even with no loads at all
    with pytest.raises(ErlangError, match=f"^{parameter} "):
        staff_erlang_c_many([], 180, args["target_sl"], args["threshold_s"], **options)
