"""``glasshouse metrics``: figures per interval, queue, agent and tenant from a JSON Lines log.

The definitions are in GLOSSARY.md and ``docs/metrics.md``; every output states the thresholds
it used.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import IO, Any, Final

from glasshouse.adapters.eventstore.jsonl import JsonlError, read_jsonl
from glasshouse.domain.events import Event
from glasshouse.domain.metrics.batch import compute, compute_rolling
from glasshouse.domain.metrics.config import MetricsConfig, config_from_events
from glasshouse.domain.metrics.errors import MetricsError
from glasshouse.domain.metrics.figures import (
    AgentFigures,
    CallLoss,
    QueueFigures,
    Report,
    TenantFigures,
)

EXIT_BAD_INPUT: Final = 2
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
INTERVALS: Final = {"15m": 900, "30m": 1800}
_DURATION = re.compile(r"^(\d+)([smh])$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600}

# Figures derived from the raw ones (all exact fractions, shown as decimals).
_QUEUE_RATES: Final = ("abandon_rate", "service_level")
_QUEUE_TIMES: Final = (
    "asa_ms",
    "average_queue_ms",
    "average_abandon_ms",
    "aht_ms",
    "average_talk_ms",
    "average_hold_ms",
    "average_acw_ms",
    "justified_long_aht_ms",
)
_AGENT_DERIVED: Final = ("average_answer_speed_ms", "average_rings", "aht_ms", "occupancy")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "metrics",
        help="compute queue, agent and tenant figures from an event log",
        description=(
            "Compute the figures of GLOSSARY.md (offered, answered, abandon rate, service "
            "level, ASA, AHT, occupancy, call loss...) per interval, queue, agent and tenant "
            "from a JSON Lines event log. Each tenant in the file gets its own report; the "
            "thresholds come from the log's queue.configured events unless overridden."
        ),
    )
    parser.add_argument(
        "--events",
        required=True,
        metavar="FILE.jsonl",
        help="the event log, as exported by 'glasshouse events export' ('-' for stdin)",
    )
    parser.add_argument("--tenant", help="only this tenant (default: every tenant in the file)")
    parser.add_argument(
        "--interval", choices=sorted(INTERVALS), default="15m", help="reporting interval (15m)"
    )
    parser.add_argument(
        "--rolling",
        type=_duration,
        metavar="DURATION",
        help="figures over a rolling window instead of intervals (e.g. 15m, 1h)",
    )
    parser.add_argument(
        "--at",
        type=_instant,
        metavar="TIME",
        help="end of the rolling window, or time of the report: ISO 8601 (UTC if no offset) or "
        "epoch milliseconds (default: the tenant's last event)",
    )
    parser.add_argument(
        "--sl-threshold",
        type=_seconds,
        metavar="S",
        help="service-level threshold T in seconds, for every queue",
    )
    parser.add_argument(
        "--short-abandon",
        type=_seconds,
        metavar="S",
        help="short-abandon threshold in seconds, for every queue",
    )
    parser.add_argument(
        "--ring-period",
        type=_positive_seconds,
        metavar="S",
        help="ring period in seconds, for ring counts (default 5)",
    )
    parser.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="aligned columns, one CSV row per (scope, id, interval), or nested JSON (table)",
    )
    parser.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------
# Arguments


def _duration(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 15m, 900s, 1h)")
    return int(match.group(1)) * _UNIT_S[match.group(2)] * 1000


def _instant(text: str) -> int:
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (use ISO 8601 like 2024-03-01T09:30:00Z, or epoch ms)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_seconds(text: str) -> int:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _fail(message: str) -> int:
    print(f"glasshouse metrics: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


# ---------------------------------------------------------------------------------------------
# Running


def _read(source: str) -> list[Event]:
    if source == "-":
        return read_jsonl(sys.stdin.buffer, "<stdin>")
    with open(source, "rb") as fileobj:
        return read_jsonl(fileobj, source)


def run(args: argparse.Namespace) -> int:
    source: str = args.events
    try:
        events = _read(source)
    except JsonlError as exc:
        print(str(exc), file=sys.stderr)
        return _fail(f"{len(exc.errors)} bad line(s) in {source}")
    except OSError as exc:
        return _fail(f"cannot read {source}: {exc.strerror or exc}")

    tenants = list(dict.fromkeys(event.tenant for event in events))
    if args.tenant is not None:
        if args.tenant not in tenants:
            return _fail(
                f"no events of tenant {args.tenant!r} in {source} "
                f"(tenants: {', '.join(tenants) or 'none'})"
            )
        tenants = [args.tenant]
    if not tenants:
        return _fail(f"no events in {source}")

    reports: list[Report] = []
    for tenant in tenants:
        base = MetricsConfig(interval_s=INTERVALS[args.interval])
        config = config_from_events(events, base, tenant=tenant).with_thresholds(
            sl_threshold_s=args.sl_threshold, short_abandon_s=args.short_abandon
        )
        if args.ring_period is not None:
            config = replace(config, ring_period_s=args.ring_period)
        try:
            if args.rolling is not None:
                at = args.at if args.at is not None else _last_ts(events, tenant)
                reports.append(compute_rolling(events, config, at, args.rolling, tenant=tenant))
            else:
                reports.append(compute(events, config, tenant=tenant, as_of_ms=args.at))
        except MetricsError as exc:
            return _fail(f"{source}: tenant {tenant!r}: {exc}")

    out = sys.stdout
    if args.format == "json":
        json.dump({r.tenant: report_to_dict(r) for r in reports}, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        write_csv(reports, out)
    else:
        for i, report in enumerate(reports):
            if i:
                out.write("\n")
            write_table(report, out)
    return 0


def _last_ts(events: Sequence[Event], tenant: str) -> int:
    return max(event.ts for event in events if event.tenant == tenant)


# ---------------------------------------------------------------------------------------------
# Rendering


def _iso(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    text = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def _decimal(value: Fraction | None, places: int) -> float | None:
    return None if value is None else round(float(value), places)


def thresholds_to_dict(config: MetricsConfig) -> dict[str, Any]:
    """The parameters a report used, as plain data."""
    return {
        "interval_s": config.interval_s,
        "sl_threshold_s": config.thresholds.sl_threshold_s,
        "short_abandon_s": config.thresholds.short_abandon_s,
        "queues": {
            queue: {"sl_threshold_s": t.sl_threshold_s, "short_abandon_s": t.short_abandon_s}
            for queue, t in sorted(config.queue_thresholds.items())
        },
        "ring_period_s": config.ring_period_s,
        "above_hold_baseline": config.above_hold_baseline,
        "above_hold_fixed_s": config.above_hold_fixed_s,
    }


def queue_to_dict(fig: QueueFigures) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if fig.thresholds is not None:
        out["sl_threshold_s"] = fig.thresholds.sl_threshold_s
        out["short_abandon_s"] = fig.thresholds.short_abandon_s
    for name in QueueFigures.__dataclass_fields__:
        if name == "thresholds":
            continue
        value = getattr(fig, name)
        out[name] = _decimal(value, 3) if isinstance(value, Fraction) else value
    for name in _QUEUE_RATES:
        out[name] = _decimal(getattr(fig, name), 6)
    for name in _QUEUE_TIMES:
        out[name] = _decimal(getattr(fig, name), 3)
    return out


def loss_to_dict(loss: CallLoss) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(loss, name) for name in CallLoss.__dataclass_fields__}
    out["lost"] = loss.lost
    out["call_loss_rate"] = _decimal(loss.rate, 6)
    return out


def tenant_to_dict(fig: TenantFigures) -> dict[str, Any]:
    return {"contacts": queue_to_dict(fig.contacts), "call_loss": loss_to_dict(fig.loss)}


def agent_to_dict(fig: AgentFigures) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in AgentFigures.__dataclass_fields__:
        value = getattr(fig, name)
        out[name] = dict(sorted(value.items())) if name == "not_ready_ms" else value
    for name in _AGENT_DERIVED:
        out[name] = _decimal(getattr(fig, name), 6)
    return out


def report_to_dict(report: Report) -> dict[str, Any]:
    """A report as nested JSON-ready data: per queue, agent and the tenant, ``total`` and
    ``intervals`` keyed by interval start (ISO 8601, UTC)."""
    queues: dict[str, Any] = {}
    for queue, fig in sorted(report.queue_totals.items()):
        queues[queue] = {"total": queue_to_dict(fig), "intervals": {}}
    for (queue, start), fig in sorted(report.queue_intervals.items()):
        queues[queue]["intervals"][_iso(start)] = queue_to_dict(fig)
    agents: dict[str, Any] = {}
    for agent, afig in sorted(report.agent_totals.items()):
        agents[agent] = {"total": agent_to_dict(afig), "intervals": {}}
    for (agent, start), afig in sorted(report.agent_intervals.items()):
        agents[agent]["intervals"][_iso(start)] = agent_to_dict(afig)
    return {
        "tenant": report.tenant,
        "as_of": _iso(report.as_of_ms) if report.as_of_ms is not None else None,
        "window": (
            {"start": _iso(report.window[0]), "end": _iso(report.window[1])}
            if report.window is not None
            else None
        ),
        "thresholds": thresholds_to_dict(report.config),
        "tenant_figures": {
            "total": tenant_to_dict(report.tenant_total),
            "intervals": {
                _iso(start): tenant_to_dict(tfig)
                for start, tfig in sorted(report.tenant_intervals.items())
            },
        },
        "queues": queues,
        "agents": agents,
    }


def _rows(report: Report) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(scope, id, interval, figures) for every row of a report, totals after intervals."""
    total = "window" if report.window is not None else "total"
    for start, tfig in sorted(report.tenant_intervals.items()):
        yield "tenant", report.tenant or "", _iso(start), _flat_tenant(tfig)
    yield "tenant", report.tenant or "", total, _flat_tenant(report.tenant_total)
    for (queue, start), fig in sorted(report.queue_intervals.items()):
        yield "queue", queue, _iso(start), queue_to_dict(fig)
    for queue, fig in sorted(report.queue_totals.items()):
        yield "queue", queue, total, queue_to_dict(fig)
    for (agent, start), afig in sorted(report.agent_intervals.items()):
        yield "agent", agent, _iso(start), _flat_agent(afig)
    for agent, afig in sorted(report.agent_totals.items()):
        yield "agent", agent, total, _flat_agent(afig)


def _flat_tenant(fig: TenantFigures) -> dict[str, Any]:
    out = queue_to_dict(fig.contacts)
    out.update({f"loss_{k}": v for k, v in loss_to_dict(fig.loss).items()})
    return out


def _flat_agent(fig: AgentFigures) -> dict[str, Any]:
    out = agent_to_dict(fig)
    reasons = out.pop("not_ready_ms")
    out["not_ready_ms"] = fig.not_ready_total_ms
    out["not_ready_by_reason"] = ";".join(f"{k}={v}" for k, v in reasons.items())
    return out


def write_csv(reports: Sequence[Report], out: IO[str]) -> None:
    """One row per (tenant, scope, id, interval) under one header; cells that do not apply to
    a scope are empty. Every row says the thresholds in force."""
    rows = [(report, *row) for report in reports for row in _rows(report)]
    columns: dict[str, None] = {}
    for *_, figures in rows:
        columns.update(dict.fromkeys(figures))
    header = [
        "tenant",
        "scope",
        "id",
        "interval",
        "interval_s",
        "window_start",
        "window_end",
        "sl_threshold_s",
        "short_abandon_s",
        "ring_period_s",
    ]
    header += [c for c in columns if c not in header]
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for report, scope, ident, interval, figures in rows:
        row: dict[str, Any] = {
            "tenant": report.tenant,
            "scope": scope,
            "id": ident,
            "interval": interval,
            "interval_s": report.config.interval_s if report.window is None else "",
            "window_start": _iso(report.window[0]) if report.window else "",
            "window_end": _iso(report.window[1]) if report.window else "",
            "ring_period_s": report.config.ring_period_s if scope == "agent" else "",
        }
        if scope == "tenant" and "sl_threshold_s" not in figures:
            figures = {**figures, "sl_threshold_s": "per queue", "short_abandon_s": "per queue"}
        row.update(figures)
        writer.writerow({k: "" if v is None else v for k, v in row.items()})


def _pct(value: Fraction | None) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f}"


def _sec(value: Fraction | int | None) -> str:
    return "-" if value is None else f"{float(value) / 1000:.1f}"


def _table(
    out: IO[str],
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    left: int = 2,
    text_last: bool = False,
) -> None:
    """Columns padded to their widest cell: the first ``left`` (and the last, if it is text)
    to the left, numbers to the right."""
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    last = len(head) - 1
    for cells in (head, *rows):
        line = "  ".join(
            c.ljust(w) if i < left or (text_last and i == last) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        out.write(line.rstrip() + "\n")


def _describe_thresholds(config: MetricsConfig) -> str:
    t = config.thresholds
    text = f"service level T = {t.sl_threshold_s} s, short abandon <= {t.short_abandon_s} s"
    for queue, q in sorted(config.queue_thresholds.items()):
        if q != t:
            text += f"; {queue}: T = {q.sl_threshold_s} s, short <= {q.short_abandon_s} s"
    return text


def write_table(report: Report, out: IO[str]) -> None:
    """Aligned columns: tenant, queues x intervals, agents x intervals (times in seconds)."""
    config = report.config
    when = _iso(report.as_of_ms) if report.as_of_ms is not None else "-"
    if report.window is not None:
        period = f"rolling window {_iso(report.window[0])} .. {_iso(report.window[1])}"
        label = "window"
    else:
        period = f"intervals of {config.interval_s // 60} min"
        label = "total"
    out.write(f"Tenant {report.tenant}: as of {when}, {period}\n")
    out.write(f"Thresholds: {_describe_thresholds(config)}; ring period {config.ring_period_s} s\n")
    out.write(
        "Abandon rate = (abandoned - short) / (offered - short); call loss = lost / arrived, "
        "no short-abandon exclusion.\n"
    )

    def when_of(start: int | None) -> str:
        return label if start is None else _iso(start)

    out.write("\nTenant (each contact once)\n")
    periods: list[tuple[int | None, TenantFigures]] = [*sorted(report.tenant_intervals.items())]
    periods.append((None, report.tenant_total))
    _table(
        out,
        ["interval", *_QUEUE_HEAD, *_LOSS_HEAD],
        [(when_of(s), *_queue_cells(f.contacts), *_loss_cells(f.loss)) for s, f in periods],
        left=1,
    )

    out.write("\nQueues\n")
    qrows = [
        (queue, _iso(start), *_queue_cells(fig))
        for (queue, start), fig in sorted(report.queue_intervals.items())
    ] + [(queue, label, *_queue_cells(fig)) for queue, fig in sorted(report.queue_totals.items())]
    if qrows:
        _table(out, ["queue", "interval", *_QUEUE_HEAD], qrows)
    else:
        out.write("(no contacts)\n")

    out.write("\nAgents (times in seconds)\n")
    arows = [
        (agent, _iso(start), *_agent_cells(fig))
        for (agent, start), fig in sorted(report.agent_intervals.items())
    ] + [(agent, label, *_agent_cells(fig)) for agent, fig in sorted(report.agent_totals.items())]
    if arows:
        _table(out, ["agent", "interval", *_AGENT_HEAD], arows, text_last=True)
    else:
        out.write("(no agent activity)\n")


_QUEUE_HEAD: Final = (
    "offered",
    "answered",
    "abandoned",
    "short",
    "aband%",
    "SL%",
    "ASA",
    "avg-queue",
    "handled",
    "AHT",
    "overflow",
    "timeout",
    "callback",
)


def _queue_cells(fig: QueueFigures) -> tuple[str, ...]:
    return (
        str(fig.offered),
        str(fig.answered),
        str(fig.abandoned),
        str(fig.short_abandoned),
        _pct(fig.abandon_rate),
        _pct(fig.service_level),
        _sec(fig.asa_ms),
        _sec(fig.average_queue_ms),
        str(fig.handled),
        _sec(fig.aht_ms),
        str(fig.overflowed),
        str(fig.timed_out),
        f"{fig.callbacks_connected}/{fig.callbacks_requested}",
    )


_LOSS_HEAD: Final = ("arrived", "loss%", "blocked", "ivr-lost", "q-aband", "no-answer", "cb-lost")


def _loss_cells(loss: CallLoss) -> tuple[str, ...]:
    return (
        str(loss.arrived),
        _pct(loss.rate),
        str(loss.blocked),
        str(loss.lost_in_ivr),
        str(loss.abandoned_in_queue),
        str(loss.agent_no_answer),
        str(loss.callback_not_reached),
    )


_AGENT_HEAD: Final = (
    "logged-in",
    "ready-idle",
    "not-ready",
    "ringing",
    "talk",
    "hold",
    "acw",
    "occ%",
    "offered",
    "answered",
    "rna",
    "speed",
    "rings",
    "handled",
    "AHT",
    "not-ready by reason",
)


def _agent_cells(fig: AgentFigures) -> tuple[str, ...]:
    rings = fig.average_rings
    return (
        _sec(fig.logged_in_ms),
        _sec(fig.ready_idle_ms),
        _sec(fig.not_ready_total_ms),
        _sec(fig.ringing_ms),
        _sec(fig.talk_ms),
        _sec(fig.hold_ms),
        _sec(fig.acw_ms),
        _pct(fig.occupancy),
        str(fig.offered),
        str(fig.answered),
        str(fig.ring_no_answer),
        _sec(fig.average_answer_speed_ms),
        "-" if rings is None else f"{float(rings):.2f}",
        str(fig.handled),
        _sec(fig.aht_ms),
        " ".join(f"{r}={_sec(ms)}" for r, ms in sorted(fig.not_ready_ms.items())),
    )
