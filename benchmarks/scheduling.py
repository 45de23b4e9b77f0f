"""SCHED-1: shift scheduling with CP-SAT against a greedy heuristic measured in the same run.

(a) One day on quarter-hour intervals, the 219 shift types of ``call_centre_day_templates``
    (8 h, 9 h and 6 h shifts with placed breaks), a requirement from Erlang C (80/20, AHT 240 s)
    over a call-centre curve with morning and afternoon peaks. Target: optimal within 2 s.
(b) A 200-agent week on half-hour intervals: 150 full-time agents (8 h or 9 h shifts, a 15-min
    break and a lunch placed by the solver) and 50 part-timers (6 h with a 15-min break, at
    most 4 shifts), at least 2 consecutive days off, at most 5 working days, 11 h rest between
    shifts; 40 agents have limited availability (mornings only, evenings only, or a few days).
    Target: within 1 % of the optimum (relative gap <= 0.01) within 60 s.
(c) The baseline on the same inputs: a greedy heuristic that repeatedly adds the shift (and,
    in the roster, the first agent who may still take it) lowering the staffing cost most,
    until nothing lowers it. Printed as its cost and the ratio CP-SAT / greedy.

The staffing cost is 10 x under-staffing + 1 x over-staffing in agent-intervals. The roster the
solver returns is checked against the rules before its figures are printed.

    python benchmarks/scheduling.py [--workers N] [--seed S] [--time-a S] [--time-b S]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from glasshouse.domain.wfm.erlang import offered_load, staff_erlang_c
from glasshouse.domain.wfm.scheduling import (
    Agent,
    AgentShift,
    Availability,
    BreakRule,
    Schedule,
    SchedulingOptions,
    ShiftCount,
    ShiftTemplate,
    ShiftType,
    WorkRules,
    call_centre_day_templates,
    coverage_series,
    schedule_roster,
    schedule_shift_types,
    shift_types,
)

DAY_S = 86_400
AHT_S = 240.0
WEEK_FACTORS = (1.15, 1.05, 1.0, 1.0, 1.05, 0.6, 0.45)  # Monday .. Sunday
RULES = WorkRules(days_off=2, consecutive_days_off=True, max_working_days=5, min_rest_s=11 * 3600)


def day_requirement(per_day: int, peak_calls: float) -> list[int]:
    """Agents needed (Erlang C, 80 % in 20 s) per interval of a day, open 06:00-23:00 with
    peaks near 10:30 and 14:30 and a smaller evening one; ``peak_calls`` per quarter-hour."""
    interval_s = DAY_S // per_day
    out = []
    for i in range(per_day):
        hour = (i + 0.5) * 24 / per_day
        if hour < 6 or hour >= 23:
            out.append(0)
            continue
        shape = (
            math.exp(-(((hour - 10.5) / 2.0) ** 2))
            + 0.85 * math.exp(-(((hour - 14.5) / 2.2) ** 2))
            + 0.35 * math.exp(-(((hour - 19.5) / 2.0) ** 2))
        )
        calls = (peak_calls * shape + 8) * interval_s / 900
        out.append(staff_erlang_c(offered_load(calls, AHT_S, interval_s), AHT_S, 0.8, 20))
    return out


def week_requirement(per_day: int, peak_calls: float) -> list[int]:
    return [
        r
        for factor in WEEK_FACTORS
        for r in day_requirement_open(per_day, peak_calls * factor, 7.0, 22.0)
    ]


def day_requirement_open(per_day: int, peak_calls: float, opens: float, closes: float) -> list[int]:
    """Like :func:`day_requirement` for a centre open from ``opens`` to ``closes`` (hours)."""
    full = day_requirement(per_day, peak_calls)
    return [r if opens <= (i + 0.5) * 24 / per_day < closes else 0 for i, r in enumerate(full)]


# ---------------------------------------------------------------------------------------------
# The week's templates and agents


def week_templates() -> tuple[ShiftTemplate, ...]:
    """Half-hour intervals: 8 h and 9 h with a 15-min break and a lunch, 6 h with a break."""
    h = 2  # intervals per hour
    return (
        ShiftTemplate(
            "8h",
            length=8 * h,
            earliest_start=7 * h,
            latest_start=14 * h,
            breaks=(BreakRule("break", 900, 3, 5), BreakRule("lunch", 1800, 7, 9)),
        ),
        ShiftTemplate(
            "9h",
            length=9 * h,
            earliest_start=7 * h,
            latest_start=13 * h,
            breaks=(BreakRule("break", 900, 3, 5), BreakRule("lunch", 3600, 8, 10)),
        ),
        ShiftTemplate(
            "6h",
            length=6 * h,
            earliest_start=10 * h,
            latest_start=16 * h,
            breaks=(BreakRule("break", 900, 5, 7),),
        ),
    )


def week_agents(rng: random.Random, per_day: int) -> list[Agent]:
    agents = []
    full_time = frozenset({"8h", "9h"})
    part_time = frozenset({"6h"})
    for i in range(150):
        availability = None
        if i < 15:  # mornings only, every day
            availability = tuple(Availability(d, 7 * 2, 17 * 2) for d in range(7))
        elif i < 25:  # weekdays only
            availability = tuple(Availability(d, 0, per_day) for d in range(5))
        agents.append(
            Agent(
                f"ft{i:03d}", templates=full_time, availability=availability, max_shifts_per_week=5
            )
        )
    for i in range(50):
        availability = None
        if i < 10:  # evenings only
            availability = tuple(Availability(d, 16 * 2, 22 * 2) for d in range(7))
        elif i < 15:  # students: three chosen days
            days = sorted(rng.sample(range(7), 3))
            availability = tuple(Availability(d, 0, per_day) for d in days)
        agents.append(
            Agent(
                f"pt{i:03d}", templates=part_time, availability=availability, max_shifts_per_week=4
            )
        )
    return agents


# ---------------------------------------------------------------------------------------------
# The greedy baseline


def _marginals(need: float, have: float, options: SchedulingOptions) -> tuple[float, float]:
    """Cost change of adding a full agent and half an agent at one interval."""

    def cost(c: float) -> float:
        return options.under_weight * max(0.0, need - c) + options.over_weight * max(0.0, c - need)

    base = cost(have)
    return cost(have + 1.0) - base, cost(have + 0.5) - base


@dataclass
class _Candidate:
    day: int
    shift: ShiftType
    first: int
    presence: tuple[float, ...]
    alive: bool = True


def _presence(shift: ShiftType, interval_s: int) -> tuple[float, ...]:
    present = [1.0] * shift.length
    for b in shift.breaks:
        left, j = b.duration_s, b.offset
        while left > 0:
            present[j] -= min(interval_s, left) / interval_s
            left -= interval_s
            j += 1
    return tuple(present)


class Greedy:
    """Adds the candidate shift that lowers the staffing cost most until none does. A cached
    cost change per candidate is refreshed only where the coverage changed."""

    def __init__(
        self,
        required: Sequence[int],
        interval_s: int,
        templates: Sequence[ShiftTemplate],
        options: SchedulingOptions,
    ) -> None:
        self.required = list(required)
        self.interval_s = interval_s
        self.per_day = DAY_S // interval_s
        self.options = options
        self.cov = [0.0] * len(required)
        self.candidates: list[_Candidate] = []
        self.touching: dict[int, list[int]] = defaultdict(list)
        for day in range(len(required) // self.per_day):
            for template in templates:
                for shift in shift_types(template, interval_s):
                    first = day * self.per_day + shift.start
                    k = len(self.candidates)
                    self.candidates.append(
                        _Candidate(day, shift, first, _presence(shift, interval_s))
                    )
                    for t in range(first, min(first + shift.length, len(required))):
                        self.touching[t].append(k)
        self.delta = [self._delta(c) for c in self.candidates]

    def _delta(self, c: _Candidate) -> float:
        total = 0.0
        for j, p in enumerate(c.presence):
            t = c.first + j
            if t >= len(self.required) or p == 0.0:
                continue
            one, half = _marginals(self.required[t], self.cov[t], self.options)
            total += one if p == 1.0 else (half if p == 0.5 else one * p)
        return total

    def add(self, k: int) -> None:
        c = self.candidates[k]
        stale: set[int] = set()
        for j, p in enumerate(c.presence):
            t = c.first + j
            if t < len(self.required):
                self.cov[t] += p
                stale.update(self.touching[t])
        for s in stale:
            self.delta[s] = self._delta(self.candidates[s])

    def best(self) -> int | None:
        best, best_delta = None, -1e-9
        for k, d in enumerate(self.delta):
            if d < best_delta and self.candidates[k].alive:
                best, best_delta = k, d
        return best


def greedy_shift_types(
    required: Sequence[int],
    interval_s: int,
    templates: Sequence[ShiftTemplate],
    options: SchedulingOptions,
) -> list[ShiftCount]:
    g = Greedy(required, interval_s, templates, options)
    counts: dict[tuple[int, ShiftType], int] = defaultdict(int)
    while (k := g.best()) is not None:
        g.add(k)
        c = g.candidates[k]
        counts[c.day, c.shift] += 1
    return [ShiftCount(day, shift, n) for (day, shift), n in counts.items()]


class _AgentWeek:
    def __init__(self, agent: Agent, per_day: int) -> None:
        self.agent = agent
        self.per_day = per_day
        self.shifts: dict[int, ShiftType] = {}

    def may_take(self, day: int, shift: ShiftType, rules: WorkRules, interval_s: int) -> bool:
        a = self.agent
        if day in self.shifts or len(self.shifts) >= min(
            a.max_shifts_per_week, rules.max_working_days
        ):
            return False
        if a.templates is not None and shift.template not in a.templates:
            return False
        if a.availability is not None and not any(
            w.day == day and w.start <= shift.start and shift.end <= w.end for w in a.availability
        ):
            return False
        worked = set(self.shifts) | {day}
        if rules.consecutive_days_off and not any(
            all(d not in worked for d in range(s, s + rules.days_off))
            for s in range(0, 8 - rules.days_off)
        ):
            return False
        if 7 - len(worked) < rules.days_off:
            return False
        rest = -(-rules.min_rest_s // interval_s)
        start = day * self.per_day + shift.start
        for d, other in self.shifts.items():
            o_start = d * self.per_day + other.start
            if d < day and start < o_start + other.length + rest:
                return False
            if d > day and o_start < start + shift.length + rest:
                return False
        return True


def greedy_roster(
    required: Sequence[int],
    interval_s: int,
    templates: Sequence[ShiftTemplate],
    agents: Sequence[Agent],
    rules: WorkRules,
    options: SchedulingOptions,
) -> list[AgentShift]:
    g = Greedy(required, interval_s, templates, options)
    weeks = [_AgentWeek(a, g.per_day) for a in agents]
    out = []
    while (k := g.best()) is not None:
        c = g.candidates[k]
        taker = next((w for w in weeks if w.may_take(c.day, c.shift, rules, interval_s)), None)
        if taker is None:
            c.alive = False  # agents only lose room as shifts are added: never again
            continue
        taker.shifts[c.day] = c.shift
        out.append(AgentShift(taker.agent.id, c.day, c.shift))
        g.add(k)
    return out


# ---------------------------------------------------------------------------------------------
# Checks and printing


def check_roster(
    schedule: Schedule, agents: Sequence[Agent], rules: WorkRules, per_day: int
) -> list[str]:
    """Rule violations in a roster (empty when it keeps every rule)."""
    problems = []
    by_agent: dict[str, dict[int, ShiftType]] = defaultdict(dict)
    for s in schedule.agent_shifts:
        if s.day in by_agent[s.agent]:
            problems.append(f"{s.agent} works twice on day {s.day}")
        by_agent[s.agent][s.day] = s.shift
    for a in agents:
        week = by_agent[a.id]
        probe = _AgentWeek(a, per_day)
        for day in sorted(week):
            if not probe.may_take(day, week[day], rules, schedule.interval_s):
                problems.append(f"{a.id} day {day}")
            probe.shifts[day] = week[day]
    return problems


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-a", type=float, default=10.0)
    parser.add_argument("--time-b", type=float, default=58.0)
    args = parser.parse_args(argv)
    workers = min(args.workers, 2)
    all_ok = True

    # (a) one day, 219 shift types
    interval_a = 900
    required_a = day_requirement(96, 240.0)
    templates_a = call_centre_day_templates()
    n_types = sum(len(shift_types(t, interval_a)) for t in templates_a)
    options_a = SchedulingOptions(max_time_s=args.time_a, num_workers=workers, seed=args.seed)
    started = time.perf_counter()
    day = schedule_shift_types(required_a, interval_a, templates_a, options_a)
    elapsed_a = time.perf_counter() - started
    started = time.perf_counter()
    greedy_a = coverage_series(
        required_a, interval_a, greedy_shift_types(required_a, interval_a, templates_a, options_a)
    )
    greedy_time_a = time.perf_counter() - started
    greedy_cost_a = greedy_a.cost(options_a.under_weight, options_a.over_weight)
    assert day.objective is not None
    ok_a = day.status == "OPTIMAL" and elapsed_a <= 2.0
    all_ok &= ok_a
    print(f"(a) one day, {n_types} shift types, 96 quarter-hours, peak {max(required_a)} agents")
    print(
        f"    CP-SAT   status {day.status}  cost {day.objective:g}  bound {day.best_bound:g}  "
        f"gap {day.gap:.4f}  solver {day.wall_time_s:.2f} s  total {elapsed_a:.2f} s  "
        f"agents {sum(c.agents for c in day.shift_counts)}"
    )
    print(f"    greedy   cost {greedy_cost_a:g}  time {greedy_time_a:.2f} s")
    print(f"    ratio CP-SAT/greedy cost {day.objective / greedy_cost_a:.3f}")
    print(f"    target optimal in <= 2 s: {verdict(ok_a)}")

    # (b) a 200-agent week
    interval_b = 1800
    per_day = DAY_S // interval_b
    rng = random.Random(args.seed)
    required_b = week_requirement(per_day, 350.0)
    templates_b = week_templates()
    agents = week_agents(rng, per_day)
    options_b = SchedulingOptions(max_time_s=args.time_b, num_workers=workers, seed=args.seed)
    started = time.perf_counter()
    week = schedule_roster(required_b, interval_b, templates_b, agents, RULES, options=options_b)
    elapsed_b = time.perf_counter() - started
    started = time.perf_counter()
    g_shifts = greedy_roster(required_b, interval_b, templates_b, agents, RULES, options_b)
    greedy_time_b = time.perf_counter() - started
    g_counts: dict[tuple[int, ShiftType], int] = defaultdict(int)
    for s in g_shifts:
        g_counts[s.day, s.shift] += 1
    greedy_b = coverage_series(
        required_b, interval_b, [ShiftCount(d, sh, n) for (d, sh), n in g_counts.items()]
    )
    greedy_cost_b = greedy_b.cost(options_b.under_weight, options_b.over_weight)
    violations = check_roster(week, agents, RULES, per_day)
    assert week.objective is not None and week.gap is not None
    ok_b = week.gap <= 0.01 and elapsed_b <= 60.0 and not violations
    all_ok &= ok_b
    print(
        f"(b) week of 7 x {per_day} half-hours, {len(agents)} agents, "
        f"peak {max(required_b)} agents, "
        f"{sum(required_b)} agent-intervals required"
    )
    print(
        f"    CP-SAT   status {week.status}  cost {week.objective:g}  bound {week.best_bound:g}  "
        f"gap {week.gap:.4f}  solver {week.wall_time_s:.2f} s  total {elapsed_b:.2f} s  "
        f"shifts {len(week.agent_shifts)}  rule violations {len(violations)}"
    )
    print(
        f"    greedy   cost {greedy_cost_b:g}  time {greedy_time_b:.2f} s  shifts {len(g_shifts)}"
    )
    print(f"    ratio CP-SAT/greedy cost {week.objective / greedy_cost_b:.3f}")
    print(f"    target gap <= 0.01 in <= 60 s: {verdict(ok_b)}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
