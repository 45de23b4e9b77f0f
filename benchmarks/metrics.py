"""Metrics throughput: live ingest rate, batch time, and a naive recomputation baseline.

Run: ``python benchmarks/metrics.py [--events N] [--seed S]``

A small discrete-event simulation (deterministic seed) produces a realistic log: agents on
three daily shifts with breaks, calls arriving through the IVR, queues with overflow, callbacks,
abandonment, ring-no-answer, hold, after-call work and dispositions. Then it measures

(a) ``LiveMetrics.ingest`` over the whole log, in events/s (target >= 300,000);
(b) batch ``compute`` over the whole log, in seconds (target <= 5 s);
(c) the baseline measured in the same run: keeping a wall current by recomputing the batch
    report from the log every ``--refresh`` events, against ingesting the same events into
    ``LiveMetrics`` and reading ``report()`` at the same points; the ratio is printed.

Finally it checks that the live and batch reports are equal.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    ContactOverflowed,
    ContactQueued,
    ContactRetrieved,
    ContactRingNoAnswer,
    ContactTimedOut,
    Event,
    EventBody,
    QueueConfigured,
)
from glasshouse.domain.metrics.batch import compute, compute_rolling
from glasshouse.domain.metrics.config import MetricsConfig, config_from_events
from glasshouse.domain.metrics.incremental import LiveMetrics

LIVE_TARGET_EPS = 300_000
BATCH_TARGET_S = 5.0

TENANT = "acme"
START_MS = 1_700_006_400_000  # a midnight (UTC)
HOUR = 3_600_000
QUEUES = ("sales", "support", "billing", "vip", "general")
QUEUE_WEIGHTS = (30, 40, 15, 5, 10)
OVERFLOW = {"vip": "general", "billing": "support"}  # after 60 s of waiting
MAX_WAIT_MS = 300_000
SHIFT_OF = (0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2)
RNA_RECOVER_MS = 30_000


@dataclass
class Call:
    cid: str
    queue: str = ""
    state: str = "ivr"
    entered: int = 0
    callback: bool = False
    attempts: int = 0
    agent: str = ""


@dataclass
class Agent:
    aid: str
    shift: int  # 0, 1, 2: starts at 0h, 8h, 16h
    on: bool = False
    ready: bool = False
    busy: bool = False
    leaving: bool = False
    breaking: bool = False


@dataclass(order=True)
class Timer:
    at: int
    order: int
    action: Callable[[], None] = field(compare=False)


class CallCenter:
    """A tiny ACD: one shared FIFO of waiting calls, longest-idle agent first."""

    def __init__(self, seed: int, agents: int) -> None:
        self.rng = random.Random(seed)
        self.now = START_MS
        self.events: list[Event] = []
        self.timers: list[Timer] = []
        self.order = 0
        self.calls: dict[str, Call] = {}
        self.waiting: deque[str] = deque()
        self.idle: deque[str] = deque()
        # shifts start at 0h, 8h and 16h; the day shifts are the larger ones
        self.agents = {
            f"agent{i:04d}": Agent(f"agent{i:04d}", SHIFT_OF[i % len(SHIFT_OF)])
            for i in range(agents)
        }
        self.next_call = 0

    # -- plumbing -------------------------------------------------------------------------------

    def emit(self, body: EventBody) -> None:
        self.events.append(Event(TENANT, self.now, body, seq=len(self.events) + 1))

    def at(self, delay_ms: int, action: Callable[[], None]) -> None:
        self.order += 1
        heapq.heappush(self.timers, Timer(self.now + max(0, delay_ms), self.order, action))

    def run(self, max_events: int) -> list[Event]:
        for queue in QUEUES:
            self.emit(QueueConfigured(queue, sl_threshold_s=20, short_abandon_s=5))
        for agent in self.agents.values():
            self.at(agent.shift * 8 * HOUR + self.rng.randrange(1_800_000), self.login(agent))
        self.at(0, self.arrival)
        while self.timers and len(self.events) < max_events:
            timer = heapq.heappop(self.timers)
            self.now = timer.at
            timer.action()
        return self.events[:max_events]

    # -- agents ---------------------------------------------------------------------------------

    def login(self, a: Agent) -> Callable[[], None]:
        def act() -> None:
            a.on, a.leaving = True, False
            self.emit(AgentLoggedIn(a.aid))
            self.at(self.rng.randrange(5_000, 120_000), self.make_ready(a))
            self.at(8 * HOUR, self.logout(a))
            for hours in (2, 4, 6):
                self.at(hours * HOUR + self.rng.randrange(-900_000, 900_000), self.go_break(a))

        return act

    def make_ready(self, a: Agent) -> Callable[[], None]:
        def act() -> None:
            if not a.on or a.leaving:
                return
            a.ready, a.breaking = True, False
            self.emit(AgentReady(a.aid))
            if not a.busy:
                self.idle.append(a.aid)
                self.dispatch()

        return act

    def go_break(self, a: Agent) -> Callable[[], None]:
        def act() -> None:
            if not a.on or a.leaving or a.breaking:
                return
            if a.busy:  # take it after this call
                self.at(60_000, self.go_break(a))
                return
            a.ready, a.breaking = False, True
            self.emit(AgentNotReady(a.aid, self.rng.choice(("break", "lunch", "coaching"))))
            self.at(self.rng.randrange(300_000, 1_800_000), self.make_ready(a))

        return act

    def logout(self, a: Agent) -> Callable[[], None]:
        def act() -> None:
            if a.busy:
                a.leaving = True
                self.at(30_000, self.logout(a))
                return
            a.on = a.ready = a.leaving = a.breaking = False
            self.emit(AgentLoggedOut(a.aid))
            self.at(16 * HOUR, self.login(a))

        return act

    def free(self, a: Agent) -> None:
        a.busy = False
        if a.on and a.ready and not a.leaving:
            self.idle.append(a.aid)
            self.dispatch()

    # -- calls ----------------------------------------------------------------------------------

    def arrival(self) -> None:
        hour = (self.now - START_MS) // HOUR % 24
        per_hour = 1_500 if 8 <= hour < 20 else 400
        self.at(int(self.rng.expovariate(per_hour / HOUR)), self.arrival)
        cid = f"c{self.next_call}"
        self.next_call += 1
        call = self.calls[cid] = Call(cid)
        self.emit(ContactArrived(cid))
        r = self.rng.random()
        ivr_ms = self.rng.randrange(5_000, 60_000)
        if r < 0.01:
            self.emit(ContactBlocked(cid, "closed"))
            del self.calls[cid]
        elif r < 0.09:
            self.at(ivr_ms, lambda: self.end_in_ivr(cid, ContactIvrCompleted(cid)))
        elif r < 0.11:
            self.at(ivr_ms, lambda: self.end_in_ivr(cid, ContactIvrAbandoned(cid)))
        else:
            queue = self.rng.choices(QUEUES, QUEUE_WEIGHTS)[0]
            self.at(ivr_ms, lambda: self.enqueue(call, queue, first=True))

    def end_in_ivr(self, cid: str, body: EventBody) -> None:
        self.emit(body)
        del self.calls[cid]

    def enqueue(self, call: Call, queue: str, first: bool = False) -> None:
        call.queue, call.state, call.entered = queue, "waiting", self.now
        self.emit(ContactQueued(call.cid, queue))
        entered = self.now
        if first:
            patience = int(self.rng.expovariate(1 / 150_000))
            self.at(patience, lambda: self.give_up(call, entered))
            self.at(MAX_WAIT_MS, lambda: self.time_out(call, entered))
        if queue in OVERFLOW:
            self.at(60_000, lambda: self.overflow(call, entered))
        self.waiting.append(call.cid)
        self.dispatch()

    def still_waiting(self, call: Call, entered: int) -> bool:
        return call.state == "waiting" and call.entered == entered

    def give_up(self, call: Call, entered: int) -> None:
        if call.state != "waiting" or call.callback:
            return
        if self.rng.random() < 0.15:
            call.callback = True
            self.emit(CallbackRequested(call.cid, call.queue))
            self.waiting.append(call.cid)  # keeps its place: served at the tail for simplicity
        else:
            call.state = "gone"
            self.emit(ContactAbandoned(call.cid, call.queue))

    def time_out(self, call: Call, entered: int) -> None:
        if call.state == "waiting" and not call.callback:
            call.state = "gone"
            self.emit(ContactTimedOut(call.cid, call.queue))

    def overflow(self, call: Call, entered: int) -> None:
        if self.still_waiting(call, entered) and not call.callback:
            target = OVERFLOW[call.queue]
            self.emit(ContactOverflowed(call.cid, call.queue, target, "wait"))
            call.state = "moving"
            self.enqueue(call, target)

    def dispatch(self) -> None:
        while self.waiting and self.idle:
            cid = self.waiting[0]
            call = self.calls.get(cid)
            if call is None or call.state != "waiting":
                self.waiting.popleft()
                continue
            aid = self.idle.popleft()
            a = self.agents[aid]
            if not (a.on and a.ready and not a.busy and not a.leaving):
                continue
            self.waiting.popleft()
            a.busy = True
            call.agent = aid
            if call.callback:
                call.state = "dialing"
                self.emit(CallbackDialing(cid, call.queue, aid))
                self.at(self.rng.randrange(5_000, 25_000), lambda c=call: self.dial_result(c))
            else:
                call.state = "ringing"
                self.emit(ContactOffered(cid, call.queue, aid))
                self.at(self.rng.randrange(1_000, 12_000), lambda c=call: self.ring_result(c))

    def ring_result(self, call: Call) -> None:
        a = self.agents[call.agent]
        if call.state != "ringing":
            return
        if self.rng.random() < 0.03:
            call.state = "waiting"
            self.emit(ContactRingNoAnswer(call.cid, call.queue, a.aid))
            a.busy, a.ready = False, False
            self.emit(AgentNotReady(a.aid, "ring_no_answer"))
            self.at(RNA_RECOVER_MS, self.make_ready(a))
            self.waiting.appendleft(call.cid)
            self.dispatch()
            return
        self.emit(ContactAnswered(call.cid, call.queue, a.aid))
        self.talk(call)

    def dial_result(self, call: Call) -> None:
        a = self.agents[call.agent]
        if self.rng.random() < 0.8:
            self.emit(ContactAnswered(call.cid, call.queue, a.aid))
            self.talk(call)
            return
        call.attempts += 1
        retry = call.attempts < 3
        self.emit(CallbackFailed(call.cid, call.queue, a.aid, retry=retry))
        if retry:
            call.state = "waiting"
            self.waiting.append(call.cid)
        else:
            call.state = "gone"
        self.free(a)

    def talk(self, call: Call) -> None:
        call.state = "talking"
        talk_ms = int(self.rng.lognormvariate(11.9, 0.6))  # median ~150 s
        if self.rng.random() < 0.2:
            start = self.rng.randrange(talk_ms)
            hold_ms = self.rng.randrange(10_000, 90_000)
            self.at(start, lambda: self.emit(ContactHeld(call.cid, call.agent)))
            self.at(start + hold_ms, lambda: self.emit(ContactRetrieved(call.cid, call.agent)))
            talk_ms += hold_ms
        self.at(talk_ms + 1, lambda: self.end(call))

    def end(self, call: Call) -> None:
        aid = call.agent
        self.emit(ContactEnded(call.cid, aid))
        self.emit(AgentAcwStarted(aid, call.cid))
        justified = self.rng.random() < 0.02
        acw_ms = self.rng.randrange(0, 60_000)
        self.at(
            acw_ms // 2, lambda: self.emit(ContactDispositioned(call.cid, aid, "ok", justified))
        )
        self.at(acw_ms, lambda: self.wrap_up(call))

    def wrap_up(self, call: Call) -> None:
        self.emit(AgentAcwEnded(call.agent, call.cid))
        call.state = "done"
        del self.calls[call.cid]
        self.free(self.agents[call.agent])


# ---------------------------------------------------------------------------------------------
# Measurements


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process), after a full collection so that
    each measurement starts from the same heap."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def ingest_all(events: list[Event], config: MetricsConfig) -> LiveMetrics:
    live = LiveMetrics(config, tenant=TENANT)
    ingest = live.ingest
    for event in events:
        ingest(event)
    return live


def live_with_refresh(events: list[Event], config: MetricsConfig, every: int) -> int:
    """Ingest, reading a full report every ``every`` events (what a wall display does)."""
    live = LiveMetrics(config, tenant=TENANT)
    reports = 0
    for i, event in enumerate(events, 1):
        live.ingest(event)
        if i % every == 0:
            live.report()
            reports += 1
    return reports


def naive_with_refresh(events: list[Event], config: MetricsConfig, every: int) -> int:
    """The baseline: keep the log and recompute the whole report from it at each refresh."""
    log: list[Event] = []
    reports = 0
    for i, event in enumerate(events, 1):
        log.append(event)
        if i % every == 0:
            compute(log, config, tenant=TENANT)
            reports += 1
    return reports


def wall_from_live(events: list[Event], config: MetricsConfig, every: int, window_ms: int) -> int:
    """Ingest, reading the rolling window every ``every`` events (the live wall)."""
    live = LiveMetrics(config, tenant=TENANT)
    reads = 0
    for i, event in enumerate(events, 1):
        live.ingest(event)
        if i % every == 0:
            live.rolling(event.ts, window_ms)
            reads += 1
    return reads


def wall_from_log(events: list[Event], config: MetricsConfig, every: int, window_ms: int) -> int:
    """The baseline: recompute the rolling window from the stored log at each read."""
    log: list[Event] = []
    reads = 0
    for i, event in enumerate(events, 1):
        log.append(event)
        if i % every == 0:
            compute_rolling(log, config, event.ts, window_ms, tenant=TENANT)
            reads += 1
    return reads


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="log size (1,000,000)")
    parser.add_argument("--agents", type=int, default=220, help="agents over 3 shifts (220)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--baseline-events",
        type=int,
        default=100_000,
        help="events of the wall-refresh comparison (100,000)",
    )
    parser.add_argument("--refresh", type=int, default=5_000, help="refresh every N events")
    parser.add_argument(
        "--wall-events", type=int, default=50_000, help="events of the rolling-wall comparison"
    )
    parser.add_argument(
        "--wall-refresh", type=int, default=1_000, help="read the wall every N events (1,000)"
    )
    args = parser.parse_args(argv)

    events, gen_s, _ = timed(lambda: CallCenter(args.seed, args.agents).run(args.events))
    n = len(events)
    days = (events[-1].ts - events[0].ts) / (24 * HOUR)
    calls = sum(1 for e in events if isinstance(e.body, ContactArrived))
    print(
        f"log: {n:,} events, {calls:,} calls over {days:.1f} days, {args.agents} agents "
        f"(seed {args.seed}, generated in {gen_s:.1f} s)"
    )
    print(f"python {sys.version.split()[0]}, one process, gc thresholds {gc.get_threshold()}")
    config = config_from_events(events, MetricsConfig(interval_s=900))

    live, live_wall, live_cpu = timed(lambda: ingest_all(events, config))
    live_report, report_wall, _ = timed(live.report)
    batch_report, batch_wall, batch_cpu = timed(lambda: compute(events, config, tenant=TENANT))

    sample = events[: args.baseline_events]
    every = args.refresh
    reports, live_ref_wall, live_ref_cpu = timed(lambda: live_with_refresh(sample, config, every))
    _, naive_wall, naive_cpu = timed(lambda: naive_with_refresh(sample, config, every))
    wall_sample = events[: args.wall_events]
    wall_every = args.wall_refresh
    window = 15 * 60_000
    reads, wall_live_wall, wall_live_cpu = timed(
        lambda: wall_from_live(wall_sample, config, wall_every, window)
    )
    _, wall_naive_wall, wall_naive_cpu = timed(
        lambda: wall_from_log(wall_sample, config, wall_every, window)
    )

    live_rate = n / live_cpu
    print()
    print(
        f"(a) live ingest    {live_rate:>10,.0f} events/s CPU  ({live_cpu:.2f} s CPU, "
        f"{live_wall:.2f} s wall, {n / live_wall:,.0f} events/s wall)"
    )
    print(f"                   report() of the whole log: {report_wall * 1000:,.0f} ms")
    print(
        f"(b) batch compute  {batch_cpu:>10.2f} s CPU         ({batch_wall:.2f} s wall, "
        f"{n / batch_cpu:,.0f} events/s)"
    )
    print(
        f"(c) keeping a wall current over {len(sample):,} events, a full report every "
        f"{every:,} events ({reports} reports):"
    )
    print(
        f"    live: ingest + report()          {live_ref_cpu:8.2f} s CPU "
        f"({live_ref_wall:.2f} s wall)"
    )
    print(f"    baseline: batch recompute        {naive_cpu:8.2f} s CPU ({naive_wall:.2f} s wall)")
    print(f"    ratio baseline / live            {naive_cpu / live_ref_cpu:8.1f} x")
    print(
        f"    the live wall (15-min rolling window) over {len(wall_sample):,} events, read "
        f"every {wall_every:,} events ({reads} reads):"
    )
    print(
        f"    live: ingest + rolling()         {wall_live_cpu:8.2f} s CPU "
        f"({wall_live_wall:.2f} s wall)"
    )
    print(
        f"    baseline: compute_rolling()      {wall_naive_cpu:8.2f} s CPU "
        f"({wall_naive_wall:.2f} s wall)"
    )
    print(f"    ratio baseline / live            {wall_naive_cpu / wall_live_cpu:8.1f} x")
    print()
    same = live_report == batch_report
    print(
        f"target: live ingest >= {LIVE_TARGET_EPS:,} events/s on one core: "
        f"{verdict(live_rate >= LIVE_TARGET_EPS)}"
    )
    print(
        f"target: batch <= {BATCH_TARGET_S:.0f} s for {n:,} events: "
        f"{verdict(batch_cpu <= BATCH_TARGET_S)}"
    )
    print(f"live report == batch report: {'yes' if same else 'NO'}")
    t = batch_report.tenant_total
    print(
        f"tenant: {t.contacts.offered:,} offered, {t.contacts.answered:,} answered, "
        f"SL {_percent(t.contacts.service_level)}, abandon rate "
        f"{_percent(t.contacts.abandon_rate)}, call loss {_percent(t.loss.rate)}"
    )
    return 0 if same else 1


def _percent(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


if __name__ == "__main__":
    sys.exit(main())
