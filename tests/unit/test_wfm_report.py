"""The planner report (``glasshouse.wfm_report``) and the ``glasshouse wfm forecast | schedule |
report`` commands around it.

Charts are checked by reading the SVG back: a point's height is turned into a value through the
gridlines' ``data-tick`` values and compared with the data the chart was drawn from.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from glasshouse.adapters.eventstore.jsonl import write_jsonl
from glasshouse.domain.sim import parse_scenario, simulate
from glasshouse.domain.wfm.adherence import (
    Activity,
    ScheduledActivity,
    adherence_report,
)
from glasshouse.domain.wfm.adherence import Schedule as AdherenceSchedule
from glasshouse.domain.wfm.capacity import (
    ClassTemplate,
    OccupancyRequirement,
    WeeklyWorkload,
    plan_capacity,
)
from glasshouse.domain.wfm.forecast import History, IntervalVolume, backtest, forecast
from glasshouse.domain.wfm.scheduling import (
    SchedulingOptions,
)
from glasshouse.entrypoints.cli import main
from glasshouse.wfm_report import (
    AdherenceSection,
    CapacitySection,
    CoverageSection,
    ForecastSection,
    PlannerReport,
    StaffingBasis,
    render_report,
)
from glasshouse.wfm_report.charts import (
    BLUE,
    Band,
    BarChart,
    Bars,
    BarSeries,
    Line,
    TimeChart,
    bar_chart,
    nice_ticks,
    time_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
HOUR = 3600
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
FAST = SchedulingOptions(max_time_s=5.0, num_workers=1, seed=1)


# ---------------------------------------------------------------------------------------------
# Reading charts back


def _svgs(html: str) -> dict[str, ET.Element]:
    """Every inline chart of a page by its id, parsed as XML."""
    found = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    charts = {}
    for text in found:
        root = ET.fromstring(text)
        charts[root.attrib["id"]] = root
    return charts


def _series(svg: ET.Element, name: str) -> ET.Element:
    """The plotted element of a series (not its legend entry)."""
    plotted = [
        e
        for e in svg.iter()
        if e.get("data-series") == name and e.get("class") in ("bars", "band", "line", "markers")
    ]
    assert len(plotted) == 1, f"series {name!r}: {len(plotted)} plotted elements"
    return plotted[0]


def _texts(svg: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]


def _y_scale(svg: ET.Element) -> tuple[float, float]:
    """``(y of 0, pixels per unit)`` from the horizontal gridlines."""
    ticks = {
        float(line.attrib["data-tick"].replace(",", "")): float(line.attrib["y1"])
        for line in svg.iter(f"{SVG}line")
        if "data-tick" in line.attrib
    }
    top = max(ticks)
    return ticks[0.0], (ticks[0.0] - ticks[top]) / top


def _x_scale(svg: ET.Element) -> tuple[float, float]:
    """``(x of 0, pixels per unit)`` from the vertical gridlines of a bar chart."""
    ticks = {
        float(line.attrib["data-tick"].replace(",", "")): float(line.attrib["x1"])
        for line in svg.iter(f"{SVG}line")
        if "data-tick" in line.attrib
    }
    top = max(ticks)
    return ticks[0.0], (ticks[top] - ticks[0.0]) / top


def _points(polyline: ET.Element) -> list[tuple[float, float]]:
    return [
        (float(x), float(y)) for x, y in (p.split(",") for p in polyline.attrib["points"].split())
    ]


def _rects(group: ET.Element) -> list[ET.Element]:
    return list(group.iter(f"{SVG}rect"))


# ---------------------------------------------------------------------------------------------
# Inputs built by hand


def _ms(when: datetime) -> int:
    return int(when.timestamp()) * 1000


def _profile(hour: int) -> float:
    if hour < 8 or hour >= 20:
        return 0.0
    return math.exp(-(((hour - 11) / 2.5) ** 2)) + 0.7 * math.exp(-(((hour - 16) / 2.0) ** 2))


def _history(weeks: int = 3, queues: Sequence[str] = ("support",)) -> History:
    """Hourly history with a weekly pattern and a little week-to-week variation."""
    start = _ms(MONDAY)
    volumes: dict[str, dict[int, IntervalVolume]] = {}
    for k, queue in enumerate(queues):
        series = {}
        for i in range(weeks * 7 * 24):
            day, hour = divmod(i, 24)
            n = round((20 + 5 * k) * (1.0 - 0.08 * (day % 7 >= 5)) * _profile(hour))
            n += (i * 7 + k) % 3 if n else 0
            if n:
                series[start + i * HOUR * 1000] = IntervalVolume(n, n, n * (200.0 + hour))
        volumes[queue] = series
    return History(HOUR, start, start + weeks * 7 * 86_400_000, volumes)


def _coverage() -> CoverageSection:
    """A hand-made day of 24 hourly intervals with both under- and over-staffing."""
    required = (0,) * 8 + (2, 3, 5, 6, 6, 4, 3, 3, 2, 1) + (0,) * 6
    scheduled = (0.0,) * 8 + (2.0, 3.0, 4.0, 6.0, 6.5, 5.0, 3.0, 3.0, 2.0, 1.0) + (0.0,) * 6
    return CoverageSection(
        basis=StaffingBasis(0.8, 20.0, shrinkage=0.1, queues=("support",)),
        days=(date(2026, 1, 26),),
        interval_s=HOUR,
        offered=tuple(float(r * 10) for r in required),
        aht_s=tuple(200.0 if r else None for r in required),
        agents=required,
        required=required,
        scheduled=scheduled,
        under=tuple(max(0.0, r - s) for r, s in zip(required, scheduled, strict=True)),
        over=tuple(max(0.0, s - r) for r, s in zip(required, scheduled, strict=True)),
        status="OPTIMAL",
        explanation="optimal: no schedule costs less",
        objective=11.5,
        paid_hours=42.0,
        solver_time_s=0.1,
        shifts=(),
    )


TINY_FLOOR = {
    "tenant": "acme",
    "start": "2026-01-26T08:00:00Z",
    "duration": "1h",
    "interval": "30m",
    "seed": 3,
    "drain": "10m",
    "queues": [{"id": "support", "wrap_up_s": 5}],
    "agents": [
        {"count": 1, "prefix": "a", "breaks": [{"at": "20m", "duration": "10m"}]},
        {"count": 1, "prefix": "b"},
    ],
    "arrivals": [
        {"queue": "support", "rate_per_hour": 6, "handle_time": {"dist": "fixed", "mean_s": 60}}
    ],
}


def _adherence() -> AdherenceSection:
    """Two agents scheduled to work an hour with a 10-minute break: a1 takes it, b1 does not."""
    events = simulate(parse_scenario(TINY_FLOOR)).events
    t0 = _ms(datetime(2026, 1, 26, 8, tzinfo=UTC))
    plan = AdherenceSchedule(
        [
            item
            for agent in ("a1", "b1")
            for item in (
                ScheduledActivity(agent, t0, t0 + 3_600_000, Activity.WORK),
                ScheduledActivity(agent, t0 + 1_200_000, t0 + 1_800_000, Activity.BREAK),
            )
        ]
    )
    report = adherence_report(plan, events, t0, t0 + 3_600_000)
    return AdherenceSection(report, {"a1": "Team A", "b1": "Team B"})


def _capacity() -> CapacitySection:
    weeks = [
        WeeklyWorkload(date(2026, 2, 2) + timedelta(weeks=w), 300.0 + 20 * w) for w in range(10)
    ]
    requirement = OccupancyRequirement(hours_per_fte=40, occupancy=0.85, shrinkage=0.3)
    template = ClassTemplate(training_weeks=2, nesting_weeks=1, cover_weeks=3)
    plan = plan_capacity(
        weeks, requirement, headcount=12, attrition_monthly=0.05, recommend=template
    )
    return CapacitySection(
        plan=plan,
        headcount=12,
        attrition_monthly=0.05,
        new_hire_attrition_monthly=None,
        hours_per_fte=40,
        required_basis="occupancy 85%, shrinkage 30%",
        template=template,
    )


def _report(**sections: Any) -> PlannerReport:
    history = _history()
    return PlannerReport(
        title="Workforce plan — acme",
        tenant="acme",
        tz=UTC,
        tz_name="UTC",
        interval_s=HOUR,
        history_start=history.start,
        history_end=history.end,
        queues=history.queues,
        inputs=(("Event log", "var/acme.jsonl"),),
        **sections,
    )


@pytest.fixture(scope="module")
def full_page() -> tuple[str, dict[str, Any]]:
    history = _history(queues=("sales", "support"))
    bt = backtest(history, 2)
    upcoming = forecast(history)
    parts: dict[str, Any] = {
        "backtest": bt,
        "coverage": _coverage(),
        "adherence": _adherence(),
        "capacity": _capacity(),
    }
    page = render_report(
        _report(
            forecast=ForecastSection(bt, upcoming),
            coverage=parts["coverage"],
            adherence=parts["adherence"],
            capacity=parts["capacity"],
        )
    )
    return page, parts


# ---------------------------------------------------------------------------------------------
# The page


def test_page_is_self_contained(full_page: tuple[str, dict[str, Any]]) -> None:
    page, _ = full_page
    assert page.startswith("<!DOCTYPE html>")
    for banned in ("<script", "<link", "<img", "<iframe", "@import", "url(http", "src="):
        assert banned not in page
    # The only address is the SVG namespace, which is a name, not something fetched.
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {"http://www.w3.org/2000/svg"}
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_every_chart_has_title_axis_labels_and_legend(
    full_page: tuple[str, dict[str, Any]],
) -> None:
    page, _ = full_page
    charts = _svgs(page)
    assert set(charts) == {
        "chart-forecast-0",
        "chart-forecast-1",
        "chart-coverage",
        "chart-adherence-agents",
        "chart-adherence-teams",
        "chart-capacity",
    }
    for chart_id, svg in charts.items():
        assert svg.attrib["role"] == "img"
        title = svg.find(f"{SVG}title")
        assert title is not None and title.text
        assert svg.attrib["aria-labelledby"] == f"{chart_id}-title {chart_id}-desc"
        visible_title = [t for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-title"]
        assert ["".join(visible_title[0].itertext())] == [title.text]
        labels = [
            "".join(t.itertext()) for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-label"
        ]
        assert len(labels) == 2 and all(labels)
        legend = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "legend"]
        assert len(legend) == 1
        assert len([g for g in legend[0] if g.get("class") == "legend-item"]) >= 2
    coverage = _texts(charts["chart-coverage"])
    assert "Agents" in coverage
    assert "Required agents (Erlang C, 80% of calls answered within 20 s)" in coverage
    assert "Under-staffed" in coverage and "Over-staffed" in coverage
    assert "Contacts offered per interval" in _texts(charts["chart-forecast-0"])
    assert "Full-time equivalents (FTE)" in _texts(charts["chart-capacity"])
    assert "Share of scheduled time (%)" in _texts(charts["chart-adherence-agents"])


def test_forecast_chart_points_are_the_backtest(full_page: tuple[str, dict[str, Any]]) -> None:
    page, parts = full_page
    bt = parts["backtest"]
    svg = _svgs(page)["chart-forecast-1"]
    points = [p for p in bt.series if p.queue == "support"]
    assert len(points) == 2 * 7 * 24
    zero, per_unit = _y_scale(svg)
    tolerance = 0.006 / per_unit  # coordinates are written to 0.01 px
    for name, expected in (
        ("Actual contacts offered", [float(p.actual_offered) for p in points]),
        ("Forecast", [p.forecast_offered for p in points]),
    ):
        xy = _points(_series(svg, name))
        assert len(xy) == len(points)
        assert [(zero - y) / per_unit for _, y in xy] == pytest.approx(expected, abs=tolerance)
        steps = [b[0] - a[0] for a, b in itertools.pairwise(xy)]
        assert max(steps) - min(steps) < 0.02  # evenly spaced, one point per interval
    title = svg.find(f"{SVG}title")
    assert title is not None and "queue support" in str(title.text)
    acc = bt.by_queue["support"]
    assert f"MAPE {acc.mape:.1%}" in str(title.text)
    # The accuracy table states the figures and their definitions.
    assert f'<td class="n">{acc.mape:.1%}</td>' in page
    assert f'<td class="n">{acc.wape:.1%}</td>' in page
    assert f'<td class="n">{bt.overall.wape:.1%}</td>' in page
    assert "<strong>MAPE</strong>" in page and "<strong>WAPE</strong>" in page


def test_coverage_chart_matches_required_and_scheduled(
    full_page: tuple[str, dict[str, Any]],
) -> None:
    page, parts = full_page
    cov: CoverageSection = parts["coverage"]
    svg = _svgs(page)["chart-coverage"]
    zero, per_unit = _y_scale(svg)
    bars = _rects(_series(svg, "Scheduled agents (working, not on break)"))
    scheduled = [s for s in cov.scheduled if s > 0]
    assert len(bars) == len(scheduled) == 10
    assert [float(b.attrib["height"]) / per_unit for b in bars] == pytest.approx(
        scheduled, abs=0.01
    )
    assert all(
        float(b.attrib["y"]) + float(b.attrib["height"]) == pytest.approx(zero) for b in bars
    )
    required = _points(
        _series(svg, "Required agents (Erlang C, 80% of calls answered within 20 s)")
    )
    assert len(required) == 2 * 24  # a step line: both ends of every interval
    levels = [(zero - y) / per_unit for _, y in required[::2]]
    assert levels == pytest.approx(list(cov.required), abs=0.01)
    under = _rects(_series(svg, "Under-staffed"))
    over = _rects(_series(svg, "Over-staffed"))
    assert [float(r.attrib["height"]) / per_unit for r in under] == pytest.approx([1.0], abs=0.01)
    assert [float(r.attrib["height"]) / per_unit for r in over] == pytest.approx(
        [0.5, 1.0], abs=0.01
    )
    assert "fill" in (_series(svg, "Under-staffed").attrib)
    assert _series(svg, "Under-staffed").attrib["fill"].startswith("url(#chart-coverage-hatch")
    # The statement of the basis and the table beside the chart.
    assert "Service-level target: 80% of calls answered within 20 s, in every interval." in page
    assert "Shrinkage 10%" in page
    assert "Under-staffed (agent-hours)</th><td>1.0</td>" in page
    assert "Over-staffed (agent-hours)</th><td>1.5</td>" in page


def test_adherence_bars_are_the_report_figures(full_page: tuple[str, dict[str, Any]]) -> None:
    page, parts = full_page
    section: AdherenceSection = parts["adherence"]
    agents = section.report.agents
    # b1 worked through the break: out of adherence for exactly those 10 of 60 minutes.
    assert agents["b1"].adherence == Fraction(5, 6)
    assert agents["a1"].adherence is not None and agents["a1"].adherence > Fraction(5, 6)
    svg = _svgs(page)["chart-adherence-agents"]
    _, per_unit = _x_scale(svg)
    widths = [float(r.attrib["width"]) / per_unit for r in _rects(_series(svg, "Adherence"))]
    expected = [float(agents[a].adherence or 0) * 100 for a in ("a1", "b1")]
    assert widths == pytest.approx(expected, abs=0.01)
    conformance = [float(r.attrib["width"]) / per_unit for r in _rects(_series(svg, "Conformance"))]
    assert conformance == pytest.approx(
        [float(agents[a].conformance or 0) * 100 for a in ("a1", "b1")], abs=0.01
    )
    assert "a1" in _texts(svg) and "b1" in _texts(svg)
    assert "83.3%" in page
    teams = _svgs(page)["chart-adherence-teams"]
    assert {"Team A", "Team B"} <= set(_texts(teams))


def test_capacity_chart_shows_weeks_and_recommended_classes(
    full_page: tuple[str, dict[str, Any]],
) -> None:
    page, parts = full_page
    plan = parts["capacity"].plan
    assert plan.recommended, "the example must need a class"
    svg = _svgs(page)["chart-capacity"]
    zero, per_unit = _y_scale(svg)
    bars = _rects(_series(svg, "Productive FTE with the planned classes"))
    assert [float(b.attrib["height"]) / per_unit for b in bars] == pytest.approx(
        [w.productive_fte for w in plan.weeks], abs=0.01
    )
    required = _points(_series(svg, "Required FTE"))[::2]
    assert [(zero - y) / per_unit for _, y in required] == pytest.approx(
        [w.required_fte for w in plan.weeks], abs=0.01
    )
    markers = list(_series(svg, "Recommended class starts").iter(f"{SVG}path"))
    assert len(markers) == len(plan.recommended)
    first = plan.recommended[0]
    assert f'<td>{first.start}</td><td class="n">{first.size}</td>' in page
    assert "Recommended class starts" in _texts(svg)


def test_sections_left_out_say_so_and_names_are_escaped() -> None:
    history = _history(queues=("<b>vip & co</b>",))
    report = replace(
        _report(),
        queues=history.queues,
        forecast=ForecastSection(backtest(history, 1), None),
        notes=("The capacity plan is not shown: give --headcount.",),
    )
    page = render_report(report)
    assert "<b>vip" not in page
    assert "&lt;b&gt;vip &amp; co&lt;/b&gt;" in page
    assert "The capacity plan is not shown" in page
    assert 'id="coverage"' not in page and 'id="adherence"' not in page
    for svg in _svgs(page).values():  # the escaped name still reads as itself in the chart
        assert any("vip & co" in t for t in _texts(svg))
    no_backtest = render_report(
        replace(_report(), forecast=ForecastSection(None, None, "No back-test: it needs two."))
    )
    assert "No back-test: it needs two." in no_backtest
    assert not _svgs(no_backtest)


# ---------------------------------------------------------------------------------------------
# Chart primitives


def test_nice_ticks() -> None:
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(133.3) == [0, 50, 100, 150]
    assert nice_ticks(0.37) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert nice_ticks(0) == [0, 0.25, 0.5, 0.75, 1.0]


def test_time_chart_rejects_series_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="3 slots"):
        time_chart(TimeChart("c", "t", "x", "y", 3, (), (Line("a", [1.0, 2.0], BLUE),)))


def test_zero_bars_draw_nothing_and_bands_only_where_high_exceeds_low() -> None:
    chart = TimeChart(
        "c",
        "Title",
        "x (h)",
        "y (agents)",
        4,
        ((0, "00:00"), (4, "04:00")),
        (
            Bars("b", [0.0, 1.0, 0.0, 3.0], BLUE),
            Band("gap", [0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 4.0], BLUE, hatch=True),
        ),
    )
    svg = ET.fromstring(str(time_chart(chart)))
    assert len(_rects(_series(svg, "b"))) == 2
    assert len(_rects(_series(svg, "gap"))) == 2
    assert {"00:00", "04:00", "Title", "x (h)", "y (agents)"} <= set(_texts(svg))


def test_bar_chart_leaves_undefined_values_out() -> None:
    chart = BarChart(
        "c",
        "Title",
        "Share (%)",
        "Agent",
        ["a", "b", "c"],
        [BarSeries("Adherence", [90.0, None, 50.0], BLUE)],
    )
    svg = ET.fromstring(str(bar_chart(chart)))
    zero, per_unit = _x_scale(svg)
    bars = _rects(_series(svg, "Adherence"))
    assert [float(r.attrib["width"]) / per_unit for r in bars] == pytest.approx(
        [90.0, 50.0], abs=0.01
    )
    assert all(float(r.attrib["x"]) == pytest.approx(zero) for r in bars)


# ---------------------------------------------------------------------------------------------
# The commands


def _write_history_csv(path: Path, history: History) -> None:
    lines = ["queue,interval_start,offered,handled,handle_time_s"]
    for queue, series in history.volumes.items():
        for ts, vol in series.items():
            when = datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z")
            lines.append(f"{queue},{when},{vol.offered},{vol.handled},{vol.handle_time_s}")
    path.write_text("\n".join(lines) + "\n")


def _bad(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """A command that must be refused: exit 2, a message, no traceback."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code  # type: ignore[assignment]
    captured = capsys.readouterr()
    assert code == 2, captured
    assert "Traceback" not in captured.err
    assert "error:" in captured.err
    return captured.err


@pytest.fixture(scope="module")
def history_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "history.csv"
    _write_history_csv(path, _history(queues=("sales", "support")))
    return path


FLOOR_WEEKS = {
    "tenant": "acme",
    "start": "2026-01-05T00:00:00Z",
    "duration": "15d",
    "interval": "60m",
    "seed": 11,
    "drain": "30m",
    "queues": [{"id": "support", "wrap_up_s": 10}],
    "agents": [{"count": 4, "prefix": "a"}],
    "arrivals": [
        {
            "queue": "support",
            "per_interval": [round(12 * _profile(h), 1) for h in range(24)],
            "handle_time": {"dist": "exponential", "mean_s": 240},
            "patience": {"dist": "exponential", "mean_s": 120},
        }
    ],
}


@pytest.fixture(scope="module")
def event_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("log") / "events.jsonl"
    with path.open("w") as fh:
        write_jsonl(simulate(parse_scenario(FLOOR_WEEKS)).events, fh)
    return path


def test_forecast_table_prints_backtest_and_forecast(
    capsys: pytest.CaptureFixture[str], history_csv: Path
) -> None:
    with history_csv.open() as fh:
        history = History.from_csv(fh, HOUR)  # from the first row's interval to the last one's
    expected = backtest(history, 1)  # 20.5 days of history leave one whole week to test
    assert main(["wfm", "forecast", "--history", str(history_csv), "--interval", "60m"]) == 0
    out = capsys.readouterr().out
    assert "History: 2026-01-05 08:00 to 2026-01-25 20:00 (20.5 days)" in out
    assert "Back-test: 1 week from 2026-01-18 20:00 to 2026-01-25 20:00" in out
    overall = next(line for line in out.splitlines() if line.startswith("all "))
    assert f"{expected.overall.mape:.1%}" in overall and f"{expected.overall.wape:.1%}" in overall
    assert "Forecast from 2026-01-26 00:00 to 2026-02-02 00:00 (UTC)" in out
    assert "2026-01-26 Mon  sales" in out


def test_forecast_json_and_csv(capsys: pytest.CaptureFixture[str], history_csv: Path) -> None:
    args = ["wfm", "forecast", "--history", str(history_csv), "--interval", "1h", "--days", "2"]
    assert main([*args, "--tz", "+01:00", "--weeks", "1", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["interval_s"] == 3600 and data["tz"] == "+01:00"
    assert data["backtest"]["weeks"] == 1
    assert set(data["backtest"]["by_queue"]) == {"sales", "support"}
    support = data["forecast"]["queues"]["support"]
    assert len(support) == 48
    # Whole local days: the history ends on Sunday 21:00 local, the forecast starts at midnight.
    assert support[0]["interval_start"] == "2026-01-26T00:00:00+01:00"
    assert main([*args, "--format", "csv", "--queue", "sales"]) == 0
    captured = capsys.readouterr()
    rows = captured.out.splitlines()
    assert rows[0] == "queue,interval_start,offered,aht_s"
    assert len(rows) == 1 + 48 and all(r.startswith("sales,") for r in rows[1:])
    assert "MAPE" in captured.err  # the accuracy goes to stderr, the CSV stays clean


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--tz", "Mars/Olympus"], "--tz: unknown time zone"),
        (["--interval", "7m"], "--interval: must be a whole number of minutes"),
        (["--interval", "2h"], "is not on a 120-minute"),
        (["--queue", "billing"], "no history for queue(s) billing (queues: sales, support)"),
        (["--weeks", "3"], "needs at least 4 weeks of history"),
        (["--days", "0"], "--days: must be 1 to 366"),
        (["--start", "26/01/2026"], "--start: not a date"),
        (["--start", "9999-12-31"], "--start: must be between 1970-01-02 and 9000-01-01"),
    ],
)
def test_forecast_bad_input(
    capsys: pytest.CaptureFixture[str], history_csv: Path, extra: list[str], expected: str
) -> None:
    args = ["wfm", "forecast", "--history", str(history_csv), "--interval", "60m"]
    assert expected in _bad(capsys, *args, *extra)


def test_forecast_needs_a_week_and_a_readable_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    short = tmp_path / "short.csv"
    _write_history_csv(
        short,
        History(
            HOUR,
            _history().start,
            _history().start + 3 * 86_400_000,
            {"q": {_history().start + 9 * HOUR * 1000: IntervalVolume(3, 3, 600.0)}},
        ),
    )
    err = _bad(capsys, "wfm", "forecast", "--history", str(short), "--interval", "1h")
    assert "needs at least one week of history" in err
    assert "cannot read" in _bad(capsys, "wfm", "forecast", "--events", str(tmp_path / "nope"))
    bad = tmp_path / "bad.csv"
    bad.write_text("queue,interval_start,offered,handled,handle_time_s\nq,yesterday,1,1,60\n")
    err = _bad(capsys, "wfm", "forecast", "--history", str(bad), "--interval", "1h")
    assert f"{bad}:2: interval_start: not an ISO 8601 date and time" in err


def test_schedule_from_a_requirement_csv(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    req = tmp_path / "req.csv"
    need = {8: 2, 9: 3, 10: 3, 11: 3, 12: 2, 13: 2, 14: 3, 15: 3, 16: 2, 17: 1}
    req.write_text(
        "interval_start,required\n"
        + "".join(f"2026-02-02T{h:02d}:00,{n}\n" for h, n in need.items())
    )
    args = ["wfm", "schedule", "--requirement", str(req), "--interval", "60m", "--max-time", "5"]
    assert main([*args, "--format", "json", "--shifts", "8h,4h"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] in ("OPTIMAL", "FEASIBLE")
    assert data["days"] == ["2026-02-02"]
    assert [c["required"] for c in data["coverage"]][8:18] == list(need.values())
    assert sum(c["required"] for c in data["coverage"]) == sum(need.values())
    assert {s["template"] for s in data["shifts"]} <= {"8h", "4h"}
    lunch = [s for s in data["shifts"] if s["template"] == "8h"]
    assert all(s["breaks"][0]["name"] == "lunch" for s in lunch)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Schedule for 2026-02-02 (1 day, 60-minute intervals, UTC)" in out
    assert "Shifts:" in out and "Coverage" in out


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("2026-02-02T08:00,two\n", "req.csv:2: required: must be a whole number"),
        ("2026-02-02T08:10,2\n", "req.csv:2: interval_start: 2026-02-02T08:10 is not on"),
        ("2026-02-02T08:00,2\n2026-02-02T08:00,3\n", "req.csv:3: interval_start: duplicate"),
        ("2026-02-02T08:00,2\n2026-02-12T08:00,3\n", "the rows span 11 days"),
    ],
)
def test_schedule_bad_requirement(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rows: str, expected: str
) -> None:
    req = tmp_path / "req.csv"
    req.write_text("interval_start,required\n" + rows)
    err = _bad(capsys, "wfm", "schedule", "--requirement", str(req), "--interval", "1h")
    assert expected in err


def test_schedule_from_the_forecast(capsys: pytest.CaptureFixture[str], history_csv: Path) -> None:
    args = ["wfm", "schedule", "--history", str(history_csv), "--interval", "60m", "--days", "1"]
    assert main([*args, "--max-time", "5", "--patience", "90", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["requirement"]["model"] == "erlang_a"
    assert data["requirement"]["queues"] == ["sales", "support"]
    assert data["days"] == ["2026-01-26"]
    assert sum(c["required"] for c in data["coverage"]) > 0
    assert "--days: schedules cover 1 to 7 days" in _bad(capsys, *args[:-1], "9")
    assert "--shifts" in _bad(capsys, *args, "--shifts", "8h,45m")
    assert "--sl" in _bad(capsys, *args, "--sl", "80")


def _adherence_csv(path: Path) -> None:
    rows = ["agent_id,start,end,activity"]
    for agent in ("a1", "a2"):
        rows += [
            f"{agent},2026-01-15T08:00:00Z,2026-01-15T16:00:00Z,work",
            f"{agent},2026-01-15T12:00:00Z,2026-01-15T12:30:00Z,lunch",
        ]
    path.write_text("\n".join(rows) + "\n")


def test_report_writes_every_section(
    capsys: pytest.CaptureFixture[str], event_log: Path, tmp_path: Path
) -> None:
    schedule = tmp_path / "schedule.csv"
    _adherence_csv(schedule)
    teams = tmp_path / "teams.csv"
    teams.write_text("agent_id,team\na1,Blue\na2,Green\n")
    output = tmp_path / "out" / "report.html"
    args = [
        "wfm", "report", "--events", str(event_log), "--output", str(output),
        "--interval", "60m", "--days", "1", "--max-time", "5",
        "--adherence-schedule", str(schedule), "--teams", str(teams),
        "--headcount", "2", "--attrition", "0.05", "--plan-weeks", "8",
        "--training-weeks", "1", "--nesting-weeks", "1",
    ]  # fmt: skip
    assert main(args) == 0
    assert "wrote" in capsys.readouterr().out
    page = output.read_text()
    charts = _svgs(page)
    assert {"chart-forecast-0", "chart-coverage", "chart-capacity"} <= set(charts)
    assert {"chart-adherence-agents", "chart-adherence-teams"} <= set(charts)
    assert "Workforce plan — acme" in page
    assert "Model: Erlang C (M/M/n: callers never abandon)." in page
    assert 'id="capacity"' in page and "Recommended hiring classes" in page
    assert "Blue" in page and "Green" in page
    # Not scheduled: the other two agents are listed, not charted.
    assert "Not scheduled in this period (no adherence figure): a3, a4." in page
    bars = _rects(_series(charts["chart-adherence-agents"], "Adherence"))
    assert len(bars) == 2


def test_report_without_optional_inputs_says_what_is_missing(
    capsys: pytest.CaptureFixture[str], event_log: Path, tmp_path: Path
) -> None:
    output = tmp_path / "r.html"
    args = ["wfm", "report", "--events", str(event_log), "--output", str(output)]
    assert main([*args, "--interval", "1h", "--days", "1", "--max-time", "5"]) == 0
    capsys.readouterr()
    page = output.read_text()
    assert "Adherence is not shown" in page and "capacity plan is not shown" in page
    assert 'id="adherence"' not in page and 'id="capacity"' not in page
    assert "No back-test: it needs at least two weeks of history" not in page  # 15 days: 1 week


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--teams", "t.csv"], "--teams: needs --adherence-schedule"),
        (["--days", "8"], "--days: schedules cover 1 to 7 days"),
        (["--adherence-schedule", "bad.csv"], "bad.csv:2: activity: 'nap' is not one of"),
        (["--headcount", "3", "--attrition", "1.5"], "--attrition: must be in [0, 1], got 1.5"),
        (["--headcount", "3", "--plan-weeks", "0"], "--plan-weeks: must be 1 to 104"),
        (["--shrinkage", "30"], "--shrinkage: must be in [0, 1), got 30 (write 30% as 0.3)"),
        (["--tenant", "other"], "no events of tenant 'other'"),
    ],
)
def test_report_bad_input(
    capsys: pytest.CaptureFixture[str],
    event_log: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.csv").write_text(
        "agent_id,start,end,activity\na1,2026-01-15T08:00,2026-01-15T09:00,nap\n"
    )
    output = tmp_path / "r.html"
    args = [
        "wfm",
        "report",
        "--events",
        str(event_log),
        "--output",
        str(output),
        "--interval",
        "1h",
    ]
    assert expected in _bad(capsys, *args, "--max-time", "5", "--days", "1", *extra)
    assert not output.exists()
