"""Long-range capacity plan: attrition, training and nesting week by week; recommended classes."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta

import pytest

from glasshouse.domain.wfm.capacity import (
    DAYS_PER_MONTH,
    CapacityError,
    ClassTemplate,
    HiringClass,
    OccupancyRequirement,
    RecommendedClass,
    WeeklyWorkload,
    plan_capacity,
    weekly_survival,
)

MONDAY = date(2025, 1, 6)


def _monthly(weekly_survival_wanted: float) -> float:
    """The monthly attrition whose weekly survival is the given one."""
    return -math.log(weekly_survival_wanted) * DAYS_PER_MONTH / 7


def _weeks(hours: list[float], first: date = MONDAY) -> list[WeeklyWorkload]:
    return [WeeklyWorkload(first + timedelta(weeks=i), h) for i, h in enumerate(hours)]


def test_weekly_survival_matches_the_glossary_attrition() -> None:
    # Shrinking continuously at r a month, leavers / average headcount over a month is r.
    r = 0.05
    assert weekly_survival(r) ** (DAYS_PER_MONTH / 7) == pytest.approx(math.exp(-r))
    plan = plan_capacity(
        _weeks([0.0] * 52), OccupancyRequirement(), headcount=1000, attrition_monthly=r
    )
    leavers = sum(w.leavers for w in plan.weeks)
    average = sum(w.headcount for w in plan.weeks) / 52
    assert leavers / average == pytest.approx(r * 52 * 7 / DAYS_PER_MONTH, rel=0.01)


def test_small_plan_by_hand() -> None:
    # 1000 h a week at 40 h per FTE, 20 % shrinkage, 80 % occupancy: 1000 / 25.6 = 39.0625 FTE.
    requirement = OccupancyRequirement(hours_per_fte=40, occupancy=0.8, shrinkage=0.2)
    course = HiringClass(date(2025, 1, 13), 10, training_weeks=2, nesting_weeks=2)
    plan = plan_capacity(
        _weeks([1000.0] * 8),
        requirement,
        headcount=30,
        attrition_monthly=_monthly(0.99),  # 1 % a week
        new_hire_attrition_monthly=_monthly(0.95),  # 5 % a week in training and nesting
        classes=[course],
    )
    tenured = [30 * 0.99**w for w in range(8)]
    # The class (week 1 on): training 10, 9.5; nesting 9.025, 8.57375 at 50 %; then proficient,
    # shrinking at 5 % a week until it graduates and at 1 % after.
    cls = [0.0, 10.0, 9.5, 9.025, 8.57375, 8.1450625, 8.1450625 * 0.99, 8.1450625 * 0.99**2]
    rows = [
        (w.required_fte, w.in_training, w.in_nesting, w.proficient, w.productive_fte, w.hires)
        for w in plan.weeks
    ]
    expected = [
        (39.0625, 0.0, 0.0, tenured[0], tenured[0], 0.0),
        (39.0625, cls[1], 0.0, tenured[1], tenured[1], 10.0),
        (39.0625, cls[2], 0.0, tenured[2], tenured[2], 0.0),
        (39.0625, 0.0, cls[3], tenured[3], tenured[3] + 0.5 * cls[3], 0.0),
        (39.0625, 0.0, cls[4], tenured[4], tenured[4] + 0.5 * cls[4], 0.0),
        (39.0625, 0.0, 0.0, tenured[5] + cls[5], tenured[5] + cls[5], 0.0),
        (39.0625, 0.0, 0.0, tenured[6] + cls[6], tenured[6] + cls[6], 0.0),
        (39.0625, 0.0, 0.0, tenured[7] + cls[7], tenured[7] + cls[7], 0.0),
    ]
    for got, want in zip(rows, expected, strict=True):
        assert got == pytest.approx(want)
    week3 = plan.weeks[3]
    assert week3.headcount == pytest.approx(tenured[3] + cls[3])
    assert week3.gap_fte == pytest.approx(39.0625 - tenured[3] - 0.5 * cls[3])
    assert week3.leavers == pytest.approx(tenured[3] * 0.01 + cls[3] * 0.05)
    assert plan.weeks[5].leavers == pytest.approx(tenured[5] * 0.01 + cls[5] * 0.01)
    assert plan.recommended == ()
    assert plan.weeks_with_recommended == plan.weeks


def test_months_take_the_weeks_whose_thursday_they_hold() -> None:
    weeks = _weeks([100.0 * (i + 1) for i in range(10)], first=date(2025, 1, 27))
    plan = plan_capacity(
        weeks,
        lambda w: w.hours / 10,
        headcount=20,
        attrition_monthly=0.0,
        classes=[HiringClass(date(2025, 2, 10), 5, training_weeks=1)],
    )
    months = plan.months
    assert [(m.month, m.weeks) for m in months] == [
        (date(2025, 1, 1), 1),  # Monday 27 January
        (date(2025, 2, 1), 4),
        (date(2025, 3, 1), 4),
        (date(2025, 4, 1), 1),  # Monday 31 March: Thursday 3 April
    ]
    feb = months[1]
    assert feb.workload_hours == 200 + 300 + 400 + 500
    assert feb.required_fte == pytest.approx(35.0)
    assert feb.hires == 5
    assert feb.headcount == (20 + 25 + 25 + 25) / 4
    assert feb.productive_fte == pytest.approx((20 + 20 + 25 + 25) / 4)
    assert feb.max_gap_fte == pytest.approx(50 - 25)
    assert feb.attrition == 0.0


# ---------------------------------------------------------------------------------------------
# Recommended classes for a ramp-up

RAMP_DATE = date(2025, 3, 31)  # week 12: a new client needs +300 agents from this date


def _ramp(week: WeeklyWorkload) -> float:
    return 400.0 if week.week_start >= RAMP_DATE else 100.0


TEMPLATE = ClassTemplate(training_weeks=4, nesting_weeks=2, nesting_productivity=0.5, max_size=100)


def test_ramp_up_classes_start_training_plus_nesting_before_the_date() -> None:
    plan = plan_capacity(
        _weeks([0.0] * 20), _ramp, headcount=100, attrition_monthly=0.0, recommend=TEMPLATE
    )
    start = RAMP_DATE - timedelta(weeks=6)
    assert start == date(2025, 2, 17)
    assert plan.recommended == (RecommendedClass(start, 100, RAMP_DATE, RAMP_DATE, False),) * 3
    assert plan.weeks[12].gap_fte == 300
    after = plan.weeks_with_recommended
    assert [w.in_training for w in after[6:12]] == [300] * 4 + [0] * 2
    assert [w.productive_fte for w in after[9:13]] == [100, 250, 250, 400]
    assert all(w.gap_fte <= 0 for w in after)


def test_ramp_up_with_attrition() -> None:
    plan = plan_capacity(
        _weeks([0.0] * 26),
        _ramp,
        headcount=100,
        attrition_monthly=_monthly(0.99),
        recommend=TEMPLATE,
    )
    recs = plan.recommended
    # Attrition opens a gap in week 1 that no class can close before week 6: a late class on the
    # first week, sized for weeks 6-9 (100 / 0.99**9 - 100 = 9.5 -> 10).
    assert recs[0] == RecommendedClass(MONDAY, 10, date(2025, 2, 17), date(2025, 1, 13), True)
    # Then a small class in week 4 for week 10, and the ramp-up classes, as late as they can be.
    assert (recs[1].start, recs[1].for_week, recs[1].late) == (
        date(2025, 2, 3),
        MONDAY + timedelta(weeks=10),
        False,
    )
    ramp = [r for r in recs if r.for_week == RAMP_DATE]
    assert [r.start for r in ramp] == [date(2025, 2, 17)] * 4
    assert [r.size for r in ramp][:3] == [100, 100, 100]
    after = plan.weeks_with_recommended
    # Until the late class nests (weeks 4-5 at 50 %) nothing can close the attrition gap.
    assert [round(w.gap_fte, 2) for w in after[:4]] == [0.0, 1.0, 1.99, 2.97]
    assert all(w.gap_fte <= 1e-9 for w in after[6:])
    assert all(r.start - MONDAY >= timedelta(0) for r in recs)
    # The recommendations, planned as classes, give the same plan.
    planned = plan_capacity(
        _weeks([0.0] * 26),
        _ramp,
        headcount=100,
        attrition_monthly=_monthly(0.99),
        classes=[TEMPLATE.hiring_class(r.start, r.size) for r in recs],
    )
    for got, want in zip(planned.weeks, after, strict=True):
        assert got.productive_fte == pytest.approx(want.productive_fte)


def test_tolerance_and_minimum_class_size() -> None:
    template = ClassTemplate(training_weeks=2, min_size=15, tolerance_fte=2.0, cover_weeks=2)
    need = [10.0, 10.0, 10.0, 11.0, 13.0, 13.0, 13.0, 13.0]
    plan = plan_capacity(
        _weeks([0.0] * 8),
        lambda w: need[(w.week_start - MONDAY).days // 7],
        headcount=10,
        attrition_monthly=0.0,
        recommend=template,
    )
    # Week 3 (gap 1) is tolerated; week 4 (gap 3) gets a class from week 2, of the minimum 15.
    assert plan.recommended == (
        RecommendedClass(date(2025, 1, 20), 15, date(2025, 2, 3), date(2025, 2, 3), False),
    )


# ---------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: plan_capacity([], OccupancyRequirement(), headcount=1, attrition_monthly=0),
            "no weeks",
        ),
        (
            lambda: plan_capacity(
                [WeeklyWorkload(MONDAY, 1), WeeklyWorkload(MONDAY + timedelta(days=8), 1)],
                OccupancyRequirement(),
                headcount=1,
                attrition_monthly=0,
            ),
            r"workload\[1\]: week_start 2025-01-14 should be 2025-01-13",
        ),
        (
            lambda: plan_capacity(
                _weeks([1]), OccupancyRequirement(), headcount=-1, attrition_monthly=0
            ),
            "headcount must be >= 0",
        ),
        (
            lambda: plan_capacity(
                _weeks([1]), OccupancyRequirement(), headcount=1, attrition_monthly=2
            ),
            r"attrition_monthly must be in \[0, 1\]",
        ),
        (
            lambda: plan_capacity(
                _weeks([1]), lambda w: math.nan, headcount=1, attrition_monthly=0
            ),
            "required FTE is not a number",
        ),
        (lambda: WeeklyWorkload(MONDAY, -5), "hours must be >= 0"),
        (lambda: WeeklyWorkload.from_calls(MONDAY, 10, math.inf), "aht_s must be a finite number"),
        (lambda: OccupancyRequirement(occupancy=0), r"occupancy must be in \(0, 1\]"),
        (lambda: OccupancyRequirement(shrinkage=1), r"shrinkage must be in \[0, 1\)"),
        (
            lambda: HiringClass(MONDAY, 5, training_weeks=-1),
            "training_weeks must be a whole number",
        ),
        (lambda: HiringClass(MONDAY, 5, 2, nesting_productivity=1.5), "nesting_productivity"),
        (lambda: ClassTemplate(2, min_size=10, max_size=5), "max_size 5 is below min_size 10"),
    ],
)
def test_bad_input_is_a_capacity_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(CapacityError, match=message):
        call()


def test_workload_from_calls() -> None:
    week = WeeklyWorkload.from_calls(MONDAY, 7200, 300)
    assert (week.hours, week.calls, week.aht_s) == (600.0, 7200, 300)
    assert OccupancyRequirement(hours_per_fte=40, occupancy=0.75, shrinkage=0.5)(week) == 40.0
