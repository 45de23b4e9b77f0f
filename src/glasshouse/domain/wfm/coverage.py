"""Coverage of a schedule as plain data for charts: required against scheduled agents.

:func:`coverage_chart` turns a :class:`~.scheduling.Schedule` into dictionaries, lists, strings
and numbers only (JSON-ready), one series for all agents and one per skill with a requirement,
one point per interval. Scheduled agents are those working and not on break, so a 15-minute
break in a 30-minute interval shows as half an agent. Drawing is left to the report.
"""

from __future__ import annotations

from typing import TypedDict

from .scheduling import SECONDS_PER_DAY, CoverageSeries, Schedule, SchedulingError

__all__ = ["CoverageChart", "CoveragePoint", "CoverageSeriesData", "coverage_chart"]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class CoveragePoint(TypedDict):
    """One interval: ``interval`` is its index in the horizon, ``time`` its start ("07:30")."""

    interval: int
    day: int
    weekday: str
    time: str
    required: int
    scheduled: float
    under: float
    over: float


class CoverageSeriesData(TypedDict):
    """All agents (``skill`` None) or the agents with one skill."""

    skill: str | None
    points: list[CoveragePoint]
    total_required: int
    total_scheduled: float
    total_under: float
    total_over: float


class CoverageChart(TypedDict):
    interval_s: int
    intervals_per_day: int
    first_day: int
    days: int
    status: str
    objective: float | None
    series: list[CoverageSeriesData]


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _series(data: CoverageSeries, interval_s: int, first: int, stop: int) -> CoverageSeriesData:
    per_day = SECONDS_PER_DAY // interval_s
    points: list[CoveragePoint] = [
        {
            "interval": t,
            "day": t // per_day,
            "weekday": _WEEKDAYS[t // per_day % 7],
            "time": _clock(t % per_day * interval_s),
            "required": data.required[t],
            "scheduled": data.scheduled[t],
            "under": data.under[t],
            "over": data.over[t],
        }
        for t in range(first, stop)
    ]
    return {
        "skill": data.skill,
        "points": points,
        "total_required": sum(p["required"] for p in points),
        "total_scheduled": sum(p["scheduled"] for p in points),
        "total_under": sum(p["under"] for p in points),
        "total_over": sum(p["over"] for p in points),
    }


def coverage_chart(schedule: Schedule, day: int | None = None) -> CoverageChart:
    """Required vs scheduled per interval for every series of ``schedule`` (all agents first,
    then each skill), over the whole horizon or only ``day`` (day 0 is a Monday)."""
    interval_s = schedule.interval_s
    per_day = SECONDS_PER_DAY // interval_s
    days = len(schedule.coverage.required) // per_day
    if day is None:
        first, stop, first_day, n_days = 0, days * per_day, 0, days
    else:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day < days:
            raise SchedulingError("day", f"must be an integer in [0, {days}), got {day!r}")
        first, stop, first_day, n_days = day * per_day, (day + 1) * per_day, day, 1
    series = [schedule.coverage, *schedule.skill_coverage]
    return {
        "interval_s": interval_s,
        "intervals_per_day": per_day,
        "first_day": first_day,
        "days": n_days,
        "status": str(schedule.status),
        "objective": schedule.objective,
        "series": [_series(s, interval_s, first, stop) for s in series],
    }
