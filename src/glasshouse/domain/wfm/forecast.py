"""Forecasting offered volume and handle time per queue and interval, and back-testing it.

**History.** :class:`History` holds, per queue and UTC interval (15 or 30 minutes, or any whole
number of minutes that divides a day), the contacts offered and the handle time of those that were
handled. A contact counts in the interval in which it *entered the queue* (GLOSSARY.md), and its
handle time (``contact.answered`` to ``agent.acw_ended``: talk + hold + ACW) goes to that same
interval. Every interval in ``[start, end)`` is observed: one without a row had no contacts.

**Local time.** A call centre's week follows its customers' clock, so seasonality is keyed by the
tenant's *local* day and time of day: each interval maps to a cell ``(local date, slot)`` where
``slot`` is the local time of day divided by the interval. On the night clocks go back two UTC
intervals share a cell (its value is their mean, and both get its forecast); on the night they go
forward a cell is missing and simply not used.

**The forecast** of a cell is a seasonal baseline times a trend factor times a special-day factor:

* *baseline*: the weighted mean of the same weekday and slot in the last ``weeks`` regular weeks
  before the forecast start, weight ``decay ** age`` (the newest counts most). Special days in the
  history are left out and an older week is used in their place.
* *trend*: a least-squares line through the weekly totals of the last ``trend_weeks`` complete
  weeks without special days (weeks are counted back from the forecast start). The baseline stands
  for the level at the weighted mean age of the weeks it used; the factor is the line's value at the
  target week over its value there. Beyond the last observed week the slope is damped
  (``damping ** k`` for the k-th week ahead, so the growth levels off).
* *special days*: a calendar of local dates, each a multiplier and/or "treat like a <weekday>"
  (a public holiday handled like a Sunday uses the Sunday baseline).

Handle time is forecast per cell the same way, as a volume-weighted mean of the same reference
cells (``sum handle time / sum handled``), without trend.

:func:`backtest` replays the forecast on the last K weeks of a history, each trained only on what
came before it, and reports MAPE and WAPE per queue and overall with the series for charts.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from glasshouse.domain.events import (
    AgentAcwEnded,
    CallbackFailed,
    ContactAbandoned,
    ContactAnswered,
    ContactQueued,
    ContactTimedOut,
    Event,
)

__all__ = [
    "DAY_MS",
    "WEEK_MS",
    "Accuracy",
    "Backtest",
    "BacktestPoint",
    "CsvProblem",
    "Forecast",
    "ForecastConfig",
    "ForecastError",
    "ForecastSeries",
    "History",
    "HistoryCsvError",
    "IntervalVolume",
    "SpecialDay",
    "SpecialDays",
    "TimeZone",
    "backtest",
    "forecast",
    "time_zone",
]

DAY_MS: Final = 86_400_000
WEEK_MS: Final = 7 * DAY_MS
CSV_COLUMNS: Final = ("queue", "interval_start", "offered", "handled", "handle_time_s")
WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# 1970-01-01, day 0 of the local day numbers used below, was a Thursday (Monday = 0).
_EPOCH_WEEKDAY: Final = 3
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_UINT = re.compile(r"\d+")
_DECIMAL = re.compile(r"\d+(?:\.\d*)?|\.\d+")

TimeZone = str | tzinfo | timedelta | None
"""A tenant time zone: a ``zoneinfo`` name ("Asia/Shanghai"), a fixed offset ("+08:00" or a
``timedelta``), a ``tzinfo``, or ``None`` for UTC."""


class ForecastError(ValueError):
    """The history or a forecasting input cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class CsvProblem:
    """One bad value in an imported history file; reads ``LINE: column: reason``."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.line}: {self.column}: {self.reason}"


class HistoryCsvError(ForecastError):
    """A history file had bad rows; nothing was imported. ``problems`` lists every one."""

    def __init__(self, problems: Sequence[CsvProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"history not imported, {len(self.problems)} problem(s):\n{lines}")


def time_zone(tz: TimeZone) -> tzinfo:
    """The ``tzinfo`` for a :data:`TimeZone`, or :class:`ForecastError` naming the bad value."""
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, timedelta):
        if abs(tz) >= timedelta(days=1):
            raise ForecastError(f"time zone offset must be under 24 hours, got {tz}")
        return timezone(tz)
    if tz in ("UTC", "Z"):
        return UTC
    match = _OFFSET.fullmatch(tz)
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        if int(minutes) >= 60 or offset >= timedelta(days=1):
            raise ForecastError(f"time zone offset {tz!r} is out of range")
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ForecastError(f"unknown time zone {tz!r}") from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _check_interval(interval_s: int) -> int:
    if (
        isinstance(interval_s, bool)
        or not isinstance(interval_s, int)
        or interval_s <= 0
        or interval_s % 60
        or 86_400 % interval_s
    ):
        raise ForecastError(
            f"interval_s must be a whole number of minutes dividing a day (900, 1800...), "
            f"got {interval_s!r}"
        )
    return interval_s


def _interval_name(interval_s: int) -> str:
    return f"{interval_s // 60}-minute"


def _check_aligned(what: str, ms: int, interval_s: int) -> None:
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise ForecastError(f"{what} must be integer milliseconds, got {ms!r}")
    if ms % (interval_s * 1000):
        raise ForecastError(
            f"{what} {_iso(ms)} is not on a {_interval_name(interval_s)} interval boundary (UTC)"
        )


# ---------------------------------------------------------------------------------------------
# History


@dataclass(frozen=True, slots=True)
class IntervalVolume:
    """What one queue saw in one interval: contacts offered, contacts handled and their summed
    handle time (talk + hold + ACW) in seconds."""

    offered: int = 0
    handled: int = 0
    handle_time_s: float = 0.0


_ZERO: Final = IntervalVolume()


@dataclass(frozen=True)
class History:
    """Offered contacts and handle time per queue and UTC interval over ``[start, end)`` (ms).

    ``volumes`` maps queue -> interval start (ms, UTC, a multiple of ``interval_s``) -> volume;
    a missing interval inside the span had no contacts. ``tz`` gives the local day and time of
    day that seasonality follows. Construction checks all of this (:class:`ForecastError`).
    """

    interval_s: int
    start: int
    end: int
    volumes: Mapping[str, Mapping[int, IntervalVolume]]
    tz: tzinfo = UTC

    def __post_init__(self) -> None:
        interval_s = _check_interval(self.interval_s)
        _check_aligned("history start", self.start, interval_s)
        _check_aligned("history end", self.end, interval_s)
        if self.end < self.start:
            raise ForecastError(f"history ends ({_iso(self.end)}) before it starts")
        if not isinstance(self.tz, tzinfo):
            raise ForecastError(f"tz must be a tzinfo (see time_zone()), got {self.tz!r}")
        frozen: dict[str, dict[int, IntervalVolume]] = {}
        for queue, series in self.volumes.items():
            if not isinstance(queue, str) or not queue:
                raise ForecastError(f"queue ids must be non-empty strings, got {queue!r}")
            out: dict[int, IntervalVolume] = {}
            for ts, vol in series.items():
                _check_aligned(f"queue {queue!r} interval", ts, interval_s)
                if not self.start <= ts < self.end:
                    raise ForecastError(
                        f"queue {queue!r} interval {_iso(ts)} is outside the history "
                        f"[{_iso(self.start)}, {_iso(self.end)})"
                    )
                if (
                    vol.offered < 0
                    or vol.handled < 0
                    or not math.isfinite(vol.handle_time_s)
                    or vol.handle_time_s < 0
                ):
                    raise ForecastError(f"queue {queue!r} interval {_iso(ts)}: negative {vol}")
                if vol != _ZERO:
                    out[ts] = vol
            frozen[queue] = dict(sorted(out.items()))
        object.__setattr__(self, "volumes", dict(sorted(frozen.items())))

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues in the history, sorted."""
        return tuple(self.volumes)

    def interval_starts(self) -> range:
        """Every interval start (ms) in the span, in order."""
        return range(self.start, self.end, self.interval_s * 1000)

    def local_cell(self, start: int) -> tuple[date, int]:
        """The tenant-local date and slot of day (local time of day // interval) of an interval
        start: the keys of the weekly seasonality."""
        day, slot = _Grid(self.interval_s, self.tz).cell(start)
        return _day_date(day), slot

    def volume(self, queue: str, start: int) -> IntervalVolume:
        """What ``queue`` saw in the interval starting at ``start`` (zero if nothing)."""
        return self.volumes.get(queue, {}).get(start, _ZERO)

    @classmethod
    def from_events(
        cls,
        events: Iterable[Event],
        interval_s: int,
        tz: TimeZone = None,
        *,
        start: int | None = None,
        end: int | None = None,
        tenant: str | None = None,
    ) -> History:
        """Build a tenant's history from its event log (in order; test events are skipped).

        A contact counts once per queue it entered, in the interval of ``contact.queued``; its
        handle time, ``contact.answered`` to ``agent.acw_ended``, goes to the interval of the
        queue entry that was answered. Justified long contacts are included (they are workload).
        The span defaults to the intervals from the first event to the last. With ``tenant``,
        other tenants' events are ignored; without it the log must be one tenant's.
        """
        interval_s = _check_interval(interval_s)
        step = interval_s * 1000
        zone = time_zone(tz)
        acc: dict[str, dict[int, list[int]]] = {}
        entry: dict[str, tuple[str, int]] = {}  # contact -> (queue, interval) of its queue entry
        answered: dict[str, tuple[str, int, int]] = {}  # contact -> (queue, interval, ts)
        first: int | None = None
        last_ts = -1
        strict = tenant is None
        for event in events:
            if event.tenant != tenant:
                if not strict:
                    continue
                if tenant is not None:
                    raise ForecastError(
                        f"seq {event.seq}: events of several tenants ({tenant!r}, "
                        f"{event.tenant!r}); name the tenant"
                    )
                tenant = event.tenant
            ts = event.ts
            if ts < last_ts:
                raise ForecastError(f"seq {event.seq}: ts {ts} goes backwards (after {last_ts})")
            last_ts = ts
            if first is None:
                first = ts
            if event.test:
                continue
            body = event.body
            if isinstance(body, ContactQueued):
                interval = ts - ts % step
                entry[body.contact_id] = (body.queue_id, interval)
                cell = acc.setdefault(body.queue_id, {}).setdefault(interval, [0, 0, 0])
                cell[0] += 1
            elif isinstance(body, ContactAnswered):
                seg = entry.get(body.contact_id)
                if seg is not None and seg[0] == body.queue_id:
                    answered[body.contact_id] = (seg[0], seg[1], ts)
            elif isinstance(body, AgentAcwEnded):
                entry.pop(body.contact_id, None)
                done = answered.pop(body.contact_id, None)
                if done is not None:
                    queue, interval, answered_ts = done
                    cell = acc[queue][interval]
                    cell[1] += 1
                    cell[2] += ts - answered_ts
            elif isinstance(body, ContactAbandoned | ContactTimedOut) or (
                isinstance(body, CallbackFailed) and not body.retry
            ):
                # The contact has left for good: keep memory to the contacts still in progress.
                entry.pop(body.contact_id, None)
        if start is None:
            if first is None:
                raise ForecastError("no events: give start and end for an empty history")
            start = first - first % step
        if end is None:
            if first is None:
                raise ForecastError("no events: give start and end for an empty history")
            end = last_ts - last_ts % step + step
        _check_aligned("history start", start, interval_s)
        _check_aligned("history end", end, interval_s)
        volumes = {
            queue: {
                ts: IntervalVolume(o, h, ms / 1000)
                for ts, (o, h, ms) in series.items()
                if start <= ts < end
            }
            for queue, series in acc.items()
        }
        return cls(interval_s, start, end, volumes, zone)

    @classmethod
    def from_csv(
        cls,
        fileobj: Iterable[str],
        interval_s: int,
        tz: TimeZone = None,
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> History:
        """Import history from another system's CSV export.

        Columns (any order, extra columns ignored): ``queue, interval_start, offered, handled,
        handle_time_s``; ``interval_start`` is ISO 8601 with an offset or ``Z`` and must fall on
        an interval boundary. Every bad value is reported as ``LINE: column: reason`` in one
        :class:`HistoryCsvError` and nothing is imported. The span defaults to the first row's
        interval up to the end of the last one.
        """
        interval_s = _check_interval(interval_s)
        zone = time_zone(tz)
        step = interval_s * 1000
        for what, bound in (("start", start), ("end", end)):
            if bound is not None:
                _check_aligned(f"history {what}", bound, interval_s)
        problems: list[CsvProblem] = []
        reader = csv.reader(fileobj)
        index: dict[str, int] = {}
        rows: list[tuple[int, str, int, IntervalVolume]] = []
        seen: dict[tuple[str, int], int] = {}
        header_line = 0
        try:
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                if not index:
                    header_line = line
                    names = [f.strip().lstrip("\ufeff").lower() for f in fields]
                    missing = [c for c in CSV_COLUMNS if c not in names]
                    if missing:
                        raise HistoryCsvError(
                            [CsvProblem(line, "header", f"missing column(s) {', '.join(missing)}")]
                        )
                    index = {c: names.index(c) for c in CSV_COLUMNS}
                    continue
                row = _parse_row(line, fields, index, interval_s, problems)
                if row is None:
                    continue
                queue, ts, vol = row
                if start is not None and end is not None and not start <= ts < end:
                    problems.append(
                        CsvProblem(
                            line,
                            "interval_start",
                            f"{_iso(ts)} is outside the history [{_iso(start)}, {_iso(end)})",
                        )
                    )
                    continue
                previous = seen.get((queue, ts))
                if previous is not None:
                    problems.append(
                        CsvProblem(
                            line,
                            "interval_start",
                            f"duplicate of line {previous} (queue {queue!r}, {_iso(ts)})",
                        )
                    )
                    continue
                seen[(queue, ts)] = line
                rows.append((line, queue, ts, vol))
        except csv.Error as exc:
            problems.append(CsvProblem(reader.line_num, "row", f"not valid CSV ({exc})"))
        if not index and not problems:
            problems.append(CsvProblem(1, "header", "the file is empty"))
        if problems:
            raise HistoryCsvError(problems)
        if not rows and (start is None or end is None):
            raise HistoryCsvError(
                [CsvProblem(header_line + 1, "row", "no data rows (give start and end)")]
            )
        lo = start if start is not None else min(r[2] for r in rows)
        hi = end if end is not None else max(r[2] for r in rows) + step
        bad = [
            CsvProblem(line, "interval_start", f"{_iso(ts)} is outside the history span")
            for line, _, ts, _ in rows
            if not lo <= ts < hi
        ]
        if bad:
            raise HistoryCsvError(bad)
        volumes: dict[str, dict[int, IntervalVolume]] = {}
        for _, queue, ts, vol in rows:
            volumes.setdefault(queue, {})[ts] = vol
        return cls(interval_s, lo, hi, volumes, zone)


def _parse_row(
    line: int,
    fields: list[str],
    index: Mapping[str, int],
    interval_s: int,
    problems: list[CsvProblem],
) -> tuple[str, int, IntervalVolume] | None:
    """One data row, or ``None`` with its problems appended."""
    before = len(problems)

    def bad(column: str, reason: str) -> None:
        problems.append(CsvProblem(line, column, reason))

    def get(column: str) -> str | None:
        i = index[column]
        if i >= len(fields):
            bad(column, "missing (the row is too short)")
            return None
        return fields[i].strip()

    queue = get("queue")
    if queue == "":
        bad("queue", "must not be empty")
    ts: int | None = None
    text = get("interval_start")
    if text is not None:
        ts = _parse_instant(text, interval_s, lambda reason: bad("interval_start", reason))
    counts: dict[str, int] = {}
    for column in ("offered", "handled"):
        text = get(column)
        if text is None:
            continue
        if _UINT.fullmatch(text):
            counts[column] = int(text)
        else:
            bad(column, f"must be a whole number >= 0, got {text!r}")
    handle_time: float | None = None
    text = get("handle_time_s")
    if text is not None:
        if _DECIMAL.fullmatch(text):
            handle_time = float(text)
        else:
            bad("handle_time_s", f"must be a number of seconds >= 0, got {text!r}")
    if handle_time and counts.get("handled") == 0:
        bad("handle_time_s", f"is {text} but handled is 0")
    if len(problems) > before:
        return None
    assert queue and ts is not None and handle_time is not None
    return queue, ts, IntervalVolume(counts["offered"], counts["handled"], handle_time)


def _parse_instant(text: str, interval_s: int, bad: Callable[[str], None]) -> int | None:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        bad(f"not an ISO 8601 date and time: {text!r}")
        return None
    if when.tzinfo is None or when.utcoffset() is None:
        bad(f"{text!r} has no UTC offset (add Z or +hh:mm)")
        return None
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if micros % (interval_s * 1_000_000):
        bad(f"{text} is not on a {_interval_name(interval_s)} interval boundary (UTC)")
        return None
    return micros // 1000


# ---------------------------------------------------------------------------------------------
# Forecast inputs and outputs


@dataclass(frozen=True, slots=True)
class SpecialDay:
    """A local date forecast differently: ``like_weekday`` (0 = Monday ... 6 = Sunday) takes that
    weekday's baseline, then ``multiplier`` scales the volume (0 for closed)."""

    multiplier: float = 1.0
    like_weekday: int | None = None
    name: str = ""

    def __post_init__(self) -> None:
        m = self.multiplier
        if isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m) or m < 0:
            raise ForecastError(f"special day multiplier must be a number >= 0, got {m!r}")
        wd = self.like_weekday
        if wd is not None and (isinstance(wd, bool) or wd not in range(7)):
            raise ForecastError(f"like_weekday must be 0 (Monday) to 6 (Sunday), got {wd!r}")


@dataclass(frozen=True, slots=True)
class ForecastConfig:
    """How the forecast weighs its history (see the module docstring).

    ``weeks``: past weeks in the seasonal baseline; ``decay``: weight ratio of each older week;
    ``trend_weeks``: complete weeks in the trend line (below 2: no trend); ``damping``: how
    fast the trend's growth levels off beyond the history (1: a straight line).
    """

    weeks: int = 6
    decay: float = 0.8
    trend_weeks: int = 8
    damping: float = 0.9

    def __post_init__(self) -> None:
        for name, least in (("weeks", 1), ("trend_weeks", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise ForecastError(f"{name} must be a whole number >= {least}, got {v!r}")
        for name in ("decay", "damping"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
                raise ForecastError(f"{name} must be in (0, 1], got {v!r}")


@dataclass(frozen=True, slots=True)
class Forecast:
    """The forecast for one queue and interval (``start`` in ms, UTC): contacts offered and the
    average handle time in seconds (0.0 when the queue has never handled a contact)."""

    queue: str
    start: int
    offered: float
    aht_s: float

    @property
    def workload_s(self) -> float:
        """Agent-seconds of handling the interval's contacts will need (offered x AHT)."""
        return self.offered * self.aht_s


@dataclass(frozen=True)
class ForecastSeries:
    """Forecasts for ``[start, end)`` per queue, in time order, plus each queue's fitted weekly
    growth (slope over the level of the last week; ``None`` when no trend was fitted)."""

    interval_s: int
    start: int
    end: int
    queues: Mapping[str, tuple[Forecast, ...]]
    weekly_growth: Mapping[str, float | None] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Forecast]:
        for series in self.queues.values():
            yield from series

    def queue(self, queue: str) -> tuple[Forecast, ...]:
        """One queue's forecasts, or :class:`ForecastError` if the history had no such queue."""
        try:
            return self.queues[queue]
        except KeyError:
            raise ForecastError(f"no forecast for queue {queue!r}") from None


SpecialDays = Mapping[date, SpecialDay | float]
"""A special-day calendar: local date -> :class:`SpecialDay`, or a bare volume multiplier."""


# ---------------------------------------------------------------------------------------------
# The forecaster

Cell = tuple[int, int]  # (local day number since 1970-01-01, slot of the local day)


class _Grid:
    """Maps UTC interval starts (ms) to local cells."""

    def __init__(self, interval_s: int, tz: tzinfo) -> None:
        self.interval_s = interval_s
        self.slots = 86_400 // interval_s
        self.tz = tz
        fixed = tz.utcoffset(None) if isinstance(tz, timezone) else None
        self.fixed_s = None if fixed is None else int(fixed.total_seconds())

    def cell(self, ms: int) -> Cell:
        s = ms // 1000
        offset_s = self.fixed_s
        if offset_s is None:
            offset = datetime.fromtimestamp(s, self.tz).utcoffset()
            offset_s = 0 if offset is None else int(offset.total_seconds())
        local = s + offset_s
        return local // 86_400, (local % 86_400) // self.interval_s


def _weekday(day: int) -> int:
    return (day + _EPOCH_WEEKDAY) % 7


def _day_date(day: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + day)


def _specials(special_days: SpecialDays | None) -> dict[int, SpecialDay]:
    out: dict[int, SpecialDay] = {}
    for when, spec in (special_days or {}).items():
        if isinstance(when, datetime) or not isinstance(when, date):
            raise ForecastError(f"special days are keyed by local date, got {when!r}")
        if not isinstance(spec, SpecialDay):
            if isinstance(spec, bool) or not isinstance(spec, int | float):
                raise ForecastError(f"special day {when}: expected a SpecialDay or a multiplier")
            spec = SpecialDay(multiplier=float(spec))
        out[when.toordinal() - _EPOCH_ORDINAL] = spec
    return out


@dataclass(frozen=True, slots=True)
class _Refs:
    """The history cells a baseline is made of, with their weights (summing to 1), and the
    weighted mean week (relative to the forecast start) they stand for."""

    cells: tuple[tuple[Cell, float], ...]
    center: float


class _Trend:
    """Least-squares line ``a + b j`` through weekly totals, ``j`` = -1 for the last week."""

    def __init__(self, points: Sequence[tuple[int, float]], damping: float) -> None:
        self.damping = damping
        self.a = 0.0
        self.b = 0.0
        self.fitted = len(points) >= 2
        if self.fitted:
            n = len(points)
            mx = sum(j for j, _ in points) / n
            my = sum(y for _, y in points) / n
            sxx = sum((j - mx) ** 2 for j, _ in points)
            self.b = sum((j - mx) * (y - my) for j, y in points) / sxx
            self.a = my - self.b * mx

    def level(self, j: float) -> float:
        return self.a + self.b * j

    def growth(self) -> float | None:
        last = self.level(-1)
        return self.b / last if self.fitted and last > 0 else None

    def factor(self, target_week: int, center: float) -> float:
        """Level at ``target_week`` (>= 0) over the level the baseline stands for."""
        if not self.fitted:
            return 1.0
        base = self.level(center)
        if base <= 0:
            return 1.0
        ahead = target_week + 1  # weeks beyond the last history week (j = -1)
        phi = self.damping
        steps = ahead if phi == 1 else phi * (1 - phi**ahead) / (1 - phi)
        return max(0.0, self.level(-1) + self.b * steps) / base


def _slot_name(slot: int, interval_s: int) -> str:
    minutes = slot * interval_s // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def forecast(
    history: History,
    start: int | None = None,
    end: int | None = None,
    *,
    config: ForecastConfig | None = None,
    special_days: SpecialDays | None = None,
) -> ForecastSeries:
    """Forecast offered volume and AHT per queue for the intervals in ``[start, end)`` (ms).

    ``start`` defaults to the end of the history and ``end`` to a week after ``start``. Only
    history before ``start`` is used, so a start inside the history re-forecasts a known period.
    Needs at least a week of history before ``start``; :class:`ForecastError` otherwise.
    """
    config = config or ForecastConfig()
    interval_s = history.interval_s
    step = interval_s * 1000
    start = history.end if start is None else start
    _check_aligned("forecast start", start, interval_s)
    end = start + WEEK_MS if end is None else end
    _check_aligned("forecast end", end, interval_s)
    if end <= start:
        raise ForecastError(f"forecast end {_iso(end)} is not after its start {_iso(start)}")
    if not history.volumes:
        raise ForecastError("no history: no queue has any contacts")
    if start <= history.start:
        raise ForecastError(f"no history before the forecast start {_iso(start)}")
    train_end = min(start, history.end)
    if train_end - history.start < WEEK_MS:
        days = (train_end - history.start) / DAY_MS
        raise ForecastError(
            f"needs at least one week of history before {_iso(start)}, got {days:g} days"
        )
    specials = _specials(special_days)
    grid = _Grid(interval_s, history.tz)
    slots = grid.slots
    week_slots = 7 * slots

    # cell -> how many UTC intervals fall in it (2 in the hour repeated when clocks go back)
    observed: dict[Cell, int] = {}
    cell_of: dict[int, Cell] = {}
    for ts in range(history.start, train_end, step):
        c = grid.cell(ts)
        cell_of[ts] = c
        observed[c] = observed.get(c, 0) + 1
    cut_day, cut_slot = grid.cell(start)

    def pos(c: Cell) -> int:
        return (c[0] - cut_day) * slots + c[1] - cut_slot

    first_day = cell_of[history.start][0]
    first_pos = pos(cell_of[history.start])
    last_pos = pos(grid.cell(train_end))
    spoiled = {pos(c) // week_slots for c in observed if c[0] in specials}
    trend_weeks = [
        j
        for j in range(-config.trend_weeks, 0)
        if j * week_slots >= first_pos and (j + 1) * week_slots <= last_pos and j not in spoiled
    ]

    refs_cache: dict[tuple[int, int], _Refs] = {}

    def refs(weekday: int, slot: int) -> _Refs:
        key = (weekday, slot)
        found = refs_cache.get(key)
        if found is not None:
            return found
        latest = cut_day if slot < cut_slot else cut_day - 1
        day = latest - (_weekday(latest) - weekday) % 7
        cells: list[tuple[Cell, float]] = []
        weight = 1.0
        while len(cells) < config.weeks and day >= first_day:
            c = (day, slot)
            if c in observed and day not in specials:
                cells.append((c, weight))
            day -= 7
            weight *= config.decay
        if not cells:
            raise ForecastError(
                f"no regular {WEEKDAYS[weekday]} {_slot_name(slot, interval_s)} (local time) in "
                f"the history before {_iso(start)} to forecast from"
            )
        total = sum(w for _, w in cells)
        normalised = tuple((c, w / total) for c, w in cells)
        center = sum(w * (pos(c) // week_slots) for c, w in normalised)
        found = _Refs(normalised, center)
        refs_cache[key] = found
        return found

    no_refs = _Refs((), 0.0)
    targets: list[tuple[int, _Refs, float, int]] = []
    for ts in range(start, end, step):
        c = grid.cell(ts)
        spec = specials.get(c[0])
        weekday = _weekday(c[0])
        multiplier = 1.0
        if spec is not None:
            multiplier = spec.multiplier
            if spec.like_weekday is not None:
                weekday = spec.like_weekday
        # A closed day needs no history of its weekday.
        ref = no_refs if multiplier == 0 else refs(weekday, c[1])
        targets.append((ts, ref, multiplier, max(0, pos(c) // week_slots)))

    out: dict[str, tuple[Forecast, ...]] = {}
    growth: dict[str, float | None] = {}
    recent_from = -config.weeks * week_slots
    for queue, series in history.volumes.items():
        # Per cell: offered, handled, handle time, each the mean over the cell's UTC intervals.
        cells: dict[Cell, tuple[float, float, float]] = {}
        totals = dict.fromkeys(trend_weeks, 0.0)
        aht_recent = [0.0, 0.0]  # handle time, handled: the fallback AHT
        aht_all = [0.0, 0.0]
        for ts, vol in series.items():
            if ts >= train_end:
                break
            c = cell_of[ts]
            n = observed[c]
            o, h, t = cells.get(c, (0.0, 0.0, 0.0))
            cells[c] = (o + vol.offered / n, h + vol.handled / n, t + vol.handle_time_s / n)
            p = pos(c)
            j = p // week_slots
            if j in totals:
                totals[j] += vol.offered
            if c[0] not in specials:
                aht_all[0] += vol.handle_time_s
                aht_all[1] += vol.handled
                if p >= recent_from:
                    aht_recent[0] += vol.handle_time_s
                    aht_recent[1] += vol.handled
        trend = _Trend(sorted(totals.items()), config.damping)
        growth[queue] = trend.growth()
        fallback = next((t / h for t, h in (aht_recent, aht_all) if h > 0), 0.0)
        forecasts: list[Forecast] = []
        for ts, ref, multiplier, week in targets:
            offered = handled = handle_time = 0.0
            for rc, w in ref.cells:
                value = cells.get(rc)
                if value is not None:
                    offered += w * value[0]
                    handled += w * value[1]
                    handle_time += w * value[2]
            aht = handle_time / handled if handled > 0 else fallback
            factor = trend.factor(week, ref.center)
            forecasts.append(Forecast(queue, ts, offered * factor * multiplier, aht))
        out[queue] = tuple(forecasts)
    return ForecastSeries(interval_s, start, end, out, growth)


# ---------------------------------------------------------------------------------------------
# Back-test


@dataclass(frozen=True, slots=True)
class BacktestPoint:
    """Forecast against actual for one queue and interval of back-test week ``week`` (1 = the
    oldest week tested)."""

    queue: str
    start: int
    week: int
    actual_offered: int
    forecast_offered: float
    actual_handled: int
    actual_handle_time_s: float
    forecast_aht_s: float

    @property
    def actual_aht_s(self) -> float | None:
        """The interval's actual AHT, ``None`` when nothing was handled."""
        if self.actual_handled == 0:
            return None
        return self.actual_handle_time_s / self.actual_handled


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Volume forecast accuracy over a set of intervals (fractions: 0.05 is 5 %).

    ``mape`` is the mean of ``|actual - forecast| / actual`` over the ``intervals`` minus the
    ``zero_intervals`` whose actual is 0 (they have no percentage error; they still count in
    WAPE). ``wape`` is ``sum |actual - forecast| / sum actual``; ``bias`` is
    ``sum (forecast - actual) / sum actual``. ``handle_time_wape`` is
    ``sum |actual handle time - actual handled x forecast AHT| / sum actual handle time``: the AHT
    error weighted by the work it applies to. A figure is ``None`` when its denominator is 0.
    """

    intervals: int
    zero_intervals: int
    mape: float | None
    wape: float | None
    bias: float | None
    handle_time_wape: float | None


@dataclass(frozen=True)
class Backtest:
    """Accuracy of forecasting each of the last ``weeks`` weeks from the history before it.

    ``week_starts`` are the tested weeks' starts (ms); ``series`` has one point per queue and
    interval, in time order per queue, for charts.
    """

    weeks: int
    week_starts: tuple[int, ...]
    by_queue: Mapping[str, Accuracy]
    overall: Accuracy
    series: tuple[BacktestPoint, ...]


def _accuracy(points: Sequence[BacktestPoint]) -> Accuracy:
    abs_err = signed = actual = 0.0
    ape: list[float] = []
    ht_err = ht_actual = 0.0
    for p in points:
        err = p.forecast_offered - p.actual_offered
        abs_err += abs(err)
        signed += err
        actual += p.actual_offered
        if p.actual_offered > 0:
            ape.append(abs(err) / p.actual_offered)
        ht_err += abs(p.actual_handle_time_s - p.actual_handled * p.forecast_aht_s)
        ht_actual += p.actual_handle_time_s
    return Accuracy(
        intervals=len(points),
        zero_intervals=len(points) - len(ape),
        mape=sum(ape) / len(ape) if ape else None,
        wape=abs_err / actual if actual > 0 else None,
        bias=signed / actual if actual > 0 else None,
        handle_time_wape=ht_err / ht_actual if ht_actual > 0 else None,
    )


def backtest(
    history: History,
    weeks: int = 4,
    *,
    config: ForecastConfig | None = None,
    special_days: SpecialDays | None = None,
) -> Backtest:
    """Forecast each of the last ``weeks`` weeks of ``history`` from the history before it and
    compare with what happened. Needs ``weeks + 1`` weeks of history (:class:`ForecastError`)."""
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ForecastError(f"weeks must be a whole number >= 1, got {weeks!r}")
    first = history.end - weeks * WEEK_MS
    if first - history.start < WEEK_MS:
        days = (history.end - history.start) / DAY_MS
        raise ForecastError(
            f"a back-test of {weeks} week(s) needs at least {weeks + 1} weeks of history, "
            f"got {days:g} days"
        )
    starts = tuple(first + i * WEEK_MS for i in range(weeks))
    per_queue: dict[str, list[BacktestPoint]] = {q: [] for q in history.queues}
    for number, week_start in enumerate(starts, 1):
        result = forecast(
            history,
            week_start,
            week_start + WEEK_MS,
            config=config,
            special_days=special_days,
        )
        for queue, forecasts in result.queues.items():
            points = per_queue[queue]
            for f in forecasts:
                vol = history.volume(queue, f.start)
                points.append(
                    BacktestPoint(
                        queue=queue,
                        start=f.start,
                        week=number,
                        actual_offered=vol.offered,
                        forecast_offered=f.offered,
                        actual_handled=vol.handled,
                        actual_handle_time_s=vol.handle_time_s,
                        forecast_aht_s=f.aht_s,
                    )
                )
    series = tuple(p for points in per_queue.values() for p in points)
    return Backtest(
        weeks=weeks,
        week_starts=starts,
        by_queue={q: _accuracy(points) for q, points in per_queue.items()},
        overall=_accuracy(series),
        series=series,
    )
