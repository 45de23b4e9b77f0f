"""Scenario parsing: every mistake is named by its field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from glasshouse.domain.sim import ScenarioError, parse_scenario, simulate
from glasshouse.domain.sim.scenario import parse_duration_s

BASE: dict[str, Any] = {
    "duration": "1h",
    "queues": [{"id": "q"}],
    "agents": [{"count": 2, "prefix": "a"}],
    "arrivals": [{"queue": "q", "rate_per_hour": 30}],
}

DEMO = Path(__file__).parents[2] / "src" / "glasshouse" / "demo" / "scenario.yaml"


def with_(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    node[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("duration", "soon", "duration: expected a duration"),
        ("interval", "20m", "interval: must be 15m, 30m or 60m"),
        ("queues.0.strategy", "random", "queues[0]: queue 'q': unknown strategy 'random'"),
        ("queues.0.skills", {"en": 7}, "queues[0].skills.en: proficiency must be 1-5"),
        ("queues.0.colour", "red", "queues[0]: unknown field(s) colour"),
        ("agents.0.count", 0, "agents[0].count: must be >= 1"),
        ("agents.0.prefix", "", "agents[0].prefix"),
        (
            "agents.0.breaks",
            [{"at": "1h", "duration": "5m", "reason": "nap"}],
            "unknown reason code 'nap'",
        ),
        ("agents.0.shift", {"start": "2h", "end": "1h"}, "agents[0].shift.end: must be after"),
        ("arrivals.0.queue", "nope", "arrivals[0].queue: unknown queue 'nope'"),
        (
            "arrivals.0.handle_time",
            {"dist": "exponential", "mean_s": 0},
            "arrivals[0].handle_time.mean_s: must be > 0",
        ),
        (
            "arrivals.0.handle_time",
            {"dist": "weibull", "mean_s": 3},
            "unknown distribution 'weibull'",
        ),
        ("arrivals.0.callback_share", 1.5, "arrivals[0].callback_share: must be <= 1"),
        (
            "arrivals.0.times_s",
            [1, 2],
            "give exactly one of per_interval, rate_per_hour or times_s",
        ),
    ],
)
def test_errors_name_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(with_(path, value))
    assert message in str(info.value)


def test_overflow_target_must_come_first() -> None:
    data = with_(
        "queues", [{"id": "a", "overflow_queue_id": "b", "overflow_after_s": 5}, {"id": "b"}]
    )
    with pytest.raises(
        ScenarioError, match=r"queues\[0\].overflow_queue_id: 'b' must be a queue listed before"
    ):
        parse_scenario(data)


def test_not_a_mapping() -> None:
    with pytest.raises(ScenarioError, match="scenario: expected a mapping"):
        parse_scenario(["no"])


def test_durations() -> None:
    assert parse_duration_s("4h30m", "x") == 16200
    assert parse_duration_s("250ms", "x") == 0.25
    assert parse_duration_s(12, "x") == 12
    with pytest.raises(ScenarioError, match="needs a unit"):
        parse_duration_s("4h30", "x")
    with pytest.raises(ScenarioError, match=">= 0"):
        parse_duration_s(-1, "x")


def test_same_seed_same_events_other_seed_other_events() -> None:
    sc = parse_scenario(BASE)
    a = [e.to_dict() for e in simulate(sc).events]
    b = [e.to_dict() for e in simulate(sc).events]
    c = [e.to_dict() for e in simulate(sc, seed=99).events]
    assert a == b
    assert a != c


def test_demo_scenario_runs_and_everyone_goes_home() -> None:
    sc = parse_scenario(yaml.safe_load(DEMO.read_text()))
    result = simulate(sc)
    kinds = [e.type for e in result.events]
    assert result.unfinished == 0
    assert kinds.count("agent.logged_in") == kinds.count("agent.logged_out") == 31
    for needed in (
        "contact.overflowed",
        "callback.dialing",
        "contact.abandoned",
        "agent.acw_ended",
    ):
        assert needed in kinds
    # the log is ordered in time
    assert all(a.ts <= b.ts for a, b in zip(result.events, result.events[1:], strict=False))
