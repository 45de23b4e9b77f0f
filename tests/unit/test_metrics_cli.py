"""``glasshouse metrics`` on JSON Lines files: the three formats, thresholds, intervals, rolling
windows, tenants, and bad input (exit status 2 with ``FILE:LINE: reason``, no traceback)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from glasshouse.domain.events import event_from_json
from glasshouse.entrypoints.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def example_lines() -> list[str]:
    """The worked example's log from docs/metrics.md."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("```jsonl") + len("```jsonl")
    return text[start : text.index("```", start)].strip().splitlines()


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(example_lines()) + "\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["metrics", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_states_thresholds_and_nests_figures(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--events", str(log_file), "--format", "json")
    assert code == 0, err
    report = json.loads(out)["acme"]
    assert report["thresholds"]["sl_threshold_s"] == 20
    assert report["thresholds"]["queues"]["sales"] == {"sl_threshold_s": 20, "short_abandon_s": 5}
    assert report["as_of"] == "2024-01-01T09:20:00Z"
    sales = report["queues"]["sales"]
    assert sales["total"]["abandon_rate"] == 0.25
    assert sales["total"]["service_level"] == 0.5
    assert sales["total"]["sl_threshold_s"] == 20
    assert list(sales["intervals"]) == ["2024-01-01T09:00:00Z"]
    loss = report["tenant_figures"]["total"]["call_loss"]
    assert (loss["arrived"], loss["lost"], loss["call_loss_rate"]) == (5, 3, 0.6)
    agent = report["agents"]["a1"]
    assert agent["total"]["logged_in_ms"] == 1_200_000
    assert list(agent["intervals"]) == ["2024-01-01T09:00:00Z", "2024-01-01T09:15:00Z"]


def test_csv_has_one_row_per_scope_id_and_interval(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--events", str(log_file), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    keys = [(r["scope"], r["id"], r["interval"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert ("queue", "sales", "2024-01-01T09:00:00Z") in keys
    assert ("queue", "sales", "total") in keys
    assert ("agent", "a1", "2024-01-01T09:15:00Z") in keys
    assert ("tenant", "acme", "total") in keys
    sales = next(r for r in rows if r["scope"] == "queue" and r["interval"] == "total")
    assert (sales["sl_threshold_s"], sales["short_abandon_s"]) == ("20", "5")
    assert sales["offered"] == "5" and sales["abandon_rate"] == "0.25"
    tenant = next(r for r in rows if r["scope"] == "tenant" and r["interval"] == "total")
    assert tenant["loss_call_loss_rate"] == "0.6" and tenant["sl_threshold_s"] == "per queue"
    agent = next(r for r in rows if r["scope"] == "agent" and r["interval"] == "total")
    assert agent["ready_idle_ms"] == "452000" and agent["offered"] == "3"


def test_table_is_aligned_and_names_its_definitions(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--events", str(log_file))
    assert code == 0
    assert "Thresholds: service level T = 20 s, short abandon <= 5 s" in out
    assert "call loss = lost / arrived" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("queue "))
    total = next(line for line in lines if line.startswith("sales ") and " total " in line)
    assert len(header) == len(total)  # right-aligned columns end together
    assert total.split()[2:9] == ["5", "3", "2", "1", "25.0", "50.0", "16.7"]
    assert any(line.startswith("a1 ") and "60.8" in line for line in lines)


def test_threshold_overrides_apply_to_every_queue(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "--events",
        str(log_file),
        "--format",
        "json",
        "--short-abandon",
        "3",
        "--sl-threshold",
        "30",
    )
    assert code == 0
    report = json.loads(out)["acme"]
    assert report["thresholds"]["queues"]["sales"] == {"sl_threshold_s": 30, "short_abandon_s": 3}
    sales = report["queues"]["sales"]["total"]
    assert sales["short_abandoned"] == 0 and sales["abandon_rate"] == 0.4  # 2 / 5
    assert sales["service_level"] == 0.6  # 3 / (3 + 2 - 0)


def test_thirty_minute_intervals(log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--events", str(log_file), "--format", "json", "--interval", "30m")
    assert code == 0
    agent = json.loads(out)["acme"]["agents"]["a1"]
    assert list(agent["intervals"]) == ["2024-01-01T09:00:00Z"]


@pytest.mark.parametrize("when", ["2024-01-01T09:10:00Z", "2024-01-01T09:10:00", "1704100200000"])
def test_rolling_window(log_file: Path, capsys: pytest.CaptureFixture[str], when: str) -> None:
    code, out, err = run(
        capsys, "--events", str(log_file), "--format", "json", "--rolling", "5m", "--at", when
    )
    assert code == 0, err
    report = json.loads(out)["acme"]
    assert report["window"] == {"start": "2024-01-01T09:05:00Z", "end": "2024-01-01T09:10:00Z"}
    assert report["queues"]["sales"]["intervals"] == {}
    sales = report["queues"]["sales"]["total"]
    assert sales["offered"] == 1  # c5 entered at 09:06:05; not handled yet at 09:10
    assert sales["answered"] == 1 and sales["handled"] == 0
    assert report["agents"]["a1"]["total"]["logged_in_ms"] == 300_000


def test_each_tenant_gets_its_own_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [event_from_json(line) for line in example_lines()]
    other = [replace(e, tenant="globex") for e in events[:10]]
    path = tmp_path / "two.jsonl"
    path.write_text("".join(e.to_json() + "\n" for e in [*events, *other]), encoding="utf-8")
    code, out, _ = run(capsys, "--events", str(path), "--format", "json")
    assert code == 0
    reports = json.loads(out)
    assert sorted(reports) == ["acme", "globex"]
    assert reports["globex"]["queues"]["sales"]["total"]["offered"] == 2
    code, out, _ = run(capsys, "--events", str(path), "--format", "json", "--tenant", "globex")
    assert list(json.loads(out)) == ["globex"]


def test_bad_lines_are_listed_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = example_lines()
    lines[1] = '{"v":1,"tenant":"acme","ts":1,"type":"contact.answered"'
    lines[3] = lines[3].replace('"ts":1704099600000', '"ts":"soon"')
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "--events", str(path))
    assert code == 2 and out == ""
    assert f"{path}:2: not valid JSON" in err
    assert f"{path}:4: field 'ts'" in err
    assert "Traceback" not in err


def test_a_log_that_does_not_fit_the_lifecycle_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [line for line in example_lines() if '"seq":7,' not in line]  # c1 never answered
    path = tmp_path / "gap.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = run(capsys, "--events", str(path))
    assert code == 2 and out == ""
    assert "seq 11: contact.held for contact 'c1', which is queued" in err
    assert "Traceback" not in err


def test_unknown_tenant_and_missing_file(
    log_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--events", str(log_file), "--tenant", "nobody")
    assert code == 2 and "no events of tenant 'nobody'" in err and "acme" in err
    code, _, err = run(capsys, "--events", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--at", "yesterday"), ("--rolling", "15"), ("--sl-threshold", "-1"), ("--ring-period", "0")],
)
def test_bad_arguments_exit_2(
    log_file: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["metrics", "--events", str(log_file), option, value])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err
