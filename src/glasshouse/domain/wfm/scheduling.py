"""Shift scheduling: which shifts, breaks and agents cover a staffing requirement best.

The requirement is a number of agents per interval over a horizon of whole days (for instance
7 x 48 half-hour intervals, as the Erlang staffing searches in :mod:`.erlang` produce). Interval
``t`` of the horizon is interval ``t % per_day`` of day ``t // per_day``.

A :class:`ShiftTemplate` allows starts in a window (interval indices of the day, in steps), has
a length in intervals and a list of breaks. Each :class:`BreakRule` (a 15-minute break, a
30- or 60-minute lunch) starts within a window of intervals after the shift start; where it
goes is part of the optimisation, and an agent on break counts as absent. A break shorter than
an interval starts at the interval's beginning and makes the agent absent for that fraction of
it: with 30-minute intervals a 15-minute break leaves half an agent, so coverage figures are
multiples of ``gcd(interval, break durations) / interval``. Breaks are taken in the template's
order and never overlap (each occupies the whole intervals it touches for that purpose).

Two modes share the coverage model:

* :func:`schedule_shift_types`: no named agents; how many agents to put on each shift type
  (template x start x break placement) each day. This is the classic set-covering model.
* :func:`schedule_roster`: named :class:`Agent` s over a horizon of days, each working at most
  one shift a day, only inside their availability and allowed templates, with the weekly
  :class:`WorkRules` (days off, consecutive days off, maximum working days, rest between
  shifts) and a maximum number of shifts per week.

How the roster is modelled (both models are exact; the results are the same):

* Breaks are never chosen per agent: per day, shift start and skill group, a count of agents per
  placement of each chain of interacting breaks adds up to the agents on that shift, and the
  placements are dealt out to those agents afterwards. Independent chains (a morning break and
  a lunch whose windows cannot clash) are counted separately, not as every combination.
* Horizons of up to a week, where two shifts two or more days apart always leave the minimum
  rest (no overnight shift into a short rest), use the *class* model: agents with the same
  options, shift cap and skills form a class, counted by weekly working-day pattern; the agents
  on each stretch of consecutive working days flow through its days, and the rest between two
  days is kept by Hall's condition on every end-time threshold (see :func:`_class_model`).
  It has no per-agent variables, so 200 agents cost about as much as a handful of classes.
* Anything else uses one Boolean per agent, day and shift start, with the rules as cliques.

The roster search runs the LP-heavy CP-SAT workers and, with ``warm_start``, first solves the
problem with every other shift start for a sixth of the time, then starts the full search
from that roster (coarse to fine): on 200 agents this is what brings the cost near the bound
within a minute on two cores.

Per-skill requirements are kept simple: an agent counts in full toward every skill they have
(no split of an agent's time between skills), and each skill's under- and over-staffing is
penalised like the total's, in addition to it.

The objective, the *staffing cost*, is ``under_weight x sum(under) + over_weight x sum(over)``
over all intervals, in agent-intervals (10:1 by default). Among schedules of equal cost the
solver prefers the fewest paid intervals (a lexicographic tie-breaker that never trades cost
for it). CP-SAT solves the model; the result reports the cost, the best proven bound on it,
the relative gap and the status. Infeasibility can only come from hard per-agent rules (exact
days off that an agent's availability, shift cap or rest rule cannot meet), and the result then
names the agents, the week and the rule.

Overnight shifts are allowed (a shift starts on its day and may run past midnight); coverage
past the end of the horizon is not counted, and rest is not checked past the horizon's end.
Weekly rules apply to each whole week of the horizon (days 0-6, 7-13, ...); a trailing partial
week only gets the upper bounds (maximum working days, maximum shifts).

Bad input raises :class:`SchedulingError`, which names the field. The module is pure apart from
the solver call: no I/O, no clock (wall times are the solver's own).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from ortools.sat.python import cp_model

__all__ = [
    "Agent",
    "AgentShift",
    "Availability",
    "BreakPlacement",
    "BreakRule",
    "CoverageSeries",
    "Schedule",
    "SchedulingError",
    "SchedulingOptions",
    "ShiftCount",
    "ShiftTemplate",
    "ShiftType",
    "SolveStatus",
    "WorkRules",
    "call_centre_day_templates",
    "coverage_series",
    "schedule_roster",
    "schedule_shift_types",
    "shift_types",
]

SECONDS_PER_DAY: Final = 86_400
DAYS_PER_WEEK: Final = 7
_WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SchedulingError(ValueError):
    """A scheduling input is invalid; ``field`` names it (``templates[1].breaks[0].latest``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class BreakRule:
    """A break of ``duration_s`` seconds starting ``earliest``..``latest`` intervals (every
    ``step``) after the shift start."""

    name: str
    duration_s: int
    earliest: int
    latest: int
    step: int = 1


@dataclass(frozen=True)
class ShiftTemplate:
    """A kind of shift: ``length`` intervals, starting at an interval of the day from
    ``earliest_start`` to ``latest_start`` every ``start_step``, with ``breaks`` in order."""

    name: str
    length: int
    earliest_start: int
    latest_start: int
    start_step: int = 1
    breaks: tuple[BreakRule, ...] = ()


@dataclass(frozen=True)
class Availability:
    """An agent may work intervals ``start`` (inclusive) to ``end`` (exclusive) of ``day``;
    ``end`` may pass midnight (up to two days' intervals) for overnight shifts."""

    day: int
    start: int
    end: int


@dataclass(frozen=True)
class Agent:
    """A named agent. ``templates`` None allows every template; ``availability`` None means
    available at any time; otherwise a shift must fit inside one window of its day."""

    id: str
    skills: frozenset[str] = frozenset()
    templates: frozenset[str] | None = None
    availability: tuple[Availability, ...] | None = None
    max_shifts_per_week: int = DAYS_PER_WEEK


@dataclass(frozen=True)
class WorkRules:
    """Rules for every agent of a roster, per week of the horizon.

    ``days_off``: at least this many days off per week (exactly, with ``exact_days_off``);
    ``consecutive_days_off``: ``days_off`` of them form one block within the week;
    ``max_working_days`` per week; ``min_rest_s`` between the end of a shift and the start of
    the next (shifts never overlap, even with 0).
    """

    days_off: int = 0
    exact_days_off: bool = False
    consecutive_days_off: bool = False
    max_working_days: int = DAYS_PER_WEEK
    min_rest_s: int = 0


@dataclass(frozen=True)
class SchedulingOptions:
    """Objective weights and solver settings. ``relative_gap_limit`` > 0 stops the search once
    the cost is proven within that fraction of the optimum. ``warm_start`` (rosters): first
    solve with every other shift start for a sixth of ``max_time_s`` and start the full search
    from that roster."""

    under_weight: int = 10
    over_weight: int = 1
    tie_break: bool = True
    max_time_s: float = 10.0
    num_workers: int = 2
    seed: int = 0
    relative_gap_limit: float = 0.0
    warm_start: bool = True


# ---------------------------------------------------------------------------------------------
# Results


class SolveStatus(StrEnum):
    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class BreakPlacement:
    """A placed break: it starts ``offset`` intervals after the shift start."""

    name: str
    offset: int
    duration_s: int


@dataclass(frozen=True)
class ShiftType:
    """One shift type: a template at a start interval of the day with its breaks placed."""

    template: str
    start: int
    length: int
    breaks: tuple[BreakPlacement, ...] = ()

    @property
    def end(self) -> int:
        """The interval of the day after the last one worked (beyond ``per_day`` overnight)."""
        return self.start + self.length


@dataclass(frozen=True)
class ShiftCount:
    """``agents`` agents work ``shift`` on ``day``."""

    day: int
    shift: ShiftType
    agents: int


@dataclass(frozen=True)
class AgentShift:
    """Agent ``agent`` works ``shift`` on ``day``."""

    agent: str
    day: int
    shift: ShiftType


@dataclass(frozen=True)
class CoverageSeries:
    """Required against scheduled agents (working, not on break) per interval of the horizon;
    ``skill`` None for all agents. Fractions come from breaks shorter than an interval."""

    skill: str | None
    required: tuple[int, ...]
    scheduled: tuple[float, ...]
    under: tuple[float, ...]
    over: tuple[float, ...]

    def cost(self, under_weight: int, over_weight: int) -> float:
        """The staffing cost of this series: weighted under- plus over-staffing."""
        return under_weight * math.fsum(self.under) + over_weight * math.fsum(self.over)


@dataclass(frozen=True)
class Schedule:
    """A solved schedule. ``objective`` is the staffing cost (None when nothing was found),
    ``best_bound`` the solver's proven lower bound on it, ``gap`` their relative difference."""

    status: SolveStatus
    explanation: str
    interval_s: int
    coverage: CoverageSeries
    skill_coverage: tuple[CoverageSeries, ...]
    shift_counts: tuple[ShiftCount, ...]
    agent_shifts: tuple[AgentShift, ...]
    objective: float | None
    best_bound: float | None
    gap: float | None
    paid_intervals: int
    wall_time_s: float


# ---------------------------------------------------------------------------------------------
# Validation


def _int(field: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchedulingError(field, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise SchedulingError(field, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SchedulingError(field, f"must be <= {maximum}, got {value}")
    return value


def _bool(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SchedulingError(field, f"must be true or false, got {value!r}")
    return value


def _interval_s(value: object) -> int:
    interval_s = _int("interval_s", value, minimum=1)
    if SECONDS_PER_DAY % interval_s:
        raise SchedulingError("interval_s", f"must divide a day (86400 s), got {interval_s}")
    return interval_s


def _requirement(field: str, values: Sequence[int], per_day: int) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise SchedulingError(field, "must be a sequence of agent counts")
    out = tuple(_int(f"{field}[{t}]", v, minimum=0) for t, v in enumerate(values))
    if not out or len(out) % per_day:
        raise SchedulingError(
            field, f"must cover whole days of {per_day} intervals, got {len(out)} intervals"
        )
    return out


def _break_variants(breaks: Sequence[BreakRule], interval_s: int) -> list[tuple[int, ...]]:
    """Every placement of ``breaks`` in order without overlap, as offsets from the shift start."""
    variants: list[tuple[int, ...]] = [()]
    ends = [0]
    for rule in breaks:
        span = -(-rule.duration_s // interval_s)
        next_variants: list[tuple[int, ...]] = []
        next_ends: list[int] = []
        for placed, end in zip(variants, ends, strict=True):
            for offset in range(max(rule.earliest, end), rule.latest + 1, rule.step):
                if (offset - rule.earliest) % rule.step == 0:
                    next_variants.append((*placed, offset))
                    next_ends.append(offset + span)
        variants, ends = next_variants, next_ends
    return variants


@dataclass(frozen=True)
class _Template:
    """A validated template with its break placements."""

    template: ShiftTemplate
    starts: tuple[int, ...]
    variants: tuple[tuple[int, ...], ...]

    def shift(self, start: int, offsets: Sequence[int]) -> ShiftType:
        placed = tuple(
            BreakPlacement(rule.name, offset, rule.duration_s)
            for rule, offset in zip(self.template.breaks, offsets, strict=True)
        )
        return ShiftType(self.template.name, start, self.template.length, placed)


def _template(field: str, template: object, interval_s: int) -> _Template:
    if not isinstance(template, ShiftTemplate):
        raise SchedulingError(field, f"must be a ShiftTemplate, got {template!r}")
    per_day = SECONDS_PER_DAY // interval_s
    if not isinstance(template.name, str) or not template.name:
        raise SchedulingError(f"{field}.name", "must be a non-empty string")
    length = _int(f"{field}.length", template.length, minimum=1)
    if length > per_day:
        raise SchedulingError(
            f"{field}.length", f"is longer than a day ({length} > {per_day} intervals)"
        )
    earliest = _int(f"{field}.earliest_start", template.earliest_start, 0, per_day - 1)
    _int(f"{field}.latest_start", template.latest_start, earliest, per_day - 1)
    step = _int(f"{field}.start_step", template.start_step, minimum=1)
    if not isinstance(template.breaks, tuple):
        raise SchedulingError(f"{field}.breaks", "must be a tuple of BreakRule")
    busy = 0
    for j, rule in enumerate(template.breaks):
        where = f"{field}.breaks[{j}]"
        if not isinstance(rule, BreakRule):
            raise SchedulingError(where, f"must be a BreakRule, got {rule!r}")
        if not isinstance(rule.name, str) or not rule.name:
            raise SchedulingError(f"{where}.name", "must be a non-empty string")
        duration = _int(f"{where}.duration_s", rule.duration_s, minimum=1)
        span = -(-duration // interval_s)
        b_earliest = _int(f"{where}.earliest", rule.earliest, minimum=0)
        b_latest = _int(f"{where}.latest", rule.latest, minimum=b_earliest)
        _int(f"{where}.step", rule.step, minimum=1)
        if b_latest + span > length:
            raise SchedulingError(
                f"{where}.latest",
                f"a break starting {b_latest} intervals in runs past the end of the "
                f"{length}-interval shift",
            )
        busy += span
    if template.breaks and busy >= length:
        raise SchedulingError(f"{field}.breaks", "the breaks fill the whole shift")
    variants = _break_variants(template.breaks, interval_s)
    if not variants:
        raise SchedulingError(
            f"{field}.breaks", "the break windows leave no way to place every break in order"
        )
    starts = tuple(range(earliest, template.latest_start + 1, step))
    return _Template(template, starts, tuple(variants))


def _templates(templates: Sequence[ShiftTemplate], interval_s: int) -> list[_Template]:
    if isinstance(templates, str | bytes) or not isinstance(templates, Sequence) or not templates:
        raise SchedulingError("templates", "must be a non-empty sequence of ShiftTemplate")
    out = [_template(f"templates[{i}]", t, interval_s) for i, t in enumerate(templates)]
    seen: set[str] = set()
    for i, t in enumerate(out):
        if t.template.name in seen:
            raise SchedulingError(f"templates[{i}].name", f"duplicate name {t.template.name!r}")
        seen.add(t.template.name)
    return out


def _options(options: object) -> SchedulingOptions:
    if not isinstance(options, SchedulingOptions):
        raise SchedulingError("options", f"must be SchedulingOptions, got {options!r}")
    under = _int("options.under_weight", options.under_weight, minimum=0)
    over = _int("options.over_weight", options.over_weight, minimum=0)
    if under == 0 and over == 0:
        raise SchedulingError("options", "under_weight and over_weight cannot both be 0")
    _bool("options.tie_break", options.tie_break)
    _bool("options.warm_start", options.warm_start)
    for name in ("max_time_s", "relative_gap_limit"):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise SchedulingError(f"options.{name}", f"must be a number, got {value!r}")
    if not 0 < options.max_time_s < math.inf:
        raise SchedulingError("options.max_time_s", f"must be > 0, got {options.max_time_s}")
    if not 0 <= options.relative_gap_limit < 1:
        raise SchedulingError(
            "options.relative_gap_limit", f"must be in [0, 1), got {options.relative_gap_limit}"
        )
    _int("options.num_workers", options.num_workers, minimum=1)
    _int("options.seed", options.seed, minimum=0)
    return options


def _rules(rules: object) -> WorkRules:
    if not isinstance(rules, WorkRules):
        raise SchedulingError("rules", f"must be WorkRules, got {rules!r}")
    days_off = _int("rules.days_off", rules.days_off, 0, DAYS_PER_WEEK)
    _bool("rules.exact_days_off", rules.exact_days_off)
    _bool("rules.consecutive_days_off", rules.consecutive_days_off)
    max_days = _int("rules.max_working_days", rules.max_working_days, 0, DAYS_PER_WEEK)
    _int("rules.min_rest_s", rules.min_rest_s, minimum=0)
    if rules.exact_days_off and max_days < DAYS_PER_WEEK - days_off:
        raise SchedulingError(
            "rules.max_working_days",
            f"{max_days} contradicts exactly {days_off} days off "
            f"({DAYS_PER_WEEK - days_off} working days) per week",
        )
    return rules


def _agents(agents: Sequence[Agent], names: set[str], days: int, per_day: int) -> tuple[Agent, ...]:
    if isinstance(agents, str | bytes) or not isinstance(agents, Sequence):
        raise SchedulingError("agents", "must be a sequence of Agent")
    seen: set[str] = set()
    for i, agent in enumerate(agents):
        where = f"agents[{i}]"
        if not isinstance(agent, Agent):
            raise SchedulingError(where, f"must be an Agent, got {agent!r}")
        if not isinstance(agent.id, str) or not agent.id:
            raise SchedulingError(f"{where}.id", "must be a non-empty string")
        if agent.id in seen:
            raise SchedulingError(f"{where}.id", f"duplicate agent id {agent.id!r}")
        seen.add(agent.id)
        if not isinstance(agent.skills, frozenset) or not all(
            isinstance(s, str) for s in agent.skills
        ):
            raise SchedulingError(f"{where}.skills", "must be a frozenset of skill names")
        if agent.templates is not None:
            if not isinstance(agent.templates, frozenset):
                raise SchedulingError(f"{where}.templates", "must be a frozenset or None")
            unknown = sorted(str(t) for t in agent.templates - names)
            if unknown:
                raise SchedulingError(f"{where}.templates", f"unknown template(s) {unknown}")
        _int(f"{where}.max_shifts_per_week", agent.max_shifts_per_week, 0, DAYS_PER_WEEK)
        if agent.availability is not None:
            if not isinstance(agent.availability, tuple):
                raise SchedulingError(f"{where}.availability", "must be a tuple or None")
            for j, window in enumerate(agent.availability):
                at = f"{where}.availability[{j}]"
                if not isinstance(window, Availability):
                    raise SchedulingError(at, f"must be an Availability, got {window!r}")
                _int(f"{at}.day", window.day, 0, days - 1)
                start = _int(f"{at}.start", window.start, 0, per_day - 1)
                _int(f"{at}.end", window.end, start + 1, 2 * per_day)
    return tuple(agents)


def _skill_requirements(
    skill_required: Mapping[str, Sequence[int]] | None, horizon: int, per_day: int
) -> dict[str, tuple[int, ...]]:
    if skill_required is None:
        return {}
    if not isinstance(skill_required, Mapping):
        raise SchedulingError("skill_required", "must be a mapping of skill to requirement")
    out: dict[str, tuple[int, ...]] = {}
    for skill, values in skill_required.items():
        if not isinstance(skill, str) or not skill:
            raise SchedulingError("skill_required", f"skill names must be strings, got {skill!r}")
        series = _requirement(f"skill_required[{skill!r}]", values, per_day)
        if len(series) != horizon:
            raise SchedulingError(
                f"skill_required[{skill!r}]",
                f"has {len(series)} intervals, the requirement has {horizon}",
            )
        out[skill] = series
    return out


# ---------------------------------------------------------------------------------------------
# Shift types and coverage


def _unit_s(interval_s: int, durations: Iterable[int]) -> int:
    """The coverage resolution: every break absence is a whole number of these seconds."""
    return math.gcd(interval_s, *durations)


def _presence(shift: ShiftType, interval_s: int, unit_s: int) -> tuple[int, ...]:
    """Units of presence (``interval_s // unit_s`` = a whole agent) per interval of the shift."""
    full = interval_s // unit_s
    units = [full] * shift.length
    for placed in shift.breaks:
        remaining = placed.duration_s
        j = placed.offset
        while remaining > 0:
            absent = min(interval_s, remaining)
            units[j] -= absent // unit_s
            remaining -= absent
            j += 1
    return tuple(units)


def shift_types(template: ShiftTemplate, interval_s: int) -> tuple[ShiftType, ...]:
    """Every shift type of ``template``: each allowed start with each break placement."""
    checked = _template("template", template, _interval_s(interval_s))
    return tuple(
        checked.shift(start, offsets) for start in checked.starts for offsets in checked.variants
    )


def call_centre_day_templates() -> tuple[ShiftTemplate, ...]:
    """Templates of a call centre open 06:00-23:00 on quarter-hour intervals (900 s) that make
    219 shift types: 8 h with a 30-min lunch (starts every 15 min 06:00-15:00, 111 types), 9 h
    with a 60-min lunch (every 30 min 06:00-14:00, 51) and a 6-h part-time shift with a 15-min
    break (every 30 min 08:00-17:00, 57); each break has three placements."""
    q = 4  # quarter-hours per hour
    return (
        ShiftTemplate(
            "8h",
            length=8 * q,
            earliest_start=6 * q,
            latest_start=15 * q,
            start_step=1,
            breaks=(BreakRule("lunch", 1800, earliest=14, latest=18, step=2),),
        ),
        ShiftTemplate(
            "9h",
            length=9 * q,
            earliest_start=6 * q,
            latest_start=14 * q,
            start_step=2,
            breaks=(BreakRule("lunch", 3600, earliest=16, latest=20, step=2),),
        ),
        ShiftTemplate(
            "6h",
            length=6 * q,
            earliest_start=8 * q,
            latest_start=17 * q,
            start_step=2,
            breaks=(BreakRule("break", 900, earliest=10, latest=12, step=1),),
        ),
    )


def coverage_series(
    required: Sequence[int],
    interval_s: int,
    shifts: Iterable[ShiftCount],
    skill: str | None = None,
) -> CoverageSeries:
    """Coverage of ``required`` by ``shifts`` (agents on break are absent), with the under- and
    over-staffing per interval; coverage past the end of the horizon is dropped."""
    interval_s = _interval_s(interval_s)
    per_day = SECONDS_PER_DAY // interval_s
    req = _requirement("required", required, per_day)
    counts = list(shifts)
    unit_s = _unit_s(interval_s, (b.duration_s for c in counts for b in c.shift.breaks))
    return _series(req, interval_s, unit_s, per_day, counts, skill)


def _series(
    req: Sequence[int],
    interval_s: int,
    unit_s: int,
    per_day: int,
    counts: Iterable[ShiftCount],
    skill: str | None,
) -> CoverageSeries:
    full = interval_s // unit_s
    horizon = len(req)
    cov = [0] * horizon
    for count in counts:
        first = count.day * per_day + count.shift.start
        for j, units in enumerate(_presence(count.shift, interval_s, unit_s)):
            if first + j < horizon:
                cov[first + j] += count.agents * units
    return CoverageSeries(
        skill=skill,
        required=tuple(req),
        scheduled=tuple(c / full for c in cov),
        under=tuple(max(0, r * full - c) / full for r, c in zip(req, cov, strict=True)),
        over=tuple(max(0, c - r * full) / full for r, c in zip(req, cov, strict=True)),
    )


# ---------------------------------------------------------------------------------------------
# The CP-SAT model


@dataclass
class _Cover:
    """Coverage terms per interval: (variable, units of presence, upper bound of the variable)."""

    required_units: list[int]
    terms: list[list[tuple[cp_model.IntVar, int, int]]]

    @classmethod
    def empty(cls, required: Sequence[int], full: int) -> _Cover:
        return cls([r * full for r in required], [[] for _ in required])


@dataclass(frozen=True)
class _Chain:
    """Consecutive breaks of a template whose placements constrain each other (their windows
    interact), with the coverage each joint placement removes: (offset, absent units)."""

    breaks: tuple[int, ...]
    variants: tuple[tuple[int, ...], ...]
    absences: tuple[tuple[tuple[int, int], ...], ...]


@dataclass(frozen=True)
class _Shape:
    """A template's coverage: presence units per offset from the shift start with the breaks of
    a single placement taken out, and the chains whose placement the solver chooses.

    Chains are independent, so per-chain placement counts that each add up to the agents on a
    shift always combine into whole shifts: fewer variables than one per joint placement, the
    same optimum, and less symmetry for the search."""

    base: tuple[int, ...]
    fixed: tuple[tuple[int, int], ...]
    chains: tuple[_Chain, ...]
    n_breaks: int

    def placements(self, total: int, counts: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
        """Break offsets of ``total`` shifts from the count of each variant of each chain."""
        picks = [
            [v for v, k in zip(chain.variants, chain_counts, strict=True) for _ in range(k)]
            for chain, chain_counts in zip(self.chains, counts, strict=True)
        ]
        out = []
        for i in range(total):
            offsets = [0] * self.n_breaks
            for j, offset in self.fixed:
                offsets[j] = offset
            for chain, chosen in zip(self.chains, picks, strict=True):
                for j, offset in zip(chain.breaks, chosen[i], strict=True):
                    offsets[j] = offset
            out.append(tuple(offsets))
        return out


def _absences(
    rules: Sequence[BreakRule], offsets: Sequence[int], interval_s: int, unit_s: int
) -> tuple[tuple[int, int], ...]:
    out = []
    for rule, offset in zip(rules, offsets, strict=True):
        remaining, k = rule.duration_s, offset
        while remaining > 0:
            absent = min(interval_s, remaining)
            out.append((k, absent // unit_s))
            remaining -= absent
            k += 1
    return tuple(out)


def _shape(t: _Template, interval_s: int, unit_s: int) -> _Shape:
    breaks = t.template.breaks
    groups: list[list[int]] = []
    for j, rule in enumerate(breaks):
        if j and rule.earliest < breaks[j - 1].latest + -(-breaks[j - 1].duration_s // interval_s):
            groups[-1].append(j)
        else:
            groups.append([j])
    base = [interval_s // unit_s] * t.template.length
    fixed: list[tuple[int, int]] = []
    chains: list[_Chain] = []
    for group in groups:
        rules = [breaks[j] for j in group]
        variants = _break_variants(rules, interval_s)
        absences = tuple(_absences(rules, v, interval_s, unit_s) for v in variants)
        if len(variants) == 1:
            fixed.extend(zip(group, variants[0], strict=True))
            for k, units in absences[0]:
                base[k] -= units
        else:
            chains.append(_Chain(tuple(group), tuple(variants), absences))
    return _Shape(tuple(base), tuple(fixed), tuple(chains), len(breaks))


def _add_slot(
    model: cp_model.CpModel,
    shape: _Shape,
    first: int,
    count: cp_model.IntVar,
    upper: int,
    covers: Sequence[_Cover],
    tag: str,
) -> list[list[cp_model.IntVar]]:
    """Coverage terms of ``count`` agents on one shift starting at interval ``first`` of the
    horizon, with a placement count per variant of each break chain (returned)."""
    horizon = len(covers[0].terms)
    for k, units in enumerate(shape.base):
        if units and first + k < horizon:
            for cover in covers:
                cover.terms[first + k].append((count, units, upper))
    chain_vars = []
    for c, chain in enumerate(shape.chains):
        zs = [model.new_int_var(0, upper, f"{tag}_c{c}_{v}") for v in range(len(chain.variants))]
        model.add(cp_model.LinearExpr.sum(zs) == count)
        for z, absence in zip(zs, chain.absences, strict=True):
            for k, units in absence:
                if first + k < horizon:
                    for cover in covers:
                        cover.terms[first + k].append((z, -units, upper))
        chain_vars.append(zs)
    return chain_vars


def _cost_terms(
    model: cp_model.CpModel, cover: _Cover, options: SchedulingOptions, tag: str
) -> tuple[list[cp_model.IntVar], list[int], int]:
    """Under/over variables for each interval of ``cover`` with their objective weights, and the
    constant cost of intervals nothing can cover."""
    variables: list[cp_model.IntVar] = []
    weights: list[int] = []
    constant = 0
    for t, (need, terms) in enumerate(zip(cover.required_units, cover.terms, strict=True)):
        if not terms:
            constant += options.under_weight * need
            continue
        most = sum(max(0, units) * ub for _, units, ub in terms)
        under = model.new_int_var(0, need, f"under_{tag}_{t}")
        over = model.new_int_var(0, max(0, most - need), f"over_{tag}_{t}")
        covered = cp_model.LinearExpr.weighted_sum(
            [v for v, _, _ in terms], [u for _, u, _ in terms]
        )
        model.add(covered - over + under == need)
        variables += [under, over]
        weights += [options.under_weight, options.over_weight]
    return variables, weights, constant


def _set_objective(
    model: cp_model.CpModel,
    costs: Sequence[tuple[list[cp_model.IntVar], list[int], int]],
    paid: tuple[list[cp_model.IntVar], list[int]],
    max_paid: int,
    options: SchedulingOptions,
) -> int:
    """Minimise cost x M + paid intervals, M above any paid total; returns M."""
    scale = max_paid + 1 if options.tie_break else 1
    variables = [v for c in costs for v in c[0]]
    weights = [w * scale for c in costs for w in c[1]]
    constant = sum(c[2] for c in costs) * scale
    if options.tie_break:
        variables += paid[0]
        weights += paid[1]
    model.minimize(cp_model.LinearExpr.weighted_sum(variables, weights) + constant)
    return scale


def _solver(options: SchedulingOptions, lp_heavy: bool = False) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(options.max_time_s)
    solver.parameters.num_workers = options.num_workers
    if lp_heavy:
        # Rosters: LP-guided dives with the fullest linear relaxation find good weeks far
        # sooner than the default two-worker portfolio (about 1 % from the bound in a minute
        # instead of several times the optimum for 200 agents).
        if options.num_workers <= 2:
            solver.parameters.subsolvers.extend(["max_lp", "default_lp"])
        if options.num_workers == 1:
            solver.parameters.linearization_level = 2
    solver.parameters.random_seed = options.seed
    if options.relative_gap_limit > 0:
        solver.parameters.relative_gap_limit = float(options.relative_gap_limit)
    return solver


@dataclass(frozen=True)
class _Outcome:
    status: SolveStatus
    objective: float | None
    best_bound: float | None
    gap: float | None
    explanation: str


def _outcome(
    solver: cp_model.CpSolver,
    code: cp_model.CpSolverStatus,
    scale: int,
    full: int,
    cost_units: int | None,
) -> _Outcome:
    """Status, cost, bound and gap in agent-intervals from the solver's combined objective."""
    if code == cp_model.INFEASIBLE:
        return _Outcome(SolveStatus.INFEASIBLE, None, None, None, "infeasible")
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE) or cost_units is None:
        return _Outcome(
            SolveStatus.UNKNOWN,
            None,
            None,
            None,
            f"no schedule found within the time limit ({solver.wall_time:.1f} s); raise "
            "options.max_time_s",
        )
    combined_bound = math.ceil(solver.best_objective_bound - 1e-6)
    bound_units = min(cost_units, combined_bound // scale)
    objective = cost_units / full
    bound = bound_units / full
    gap = (cost_units - bound_units) / cost_units if cost_units else 0.0
    proven = code == cp_model.OPTIMAL and combined_bound >= round(solver.objective_value)
    if proven:
        return _Outcome(
            SolveStatus.OPTIMAL, objective, bound, 0.0, "optimal: no schedule costs less"
        )
    if gap == 0.0:
        text = (
            "feasible: the staffing cost is proven minimal; the fewest-paid-intervals "
            "tie-break is not proven"
        )
    else:
        text = (
            f"feasible: best schedule found in {solver.wall_time:.1f} s; its cost "
            f"{objective:g} is within {gap:.2%} of the optimum (bound {bound:g})"
        )
    return _Outcome(SolveStatus.FEASIBLE, objective, bound, gap, text)


def _cost_units(series: Sequence[CoverageSeries], full: int, options: SchedulingOptions) -> int:
    total = 0
    for s in series:
        total += options.under_weight * sum(round(u * full) for u in s.under)
        total += options.over_weight * sum(round(o * full) for o in s.over)
    return total


# ---------------------------------------------------------------------------------------------
# Mode (a): shift types without named agents


def schedule_shift_types(
    required: Sequence[int],
    interval_s: int,
    templates: Sequence[ShiftTemplate],
    options: SchedulingOptions | None = None,
) -> Schedule:
    """How many agents to put on each shift type each day to cover ``required`` at the least
    staffing cost (no named agents, no weekly rules)."""
    options = _options(SchedulingOptions() if options is None else options)
    interval_s = _interval_s(interval_s)
    per_day = SECONDS_PER_DAY // interval_s
    req = _requirement("required", required, per_day)
    checked = _templates(templates, interval_s)
    unit_s = _unit_s(interval_s, (b.duration_s for t in checked for b in t.template.breaks))
    full = interval_s // unit_s
    horizon = len(req)
    days = horizon // per_day

    model = cp_model.CpModel()
    cover = _Cover.empty(req, full)
    shapes = [_shape(t, interval_s, unit_s) for t in checked]
    slots: list[tuple[int, int, int, cp_model.IntVar, list[list[cp_model.IntVar]]]] = []
    paid_vars: list[cp_model.IntVar] = []
    paid_weights: list[int] = []
    max_paid = 0
    for day in range(days):
        for ti, t in enumerate(checked):
            for start in t.starts:
                first = day * per_day + start
                span = range(first, min(first + t.template.length, horizon))
                peak = max((req[i] for i in span), default=0)
                if peak == 0:
                    continue  # it could only add over-staffing
                # More than full x peak agents on one shift would cover every interval it
                # touches without the last one, who could only add cost.
                upper = full * peak
                tag = f"y_{day}_{ti}_{start}"
                var = model.new_int_var(0, upper, tag)
                chains = _add_slot(model, shapes[ti], first, var, upper, [cover], tag)
                slots.append((day, ti, start, var, chains))
                paid_vars.append(var)
                paid_weights.append(t.template.length)
                max_paid += upper * t.template.length
    costs = [_cost_terms(model, cover, options, "all")]
    scale = _set_objective(model, costs, (paid_vars, paid_weights), max_paid, options)

    solver = _solver(options)
    code = solver.solve(model)
    counts: list[ShiftCount] = []
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for day, ti, start, var, chains in slots:
            n = solver.value(var)
            if n:
                values = [[solver.value(z) for z in zs] for zs in chains]
                tally = Counter(shapes[ti].placements(n, values))
                for offsets, k in sorted(tally.items()):
                    counts.append(ShiftCount(day, checked[ti].shift(start, offsets), k))
    series = _series(req, interval_s, unit_s, per_day, counts, None)
    found = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    cost_units = _cost_units([series], full, options) if found else None
    outcome = _outcome(solver, code, scale, full, cost_units)
    return Schedule(
        status=outcome.status,
        explanation=outcome.explanation,
        interval_s=interval_s,
        coverage=series,
        skill_coverage=(),
        shift_counts=tuple(counts),
        agent_shifts=(),
        objective=outcome.objective,
        best_bound=outcome.best_bound,
        gap=outcome.gap,
        paid_intervals=sum(c.agents * c.shift.length for c in counts),
        wall_time_s=solver.wall_time,
    )


# ---------------------------------------------------------------------------------------------
# Mode (b): a roster of named agents


@dataclass(frozen=True)
class _Roster:
    interval_s: int
    per_day: int
    days: int
    templates: tuple[_Template, ...]
    rules: WorkRules

    @property
    def rest(self) -> int:
        """Minimum rest in whole intervals."""
        return -(-self.rules.min_rest_s // self.interval_s)

    def weeks(self) -> list[range]:
        return [
            range(w, min(w + DAYS_PER_WEEK, self.days)) for w in range(0, self.days, DAYS_PER_WEEK)
        ]

    def options(self, agent: Agent, day: int) -> list[tuple[int, int]]:
        """(template index, start) pairs the agent may work on ``day``."""
        windows = (
            [(0, 2 * self.per_day)]
            if agent.availability is None
            else [(a.start, a.end) for a in agent.availability if a.day == day]
        )
        out: list[tuple[int, int]] = []
        for ti, t in enumerate(self.templates):
            if agent.templates is not None and t.template.name not in agent.templates:
                continue
            length = t.template.length
            for start in t.starts:
                if any(lo <= start and start + length <= hi for lo, hi in windows):
                    out.append((ti, start))
        return out


_AgentVars = dict[tuple[int, int, int], cp_model.IntVar]  # (day, template, start) -> bool


def _add_agent(
    model: cp_model.CpModel, roster: _Roster, agent: Agent, rules: WorkRules, tag: str
) -> _AgentVars:
    """One agent's shift choices and every rule that concerns only that agent."""
    x: _AgentVars = {}
    by_day: list[list[cp_model.IntVar]] = []
    for day in range(roster.days):
        day_vars = []
        for ti, start in roster.options(agent, day):
            var = model.new_bool_var(f"x_{tag}_{day}_{ti}_{start}")
            x[day, ti, start] = var
            day_vars.append(var)
        if len(day_vars) > 1:
            model.add_at_most_one(day_vars)
        by_day.append(day_vars)

    for week in roster.weeks():
        whole = len(week) == DAYS_PER_WEEK
        worked = [v for d in week for v in by_day[d]]
        cap = min(agent.max_shifts_per_week, rules.max_working_days)
        if whole:
            cap = min(cap, DAYS_PER_WEEK - rules.days_off)
        if whole and rules.exact_days_off:
            model.add(cp_model.LinearExpr.sum(worked) == DAYS_PER_WEEK - rules.days_off)
        if cap < sum(1 for d in week if by_day[d]):
            model.add(cp_model.LinearExpr.sum(worked) <= cap)
        block = rules.days_off
        if whole and rules.consecutive_days_off and 2 <= block < DAYS_PER_WEEK:
            starts = []
            for first in range(week.start, week.stop - block + 1):
                off = model.new_bool_var(f"off_{tag}_{first}")
                for d in range(first, first + block):
                    if by_day[d]:
                        model.add_at_most_one([off, *by_day[d]])
                starts.append(off)
            model.add_bool_or(starts)

    # Rest: for each end time e on one day, no shift of a later day may start before e + rest.
    # Grouping "ends at or after e" against "starts before e + rest" gives one clique per e.
    rest = max(0, roster.rest)
    per_day = roster.per_day
    for day in range(roster.days):
        ends: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for (d, ti, start), var in x.items():
            if d == day:
                ends[day * per_day + start + roster.templates[ti].template.length].append(var)
        if not ends:
            continue
        latest_end = max(ends)
        for later in range(day + 1, roster.days):
            if later * per_day >= latest_end + rest:
                break
            starts_at = [
                (later * per_day + start, var) for (d, _, start), var in x.items() if d == later
            ]
            previous = -1
            for e in sorted(ends):
                clash = [var for s, var in starts_at if s < e + rest]
                if not clash or len(clash) == previous:
                    continue  # the clique of a smaller e already implies this one
                previous = len(clash)
                ending = [var for end, vs in ends.items() if end >= e for var in vs]
                model.add_at_most_one(ending + clash)
    return x


def _explain_infeasible(
    roster: _Roster, agents: Sequence[Agent], options: SchedulingOptions
) -> str:
    """Which agents cannot meet the rules on their own, and what would let them."""
    rules = roster.rules
    needed = DAYS_PER_WEEK - rules.days_off
    reasons: list[str] = []

    def feasible(agent: Agent, agent_rules: WorkRules) -> bool:
        model = cp_model.CpModel()
        _add_agent(model, roster, agent, agent_rules, "d")
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = float(options.max_time_s)
        return solver.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)

    for agent in agents:
        if feasible(agent, rules):
            continue
        found = ""
        for week in roster.weeks():
            if len(week) < DAYS_PER_WEEK:
                continue
            label = f"week {week.start // DAYS_PER_WEEK + 1} (days {week.start}-{week[-1]})"
            days = [d for d in week if roster.options(agent, d)]
            if len(days) < needed:
                found = (
                    f"agent {agent.id!r}: exactly {rules.days_off} days off means {needed} "
                    f"working days in {label}, but the agent can work only {len(days)} "
                    f"({', '.join(_WEEKDAYS[d % 7] for d in days) or 'none'}) within their "
                    "availability and templates"
                )
                break
        if not found and agent.max_shifts_per_week < needed:
            found = (
                f"agent {agent.id!r}: exactly {rules.days_off} days off means {needed} working "
                f"days a week, but max_shifts_per_week is {agent.max_shifts_per_week}"
            )
        if not found:
            relaxations = {
                "consecutive days off": replace(rules, consecutive_days_off=False),
                f"the {rules.min_rest_s / 3600:g} h rest": replace(rules, min_rest_s=0),
            }
            helps = [name for name, relaxed in relaxations.items() if feasible(agent, relaxed)]
            hint = (
                f"; it would be without {' or without '.join(helps)}"
                if helps
                else "; not even without the consecutive-days-off and rest rules"
            )
            found = (
                f"agent {agent.id!r}: no week of exactly {needed} working days fits their "
                f"availability together with the rules{hint}"
            )
        reasons.append(found)
    if not reasons:
        return "infeasible: the rules cannot all hold together"
    return "infeasible: " + "; ".join(reasons)


_Slot = tuple[int, int, int, frozenset[str]]  # day, template index, start, skill group
_Work = tuple[str, int, int, int]  # agent id, day, template index, start


@dataclass
class _Staffing:
    """A roster model's agents on each slot, as (variable, upper bound) terms to add up, and how
    to read every agent's shifts from a solution."""

    slots: dict[_Slot, list[tuple[cp_model.IntVar, int]]]
    read: Callable[[cp_model.CpSolver], list[_Work]]


def _agent_model(
    model: cp_model.CpModel,
    roster: _Roster,
    agents: Sequence[Agent],
    group_of: Callable[[Agent], frozenset[str]],
) -> _Staffing:
    """One Boolean per agent, day and shift start: general, but large and symmetric."""
    choices = [_add_agent(model, roster, a, roster.rules, str(i)) for i, a in enumerate(agents)]
    slots: dict[_Slot, list[tuple[cp_model.IntVar, int]]] = defaultdict(list)
    for agent, x in zip(agents, choices, strict=True):
        for (day, ti, start), var in x.items():
            slots[day, ti, start, group_of(agent)].append((var, 1))

    def read(solver: cp_model.CpSolver) -> list[_Work]:
        return [
            (agent.id, day, ti, start)
            for agent, x in zip(agents, choices, strict=True)
            for (day, ti, start), var in x.items()
            if solver.value(var)
        ]

    return _Staffing(slots, read)


def _week_patterns(
    roster: _Roster, can_work: Sequence[bool], max_shifts: int
) -> list[tuple[int, ...]]:
    """Every set of working days (within one week) that the weekly rules allow."""
    rules = roster.rules
    whole = roster.days == DAYS_PER_WEEK
    cap = min(max_shifts, rules.max_working_days)
    if whole:
        cap = min(cap, DAYS_PER_WEEK - rules.days_off)
    block = rules.days_off
    out = []
    for mask in range(1 << roster.days):
        days = tuple(d for d in range(roster.days) if mask >> d & 1)
        if len(days) > cap or not all(can_work[d] for d in days):
            continue
        if whole and rules.exact_days_off and len(days) != DAYS_PER_WEEK - block:
            continue
        if (
            whole
            and rules.consecutive_days_off
            and 2 <= block < DAYS_PER_WEEK
            and not any(
                all(d not in days for d in range(first, first + block))
                for first in range(DAYS_PER_WEEK - block + 1)
            )
        ):
            continue
        out.append(days)
    return out


def _stretches(days: Sequence[int]) -> list[tuple[int, int]]:
    """Runs of consecutive working days as (first, last)."""
    out: list[tuple[int, int]] = []
    for d in days:
        if out and out[-1][1] == d - 1:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def _class_model(
    model: cp_model.CpModel,
    roster: _Roster,
    agents: Sequence[Agent],
    group_of: Callable[[Agent], frozenset[str]],
) -> _Staffing:
    """Agents with the same options, shift cap and skills form a class; each class is modelled
    by counts, without one variable per agent.

    A class's agents take weekly working-day patterns (counted per pattern); each pattern is a
    set of stretches of consecutive working days; the agents working a stretch flow through its
    days, choosing a shift each day. Between two days of a stretch, agents ending at or after
    ``e`` need next-day shifts starting at or after ``e + rest``: as compatibility is monotone
    in time, Hall's condition on every such threshold is exactly what lets the day's shifts be
    chained into individual weeks. Only used when shifts two days apart can never clash (the
    caller checks), so days off always give enough rest.
    """
    per_day = roster.per_day
    rest = max(0, roster.rest)
    classes: dict[
        tuple[frozenset[str], int, tuple[tuple[tuple[int, int], ...], ...]], list[Agent]
    ] = defaultdict(list)
    for agent in agents:
        options = tuple(tuple(roster.options(agent, d)) for d in range(roster.days))
        classes[group_of(agent), agent.max_shifts_per_week, options].append(agent)

    def end(day: int, ti: int, start: int) -> int:
        return day * per_day + start + roster.templates[ti].template.length

    slots: dict[_Slot, list[tuple[cp_model.IntVar, int]]] = defaultdict(list)
    readers = []
    for c, ((group, max_shifts, options), members) in enumerate(classes.items()):
        n = len(members)
        patterns = _week_patterns(roster, [bool(o) for o in options], max_shifts)
        if not patterns:
            model.add_bool_or([])  # no week fits this class's agents: infeasible
            continue
        counts = [model.new_int_var(0, n, f"m_{c}_{i}") for i in range(len(patterns))]
        model.add(cp_model.LinearExpr.sum(counts) == n)
        on_stretch: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        for var, days in zip(counts, patterns, strict=True):
            for stretch in _stretches(days):
                on_stretch[stretch].append(var)
        flows: dict[tuple[int, int], dict[tuple[int, int, int], cp_model.IntVar]] = {}
        for (first, last), holders in on_stretch.items():
            total = cp_model.LinearExpr.sum(holders)
            flow: dict[tuple[int, int, int], cp_model.IntVar] = {}
            for day in range(first, last + 1):
                for ti, start in options[day]:
                    var = model.new_int_var(0, n, f"f_{c}_{first}_{last}_{day}_{ti}_{start}")
                    flow[day, ti, start] = var
                    slots[day, ti, start, group].append((var, n))
                today = [flow[day, ti, start] for ti, start in options[day]]
                model.add(cp_model.LinearExpr.sum(today) == total)
            for day in range(first, last):
                nxt = [
                    ((day + 1) * per_day + s, flow[day + 1, ti, s]) for ti, s in options[day + 1]
                ]
                ends = sorted({end(day, ti, s) for ti, s in options[day]})
                previous = 0
                for e in ends:
                    clash = [var for s, var in nxt if s < e + rest]
                    if len(clash) == previous:
                        continue  # a smaller e already implies this one
                    previous = len(clash)
                    ending = [flow[day, ti, s] for ti, s in options[day] if end(day, ti, s) >= e]
                    model.add(
                        cp_model.LinearExpr.sum(ending) + cp_model.LinearExpr.sum(clash) <= total
                    )
            flows[first, last] = flow
        readers.append((members, patterns, counts, flows))

    def read(solver: cp_model.CpSolver) -> list[_Work]:
        out: list[_Work] = []
        for members, patterns, counts, flows in readers:
            queue = iter(sorted(a.id for a in members))
            holders: dict[tuple[int, int], list[str]] = defaultdict(list)
            for days, var in zip(patterns, counts, strict=True):
                for _ in range(solver.value(var)):
                    agent_id = next(queue)
                    for stretch in _stretches(days):
                        holders[stretch].append(agent_id)
            for (first, last), ids in holders.items():
                flow = flows[first, last]

                def shifts_on(
                    day: int, flow: dict[tuple[int, int, int], cp_model.IntVar] = flow
                ) -> list[tuple[int, int]]:
                    return [
                        (ti, s)
                        for (d, ti, s), var in flow.items()
                        if d == day
                        for _ in range(solver.value(var))
                    ]

                # Latest end takes latest start: Hall's condition makes every pair rested.
                paths = [
                    (agent_id, ti, s)
                    for agent_id, (ti, s) in zip(ids, shifts_on(first), strict=True)
                ]
                out += [(agent_id, first, ti, s) for agent_id, ti, s in paths]
                for day in range(first + 1, last + 1):
                    paths.sort(key=lambda p: end(day - 1, p[1], p[2]), reverse=True)
                    today = sorted(shifts_on(day), key=lambda o: o[1], reverse=True)
                    paths = [(p[0], ti, s) for p, (ti, s) in zip(paths, today, strict=True)]
                    out += [(agent_id, day, ti, s) for agent_id, ti, s in paths]
        return out

    return _Staffing(slots, read)


def _classes_exact(roster: _Roster) -> bool:
    """Whether the class model is exact: one week at most, and any two shifts two or more days
    apart leave the minimum rest."""
    latest_end = max(t.starts[-1] + t.template.length for t in roster.templates)
    earliest = min(t.starts[0] for t in roster.templates)
    rest = max(0, roster.rest)
    return roster.days <= DAYS_PER_WEEK and latest_end + rest <= 2 * roster.per_day + earliest


@dataclass(frozen=True)
class _RosterProblem:
    required: tuple[int, ...]
    skills: dict[str, tuple[int, ...]]
    agents: tuple[Agent, ...]
    group_of: Callable[[Agent], frozenset[str]]
    unit_s: int
    options: SchedulingOptions


@dataclass(frozen=True)
class _RosterSolution:
    solver: cp_model.CpSolver
    code: cp_model.CpSolverStatus
    scale: int
    agent_shifts: list[AgentShift]

    @property
    def found(self) -> bool:
        return self.code in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def _solve_roster(
    problem: _RosterProblem, roster: _Roster, hint: Mapping[_Slot, int] | None, max_time_s: float
) -> _RosterSolution:
    """Build and solve the roster model over ``roster``'s templates and starts."""
    per_day, interval_s, unit_s = roster.per_day, roster.interval_s, problem.unit_s
    full = interval_s // unit_s
    checked = roster.templates
    model = cp_model.CpModel()
    build = _class_model if _classes_exact(roster) else _agent_model
    staffing = build(model, roster, problem.agents, problem.group_of)
    cover = _Cover.empty(problem.required, full)
    skill_cover = {s: _Cover.empty(r, full) for s, r in problem.skills.items()}
    shapes = [_shape(t, interval_s, unit_s) for t in checked]
    placements: dict[_Slot, list[list[cp_model.IntVar]]] = {}
    paid_vars: list[cp_model.IntVar] = []
    paid_weights: list[int] = []
    for key, terms in staffing.slots.items():
        day, ti, start, group = key
        tag = f"n_{day}_{ti}_{start}_{len(placements)}"
        upper = sum(ub for _, ub in terms)
        if len(terms) == 1:
            count = terms[0][0]
        else:
            count = model.new_int_var(0, upper, tag)
            model.add(count == cp_model.LinearExpr.sum([v for v, _ in terms]))
        if hint is not None:
            model.add_hint(count, min(upper, hint.get(key, 0)))
        targets = [cover, *(skill_cover[s] for s in sorted(group))]
        first = day * per_day + start
        placements[key] = _add_slot(model, shapes[ti], first, count, upper, targets, tag)
        paid_vars.append(count)
        paid_weights.append(checked[ti].template.length)
    options = problem.options
    costs = [_cost_terms(model, cover, options, "all")]
    costs += [_cost_terms(model, c, options, f"s{k}") for k, c in enumerate(skill_cover.values())]
    max_paid = roster.days * max(t.template.length for t in checked) * len(problem.agents)
    scale = _set_objective(model, costs, (paid_vars, paid_weights), max_paid, options)

    solver = _solver(replace(options, max_time_s=max_time_s), lp_heavy=True)
    code = solver.solve(model)
    agent_shifts: list[AgentShift] = []
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        on_shift: dict[_Slot, list[str]] = defaultdict(list)
        groups = {a.id: problem.group_of(a) for a in problem.agents}
        for agent_id, day, ti, start in staffing.read(solver):
            on_shift[day, ti, start, groups[agent_id]].append(agent_id)
        for key, ids in on_shift.items():
            day, ti, start, _ = key
            values = [[solver.value(z) for z in zs] for zs in placements[key]]
            offsets = shapes[ti].placements(len(ids), values)
            for agent_id, placed in zip(sorted(ids), offsets, strict=True):
                agent_shifts.append(AgentShift(agent_id, day, checked[ti].shift(start, placed)))
    return _RosterSolution(solver, code, scale, agent_shifts)


def schedule_roster(
    required: Sequence[int],
    interval_s: int,
    templates: Sequence[ShiftTemplate],
    agents: Sequence[Agent],
    rules: WorkRules | None = None,
    skill_required: Mapping[str, Sequence[int]] | None = None,
    options: SchedulingOptions | None = None,
) -> Schedule:
    """Shifts and breaks for named ``agents`` over the horizon at the least staffing cost,
    within their availability, allowed templates, shift caps and the weekly ``rules``."""
    options = _options(SchedulingOptions() if options is None else options)
    rules = _rules(WorkRules() if rules is None else rules)
    interval_s = _interval_s(interval_s)
    per_day = SECONDS_PER_DAY // interval_s
    req = _requirement("required", required, per_day)
    horizon = len(req)
    days = horizon // per_day
    checked = _templates(templates, interval_s)
    agent_list = _agents(agents, {t.template.name for t in checked}, days, per_day)
    skills = _skill_requirements(skill_required, horizon, per_day)
    unit_s = _unit_s(interval_s, (b.duration_s for t in checked for b in t.template.breaks))
    full = interval_s // unit_s
    roster = _Roster(interval_s, per_day, days, tuple(checked), rules)
    names = {t.template.name: ti for ti, t in enumerate(checked)}
    by_id = {a.id: a for a in agent_list}

    # Agents with the same required skills are interchangeable for coverage.
    def group_of(agent: Agent) -> frozenset[str]:
        return agent.skills.intersection(skills)

    problem = _RosterProblem(req, skills, agent_list, group_of, unit_s, options)
    spent = 0.0
    hint: Counter[_Slot] | None = None
    if options.warm_start and any(len(t.starts) > 1 for t in checked):
        # Coarse to fine: every other shift start first, for a sixth of the time. Its roster
        # is one of the full problem's, and starting from it the full search finds good
        # weeks much sooner.
        coarse = replace(roster, templates=tuple(replace(t, starts=t.starts[::2]) for t in checked))
        first = _solve_roster(problem, coarse, None, options.max_time_s / 6)
        spent = first.solver.wall_time
        if first.found:
            hint = Counter(
                (a.day, names[a.shift.template], a.shift.start, group_of(by_id[a.agent]))
                for a in first.agent_shifts
            )
    solved = _solve_roster(problem, roster, hint, max(0.1, options.max_time_s - spent))
    solver, code, scale, found = solved.solver, solved.code, solved.scale, solved.found
    agent_shifts = solved.agent_shifts
    agent_shifts.sort(key=lambda s: (s.day, s.shift.start, s.agent))
    skills_of = {a.id: a.skills for a in agent_list}

    def counted(skill: str | None) -> list[ShiftCount]:
        tally: dict[tuple[int, ShiftType], int] = defaultdict(int)
        for s in agent_shifts:
            if skill is None or skill in skills_of[s.agent]:
                tally[s.day, s.shift] += 1
        return [ShiftCount(day, shift, n) for (day, shift), n in tally.items()]

    shift_counts = sorted(counted(None), key=lambda c: (c.day, c.shift.start, c.shift.template))
    series = _series(req, interval_s, unit_s, per_day, shift_counts, None)
    skill_series = tuple(
        _series(r, interval_s, unit_s, per_day, counted(s), s) for s, r in skills.items()
    )
    cost_units = _cost_units([series, *skill_series], full, options) if found else None
    outcome = _outcome(solver, code, scale, full, cost_units)
    explanation = outcome.explanation
    if outcome.status is SolveStatus.INFEASIBLE:
        explanation = _explain_infeasible(roster, agent_list, options)
    return Schedule(
        status=outcome.status,
        explanation=explanation,
        interval_s=interval_s,
        coverage=series,
        skill_coverage=skill_series,
        shift_counts=tuple(shift_counts),
        agent_shifts=tuple(agent_shifts),
        objective=outcome.objective,
        best_bound=outcome.best_bound,
        gap=outcome.gap,
        paid_intervals=sum(s.shift.length for s in agent_shifts),
        wall_time_s=spent + solver.wall_time,
    )
