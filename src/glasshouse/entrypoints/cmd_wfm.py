"""``glasshouse wfm``: workforce-management calculations (staffing by Erlang C or Erlang A)."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from glasshouse.domain.wfm.erlang import (
    ErlangError,
    erlang_a,
    erlang_c,
    erlang_c_asa,
    erlang_c_service_level,
    occupancy,
    offered_load,
    scheduled_agents,
    staff_erlang_a,
    staff_erlang_c,
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
_INTERVAL = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|m|min|h)?", re.IGNORECASE)
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_NEIGHBOURS = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "wfm",
        help="workforce management: staffing by Erlang C / Erlang A",
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
    staffing.add_argument(
        "--sl",
        type=_number,
        default=0.8,
        metavar="F",
        help="service-level target as a fraction of calls (default 0.8)",
    )
    staffing.add_argument(
        "--target",
        type=_number,
        default=20.0,
        metavar="S",
        help="service-level threshold: answered within S seconds (default 20)",
    )
    staffing.add_argument(
        "--patience",
        type=_number,
        metavar="S",
        help="mean caller patience in seconds; selects Erlang A (M/M/n+M)",
    )
    staffing.add_argument(
        "--max-occupancy", type=_number, metavar="F", help="occupancy cap, e.g. 0.85"
    )
    staffing.add_argument(
        "--shrinkage",
        type=_number,
        default=0.0,
        metavar="F",
        help="share of paid time off the phones (breaks, training...), e.g. 0.3 (default 0)",
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


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


def _error(message: str) -> int:
    print(f"glasshouse wfm staffing: error: {message}", file=sys.stderr)
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


@dataclass(frozen=True, slots=True)
class _Figures:
    """Predicted figures for one staffing level."""

    agents: int
    service_level: float
    asa_s: float
    p_wait: float
    occupancy: float
    p_abandon: float | None  # Erlang A only


def _staffing(args: argparse.Namespace) -> int:
    erlang_a_only = [
        flag
        for flag, value in (
            ("--max-abandon", args.max_abandon),
            ("--short-abandon", args.short_abandon),
        )
        if value is not None
    ]
    if args.patience is None and erlang_a_only:
        return _error(f"{erlang_a_only[0]} needs --patience (it applies to Erlang A only)")
    try:
        load = offered_load(args.calls, args.aht, args.interval)
        if args.patience is None:
            agents = staff_erlang_c(
                load,
                args.aht,
                args.sl,
                args.target,
                max_occupancy=args.max_occupancy,
                asa_target=args.asa,
            )
        else:
            agents = staff_erlang_a(
                args.calls / args.interval,
                args.aht,
                args.patience,
                args.sl,
                args.target,
                max_occupancy=args.max_occupancy,
                asa_target=args.asa,
                max_abandon=args.max_abandon,
                short_abandon_s=args.short_abandon,
            )
        scheduled = scheduled_agents(agents, args.shrinkage)
    except ErlangError as exc:
        return _error(_flag_message(exc))
    levels = range(max(0, agents - _NEIGHBOURS), agents + _NEIGHBOURS + 1)
    rows = [_figures(args, load, n) for n in levels]
    chosen = next(row for row in rows if row.agents == agents)
    if args.format == "json":
        print(json.dumps(_json(args, load, agents, scheduled, chosen, rows), indent=2))
    else:
        sys.stdout.write(_table(args, load, agents, scheduled, chosen, rows))
    return 0


def _flag_message(exc: ErlangError) -> str:
    flag = _FLAGS.get(exc.parameter, exc.parameter)
    value = exc.value
    shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
    message = f"argument {flag}: {exc.requirement}, got {shown}"
    if flag in _FRACTION_FLAGS and isinstance(value, int | float) and value > 1:
        message += f" (write {value:g}% as {value / 100:g})"
    return message


def _figures(args: argparse.Namespace, load: float, n: int) -> _Figures:
    if n == 0 and load == 0.0:  # no calls and no agents: every figure is undefined
        nan = math.nan
        return _Figures(0, nan, nan, nan, nan, None if args.patience is None else nan)
    if args.patience is None:
        return _Figures(
            agents=n,
            service_level=erlang_c_service_level(n, load, args.aht, args.target),
            asa_s=erlang_c_asa(n, load, args.aht),
            p_wait=erlang_c(n, load),
            occupancy=occupancy(n, load),
            p_abandon=None,
        )
    result = erlang_a(n, args.calls / args.interval, args.aht, args.patience)
    if args.short_abandon is None:
        sl = result.service_level(args.target)
    else:
        sl = result.service_level_excluding_short(args.target, args.short_abandon)
    return _Figures(
        agents=n,
        service_level=sl,
        asa_s=result.asa,
        p_wait=result.p_wait,
        occupancy=result.occupancy,
        p_abandon=result.p_abandon,
    )


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded figure (ASA with too few agents) is null."""
    return value if value is None or math.isfinite(value) else None


def _figures_json(row: _Figures) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agents": row.agents,
        "service_level": _finite(row.service_level),
        "asa_s": _finite(row.asa_s),
        "p_wait": _finite(row.p_wait),
        "occupancy": _finite(row.occupancy),
    }
    if row.p_abandon is not None:
        out["p_abandon"] = _finite(row.p_abandon)
    return out


def _json(
    args: argparse.Namespace,
    load: float,
    agents: int,
    scheduled: int,
    chosen: _Figures,
    rows: Sequence[_Figures],
) -> dict[str, Any]:
    predicted = _figures_json(chosen)
    del predicted["agents"]
    return {
        "model": "erlang_c" if args.patience is None else "erlang_a",
        "agents": agents,
        "scheduled_agents": scheduled,
        "inputs": {
            "calls": args.calls,
            "aht_s": args.aht,
            "interval_s": args.interval,
            "patience_s": args.patience,
            "shrinkage": args.shrinkage,
            "offered_load_erlangs": load,
        },
        "targets": {
            "service_level": args.sl,
            "threshold_s": args.target,
            "max_occupancy": args.max_occupancy,
            "asa_s": args.asa,
            "max_abandon": args.max_abandon,
            "short_abandon_s": args.short_abandon,
        },
        "predicted": predicted,
        "neighbours": [_figures_json(row) for row in rows],
    }


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


def _table(
    args: argparse.Namespace,
    load: float,
    agents: int,
    scheduled: int,
    chosen: _Figures,
    rows: Sequence[_Figures],
) -> str:
    erlang_a_model = args.patience is not None
    if erlang_a_model:
        title = f"Erlang A staffing (M/M/n+M, mean patience {_g(args.patience)} s)"
    else:
        title = "Erlang C staffing (M/M/n, callers never abandon)"
    targets = [f"{_g(args.sl * 100)}% of calls answered within {_g(args.target)} s"]
    if args.short_abandon is not None:
        targets[0] += f" (abandoned within {_g(args.short_abandon)} s not counted)"
    if args.max_occupancy is not None:
        targets.append(f"occupancy <= {_g(args.max_occupancy * 100)}%")
    if args.asa is not None:
        targets.append(f"ASA <= {_g(args.asa)} s")
    if args.max_abandon is not None:
        targets.append(f"abandoned <= {_g(args.max_abandon * 100)}%")
    lines = [
        title,
        f"Offered: {_g(args.calls)} calls per {_duration(args.interval)} x AHT {_g(args.aht)} s"
        f" = {load:.2f} Erlangs",
        "Target:  " + "; ".join(targets),
        "",
        f"Agents needed: {agents}"
        + (
            f"  ({scheduled} to schedule at {_g(args.shrinkage * 100)}% shrinkage)"
            if args.shrinkage
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
    for row in rows:
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
