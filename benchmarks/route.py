"""ROUTE-1: routing decisions per second and decision latency at contact-centre scale.

10,000 logged-in agents, 500 skills (each agent 3-8 skills with proficiencies 1-5), 500 queues
(one per skill, strategies mixed), 50,000 waiting contacts with priorities and minimum
proficiencies, and churn (agents going not-ready/ready, contacts abandoning, new arrivals:
10 % of the commands). Two phases:

* agent-side: the floor is saturated; an agent finishing a call triggers a decision (which
  waiting contact, among 50,000, that agent takes next);
* contact-side: thousands of agents are idle; each arriving contact triggers a decision
  (which idle agent, by the queue's strategy).

A decision is the router's choice (which contact for this agent, which agent for this contact),
timed around the router call, lazy clean-up of the indexes included; the whole engine command
around it (events, timers, wrap-up, bookkeeping) is timed too and printed beside it. The same
command stream then runs through the naive full-scan router (``glasshouse.testing``) from the
same starting state, over a shorter prefix, and the events of both must be identical.

    python benchmarks/route.py [--decisions N] [--baseline-decisions N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from glasshouse.domain.acd import Acd, AgentSpec, QueueSpec
from glasshouse.domain.acd.routing import IndexedRouter, Router
from glasshouse.domain.acd.state import AgentState, ContactState
from glasshouse.domain.events import ContactOffered, Event
from glasshouse.testing.naive_router import NaiveRouter

AGENTS = 10_000
SKILLS = 500
WAITING = 50_000
STRATEGIES = ("skills_based", "longest_idle", "least_calls", "round_robin")
TARGET_RATE = 50_000
TARGET_P99_US = 100.0


class TimedRouter:
    """Wraps a router and times each routing decision (a lookup that found a match)."""

    def __init__(self, inner: Router) -> None:
        self.inner = inner
        self.decisions_ns: list[int] = []
        self.rebuild = inner.rebuild
        self.agent_changed = inner.agent_changed
        self.add_waiting = inner.add_waiting
        self.remove_waiting = inner.remove_waiting
        self.all_agents = inner.all_agents

    def best_contact(self, agent: AgentState, channel: str) -> ContactState | None:
        t0 = time.perf_counter_ns()
        found = self.inner.best_contact(agent, channel)
        t1 = time.perf_counter_ns()
        if found is not None:
            self.decisions_ns.append(t1 - t0)
        return found

    def best_agent(self, contact: ContactState) -> AgentState | None:
        t0 = time.perf_counter_ns()
        found = self.inner.best_agent(contact)
        t1 = time.perf_counter_ns()
        if found is not None:
            self.decisions_ns.append(t1 - t0)
        return found


def timed(
    inner: Callable[[Callable[[], list[QueueSpec]]], Router],
) -> Callable[[Callable[[], list[QueueSpec]]], TimedRouter]:
    return lambda queues: TimedRouter(inner(queues))


@dataclass
class Run:
    decisions_ns: list[int] = field(default_factory=list)
    latencies_ns: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Routing decisions per second of time spent deciding."""
        busy = sum(self.decisions_ns)
        return len(self.decisions_ns) * 1e9 / busy if busy else 0.0

    @property
    def command_rate(self) -> float:
        """Decision-making engine commands per second of time spent in them."""
        busy = sum(self.latencies_ns)
        return len(self.latencies_ns) * 1e9 / busy if busy else 0.0

    def pct_us(self, p: float) -> float:
        return pct(self.decisions_ns, p)

    def command_pct_us(self, p: float) -> float:
        return pct(self.latencies_ns, p)


def pct(values: list[int], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(p * len(data)))] / 1000.0 if data else 0.0


def build(seed: int) -> tuple[Acd, list[str], random.Random]:
    """The starting state: agents busy or idle as the phase needs, 50,000 contacts waiting."""
    rng = random.Random(seed)
    acd = Acd("bench", router=timed(IndexedRouter))
    now = 0
    for i in range(SKILLS):
        acd.configure_queue(
            QueueSpec(f"q{i}", strategy=STRATEGIES[i % len(STRATEGIES)], skills={f"s{i}": 1}),  # type: ignore[arg-type]
            now,
        )
    agent_ids = [f"a{i}" for i in range(AGENTS)]
    for agent_id in agent_ids:
        skills = {f"s{s}": rng.randint(1, 5) for s in rng.sample(range(SKILLS), rng.randint(3, 8))}
        acd.configure_agent(AgentSpec(agent_id, skills), now)
        acd.login(agent_id, now)
    return acd, agent_ids, rng


def enqueue_random(acd: Acd, rng: random.Random, cid: str, now: int) -> list[Event]:
    q = min(int(rng.paretovariate(1.2)) - 1, SKILLS - 1)  # some queues far busier than others
    q = (q * 7919 + rng.randrange(5)) % SKILLS
    return acd.enqueue(
        cid,
        f"q{q}",
        now,
        priority=rng.choice((0, 0, 0, 0, 1, 2, 5, 9)),
        skills={f"s{q}": rng.choice((1, 1, 2, 3))},
    )


Command = tuple[str, tuple[object, ...]]


def script_agent_side(
    acd: Acd, agent_ids: list[str], rng: random.Random, decisions: int
) -> tuple[list[Command], int]:
    """Fill the floor, then write the command stream of the agent-side phase."""
    now = 1
    n = 0
    talking: dict[str, str] = {}  # agent -> contact
    waiting: list[str] = []
    for agent_id in agent_ids:  # every agent busy: ready, take a call, answer it
        acd.ready(agent_id, now)
    for _ in range(WAITING + AGENTS):
        n += 1
        cid = f"c{n}"
        for ev in enqueue_random(acd, rng, cid, now):
            if isinstance(ev.body, ContactOffered):
                acd.answer(ev.body.agent_id, cid, now)
                talking[ev.body.agent_id] = cid
        if cid not in talking.values():
            waiting.append(cid)
        now += 1
    # the command stream: mostly "an agent hangs up" (-> decision); 10 % churn
    commands: list[Command] = []
    busy = list(talking)
    made = 0
    while made < decisions:
        now += rng.randint(1, 20)
        r = rng.random()
        if r < 0.9 and busy:
            agent_id = busy[rng.randrange(len(busy))]
            commands.append(("decide_hangup", (agent_id, now)))
            made += 1
        elif r < 0.95:
            n += 1
            commands.append(("arrive", (f"c{n}", now)))
        elif r < 0.975:
            commands.append(("abandon_random", (rng.random(), now)))
        else:
            commands.append(("toggle", (agent_ids[rng.randrange(len(agent_ids))], now)))
    return commands, n


class Driver:
    """Plays a command stream against an engine, keeping its own view of who talks to whom."""

    def __init__(self, acd: Acd, rng_seed: int) -> None:
        self.acd = acd
        self.rng = random.Random(rng_seed)
        self.talking: dict[str, str] = {}
        self.run = Run()
        for view_agent in acd.agents():
            av = acd.agent_view(view_agent.agent_id)
            for cid, phase in av.contacts:
                if phase == "talking":
                    self.talking[view_agent.agent_id] = cid
        self.waiting = [cid for cid in acd.contact_ids() if acd.contact_phase(cid) == "waiting"]
        self.not_ready: set[str] = set()

    def _after(self, events: list[Event]) -> None:
        self.run.events.extend(events)
        for ev in events:
            body = ev.body
            if isinstance(body, ContactOffered):
                self.acd.answer(body.agent_id, body.contact_id, ev.ts)
                self.talking[body.agent_id] = body.contact_id

    def play(self, commands: list[Command], limit: int | None = None) -> Run:
        router = self.acd.router
        assert isinstance(router, TimedRouter)
        mark = len(router.decisions_ns)
        self._play(commands, limit)
        self.run.decisions_ns = router.decisions_ns[mark:]
        return self.run

    def _play(self, commands: list[Command], limit: int | None) -> None:
        acd = self.acd
        clock = time.perf_counter_ns
        decisions = 0
        start = time.perf_counter()
        for name, args in commands:
            if name == "decide_hangup":
                agent_id, now = args
                cid = self.talking.pop(agent_id, None)  # type: ignore[arg-type]
                if cid is None:
                    continue
                t0 = clock()
                events = acd.hangup(cid, now)  # type: ignore[arg-type]
                t1 = clock()
                self.run.latencies_ns.append(t1 - t0)
                decisions += 1
                self._after(events)
                if limit is not None and decisions >= limit:
                    break
            elif name == "arrive":
                cid, now = args
                t0 = clock()
                events = enqueue_random(acd, self.rng, cid, now)  # type: ignore[arg-type]
                t1 = clock()
                if any(isinstance(e.body, ContactOffered) for e in events):
                    self.run.latencies_ns.append(t1 - t0)
                    decisions += 1
                else:
                    self.waiting.append(cid)  # type: ignore[arg-type]
                self._after(events)
            elif name == "abandon_random":
                pick, now = args
                while self.waiting:
                    i = int(pick * len(self.waiting))  # type: ignore[operator]
                    cid = self.waiting.pop(i)
                    if acd.contact_phase(cid) == "waiting":
                        self._after(acd.abandon(cid, now))  # type: ignore[arg-type]
                        break
            elif name == "toggle":
                agent_id, now = args
                if agent_id in self.not_ready:
                    self.not_ready.discard(agent_id)  # type: ignore[arg-type]
                    t0 = clock()
                    events = acd.ready(agent_id, now)  # type: ignore[arg-type]
                    t1 = clock()
                    if any(isinstance(e.body, ContactOffered) for e in events):
                        self.run.latencies_ns.append(t1 - t0)
                        decisions += 1
                    self._after(events)
                else:
                    self.not_ready.add(agent_id)  # type: ignore[arg-type]
                    self._after(acd.not_ready(agent_id, "break", now))  # type: ignore[arg-type]
        self.run.seconds = time.perf_counter() - start


def contact_side(seed: int, decisions: int, naive: bool) -> Run:
    """Idle floor: every arrival is a decision over thousands of idle agents."""
    acd, agent_ids, rng = build(seed)
    for agent_id in agent_ids:
        acd.ready(agent_id, 1)
    if naive:
        acd.replace_router(timed(NaiveRouter))
    router = acd.router
    assert isinstance(router, TimedRouter)
    mark = len(router.decisions_ns)
    run = Run()
    clock = time.perf_counter_ns
    now = 2
    start = time.perf_counter()
    talking: list[tuple[str, str]] = []
    for n in range(decisions):
        now += 1
        cid = f"x{n}"
        t0 = clock()
        events = enqueue_random(acd, rng, cid, now)
        t1 = clock()
        run.events.extend(events)
        offered = [e.body for e in events if isinstance(e.body, ContactOffered)]
        if offered:
            run.latencies_ns.append(t1 - t0)
            acd.answer(offered[0].agent_id, cid, now)
            talking.append((offered[0].agent_id, cid))
        else:
            run.events.extend(acd.abandon(cid, now))
        if len(talking) > AGENTS // 2:  # keep about half the floor idle
            _, old = talking.pop(rng.randrange(len(talking)))
            run.events.extend(acd.hangup(old, now))
    run.seconds = time.perf_counter() - start
    run.decisions_ns = router.decisions_ns[mark:]
    return run


def report(label: str, fast: Run, slow: Run, same: bool) -> list[str]:
    def row(name: str, run: Run) -> str:
        return (
            f"  {name:<8} {len(run.decisions_ns):>7,} decisions {run.rate:>10,.0f}/s  "
            f"p50 {run.pct_us(0.50):8.1f} us  p99 {run.pct_us(0.99):8.1f} us   | whole command "
            f"p50 {run.command_pct_us(0.50):8.1f} us  p99 {run.command_pct_us(0.99):8.1f} us"
        )

    return [
        f"{label}:",
        row("indexed", fast),
        row("naive", slow),
        f"  ratio indexed/naive: {fast.rate / slow.rate:,.0f}x decisions/s; routing identical "
        f"to the naive scan on the common prefix: {'yes' if same else 'NO'}",
    ]


def same_prefix(a: list[Event], b: list[Event]) -> bool:
    n = min(len(a), len(b))
    return n > 0 and [e.to_dict() for e in a[:n]] == [e.to_dict() for e in b[:n]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--baseline-decisions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    print(
        f"ROUTE-1: {AGENTS:,} agents, {SKILLS} skills/queues, {WAITING:,} waiting, 10 % churn "
        f"(Python {sys.version.split()[0]}, one core)"
    )
    t = time.perf_counter()
    acd, agent_ids, rng = build(args.seed)
    commands, _ = script_agent_side(acd, agent_ids, rng, args.decisions)
    print(f"setup {time.perf_counter() - t:.1f} s")

    def snapshot() -> Acd:
        fresh, ids, r = build(args.seed)
        script_agent_side(fresh, ids, r, args.decisions)
        return fresh

    fast = Driver(acd, args.seed + 1).play(commands)
    naive_acd = snapshot()
    naive_acd.replace_router(timed(NaiveRouter))
    slow = Driver(naive_acd, args.seed + 1).play(commands, limit=args.baseline_decisions)
    lines = report(
        "agent-side (agent frees up; 50,000 waiting)",
        fast,
        slow,
        same_prefix(fast.events, slow.events),
    )

    fast_c = contact_side(args.seed, args.decisions // 2, naive=False)
    slow_c = contact_side(args.seed, args.baseline_decisions, naive=True)
    lines += report(
        "contact-side (contact arrives; ~5,000 idle agents)",
        fast_c,
        slow_c,
        same_prefix(fast_c.events, slow_c.events),
    )

    combined = Run(
        decisions_ns=fast.decisions_ns + fast_c.decisions_ns,
        latencies_ns=fast.latencies_ns + fast_c.latencies_ns,
        seconds=fast.seconds + fast_c.seconds,
    )
    ok_rate = combined.rate >= TARGET_RATE
    ok_p99 = combined.pct_us(0.99) <= TARGET_P99_US
    ok_same = same_prefix(fast.events, slow.events) and same_prefix(fast_c.events, slow_c.events)
    lines += [
        "both phases, indexed router:",
        f"  {combined.rate:,.0f} routing decisions/s (target >= {TARGET_RATE:,}: "
        f"{'PASS' if ok_rate else 'MISS'}); p50 {combined.pct_us(0.5):.1f} us, "
        f"p99 {combined.pct_us(0.99):.1f} us (target <= {TARGET_P99_US:.0f} us: "
        f"{'PASS' if ok_p99 else 'MISS'})",
        f"  whole engine commands that made a decision: {combined.command_rate:,.0f}/s, "
        f"p50 {combined.command_pct_us(0.5):.1f} us, p99 {combined.command_pct_us(0.99):.1f} us",
        f"  wall-clock loop incl. answers, churn and bookkeeping: "
        f"{len(combined.latencies_ns) / combined.seconds:,.0f} commands/s",
    ]
    print("\n".join(lines))
    return 0 if ok_same else 1


if __name__ == "__main__":
    sys.exit(main())
