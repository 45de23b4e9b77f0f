"""Render a :class:`~.model.PlannerReport` as one self-contained HTML page.

The page has no script and loads nothing: styles are inline and every chart is inline SVG drawn
by :mod:`.charts`, so it reads the same offline, attached to an e-mail or printed. Times are the
tenant's local clock, stated in the header.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from fractions import Fraction
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from glasshouse.domain.wfm.adherence import AdherenceFigures
from glasshouse.domain.wfm.forecast import Accuracy, BacktestPoint

from .charts import (
    BLACK,
    BLUE,
    BLUISH_GREEN,
    ORANGE,
    REDDISH_PURPLE,
    SKY_BLUE,
    VERMILLION,
    Band,
    BarChart,
    Bars,
    BarSeries,
    Line,
    Markers,
    TimeChart,
    bar_chart,
    time_chart,
)
from .model import AdherenceSection, CapacitySection, CoverageSection, PlannerReport

__all__ = ["render_report"]

TEMPLATE: Final = "report.html.j2"
_DAY_S: Final = 86_400
# A time axis labels every day in full up to this many days, then Mondays in full and the
# other days by their number, then (beyond the second figure) Mondays only.
_FULL_DAY_LABELS_UP_TO: Final = 10
_DAY_NUMBERS_UP_TO: Final = 21


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("glasshouse.wfm_report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def render_report(report: PlannerReport) -> str:
    """The report as a complete HTML document (UTF-8 text)."""
    template = _environment().get_template(TEMPLATE)
    return template.render(**_context(report))


# ---------------------------------------------------------------------------------------------
# Formatting


def _pct(value: float | Fraction | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    x = float(value)
    if not math.isfinite(x):
        return "–"
    return f"{x * 100:.{digits}f}%"


def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    x = float(value)
    if not math.isfinite(x):
        return "–"
    return f"{x:,.{digits}f}"


def _signed_pct(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f}%"


def _local(ms: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)


def _day_label(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def _date_time(ms: int, tz: tzinfo) -> str:
    when = _local(ms, tz)
    return f"{when:%a} {when.day} {when:%b %Y %H:%M}"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _interval_name(interval_s: int) -> str:
    return f"{interval_s // 60}-minute"


def _hours(ms: int) -> float:
    return ms / 3_600_000


def _tick_label(day: date, days: int) -> str:
    if days <= _FULL_DAY_LABELS_UP_TO:
        return _day_label(day)
    if day.weekday() == 0:
        return f"Mon {day.day}" if days <= _DAY_NUMBERS_UP_TO else _day_label(day)
    return str(day.day) if days <= _DAY_NUMBERS_UP_TO else ""


def _day_ticks(days: Sequence[date], per_day: int) -> list[tuple[int, str]]:
    """A tick at each local midnight, labelled as :func:`_tick_label` says."""
    ticks = [(i * per_day, _tick_label(d, len(days))) for i, d in enumerate(days)]
    ticks.append((len(days) * per_day, ""))
    return ticks


def _hour_ticks(per_day: int, interval_s: int) -> list[tuple[int, str]]:
    step = max(1, 7200 // interval_s)
    return [(s, _clock(s * interval_s)) for s in range(0, per_day + 1, step)]


# ---------------------------------------------------------------------------------------------
# Sections


def _accuracy_row(label: str, acc: Accuracy) -> dict[str, Any]:
    return {
        "label": label,
        "intervals": acc.intervals,
        "zero_intervals": acc.zero_intervals,
        "mape": _pct(acc.mape),
        "wape": _pct(acc.wape),
        "bias": _signed_pct(acc.bias),
        "handle_time_wape": _pct(acc.handle_time_wape),
    }


def _forecast_context(report: PlannerReport) -> dict[str, Any] | None:
    section = report.forecast
    if section is None:
        return None
    tz = report.tz
    interval_s = report.interval_s
    out: dict[str, Any] = {"note": section.note, "queues": [], "accuracy": [], "weeks": []}
    bt = section.backtest
    if bt is not None:
        out["weeks"] = [
            f"{_date_time(s, tz)} to {_date_time(s + 7 * _DAY_S * 1000, tz)}"
            for s in bt.week_starts
        ]
        out["accuracy"] = [_accuracy_row(q, a) for q, a in bt.by_queue.items()]
        if len(bt.by_queue) > 1:
            out["accuracy"].append(_accuracy_row("all queues", bt.overall))
        by_queue: dict[str, list[BacktestPoint]] = defaultdict(list)
        for p in bt.series:
            by_queue[p.queue].append(p)
        for n, (queue, points) in enumerate(by_queue.items()):
            out["queues"].append(
                _backtest_queue(f"chart-forecast-{n}", queue, points, bt.by_queue[queue], report)
            )
    upcoming = section.upcoming
    rows: list[dict[str, Any]] = []
    if upcoming is not None:
        for queue, forecasts in upcoming.queues.items():
            per_day: dict[date, list[float]] = {}
            for f in forecasts:
                day = _local(f.start, tz).date()
                acc = per_day.setdefault(day, [0.0, 0.0])
                acc[0] += f.offered
                acc[1] += f.offered * f.aht_s
            for day, (offered, seconds) in per_day.items():
                rows.append(
                    {
                        "date": _day_label(day),
                        "queue": queue,
                        "offered": _num(offered),
                        "aht": _num(seconds / offered, 0) if offered > 0 else "–",
                        "workload": _num(seconds / 3600),
                    }
                )
        out["upcoming_span"] = f"{_date_time(upcoming.start, tz)} to {_date_time(upcoming.end, tz)}"
    out["upcoming"] = rows
    out["interval_name"] = _interval_name(interval_s)
    return out


def _backtest_queue(
    chart_id: str,
    queue: str,
    points: Sequence[BacktestPoint],
    acc: Accuracy,
    report: PlannerReport,
) -> dict[str, Any]:
    tz = report.tz
    interval_s = report.interval_s
    step_ms = interval_s * 1000
    ticks: list[tuple[int, str]] = []
    days: list[date] = []
    for i, p in enumerate(points):
        # A tick at each local midnight (the tested weeks follow the history's end, which
        # need not be one).
        when = _local(p.start, tz)
        if when.date() != _local(p.start - step_ms, tz).date():
            days.append(when.date())
            ticks.append((i, ""))
    ticks = [(slot, _tick_label(d, len(days))) for (slot, _), d in zip(ticks, days, strict=True)]
    ticks.append((len(points), ""))
    first, last = _local(points[0].start, tz), _local(points[-1].start, tz)
    span = f"{first.day} {first:%b %Y} to {last.day} {last:%b %Y}"
    figures = f"MAPE {_pct(acc.mape)}, WAPE {_pct(acc.wape)} over {acc.intervals} intervals"
    chart = TimeChart(
        chart_id=chart_id,
        title=f"Forecast vs actual contacts — queue {queue} — {figures}",
        x_label=(f"Local date ({report.tz_name}, {span}), {_interval_name(interval_s)} intervals"),
        y_label="Contacts offered per interval",
        slots=len(points),
        x_ticks=ticks,
        layers=(
            Line(
                "Actual contacts offered",
                [float(p.actual_offered) for p in points],
                BLUE,
                "",
                width=1.5,
            ),
            Line("Forecast", [p.forecast_offered for p in points], VERMILLION, "5 3", width=1.5),
        ),
        description=(
            f"Back-test of queue {queue}: each tested week was forecast from the history before "
            f"it; {figures}."
        ),
    )
    daily: dict[date, list[float]] = {}
    for p in points:
        acc_day = daily.setdefault(_local(p.start, tz).date(), [0.0, 0.0])
        acc_day[0] += p.actual_offered
        acc_day[1] += p.forecast_offered
    return {
        "queue": queue,
        "svg": time_chart(chart),
        "chart_id": chart_id,
        "daily": [
            {
                "date": _day_label(d),
                "actual": _num(a, 0),
                "forecast": _num(f),
                "difference": f"{f - a:+,.1f}",
            }
            for d, (a, f) in daily.items()
        ],
        "intervals": [
            {
                "start": _date_time(p.start, tz),
                "actual": p.actual_offered,
                "forecast": _num(p.forecast_offered, 2),
                "actual_aht": _num(p.actual_aht_s, 0),
                "forecast_aht": _num(p.forecast_aht_s, 0) if p.forecast_offered > 0 else "–",
            }
            for p in points
        ],
    }


def _coverage_context(section: CoverageSection | None, report: PlannerReport) -> Any:
    if section is None:
        return None
    interval_s = section.interval_s
    per_day = _DAY_S // interval_s
    slots = len(section.required)
    hours = interval_s / 3600

    def when(t: int) -> str:
        return f"{_day_label(section.days[t // per_day])} {_clock(t % per_day * interval_s)}"

    tooltips = [
        f"{when(t)}: required {section.required[t]}, scheduled {section.scheduled[t]:g}"
        for t in range(slots)
    ]
    ticks = (
        _hour_ticks(per_day, interval_s)
        if len(section.days) == 1
        else _day_ticks(section.days, per_day)
    )
    span = (
        _day_label(section.days[0])
        if len(section.days) == 1
        else f"{_day_label(section.days[0])} to {_day_label(section.days[-1])}"
    )
    basis = section.basis
    required_name = f"Required agents ({basis.model_name}, {basis.target})"
    chart = TimeChart(
        chart_id="chart-coverage",
        title=f"Required vs scheduled agents per {_interval_name(interval_s)} interval — {span}",
        x_label=(
            f"Local time ({report.tz_name})"
            if len(section.days) == 1
            else f"Local date ({report.tz_name}), {_interval_name(interval_s)} intervals"
        ),
        y_label="Agents",
        slots=slots,
        x_ticks=ticks,
        layers=(
            Bars("Scheduled agents (working, not on break)", section.scheduled, SKY_BLUE),
            Band("Under-staffed", section.scheduled, section.required, VERMILLION, hatch=True),
            Band("Over-staffed", section.required, section.scheduled, REDDISH_PURPLE),
            Line(required_name, [float(r) for r in section.required], BLACK, step=True),
        ),
        description=(
            f"{required_name} against the agents the schedule puts on the floor per interval; "
            "hatched where the schedule falls short, shaded where it exceeds the requirement."
        ),
        tooltips=tooltips,
    )
    under_intervals = sum(1 for u in section.under if u > 0)
    summary = [
        ("Required (agent-hours)", _num(sum(section.required) * hours)),
        ("Scheduled (agent-hours, breaks excluded)", _num(sum(section.scheduled) * hours)),
        ("Under-staffed (agent-hours)", _num(sum(section.under) * hours)),
        ("Over-staffed (agent-hours)", _num(sum(section.over) * hours)),
        ("Intervals under-staffed", f"{under_intervals} of {slots}"),
        ("Paid hours (breaks included)", _num(section.paid_hours)),
        ("Solver status", f"{section.status}: {section.explanation}"),
        (
            "Staffing cost (under x 10 + over x 1, agent-intervals)",
            _num(section.objective, 2),
        ),
    ]
    rows = [
        {
            "when": when(t),
            "offered": _num(section.offered[t]),
            "aht": _num(section.aht_s[t], 0),
            "agents": section.agents[t],
            "required": section.required[t],
            "scheduled": f"{section.scheduled[t]:g}",
            "under": f"{section.under[t]:g}" if section.under[t] else "",
            "over": f"{section.over[t]:g}" if section.over[t] else "",
        }
        for t in range(slots)
    ]
    return {
        "svg": time_chart(chart),
        "basis": basis.statements(),
        "span": span,
        "summary": summary,
        "shifts": [
            {
                "day": _day_label(s.day),
                "template": s.template,
                "start": s.start,
                "end": s.end,
                "breaks": s.breaks or "none",
                "agents": s.agents,
            }
            for s in section.shifts
        ],
        "shrinkage": basis.shrinkage > 0,
        "rows": rows,
        "interval_name": _interval_name(interval_s),
    }


def _figures_row(label: str, team: str, fig: AdherenceFigures, spans: int | None) -> Any:
    return {
        "label": label,
        "team": team,
        "scheduled": _num(_hours(fig.scheduled_ms), 2),
        "in_adherence": _num(_hours(fig.in_adherence_ms), 2),
        "adherence": _pct(fig.adherence),
        "scheduled_work": _num(_hours(fig.scheduled_work_ms), 2),
        "worked": _num(_hours(fig.worked_ms), 2),
        "conformance": _pct(fig.conformance),
        "logged_in_off": _num(_hours(fig.logged_in_off_ms), 2),
        "spans": "" if spans is None else spans,
    }


def _ratio(value: Fraction | None) -> float | None:
    return None if value is None else float(value) * 100


def _adherence_context(section: AdherenceSection | None, report: PlannerReport) -> Any:
    if section is None:
        return None
    tz = report.tz
    adh = section.report
    teams = section.teams
    agents = sorted(adh.agents.values(), key=lambda a: (teams.get(a.agent_id, ""), a.agent_id))
    scheduled = [a for a in agents if a.figures.scheduled_ms > 0]
    unscheduled = [a.agent_id for a in agents if a.figures.scheduled_ms == 0]
    period = f"{_date_time(adh.start_ms, tz)} to {_date_time(adh.end_ms, tz)}"
    series = (
        BarSeries("Adherence", [_ratio(a.adherence) for a in scheduled], BLUE),
        BarSeries("Conformance", [_ratio(a.conformance) for a in scheduled], ORANGE),
    )
    charts = [
        bar_chart(
            BarChart(
                chart_id="chart-adherence-agents",
                title=f"Adherence and conformance by agent — {period}",
                x_label="Share of scheduled time (%)",
                y_label="Agent",
                categories=[a.agent_id for a in scheduled],
                series=series,
                references=((100.0, "100%"),),
                description=(
                    "Adherence: time in the scheduled activity over scheduled time. "
                    "Conformance: time worked over time scheduled to work."
                ),
                value_format="{:.1f}%",
            )
        )
    ]
    team_rows: list[dict[str, Any]] = []
    if teams:
        names = sorted(set(teams.values()))
        figures = {t: adh.team(a for a, team in teams.items() if team == t) for t in names}
        team_rows = [_figures_row(t, t, figures[t], None) for t in names]
        charts.append(
            bar_chart(
                BarChart(
                    chart_id="chart-adherence-teams",
                    title=f"Adherence and conformance by team — {period}",
                    x_label="Share of scheduled time (%)",
                    y_label="Team",
                    categories=names,
                    series=(
                        BarSeries("Adherence", [_ratio(figures[t].adherence) for t in names], BLUE),
                        BarSeries(
                            "Conformance", [_ratio(figures[t].conformance) for t in names], ORANGE
                        ),
                    ),
                    references=((100.0, "100%"),),
                    description="Team figures are sums of the agents' times, not averages.",
                    value_format="{:.1f}%",
                )
            )
        )
    everyone = adh.team(adh.agents)
    spans = sorted(adh.spans(), key=lambda s: (s.start_ms - s.end_ms, s.agent_id, s.start_ms))
    answers = {
        "confirmed": "confirmed",
        "swap_requested": "swap requested",
        "no_answer": "no answer",
        "not_reminded": "not reminded",
    }
    return {
        "period": period,
        "confirmations": [
            {
                "start": _date_time(c.start_ms, tz),
                "agent": c.agent_id,
                "answer": answers[c.answer.value],
                "answered": _date_time(c.answered_ms, tz) if c.answered_ms is not None else "",
                "reminders": c.reminders,
                "note": c.note,
            }
            for c in section.confirmations
        ],
        "charts": charts,
        "agents": [
            _figures_row(a.agent_id, teams.get(a.agent_id, ""), a.figures, len(a.spans))
            for a in agents
        ],
        "teams": team_rows,
        "total": _figures_row("all agents", "", everyone, None),
        "unscheduled": unscheduled,
        "spans": [
            {
                "agent": s.agent_id,
                "start": _date_time(s.start_ms, tz),
                "end": _date_time(s.end_ms, tz),
                "minutes": _num((s.end_ms - s.start_ms) / 60_000),
                "scheduled": str(s.scheduled),
                "actual": str(s.actual),
            }
            for s in spans[:50]
        ],
        "span_count": len(spans),
    }


def _capacity_context(section: CapacitySection | None) -> Any:
    if section is None:
        return None
    plan = section.plan
    weeks = plan.weeks
    after = plan.weeks_with_recommended
    index = {w.week_start: i for i, w in enumerate(weeks)}
    required = [w.required_fte for w in weeks]
    productive = [w.productive_fte for w in weeks]
    layers: list[Bars | Band | Line | Markers] = [
        Bars("Productive FTE with the planned classes", productive, SKY_BLUE),
        Band("Shortfall (required above productive)", productive, required, VERMILLION, True),
        Line("Required FTE", required, BLACK, step=True),
    ]
    if plan.recommended:
        layers.append(
            Line(
                "Productive FTE with the recommended classes",
                [w.productive_fte for w in after],
                BLUISH_GREEN,
                "6 3",
                step=True,
                width=2.5,
            )
        )
        starts = [c for c in plan.recommended if c.start in index]
        layers.append(
            Markers(
                "Recommended class starts",
                [index[c.start] for c in starts],
                [
                    f"class of {c.size} starts {c.start}, productive from {c.productive_from}"
                    for c in starts
                ],
                REDDISH_PURPLE,
            )
        )
    ticks = [(i, f"{w.week_start.day} {w.week_start:%b}") for i, w in enumerate(weeks)]
    ticks.append((len(weeks), ""))
    first, last = weeks[0].week_start, weeks[-1].week_start
    chart = TimeChart(
        chart_id="chart-capacity",
        title=f"Capacity plan by week — required vs available productive FTE ({first} to "
        f"{last + timedelta(days=6)})",
        x_label="Week starting (local date)",
        y_label="Full-time equivalents (FTE)",
        slots=len(weeks),
        x_ticks=ticks,
        layers=layers,
        description=(
            "Required FTE per week from the forecast against the productive FTE of the current "
            "staff and hiring classes after attrition; recommended classes close the gaps."
        ),
        tooltips=[
            f"week of {w.week_start}: required {w.required_fte:.1f} FTE, productive "
            f"{w.productive_fte:.1f} FTE"
            for w in weeks
        ],
    )
    template = section.template
    inputs = [
        ("Current productive headcount", f"{section.headcount:g} FTE"),
        ("Attrition (leavers / average headcount)", f"{_pct(section.attrition_monthly)} a month"),
        (
            "New-hire attrition (training and nesting)",
            "as above"
            if section.new_hire_attrition_monthly is None
            else f"{_pct(section.new_hire_attrition_monthly)} a month",
        ),
        ("Paid hours per FTE", f"{section.hours_per_fte:g} h a week"),
        ("Required FTE", section.required_basis),
    ]
    if template is not None:
        inputs.append(
            (
                "Recommended classes",
                f"{template.training_weeks} weeks of training, then {template.nesting_weeks} "
                f"weeks of nesting at {_pct(template.nesting_productivity, 0)} productivity; "
                f"each sized to cover {template.cover_weeks} weeks",
            )
        )
    for cls in section.classes:
        inputs.append(("Planned class", f"{cls.size:g} people starting {cls.start}"))
    return {
        "svg": time_chart(chart),
        "inputs": inputs,
        "weeks": [
            {
                "week": str(w.week_start),
                "workload": _num(w.workload_hours),
                "required": _num(w.required_fte),
                "headcount": _num(w.headcount),
                "training": _num(w.in_training),
                "nesting": _num(w.in_nesting),
                "productive": _num(w.productive_fte),
                "gap": f"{w.gap_fte:+.1f}",
                "after": _num(a.productive_fte),
                "gap_after": f"{a.gap_fte:+.1f}",
            }
            for w, a in zip(weeks, after, strict=True)
        ],
        "recommended": [
            {
                "start": str(c.start),
                "size": c.size,
                "productive_from": str(c.productive_from),
                "for_week": str(c.for_week),
                "late": "yes: the gap stays open until then" if c.late else "",
            }
            for c in plan.recommended
        ],
        "months": [
            {
                "month": f"{m.month:%B %Y}",
                "weeks": m.weeks,
                "required": _num(m.required_fte),
                "productive": _num(m.productive_fte),
                "max_gap": f"{m.max_gap_fte:+.1f}",
                "hires": _num(m.hires),
                "attrition": _pct(m.attrition),
            }
            for m in plan.months_with_recommended
        ],
    }


def _summary(report: PlannerReport) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if report.forecast is not None and report.forecast.backtest is not None:
        bt = report.forecast.backtest
        out.append(
            (
                "Forecast accuracy (back-test)",
                f"MAPE {_pct(bt.overall.mape)}, WAPE {_pct(bt.overall.wape)} over "
                + (f"{bt.weeks} weeks" if bt.weeks > 1 else "1 week"),
            )
        )
    cov = report.coverage
    if cov is not None:
        hours = cov.interval_s / 3600
        out.append(
            (
                "Schedule coverage",
                f"{_num(sum(cov.under) * hours)} agent-hours under-staffed and "
                f"{_num(sum(cov.over) * hours)} over-staffed "
                f"({cov.status.lower()})",
            )
        )
    if report.adherence is not None:
        everyone = report.adherence.report.team(report.adherence.report.agents)
        out.append(
            (
                "Adherence (all agents)",
                f"{_pct(everyone.adherence)}; conformance {_pct(everyone.conformance)}",
            )
        )
    if report.capacity is not None:
        plan = report.capacity.plan
        worst = max(plan.weeks, key=lambda w: w.gap_fte)
        if worst.gap_fte > 0:
            gap = f"largest shortfall {worst.gap_fte:.1f} FTE (week of {worst.week_start})"
        else:
            gap = f"no shortfall; the least spare is {-worst.gap_fte:.1f} FTE"
        people = sum(c.size for c in plan.recommended)
        classes = len(plan.recommended)
        out.append(
            (
                "Capacity",
                f"{gap} with the planned classes; "
                + (
                    f"{classes} hiring {'class' if classes == 1 else 'classes'} recommended, "
                    f"{people} people in all"
                    if classes
                    else "no hiring class needed"
                ),
            )
        )
    return out


def _context(report: PlannerReport) -> dict[str, Any]:
    tz = report.tz
    return {
        "title": report.title,
        "tenant": report.tenant,
        "tz_name": report.tz_name,
        "interval_name": _interval_name(report.interval_s),
        "history": (
            f"{_date_time(report.history_start, tz)} to {_date_time(report.history_end, tz)} "
            f"({(report.history_end - report.history_start) / 86_400_000:.1f} days)"
        ),
        "queues": ", ".join(report.queues),
        "inputs": report.inputs,
        "notes": report.notes,
        "summary": _summary(report),
        "forecast": _forecast_context(report),
        "coverage": _coverage_context(report.coverage, report),
        "adherence": _adherence_context(report.adherence, report),
        "capacity": _capacity_context(report.capacity),
    }
