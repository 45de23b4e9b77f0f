"""What a planner report shows: the results of each planning step, with the inputs they used.

The report is built from the domain's own results (a :class:`~glasshouse.domain.wfm.forecast.
Backtest`, a :class:`~glasshouse.domain.wfm.scheduling.Schedule`, an :class:`~glasshouse.domain.
wfm.adherence.AdherenceReport`, a :class:`~glasshouse.domain.wfm.capacity.CapacityPlan`) plus
the parameters behind them, so that every figure is printed next to the definition and the
thresholds that produced it. Nothing here computes a planning figure; it only arranges them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, tzinfo

from glasshouse.domain.wfm.adherence import AdherenceReport
from glasshouse.domain.wfm.capacity import CapacityPlan, ClassTemplate, HiringClass
from glasshouse.domain.wfm.forecast import Backtest, ForecastSeries
from glasshouse.domain.wfm.reminders import ShiftReminderStatus
from glasshouse.domain.wfm.scheduling import Schedule

__all__ = [
    "AdherenceSection",
    "CapacitySection",
    "CoverageSection",
    "ForecastSection",
    "PlannerReport",
    "ShiftRow",
    "StaffingBasis",
]


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


def _clock(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return f"{text} (+{days} d)" if days else text


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass(frozen=True, slots=True)
class StaffingBasis:
    """How agents per interval were computed from the forecast: Erlang C, or Erlang A with a
    mean ``patience_s``; the service-level target; the optional caps; the shrinkage added for
    time the schedule does not show (absence, training); and the queues summed."""

    target_sl: float
    threshold_s: float
    patience_s: float | None = None
    max_occupancy: float | None = None
    shrinkage: float = 0.0
    queues: tuple[str, ...] = ()

    @property
    def model_name(self) -> str:
        return "Erlang C" if self.patience_s is None else "Erlang A"

    @property
    def model(self) -> str:
        if self.patience_s is None:
            return "Erlang C (M/M/n: callers never abandon)"
        return f"Erlang A (M/M/n+M: callers abandon after a mean patience of {self.patience_s:g} s)"

    @property
    def target(self) -> str:
        return f"{_pct(self.target_sl)} of calls answered within {self.threshold_s:g} s"

    def statements(self) -> list[str]:
        """The basis in sentences, for the report."""
        out = [
            f"Model: {self.model}.",
            f"Service-level target: {self.target}, in every interval.",
        ]
        if self.max_occupancy is not None:
            out.append(f"Occupancy cap: at most {_pct(self.max_occupancy)} per interval.")
        if len(self.queues) > 1:
            out.append(
                f"Queues {', '.join(self.queues)} are staffed separately and the agents summed."
            )
        elif self.queues:
            out.append(f"Queue: {self.queues[0]}.")
        if self.shrinkage:
            out.append(
                f"Shrinkage {_pct(self.shrinkage)}: required = ceil(agents / (1 - shrinkage)) "
                "for time off the phones that the schedule does not show; breaks placed by the "
                "schedule are counted as absences already."
            )
        return out


@dataclass(frozen=True, slots=True)
class ForecastSection:
    """The back-test (``None`` with ``note`` saying why there is none) and the forecast ahead."""

    backtest: Backtest | None
    upcoming: ForecastSeries | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """``agents`` agents work ``template`` on ``day`` from ``start`` to ``end`` (local clock)."""

    day: date
    template: str
    start: str
    end: str
    breaks: str
    agents: int


@dataclass(frozen=True)
class CoverageSection:
    """Required against scheduled agents per interval of whole local ``days``.

    ``offered`` and ``aht_s`` are the forecast behind the requirement (``aht_s`` None where no
    contact is forecast), ``agents`` the Erlang staffing on the phones, ``required`` what the
    schedule had to cover (``agents`` with shrinkage), ``scheduled`` the agents working and not
    on break, ``under`` / ``over`` the difference either way.
    """

    basis: StaffingBasis
    days: tuple[date, ...]
    interval_s: int
    offered: tuple[float, ...]
    aht_s: tuple[float | None, ...]
    agents: tuple[int, ...]
    required: tuple[int, ...]
    scheduled: tuple[float, ...]
    under: tuple[float, ...]
    over: tuple[float, ...]
    status: str
    explanation: str
    objective: float | None
    paid_hours: float
    solver_time_s: float
    shifts: tuple[ShiftRow, ...]

    def __post_init__(self) -> None:
        n = len(self.days) * (86_400 // self.interval_s)
        for name in ("offered", "aht_s", "agents", "required", "scheduled", "under", "over"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"coverage {name}: {len(getattr(self, name))} values, need {n}")

    @classmethod
    def from_schedule(
        cls,
        schedule: Schedule,
        *,
        basis: StaffingBasis,
        days: tuple[date, ...],
        offered: tuple[float, ...],
        aht_s: tuple[float | None, ...],
        agents: tuple[int, ...],
    ) -> CoverageSection:
        """The coverage of a solved schedule whose day 0 is ``days[0]``."""
        interval_s = schedule.interval_s
        cover = schedule.coverage
        shifts = tuple(
            ShiftRow(
                day=days[count.day],
                template=count.shift.template,
                start=_clock(count.shift.start * interval_s),
                end=_clock(count.shift.end * interval_s),
                breaks=", ".join(
                    f"{b.name} {_clock((count.shift.start + b.offset) * interval_s)} "
                    f"({_duration(b.duration_s)})"
                    for b in count.shift.breaks
                ),
                agents=count.agents,
            )
            for count in schedule.shift_counts
        )
        return cls(
            basis=basis,
            days=days,
            interval_s=interval_s,
            offered=offered,
            aht_s=aht_s,
            agents=agents,
            required=cover.required,
            scheduled=cover.scheduled,
            under=cover.under,
            over=cover.over,
            status=str(schedule.status),
            explanation=schedule.explanation,
            objective=schedule.objective,
            paid_hours=schedule.paid_intervals * interval_s / 3600,
            solver_time_s=schedule.wall_time_s,
            shifts=shifts,
        )


@dataclass(frozen=True)
class AdherenceSection:
    """Adherence and conformance per agent, and per team when ``teams`` maps agents to teams."""

    report: AdherenceReport
    teams: Mapping[str, str] = field(default_factory=dict)
    # The roster's shifts that were reminded or answered, from the log (shift.reminder_sent,
    # shift.confirmed, shift.swap_requested): the planner's view of the replies.
    confirmations: tuple[ShiftReminderStatus, ...] = ()


@dataclass(frozen=True)
class CapacitySection:
    """The weekly capacity plan and the inputs behind it. ``required_basis`` says how the
    required FTE was derived from the forecast."""

    plan: CapacityPlan
    headcount: float
    attrition_monthly: float
    new_hire_attrition_monthly: float | None
    hours_per_fte: float
    required_basis: str
    template: ClassTemplate | None = None
    classes: tuple[HiringClass, ...] = ()


@dataclass(frozen=True)
class PlannerReport:
    """Everything one report shows. ``inputs`` are ``(label, value)`` pairs printed in the
    header (files, tenant, options); ``notes`` say which sections are missing and why."""

    title: str
    tenant: str
    tz: tzinfo
    tz_name: str
    interval_s: int
    history_start: int
    history_end: int
    queues: tuple[str, ...]
    inputs: tuple[tuple[str, str], ...] = ()
    forecast: ForecastSection | None = None
    coverage: CoverageSection | None = None
    adherence: AdherenceSection | None = None
    capacity: CapacitySection | None = None
    notes: tuple[str, ...] = ()
