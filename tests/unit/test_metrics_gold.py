"""Hand-built logs with hand-computed figures: thresholds at their exact boundaries, interval
boundaries, overflow, callbacks, ring-no-answer, hold, justified long, test events, agent time
split across intervals, rolling windows, call loss, and logs that do not fit the lifecycle.

Every figure is checked on the batch report, and the live report is required to be identical.
"""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    CallbackDialing,
    CallbackFailed,
    CallbackRequested,
    ContactAbandoned,
    ContactAnswered,
    ContactArrived,
    ContactBlocked,
    ContactDispositioned,
    ContactEnded,
    ContactHeld,
    ContactIvrAbandoned,
    ContactIvrCompleted,
    ContactOffered,
    ContactOfferWithdrawn,
    ContactOverflowed,
    ContactQueued,
    ContactRetrieved,
    ContactRingNoAnswer,
    ContactTimedOut,
    Event,
    EventBody,
    QueueConfigured,
    event_from_json,
)
from glasshouse.domain.metrics import (
    LiveMetrics,
    MetricsConfig,
    MetricsError,
    QueueThresholds,
    Report,
    compute,
    compute_rolling,
    config_from_events,
)

T0 = 1_704_099_600_000  # 2024-01-01T09:00:00Z, on a 15- and 30-minute boundary
Q15 = T0 + 900_000  # 09:15
DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def at(seconds: float) -> int:
    """T0 + ``seconds``, in ms."""
    return T0 + round(seconds * 1000)


class Log:
    """Events added in any order, given in time order (stable) with seq 1, 2, 3..."""

    def __init__(self, tenant: str = "acme") -> None:
        self.tenant = tenant
        self._items: list[tuple[int, int, EventBody, bool]] = []

    def add(self, seconds: float, *bodies: EventBody, test: bool = False) -> Log:
        for body in bodies:
            self._items.append((at(seconds), len(self._items), body, test))
        return self

    @property
    def events(self) -> list[Event]:
        ordered = sorted(self._items, key=lambda item: (item[0], item[1]))
        return [
            Event(self.tenant, ts, body, seq=i, test=test)
            for i, (ts, _, body, test) in enumerate(ordered, 1)
        ]

    def agent(self, aid: str, seconds: float) -> Log:
        return self.add(seconds, AgentLoggedIn(aid), AgentReady(aid))

    def answered(
        self,
        cid: str,
        queue: str,
        aid: str,
        queued: float,
        answered: float,
        ended: float,
        acw_end: float,
        offered: float | None = None,
    ) -> Log:
        self.add(queued, ContactQueued(cid, queue))
        self.add(queued if offered is None else offered, ContactOffered(cid, queue, aid))
        self.add(answered, ContactAnswered(cid, queue, aid))
        self.add(ended, ContactEnded(cid, aid), AgentAcwStarted(aid, cid))
        return self.add(acw_end, AgentAcwEnded(aid, cid))

    def abandoned(self, cid: str, queue: str, queued: float, left: float) -> Log:
        self.add(queued, ContactQueued(cid, queue))
        return self.add(left, ContactAbandoned(cid, queue))


def both(events: list[Event], config: MetricsConfig | None = None, **kwargs: Any) -> Report:
    """The batch report, after checking that the live one is identical."""
    config = config or MetricsConfig()
    report = compute(events, config, **kwargs)
    live = LiveMetrics(config, tenant=kwargs.get("tenant"))
    for event in events:
        live.ingest(event)
    assert live.report(now_ms=kwargs.get("as_of_ms")) == report
    return report


# ---------------------------------------------------------------------------------------------
# Thresholds


def boundary_log() -> Log:
    log = Log().agent("a1", -60).agent("a2", -60)
    log.abandoned("c1", "q", 0, 5.000)  # exactly T_short: short
    log.abandoned("c2", "q", 0, 5.001)  # just over T_short
    log.answered("c3", "q", "a1", 0, 20.000, 30, 30)  # exactly T: within
    log.answered("c4", "q", "a2", 0, 20.001, 30, 30)  # just over T
    log.abandoned("c5", "q", 0, 20.000)  # exactly T: not abandoned after T
    log.abandoned("c6", "q", 0, 20.001)  # abandoned after T
    return log


def test_thresholds_at_their_exact_boundaries() -> None:
    q = both(boundary_log().events).queue_totals["q"]
    assert (q.offered, q.answered, q.abandoned) == (6, 2, 4)
    assert q.short_abandoned == 1  # 5.000 s <= 5 s; 5.001 s is not short
    assert q.answered_within == 1  # 20.000 s <= 20 s; 20.001 s is not
    assert q.abandoned_after == 1  # 20.001 s > 20 s; 20.000 s is not
    assert q.answered_queue_ms == 40_001
    assert q.abandoned_queue_ms == 5_000 + 5_001 + 20_000 + 20_001
    assert q.abandon_rate == Fraction(4 - 1, 6 - 1)
    assert q.service_level == Fraction(1, 2 + 4 - 1)
    assert q.asa_ms == Fraction(40_001, 2)
    assert q.average_queue_ms == Fraction(40_001 + 50_002, 6)
    assert q.average_abandon_ms == Fraction(50_002, 4)
    assert q.thresholds == QueueThresholds(20, 5)


def test_per_queue_thresholds_apply_and_are_stated() -> None:
    config = MetricsConfig(
        queue_thresholds={"q": QueueThresholds(sl_threshold_s=30, short_abandon_s=0)}
    )
    q = both(boundary_log().events, config).queue_totals["q"]
    assert q.thresholds == QueueThresholds(30, 0)
    assert q.short_abandoned == 0  # nothing abandons within 0 s
    assert q.answered_within == 2
    assert q.abandoned_after == 0


def test_zero_denominators_give_none() -> None:
    log = Log().add(0, ContactQueued("c1", "q"), ContactTimedOut("c1", "q"))
    q = both(log.events).queue_totals["q"]
    assert q.offered == 1 and q.timed_out == 1
    assert q.abandon_rate == 0  # (0 - 0) / (1 - 0)
    assert q.service_level is None  # answered + abandoned - short = 0
    assert q.asa_ms is None and q.average_queue_ms is None and q.average_abandon_ms is None
    assert q.aht_ms is None


# ---------------------------------------------------------------------------------------------
# Intervals


def interval_log() -> Log:
    log = Log().agent("a1", 0)
    log.answered("c1", "q", "a1", 899.999, 910, 1000, 1000)  # enters at 09:14:59.999
    log.abandoned("c2", "q", 900, 1000)  # enters at 09:15:00.000 exactly
    return log


def test_a_contact_counts_in_the_interval_it_entered_the_queue() -> None:
    report = both(interval_log().events)
    first = report.queue_intervals[("q", T0)]
    second = report.queue_intervals[("q", Q15)]
    assert (first.offered, first.answered, first.abandoned) == (1, 1, 0)
    assert first.answered_queue_ms == 10_001  # answered in the next interval, counted here
    assert first.handled == 1 and first.talk_ms == 90_000
    assert (second.offered, second.answered, second.abandoned) == (1, 0, 1)
    assert set(report.tenant_intervals) == {T0, Q15}
    assert report.queue_totals["q"].offered == 2


def test_thirty_minute_intervals() -> None:
    report = both(interval_log().events, MetricsConfig(interval_s=1800))
    assert list(report.queue_intervals) == [("q", T0)]
    assert report.queue_intervals[("q", T0)].offered == 2


def test_agent_time_is_split_across_interval_boundaries_by_the_clock() -> None:
    log = Log().agent("a1", 600)  # 09:10
    log.answered("c1", "q", "a1", 840, 851, 1200, 1260)  # queued and offered 09:14:00
    log.add(960, ContactHeld("c1", "a1")).add(1020, ContactRetrieved("c1", "a1"))
    log.add(1500, AgentLoggedOut("a1"))  # 09:25
    report = both(log.events)
    first = report.agent_intervals[("a1", T0)]
    second = report.agent_intervals[("a1", Q15)]
    total = report.agent_totals["a1"]
    # 09:00-09:15: logged in from 09:10, idle 4 min, rings 11 s, talks from 09:14:11
    assert first.logged_in_ms == 300_000
    assert first.ready_idle_ms == 240_000
    assert first.ringing_ms == 11_000
    assert (first.talk_ms, first.hold_ms, first.acw_ms) == (49_000, 0, 0)
    # 09:15-09:30: talk 09:15-09:16 and 09:17-09:20, hold 1 min, ACW 1 min, idle to 09:25
    assert second.logged_in_ms == 600_000
    assert (second.talk_ms, second.hold_ms, second.acw_ms) == (240_000, 60_000, 60_000)
    assert second.ready_idle_ms == 240_000
    assert total.logged_in_ms == 900_000
    assert (total.talk_ms, total.hold_ms, total.acw_ms, total.ringing_ms) == (
        289_000,
        60_000,
        60_000,
        11_000,
    )
    assert first.occupancy == Fraction(49, 49 + 240)
    assert second.occupancy == Fraction(360, 600)
    assert total.occupancy == Fraction(409, 409 + 480)
    # contact figures sit in the interval the contact entered the queue (09:00)
    assert (first.offered, first.answered, first.handled) == (1, 1, 1)
    assert (second.offered, second.answered, second.handled) == (0, 0, 0)
    assert first.answer_speed_ms == 11_000 and first.rings == 3  # ceil(11 / 5)
    assert (first.handled_talk_ms, first.handled_hold_ms, first.handled_acw_ms) == (
        289_000,
        60_000,
        60_000,
    )
    assert first.aht_ms == 409_000
    assert first.not_ready_ms == {} and second.not_ready_ms == {}
    q = report.queue_intervals[("q", T0)]
    assert (q.talk_ms, q.hold_ms, q.acw_ms, q.handled) == (289_000, 60_000, 60_000, 1)


def test_ring_period_changes_ring_counts() -> None:
    log = Log().agent("a1", 0)
    log.answered("c1", "q", "a1", 0, 11, 20, 20)
    log.answered("c2", "q", "a1", 30, 40, 50, 50)
    assert both(log.events).agent_totals["a1"].rings == 3 + 2  # ceil(11/5) + ceil(10/5)
    six = both(log.events, MetricsConfig(ring_period_s=6)).agent_totals["a1"]
    assert six.rings == 2 + 2
    assert six.average_rings == 2


def test_not_ready_time_by_reason_code() -> None:
    log = Log().add(0, AgentLoggedIn("a1"))
    log.add(120, AgentNotReady("a1", "break")).add(300, AgentReady("a1"))
    log.add(360, AgentLoggedOut("a1"))
    log.add(400, AgentLoggedIn("a1"), AgentNotReady("a1", "break"))
    a = both(log.events).agent_totals["a1"]
    assert a.not_ready_ms == {"login": 120_000, "break": 180_000}
    assert a.ready_idle_ms == 60_000
    assert a.logged_in_ms == 360_000
    assert a.not_ready_total_ms == 300_000
    assert a.occupancy == 0
    # an agent still logged in at the time of the report: the open state runs to it
    later = both(log.events, as_of_ms=at(460)).agent_totals["a1"]
    assert later.not_ready_ms == {"login": 120_000, "break": 240_000}
    assert later.logged_in_ms == 420_000


# ---------------------------------------------------------------------------------------------
# Overflow, callbacks, ring-no-answer, call loss


def test_overflow_counts_in_both_queues_and_once_for_the_tenant() -> None:
    log = Log().agent("a1", 0)
    log.add(870, ContactQueued("c1", "sales"))  # 09:14:30
    log.add(930, ContactOverflowed("c1", "sales", "support", "wait"))
    log.answered("c1", "support", "a1", 930, 940, 1000, 1010)
    report = both(log.events)
    sales = report.queue_intervals[("sales", T0)]
    support = report.queue_intervals[("support", Q15)]
    assert (sales.offered, sales.overflowed, sales.answered, sales.abandoned) == (1, 1, 0, 0)
    assert sales.service_level is None and sales.abandon_rate == 0
    assert (support.offered, support.answered, support.answered_within) == (1, 1, 1)
    assert support.answered_queue_ms == 10_000  # queue time in support, from its entry there
    assert support.handled == 1
    tenant = report.tenant_intervals[T0].contacts
    assert (tenant.offered, tenant.overflowed, tenant.answered, tenant.handled) == (1, 1, 1, 1)
    assert tenant.answered_queue_ms == 70_000  # from the first entry, 09:14:30
    assert tenant.answered_within == 0 and tenant.service_level == 0
    assert tenant.thresholds is None
    assert set(report.tenant_intervals) == {T0}
    assert report.agent_intervals[("a1", Q15)].answered == 1  # entered support at 09:15:30
    assert report.agent_intervals[("a1", Q15)].rings == 2  # 10 s of ringing: ceil(10 / 5)


def test_callbacks_are_neither_answered_nor_abandoned() -> None:
    log = Log().agent("a1", 0)
    log.add(0, ContactArrived("c1"), ContactQueued("c1", "sales"))
    log.add(30, CallbackRequested("c1", "sales"))
    log.add(300, CallbackDialing("c1", "sales", "a1"))
    log.add(320, CallbackFailed("c1", "sales", "a1", retry=True))
    log.add(600, CallbackDialing("c1", "sales", "a1"))
    log.add(615, ContactAnswered("c1", "sales", "a1"))
    log.add(720, ContactEnded("c1", "a1"), AgentAcwStarted("a1", "c1"))
    log.add(750, AgentAcwEnded("a1", "c1"))
    log.add(10, ContactArrived("c2"), ContactQueued("c2", "sales"))
    log.add(20, CallbackRequested("c2", "sales"))
    log.add(400, CallbackDialing("c2", "sales", "a1"))
    log.add(410, CallbackFailed("c2", "sales", "a1", retry=False))
    report = both(log.events)
    q = report.queue_totals["sales"]
    assert (q.offered, q.callbacks_requested, q.callbacks_connected) == (2, 2, 1)
    assert (q.answered, q.abandoned, q.answered_queue_ms) == (0, 0, 0)
    assert q.service_level is None and q.asa_ms is None
    assert (q.handled, q.talk_ms, q.acw_ms) == (1, 105_000, 30_000)
    loss = report.tenant_total.loss
    assert (loss.arrived, loss.answered, loss.callback_not_reached, loss.lost) == (2, 1, 1, 1)
    assert loss.rate == Fraction(1, 2)
    a = report.agent_totals["a1"]
    assert (a.offered, a.answered, a.callbacks_connected, a.handled) == (0, 0, 1, 1)
    assert a.ringing_ms == 20_000 + 15_000 + 10_000  # dialling
    assert (a.talk_ms, a.acw_ms) == (105_000, 30_000)
    assert a.ready_idle_ms == 750_000 - 45_000 - 105_000 - 30_000
    tenant = report.tenant_total.contacts
    assert (tenant.callbacks_requested, tenant.callbacks_connected) == (2, 1)


def test_ring_no_answer_then_abandon_and_call_loss() -> None:
    log = Log().agent("a1", 0).agent("a2", 0)
    log.add(0, ContactArrived("c1"), ContactBlocked("c1", "closed"))
    log.add(0, ContactArrived("c2")).add(30, ContactIvrCompleted("c2"))
    log.add(0, ContactArrived("c3")).add(20, ContactIvrAbandoned("c3"))
    log.add(0, ContactArrived("c4")).abandoned("c4", "q", 10, 13)  # 3 s: short
    log.add(0, ContactArrived("c5")).add(10, ContactQueued("c5", "q"))
    log.add(15, ContactOffered("c5", "q", "a1"))
    log.add(30, ContactRingNoAnswer("c5", "q", "a1"), AgentNotReady("a1", "ring_no_answer"))
    log.add(50, ContactAbandoned("c5", "q"))  # after a ring-no-answer: agent no-answer
    log.add(0, ContactArrived("c6")).add(10, ContactQueued("c6", "q"))
    log.add(610, ContactTimedOut("c6", "q"))
    log.add(0, ContactArrived("c7")).answered("c7", "q", "a2", 10, 14, 100, 110, offered=12)
    # c8 was transferred in (no contact.arrived) and hangs up while a2's phone rings
    log.add(20, ContactQueued("c8", "q")).add(130, ContactOffered("c8", "q", "a2"))
    log.add(135, ContactAbandoned("c8", "q"), ContactOfferWithdrawn("c8", "q", "a2", "abandoned"))
    report = both(log.events)

    loss = report.tenant_total.loss
    assert loss.arrived == 7
    assert (loss.answered, loss.completed_in_ivr) == (1, 1)
    assert loss.blocked == 2  # c1 blocked, c6 timed out
    assert (loss.lost_in_ivr, loss.abandoned_in_queue, loss.agent_no_answer) == (1, 1, 1)
    assert loss.lost == 5 and loss.rate == Fraction(5, 7)

    q = report.queue_totals["q"]
    assert (q.offered, q.answered, q.abandoned, q.short_abandoned, q.timed_out) == (5, 1, 3, 1, 1)
    assert (q.answered_within, q.abandoned_after) == (1, 2)
    assert q.abandoned_queue_ms == 3_000 + 40_000 + 115_000
    assert q.abandon_rate == Fraction(3 - 1, 5 - 1)  # beside a call loss rate of 5/7
    assert q.service_level == Fraction(1, 1 + 3 - 1)

    a1 = report.agent_totals["a1"]
    assert (a1.offered, a1.ring_no_answer, a1.answered) == (1, 1, 0)
    assert a1.ringing_ms == 15_000
    assert a1.ready_idle_ms == 15_000
    assert a1.not_ready_ms == {"ring_no_answer": 580_000}
    assert a1.logged_in_ms == 610_000
    a2 = report.agent_totals["a2"]
    assert (a2.offered, a2.answered, a2.answer_speed_ms, a2.rings) == (2, 1, 2_000, 1)
    assert a2.ringing_ms == 2_000 + 5_000  # the ringing stops when c8 hangs up
    assert (a2.talk_ms, a2.acw_ms) == (86_000, 10_000)
    assert a2.ready_idle_ms == 610_000 - 7_000 - 86_000 - 10_000


def test_ring_all_offers_stop_when_one_agent_answers() -> None:
    log = Log().agent("a1", 0).agent("a2", 0).agent("a3", 0)
    log.add(10, ContactQueued("c1", "q"))
    log.add(10, *(ContactOffered("c1", "q", a) for a in ("a1", "a2", "a3")))
    log.add(14, ContactOfferWithdrawn("c1", "q", "a3", "ring_timeout"))
    log.add(16, ContactAnswered("c1", "q", "a1"))
    log.add(16, ContactOfferWithdrawn("c1", "q", "a2", "answered_elsewhere"))
    log.add(30, ContactEnded("c1", "a1"), AgentAcwStarted("a1", "c1"), AgentAcwEnded("a1", "c1"))
    report = both(log.events)
    assert report.agent_totals["a1"].answered == 1
    assert [report.agent_totals[a].ringing_ms for a in ("a1", "a2", "a3")] == [6_000, 6_000, 4_000]
    assert [report.agent_totals[a].offered for a in ("a1", "a2", "a3")] == [1, 1, 1]
    assert report.queue_totals["q"].answered == 1


# ---------------------------------------------------------------------------------------------
# Handle time, justified long, above hold time


def handle_log() -> Log:
    log = Log().agent("a1", 0).agent("a2", 0)
    log.answered("c1", "q", "a1", 0, 0, 100, 120)  # talk 100 s, ACW 20 s
    log.answered("c2", "q", "a1", 200, 200, 1200, 1250)  # talk 900 s, hold 100 s, ACW 50 s
    log.add(300, ContactHeld("c2", "a1")).add(400, ContactRetrieved("c2", "a1"))
    log.add(1210, ContactDispositioned("c2", "a1", "vip", justified_long=True))
    log.answered("c3", "q", "a2", 300, 300, 500, 510)  # talk 200 s, ACW 10 s
    log.add(505, ContactDispositioned("c3", "a2", "sale"))
    return log


def test_justified_long_contacts_are_reported_apart_from_aht() -> None:
    q = both(handle_log().events).queue_totals["q"]
    assert (q.handled, q.justified_long) == (2, 1)
    assert (q.talk_ms, q.hold_ms, q.acw_ms) == (300_000, 0, 30_000)
    assert q.justified_long_ms == 900_000 + 100_000 + 50_000
    assert q.aht_ms == Fraction(330_000, 2)
    assert q.average_talk_ms == 150_000 and q.average_acw_ms == 15_000
    assert q.justified_long_aht_ms == 1_050_000
    # the queue's average talk + hold is 150 s: only c3 (200 s) is above it
    assert (q.above_hold, q.above_hold_baseline_ms) == (1, 150_000)


def test_above_hold_with_a_fixed_baseline() -> None:
    q = both(
        handle_log().events, MetricsConfig(above_hold_baseline="fixed", above_hold_fixed_s=120)
    )
    fig = q.queue_totals["q"]
    assert (fig.above_hold, fig.above_hold_baseline_ms) == (1, 120_000)
    q = both(
        handle_log().events, MetricsConfig(above_hold_baseline="fixed", above_hold_fixed_s=100)
    )
    assert q.queue_totals["q"].above_hold == 1  # 100 s does not exceed 100 s


def test_the_last_disposition_decides_justified_long() -> None:
    log = handle_log().add(1240, ContactDispositioned("c2", "a1", "vip", justified_long=False))
    q = both(log.events).queue_totals["q"]
    assert (q.handled, q.justified_long) == (3, 0)


def test_a_contact_in_conversation_adds_no_handle_time_yet() -> None:
    log = Log().agent("a1", 0)
    log.add(0, ContactQueued("c1", "q"), ContactOffered("c1", "q", "a1"))
    log.add(5, ContactAnswered("c1", "q", "a1"))
    log.add(65, ContactHeld("c1", "a1"))
    report = both(log.events, as_of_ms=at(95))
    q = report.queue_totals["q"]
    assert (q.answered, q.handled, q.talk_ms) == (1, 0, 0)
    a = report.agent_totals["a1"]
    assert (a.talk_ms, a.hold_ms) == (60_000, 30_000)  # the clock runs to the report time


# ---------------------------------------------------------------------------------------------
# Test events, tenants, configuration


def test_test_events_are_excluded_from_every_figure() -> None:
    clean = handle_log()
    noisy = handle_log()
    noisy.add(0, ContactArrived("t1"), ContactQueued("t1", "q"), test=True)
    noisy.add(1, ContactOffered("t1", "q", "a1"), ContactAnswered("t1", "q", "a1"), test=True)
    noisy.add(2, ContactAbandoned("c1", "q"), AgentLoggedOut("a2"), test=True)  # would not fit
    noisy.add(3, AgentLoggedIn("ghost"), QueueConfigured("q", sl_threshold_s=1), test=True)
    report = both(noisy.events)
    expected = both(clean.events)
    assert replace(report, as_of_ms=expected.as_of_ms) == expected
    assert config_from_events(noisy.events) == MetricsConfig()


def test_tenants_are_never_mixed() -> None:
    acme = boundary_log().events
    globex = [replace(e, tenant="globex") for e in interval_log().events]
    merged = sorted([*acme, *globex], key=lambda e: e.ts)
    assert both(merged, tenant="acme") == both(acme)
    assert both(merged, tenant="globex") == both(globex)
    with pytest.raises(MetricsError, match="several tenants"):
        compute(merged, MetricsConfig())


def test_config_from_events_takes_the_last_settings_per_queue() -> None:
    log = Log()
    log.add(0, QueueConfigured("sales", sl_threshold_s=30, short_abandon_s=10))
    log.add(1, QueueConfigured("vip", sl_threshold_s=10, short_abandon_s=3))
    log.add(2, QueueConfigured("sales", sl_threshold_s=15, short_abandon_s=4))
    config = config_from_events(log.events, MetricsConfig(interval_s=1800))
    assert config.interval_s == 1800
    assert config.thresholds_for("sales") == QueueThresholds(15, 4)
    assert config.thresholds_for("vip") == QueueThresholds(10, 3)
    assert config.thresholds_for("other") == QueueThresholds(20, 5)
    both_overridden = config.with_thresholds(sl_threshold_s=25)
    assert both_overridden.thresholds_for("vip") == QueueThresholds(25, 3)
    assert both_overridden.thresholds_for("other") == QueueThresholds(25, 5)


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        MetricsConfig(interval_s=700)
    with pytest.raises(ValueError, match="ring_period_s"):
        MetricsConfig(ring_period_s=0)
    with pytest.raises(ValueError, match="short_abandon_s"):
        QueueThresholds(short_abandon_s=-1)


def test_an_empty_log_gives_an_empty_report() -> None:
    report = both([])
    assert report.tenant is None and report.as_of_ms is None
    assert report.queue_totals == {} and report.agent_totals == {}
    assert report.tenant_total.contacts.offered == 0
    assert report.tenant_total.loss.rate is None


# ---------------------------------------------------------------------------------------------
# Rolling windows


def rolling_log() -> Log:
    log = Log().agent("a1", 0)
    log.abandoned("c1", "q", 300, 310)  # enters exactly at the window's (open) start
    log.abandoned("c2", "q", 300.001, 320)  # 19.999 s: not short, not after T
    log.add(900, ContactQueued("c3", "q"), ContactOffered("c3", "q", "a1"))  # enters at `at`
    log.add(905, ContactAnswered("c3", "q", "a1"))  # after `at`: not known yet
    log.add(100, ContactArrived("c0")).add(200, ContactIvrAbandoned("c0"))  # arrived before
    log.add(600, ContactArrived("c9")).add(610, ContactBlocked("c9", "no capacity"))
    return log


def test_rolling_window_counts_contacts_that_entered_in_it() -> None:
    events = rolling_log().events
    config = MetricsConfig()
    at_ms, window = at(900), 600_000  # (09:05, 09:15]
    report = compute_rolling(events, config, at_ms, window)
    assert report.window == (at(300), at(900)) and report.as_of_ms == at_ms
    assert report.queue_intervals == {} and report.agent_intervals == {}
    q = report.queue_totals["q"]
    assert (q.offered, q.abandoned, q.answered, q.short_abandoned, q.abandoned_after) == (
        2,
        1,
        0,
        0,
        0,
    )
    assert q.abandoned_queue_ms == 19_999
    a = report.agent_totals["a1"]
    assert a.offered == 1 and a.answered == 0
    assert a.logged_in_ms == 600_000 and a.ready_idle_ms == 600_000  # clipped to the window
    loss = report.tenant_total.loss
    assert (loss.arrived, loss.blocked, loss.lost_in_ivr) == (1, 1, 0)  # c9 only

    live = LiveMetrics(config)
    for event in events:
        if event.ts <= at_ms:
            live.ingest(event)
    assert live.rolling(at_ms, window) == report
    assert compute_rolling([e for e in events if e.ts <= at_ms], config, at_ms, window) == report


def test_rolling_window_sees_outcomes_known_at_its_end() -> None:
    events = rolling_log().events
    early = compute_rolling(events, MetricsConfig(), at(305), 600_000)
    q = early.queue_totals["q"]
    assert (q.offered, q.abandoned) == (2, 0)  # c1 and c2 entered by 305 s, abandon later
    late = compute_rolling(events, MetricsConfig(), at(905), 600_000)
    assert late.queue_totals["q"].answered == 1


def test_live_rolling_window_rules() -> None:
    config = MetricsConfig(rolling_window_s=600)
    live = LiveMetrics(config, max_window_ms=3_600_000)
    for event in rolling_log().events:
        live.ingest(event)
    # by default: the config's window, up to the last event
    assert live.rolling() == compute_rolling(rolling_log().events, config, at(905), 600_000)
    with pytest.raises(ValueError, match="window_ms"):
        live.rolling(window_ms=3_600_001)
    with pytest.raises(MetricsError, match="before the last event"):
        live.rolling(at(100), 600_000)
    with pytest.raises(MetricsError, match="before the last event"):
        live.report(now_ms=at(100))


# ---------------------------------------------------------------------------------------------
# Logs that do not fit the lifecycle


def _bad(*items: tuple[float, EventBody]) -> list[Event]:
    log = Log().agent("a1", 0)
    for seconds, body in items:
        log.add(seconds, body)
    return log.events


def _answered_c1() -> list[tuple[float, EventBody]]:
    return [
        (1, ContactQueued("c1", "q")),
        (1, ContactOffered("c1", "q", "a1")),
        (2, ContactAnswered("c1", "q", "a1")),
        (3, ContactEnded("c1", "a1")),
    ]


BAD_LOGS = {
    "answered for an unknown contact": (
        _bad((1, ContactAnswered("c9", "q", "a1"))),
        3,
        "unknown contact 'c9'",
    ),
    "ended twice": (_bad(*_answered_c1(), (4, ContactEnded("c1", "a1"))), 7, "which is ended"),
    "offered to an agent not logged in": (
        _bad((1, ContactQueued("c1", "q")), (2, ContactOffered("c1", "q", "a2"))),
        4,
        "not logged in",
    ),
    "logout while ringing": (
        _bad(
            (1, ContactQueued("c1", "q")),
            (1, ContactOffered("c1", "q", "a1")),
            (2, AgentLoggedOut("a1")),
        ),
        5,
        "still has a contact",
    ),
    "answered by an agent it was not offered to": (
        _bad((1, ContactQueued("c1", "q")), (2, ContactAnswered("c1", "q", "a1"))),
        4,
        "not ringing at 'a1'",
    ),
    "queued in another queue than it overflowed to": (
        _bad(
            (1, ContactQueued("c1", "q")),
            (2, ContactOverflowed("c1", "q", "r", "wait")),
            (2, ContactQueued("c1", "s")),
        ),
        5,
        "overflowed to 'r'",
    ),
    "after-call work ended by another agent": (
        _bad(*_answered_c1(), (3, AgentAcwStarted("a1", "c1")), (4, AgentAcwEnded("a2", "c1"))),
        8,
        "handled by 'a1'",
    ),
    "an event for a finished contact": (
        _bad(
            (1, ContactQueued("c1", "q")),
            (2, ContactAbandoned("c1", "q")),
            (3, ContactAbandoned("c1", "q")),
        ),
        5,
        "finished",
    ),
    "arrived twice": (_bad((1, ContactArrived("c1")), (2, ContactArrived("c1"))), 4, "seen before"),
    "abandoned in another queue": (
        _bad((1, ContactQueued("c1", "q")), (2, ContactAbandoned("c1", "r"))),
        4,
        "which is in 'q'",
    ),
}


def _ts_backwards() -> list[Event]:
    events = _bad((5, ContactArrived("c1")), (6, ContactArrived("c2")))
    return [events[0], events[1], events[3], events[2]]


def _seq_backwards() -> list[Event]:
    events = _bad((5, ContactArrived("c1")), (5, ContactArrived("c2")))
    return [events[0], events[1], replace(events[2], seq=9), replace(events[3], seq=9)]


BAD_LOGS["ts going backwards"] = (_ts_backwards(), 3, "goes backwards")
BAD_LOGS["seq going backwards"] = (_seq_backwards(), 9, "seq goes backwards")


@pytest.mark.parametrize("name", sorted(BAD_LOGS))
def test_a_log_that_does_not_fit_the_lifecycle_is_refused(name: str) -> None:
    events, seq, reason = BAD_LOGS[name]
    with pytest.raises(MetricsError, match=re.escape(reason)) as batch_error:
        compute(events, MetricsConfig())
    assert batch_error.value.seq == seq
    assert str(batch_error.value).startswith(f"seq {seq}: ")
    live = LiveMetrics(MetricsConfig())
    with pytest.raises(MetricsError, match=re.escape(reason)) as live_error:
        for event in events:
            live.ingest(event)
    assert live_error.value.seq == seq


def test_live_metrics_carry_on_after_a_refused_event() -> None:
    events = _bad((1, ContactAnswered("c9", "q", "a1")))
    live = LiveMetrics(MetricsConfig())
    for event in events[:-1]:
        live.ingest(event)
    with pytest.raises(MetricsError):
        live.ingest(events[-1])
    assert live.report() == compute(events[:-1], MetricsConfig(), as_of_ms=events[-1].ts)


# ---------------------------------------------------------------------------------------------
# The worked example of docs/metrics.md


def _doc_example() -> tuple[list[Event], list[tuple[str, str, str, str]]]:
    text = DOCS.read_text(encoding="utf-8")
    example = text[text.index("## Worked example") :]
    block = example[
        example.index("```jsonl") + len("```jsonl") : example.index(
            "```\n", example.index("```jsonl") + 3
        )
    ]
    events = [event_from_json(line) for line in block.strip().splitlines()]
    rows = []
    for line in example.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].split(" ")[0] in ("queue", "agent", "call", "tenant"):
            rows.append((cells[0], cells[1], cells[2], cells[4]))
    return events, rows


def test_the_worked_example_in_the_docs() -> None:
    events, rows = _doc_example()
    assert len(events) == 34 and len(rows) >= 30
    report = both(events, config_from_events(events))
    for scope, period, figure, value in rows:
        start = None
        if period != "total":
            hours, minutes = (int(part) for part in period.split(":"))
            start = T0 + ((hours - 9) * 60 + minutes) * 60_000
        if scope.startswith("queue "):
            queue = scope.split(" ", 1)[1]
            fig: Any = (
                report.queue_totals[queue]
                if start is None
                else report.queue_intervals[(queue, start)]
            )
        elif scope.startswith("agent "):
            agent = scope.split(" ", 1)[1]
            fig = (
                report.agent_totals[agent]
                if start is None
                else report.agent_intervals[(agent, start)]
            )
        elif scope == "call loss":
            fig = (report.tenant_total if start is None else report.tenant_intervals[start]).loss
        else:
            fig = (
                report.tenant_total if start is None else report.tenant_intervals[start]
            ).contacts
        expected = Fraction(value.split(" ")[0])
        assert getattr(fig, figure) == expected, (scope, period, figure)
