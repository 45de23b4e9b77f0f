"""The planner report as a person sees it: three simulated weeks through ``glasshouse simulate``
and ``glasshouse wfm report``, opened in headless Chromium (the Debian package, never a
downloaded build) with no network.

Needs ``/usr/bin/chromium`` (apt package ``chromium``) and the ``playwright`` Python package;
the test is skipped only when Chromium is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Page, sync_playwright

from glasshouse.entrypoints.cli import main

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs headless Chromium at /usr/bin/chromium (apt-get install chromium)",
)

SEVEN_DAY_PROFILE = (1.0, 0.95, 0.9, 0.9, 0.85, 0.5, 0.3)


def _half_hours(peak: float) -> list[float]:
    """A week of calls per half hour: open 08:00-18:00 UTC, busiest late morning."""
    day = [0.0] * 16 + [peak * f for f in (0.3, 0.6, 0.9, 1, 1, 0.9, 0.8, 0.7)]
    day += [peak * f for f in (0.7, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.2, 0.1, 0.1)]
    day += [0.0] * 12
    assert len(day) == 48
    return [round(v * k, 2) for k in SEVEN_DAY_PROFILE for v in day]


# Three weeks; on Thursday 22 January the sales agents take the break and lunch the schedule
# gives them, the support agents work through them.
SCENARIO: dict[str, Any] = {
    "tenant": "acme",
    "start": "2026-01-05T00:00:00Z",
    "duration": "21d",
    "interval": "30m",
    "seed": 21,
    "drain": "1h",
    "queues": [
        {"id": "sales", "wrap_up_s": 20, "sl_threshold_s": 20},
        {"id": "support", "wrap_up_s": 30, "sl_threshold_s": 20},
    ],
    "agents": [
        {
            "count": 3,
            "prefix": "s",
            "skills": {"sales": 3},
            "breaks": [
                {"at": "17d10h", "duration": "15m", "reason": "break"},
                {"at": "17d12h30m", "duration": "30m", "reason": "lunch"},
            ],
        },
        {"count": 5, "prefix": "t", "skills": {"support": 3}},
    ],
    "arrivals": [
        {
            "queue": "sales",
            "per_interval": _half_hours(8),
            "skills": {"sales": 1},
            "handle_time": {"dist": "exponential", "mean_s": 200},
            "patience": {"dist": "exponential", "mean_s": 150},
        },
        {
            "queue": "support",
            "per_interval": _half_hours(14),
            "skills": {"support": 1},
            "handle_time": {"dist": "exponential", "mean_s": 280},
            "patience": {"dist": "exponential", "mean_s": 200},
        },
    ],
}

AGENTS = [*(f"s{i}" for i in range(1, 4)), *(f"t{i}" for i in range(1, 6))]
PLAN_WEEKS = 12
BACKTEST_WEEKS = 2
INTERVALS_PER_WEEK = 7 * 48


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wfm-report")
    scenario = work / "three-weeks.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    log = work / "events.jsonl"
    assert main(["simulate", str(scenario), "--events", str(log), "--format", "json"]) == 0
    schedule = work / "schedule.csv"
    rows = ["agent_id,start,end,activity"]
    for agent in AGENTS:
        rows += [
            f"{agent},2026-01-22T08:00:00Z,2026-01-22T17:00:00Z,work",
            f"{agent},2026-01-22T10:00:00Z,2026-01-22T10:15:00Z,break",
            f"{agent},2026-01-22T12:30:00Z,2026-01-22T13:00:00Z,lunch",
        ]
    schedule.write_text("\n".join(rows) + "\n")
    teams = work / "teams.csv"
    teams.write_text(
        "agent_id,team\n"
        + "".join(f"{a},{'Sales' if a.startswith('s') else 'Support'}\n" for a in AGENTS)
    )
    output = work / "report.html"
    args = [
        "wfm", "report", "--events", str(log), "--output", str(output),
        "--tz", "Europe/Paris", "--days", "1", "--max-time", "10", "--shifts", "8h,6h,4h",
        "--adherence-schedule", str(schedule), "--teams", str(teams),
        "--headcount", "9", "--attrition", "0.05", "--plan-weeks", str(PLAN_WEEKS),
        "--training-weeks", "3", "--nesting-weeks", "2",
    ]  # fmt: skip
    assert main(args) == 0
    return output


def _count(page: Page, selector: str) -> int:
    return int(page.locator(selector).count())


def _points(page: Page, selector: str) -> int:
    return int(page.eval_on_selector(selector, "el => el.points.numberOfItems"))


def test_report_renders_offline_with_visible_charts(
    report: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = tmp_path_factory.mktemp("screenshots")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            _check_page(page)
            page.screenshot(path=str(shots / "report.png"), full_page=True)
            page.locator("#coverage").screenshot(path=str(shots / "coverage.png"))
        finally:
            browser.close()
    # Only the file itself was loaded: nothing from the network, no other file.
    assert requests == [report.as_uri()]
    assert (shots / "report.png").stat().st_size > 50_000
    print(f"screenshots: {shots}")


def _check_page(page: Page) -> None:
    charts = page.locator("svg.chart")
    ids = [charts.nth(i).get_attribute("id") for i in range(charts.count())]
    assert ids == [
        "chart-forecast-0",
        "chart-forecast-1",
        "chart-coverage",
        "chart-adherence-agents",
        "chart-adherence-teams",
        "chart-capacity",
    ]
    for chart_id in ids:
        box = page.locator(f"#{chart_id}").bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 100, chart_id

    # (a) Forecast vs actual: one point per back-test interval, the same as the table rows.
    for n, queue in enumerate(("sales", "support")):
        chart = f"#chart-forecast-{n}"
        expected = BACKTEST_WEEKS * INTERVALS_PER_WEEK
        rows = page.locator("table.intervals").nth(n).locator("tbody tr").count()
        assert rows == expected
        for series in ("Actual contacts offered", "Forecast"):
            line = f'{chart} polyline[data-series="{series}"]'
            assert _points(page, line) == expected
            box = page.locator(line).bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 50
        title = page.locator(f"{chart} .chart-title").text_content() or ""
        assert f"queue {queue}" in title and "MAPE" in title and "WAPE" in title

    # (b) Required vs scheduled: one bar per interval with agents scheduled, as in the table.
    scheduled_cells = page.eval_on_selector_all(
        "table.coverage-intervals tbody tr", "rows => rows.map(r => r.cells[4].textContent)"
    )
    assert len(scheduled_cells) == 48
    heights = page.eval_on_selector_all(
        '#chart-coverage g.bars[data-series^="Scheduled agents"] rect',
        "bars => bars.map(b => b.getBoundingClientRect().height)",
    )
    assert len(heights) == sum(1 for c in scheduled_cells if c != "0") > 10
    assert min(heights) > 0
    assert _points(page, '#chart-coverage polyline[data-series^="Required agents"]') == 2 * 48

    # (c) Adherence: two bars per agent, and per team.
    for series in ("Adherence", "Conformance"):
        assert _count(page, f'#chart-adherence-agents g.bars[data-series="{series}"] rect') == 8
        assert _count(page, f'#chart-adherence-teams g.bars[data-series="{series}"] rect') == 2

    # (d) Capacity: a bar per week, a marker per recommended class.
    assert _count(page, '#chart-capacity g.bars[data-series^="Productive FTE"] rect') == PLAN_WEEKS
    classes = page.locator("table.recommended tbody tr").count()
    markers = _count(page, "#chart-capacity g.markers path")
    if page.locator("table.recommended tbody td[colspan]").count():
        assert markers == 0
    else:
        assert markers == classes > 0

    # Legends and axis labels are there for a reader.
    for text in (
        "Actual contacts offered",
        "Forecast",
        "Scheduled agents (working, not on break)",
        "Required agents (Erlang C, 80% of calls answered within 20 s)",
        "Under-staffed",
        "Over-staffed",
        "Adherence",
        "Conformance",
        "Required FTE",
        "Productive FTE with the planned classes",
        "Contacts offered per interval",
        "Full-time equivalents (FTE)",
        "Share of scheduled time (%)",
    ):
        assert page.locator("svg.chart text", has_text=text).first.is_visible(), text
    assert page.get_by_role("img", name="Required vs scheduled agents").count() == 1
