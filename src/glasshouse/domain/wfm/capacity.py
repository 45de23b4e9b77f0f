"""Long-range capacity plan: required against available productive FTE by week and by month.

**Required FTE** per week comes from the week's workload through a requirement model: the
:class:`OccupancyRequirement` formula ``hours / (hours per FTE x (1 - shrinkage) x occupancy)``,
or any callable (for instance one that staffs each interval of the week by Erlang C and averages
the scheduled agents).

**Available productive FTE** per week follows the people through time. Figures are in FTE (a
part-timer counts as a fraction) and taken at the start of each week:

* the current (tenured) headcount, fully productive, shrinks by attrition;
* each hiring class starts with ``size`` people in the week of its start date, is not productive
  for ``training_weeks``, productive at ``nesting_productivity`` for ``nesting_weeks``, then fully
  productive; it shrinks by the new-hire attrition while in training and nesting, then by the
  regular attrition.

**Attrition** (GLOSSARY.md) is leavers in a period over the average headcount in the period. A
group that shrinks continuously at rate ``r`` per month has exactly that ratio, ``r``, over every
month, so a monthly attrition ``r`` is applied as a weekly survival of
``exp(-r x 7 / (365.25 / 12))`` and the figures do not depend on where the month boundaries fall.

**Recommendations.** Given a :class:`ClassTemplate`, :func:`plan_capacity` walks the weeks in
order and, at each week whose gap (required - productive) is still open, adds a class that is fully
productive by that week: it starts ``training_weeks + nesting_weeks`` earlier, and is sized to
keep that week's requirement met for ``cover_weeks`` weeks despite attrition (a later rise in the
requirement gets its own class, started as late as possible). A class that would have to start
before the plan starts at the plan's first week and is marked ``late``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

__all__ = [
    "CapacityError",
    "CapacityPlan",
    "ClassTemplate",
    "HiringClass",
    "MonthCapacity",
    "OccupancyRequirement",
    "RecommendedClass",
    "Requirement",
    "WeekCapacity",
    "WeeklyWorkload",
    "by_month",
    "plan_capacity",
    "weekly_survival",
]

DAYS_PER_MONTH: Final = 365.25 / 12
# Gaps within this many FTE of the tolerance are rounding noise, not a shortfall.
_EPS: Final = 1e-9


class CapacityError(ValueError):
    """A capacity-planning input is out of range; the message names it and says why."""


def _number(name: str, value: float, lo: float = 0.0, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CapacityError(f"{name} must be a finite number, got {value!r}")
    if not lo <= value <= hi:
        bounds = f">= {lo:g}" if hi == math.inf else f"in [{lo:g}, {hi:g}]"
        raise CapacityError(f"{name} must be {bounds}, got {value!r}")
    return float(value)


def _whole(name: str, value: int, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise CapacityError(f"{name} must be a whole number >= {lo}, got {value!r}")
    return value


def weekly_survival(attrition_monthly: float) -> float:
    """Share of a group still there a week later at a monthly attrition rate (GLOSSARY)."""
    rate = _number("attrition_monthly", attrition_monthly, 0.0, 1.0)
    return math.exp(-rate * 7 / DAYS_PER_MONTH)


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class WeeklyWorkload:
    """A week's handling workload in hours; ``calls`` and ``aht_s`` when it came from them."""

    week_start: date
    hours: float
    calls: float | None = None
    aht_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.week_start, date):
            raise CapacityError(f"week_start must be a date, got {self.week_start!r}")
        _number("hours", self.hours)

    @classmethod
    def from_calls(cls, week_start: date, calls: float, aht_s: float) -> WeeklyWorkload:
        """The workload of ``calls`` contacts at ``aht_s`` seconds each."""
        calls = _number("calls", calls)
        aht = _number("aht_s", aht_s)
        return cls(week_start, calls * aht / 3600, calls, aht)


Requirement = Callable[[WeeklyWorkload], float]
"""Required FTE for a week's workload."""


@dataclass(frozen=True, slots=True)
class OccupancyRequirement:
    """Required FTE = hours / (``hours_per_fte`` x (1 - ``shrinkage``) x ``occupancy``).

    ``hours_per_fte`` is the paid hours of one FTE in a week, ``shrinkage`` the share of them not
    available for contacts (breaks, training, absence) and ``occupancy`` the share of available
    time spent handling (from Erlang C: load / agents for the target service level).
    """

    hours_per_fte: float = 40.0
    occupancy: float = 0.85
    shrinkage: float = 0.30

    def __post_init__(self) -> None:
        if _number("hours_per_fte", self.hours_per_fte) <= 0:
            raise CapacityError(f"hours_per_fte must be > 0, got {self.hours_per_fte!r}")
        if _number("occupancy", self.occupancy, 0.0, 1.0) <= 0:
            raise CapacityError(f"occupancy must be in (0, 1], got {self.occupancy!r}")
        if _number("shrinkage", self.shrinkage, 0.0, 1.0) >= 1:
            raise CapacityError(f"shrinkage must be in [0, 1), got {self.shrinkage!r}")

    def __call__(self, week: WeeklyWorkload) -> float:
        return week.hours / (self.hours_per_fte * (1 - self.shrinkage) * self.occupancy)


@dataclass(frozen=True, slots=True)
class HiringClass:
    """People starting together on ``start``: ``training_weeks`` unproductive, then
    ``nesting_weeks`` at ``nesting_productivity``, then fully productive."""

    start: date
    size: float
    training_weeks: int
    nesting_weeks: int = 0
    nesting_productivity: float = 0.5
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.start, date):
            raise CapacityError(f"class start must be a date, got {self.start!r}")
        _number("class size", self.size)
        _whole("training_weeks", self.training_weeks)
        _whole("nesting_weeks", self.nesting_weeks)
        _number("nesting_productivity", self.nesting_productivity, 0.0, 1.0)

    @property
    def lead_weeks(self) -> int:
        """Weeks from the class start to full productivity."""
        return self.training_weeks + self.nesting_weeks

    @property
    def productive_from(self) -> date:
        """The date from which the class is fully productive."""
        return self.start + timedelta(weeks=self.lead_weeks)


@dataclass(frozen=True, slots=True)
class ClassTemplate:
    """The kind of class to recommend: its training and nesting, the class sizes allowed
    (a need above ``max_size`` is split into several classes starting the same week), how many
    weeks ahead each class should cover, and the gap (FTE) tolerated without a class."""

    training_weeks: int
    nesting_weeks: int = 0
    nesting_productivity: float = 0.5
    min_size: int = 1
    max_size: int | None = None
    cover_weeks: int = 4
    tolerance_fte: float = 0.0

    def __post_init__(self) -> None:
        _whole("training_weeks", self.training_weeks)
        _whole("nesting_weeks", self.nesting_weeks)
        _number("nesting_productivity", self.nesting_productivity, 0.0, 1.0)
        _whole("min_size", self.min_size, 1)
        if self.max_size is not None and _whole("max_size", self.max_size, 1) < self.min_size:
            raise CapacityError(f"max_size {self.max_size} is below min_size {self.min_size}")
        _whole("cover_weeks", self.cover_weeks, 1)
        _number("tolerance_fte", self.tolerance_fte)

    def hiring_class(self, start: date, size: int) -> HiringClass:
        """A class of this kind, e.g. to add a recommended class to the planned ones."""
        return HiringClass(
            start, size, self.training_weeks, self.nesting_weeks, self.nesting_productivity
        )


# ---------------------------------------------------------------------------------------------
# Outputs


@dataclass(frozen=True, slots=True)
class WeekCapacity:
    """One week of the plan, at the start of the week (FTE).

    ``headcount = proficient + in_nesting + in_training``; ``productive_fte`` counts nesting at
    its productivity; ``gap_fte = required_fte - productive_fte`` (> 0 is a shortfall).
    ``hires`` start a class this week; ``leavers`` are expected during the week.
    """

    week_start: date
    workload_hours: float
    required_fte: float
    headcount: float
    proficient: float
    in_nesting: float
    in_training: float
    productive_fte: float
    gap_fte: float
    hires: float
    leavers: float


@dataclass(frozen=True, slots=True)
class MonthCapacity:
    """The weeks of one month (a week belongs to the month holding most of its days).

    FTE figures are averages over the weeks, ``max_gap_fte`` the worst week; ``attrition`` is
    leavers over the average headcount (GLOSSARY), ``None`` when there is nobody.
    """

    month: date
    weeks: int
    workload_hours: float
    required_fte: float
    headcount: float
    productive_fte: float
    gap_fte: float
    max_gap_fte: float
    hires: float
    leavers: float
    attrition: float | None


@dataclass(frozen=True, slots=True)
class RecommendedClass:
    """A class to start on ``start`` with ``size`` people, fully productive from
    ``productive_from``, opened for the gap of the week ``for_week``. ``late`` means it should
    have started before the plan does: the gap stays open until ``productive_from``."""

    start: date
    size: int
    productive_from: date
    for_week: date
    late: bool


@dataclass(frozen=True)
class CapacityPlan:
    """The plan with the given classes (``weeks``, ``months``), the ``recommended`` classes, and
    the plan with both (``weeks_with_recommended``, ``months_with_recommended``)."""

    weeks: tuple[WeekCapacity, ...]
    months: tuple[MonthCapacity, ...]
    recommended: tuple[RecommendedClass, ...]
    weeks_with_recommended: tuple[WeekCapacity, ...]
    months_with_recommended: tuple[MonthCapacity, ...]


# ---------------------------------------------------------------------------------------------
# The plan


@dataclass(frozen=True, slots=True)
class _Cohort:
    """A hiring class placed on the plan's weeks (``first`` may be negative: before the plan)."""

    first: int
    size: float
    training: int
    nesting: int
    productivity: float

    @property
    def lead(self) -> int:
        return self.training + self.nesting


class _People:
    """Week-by-week headcount of the tenured staff and each class."""

    def __init__(self, weeks: int, headcount: float, survival: float, new_survival: float) -> None:
        self.n = weeks
        self.survival = survival
        self.new_survival = new_survival
        self.proficient = [headcount * survival**w for w in range(weeks)]
        self.nesting = [0.0] * weeks
        self.training = [0.0] * weeks
        self.productive = list(self.proficient)
        self.hires = [0.0] * weeks
        self.leavers = [p * (1 - survival) for p in self.proficient]

    def alive(self, cohort: _Cohort, k: int) -> float:
        """Share of a class still there ``k`` weeks after its start."""
        lead = cohort.lead
        return self.new_survival ** min(k, lead) * self.survival ** max(0, k - lead)

    def add(self, cohort: _Cohort) -> None:
        if 0 <= cohort.first < self.n:
            self.hires[cohort.first] += cohort.size
        for w in range(max(0, cohort.first), self.n):
            k = w - cohort.first
            people = cohort.size * self.alive(cohort, k)
            if k < cohort.training:
                self.training[w] += people
            elif k < cohort.lead:
                self.nesting[w] += people
                self.productive[w] += people * cohort.productivity
            else:
                self.proficient[w] += people
                self.productive[w] += people
            stay = self.new_survival if k < cohort.lead else self.survival
            self.leavers[w] += people * (1 - stay)


def _cohort(cls: HiringClass, plan_start: date) -> _Cohort:
    first = (cls.start - plan_start).days // 7
    return _Cohort(first, cls.size, cls.training_weeks, cls.nesting_weeks, cls.nesting_productivity)


def _weeks(
    workload: Sequence[WeeklyWorkload], required: Sequence[float], people: _People
) -> tuple[WeekCapacity, ...]:
    return tuple(
        WeekCapacity(
            week_start=work.week_start,
            workload_hours=work.hours,
            required_fte=required[w],
            headcount=people.proficient[w] + people.nesting[w] + people.training[w],
            proficient=people.proficient[w],
            in_nesting=people.nesting[w],
            in_training=people.training[w],
            productive_fte=people.productive[w],
            gap_fte=required[w] - people.productive[w],
            hires=people.hires[w],
            leavers=people.leavers[w],
        )
        for w, work in enumerate(workload)
    )


def _month_of(week_start: date) -> date:
    # A week's 4th day lies in the month that holds at least 4 of its 7 days.
    middle = week_start + timedelta(days=3)
    return middle.replace(day=1)


def by_month(weeks: Sequence[WeekCapacity]) -> tuple[MonthCapacity, ...]:
    """Roll a weekly plan up by month (see :class:`MonthCapacity`)."""
    groups: dict[date, list[WeekCapacity]] = {}
    for week in weeks:
        groups.setdefault(_month_of(week.week_start), []).append(week)
    months: list[MonthCapacity] = []
    for month, group in groups.items():
        n = len(group)
        headcount = sum(w.headcount for w in group) / n
        leavers = sum(w.leavers for w in group)
        months.append(
            MonthCapacity(
                month=month,
                weeks=n,
                workload_hours=sum(w.workload_hours for w in group),
                required_fte=sum(w.required_fte for w in group) / n,
                headcount=headcount,
                productive_fte=sum(w.productive_fte for w in group) / n,
                gap_fte=sum(w.gap_fte for w in group) / n,
                max_gap_fte=max(w.gap_fte for w in group),
                hires=sum(w.hires for w in group),
                leavers=leavers,
                attrition=leavers / headcount if headcount > 0 else None,
            )
        )
    return tuple(months)


def _recommend(
    template: ClassTemplate,
    required: Sequence[float],
    people: _People,
    plan_start: date,
) -> list[RecommendedClass]:
    """Add classes to ``people`` until every gap that a class can still close is closed."""
    n = len(required)
    lead = template.training_weeks + template.nesting_weeks
    tolerance = template.tolerance_fte + _EPS
    out: list[RecommendedClass] = []
    w = 0
    while w < n:
        if required[w] - people.productive[w] <= tolerance:
            w += 1
            continue
        first = max(0, w - lead)
        full = first + lead
        if full >= n:
            break  # nothing started now is productive within the plan
        window = range(full, min(full + template.cover_weeks, n))
        # A rise of the requirement after week w is not this class's job: it gets its own class,
        # started as late as it can be.
        level = required[w]
        gaps = [min(required[u], level) - people.productive[u] for u in window]
        if max(gaps) <= tolerance:
            w = full  # a late class would come when the gap has closed by itself
            continue
        probe = _Cohort(first, 1.0, template.training_weeks, template.nesting_weeks, 0.0)
        need = max(
            gap / people.alive(probe, u - first) for gap, u in zip(gaps, window, strict=True)
        )
        total = max(math.ceil(need - _EPS), template.min_size)
        cap = template.max_size or total
        start = plan_start + timedelta(weeks=first)
        while total > 0:
            size = min(cap, total)
            # The last of a split need may fall below min_size: round it up to min_size.
            size = max(size, template.min_size)
            total -= size
            people.add(
                _Cohort(
                    first,
                    size,
                    template.training_weeks,
                    template.nesting_weeks,
                    template.nesting_productivity,
                )
            )
            out.append(
                RecommendedClass(
                    start=start,
                    size=size,
                    productive_from=plan_start + timedelta(weeks=full),
                    for_week=plan_start + timedelta(weeks=w),
                    late=full > w,
                )
            )
        # Weeks before `full` cannot be helped by a class started from here on.
        w = max(w, full)
    return out


def plan_capacity(
    workload: Sequence[WeeklyWorkload],
    requirement: Requirement,
    *,
    headcount: float,
    attrition_monthly: float,
    classes: Sequence[HiringClass] = (),
    new_hire_attrition_monthly: float | None = None,
    recommend: ClassTemplate | None = None,
) -> CapacityPlan:
    """Plan capacity over consecutive weeks of ``workload`` (see the module docstring).

    ``headcount`` is today's fully productive FTE; ``classes`` are the hiring classes already
    planned (a class started before the plan is still in progress). With ``recommend``, the
    plan also proposes classes that close the gaps. Bad input raises :class:`CapacityError`.
    """
    if not workload:
        raise CapacityError("no weeks to plan")
    plan_start = workload[0].week_start
    for i, work in enumerate(workload):
        if not isinstance(work, WeeklyWorkload):
            raise CapacityError(f"workload[{i}] must be a WeeklyWorkload, got {work!r}")
        expected = plan_start + timedelta(weeks=i)
        if work.week_start != expected:
            raise CapacityError(
                f"workload[{i}]: week_start {work.week_start} should be {expected} "
                f"(weeks must follow each other)"
            )
    start_fte = _number("headcount", headcount)
    survival = weekly_survival(attrition_monthly)
    new_survival = (
        survival
        if new_hire_attrition_monthly is None
        else weekly_survival(_number("new_hire_attrition_monthly", new_hire_attrition_monthly))
    )
    required: list[float] = []
    for work in workload:
        fte = requirement(work)
        if isinstance(fte, bool) or not isinstance(fte, int | float) or not math.isfinite(fte):
            raise CapacityError(f"week {work.week_start}: required FTE is not a number: {fte!r}")
        if fte < 0:
            raise CapacityError(f"week {work.week_start}: required FTE is negative: {fte!r}")
        required.append(float(fte))
    for cls in classes:
        if not isinstance(cls, HiringClass):
            raise CapacityError(f"classes must be HiringClass items, got {cls!r}")

    def staffed(extra: Sequence[HiringClass]) -> _People:
        people = _People(len(workload), start_fte, survival, new_survival)
        for cls in (*classes, *extra):
            people.add(_cohort(cls, plan_start))
        return people

    base = staffed(())
    weeks = _weeks(workload, required, base)
    recommended: list[RecommendedClass] = []
    after = weeks
    if recommend is not None:
        people = staffed(())
        recommended = _recommend(recommend, required, people, plan_start)
        after = _weeks(workload, required, people)
    return CapacityPlan(
        weeks=weeks,
        months=by_month(weeks),
        recommended=tuple(recommended),
        weeks_with_recommended=after,
        months_with_recommended=by_month(after),
    )
