"""Forecasting: history from events and CSV, seasonal baseline, trend, special days, back-test."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    ContactAbandoned,
    ContactAnswered,
    ContactEnded,
    ContactOffered,
    ContactOverflowed,
    ContactQueued,
    Event,
    EventBody,
)
from glasshouse.domain.wfm.forecast import (
    DAY_MS,
    WEEK_MS,
    Forecast,
    ForecastConfig,
    ForecastError,
    History,
    HistoryCsvError,
    IntervalVolume,
    SpecialDay,
    backtest,
    forecast,
    time_zone,
)

HALF_HOUR = 1800
SHANGHAI = ZoneInfo("Asia/Shanghai")
NO_TREND = ForecastConfig(weeks=1, trend_weeks=0)


def _ms(when: datetime) -> int:
    return int(when.timestamp()) * 1000


def _daily(
    weeks: Sequence[Sequence[int]], first: date = date(2024, 1, 1), aht_s: float = 300.0
) -> History:
    """A one-queue history with one interval per UTC day, from a Monday: handy by hand."""
    start = _ms(datetime(first.year, first.month, first.day, tzinfo=UTC))
    volumes = {
        start + i * DAY_MS: IntervalVolume(n, n, n * aht_s)
        for i, n in enumerate(v for week in weeks for v in week)
    }
    return History(86_400, start, start + len(weeks) * WEEK_MS, {"q": volumes})


def _offered(series: Sequence[Forecast]) -> list[float]:
    return [f.offered for f in series]


# ---------------------------------------------------------------------------------------------
# A synthetic history with a known weekly pattern, a trend and noise

DOW = (1.0, 0.95, 0.9, 0.9, 0.85, 0.5, 0.3)


def _profile(slot: int) -> float:
    """Local time of day: closed 22:00-07:00, a morning and an afternoon peak."""
    hour = slot / 2
    if hour < 7 or hour >= 22:
        return 0.0
    return math.exp(-(((hour - 10.5) / 2.0) ** 2)) + 0.8 * math.exp(-(((hour - 15) / 2.5) ** 2))


def _true_aht(slot: int) -> float:
    return 240.0 if slot < 36 else 330.0


def _expected(week: int, day: int, slot: int, growth: float) -> float:
    return 200 * DOW[day] * _profile(slot) * (1 + growth * week)


FIRST_MONDAY = _ms(datetime(2024, 1, 1, tzinfo=SHANGHAI))


def _synthetic(weeks: int, growth: float, noise: float = 0.05, seed: int = 1) -> History:
    rng = random.Random(seed)
    volumes: dict[int, IntervalVolume] = {}
    for i in range(weeks * 7 * 48):
        week, rest = divmod(i, 7 * 48)
        day, slot = divmod(rest, 48)
        mean = _expected(week, day, slot, growth)
        offered = max(0, round(mean * (1 + rng.gauss(0, noise))))
        if offered:
            volumes[FIRST_MONDAY + i * HALF_HOUR * 1000] = IntervalVolume(
                offered, offered, offered * _true_aht(slot)
            )
    end = FIRST_MONDAY + weeks * WEEK_MS
    return History(HALF_HOUR, FIRST_MONDAY, end, {"sales": volumes}, SHANGHAI)


def _truth(ts: int, growth: float) -> tuple[float, int]:
    week, rest = divmod((ts - FIRST_MONDAY) // (HALF_HOUR * 1000), 7 * 48)
    day, slot = divmod(rest, 48)
    return _expected(week, day, slot, growth), slot


def test_recovers_the_weekly_pattern_and_the_trend() -> None:
    growth = 0.03  # +3 % of the first week's volume every week
    history = _synthetic(10, growth)
    result = forecast(history, end=history.end + 2 * WEEK_MS, config=ForecastConfig(damping=1.0))
    series = result.queue("sales")
    assert len(series) == 2 * 7 * 48
    abs_err = total = 0.0
    for f in series:
        truth, slot = _truth(f.start, growth)
        abs_err += abs(f.offered - truth)
        total += truth
        if truth > 50:  # busy intervals: each within 8 % of the truth
            assert f.offered == pytest.approx(truth, rel=0.08)
            assert f.aht_s == pytest.approx(_true_aht(slot), rel=1e-9)
        if truth == 0:
            assert f.offered == 0
    assert abs_err / total < 0.03
    for week in (10, 11):  # weekly totals within 2 %: the trend carries on
        got = sum(f.offered for f in series if (f.start - FIRST_MONDAY) // WEEK_MS == week)
        want = sum(_expected(week, d, s, growth) for d in range(7) for s in range(48))
        assert got == pytest.approx(want, rel=0.02)
    # The slope over the last week's level: 0.03 x 200 / (1 + 9 x 0.03) x 200.
    assert result.weekly_growth["sales"] == pytest.approx(growth / (1 + 9 * growth), abs=0.004)


def test_without_a_trend_the_forecast_stays_level() -> None:
    history = _synthetic(8, 0.0, seed=2)
    result = forecast(history)
    growth = result.weekly_growth["sales"]
    assert growth is not None and abs(growth) < 0.005
    total = sum(f.offered for f in result.queue("sales"))
    want = sum(_expected(0, d, s, 0.0) for d in range(7) for s in range(48))
    assert total == pytest.approx(want, rel=0.02)


def test_special_days_and_weekdays_are_local_dates() -> None:
    history = _synthetic(3, 0.0, noise=0.0)  # ends at Monday 2024-01-22 00:00 in Shanghai
    as_utc = History(history.interval_s, history.start, history.end, history.volumes, UTC)
    closed = {date(2024, 1, 22): SpecialDay(multiplier=0.0, name="closed")}
    plain = _offered(forecast(history, config=NO_TREND).queue("sales"))
    local = _offered(forecast(history, config=NO_TREND, special_days=closed).queue("sales"))
    utc = _offered(forecast(as_utc, config=NO_TREND, special_days=closed).queue("sales"))
    # Shanghai's 22 January is intervals 0-47 of the forecast; UTC's is intervals 16-63.
    assert local == [0.0] * 48 + plain[48:]
    assert utc == plain[:16] + [0.0] * 48 + plain[64:]
    assert history.local_cell(history.end + 15 * HALF_HOUR * 1000) == (date(2024, 1, 22), 15)
    assert as_utc.local_cell(history.end + 15 * HALF_HOUR * 1000) == (date(2024, 1, 21), 47)


# ---------------------------------------------------------------------------------------------
# The forecast by hand, on daily intervals


def test_baseline_weights_recent_weeks_more() -> None:
    history = _daily([[10, 20, 30, 40, 50, 60, 70], [40, 20, 60, 40, 50, 0, 70]])
    result = forecast(history, config=ForecastConfig(weeks=2, decay=0.5, trend_weeks=0))
    # (1 x newest + 0.5 x older) / 1.5
    assert _offered(result.queue("q")) == pytest.approx([30, 20, 50, 40, 50, 20, 70])
    assert [f.aht_s for f in result.queue("q")] == pytest.approx([300.0] * 7)


def test_trend_line_through_weekly_totals_damped() -> None:
    pattern = [1, 2, 3, 4, 5, 6, 7]
    history = _daily([[level * p for p in pattern] for level in (10, 11, 12)])
    # Weekly totals 280, 308, 336: the line rises 28 a week.
    straight = forecast(history, config=ForecastConfig(weeks=1, trend_weeks=3, damping=1.0))
    # Baseline = last week (level 336); next week on the line: 364.
    assert _offered(straight.queue("q")) == pytest.approx([13 * p for p in pattern])
    assert straight.weekly_growth["q"] == pytest.approx(28 / 336)
    damped = forecast(
        history,
        end=history.end + 2 * WEEK_MS,
        config=ForecastConfig(weeks=1, trend_weeks=3, damping=0.5),
    )
    # Week 1 ahead: 336 + 28 x 0.5; week 2: 336 + 28 x (0.5 + 0.25).
    got = _offered(damped.queue("q"))
    assert got[:7] == pytest.approx([p * 12 * 350 / 336 for p in pattern])
    assert got[7:] == pytest.approx([p * 12 * 357 / 336 for p in pattern])


# ---------------------------------------------------------------------------------------------
# Special days


REGULAR = [100, 90, 80, 80, 70, 40, 20]


def test_a_holiday_in_the_history_is_left_out_of_baseline_and_trend() -> None:
    weeks = [list(REGULAR) for _ in range(4)]
    weeks[3][0] = 10  # Monday 22 January 2024 was a public holiday
    history = _daily(weeks)
    config = ForecastConfig(weeks=2, decay=0.5, trend_weeks=4, damping=1.0)
    unaware = forecast(history, config=config)
    assert unaware.queue("q")[0].offered < 80  # the holiday drags Monday and fakes a fall
    growth = unaware.weekly_growth["q"]
    assert growth is not None and growth < 0
    holiday = {date(2024, 1, 22): SpecialDay(like_weekday=6, name="holiday")}
    aware = forecast(history, config=config, special_days=holiday)
    assert _offered(aware.queue("q")) == pytest.approx(REGULAR)
    # The week with the holiday is out of the trend line: the three others are flat.
    assert aware.weekly_growth["q"] == pytest.approx(0.0)


def test_a_holiday_in_the_forecast_is_scaled_or_treated_like_another_weekday() -> None:
    history = _daily([REGULAR, REGULAR], aht_s=300.0)
    # Different AHT on Sundays (day 6 and day 13), to see which weekday a holiday borrows.
    volumes = dict(history.volumes["q"])
    for day in (6, 13):
        volumes[history.start + day * DAY_MS] = IntervalVolume(20, 20, 20 * 500.0)
    history = History(86_400, history.start, history.end, {"q": volumes})
    special: dict[date, SpecialDay | float] = {
        date(2024, 1, 17): SpecialDay(like_weekday=6, name="like a Sunday"),  # a Wednesday
        date(2024, 1, 19): 0.5,  # a Friday, half the usual volume
    }
    result = forecast(history, config=NO_TREND, special_days=special).queue("q")
    assert _offered(result) == [100, 90, 20, 80, 35, 40, 20]
    assert [f.aht_s for f in result] == [300, 300, 500, 300, 300, 300, 500]


def test_a_weekday_without_a_regular_day_in_the_history_is_an_error() -> None:
    history = _daily([REGULAR])
    with pytest.raises(ForecastError, match=r"no regular Monday 00:00 \(local time\)"):
        forecast(history, special_days={date(2024, 1, 1): SpecialDay(multiplier=0.0)})
    # ... unless the day forecast is closed anyway.
    closed = {date(2024, 1, 1): 0.0, date(2024, 1, 8): 0.0}
    assert _offered(forecast(history, special_days=closed).queue("q")) == [0, *REGULAR[1:]]


# ---------------------------------------------------------------------------------------------
# Clock changes


def _constant(tz: str, first: datetime, days: int) -> History:
    start = _ms(first)
    end = start + days * DAY_MS
    ones = {ts: IntervalVolume(1, 1, 200.0) for ts in range(start, end, HALF_HOUR * 1000)}
    return History(HALF_HOUR, start, end, {"q": ones}, time_zone(tz))


def test_the_repeated_hour_when_clocks_go_back_gets_its_forecast_twice() -> None:
    paris = ZoneInfo("Europe/Paris")
    history = _constant("Europe/Paris", datetime(2024, 10, 7, tzinfo=paris), 14)
    start = _ms(datetime(2024, 10, 21, tzinfo=paris))
    end = _ms(datetime(2024, 10, 28, tzinfo=paris))
    result = forecast(history, start, end, config=ForecastConfig(trend_weeks=0)).queue("q")
    assert len(result) == 7 * 48 + 2  # Sunday 27 October has 25 hours
    assert all(f.offered == pytest.approx(1.0) for f in result)


def test_a_history_across_the_missing_hour_forecasts_every_local_slot() -> None:
    paris = ZoneInfo("Europe/Paris")
    history = _constant("Europe/Paris", datetime(2024, 3, 18, tzinfo=paris), 21)
    result = forecast(history).queue("q")  # Sunday 31 March (23 hours) is in the history
    assert len(result) == 7 * 48
    assert all(f.offered == pytest.approx(1.0) for f in result)
    assert all(f.aht_s == pytest.approx(200.0) for f in result)


# ---------------------------------------------------------------------------------------------
# Back-test


def test_backtest_mape_and_wape_by_hand() -> None:
    weeks = [
        [10, 20, 30, 40, 50, 0, 5],
        [12, 18, 30, 44, 50, 2, 0],
        [11, 20, 33, 40, 55, 0, 4],
    ]
    history = _daily(weeks)
    flat = {ts: IntervalVolume(10, 10, 3000.0) for ts in history.interval_starts()}
    history = History(86_400, history.start, history.end, {**history.volumes, "flat": flat})
    result = backtest(history, weeks=2, config=NO_TREND)  # each week forecast = the week before
    assert result.week_starts == (history.start + WEEK_MS, history.start + 2 * WEEK_MS)
    q = result.by_queue["q"]
    # Week 2 against week 1: errors 2 2 0 4 0 2 5 on actuals 12 18 30 44 50 2 0 (0 left out);
    # week 3 against week 2: errors 1 2 3 4 5 2 4 on actuals 11 20 33 40 55 0 4.
    apes = [2 / 12, 2 / 18, 0, 4 / 44, 0, 2 / 2, 1 / 11, 2 / 20, 3 / 33, 4 / 40, 5 / 55, 4 / 4]
    assert (q.intervals, q.zero_intervals) == (14, 2)
    assert q.mape == pytest.approx(sum(apes) / 12)
    assert q.wape == pytest.approx((15 + 21) / (156 + 163))
    # Forecast totals 155 and 156 against actual totals 156 and 163.
    assert q.bias == pytest.approx((155 - 156 + 156 - 163) / 319)
    assert q.handle_time_wape == pytest.approx(0.0)
    assert result.by_queue["flat"].mape == 0.0
    overall = result.overall
    assert overall.mape == pytest.approx(sum(apes) / (12 + 14))
    assert overall.wape == pytest.approx(36 / (319 + 140))
    chart = [
        (p.week, p.actual_offered, p.forecast_offered) for p in result.series if p.queue == "q"
    ]
    assert chart[:3] == [(1, 12, 10.0), (1, 18, 20.0), (1, 30, 30.0)]
    assert chart[-1] == (2, 4, 0.0)
    assert len(result.series) == 28


def test_backtest_of_the_synthetic_history_is_accurate() -> None:
    result = backtest(_synthetic(8, 0.02, seed=3), weeks=2)
    assert result.overall.wape is not None and result.overall.wape < 0.06
    assert result.overall.zero_intervals > 0  # the closed night intervals, left out of MAPE
    assert result.overall.handle_time_wape is not None
    assert result.overall.handle_time_wape < 0.01


def test_backtest_needs_a_week_of_training_before_the_weeks_tested() -> None:
    with pytest.raises(ForecastError, match=r"needs at least 3 weeks of history, got 14 days"):
        backtest(_daily([REGULAR, REGULAR]), weeks=2)
    with pytest.raises(ForecastError, match="weeks must be"):
        backtest(_daily([REGULAR, REGULAR]), weeks=0)


# ---------------------------------------------------------------------------------------------
# CSV import

GOOD_CSV = """\ufeffQueue,interval_start,offered,handled,handle_time_s,abandoned
sales,2024-03-04T08:00:00+08:00,12,10,2400.5,2

sales,2024-03-04T00:30:00Z,3,3,600,0
support,2024-03-04T01:00:00+00:00,0,0,0,0
"""


def test_csv_import() -> None:
    history = History.from_csv(io.StringIO(GOOD_CSV), HALF_HOUR, "Asia/Shanghai")
    t0 = _ms(datetime(2024, 3, 4, tzinfo=UTC))
    assert (history.start, history.end) == (t0, t0 + 3 * HALF_HOUR * 1000)
    assert history.queues == ("sales", "support")
    assert history.volume("sales", t0) == IntervalVolume(12, 10, 2400.5)
    assert history.volume("sales", t0 + HALF_HOUR * 1000) == IntervalVolume(3, 3, 600.0)
    assert history.volume("support", t0 + 2 * HALF_HOUR * 1000) == IntervalVolume()
    assert history.local_cell(t0) == (date(2024, 3, 4), 16)


def _csv_problems(text: str, start: int | None = None, end: int | None = None) -> list[str]:
    with pytest.raises(HistoryCsvError) as info:
        History.from_csv(io.StringIO(text), HALF_HOUR, start=start, end=end)
    assert "not imported" in str(info.value)
    return [str(p) for p in info.value.problems]


def test_csv_bad_rows_are_all_reported_by_line_and_column_and_nothing_is_imported() -> None:
    text = (
        "queue,interval_start,offered,handled,handle_time_s\n"
        "sales,2024-03-04T00:00:00Z,5,5,900\n"
        ",2024-03-04T00:00:00Z,5,5,900\n"
        "sales,2024-03-04T00:10:00Z,5,5,900\n"
        "sales,2024-03-04 01:00,-1,x,nan\n"
        "sales,yesterday,1,0,30\n"
        "sales,2024-03-04T00:00:00Z,1,1,1\n"
        "sales,2024-03-04T02:00:00Z\n"
    )
    assert _csv_problems(text) == [
        "3: queue: must not be empty",
        "4: interval_start: 2024-03-04T00:10:00Z is not on a 30-minute interval boundary (UTC)",
        "5: interval_start: '2024-03-04 01:00' has no UTC offset (add Z or +hh:mm)",
        "5: offered: must be a whole number >= 0, got '-1'",
        "5: handled: must be a whole number >= 0, got 'x'",
        "5: handle_time_s: must be a number of seconds >= 0, got 'nan'",
        "6: interval_start: not an ISO 8601 date and time: 'yesterday'",
        "6: handle_time_s: is 30 but handled is 0",
        "7: interval_start: duplicate of line 2 (queue 'sales', 2024-03-04T00:00:00Z)",
        "8: offered: missing (the row is too short)",
        "8: handled: missing (the row is too short)",
        "8: handle_time_s: missing (the row is too short)",
    ]


def test_csv_header_and_span_problems() -> None:
    assert _csv_problems("queue,offered,handled\n") == [
        "1: header: missing column(s) interval_start, handle_time_s"
    ]
    assert _csv_problems("") == ["1: header: the file is empty"]
    assert _csv_problems("queue,interval_start,offered,handled,handle_time_s\n") == [
        "2: row: no data rows (give start and end)"
    ]
    t0 = _ms(datetime(2024, 3, 4, tzinfo=UTC))
    late = "queue,interval_start,offered,handled,handle_time_s\nq,2024-03-05T00:00:00Z,1,1,9\n"
    assert _csv_problems(late, start=t0, end=t0 + DAY_MS) == [
        "2: interval_start: 2024-03-05T00:00:00Z is outside the history "
        "[2024-03-04T00:00:00Z, 2024-03-05T00:00:00Z)"
    ]


# ---------------------------------------------------------------------------------------------
# History from the event log

T0 = _ms(datetime(2024, 1, 7, 23, 0, tzinfo=UTC))  # Sunday 23:00 UTC = Monday 07:00 in Shanghai
MIN = 60_000
HALF = HALF_HOUR * 1000


def _events() -> list[Event]:
    """A small log; times are minutes after T0, in order."""
    at: list[tuple[float, EventBody, bool]] = [
        # c1: queued 23:10 in q1, answered 23:12, ACW ends 23:21:30 -> 570 s in q1's 23:00.
        (10, ContactQueued("c1", "q1"), False),
        (11.5, ContactOffered("c1", "q1", "a1"), False),
        (12, ContactAnswered("c1", "q1", "a1"), False),
        (20, ContactEnded("c1", "a1"), False),
        (20, AgentAcwStarted("a1", "c1"), False),
        (21.5, AgentAcwEnded("a1", "c1"), False),
        # c2: queued a millisecond before 23:30 -> q1's 23:00; abandons.
        (30 - 1 / MIN, ContactQueued("c2", "q1"), False),
        # c3: queued 23:30 in q1, overflows at 23:45 to q2, answered there after midnight.
        (30, ContactQueued("c3", "q1"), False),
        (31, ContactAbandoned("c2", "q1"), False),
        (45, ContactOverflowed("c3", "q1", "q2", "max_wait"), False),
        (45, ContactQueued("c3", "q2"), False),
        (50, ContactQueued("t1", "q2"), True),  # a test contact: not counted
        (62, ContactAnswered("c3", "q2", "a2"), False),
        (65, ContactEnded("c3", "a2"), False),
        (65, AgentAcwStarted("a2", "c3"), False),
        (66, AgentAcwEnded("a2", "c3"), False),
        # c4: queued 00:10, answered, still talking when the log ends: offered, not handled.
        (70, ContactQueued("c4", "q1"), False),
        (71, ContactAnswered("c4", "q1", "a1"), False),
    ]
    return [
        Event("acme", T0 + round(minutes * MIN), body, seq=seq, test=test)
        for seq, (minutes, body, test) in enumerate(at, 1)
    ]


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "+08:00", timedelta(hours=8)])
def test_history_from_events(tz: str | timedelta) -> None:
    history = History.from_events(_events(), HALF_HOUR, tz)
    assert (history.start, history.end) == (T0, T0 + 3 * HALF)
    assert history.volumes == {
        "q1": {
            T0: IntervalVolume(2, 1, 570.0),
            T0 + HALF: IntervalVolume(1, 0, 0.0),
            T0 + 2 * HALF: IntervalVolume(1, 0, 0.0),
        },
        "q2": {T0 + HALF: IntervalVolume(1, 1, 240.0)},
    }
    # Seasonality keys: Monday 8 January, 07:00 and 07:30 local time.
    assert history.local_cell(T0) == (date(2024, 1, 8), 14)
    assert history.local_cell(T0 + HALF) == (date(2024, 1, 8), 15)


def test_history_from_events_in_utc_and_in_a_given_span() -> None:
    history = History.from_events(_events(), 900, start=T0 + 30 * MIN, end=T0 + 60 * MIN)
    assert history.volumes == {
        "q1": {T0 + 30 * MIN: IntervalVolume(1, 0, 0.0)},
        "q2": {T0 + 45 * MIN: IntervalVolume(1, 1, 240.0)},
    }
    assert history.local_cell(T0) == (date(2024, 1, 7), 92)


def test_history_from_events_refuses_mixed_tenants_and_time_going_back() -> None:
    events = _events()
    other = Event("globex", events[1].ts, events[1].body, seq=99)
    with pytest.raises(ForecastError, match="several tenants"):
        History.from_events([events[0], other], HALF_HOUR)
    assert History.from_events([events[0], other], HALF_HOUR, tenant="acme").volumes == {
        "q1": {T0: IntervalVolume(1, 0, 0.0)}
    }
    with pytest.raises(ForecastError, match="goes backwards"):
        History.from_events([events[1], events[0]], HALF_HOUR)
    with pytest.raises(ForecastError, match="no events"):
        History.from_events([], HALF_HOUR)


# ---------------------------------------------------------------------------------------------
# Validation

ONE_WEEK = _daily([REGULAR])


def _short() -> History:
    start = _ms(datetime(2024, 1, 1, tzinfo=UTC))
    return History(86_400, start, start + 6 * DAY_MS, {"q": {start: IntervalVolume(1)}})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: History(1000, 0, 0, {}), "interval_s must be a whole number of minutes"),
        (lambda: History(1800, 60_000, WEEK_MS, {}), "not on a 30-minute interval boundary"),
        (lambda: History(1800, 0, WEEK_MS, {"q": {5: IntervalVolume(1)}}), "boundary"),
        (lambda: History(1800, 0, DAY_MS, {"q": {DAY_MS: IntervalVolume(1)}}), "outside"),
        (lambda: History(1800, 0, DAY_MS, {"q": {0: IntervalVolume(-1)}}), "negative"),
        (lambda: forecast(History(1800, 0, WEEK_MS, {})), "no history"),
        (lambda: forecast(ONE_WEEK, ONE_WEEK.end + 1), "not on a 1440-minute"),
        (lambda: forecast(_short()), "needs at least one week of history .* got 6 days"),
        (lambda: forecast(ONE_WEEK, end=ONE_WEEK.end), "not after its start"),
        (lambda: forecast(ONE_WEEK, ONE_WEEK.start), "no history before"),
        (lambda: ForecastConfig(weeks=0), "weeks must be a whole number >= 1"),
        (lambda: ForecastConfig(decay=0.0), r"decay must be in \(0, 1\]"),
        (lambda: ForecastConfig(damping=1.5), "damping must be in"),
        (lambda: SpecialDay(multiplier=-1), "multiplier must be a number >= 0"),
        (lambda: SpecialDay(like_weekday=7), "like_weekday must be 0"),
        (
            lambda: forecast(ONE_WEEK, special_days={datetime(2024, 1, 8): 0.5}),
            "keyed by local date",
        ),
        (lambda: time_zone("Mars/Olympus"), "unknown time zone"),
        (lambda: time_zone("+25:00"), "out of range"),
    ],
)
def test_bad_input_is_a_forecast_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ForecastError, match=message):
        call()
