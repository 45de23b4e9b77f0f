"""``glasshouse wfm``: workforce-management calculations: staffing by Erlang C or Erlang A for
one interval (``staffing``), and the planner's chain from the event log or imported history:
``forecast`` (with its back-test), ``schedule`` (shifts that cover the requirement) and
``report`` (all of it, with adherence and the capacity plan, as one HTML page)."""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as dt_time
from pathlib import Path
from typing import Any, TextIO

from glasshouse.adapters.eventstore.jsonl import JsonlError, read_jsonl
from glasshouse.domain.events import Event
from glasshouse.domain.wfm.adherence import (
    Activity,
    AdherenceError,
    adherence_report,
)
from glasshouse.domain.wfm.adherence import Schedule as AdherenceSchedule
from glasshouse.domain.wfm.capacity import (
    CapacityError,
    ClassTemplate,
    HiringClass,
    WeeklyWorkload,
    plan_capacity,
)
from glasshouse.domain.wfm.erlang import (
    ErlangError,
    offered_load,
    scheduled_agents,
    staff_erlang_a,
    staff_erlang_c,
)
from glasshouse.domain.wfm.forecast import (
    DAY_MS,
    WEEK_MS,
    Accuracy,
    Backtest,
    Forecast,
    ForecastError,
    ForecastSeries,
    History,
    HistoryCsvError,
    backtest,
    forecast,
    time_zone,
)
from glasshouse.domain.wfm.reminders import Answer, ReminderLog, planner_view
from glasshouse.domain.wfm.roster import (
    RosterEntry,
    RosterError,
    roster_entries,
    scheduled_activities,
    upcoming_shifts,
)
from glasshouse.domain.wfm.scheduling import (
    Agent,
    BreakRule,
    Schedule,
    SchedulingError,
    SchedulingOptions,
    ShiftTemplate,
    SolveStatus,
    WorkRules,
    schedule_roster,
    schedule_shift_types,
)
from glasshouse.entrypoints import cmd_wfm_reminders
from glasshouse.entrypoints.roster_csv import (
    RosterCsvError,
    instant_ms,
    read_roster_csv,
    write_roster_csv,
)
from glasshouse.service.wfm_staffing import (
    StaffingError,
    StaffingRequest,
    StaffingResult,
    staffing,
)
from glasshouse.wfm_report import (
    AdherenceSection,
    CapacitySection,
    CoverageSection,
    ForecastSection,
    PlannerReport,
    StaffingBasis,
    render_report,
)

# Bad input exits 2, like argparse's own usage errors.
EXIT_BAD_INPUT = 2

# The command-line flag for each parameter the domain may reject.
_FLAGS = {
    "calls_per_interval": "--calls",
    "arrival_rate_per_s": "--calls",
    "aht_s": "--aht",
    "interval_s": "--interval",
    "target_sl": "--sl",
    "threshold_s": "--target",
    "patience_s": "--patience",
    "max_occupancy": "--max-occupancy",
    "shrinkage": "--shrinkage",
    "asa_target": "--asa",
    "max_abandon": "--max-abandon",
    "short_abandon_s": "--short-abandon",
}
_FRACTION_FLAGS = ("--sl", "--max-occupancy", "--shrinkage", "--max-abandon")
# The command-line flag for each field of a staffing request.
_REQUEST_FLAGS = {
    "calls": "--calls",
    "aht_s": "--aht",
    "interval_s": "--interval",
    "service_level": "--sl",
    "threshold_s": "--target",
    "patience_s": "--patience",
    "max_occupancy": "--max-occupancy",
    "shrinkage": "--shrinkage",
    "asa_s": "--asa",
    "max_abandon": "--max-abandon",
    "short_abandon_s": "--short-abandon",
}
_INTERVAL = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|m|min|h)?", re.IGNORECASE)
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "wfm",
        help="workforce management: forecast, staffing, schedule, planner report",
        description="Workforce-management calculations.",
    )
    parser.set_defaults(func=lambda _args: _usage(parser))
    actions = parser.add_subparsers(dest="wfm_action", metavar="ACTION")

    staffing = actions.add_parser(
        "staffing",
        help="agents needed for a service-level target in one interval",
        description=(
            "Agents needed to answer a service-level share of the calls of one interval within "
            "a threshold, by Erlang C (callers never hang up) or, with --patience, by Erlang A "
            "(callers abandon after an exponential patience with that mean). Prints the "
            "predicted figures for that staffing and for the staffing levels around it."
        ),
    )
    staffing.add_argument(
        "--calls", type=_number, required=True, metavar="N", help="calls offered in the interval"
    )
    staffing.add_argument(
        "--aht", type=_number, required=True, metavar="S", help="average handle time in seconds"
    )
    staffing.add_argument(
        "--interval",
        type=_interval,
        default=1800.0,
        metavar="LEN",
        help="interval length: 15m, 30m, 60m, 1h or seconds (default 30m)",
    )
    _target_options(
        staffing,
        patience_help="mean caller patience in seconds; selects Erlang A (M/M/n+M)",
        shrinkage_help="share of paid time off the phones (breaks, training...), e.g. 0.3 "
        "(default 0)",
    )
    staffing.add_argument(
        "--asa", type=_number, metavar="S", help="also keep the ASA at or below S seconds"
    )
    staffing.add_argument(
        "--max-abandon",
        type=_number,
        metavar="F",
        help="Erlang A only: also keep the abandon rate at or below F, e.g. 0.05",
    )
    staffing.add_argument(
        "--short-abandon",
        type=_number,
        metavar="S",
        help=(
            "Erlang A only: leave calls abandoned within S seconds out of the service level, "
            "as the reports do (default: count every call)"
        ),
    )
    staffing.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format"
    )
    staffing.set_defaults(func=_staffing)
    _register_planning(actions)
    cmd_wfm_reminders.register(actions)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _error(message: str, action: str = "staffing") -> int:
    print(f"glasshouse wfm {action}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _interval(text: str) -> float:
    """``15m``, ``30m``, ``60m``, ``1h``, ``90s`` or plain seconds -> seconds (> 0)."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not an interval: {text!r} (use e.g. 15m, 30m, 60m, 1h or seconds)"
        )
    seconds = float(match.group(1)) * _UNIT_S[(match.group(2) or "").lower()]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"the interval must be longer than 0: {text!r}")
    return seconds


def _staffing(args: argparse.Namespace) -> int:
    try:
        result = staffing(
            StaffingRequest(
                calls=args.calls,
                aht_s=args.aht,
                interval_s=args.interval,
                service_level=args.sl,
                threshold_s=args.target,
                patience_s=args.patience,
                max_occupancy=args.max_occupancy,
                shrinkage=args.shrinkage,
                asa_s=args.asa,
                max_abandon=args.max_abandon,
                short_abandon_s=args.short_abandon,
            )
        )
    except StaffingError as exc:
        return _error(_request_flag_message(exc))
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        sys.stdout.write(_table(result))
    return 0


def _request_flag_message(exc: StaffingError) -> str:
    flag = _REQUEST_FLAGS.get(exc.field, exc.field)
    reason = exc.reason(lambda field: _REQUEST_FLAGS.get(field, field))
    return f"{flag} {reason}" if exc.needs is not None else f"argument {flag}: {reason}"


def _flag_message(exc: ErlangError) -> str:
    flag = _FLAGS.get(exc.parameter, exc.parameter)
    value = exc.value
    shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
    message = f"argument {flag}: {exc.requirement}, got {shown}"
    if flag in _FRACTION_FLAGS and isinstance(value, int | float) and value > 1:
        message += f" (write {value:g}% as {value / 100:g})"
    return message


def _pct(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else _non_finite(value)


def _secs(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else _non_finite(value)


def _non_finite(value: float) -> str:
    return "-" if math.isnan(value) else "inf"


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def _g(value: float) -> str:
    return f"{value:g}"


def _table(result: StaffingResult) -> str:
    req = result.request
    agents, scheduled, chosen = result.agents, result.scheduled_agents, result.predicted
    erlang_a_model = req.patience_s is not None
    if req.patience_s is not None:
        title = f"Erlang A staffing (M/M/n+M, mean patience {_g(req.patience_s)} s)"
    else:
        title = "Erlang C staffing (M/M/n, callers never abandon)"
    targets = [f"{_g(req.service_level * 100)}% of calls answered within {_g(req.threshold_s)} s"]
    if req.short_abandon_s is not None:
        targets[0] += f" (abandoned within {_g(req.short_abandon_s)} s not counted)"
    if req.max_occupancy is not None:
        targets.append(f"occupancy <= {_g(req.max_occupancy * 100)}%")
    if req.asa_s is not None:
        targets.append(f"ASA <= {_g(req.asa_s)} s")
    if req.max_abandon is not None:
        targets.append(f"abandoned <= {_g(req.max_abandon * 100)}%")
    lines = [
        title,
        f"Offered: {_g(req.calls)} calls per {_duration(req.interval_s)} x AHT {_g(req.aht_s)} s"
        f" = {result.offered_load_erlangs:.2f} Erlangs",
        "Target:  " + "; ".join(targets),
        "",
        f"Agents needed: {agents}"
        + (
            f"  ({scheduled} to schedule at {_g(req.shrinkage * 100)}% shrinkage)"
            if req.shrinkage
            else ""
        ),
        f"  service level  {_pct(chosen.service_level)}",
        f"  ASA            {_secs(chosen.asa_s)} s",
        f"  P(wait)        {_pct(chosen.p_wait)}",
        f"  occupancy      {_pct(chosen.occupancy)}",
    ]
    if chosen.p_abandon is not None:
        lines.append(f"  abandoned      {_pct(chosen.p_abandon)}")
    header = ["agents", "service level", "ASA (s)", "P(wait)", "occupancy"]
    if erlang_a_model:
        header.append("abandoned")
    table = [header]
    for row in result.neighbours:
        cells = [
            f"{row.agents}{' *' if row.agents == agents else '  '}",
            _pct(row.service_level),
            _secs(row.asa_s),
            _pct(row.p_wait),
            _pct(row.occupancy),
        ]
        if row.p_abandon is not None:
            cells.append(_pct(row.p_abandon))
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines.append("")
    lines.extend("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table)
    lines.append("(* = the staffing above)")
    return "\n".join(lines) + "\n"


# =============================================================================================
# The planner's chain: forecast -> staffing per interval -> schedule -> report


class _InputError(ValueError):
    """Bad command-line input or input file; the message names the flag, file, line or column."""


_WEEK_DAYS = 7
_MAX_BACKTEST_WEEKS = 4
_DEFAULT_SHIFTS = "8h,6h,4h"
# A shift this long or longer gets a 30-minute lunch, from this long a 15-minute break.
_LUNCH_FROM_S = 7 * 3600
_BREAK_FROM_S = 5 * 3600
# Planning days outside these are typing mistakes (and beyond datetime's range near year 9999).
_EARLIEST_START = date(1970, 1, 2)
_LATEST_START = date(9000, 1, 1)


def _register_planning(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forecast_p = actions.add_parser(
        "forecast",
        help="forecast contacts and AHT per interval, with the back-test accuracy",
        description=(
            "Forecast offered contacts and average handle time per queue and interval for the "
            "days after the history, from an event log or an imported history CSV, and back-test "
            "the method on the last weeks of the history (MAPE, WAPE, bias)."
        ),
    )
    source = forecast_p.add_mutually_exclusive_group(required=True)
    _events_option(source)
    _history_option(source)
    _common_planning_options(forecast_p)
    _backtest_option(forecast_p)
    forecast_p.add_argument(
        "--days",
        type=_whole,
        default=_WEEK_DAYS,
        metavar="N",
        help="days to forecast, from the first day after the history (default 7)",
    )
    forecast_p.add_argument(
        "--format", choices=("table", "json", "csv"), default="table", help="output format"
    )
    forecast_p.set_defaults(func=_forecast_cmd)

    schedule_p = actions.add_parser(
        "schedule",
        help="shifts and breaks that cover the required agents of one day or one week",
        description=(
            "Staff each interval of one to seven days by Erlang C (or Erlang A with --patience) "
            "from the forecast, or take the required agents from a CSV, then choose shifts and "
            "breaks with the CP-SAT solver to cover them at the least staffing cost "
            "(under-staffing weighs 10, over-staffing 1). Prints the shifts and the coverage."
        ),
    )
    source = schedule_p.add_mutually_exclusive_group(required=True)
    _events_option(source)
    _history_option(source)
    source.add_argument(
        "--requirement",
        metavar="CSV",
        help=(
            "required agents per interval instead of a forecast: columns interval_start "
            "(ISO 8601; without an offset it is local to --tz) and required; intervals left "
            "out need nobody"
        ),
    )
    _common_planning_options(schedule_p)
    _horizon_option(schedule_p)
    _staffing_options(schedule_p)
    _shift_options(schedule_p)
    _roster_options(schedule_p)
    schedule_p.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format"
    )
    schedule_p.set_defaults(func=_schedule_cmd)

    report_p = actions.add_parser(
        "report",
        help="the planner's HTML report: forecast, staffing, schedule, adherence, capacity",
        description=(
            "Write one self-contained HTML page (charts as inline SVG, tables beside them) with "
            "the forecast's back-test, the required agents against the scheduled agents per "
            "interval, and, when their inputs are given, adherence per agent and team and the "
            "capacity plan by week."
        ),
    )
    _events_option(report_p, required=True)
    report_p.add_argument(
        "--history",
        metavar="CSV",
        help="forecast from this imported history instead of the event log (columns queue, "
        "interval_start, offered, handled, handle_time_s)",
    )
    report_p.add_argument(
        "--output", required=True, metavar="HTML", help="where to write the report"
    )
    report_p.add_argument("--title", help="the report's title")
    _common_planning_options(report_p)
    _backtest_option(report_p)
    _horizon_option(report_p)
    _staffing_options(report_p)
    _shift_options(report_p)
    adherence = report_p.add_argument_group("adherence")
    adherence.add_argument(
        "--adherence-schedule",
        metavar="CSV",
        help=(
            "the schedule to compare the log with: columns agent_id, start, end (ISO 8601; "
            "without an offset local to --tz) and activity (work, break, lunch, training, "
            "meeting, off)"
        ),
    )
    adherence.add_argument(
        "--teams", metavar="CSV", help="agents' teams, columns agent_id and team"
    )
    capacity = report_p.add_argument_group("capacity plan (shown when --headcount is given)")
    capacity.add_argument(
        "--headcount", type=_number, metavar="FTE", help="productive staff today, in FTE"
    )
    capacity.add_argument(
        "--attrition",
        type=_number,
        default=0.0,
        metavar="F",
        help="monthly attrition, leavers / average headcount, e.g. 0.03 (default 0)",
    )
    capacity.add_argument(
        "--new-hire-attrition",
        type=_number,
        metavar="F",
        help="monthly attrition in training and nesting (default: as --attrition)",
    )
    capacity.add_argument(
        "--plan-weeks", type=_whole, default=13, metavar="N", help="weeks to plan (default 13)"
    )
    capacity.add_argument(
        "--hours-per-fte",
        type=_number,
        default=40.0,
        metavar="H",
        help="paid hours of one FTE in a week (default 40)",
    )
    capacity.add_argument(
        "--training-weeks",
        type=_whole,
        default=4,
        metavar="N",
        help="weeks of training of a new class, not productive (default 4)",
    )
    capacity.add_argument(
        "--nesting-weeks",
        type=_whole,
        default=2,
        metavar="N",
        help="weeks of nesting after training (default 2)",
    )
    capacity.add_argument(
        "--nesting-productivity",
        type=_number,
        default=0.5,
        metavar="F",
        help="productivity while nesting (default 0.5)",
    )
    capacity.add_argument(
        "--max-class-size",
        type=_whole,
        metavar="N",
        help="largest class; a larger need is split into several classes",
    )
    capacity.add_argument(
        "--class",
        dest="classes",
        action="append",
        default=[],
        type=_planned_class,
        metavar="DATE:SIZE",
        help="a hiring class already planned, e.g. 2026-03-02:8 (repeatable)",
    )
    report_p.set_defaults(func=_report_cmd)


def _events_option(
    parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, required: bool = False
) -> None:
    parser.add_argument(
        "--events",
        required=required,
        metavar="LOG.jsonl",
        help="the tenant's event log (JSON Lines, as 'glasshouse simulate' or "
        "'glasshouse events export' write it)",
    )


def _history_option(parser: argparse._MutuallyExclusiveGroup) -> None:
    parser.add_argument(
        "--history",
        metavar="CSV",
        help="history exported from another system: columns queue, interval_start, offered, "
        "handled, handle_time_s",
    )


def _common_planning_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", help="the tenant, when the log holds several")
    parser.add_argument(
        "--interval",
        type=_interval,
        default=1800.0,
        metavar="LEN",
        help="interval length: 15m, 30m or 60m (default 30m)",
    )
    parser.add_argument(
        "--tz",
        default="UTC",
        metavar="ZONE",
        help="the tenant's time zone, e.g. Europe/Paris or +08:00: days and times of day "
        "follow it (default UTC)",
    )
    parser.add_argument(
        "--queue",
        dest="queues",
        action="append",
        metavar="QUEUE",
        help="plan this queue (repeatable; default: every queue in the history)",
    )
    parser.add_argument(
        "--start",
        type=_date,
        metavar="DATE",
        help="first local day to forecast or schedule, e.g. 2026-02-02 (default: the first "
        "day after the history)",
    )


def _backtest_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weeks",
        type=_whole,
        metavar="N",
        help="weeks to back-test (default: up to 4, as the history allows; 0 for none)",
    )


def _horizon_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days",
        type=_whole,
        default=_WEEK_DAYS,
        metavar="N",
        help="days to schedule, 1 to 7 (default 7)",
    )


def _staffing_options(parser: argparse.ArgumentParser) -> None:
    _target_options(
        parser.add_argument_group("staffing per interval"),
        patience_help="mean caller patience in seconds; staffs by Erlang A instead of Erlang C",
        shrinkage_help="share of paid time off the phones that the shifts do not show "
        "(absence, training), e.g. 0.15; breaks are placed by the schedule (default 0)",
    )


def _target_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    patience_help: str,
    shrinkage_help: str,
) -> None:
    """The staffing target and its limits, shared by every command that staffs intervals."""
    parser.add_argument(
        "--sl",
        type=_number,
        default=0.8,
        metavar="F",
        help="service-level target as a fraction of calls (default 0.8)",
    )
    parser.add_argument(
        "--target",
        type=_number,
        default=20.0,
        metavar="S",
        help="service-level threshold: answered within S seconds (default 20)",
    )
    parser.add_argument("--patience", type=_number, metavar="S", help=patience_help)
    parser.add_argument(
        "--max-occupancy", type=_number, metavar="F", help="occupancy cap, e.g. 0.85"
    )
    parser.add_argument("--shrinkage", type=_number, default=0.0, metavar="F", help=shrinkage_help)


def _shift_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("shifts")
    group.add_argument(
        "--shifts",
        default=_DEFAULT_SHIFTS,
        metavar="LENGTHS",
        help=(
            "shift lengths allowed, starting at any interval of the day (default 8h,6h,4h); "
            "from 7 h a shift has a 30-minute lunch near its middle, from 5 h a 15-minute break"
        ),
    )
    group.add_argument(
        "--max-time",
        type=_number,
        default=30.0,
        metavar="S",
        help="solver time limit in seconds (default 30)",
    )


def _roster_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "named roster (with --agents: who works which shift, under weekly rules)"
    )
    group.add_argument(
        "--agents",
        metavar="CSV",
        help=(
            "the agents to roster: column agent_id, optional max_shifts (per week); without it "
            "the schedule says how many agents work each shift, not who"
        ),
    )
    group.add_argument(
        "--days-off",
        type=_whole,
        default=0,
        metavar="N",
        help="days off each agent gets per whole week (default 0)",
    )
    group.add_argument(
        "--consecutive-days-off",
        action="store_true",
        help="the days off of a week are consecutive",
    )
    group.add_argument(
        "--max-working-days",
        type=_whole,
        default=_WEEK_DAYS,
        metavar="N",
        help="working days per week at most (default 7)",
    )
    group.add_argument(
        "--min-rest",
        type=_interval,
        default=0.0,
        metavar="DURATION",
        help="rest between two shifts of an agent at least, e.g. 11h (default none)",
    )
    group.add_argument(
        "--roster-out",
        metavar="CSV",
        help=(
            "write the roster (agent_id, shift_id, start, end, activity) for `wfm report "
            "--adherence-schedule` and `wfm reminders`"
        ),
    )


# ---------------------------------------------------------------------------------------------
# Argument types


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2026-02-02: {text!r}") from None


def _planned_class(text: str) -> tuple[date, float]:
    when, sep, size = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected DATE:SIZE like 2026-03-02:8, got {text!r}")
    return _date(when), _number(size)


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class _Inputs:
    """What the planning commands share: the tenant, its clock and the history."""

    tenant: str
    tz: tzinfo
    tz_name: str
    interval_s: int
    history: History
    events: tuple[Event, ...]
    sources: tuple[tuple[str, str], ...]


def _interval_seconds(args: argparse.Namespace) -> int:
    seconds = args.interval
    if seconds != int(seconds) or int(seconds) % 60 or 86_400 % int(seconds):
        raise _InputError(
            f"argument --interval: must be a whole number of minutes that divides a day "
            f"(15m, 30m, 60m), got {_duration(seconds)}"
        )
    return int(seconds)


def _zone(args: argparse.Namespace) -> tzinfo:
    try:
        return time_zone(args.tz)
    except ForecastError as exc:
        raise _InputError(f"argument --tz: {exc}") from None


def _read_events(path: str) -> list[Event]:
    try:
        with open(path, "rb") as fileobj:
            return read_jsonl(fileobj, path)
    except OSError as exc:
        raise _InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except JsonlError as exc:
        shown = "\n".join(exc.errors[:10])
        raise _InputError(f"{len(exc.errors)} bad line(s) in {path}:\n{shown}") from None


def _tenant_of(events: Sequence[Event], wanted: str | None, path: str) -> str:
    tenants = list(dict.fromkeys(e.tenant for e in events))
    if wanted is not None:
        if wanted not in tenants:
            raise _InputError(
                f"no events of tenant {wanted!r} in {path} (tenants: {', '.join(tenants)})"
            )
        return wanted
    if not tenants:
        raise _InputError(f"no events in {path}")
    if len(tenants) > 1:
        raise _InputError(
            f"{path} holds several tenants ({', '.join(tenants)}): name one with --tenant"
        )
    return tenants[0]


def _open_text(path: str) -> TextIO:
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise _InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _load_inputs(args: argparse.Namespace, *, events_path: str | None) -> _Inputs:
    """The tenant, clock and history from ``--events`` and/or ``--history``."""
    interval_s = _interval_seconds(args)
    tz = _zone(args)
    events: list[Event] = []
    tenant = args.tenant or ""
    sources: list[tuple[str, str]] = []
    if events_path is not None:
        events = _read_events(events_path)
        tenant = _tenant_of(events, args.tenant, events_path)
        events = [e for e in events if e.tenant == tenant]
        sources.append(("Event log", events_path))
    history_path = getattr(args, "history", None)
    if history_path is not None:
        with _open_text(history_path) as fileobj:
            try:
                history = History.from_csv(fileobj, interval_s, tz)
            except HistoryCsvError as exc:
                lines = "\n".join(f"{history_path}:{p}" for p in exc.problems[:20])
                more = len(exc.problems) - 20
                if more > 0:
                    lines += f"\nand {more} more problem(s)"
                raise _InputError(
                    f"{history_path}: history not imported, {len(exc.problems)} problem(s):\n"
                    f"{lines}"
                ) from None
        sources.append(("History", history_path))
    elif events_path is not None:
        history = History.from_events(events, interval_s, tz, tenant=tenant)
    else:  # pragma: no cover - argparse requires one source
        raise _InputError("give --events or --history")
    if args.queues:
        unknown = [q for q in args.queues if q not in history.volumes]
        if unknown:
            raise _InputError(
                f"argument --queue: no history for queue(s) {', '.join(unknown)} "
                f"(queues: {', '.join(history.queues) or 'none'})"
            )
        chosen = dict.fromkeys(args.queues)
        history = History(
            history.interval_s,
            history.start,
            history.end,
            {q: v for q, v in history.volumes.items() if q in chosen},
            history.tz,
        )
    if not history.queues:
        raise _InputError("the history has no contacts: nothing to forecast")
    return _Inputs(
        tenant=tenant,
        tz=tz,
        tz_name=args.tz,
        interval_s=interval_s,
        history=history,
        events=tuple(events),
        sources=tuple(sources),
    )


# ---------------------------------------------------------------------------------------------
# Local days and the forecast over them


def _midnight_ms(day: date, tz: tzinfo) -> int:
    return int(datetime.combine(day, dt_time(), tzinfo=tz).timestamp() * 1000)


def _local(ms: int, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)


def _first_day(inputs: _Inputs, start: date | None) -> date:
    """``start``, or the first local day that begins at or after the end of the history."""
    if start is not None:
        if not _EARLIEST_START <= start <= _LATEST_START:
            raise _InputError(
                f"argument --start: must be between {_EARLIEST_START} and {_LATEST_START}, "
                f"got {start}"
            )
        return start
    end = _local(inputs.history.end, inputs.tz)
    day = end.date()
    return day if end.time() == dt_time() else day + timedelta(days=1)


def _slot_starts(days: Sequence[date], interval_s: int, tz: tzinfo) -> list[int]:
    """The UTC interval holding each local slot of ``days`` (a slot's wall-clock time that
    does not exist, when clocks go forward, takes the interval the zone maps it to)."""
    step = interval_s * 1000
    out = []
    for day in days:
        midnight = datetime.combine(day, dt_time())
        for slot in range(86_400 // interval_s):
            wall = midnight + timedelta(seconds=slot * interval_s)
            ms = int(wall.replace(tzinfo=tz).timestamp() * 1000)
            out.append(ms - ms % step)
    return out


def _forecast_days(inputs: _Inputs, first: date, days: int) -> ForecastSeries:
    """The forecast over whole local days (rounded out to the interval grid)."""
    step = inputs.interval_s * 1000
    start = _midnight_ms(first, inputs.tz)
    end = _midnight_ms(first + timedelta(days=days), inputs.tz)
    start -= start % step
    end += -end % step
    return forecast(inputs.history, start, end)


def _backtest(inputs: _Inputs, weeks: int | None) -> tuple[Backtest | None, str]:
    """The back-test over ``weeks`` (default: as many as the history allows, up to 4)."""
    history = inputs.history
    span_days = (history.end - history.start) / DAY_MS
    if weeks is None:
        weeks = min(_MAX_BACKTEST_WEEKS, (history.end - history.start) // WEEK_MS - 1)
        if weeks < 1:
            return None, (
                f"No back-test: it needs at least two weeks of history, got {span_days:.1f} days."
            )
    if weeks == 0:
        return None, "No back-test (--weeks 0)."
    return backtest(history, weeks), ""


# ---------------------------------------------------------------------------------------------
# Staffing per interval


def _basis(args: argparse.Namespace, queues: Sequence[str]) -> StaffingBasis:
    if not 0 <= args.shrinkage < 1:
        shown = f"{args.shrinkage:g}"
        hint = f" (write {shown}% as {args.shrinkage / 100:g})" if args.shrinkage > 1 else ""
        raise _InputError(f"argument --shrinkage: must be in [0, 1), got {shown}{hint}")
    return StaffingBasis(
        target_sl=args.sl,
        threshold_s=args.target,
        patience_s=args.patience,
        max_occupancy=args.max_occupancy,
        shrinkage=args.shrinkage,
        queues=tuple(queues),
    )


def _agents_needed(calls: float, aht_s: float, interval_s: int, basis: StaffingBasis) -> int:
    if calls <= 0 or aht_s <= 0:
        return 0
    if basis.patience_s is None:
        return staff_erlang_c(
            offered_load(calls, aht_s, interval_s),
            aht_s,
            basis.target_sl,
            basis.threshold_s,
            max_occupancy=basis.max_occupancy,
        )
    return staff_erlang_a(
        calls / interval_s,
        aht_s,
        basis.patience_s,
        basis.target_sl,
        basis.threshold_s,
        max_occupancy=basis.max_occupancy,
    )


@dataclass(frozen=True)
class _Requirement:
    """Per local slot: forecast contacts and AHT (all queues), Erlang agents summed over the
    queues, and the agents to schedule (with shrinkage)."""

    days: tuple[date, ...]
    offered: tuple[float, ...]
    aht_s: tuple[float | None, ...]
    agents: tuple[int, ...]
    required: tuple[int, ...]


def _requirement(
    series: ForecastSeries, days: tuple[date, ...], inputs: _Inputs, basis: StaffingBasis
) -> _Requirement:
    by_start: dict[int, list[Forecast]] = defaultdict(list)
    for f in series:
        by_start[f.start].append(f)
    offered: list[float] = []
    aht: list[float | None] = []
    agents: list[int] = []
    required: list[int] = []
    for ms in _slot_starts(days, inputs.interval_s, inputs.tz):
        forecasts = by_start.get(ms, [])
        calls = sum(f.offered for f in forecasts)
        work = sum(f.workload_s for f in forecasts)
        n = sum(_agents_needed(f.offered, f.aht_s, inputs.interval_s, basis) for f in forecasts)
        offered.append(calls)
        aht.append(work / calls if calls > 0 else None)
        agents.append(n)
        required.append(scheduled_agents(n, basis.shrinkage))
    return _Requirement(days, tuple(offered), tuple(aht), tuple(agents), tuple(required))


def _horizon(args: argparse.Namespace) -> int:
    if not 1 <= args.days <= _WEEK_DAYS:
        raise _InputError(f"argument --days: schedules cover 1 to 7 days, got {args.days}")
    return int(args.days)


# ---------------------------------------------------------------------------------------------
# Shift templates and the solver


def _shift_templates(text: str, interval_s: int) -> tuple[ShiftTemplate, ...]:
    """Templates for the ``--shifts`` lengths: any start in the day, with a lunch or a break
    placed by the solver near the middle of the longer shifts."""
    per_day = 86_400 // interval_s
    templates: list[ShiftTemplate] = []
    for item in (part.strip() for part in text.split(",")):
        try:
            seconds = _interval(item)
        except argparse.ArgumentTypeError as exc:
            raise _InputError(f"argument --shifts: {exc}") from None
        length_s = int(seconds)
        if seconds != length_s or length_s % interval_s or not 0 < length_s <= 86_400:
            raise _InputError(
                f"argument --shifts: {item} is not a whole number of "
                f"{interval_s // 60}-minute intervals up to 24 h"
            )
        length = length_s // interval_s
        breaks: tuple[BreakRule, ...] = ()
        if length_s >= _LUNCH_FROM_S:
            earliest = (length_s // 2 - 3600) // interval_s
            latest = min((length_s // 2 + 1800) // interval_s, length - 2)
            breaks = (BreakRule("lunch", 1800, earliest, max(earliest, latest)),)
        elif length_s >= _BREAK_FROM_S:
            earliest = 7200 // interval_s
            latest = min((length_s - 7200) // interval_s, length - 2)
            breaks = (BreakRule("break", 900, earliest, max(earliest, latest)),)
        name = _duration(length_s).replace(" ", "")
        if any(t.name == name for t in templates):
            raise _InputError(f"argument --shifts: {item} is given twice")
        templates.append(ShiftTemplate(name, length, 0, per_day - 1, 1, breaks))
    return tuple(templates)


def _solver_setup(
    args: argparse.Namespace, interval_s: int
) -> tuple[tuple[ShiftTemplate, ...], SchedulingOptions]:
    """The shift templates and solver options, checked before any forecasting is done."""
    if not 0 < args.max_time <= 3600:
        raise _InputError(f"argument --max-time: must be in (0, 3600] s, got {args.max_time:g}")
    templates = _shift_templates(args.shifts, interval_s)
    return templates, SchedulingOptions(max_time_s=args.max_time, num_workers=2)


def _solve(
    req: _Requirement, interval_s: int, setup: tuple[tuple[ShiftTemplate, ...], SchedulingOptions]
) -> Schedule:
    templates, options = setup
    return schedule_shift_types(req.required, interval_s, templates, options)


def _solve_roster(
    args: argparse.Namespace,
    req: _Requirement,
    interval_s: int,
    setup: tuple[tuple[ShiftTemplate, ...], SchedulingOptions],
) -> Schedule:
    templates, options = setup
    agents = _roster_agents(args.agents)
    rules = WorkRules(
        days_off=args.days_off,
        consecutive_days_off=args.consecutive_days_off,
        max_working_days=args.max_working_days,
        min_rest_s=int(args.min_rest),
    )
    return schedule_roster(req.required, interval_s, templates, agents, rules, options=options)


def _roster_agents(path: str) -> list[Agent]:
    """Agents from ``agent_id[,max_shifts]`` rows, each named once."""
    with _open_text(path) as fileobj:
        try:
            rows = [r for r in csv.reader(fileobj) if r and any(f.strip() for f in r)]
        except csv.Error as exc:
            raise _InputError(f"{path}: not valid CSV ({exc})") from None
    if not rows:
        raise _InputError(f"{path}: the file is empty")
    names = [f.strip().lower() for f in rows[0]]
    if "agent_id" not in names:
        raise _InputError(f"{path}:1: header: needs the column agent_id")
    a = names.index("agent_id")
    m = names.index("max_shifts") if "max_shifts" in names else None
    agents: list[Agent] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], 2):
        agent_id = row[a].strip() if a < len(row) else ""
        if not agent_id:
            raise _InputError(f"{path}:{number}: agent_id: must not be empty")
        if agent_id in seen:
            raise _InputError(
                f"{path}:{number}: agent_id: {agent_id!r} already on line {seen[agent_id]}"
            )
        seen[agent_id] = number
        cap = _WEEK_DAYS
        text = row[m].strip() if m is not None and m < len(row) else ""
        if text:
            if not text.isdigit() or not 0 <= int(text) <= _WEEK_DAYS:
                raise _InputError(
                    f"{path}:{number}: max_shifts: must be a whole number 0-7, got {text!r}"
                )
            cap = int(text)
        agents.append(Agent(agent_id, max_shifts_per_week=cap))
    if not agents:
        raise _InputError(f"{path}: no agents")
    return agents


# ---------------------------------------------------------------------------------------------
# Running


_PLANNING_ERRORS = (
    _InputError,
    RosterCsvError,
    RosterError,
    ForecastError,
    SchedulingError,
    AdherenceError,
    CapacityError,
)


def _planning(action: str, run: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ErlangError as exc:
            return _error(_flag_message(exc), action)
        except _PLANNING_ERRORS as exc:
            return _error(str(exc), action)

    return wrapped


def _iso_local(ms: int, tz: tzinfo) -> str:
    return _local(ms, tz).isoformat()


def _when(ms: int, tz: tzinfo) -> str:
    return f"{_local(ms, tz):%Y-%m-%d %H:%M}"


def _accuracy_json(acc: Accuracy) -> dict[str, Any]:
    return {
        "intervals": acc.intervals,
        "zero_intervals": acc.zero_intervals,
        "mape": acc.mape,
        "wape": acc.wape,
        "bias": acc.bias,
        "handle_time_wape": acc.handle_time_wape,
    }


def _opt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _accuracy_lines(bt: Backtest | None, note: str, tz: tzinfo) -> list[str]:
    if bt is None:
        return [note]
    first = bt.week_starts[0]
    last = bt.week_starts[-1] + WEEK_MS
    lines = [
        f"Back-test: {_plural(bt.weeks, 'week')} from {_when(first, tz)} to {_when(last, tz)}, "
        "each forecast from the history before it",
    ]
    rows = [["queue", "intervals", "MAPE", "WAPE", "bias", "AHT WAPE"]]
    labelled = [*bt.by_queue.items()]
    if len(bt.by_queue) > 1:
        labelled.append(("all", bt.overall))
    for queue, acc in labelled:
        bias = "-" if acc.bias is None else f"{acc.bias:+.1%}"
        rows.append(
            [
                queue,
                str(acc.intervals),
                _opt_pct(acc.mape),
                _opt_pct(acc.wape),
                bias,
                _opt_pct(acc.handle_time_wape),
            ]
        )
    lines += _columns(rows)
    lines.append(
        "MAPE: mean |error| / actual over intervals with contacts; WAPE: sum |error| / sum actual"
    )
    return lines


def _columns(rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Rows as aligned text: the first ``left`` columns left-aligned, the others (figures)
    right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _forecast_cmd(args: argparse.Namespace) -> int:
    return _planning("forecast", _forecast_run)(args)


def _forecast_run(args: argparse.Namespace) -> int:
    inputs = _load_inputs(args, events_path=args.events)
    if not 1 <= args.days <= 366:
        raise _InputError(f"argument --days: must be 1 to 366, got {args.days}")
    tz = inputs.tz
    bt, note = _backtest(inputs, args.weeks)
    first = _first_day(inputs, args.start)
    series = _forecast_days(inputs, first, args.days)
    history = inputs.history
    if args.format == "json":
        data = {
            "tenant": inputs.tenant or None,
            "interval_s": inputs.interval_s,
            "tz": inputs.tz_name,
            "history": {
                "start": _iso_local(history.start, tz),
                "end": _iso_local(history.end, tz),
                "queues": list(history.queues),
            },
            "forecast": {
                "start": _iso_local(series.start, tz),
                "end": _iso_local(series.end, tz),
                "weekly_growth": dict(series.weekly_growth),
                "queues": {
                    q: [
                        {
                            "interval_start": _iso_local(f.start, tz),
                            "offered": f.offered,
                            "aht_s": f.aht_s,
                        }
                        for f in fs
                    ]
                    for q, fs in series.queues.items()
                },
            },
            "backtest": None
            if bt is None
            else {
                "weeks": bt.weeks,
                "week_starts": [_iso_local(s, tz) for s in bt.week_starts],
                "overall": _accuracy_json(bt.overall),
                "by_queue": {q: _accuracy_json(a) for q, a in bt.by_queue.items()},
            },
        }
        print(json.dumps(data, indent=2))
        return 0
    if args.format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["queue", "interval_start", "offered", "aht_s"])
        for f in series:
            writer.writerow(
                [f.queue, _iso_local(f.start, tz), f"{f.offered:.4f}", f"{f.aht_s:.1f}"]
            )
        for line in _accuracy_lines(bt, note, tz):
            print(line, file=sys.stderr)
        return 0
    lines = [
        f"Forecast from {_when(series.start, tz)} to {_when(series.end, tz)} ({inputs.tz_name}), "
        f"{inputs.interval_s // 60}-minute intervals",
        f"History: {_when(history.start, tz)} to {_when(history.end, tz)} "
        f"({(history.end - history.start) / DAY_MS:.1f} days), queues {', '.join(history.queues)}",
        "",
        *_accuracy_lines(bt, note, tz),
        "",
        "Per day:",
    ]
    daily: dict[tuple[str, str], list[float]] = {}
    for f in series:
        key = (f"{_local(f.start, tz):%Y-%m-%d %a}", f.queue)
        acc = daily.setdefault(key, [0.0, 0.0])
        acc[0] += f.offered
        acc[1] += f.workload_s
    rows = [["day", "queue", "contacts", "AHT (s)", "workload (h)"]]
    for (day, queue), (calls, work) in daily.items():
        aht = f"{work / calls:.0f}" if calls > 0 else "-"
        rows.append([day, queue, f"{calls:.1f}", aht, f"{work / 3600:.1f}"])
    lines += _columns(rows, left=2)
    lines += ["", "Per interval (intervals with no contacts forecast are left out):"]
    rows = [["interval", "queue", "contacts", "AHT (s)"]]
    for f in series:
        if f.offered > 0:
            rows.append([_when(f.start, tz), f.queue, f"{f.offered:.2f}", f"{f.aht_s:.0f}"])
    lines += _columns(rows, left=2)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# wfm schedule


def _requirement_from_csv(path: str, inputs_tz: tzinfo, interval_s: int) -> _Requirement:
    """Required agents per local slot from ``interval_start,required`` rows; whole days from
    the first row's day to the last row's, 1 to 7 of them."""
    per_day = 86_400 // interval_s
    problems: list[str] = []
    cells: dict[tuple[date, int], int] = {}
    seen: dict[tuple[date, int], int] = {}
    with _open_text(path) as fileobj:
        reader = csv.reader(fileobj)
        header: dict[str, int] = {}
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                if not header:
                    names = [f.strip().lower() for f in fields]
                    missing = [c for c in ("interval_start", "required") if c not in names]
                    if missing:
                        raise _InputError(
                            f"{path}:{line}: header: missing column(s) {', '.join(missing)}"
                        )
                    header = {c: names.index(c) for c in ("interval_start", "required")}
                    continue
                cell = _csv_cell(fields, header, line, interval_s, inputs_tz, problems, path)
                if cell is None:
                    continue
                key, agents = cell
                if key in seen:
                    problems.append(f"{path}:{line}: interval_start: duplicate of line {seen[key]}")
                    continue
                seen[key] = line
                cells[key] = agents
        except csv.Error as exc:
            problems.append(f"{path}:{reader.line_num}: row: not valid CSV ({exc})")
    if problems:
        shown = "\n".join(problems[:20])
        raise _InputError(f"{len(problems)} problem(s) in the requirement:\n{shown}")
    if not cells:
        raise _InputError(f"{path}: no requirement rows")
    first = min(day for day, _ in cells)
    last = max(day for day, _ in cells)
    n_days = (last - first).days + 1
    if n_days > _WEEK_DAYS:
        raise _InputError(f"{path}: the rows span {n_days} days; a schedule covers 1 to 7")
    days = tuple(first + timedelta(days=i) for i in range(n_days))
    required = tuple(cells.get((day, slot), 0) for day in days for slot in range(per_day))
    n = len(required)
    return _Requirement(days, (0.0,) * n, (None,) * n, required, required)


def _csv_cell(
    fields: Sequence[str],
    header: Mapping[str, int],
    line: int,
    interval_s: int,
    tz: tzinfo,
    problems: list[str],
    path: str,
) -> tuple[tuple[date, int], int] | None:
    def get(column: str) -> str:
        i = header[column]
        return fields[i].strip() if i < len(fields) else ""

    before = len(problems)
    text = get("interval_start")
    local = _parse_local(text, tz)
    key: tuple[date, int] | None = None
    if local is None:
        problems.append(f"{path}:{line}: interval_start: not an ISO 8601 date and time: {text!r}")
    else:
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        if seconds % interval_s or local.microsecond:
            problems.append(
                f"{path}:{line}: interval_start: {text} is not on a "
                f"{interval_s // 60}-minute interval boundary (local time)"
            )
        else:
            key = (local.date(), seconds // interval_s)
    value = get("required")
    if not value.isdigit():
        problems.append(f"{path}:{line}: required: must be a whole number >= 0, got {value!r}")
    if len(problems) > before or key is None:
        return None
    return key, int(value)


def _parse_local(text: str, tz: tzinfo) -> datetime | None:
    """An ISO 8601 time as local wall-clock time in ``tz`` (a time without offset is local)."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return when
    return when.astimezone(tz).replace(tzinfo=None)


def _schedule_cmd(args: argparse.Namespace) -> int:
    return _planning("schedule", _schedule_run)(args)


def _schedule_run(args: argparse.Namespace) -> int:
    interval_s = _interval_seconds(args)
    tz = _zone(args)
    setup = _solver_setup(args, interval_s)
    if args.requirement is not None:
        req = _requirement_from_csv(args.requirement, tz, interval_s)
        basis_lines = [f"Required agents from {args.requirement}."]
        basis_json: dict[str, Any] = {"requirement": args.requirement}
    else:
        days_n = _horizon(args)
        inputs = _load_inputs(args, events_path=args.events)
        basis = _basis(args, inputs.history.queues)
        first = _first_day(inputs, args.start)
        days = tuple(first + timedelta(days=i) for i in range(days_n))
        series = _forecast_days(inputs, first, days_n)
        req = _requirement(series, days, inputs, basis)
        basis_lines = basis.statements()
        basis_json = {
            "model": "erlang_c" if basis.patience_s is None else "erlang_a",
            "service_level": basis.target_sl,
            "threshold_s": basis.threshold_s,
            "patience_s": basis.patience_s,
            "max_occupancy": basis.max_occupancy,
            "shrinkage": basis.shrinkage,
            "queues": list(basis.queues),
        }
    if args.agents is not None:
        schedule = _solve_roster(args, req, interval_s, setup)
    else:
        schedule = _solve(req, interval_s, setup)
    per_day = 86_400 // interval_s
    found = schedule.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)
    roster = (
        roster_entries(schedule.agent_shifts, _slot_starts(req.days, interval_s, tz), interval_s)
        if found and args.agents is not None
        else []
    )
    if roster and args.roster_out:
        write_roster_csv(args.roster_out, roster, tz)

    def clock(interval: int) -> str:
        days, rest = divmod(interval * interval_s, 86_400)
        text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
        return f"{text}+{days}d" if days else text

    cover = schedule.coverage
    if args.format == "json":
        data = {
            "status": str(schedule.status),
            "explanation": schedule.explanation,
            "objective": schedule.objective,
            "best_bound": schedule.best_bound,
            "gap": schedule.gap,
            "paid_hours": schedule.paid_intervals * interval_s / 3600,
            "interval_s": interval_s,
            "tz": args.tz,
            "days": [str(d) for d in req.days],
            "requirement": basis_json,
            "shifts": [
                {
                    "date": str(req.days[c.day]),
                    "template": c.shift.template,
                    "start": clock(c.shift.start),
                    "end": clock(c.shift.end),
                    "breaks": [
                        {
                            "name": b.name,
                            "start": clock(c.shift.start + b.offset),
                            "duration_s": b.duration_s,
                        }
                        for b in c.shift.breaks
                    ],
                    "agents": c.agents,
                }
                for c in schedule.shift_counts
            ],
            "roster": [
                {
                    "agent_id": e.agent_id,
                    "shift_id": e.shift_id,
                    "start": _iso_local(e.start_ms, tz),
                    "end": _iso_local(e.end_ms, tz),
                    "activity": e.activity.value,
                }
                for e in roster
            ],
            "coverage": [
                {
                    "date": str(req.days[t // per_day]),
                    "time": clock(t % per_day),
                    "agents": req.agents[t],
                    "required": cover.required[t],
                    "scheduled": cover.scheduled[t],
                    "under": cover.under[t],
                    "over": cover.over[t],
                }
                for t in range(len(cover.required))
            ],
        }
        print(json.dumps(data, indent=2))
        return 0 if found else 1
    span = str(req.days[0]) if len(req.days) == 1 else f"{req.days[0]} to {req.days[-1]}"
    lines = [
        f"Schedule for {span} ({_plural(len(req.days), 'day')}, "
        f"{interval_s // 60}-minute intervals, {args.tz})",
        *basis_lines,
        f"Solver: {schedule.status}: {schedule.explanation} ({schedule.wall_time_s:.1f} s)",
    ]
    if not found:
        sys.stdout.write("\n".join(lines) + "\n")
        return 1
    hours = interval_s / 3600
    lines += [
        f"Staffing cost {schedule.objective:g} agent-intervals (under-staffing x 10 + "
        f"over-staffing x 1); paid hours {schedule.paid_intervals * hours:g}",
        f"Required {sum(cover.required) * hours:g} agent-hours, scheduled "
        f"{sum(cover.scheduled) * hours:g}, under {sum(cover.under) * hours:g}, "
        f"over {sum(cover.over) * hours:g}",
        "",
        "Shifts:",
    ]
    rows = [["date", "shift", "start", "end", "breaks", "agents"]]
    for c in schedule.shift_counts:
        breaks = ", ".join(
            f"{b.name} {clock(c.shift.start + b.offset)} ({b.duration_s // 60} min)"
            for b in c.shift.breaks
        )
        rows.append(
            [
                f"{req.days[c.day]:%Y-%m-%d %a}",
                c.shift.template,
                clock(c.shift.start),
                clock(c.shift.end),
                breaks or "-",
                str(c.agents),
            ]
        )
    lines += _columns(rows, left=5)
    if roster:
        lines += ["", "Roster:"]
        rows = [["agent", "shift start", "shift end", "breaks"]]
        works = [e for e in roster if e.activity is Activity.WORK]
        pauses: dict[str, list[str]] = defaultdict(list)
        for e in roster:
            if e.activity is not Activity.WORK:
                pauses[e.shift_id].append(
                    f"{e.activity.value} {_local(e.start_ms, tz):%H:%M}-"
                    f"{_local(e.end_ms, tz):%H:%M}"
                )
        for e in sorted(works, key=lambda w: (w.agent_id, w.start_ms)):
            rows.append(
                [
                    e.agent_id,
                    f"{_local(e.start_ms, tz):%Y-%m-%d %a %H:%M}",
                    f"{_local(e.end_ms, tz):%H:%M}",
                    ", ".join(pauses[e.shift_id]) or "-",
                ]
            )
        lines += _columns(rows, left=4)
        if args.roster_out:
            lines.append(f"Roster written to {args.roster_out} ({len(roster)} rows).")
    lines += ["", "Coverage (intervals with nobody required or scheduled are left out):"]
    rows = [["interval", "required", "scheduled", "under", "over"]]
    for t in range(len(cover.required)):
        if cover.required[t] or cover.scheduled[t]:
            rows.append(
                [
                    f"{req.days[t // per_day]:%Y-%m-%d %a} {clock(t % per_day)}",
                    str(cover.required[t]),
                    f"{cover.scheduled[t]:g}",
                    f"{cover.under[t]:g}" if cover.under[t] else "",
                    f"{cover.over[t]:g}" if cover.over[t] else "",
                ]
            )
    lines += _columns(rows)
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# ---------------------------------------------------------------------------------------------
# wfm report


def _adherence_schedule(path: str, tz: tzinfo) -> tuple[AdherenceSchedule, list[RosterEntry]]:
    try:
        entries = read_roster_csv(path, tz)
    except RosterCsvError as exc:
        raise _InputError(str(exc)) from None
    try:
        return AdherenceSchedule(scheduled_activities(entries)), entries
    except AdherenceError as exc:
        raise _InputError(f"{path}: {exc}") from None


def _instant_ms(text: str, tz: tzinfo) -> int | None:
    return instant_ms(text, tz)


def _teams(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    with _open_text(path) as fileobj:
        rows = [r for r in csv.reader(fileobj) if r and any(f.strip() for f in r)]
    if not rows:
        raise _InputError(f"{path}: the file is empty")
    names = [f.strip().lower() for f in rows[0]]
    if "agent_id" not in names or "team" not in names:
        raise _InputError(f"{path}:1: header: needs the columns agent_id and team")
    a, t = names.index("agent_id"), names.index("team")
    for number, row in enumerate(rows[1:], 2):
        if max(a, t) >= len(row) or not row[a].strip() or not row[t].strip():
            raise _InputError(f"{path}:{number}: agent_id and team must not be empty")
        out[row[a].strip()] = row[t].strip()
    return out


def _report_cmd(args: argparse.Namespace) -> int:
    return _planning("report", _report_run)(args)


def _report_run(args: argparse.Namespace) -> int:
    # Everything that can be checked is checked before the forecast and the solver run.
    days_n = _horizon(args)
    if args.teams and args.adherence_schedule is None:
        raise _InputError("argument --teams: needs --adherence-schedule")
    capacity_wanted = args.headcount is not None
    template = _capacity_template(args) if capacity_wanted else None
    inputs = _load_inputs(args, events_path=args.events)
    tz = inputs.tz
    history = inputs.history
    basis = _basis(args, history.queues)
    setup = _solver_setup(args, inputs.interval_s)
    notes: list[str] = []
    adherence_plan = None
    roster: list[RosterEntry] = []
    teams: dict[str, str] = {}
    if args.adherence_schedule is not None:
        adherence_plan, roster = _adherence_schedule(args.adherence_schedule, tz)
        teams = _teams(args.teams) if args.teams else {}
    else:
        notes.append(
            "Adherence is not shown: give the schedule the agents worked to with "
            "--adherence-schedule (and their teams with --teams)."
        )
    bt, note = _backtest(inputs, args.weeks)
    first = _first_day(inputs, args.start)
    horizon_days = max(days_n, args.plan_weeks * _WEEK_DAYS if capacity_wanted else 0)
    series = _forecast_days(inputs, first, horizon_days)
    days = tuple(first + timedelta(days=i) for i in range(days_n))
    req = _requirement(series, days, inputs, basis)
    schedule = _solve(req, inputs.interval_s, setup)
    step = inputs.interval_s * 1000
    upcoming_end = _midnight_ms(first + timedelta(days=days_n), tz)
    upcoming_end += -upcoming_end % step
    upcoming = ForecastSeries(
        series.interval_s,
        series.start,
        upcoming_end,
        {q: tuple(f for f in fs if f.start < upcoming_end) for q, fs in series.queues.items()},
        series.weekly_growth,
    )
    coverage = CoverageSection.from_schedule(
        schedule,
        basis=basis,
        days=req.days,
        offered=req.offered,
        aht_s=req.aht_s,
        agents=req.agents,
    )
    adherence = None
    if adherence_plan is not None:
        pieces = [p for a in adherence_plan.agents for p in _scheduled_pieces(adherence_plan, a)]
        if not pieces:
            raise _InputError(f"{args.adherence_schedule}: every activity is 'off'")
        period = (min(s for s, _ in pieces), max(e for _, e in pieces))
        report = adherence_report(adherence_plan, inputs.events, *period)
        replies = planner_view(upcoming_shifts(roster), ReminderLog(inputs.events))
        confirmations = tuple(
            r for r in replies if r.reminders or r.answer is not Answer.NOT_REMINDED
        )
        adherence = AdherenceSection(report, teams, confirmations)
    capacity = None
    if template is not None:
        capacity = _capacity(args, inputs, series, first, basis, template)
    else:
        notes.append(
            "The capacity plan is not shown: give today's productive headcount with --headcount "
            "(and --attrition, training and nesting weeks)."
        )
    inputs_shown = [
        *inputs.sources,
        ("Staffing", " ".join(basis.statements())),
        ("Shifts", f"{args.shifts} (solver limit {args.max_time:g} s)"),
    ]
    if args.adherence_schedule:
        inputs_shown.append(("Adherence schedule", args.adherence_schedule))
    if args.teams:
        inputs_shown.append(("Teams", args.teams))
    title = args.title or f"Workforce plan — {inputs.tenant or 'tenant'}"
    page = render_report(
        PlannerReport(
            title=title,
            tenant=inputs.tenant or "-",
            tz=tz,
            tz_name=inputs.tz_name,
            interval_s=inputs.interval_s,
            history_start=history.start,
            history_end=history.end,
            queues=history.queues,
            inputs=tuple(inputs_shown),
            forecast=ForecastSection(bt, upcoming, note),
            coverage=coverage,
            adherence=adherence,
            capacity=capacity,
            notes=tuple(notes),
        )
    )
    _write_atomically(args.output, page)
    shown = ["forecast", "coverage"]
    shown += ["adherence"] if adherence is not None else []
    shown += ["capacity"] if capacity is not None else []
    print(f"wrote {args.output} ({', '.join(shown)})")
    return 0


def _scheduled_pieces(plan: AdherenceSchedule, agent: str) -> list[tuple[int, int]]:
    pieces = plan.pieces(agent, 0, 1 << 62)
    return [(s, e) for s, e, activity in pieces if activity is not Activity.OFF]


def _capacity_template(args: argparse.Namespace) -> ClassTemplate:
    """The kind of class to recommend, with the capacity options checked."""
    if not 1 <= args.plan_weeks <= 104:
        raise _InputError(f"argument --plan-weeks: must be 1 to 104, got {args.plan_weeks}")
    if args.hours_per_fte <= 0:
        raise _InputError(f"argument --hours-per-fte: must be > 0, got {args.hours_per_fte:g}")
    if args.headcount < 0:
        raise _InputError(f"argument --headcount: must be >= 0, got {args.headcount:g}")
    for flag, value in (
        ("--attrition", args.attrition),
        ("--new-hire-attrition", args.new_hire_attrition),
        ("--nesting-productivity", args.nesting_productivity),
    ):
        if value is not None and not 0 <= value <= 1:
            hint = f" (write {value:g}% as {value / 100:g})" if value > 1 else ""
            raise _InputError(f"argument {flag}: must be in [0, 1], got {value:g}{hint}")
    if args.max_class_size == 0:
        raise _InputError("argument --max-class-size: must be >= 1, got 0")
    return ClassTemplate(
        training_weeks=args.training_weeks,
        nesting_weeks=args.nesting_weeks,
        nesting_productivity=args.nesting_productivity,
        max_size=args.max_class_size,
    )


def _capacity(
    args: argparse.Namespace,
    inputs: _Inputs,
    series: ForecastSeries,
    first: date,
    basis: StaffingBasis,
    template: ClassTemplate,
) -> CapacitySection:
    hours = inputs.interval_s / 3600
    workload: list[WeeklyWorkload] = []
    fte: dict[date, float] = {}
    for w in range(args.plan_weeks):
        week_start = first + timedelta(weeks=w)
        days = tuple(week_start + timedelta(days=d) for d in range(_WEEK_DAYS))
        req = _requirement(series, days, inputs, basis)
        calls = sum(req.offered)
        work_s = sum(o * a for o, a in zip(req.offered, req.aht_s, strict=True) if a is not None)
        if calls > 0:
            workload.append(WeeklyWorkload.from_calls(week_start, calls, work_s / calls))
        else:
            workload.append(WeeklyWorkload(week_start, 0.0))
        fte[week_start] = sum(req.required) * hours / args.hours_per_fte
    classes = tuple(_hiring_class(template, when, size) for when, size in args.classes)
    plan = plan_capacity(
        workload,
        lambda week: fte[week.week_start],
        headcount=args.headcount,
        attrition_monthly=args.attrition,
        classes=classes,
        new_hire_attrition_monthly=args.new_hire_attrition,
        recommend=template,
    )
    shrinkage = f" with {basis.shrinkage:.0%} shrinkage" if basis.shrinkage else ""
    return CapacitySection(
        plan=plan,
        headcount=args.headcount,
        attrition_monthly=args.attrition,
        new_hire_attrition_monthly=args.new_hire_attrition,
        hours_per_fte=args.hours_per_fte,
        required_basis=(
            f"each interval of the forecast staffed by {basis.model_name} "
            f"({basis.target}){shrinkage}, agent-hours summed per week / "
            f"{args.hours_per_fte:g} h per FTE"
        ),
        template=template,
        classes=classes,
    )


def _hiring_class(template: ClassTemplate, when: date, size: float) -> HiringClass:
    return HiringClass(
        when,
        size,
        template.training_weeks,
        template.nesting_weeks,
        template.nesting_productivity,
    )


def _write_atomically(path: str, text: str) -> None:
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        raise _InputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
