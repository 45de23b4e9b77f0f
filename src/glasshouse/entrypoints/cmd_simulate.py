"""``glasshouse simulate SCENARIO.yaml`` and ``glasshouse demo``: run a scenario through the
ACD, store and export its event log, print its metrics."""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

from glasshouse.adapters.eventstore.jsonl import write_jsonl
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.domain.metrics.batch import compute
from glasshouse.domain.metrics.config import MetricsConfig, config_from_events
from glasshouse.domain.sim import Scenario, ScenarioError, SimResult, parse_scenario, simulate
from glasshouse.entrypoints.cmd_metrics import report_to_dict, write_csv, write_table

DEMO_SCENARIO = "scenario.yaml"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="run a scenario through the ACD and print its metrics",
        description="Simulate arrivals, agents and customers against the production ACD "
        "engine on a simulated clock; write the event log and print its metrics.",
    )
    p.add_argument("scenario", help="scenario file (YAML), see docs/simulation.md")
    _common(p)
    p.set_defaults(func=run_simulate, fresh_db=False)

    d = sub.add_parser(
        "demo",
        help="simulate the demo tenant's day and print its metrics",
        description="Run the demo tenant's scenario (queues sales and support) through the ACD.",
    )
    _common(d, default_events="var/demo-events.jsonl", default_db="var/demo.db")
    d.set_defaults(func=run_demo, fresh_db=True)


def _common(
    p: argparse.ArgumentParser, default_events: str | None = None, default_db: str | None = None
) -> None:
    p.add_argument(
        "--events",
        default=default_events,
        metavar="OUT.jsonl",
        help="write the event log here as JSON Lines (default "
        + (default_events or "var/<scenario name>-events.jsonl")
        + ")",
    )
    p.add_argument(
        "--db",
        default=default_db,
        metavar="PATH",
        help="also append the events to this SQLite event store (the tenant must have no "
        "events there yet)"
        + (f"; default {default_db}, recreated at each run" if default_db else ""),
    )
    p.add_argument("--seed", type=int, help="override the scenario's seed")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")


def _fail(message: str) -> int:
    print(f"glasshouse simulate: {message}", file=sys.stderr)
    return 2


def load_scenario(path: str) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{path}: not valid YAML{where}") from None
    try:
        return parse_scenario(data)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None


def run_simulate(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        return _fail(str(exc))
    if args.events is None:  # the log is the result: always keep it
        args.events = f"var/{Path(args.scenario).stem}-events.jsonl"
    return _run(scenario, args, sys.stdout)


def run_demo(args: argparse.Namespace) -> int:
    text = resources.files("glasshouse.demo").joinpath(DEMO_SCENARIO).read_text(encoding="utf-8")
    scenario = parse_scenario(yaml.safe_load(text))
    return _run(scenario, args, sys.stdout)


def _run(scenario: Scenario, args: argparse.Namespace, out: TextIO) -> int:
    if args.db:
        db = Path(args.db)
        if args.fresh_db:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        elif db.exists():
            with SqliteEventStore(db, create=False) as store:
                existing = store.last_seq(scenario.tenant)
            if existing:
                return _fail(
                    f"tenant {scenario.tenant!r} already has {existing} events in {db}; a "
                    "simulation's log must not be mixed with another: use another --db or tenant"
                )
    started = time.perf_counter()
    result = simulate(scenario, seed=args.seed)
    elapsed = time.perf_counter() - started
    notes = [
        f"tenant {scenario.tenant}: {result.arrivals:,} arrivals, {len(result.events):,} events, "
        f"simulated in {elapsed:.2f} s",
    ]
    if result.unfinished:
        notes.append(
            f"{result.unfinished} contact(s) were still in the ACD when the drain time ended"
        )
    if args.events:
        _write_events(result, Path(args.events))
        notes.append(f"event log: {args.events}")
    if args.db:
        stored = _store(result, Path(args.db))
        notes.append(
            f"appended to the event store {args.db} (tenant {scenario.tenant}, seq {stored})"
        )
    config = config_from_events(result.events, MetricsConfig(interval_s=scenario.interval_s))
    report = compute(result.events, config, tenant=scenario.tenant)
    if args.format == "json":
        json.dump(report_to_dict(report), out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        write_csv([report], out)
    else:
        write_table(report, out)
    for note in notes:
        print(note, file=sys.stderr if args.format != "table" else out)
    return 0


def _write_events(result: SimResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        write_jsonl(result.events, fh)
    tmp.replace(path)


def _store(result: SimResult, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with SqliteEventStore(path) as store:
        stored = store.append(result.events)
    if not stored:
        return "-"
    return f"{stored[0].seq}-{stored[-1].seq}"
