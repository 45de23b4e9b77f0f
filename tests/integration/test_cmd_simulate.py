"""`glasshouse simulate` and `glasshouse demo` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glasshouse.adapters.eventstore.jsonl import read_jsonl
from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.domain.metrics import MetricsConfig, compute, config_from_events
from glasshouse.entrypoints.cli import main

SCENARIO = """
tenant: acme
duration: 2h
interval: 30m
seed: 5
queues:
  - {id: billing, wrap_up_s: 10, sl_threshold_s: 30}
agents:
  - {count: 4, prefix: b}
arrivals:
  - queue: billing
    rate_per_hour: 90
    handle_time: {dist: exponential, mean_s: 120}
    patience: {dist: exponential, mean_s: 90}
"""


def test_simulate_writes_log_and_prints_metrics_that_match_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "events.jsonl"
    db = tmp_path / "log.db"
    rc = main(
        ["simulate", str(scenario), "--events", str(out), "--db", str(db), "--format", "json"]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    with out.open() as fh:
        events = read_jsonl(fh, str(out))
    with SqliteEventStore(db) as store:
        stored = list(store.read("acme"))
    assert [e.to_dict() | {"seq": 0} for e in stored] == [e.to_dict() for e in events]
    # the printed figures are those of the written log, with the queue's own threshold
    report = compute(events, config_from_events(events, MetricsConfig(interval_s=1800)))
    total = report.queue_totals["billing"]
    assert printed["queues"]["billing"]["total"]["offered"] == total.offered > 100
    assert printed["queues"]["billing"]["total"]["answered"] == total.answered
    assert "30" in json.dumps(printed["thresholds"])
    # a second run into the same store is refused rather than mixed in
    rc = main(["simulate", str(scenario), "--db", str(db)])
    assert rc == 2
    assert "already has" in capsys.readouterr().err


def test_bad_scenario_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(SCENARIO.replace("mean_s: 120", "mean_s: -1"))
    assert main(["simulate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert "arrivals[0].handle_time.mean_s" in err
    scenario.write_text("queues: [unclosed")
    assert main(["simulate", str(scenario)]) == 2
    assert "not valid YAML at line" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_demo_command_in_a_fresh_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    run = subprocess.run(
        [sys.executable, "-m", "glasshouse", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Tenant demo" in run.stdout
    assert "appended to the event store var/demo.db" in run.stdout
    assert (tmp_path / "var" / "demo-events.jsonl").stat().st_size > 0
    # running it again starts a fresh demo log instead of mixing two days
    again = subprocess.run(
        [sys.executable, "-m", "glasshouse", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0
    assert "seq 1-" in again.stdout
