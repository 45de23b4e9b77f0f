"""Live metrics fed event by event agree exactly with the batch computation, on random valid
event logs (a small simulator draws every step), per interval and for rolling windows."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

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
)
from glasshouse.domain.metrics.batch import compute, compute_rolling
from glasshouse.domain.metrics.config import MetricsConfig, QueueThresholds
from glasshouse.domain.metrics.incremental import LiveMetrics

QUEUES = ("sales", "support", "vip")
REASONS = ("break", "lunch", "training", "ring_no_answer")
# Steps between actions: many zero-length, near thresholds and ring periods, long gaps.
GAPS = (0, 0, 0, 0, 1, 500, 999, 1000, 1001, 2000, 4999, 5000, 5001, 20_000, 60_000)
BASE_TS = 1_700_000_000_000 + 7 * 60_000  # not on an interval boundary


@dataclass
class SimContact:
    cid: str
    state: str
    queue: str = ""
    offers: set[str] = field(default_factory=set)
    agent: str = ""


@dataclass
class SimAgent:
    on: bool = False
    busy: int = 0


class Simulator:
    """Emits a valid log: at each step the clock moves on and one currently allowed action,
    chosen at random, happens."""

    def __init__(self, rng: random.Random, tenant: str = "acme", agents: int = 4) -> None:
        self.rng = rng
        self.tenant = tenant
        self.ts = BASE_TS + rng.choice((0, 1, 899_999))
        self.events: list[Event] = []
        self.contacts: dict[str, SimContact] = {}
        self.agents = {f"a{i}": SimAgent() for i in range(agents)}
        self.next_contact = 0
        #: withdrawals of offers that stopped when their contact left the queue, emitted (or
        #: not: the log may leave them out) right after the event that made the contact leave
        self.pending: list[EventBody] = []

    def emit(self, body: EventBody, test: bool = False) -> None:
        seq = len(self.events) + 1
        self.events.append(Event(self.tenant, self.ts, body, seq=seq, test=test))

    def advance(self) -> None:
        rng = self.rng
        pick = rng.randrange(40)
        if pick < 38:
            self.ts += rng.choice(GAPS)
        else:  # onto (or just before) the next 15-minute boundary
            size = 900_000
            self.ts += size - self.ts % size - (1 if pick == 39 else 0)

    def on_agents(self) -> list[str]:
        return [aid for aid, a in self.agents.items() if a.on]

    # -- actions ------------------------------------------------------------------------------

    def actions(self) -> list[Callable[[], None]]:
        """The allowed actions of one kind, the kind drawn with rough real-life weights."""
        rng = self.rng
        kind = rng.randrange(20)
        live = [c for c in self.contacts.values() if c.state != "done"]
        if kind == 0:
            return [self.noise]
        if kind <= 3 or not live:
            acts: list[Callable[[], None]] = []
            for aid, a in self.agents.items():
                if not a.on:
                    acts.append(lambda aid=aid: self.login(aid))
                else:
                    acts.append(lambda aid=aid: self.emit(AgentReady(aid)))
                    acts.append(lambda aid=aid: self.emit(AgentNotReady(aid, rng.choice(REASONS))))
                    if not a.busy and rng.random() < 0.3:
                        acts.append(lambda aid=aid: self.logout(aid))
            if len(live) < 6:
                acts.append(self.new_contact)
            return acts
        if kind <= 6 and len(live) < 6:
            return [self.new_contact]
        return self.contact_actions(rng.choice(live)) or [self.new_contact]

    def login(self, aid: str) -> None:
        self.agents[aid].on = True
        self.emit(AgentLoggedIn(aid))

    def logout(self, aid: str) -> None:
        self.agents[aid].on = False
        self.emit(AgentLoggedOut(aid))

    def new_contact(self) -> None:
        cid = f"c{self.next_contact}"
        self.next_contact += 1
        if self.rng.random() < 0.7:
            self.contacts[cid] = SimContact(cid, "arrived")
            self.emit(ContactArrived(cid))
        else:
            self.queue(SimContact(cid, "new"), self.rng.choice(QUEUES))

    def queue(self, c: SimContact, queue: str) -> None:
        self.contacts[c.cid] = c
        c.state = "queued"
        c.queue = queue
        self.emit(ContactQueued(c.cid, queue))

    def contact_actions(self, c: SimContact) -> list[Callable[[], None]]:
        cid, q = c.cid, c.queue
        acts: list[Callable[[], None]] = []
        if c.state == "arrived":
            acts.append(lambda: self.queue(c, self.rng.choice(QUEUES)))
            acts.append(lambda: self.finish(c, ContactBlocked(cid, "closed")))
            acts.append(lambda: self.finish(c, ContactIvrCompleted(cid)))
            acts.append(lambda: self.finish(c, ContactIvrAbandoned(cid)))
        elif c.state == "queued":
            for aid in self.on_agents():
                if aid not in c.offers:
                    acts.append(lambda aid=aid: self.offer(c, aid))
            for aid in sorted(c.offers):
                acts.append(
                    lambda aid=aid: self.stop_offer(c, aid, ContactRingNoAnswer(cid, q, aid))
                )
                acts.append(
                    lambda aid=aid: self.stop_offer(c, aid, ContactOfferWithdrawn(cid, q, aid, "x"))
                )
                acts.append(lambda aid=aid: self.answer(c, aid))
                acts.append(lambda aid=aid: self.answer(c, aid))
            acts.append(lambda: self.leave(c, ContactAbandoned(cid, q), "done"))
            acts.append(lambda: self.leave(c, ContactTimedOut(cid, q), "done"))
            acts.append(lambda: self.leave(c, CallbackRequested(cid, q), "cb_wait"))
            others = [x for x in QUEUES if x != q]
            acts.append(
                lambda: self.leave(
                    c, ContactOverflowed(cid, q, self.rng.choice(others), "wait"), "overflowing"
                )
            )
        elif c.state == "overflowing":
            acts.append(lambda: self.queue(c, c.queue))
        elif c.state == "cb_wait":
            for aid in self.on_agents():
                acts.append(lambda aid=aid: self.dial(c, aid))
        elif c.state == "cb_dial":
            acts.append(lambda: self.connect(c))
            acts.append(lambda: self.dial_failed(c, True))
            acts.append(lambda: self.dial_failed(c, False))
        elif c.state in ("talk", "hold"):
            held = c.state == "hold"
            acts.append(lambda: self.set_state(c, "hold" if not held else "talk"))
            acts.append(lambda: self.set_state(c, "wrap", ContactEnded(cid, c.agent)))
            acts.append(self.disposition_action(c))
        elif c.state == "wrap":
            acts.append(lambda: self.set_state(c, "acw", AgentAcwStarted(c.agent, cid)))
        elif c.state == "acw":
            acts.append(self.disposition_action(c))
            acts.append(lambda: self.wrap_up(c))
        return acts

    def disposition_action(self, c: SimContact) -> Callable[[], None]:
        return lambda: self.emit(
            ContactDispositioned(c.cid, c.agent, "sale", justified_long=self.rng.random() < 0.3)
        )

    def set_state(self, c: SimContact, state: str, body: EventBody | None = None) -> None:
        if body is None:
            body = (
                ContactHeld(c.cid, c.agent) if state == "hold" else ContactRetrieved(c.cid, c.agent)
            )
        c.state = state
        self.emit(body)

    def finish(self, c: SimContact, body: EventBody) -> None:
        c.state = "done"
        self.emit(body)

    def offer(self, c: SimContact, aid: str) -> None:
        c.offers.add(aid)
        self.agents[aid].busy += 1
        self.emit(ContactOffered(c.cid, c.queue, aid))

    def stop_offer(self, c: SimContact, aid: str, body: EventBody) -> None:
        c.offers.discard(aid)
        self.agents[aid].busy -= 1
        self.emit(body)

    def close_offers(self, c: SimContact, keep: str = "") -> None:
        """The contact leaves the queue: other offers stop ringing; the log may say so."""
        late = [aid for aid in sorted(c.offers) if aid != keep]
        for aid in late:
            self.agents[aid].busy -= 1
        c.offers = set()
        self.pending = [
            ContactOfferWithdrawn(c.cid, c.queue, aid, "gone")
            for aid in late
            if self.rng.random() < 0.5
        ]

    def flush_pending(self) -> None:
        for body in self.pending:
            self.emit(body)
        self.pending = []

    def answer(self, c: SimContact, aid: str) -> None:
        self.close_offers(c, keep=aid)
        c.state = "talk"
        c.agent = aid
        self.emit(ContactAnswered(c.cid, c.queue, aid))
        self.flush_pending()

    def leave(self, c: SimContact, body: EventBody, state: str) -> None:
        self.close_offers(c)
        c.state = state
        self.emit(body)
        self.flush_pending()
        if isinstance(body, ContactOverflowed):
            c.queue = body.to_queue_id

    def dial(self, c: SimContact, aid: str) -> None:
        c.state = "cb_dial"
        c.agent = aid
        self.agents[aid].busy += 1
        self.emit(CallbackDialing(c.cid, c.queue, aid))

    def connect(self, c: SimContact) -> None:
        c.state = "talk"
        self.emit(ContactAnswered(c.cid, c.queue, c.agent))

    def dial_failed(self, c: SimContact, retry: bool) -> None:
        c.state = "cb_wait" if retry else "done"
        self.agents[c.agent].busy -= 1
        self.emit(CallbackFailed(c.cid, c.queue, c.agent, retry=retry))

    def wrap_up(self, c: SimContact) -> None:
        c.state = "done"
        self.agents[c.agent].busy -= 1
        self.emit(AgentAcwEnded(c.agent, c.cid))

    def noise(self) -> None:
        """Events the metrics must ignore: test-mode events (even ones that would not fit the
        lifecycle) and configuration."""
        rng = self.rng
        cid = rng.choice([*self.contacts, "t1"])
        aid = rng.choice([*self.agents, "t-agent"])
        body = rng.choice(
            [
                ContactAbandoned(cid, "sales"),
                ContactAnswered(cid, "sales", aid),
                AgentLoggedOut(aid),
                AgentLoggedIn(aid),
                ContactQueued(cid, "support"),
                QueueConfigured("sales", sl_threshold_s=1),
            ]
        )
        self.emit(body, test=not isinstance(body, QueueConfigured))

    def run(self, steps: int) -> list[Event]:
        for _ in range(steps):
            self.advance()
            self.rng.choice(self.actions())()
        return self.events


def random_config(rng: random.Random, interval_s: int) -> MetricsConfig:
    def thresholds() -> QueueThresholds:
        return QueueThresholds(rng.choice((0, 5, 20, 60, 120)), rng.choice((0, 1, 5, 20)))

    return MetricsConfig(
        thresholds=thresholds(),
        queue_thresholds={"vip": thresholds()} if rng.random() < 0.5 else {},
        interval_s=interval_s,
        ring_period_s=rng.choice((1, 5, 6)),
        above_hold_baseline=rng.choice(("queue", "tenant", "fixed")),
        above_hold_fixed_s=rng.choice((0, 10, 60)),
    )


def live(events: list[Event], config: MetricsConfig, tenant: str | None = None) -> LiveMetrics:
    metrics = LiveMetrics(config, tenant=tenant)
    for event in events:
        metrics.ingest(event)
    return metrics


# The simulator draws from a seeded random.Random: hypothesis explores seeds and shrinks a
# failure to the shortest log (fewest steps) that still shows it.
SEEDS = st.integers(min_value=0, max_value=2**32)


@settings(max_examples=1200, deadline=None)
@given(
    seed=SEEDS,
    steps=st.integers(min_value=0, max_value=260),
    interval_s=st.sampled_from((900, 1800)),
)
def test_live_equals_batch_per_interval(seed: int, steps: int, interval_s: int) -> None:
    rng = random.Random(seed)
    events = Simulator(rng).run(steps)
    config = random_config(rng, interval_s)
    metrics = live(events, config)
    assert metrics.report() == compute(events, config)
    later = (events[-1].ts if events else BASE_TS) + rng.choice((0, 1, 450_000, 3_600_000))
    assert metrics.report(now_ms=later) == compute(events, config, as_of_ms=later)


@settings(max_examples=900, deadline=None)
@given(
    seed=SEEDS,
    steps=st.integers(min_value=1, max_value=260),
    interval_s=st.sampled_from((900, 1800)),
)
def test_live_equals_batch_for_rolling_windows(seed: int, steps: int, interval_s: int) -> None:
    rng = random.Random(seed)
    events = Simulator(rng).run(steps)
    config = random_config(rng, interval_s)
    first, last = events[0].ts, events[-1].ts
    for _ in range(3):
        window = rng.choice((1, 60_000, 900_000, 1_800_000, 7_200_000))
        # ``at`` on an event, one window after an event (an entry exactly on the window's open
        # start) or anywhere
        at = rng.choice(
            (
                rng.choice(events).ts,
                rng.choice(events).ts + window,
                rng.randint(first - 1, last + 60_000),
            )
        )
        prefix = [e for e in events if e.ts <= at]
        metrics = live(prefix, config)
        expected = compute_rolling(events, config, at, window)
        assert metrics.rolling(at, window) == expected
        assert compute_rolling(prefix, config, at, window) == expected
        # an interval report of the prefix agrees too
        assert metrics.report(now_ms=at) == compute(events, config, as_of_ms=at)


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, steps=st.integers(min_value=1, max_value=150))
def test_tenants_are_never_mixed(seed: int, steps: int) -> None:
    events = Simulator(random.Random(seed)).run(steps)
    other = Simulator(random.Random(seed + 1), tenant="globex").run(steps)
    merged = sorted([*events, *other], key=lambda e: (e.ts, e.tenant != "acme"))
    config = MetricsConfig()
    for tenant, own in (("acme", events), ("globex", other)):
        expected = compute(own, config)
        assert compute(merged, config, tenant=tenant) == expected
        metrics = live(merged, config, tenant=tenant)
        assert metrics.report(now_ms=own[-1].ts) == expected
