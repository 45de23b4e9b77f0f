"""Shift scheduling against brute force, hand-computed optima and independent rule checks.

The references here share no code with the module under test: ``_presence`` and ``_cost``
recompute coverage and staffing cost from the shifts a schedule returns, ``_brute_force`` tries
every combination of shift counts, and ``_check_roster`` re-checks the weekly rules from the
agents' shifts alone.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.wfm.coverage import coverage_chart
from glasshouse.domain.wfm.scheduling import (
    Agent,
    Availability,
    BreakPlacement,
    BreakRule,
    Schedule,
    SchedulingError,
    SchedulingOptions,
    ShiftCount,
    ShiftTemplate,
    ShiftType,
    SolveStatus,
    WorkRules,
    call_centre_day_templates,
    coverage_series,
    schedule_roster,
    schedule_shift_types,
    shift_types,
)

DAY = 86_400
FAST = SchedulingOptions(max_time_s=10.0, num_workers=1, seed=1)


def _presence(shift: ShiftType, interval_s: int) -> list[float]:
    present = [1.0] * shift.length
    for b in shift.breaks:
        for j in range(shift.length):
            lo, hi = j * interval_s, (j + 1) * interval_s
            start, end = b.offset * interval_s, b.offset * interval_s + b.duration_s
            present[j] -= max(0, min(hi, end) - max(lo, start)) / interval_s
    return present


def _coverage(
    horizon: int, interval_s: int, shifts: Sequence[tuple[int, ShiftType, int]]
) -> list[float]:
    per_day = DAY // interval_s
    cov = [0.0] * horizon
    for day, shift, n in shifts:
        for j, p in enumerate(_presence(shift, interval_s)):
            t = day * per_day + shift.start + j
            if t < horizon:
                cov[t] += n * p
    return cov


def _cost(required: Sequence[int], cov: Sequence[float], under: int = 10, over: int = 1) -> float:
    return sum(
        under * max(0.0, r - c) + over * max(0.0, c - r) for r, c in zip(required, cov, strict=True)
    )


def _schedule_cost(s: Schedule, required: Sequence[int], interval_s: int) -> float:
    shifts = [(c.day, c.shift, c.agents) for c in s.shift_counts]
    return _cost(required, _coverage(len(required), interval_s, shifts))


def _brute_force(
    required: Sequence[int], interval_s: int, templates: Sequence[ShiftTemplate], most: int
) -> float:
    types = [t for template in templates for t in shift_types(template, interval_s)]
    profiles = [_coverage(len(required), interval_s, [(0, t, 1)]) for t in types]
    best = math.inf
    for counts in itertools.product(range(most + 1), repeat=len(types)):
        cov = [
            sum(n * p[i] for n, p in zip(counts, profiles, strict=True))
            for i in range(len(required))
        ]
        best = min(best, _cost(required, cov))
    return best


# 3-hour intervals: one day is 8 intervals, small enough to enumerate.
H3 = 3 * 3600
SMALL_TEMPLATES = (
    ShiftTemplate("short", length=2, earliest_start=1, latest_start=5, start_step=2),
    ShiftTemplate("long", length=3, earliest_start=2, latest_start=4, start_step=2),
    ShiftTemplate(
        "split",
        length=4,
        earliest_start=2,
        latest_start=2,
        breaks=(BreakRule("lunch", H3, earliest=1, latest=2),),
    ),
)


# ---------------------------------------------------------------------------------------------
# Shift types against brute force


def test_small_day_matches_brute_force() -> None:
    required = [0, 1, 2, 3, 3, 2, 1, 0]
    # 3 + 2 + 2 = 7 shift types; counts above the peak (3) can never help.
    assert sum(len(shift_types(t, H3)) for t in SMALL_TEMPLATES) == 7
    best = _brute_force(required, H3, SMALL_TEMPLATES, most=3)
    s = schedule_shift_types(required, H3, SMALL_TEMPLATES, FAST)
    assert s.status is SolveStatus.OPTIMAL
    assert s.objective == pytest.approx(best)
    assert s.best_bound == pytest.approx(best)
    assert s.gap == 0.0
    assert _schedule_cost(s, required, H3) == pytest.approx(best)
    assert "optimal" in s.explanation


@settings(max_examples=12, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=8, max_size=8))
def test_random_days_match_brute_force(required: list[int]) -> None:
    best = _brute_force(required, H3, SMALL_TEMPLATES, most=max(required))
    s = schedule_shift_types(required, H3, SMALL_TEMPLATES, FAST)
    assert s.status is SolveStatus.OPTIMAL
    assert s.objective == pytest.approx(best)
    assert _schedule_cost(s, required, H3) == pytest.approx(best)


def test_half_interval_breaks_match_brute_force() -> None:
    # 90-minute breaks in 3-hour intervals: an agent on break counts as half an agent.
    templates = (
        ShiftTemplate(
            "a",
            length=4,
            earliest_start=1,
            latest_start=3,
            start_step=2,
            breaks=(BreakRule("break", H3 // 2, earliest=1, latest=2),),
        ),
        ShiftTemplate("b", length=2, earliest_start=2, latest_start=4, start_step=2),
    )
    required = [0, 1, 2, 2, 2, 1, 1, 0]
    # Two agents on one type cover every interval of it fully (presence >= 1/2), so 2 x peak.
    best = _brute_force(required, H3, templates, most=4)
    s = schedule_shift_types(required, H3, templates, FAST)
    assert s.objective == pytest.approx(best)
    assert _schedule_cost(s, required, H3) == pytest.approx(best)
    assert s.objective * 2 == int(s.objective * 2)


def test_weights_change_the_optimum() -> None:
    required = [0, 0, 1, 1, 1, 0, 0, 0]
    template = (ShiftTemplate("two", length=2, earliest_start=2, latest_start=3),)
    default = schedule_shift_types(required, H3, template, FAST)
    assert default.objective == 1.0  # two shifts: one interval over-staffed
    cheap_under = SchedulingOptions(under_weight=1, over_weight=2, num_workers=1)
    other = schedule_shift_types(required, H3, template, cheap_under)
    assert other.objective == 1.0  # one shift: one interval under-staffed
    assert sum(c.agents for c in other.shift_counts) == 1


def test_tie_break_prefers_fewer_paid_intervals() -> None:
    required = [0, 1, 1, 1, 1, 0, 0, 0]
    templates = (
        ShiftTemplate("two", length=2, earliest_start=0, latest_start=6),
        ShiftTemplate("four", length=4, earliest_start=1, latest_start=1),
    )
    # Over-staffing is free here, so only the tie-break stops useless shifts.
    free_over = SchedulingOptions(under_weight=1, over_weight=0, num_workers=1)
    s = schedule_shift_types(required, H3, templates, free_over)
    assert s.objective == 0.0
    assert s.paid_intervals == 4


def test_call_centre_generator_makes_219_distinct_types() -> None:
    templates = call_centre_day_templates()
    per_template = {t.name: shift_types(t, 900) for t in templates}
    assert {name: len(types) for name, types in per_template.items()} == {
        "8h": 111,
        "9h": 51,
        "6h": 57,
    }
    all_types = [t for types in per_template.values() for t in types]
    assert len(all_types) == len(set(all_types)) == 219
    for t in all_types:
        assert t.start >= 6 * 4 and t.end <= 23 * 4  # 06:00 to 23:00
        (b,) = t.breaks
        assert b.offset > 0 and b.offset * 900 + b.duration_s <= t.length * 900


def test_call_centre_day_solves_to_optimality() -> None:
    required = [0] * 28 + [4, 8, 12, 16, 20, 24, 26, 28] + [30] * 16 + [20, 14, 10, 6] + [4] * 36
    required += [0] * (96 - len(required))
    options = SchedulingOptions(max_time_s=20.0, num_workers=2)
    s = schedule_shift_types(required, 900, call_centre_day_templates(), options)
    assert s.status is SolveStatus.OPTIMAL
    assert s.objective == pytest.approx(_schedule_cost(s, required, 900))


# ---------------------------------------------------------------------------------------------
# Breaks


def test_breaks_make_coverage_drop_where_they_are_placed() -> None:
    # 30-minute intervals; a 4-hour shift at 08:00 with a 15-minute break 30 to 60 min in and a
    # 30-minute lunch 1 h to 2 h 30 in, both placed by the solver. One agent is needed all
    # morning except at 10:00, so the lunch goes there; the break costs half an agent wherever
    # it goes (10 x 0.5 = 5).
    template = ShiftTemplate(
        "4h",
        length=8,
        earliest_start=16,
        latest_start=16,
        breaks=(
            BreakRule("break", 900, earliest=1, latest=2),
            BreakRule("lunch", 1800, earliest=2, latest=5),
        ),
    )
    required = [0] * 48
    for t in range(16, 24):
        required[t] = 1
    required[20] = 0
    s = schedule_shift_types(required, 1800, (template,), FAST)
    assert s.status is SolveStatus.OPTIMAL
    assert s.objective == 5.0
    (count,) = s.shift_counts
    assert count.agents == 1
    brk, lunch = count.shift.breaks
    assert lunch.offset == 4
    cov = s.coverage.scheduled
    assert cov[20] == 0.0
    assert cov[16 + brk.offset] == 0.5
    assert s.coverage.under[16 + brk.offset] == 0.5
    assert [cov[t] for t in range(16, 24) if t not in (20, 16 + brk.offset)] == [1.0] * 6


def test_coverage_series_counts_break_absence() -> None:
    shift = ShiftType("x", start=2, length=4, breaks=(BreakPlacement("break", 1, 900),))
    required = [1] * 8 + [0] * 40
    series = coverage_series(required, 1800, [ShiftCount(0, shift, 2)])
    assert series.scheduled[:8] == (0, 0, 2, 1, 2, 2, 0, 0)
    assert series.under[:8] == (1, 1, 0, 0, 0, 0, 1, 1)
    assert series.over[:8] == (0, 0, 1, 0, 1, 1, 0, 0)
    assert series.cost(10, 1) == 43.0


def test_shifts_past_the_horizon_are_clipped() -> None:
    late = ShiftType("late", start=44, length=8)
    series = coverage_series([1] * 48, 1800, [ShiftCount(0, late, 1)])
    assert series.scheduled[44:] == (1, 1, 1, 1)
    assert sum(series.scheduled) == 4


# ---------------------------------------------------------------------------------------------
# Rosters: an independent check of every rule


H2 = 2 * 3600  # 2-hour intervals, 12 per day
EIGHT = ShiftTemplate("8h", length=4, earliest_start=3, latest_start=8)  # 06:00 to 16:00 starts
RULES = WorkRules(
    days_off=2,
    exact_days_off=True,
    consecutive_days_off=True,
    max_working_days=5,
    min_rest_s=11 * 3600,
)


def _check_roster(
    s: Schedule, agents: Sequence[Agent], rules: WorkRules, days: int, interval_s: int
) -> None:
    per_day = DAY // interval_s
    by_agent: dict[str, dict[int, ShiftType]] = defaultdict(dict)
    for a in s.agent_shifts:
        assert a.day not in by_agent[a.agent], f"{a.agent} works twice on day {a.day}"
        by_agent[a.agent][a.day] = a.shift
    for agent in agents:
        week = by_agent[agent.id]
        for d, shift in week.items():
            if agent.templates is not None:
                assert shift.template in agent.templates
            if agent.availability is not None:
                assert any(
                    w.day == d and w.start <= shift.start and shift.end <= w.end
                    for w in agent.availability
                ), f"{agent.id} works outside their availability on day {d}"
        for w0 in range(0, days, 7):
            worked = [d for d in range(w0, min(w0 + 7, days)) if d in week]
            assert len(worked) <= min(agent.max_shifts_per_week, rules.max_working_days)
            if w0 + 7 <= days:
                off = [d for d in range(w0, w0 + 7) if d not in week]
                if rules.exact_days_off:
                    assert len(off) == rules.days_off
                assert len(off) >= rules.days_off
                if rules.consecutive_days_off:
                    assert any(
                        all(d in off for d in range(f, f + rules.days_off))
                        for f in range(w0, w0 + 8 - rules.days_off)
                    ), f"{agent.id} has no {rules.days_off} consecutive days off: {off}"
        days_worked = sorted(week)
        for d1, d2 in itertools.pairwise(days_worked):
            end = d1 * per_day + week[d1].end
            start = d2 * per_day + week[d2].start
            assert (start - end) * interval_s >= rules.min_rest_s, f"{agent.id} rest {d1}->{d2}"
    shifts = [(a.day, a.shift, 1) for a in s.agent_shifts]
    horizon = len(s.coverage.required)
    assert s.coverage.scheduled == pytest.approx(_coverage(horizon, interval_s, shifts))


def _alternating(days: int) -> list[int]:
    """Demand early (06:00-12:00) on even days and late (16:00-24:00) on odd days: working late
    then early the next day would break an 11-hour rest."""
    out = []
    for d in range(days):
        day = [0] * 12
        for t in range(3, 6) if d % 2 == 0 else range(8, 12):
            day[t] = 3
        out += day
    return out


def test_roster_keeps_days_off_and_rest() -> None:
    agents = [Agent(f"a{i}") for i in range(4)]
    late = ShiftTemplate("late", length=4, earliest_start=8, latest_start=8)
    s = schedule_roster(_alternating(7), H2, (EIGHT, late), agents, RULES, options=FAST)
    assert s.status is SolveStatus.OPTIMAL
    assert len(s.agent_shifts) == 4 * 5
    _check_roster(s, agents, RULES, 7, H2)
    assert s.objective == pytest.approx(_schedule_cost(s, _alternating(7), H2))
    cold = SchedulingOptions(max_time_s=10.0, num_workers=1, warm_start=False)
    again = schedule_roster(_alternating(7), H2, (EIGHT, late), agents, RULES, options=cold)
    assert again.status is SolveStatus.OPTIMAL
    assert again.objective == s.objective


def test_roster_over_more_than_a_week_keeps_the_rules() -> None:
    # Nine days: weekly rules on days 0-6, caps only on days 7-8; the per-agent model.
    agents = [Agent("a", max_shifts_per_week=4), Agent("b"), Agent("c")]
    late = ShiftTemplate("late", length=4, earliest_start=8, latest_start=8)
    rules = WorkRules(days_off=2, consecutive_days_off=True, min_rest_s=11 * 3600)
    s = schedule_roster(_alternating(9), H2, (EIGHT, late), agents, rules, options=FAST)
    assert s.status is SolveStatus.OPTIMAL
    _check_roster(s, agents, rules, 9, H2)
    assert sum(1 for a in s.agent_shifts if a.agent == "a" and a.day < 7) <= 4


def test_two_roster_models_agree() -> None:
    # With no rest rule two weeks are independent, so the per-agent model over 14 days must
    # cost exactly what the class model costs over each week.
    required = _alternating(14)
    for d in (3, 10):
        required[d * 12 + 4] = 5
    agents = [Agent("a"), Agent("b"), Agent("c", max_shifts_per_week=3)]
    late = ShiftTemplate("late", length=4, earliest_start=8, latest_start=8)
    rules = WorkRules(days_off=2, consecutive_days_off=True)
    both = schedule_roster(required, H2, (EIGHT, late), agents, rules, options=FAST)
    weeks = [
        schedule_roster(
            required[w * 84 : (w + 1) * 84], H2, (EIGHT, late), agents, rules, options=FAST
        )
        for w in (0, 1)
    ]
    assert both.status is SolveStatus.OPTIMAL
    assert all(w.status is SolveStatus.OPTIMAL for w in weeks)
    assert both.objective == pytest.approx(sum(w.objective or 0.0 for w in weeks))
    _check_roster(both, agents, rules, 14, H2)


def test_roster_respects_availability_and_templates() -> None:
    agents = [
        Agent("morning", availability=tuple(Availability(d, 3, 8) for d in range(7))),
        Agent("weekend", availability=(Availability(5, 0, 12), Availability(6, 0, 12))),
        Agent("late-only", templates=frozenset({"late"})),
    ]
    late = ShiftTemplate("late", length=4, earliest_start=8, latest_start=8)
    required = [3] * (7 * 12)
    rules = WorkRules(days_off=2, consecutive_days_off=True, max_working_days=5)
    s = schedule_roster(required, H2, (EIGHT, late), agents, rules, options=FAST)
    assert s.status is SolveStatus.OPTIMAL
    _check_roster(s, agents, rules, 7, H2)
    mine = defaultdict(list)
    for a in s.agent_shifts:
        mine[a.agent].append(a)
    assert {a.day for a in mine["weekend"]} == {5, 6}
    assert all(a.shift.template == "8h" for a in mine["morning"])
    assert all(a.shift.template == "late" for a in mine["late-only"])
    assert len(mine["morning"]) == len(mine["late-only"]) == 5


def test_roster_breaks_count_as_absence() -> None:
    with_break = ShiftTemplate(
        "8h",
        length=4,
        earliest_start=4,
        latest_start=4,
        breaks=(BreakRule("lunch", 3600, earliest=2, latest=2),),
    )
    s = schedule_roster([1] * 12, H2, (with_break,), [Agent("a")], options=FAST)
    assert s.coverage.scheduled[4:8] == (1.0, 1.0, 0.5, 1.0)
    (shift,) = s.agent_shifts
    assert shift.shift.breaks[0].offset == 2


def test_skill_requirements_pick_agents_with_the_skill() -> None:
    agents = [Agent("en"), Agent("fr", skills=frozenset({"fr"}))]
    required = [0] * 12
    fr = [0] * 12
    for t in range(3, 7):
        required[t] = 1
    for t in range(8, 12):
        required[t] = 1
        fr[t] = 1
    template = ShiftTemplate("8h", length=4, earliest_start=3, latest_start=8)
    s = schedule_roster(required, H2, (template,), agents, skill_required={"fr": fr}, options=FAST)
    assert s.status is SolveStatus.OPTIMAL
    assert s.objective == 0.0
    starts = {a.agent: a.shift.start for a in s.agent_shifts}
    assert starts == {"en": 3, "fr": 8}
    (series,) = s.skill_coverage
    assert series.skill == "fr"
    assert series.scheduled[8:12] == (1, 1, 1, 1)
    assert sum(series.under) == 0


# ---------------------------------------------------------------------------------------------
# Infeasible inputs are explained


def test_infeasible_availability_is_explained() -> None:
    agents = [
        Agent("ok"),
        Agent("part", availability=tuple(Availability(d, 0, 12) for d in (0, 2, 4))),
    ]
    s = schedule_roster([1] * 84, H2, (EIGHT,), agents, RULES, options=FAST)
    assert s.status is SolveStatus.INFEASIBLE
    assert s.objective is None and s.agent_shifts == ()
    assert "'part'" in s.explanation and "'ok'" not in s.explanation
    assert "only 3" in s.explanation and "5 working days" in s.explanation


def test_infeasible_shift_cap_is_explained() -> None:
    agents = [Agent("cap", max_shifts_per_week=3)]
    s = schedule_roster([1] * 84, H2, (EIGHT,), agents, RULES, options=FAST)
    assert s.status is SolveStatus.INFEASIBLE
    assert "max_shifts_per_week is 3" in s.explanation


def test_infeasible_rest_is_explained() -> None:
    # Late shifts only on Mon/Wed/Fri, early only on Tue/Thu and the weekend: 5 working days
    # with 2 consecutive days off always put a late shift before an early one.
    early = [Availability(d, 3, 7) for d in (1, 3, 5, 6)]
    late = [Availability(d, 8, 12) for d in (0, 2, 4)]
    agent = Agent("zigzag", availability=tuple(sorted(early + late, key=lambda a: a.day)))
    templates = (EIGHT, ShiftTemplate("late", length=4, earliest_start=8, latest_start=8))
    s = schedule_roster([1] * 84, H2, templates, [agent], RULES, options=FAST)
    assert s.status is SolveStatus.INFEASIBLE
    assert "'zigzag'" in s.explanation and "rest" in s.explanation


# ---------------------------------------------------------------------------------------------
# Validation names the field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"required": [1, -1] + [0] * 46}, "required[1]"),
        ({"required": [1] * 47}, "required"),
        ({"required": [1.5] + [0] * 47}, "required[0]"),
        ({"interval_s": 7}, "interval_s"),
        ({"templates": ()}, "templates"),
        ({"templates": (ShiftTemplate("x", 49, 0, 0),)}, "templates[0].length"),
        ({"templates": (ShiftTemplate("x", 8, 10, 5),)}, "templates[0].latest_start"),
        ({"templates": (ShiftTemplate("x", 8, 0, 48),)}, "templates[0].latest_start"),
        (
            {"templates": (ShiftTemplate("x", 8, 0, 0, breaks=(BreakRule("b", 1800, 2, 8),)),)},
            "templates[0].breaks[0].latest",
        ),
        (
            {"templates": (ShiftTemplate("x", 8, 0, 0, breaks=(BreakRule("b", -5, 2, 3),)),)},
            "templates[0].breaks[0].duration_s",
        ),
        (
            {
                "templates": (
                    ShiftTemplate(
                        "x",
                        4,
                        0,
                        0,
                        breaks=(BreakRule("b", 1800, 2, 2), BreakRule("c", 1800, 2, 2)),
                    ),
                )
            },
            "templates[0].breaks",
        ),
        (
            {"templates": (ShiftTemplate("x", 8, 0, 0), ShiftTemplate("x", 6, 0, 0))},
            "templates[1].name",
        ),
        ({"options": SchedulingOptions(under_weight=0, over_weight=0)}, "options"),
        ({"options": SchedulingOptions(max_time_s=0)}, "options.max_time_s"),
    ],
)
def test_shift_type_inputs_are_validated(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "required": [1] * 48,
        "interval_s": 1800,
        "templates": (ShiftTemplate("x", 8, 0, 10),),
        "options": FAST,
    }
    args.update(kwargs)
    with pytest.raises(SchedulingError) as err:
        schedule_shift_types(**args)  # type: ignore[arg-type]
    assert err.value.field == field
    assert str(err.value).startswith(field)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"agents": [Agent("a"), Agent("a")]}, "agents[1].id"),
        ({"agents": [Agent("a", templates=frozenset({"nope"}))]}, "agents[0].templates"),
        ({"agents": [Agent("a", max_shifts_per_week=8)]}, "agents[0].max_shifts_per_week"),
        (
            {"agents": [Agent("a", availability=(Availability(7, 0, 4),))]},
            "agents[0].availability[0].day",
        ),
        (
            {"agents": [Agent("a", availability=(Availability(0, 5, 5),))]},
            "agents[0].availability[0].end",
        ),
        ({"rules": WorkRules(days_off=8)}, "rules.days_off"),
        (
            {"rules": WorkRules(days_off=2, exact_days_off=True, max_working_days=4)},
            "rules.max_working_days",
        ),
        ({"rules": WorkRules(min_rest_s=-1)}, "rules.min_rest_s"),
        ({"skill_required": {"fr": [0] * 12}}, "skill_required['fr']"),
        ({"skill_required": {"fr": [-1] + [0] * 83}}, "skill_required['fr'][0]"),
    ],
)
def test_roster_inputs_are_validated(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "required": [1] * 84,
        "interval_s": H2,
        "templates": (EIGHT,),
        "agents": [Agent("a")],
        "options": FAST,
    }
    args.update(kwargs)
    with pytest.raises(SchedulingError) as err:
        schedule_roster(**args)  # type: ignore[arg-type]
    assert err.value.field == field


# ---------------------------------------------------------------------------------------------
# Chart data


def test_coverage_chart_is_plain_data() -> None:
    agents = [Agent("en"), Agent("fr", skills=frozenset({"fr"}))]
    fr = [0] * 24
    fr[10] = 1
    s = schedule_roster([1] * 24, H2, (EIGHT,), agents, skill_required={"fr": fr}, options=FAST)
    chart = coverage_chart(s)
    assert json.loads(json.dumps(chart)) == chart
    assert [series["skill"] for series in chart["series"]] == [None, "fr"]
    points = chart["series"][0]["points"]
    assert len(points) == 24
    assert points[13] == {
        "interval": 13,
        "day": 1,
        "weekday": "Tue",
        "time": "02:00",
        "required": 1,
        "scheduled": s.coverage.scheduled[13],
        "under": s.coverage.under[13],
        "over": s.coverage.over[13],
    }
    assert chart["series"][0]["total_required"] == 24
    one_day = coverage_chart(s, day=1)
    assert [p["interval"] for p in one_day["series"][0]["points"]] == list(range(12, 24))
    with pytest.raises(SchedulingError) as err:
        coverage_chart(s, day=2)
    assert err.value.field == "day"
