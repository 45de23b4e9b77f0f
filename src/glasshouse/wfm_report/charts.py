"""Small inline-SVG charts for static reports: no script, no fonts or files fetched.

Two kinds cover the planner report:

* :func:`time_chart`: values per time slot (interval, week) with bars, lines, step lines, shaded
  bands between two series and point markers, on a shared linear y axis from 0;
* :func:`bar_chart`: horizontal grouped bars per category (agent, team).

Every chart has a visible title, axis labels (the caller puts the unit in them), a legend and an
accessible name (``role="img"``, ``<title>``, ``<desc>``). Elements carry ``data-series`` so that a
reader or a test can find a series; gridlines carry ``data-tick`` (the value they mark) so that a
position can be turned back into a value. Colours are the Okabe-Ito palette, distinguishable
with the common colour-vision deficiencies, and series differ by shape or line style as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from markupsafe import Markup

__all__ = [
    "BLACK",
    "BLUE",
    "BLUISH_GREEN",
    "ORANGE",
    "REDDISH_PURPLE",
    "SKY_BLUE",
    "VERMILLION",
    "YELLOW",
    "Band",
    "BarChart",
    "BarSeries",
    "Bars",
    "Line",
    "Markers",
    "TimeChart",
    "bar_chart",
    "nice_ticks",
    "time_chart",
]

# Okabe & Ito, "Color Universal Design" (2008).
BLACK: Final = "#000000"
ORANGE: Final = "#E69F00"
SKY_BLUE: Final = "#56B4E9"
BLUISH_GREEN: Final = "#009E73"
YELLOW: Final = "#F0E442"
BLUE: Final = "#0072B2"
VERMILLION: Final = "#D55E00"
REDDISH_PURPLE: Final = "#CC79A7"

GRID: Final = "#d0d0d0"
AXIS: Final = "#333333"
FONT: Final = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"

WIDTH: Final = 960
_LEFT: Final = 72
_RIGHT: Final = 24
_TITLE_H: Final = 30
_LEGEND_ROW_H: Final = 20
_BOTTOM: Final = 58
_CHAR_W: Final = 6.8  # mean width of a 12 px sans-serif character, for laying out the legend


# ---------------------------------------------------------------------------------------------
# Layers of a time chart


@dataclass(frozen=True, slots=True)
class Bars:
    """One bar per slot from 0 to the value; slots with 0 draw nothing."""

    name: str
    values: Sequence[float]
    colour: str


@dataclass(frozen=True, slots=True)
class Line:
    """A line through the slot centres, or with ``step`` a level across each whole slot.
    ``dash`` is an SVG dash array ("6 4"), empty for a solid line."""

    name: str
    values: Sequence[float]
    colour: str
    dash: str = ""
    step: bool = False
    width: float = 2.0


@dataclass(frozen=True, slots=True)
class Band:
    """Shading between ``low`` and ``high`` in the slots where ``high > low`` (e.g. the gap
    between scheduled and required agents), hatched when ``hatch`` is set."""

    name: str
    low: Sequence[float]
    high: Sequence[float]
    colour: str
    hatch: bool = False


@dataclass(frozen=True, slots=True)
class Markers:
    """Triangles under the plot area at the given slots, each with a tooltip."""

    name: str
    slots: Sequence[int]
    tooltips: Sequence[str]
    colour: str


Layer = Bars | Line | Band | Markers


@dataclass(frozen=True, slots=True)
class TimeChart:
    """A chart of values per slot. ``x_ticks`` are ``(slot, label)`` pairs marking the start of
    a slot (``slot == slots`` marks the end); ``tooltips`` (one per slot) label bars and bands."""

    chart_id: str
    title: str
    x_label: str
    y_label: str
    slots: int
    x_ticks: Sequence[tuple[int, str]]
    layers: Sequence[Layer]
    description: str = ""
    tooltips: Sequence[str] = ()
    height: int = 360


# ---------------------------------------------------------------------------------------------
# Helpers


def _n(value: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _e(text: str) -> str:
    return escape(text, quote=True)


def _tick_label(value: float) -> str:
    return f"{value:,.6g}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Ticks from 0 at a 1-2-2.5-5 x 10^k step, the last at or above ``top`` (0 to 1 for 0)."""
    if not math.isfinite(top) or top <= 0:
        return [0.0, 0.25, 0.5, 0.75, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _legend_rows(entries: Sequence[tuple[str, str]], width: float) -> list[list[tuple[str, str]]]:
    """Lay legend entries (kind, name) out in rows that fit ``width``."""
    rows: list[list[tuple[str, str]]] = [[]]
    used = 0.0
    for entry in entries:
        w = 34 + len(entry[1]) * _CHAR_W + 18
        if rows[-1] and used + w > width:
            rows.append([])
            used = 0.0
        rows[-1].append(entry)
        used += w
    return rows


def _hatch_pattern(pattern_id: str, colour: str) -> str:
    return (
        f'<pattern id="{pattern_id}" patternUnits="userSpaceOnUse" width="6" height="6" '
        f'patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="{colour}" fill-opacity="0.35"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="3"/></pattern>'
    )


def _swatch(layer: Layer | BarSeries, x: float, y: float, fill: str) -> str:
    """A legend symbol 24 px wide, vertically centred on ``y``."""
    if isinstance(layer, Line):
        dash = f' stroke-dasharray="{layer.dash}"' if layer.dash else ""
        return (
            f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 24)}" y2="{_n(y)}" '
            f'stroke="{layer.colour}" stroke-width="{_n(layer.width + 0.5)}"{dash}/>'
        )
    if isinstance(layer, Markers):
        return _triangle(x + 12, y + 5, layer.colour, "")
    return (
        f'<rect x="{_n(x)}" y="{_n(y - 6)}" width="24" height="12" fill="{fill}" '
        f'stroke="{AXIS}" stroke-width="0.5"/>'
    )


def _triangle(cx: float, base_y: float, colour: str, tooltip: str) -> str:
    tip = f"<title>{_e(tooltip)}</title>" if tooltip else ""
    return (
        f'<path d="M{_n(cx - 6)} {_n(base_y)} L{_n(cx + 6)} {_n(base_y)} L{_n(cx)} '
        f'{_n(base_y - 10)} Z" fill="{colour}" stroke="{AXIS}" stroke-width="0.5">{tip}</path>'
    )


def _legend(
    chart_id: str,
    items: Sequence[tuple[Layer | BarSeries, str]],
    top: float,
    left: float,
    width: float,
) -> tuple[str, float]:
    """The legend group and its height. ``items`` pairs a layer with its swatch fill."""
    entries = [(str(i), _name(layer)) for i, (layer, _) in enumerate(items)]
    rows = _legend_rows(entries, width)
    parts = [f'<g class="legend" data-legend="{chart_id}">']
    y = top + _LEGEND_ROW_H / 2
    for row in rows:
        x = left
        for index, name in row:
            layer, fill = items[int(index)]
            parts.append(f'<g class="legend-item" data-series="{_e(name)}">')
            parts.append(_swatch(layer, x, y, fill))
            parts.append(
                f'<text x="{_n(x + 30)}" y="{_n(y + 4)}" font-size="12">{_e(name)}</text></g>'
            )
            x += 34 + len(name) * _CHAR_W + 18
        y += _LEGEND_ROW_H
    parts.append("</g>")
    return "".join(parts), len(rows) * _LEGEND_ROW_H


def _name(layer: Layer | BarSeries) -> str:
    return layer.name


def _open_svg(chart_id: str, title: str, description: str, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" '
        f'viewBox="0 0 {WIDTH} {_n(height)}" width="100%" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-family="{_e(FONT)}">',
        f'<title id="{chart_id}-title">{_e(title)}</title>',
        f'<desc id="{chart_id}-desc">{_e(description)}</desc>',
        f'<rect width="{WIDTH}" height="{_n(height)}" fill="#ffffff"/>',
        f'<text class="chart-title" x="{_LEFT}" y="20" font-size="16" font-weight="600">'
        f"{_e(title)}</text>",
    ]


# ---------------------------------------------------------------------------------------------
# Time charts


def _layer_max(layer: Layer) -> float:
    if isinstance(layer, Bars | Line):
        return max((v for v in layer.values if math.isfinite(v)), default=0.0)
    if isinstance(layer, Band):
        return max((v for v in (*layer.low, *layer.high) if math.isfinite(v)), default=0.0)
    return 0.0


def time_chart(chart: TimeChart) -> Markup:
    """The chart as an inline ``<svg>`` element."""
    for layer in chart.layers:
        lengths = (
            [len(layer.low), len(layer.high)]
            if isinstance(layer, Band)
            else [len(layer.values)]
            if isinstance(layer, Bars | Line)
            else []
        )
        if any(n != chart.slots for n in lengths):
            raise ValueError(
                f"{chart.chart_id}: series {layer.name!r} has {lengths} values, "
                f"the chart has {chart.slots} slots"
            )
    cid = chart.chart_id
    plot_w = WIDTH - _LEFT - _RIGHT
    fills: dict[int, str] = {}
    defs: list[str] = []
    for i, layer in enumerate(chart.layers):
        if isinstance(layer, Band) and layer.hatch:
            pattern = f"{cid}-hatch-{i}"
            defs.append(_hatch_pattern(pattern, layer.colour))
            fills[i] = f"url(#{pattern})"
        elif isinstance(layer, Band | Bars):
            fills[i] = layer.colour
        else:
            fills[i] = "none"
    legend, legend_h = _legend(
        cid, [(layer, fills[i]) for i, layer in enumerate(chart.layers)], _TITLE_H, _LEFT, plot_w
    )
    top = _TITLE_H + legend_h + 10
    bottom = chart.height - _BOTTOM
    plot_h = bottom - top
    # 5 % headroom so that the tallest bar does not touch the top of the plot.
    ticks = nice_ticks(1.05 * max((_layer_max(layer) for layer in chart.layers), default=0.0))
    y_top = ticks[-1]
    slots = max(1, chart.slots)
    slot_w = plot_w / slots

    def x(slot: float) -> float:
        return _LEFT + slot * slot_w

    def y(value: float) -> float:
        return bottom - plot_h * (value / y_top)

    parts = _open_svg(cid, chart.title, chart.description, chart.height)
    if defs:
        parts.append("<defs>" + "".join(defs) + "</defs>")
    parts.append(legend)
    # Gridlines and y tick labels.
    parts.append('<g class="y-axis">')
    for t in ticks:
        parts.append(
            f'<line data-tick="{_tick_label(t)}" x1="{_LEFT}" x2="{_n(_LEFT + plot_w)}" '
            f'y1="{_n(y(t))}" y2="{_n(y(t))}" stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{_LEFT - 8}" y="{_n(y(t) + 4)}" font-size="12" text-anchor="end">'
            f"{_tick_label(t)}</text>"
        )
    parts.append("</g>")
    # x ticks: a gridline at each tick, labels centred on it, thinned so they do not overlap.
    parts.append('<g class="x-axis">')
    last_label_x = -math.inf
    for slot, label in chart.x_ticks:
        px = x(slot)
        parts.append(
            f'<line x1="{_n(px)}" x2="{_n(px)}" y1="{_n(top)}" y2="{_n(bottom + 5)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        width = len(label) * _CHAR_W
        if label and px - width / 2 >= last_label_x + 6 and px + width / 2 <= WIDTH:
            parts.append(
                f'<text x="{_n(px)}" y="{_n(bottom + 20)}" font-size="12" '
                f'text-anchor="middle">{_e(label)}</text>'
            )
            last_label_x = px + width / 2
    parts.append("</g>")
    tooltips = chart.tooltips
    for i, layer in enumerate(chart.layers):
        name = _e(layer.name)
        if isinstance(layer, Bars):
            gap = min(1.0, slot_w * 0.1)
            parts.append(f'<g class="bars" data-series="{name}" fill="{layer.colour}">')
            for s, v in enumerate(layer.values):
                if v > 0:
                    tip = f"<title>{_e(tooltips[s])}</title>" if tooltips else ""
                    parts.append(
                        f'<rect x="{_n(x(s) + gap)}" y="{_n(y(v))}" '
                        f'width="{_n(slot_w - 2 * gap)}" height="{_n(y(0) - y(v))}">{tip}</rect>'
                    )
            parts.append("</g>")
        elif isinstance(layer, Band):
            parts.append(f'<g class="band" data-series="{name}" fill="{fills[i]}">')
            for s, (lo, hi) in enumerate(zip(layer.low, layer.high, strict=True)):
                if hi > lo:
                    tip = f"<title>{_e(tooltips[s])}</title>" if tooltips else ""
                    parts.append(
                        f'<rect x="{_n(x(s))}" y="{_n(y(hi))}" width="{_n(slot_w)}" '
                        f'height="{_n(y(lo) - y(hi))}">{tip}</rect>'
                    )
            parts.append("</g>")
        elif isinstance(layer, Line):
            if layer.step:
                points = [
                    f"{_n(x(s + edge))},{_n(y(v))}"
                    for s, v in enumerate(layer.values)
                    for edge in (0, 1)
                ]
            else:
                points = [f"{_n(x(s + 0.5))},{_n(y(v))}" for s, v in enumerate(layer.values)]
            dash = f' stroke-dasharray="{layer.dash}"' if layer.dash else ""
            parts.append(
                f'<polyline class="line" data-series="{name}" fill="none" '
                f'stroke="{layer.colour}" stroke-width="{_n(layer.width)}" '
                f'stroke-linejoin="round"{dash} points="{" ".join(points)}"/>'
            )
        else:
            parts.append(f'<g class="markers" data-series="{name}">')
            for slot, tip in zip(layer.slots, layer.tooltips, strict=True):
                parts.append(_triangle(x(slot + 0.5), bottom - 1, layer.colour, tip))
            parts.append("</g>")
    # Axes on top of the data, then their labels.
    parts.append(
        f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_n(top)}" y2="{_n(bottom)}" stroke="{AXIS}"/>'
        f'<line x1="{_LEFT}" x2="{_n(_LEFT + plot_w)}" y1="{_n(bottom)}" y2="{_n(bottom)}" '
        f'stroke="{AXIS}"/>'
        f'<text class="axis-label" x="{_n(_LEFT + plot_w / 2)}" y="{chart.height - 10}" '
        f'font-size="13" text-anchor="middle">{_e(chart.x_label)}</text>'
        f'<text class="axis-label" x="16" y="{_n(top + plot_h / 2)}" font-size="13" '
        f'text-anchor="middle" transform="rotate(-90 16 {_n(top + plot_h / 2)})">'
        f"{_e(chart.y_label)}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


# ---------------------------------------------------------------------------------------------
# Horizontal bar charts


@dataclass(frozen=True, slots=True)
class BarSeries:
    """One bar per category; ``None`` draws no bar (the figure is undefined)."""

    name: str
    values: Sequence[float | None]
    colour: str


@dataclass(frozen=True, slots=True)
class BarChart:
    """Grouped horizontal bars, one group per category, with dashed reference lines
    ``(value, label)`` across the plot. ``value_format`` formats the bar labels."""

    chart_id: str
    title: str
    x_label: str
    y_label: str
    categories: Sequence[str]
    series: Sequence[BarSeries]
    references: Sequence[tuple[float, str]] = ()
    description: str = ""
    value_format: str = "{:.1f}"


_BAR_H: Final = 12
_GROUP_GAP: Final = 10
_CAT_LEFT: Final = 150


def bar_chart(chart: BarChart) -> Markup:
    """The chart as an inline ``<svg>`` element; its height grows with the categories."""
    for series in chart.series:
        if len(series.values) != len(chart.categories):
            raise ValueError(
                f"{chart.chart_id}: series {series.name!r} has "
                f"{len(series.values)} values for {len(chart.categories)} categories"
            )
    cid = chart.chart_id
    left = _CAT_LEFT
    plot_w = WIDTH - left - _RIGHT - 40  # room for the value labels
    legend, legend_h = _legend(cid, [(s, s.colour) for s in chart.series], _TITLE_H, left, plot_w)
    top = _TITLE_H + legend_h + 10
    group_h = len(chart.series) * _BAR_H + _GROUP_GAP
    plot_h = max(1, len(chart.categories)) * group_h
    bottom = top + plot_h
    height = bottom + _BOTTOM
    values = [v for s in chart.series for v in s.values if v is not None and math.isfinite(v)]
    ticks = nice_ticks(max([*values, *(r for r, _ in chart.references), 0.0]))
    x_top = ticks[-1]

    def x(value: float) -> float:
        return left + plot_w * (value / x_top)

    parts = _open_svg(cid, chart.title, chart.description, height)
    parts.append(legend)
    parts.append('<g class="x-axis">')
    for t in ticks:
        parts.append(
            f'<line data-tick="{_tick_label(t)}" x1="{_n(x(t))}" x2="{_n(x(t))}" '
            f'y1="{_n(top)}" y2="{_n(bottom)}" stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{_n(x(t))}" y="{_n(bottom + 18)}" font-size="12" '
            f'text-anchor="middle">{_tick_label(t)}</text>'
        )
    parts.append("</g>")
    parts.append('<g class="y-axis">')
    for c, category in enumerate(chart.categories):
        cy = top + c * group_h + group_h / 2
        parts.append(
            f'<text x="{left - 8}" y="{_n(cy + 4)}" font-size="12" text-anchor="end">'
            f"{_e(category)}</text>"
        )
    parts.append("</g>")
    for k, series in enumerate(chart.series):
        parts.append(f'<g class="bars" data-series="{_e(series.name)}" fill="{series.colour}">')
        for c, value in enumerate(series.values):
            if value is None or not math.isfinite(value):
                continue
            by = top + c * group_h + _GROUP_GAP / 2 + k * _BAR_H
            shown = chart.value_format.format(value)
            parts.append(
                f'<rect x="{left}" y="{_n(by)}" width="{_n(x(value) - left)}" '
                f'height="{_BAR_H - 1}" stroke="{AXIS}" stroke-width="0.5">'
                f"<title>{_e(chart.categories[c])}: {_e(series.name)} {_e(shown)}</title></rect>"
                f'<text x="{_n(x(value) + 4)}" y="{_n(by + _BAR_H - 2)}" font-size="10" '
                f'fill="{AXIS}">{_e(shown)}</text>'
            )
        parts.append("</g>")
    for value, label in chart.references:
        parts.append(
            f'<g class="reference"><line x1="{_n(x(value))}" x2="{_n(x(value))}" '
            f'y1="{_n(top - 4)}" y2="{_n(bottom)}" stroke="{AXIS}" stroke-width="1.5" '
            f'stroke-dasharray="5 3"/><text x="{_n(x(value) + 4)}" y="{_n(top - 6)}" '
            f'font-size="11">{_e(label)}</text></g>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{_n(top)}" y2="{_n(bottom)}" stroke="{AXIS}"/>'
        f'<line x1="{left}" x2="{_n(left + plot_w)}" y1="{_n(bottom)}" y2="{_n(bottom)}" '
        f'stroke="{AXIS}"/>'
        f'<text class="axis-label" x="{_n(left + plot_w / 2)}" y="{_n(height - 14)}" '
        f'font-size="13" text-anchor="middle">{_e(chart.x_label)}</text>'
        f'<text class="axis-label" x="16" y="{_n(top + plot_h / 2)}" font-size="13" '
        f'text-anchor="middle" transform="rotate(-90 16 {_n(top + plot_h / 2)})">'
        f"{_e(chart.y_label)}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))
