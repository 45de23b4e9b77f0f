"""``glasshouse wfm staffing``: output, formats and bad input, through the real CLI entry point."""

from __future__ import annotations

import json
from typing import Any

import pytest

from glasshouse.entrypoints.cli import main

# The Call Centre Helper / pyworkforce worked example: 100 calls per 30 min, AHT 180 s, 80/20.
EXAMPLE = ["wfm", "staffing", "--calls", "100", "--aht", "180", "--interval", "30m"]


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main([*args, "--format", "json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def _bad(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run a command that must be refused: exit 2, a message on stderr, no traceback."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert "error:" in captured.err
    return captured.err


def test_table_shows_staffing_figures_and_neighbours(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*EXAMPLE, "--sl", "0.8", "--target", "20", "--max-occupancy", "0.85"]
    assert main([*args, "--shrinkage", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "Erlang C" in out
    assert "10.00 Erlangs" in out
    assert "Agents needed: 14  (20 to schedule at 30% shrinkage)" in out
    for label in ("service level", "ASA", "P(wait)", "occupancy"):
        assert label in out
    assert "88.8%" in out  # 14 agents answer 88.8 % within 20 s
    assert "abandoned" not in out
    rows = [line.split() for line in out.splitlines() if line.strip()[:2].isdigit()]
    assert [row[0] for row in rows] == ["12", "13", "14", "15", "16"]
    assert rows[2][1] == "*"


def test_json_states_model_inputs_targets_and_agents(capsys: pytest.CaptureFixture[str]) -> None:
    data = _json(
        capsys,
        *EXAMPLE,
        "--sl",
        "0.8",
        "--target",
        "20",
        "--max-occupancy",
        "0.85",
        "--shrinkage",
        "0.3",
    )
    assert data["model"] == "erlang_c"
    assert data["agents"] == 14 and isinstance(data["agents"], int)
    assert data["scheduled_agents"] == 20
    assert data["inputs"] == {
        "calls": 100.0,
        "aht_s": 180.0,
        "interval_s": 1800.0,
        "patience_s": None,
        "shrinkage": 0.3,
        "offered_load_erlangs": 10.0,
    }
    assert data["targets"]["service_level"] == 0.8
    assert data["targets"]["threshold_s"] == 20.0
    assert data["targets"]["max_occupancy"] == 0.85
    predicted = data["predicted"]
    assert predicted["service_level"] == pytest.approx(0.88835, abs=1e-5)
    assert predicted["occupancy"] == pytest.approx(10 / 14)
    assert predicted["p_wait"] == pytest.approx(0.1741, abs=1e-4)
    assert "p_abandon" not in predicted
    assert [row["agents"] for row in data["neighbours"]] == [12, 13, 14, 15, 16]


def test_erlang_a_staffs_below_the_offered_load(capsys: pytest.CaptureFixture[str]) -> None:
    # 360 calls per 30 min at 240 s is 48 Erlangs; with 60 s mean patience 46 agents suffice.
    args = ["wfm", "staffing", "--calls", "360", "--aht", "240", "--interval", "30m"]
    data = _json(capsys, *args, "--sl", "0.8", "--target", "20", "--patience", "60")
    assert data["model"] == "erlang_a"
    assert data["agents"] == 46
    assert data["inputs"]["offered_load_erlangs"] == 48.0
    assert data["inputs"]["patience_s"] == 60.0
    assert data["predicted"]["service_level"] >= 0.8
    assert data["predicted"]["p_abandon"] == pytest.approx(0.1005, abs=1e-4)
    assert data["neighbours"][1]["service_level"] < 0.8  # 45 agents fall short

    assert main([*args, "--patience", "60"]) == 0
    out = capsys.readouterr().out
    assert "Erlang A" in out and "Agents needed: 46" in out
    assert "abandoned" in out


def test_erlang_a_caps_and_glossary_service_level(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["wfm", "staffing", "--calls", "360", "--aht", "240", "--patience", "60"]
    plain = _json(capsys, *args)["agents"]
    capped = _json(capsys, *args, "--max-abandon", "0.05", "--asa", "3")
    assert capped["agents"] > plain
    assert capped["predicted"]["p_abandon"] <= 0.05
    assert capped["predicted"]["asa_s"] <= 3
    assert capped["targets"]["max_abandon"] == 0.05
    glossary = _json(capsys, *args, "--short-abandon", "5")
    assert glossary["agents"] <= plain
    assert glossary["targets"]["short_abandon_s"] == 5.0


@pytest.mark.parametrize(
    ("interval", "calls", "seconds"),
    [("15m", "50", 900.0), ("60m", "200", 3600.0), ("1h", "200", 3600.0), ("3600", "200", 3600.0)],
)
def test_interval_forms(
    capsys: pytest.CaptureFixture[str], interval: str, calls: str, seconds: float
) -> None:
    data = _json(
        capsys, "wfm", "staffing", "--calls", calls, "--aht", "180", "--interval", interval
    )
    assert data["inputs"]["interval_s"] == seconds
    assert data["inputs"]["offered_load_erlangs"] == pytest.approx(10.0)
    assert data["agents"] == 14


def test_asa_target_and_no_calls(capsys: pytest.CaptureFixture[str]) -> None:
    assert _json(capsys, *EXAMPLE, "--asa", "2")["agents"] == 16
    idle = _json(capsys, "wfm", "staffing", "--calls", "0", "--aht", "180")
    assert idle["agents"] == 0
    assert idle["predicted"]["service_level"] is None  # undefined with no calls and no agents


def test_unstable_neighbours_are_null_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    # 10.5 Erlangs at 10 % in 20 s needs 11 agents; 9 or 10 cannot keep up (ASA unbounded).
    data = _json(capsys, "wfm", "staffing", "--calls", "105", "--aht", "180", "--sl", "0.1")
    assert data["agents"] == 11
    assert data["neighbours"][0] == {
        "agents": 9,
        "service_level": 0.0,
        "asa_s": None,
        "p_wait": 1.0,
        "occupancy": pytest.approx(10.5 / 9),
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--sl", "80"], "--sl"),
        (["--sl", "0"], "--sl"),
        (["--aht", "0"], "--aht"),
        (["--calls", "-5"], "--calls"),
        (["--patience", "0"], "--patience"),
        (["--max-occupancy", "1.5"], "--max-occupancy"),
        (["--shrinkage", "1"], "--shrinkage"),
        (["--asa", "-1"], "--asa"),
        (["--target", "-20"], "--target"),
        (["--max-abandon", "0.1"], "--max-abandon needs --patience"),
        (["--short-abandon", "5"], "--short-abandon needs --patience"),
        (["--interval", "0m"], "--interval"),
        (["--interval", "30 minutes please"], "--interval"),
        (["--calls", "many"], "--calls"),
        (["--aht", "nan"], "--aht"),
        (["--format", "xml"], "--format"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], extra: list[str], expected: str
) -> None:
    err = _bad(capsys, *EXAMPLE, *extra)
    assert expected in err


def test_percent_written_as_a_number_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    err = _bad(capsys, *EXAMPLE, "--sl", "80")
    assert "write 80% as 0.8" in err


def test_wfm_without_an_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wfm"]) == 2
    assert "staffing" in capsys.readouterr().err
