"""Discrete-event simulation of a contact centre, driving the production ACD engine.

The simulation owns the customers and the agents' behaviour (when calls arrive, how long
people talk, how patient callers are, when agents pick up, take breaks and go home); the
routing, queueing, timers and every event come from :class:`glasshouse.domain.acd.Acd`
exactly as in the live system, on a simulated clock. The output is the event log.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from glasshouse.domain.acd import Acd, AcdError, AgentSpec
from glasshouse.domain.acd.config import RING_NO_ANSWER
from glasshouse.domain.events import (
    AgentNotReady,
    CallbackDialing,
    ContactAnswered,
    ContactOffered,
    Event,
)
from glasshouse.domain.sim.scenario import END_OF_SHIFT, AgentGroup, ArrivalStream, Scenario

# kinds of simulation events, in the order they run when due at the same millisecond
(
    _SHIFT_START,
    _BREAK_END,
    _RECOVER,
    _ARRIVAL,
    _ANSWER,
    _HANGUP,
    _CALLBACK_ASK,
    _PATIENCE,
    _DIAL,
    _BREAK,
    _SHIFT_END,
) = range(11)


@dataclass
class SimResult:
    scenario: Scenario
    events: list[Event] = field(default_factory=list)
    arrivals: int = 0
    end_ms: int = 0
    unfinished: int = 0  # contacts still in the ACD when the drain time ran out


class Simulation:
    """One run of a scenario. ``run()`` returns the event log."""

    def __init__(self, scenario: Scenario, *, seed: int | None = None) -> None:
        self.sc = scenario
        self.rng = random.Random(scenario.seed if seed is None else seed)
        self.acd = Acd(scenario.tenant, scenario.acd_settings())
        self.result = SimResult(scenario)
        self._heap: list[tuple[int, int, int, tuple[object, ...]]] = []
        self._seq = 0
        self._streams: dict[str, ArrivalStream] = {}  # contact -> its stream
        self._groups: dict[str, AgentGroup] = {}  # agent -> its group
        self._going_home: set[str] = set()
        self._n = 0

    # -- scheduling ------------------------------------------------------------------------

    def _at(self, when_ms: int, kind: int, *args: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (when_ms, kind, self._seq, args))

    def _ms(self, offset_s: float) -> int:
        return self.sc.start_ms + round(offset_s * 1000)

    # -- setup -----------------------------------------------------------------------------

    def _setup(self) -> None:
        sc = self.sc
        t0 = sc.start_ms
        for queue in sc.queues:
            self._apply(self.acd.configure_queue(queue, t0))
        end_s = sc.duration_s
        for group in sc.agents:
            for agent_id in group.agent_ids():
                self._groups[agent_id] = group
                self._apply(
                    self.acd.configure_agent(AgentSpec(agent_id, group.skills, group.capacity), t0)
                )
                self._at(self._ms(group.shift_start_s), _SHIFT_START, agent_id)
                shift_end = (
                    group.shift_end_s if group.shift_end_s is not None else end_s + sc.drain_s
                )
                self._at(self._ms(shift_end), _SHIFT_END, agent_id)
                for brk in group.breaks:
                    self._at(self._ms(brk.at_s), _BREAK, agent_id, brk.reason)
                    self._at(self._ms(brk.at_s + brk.duration_s), _BREAK_END, agent_id)
        for stream in sc.arrivals:
            for t in self._arrival_times(stream):
                self._at(self._ms(t), _ARRIVAL, stream)

    def _arrival_times(self, stream: ArrivalStream) -> list[float]:
        sc = self.sc
        if stream.times_s:
            return [t for t in stream.times_s if t < sc.duration_s]
        times: list[float] = []
        n_intervals = math.ceil(sc.duration_s / sc.interval_s)
        for i in range(n_intervals):
            begin = i * sc.interval_s
            end = min(sc.duration_s, begin + sc.interval_s)
            if stream.per_interval:
                calls = stream.per_interval[i % len(stream.per_interval)]
                rate_per_s = calls / sc.interval_s
            else:
                rate_per_s = stream.rate_per_hour / 3600.0
            if rate_per_s <= 0:
                continue
            t = begin + self.rng.expovariate(rate_per_s)
            while t < end:  # Poisson: exponential gaps, memoryless across the boundary
                times.append(t)
                t += self.rng.expovariate(rate_per_s)
        return times

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> SimResult:
        self._setup()
        acd = self.acd
        stop_ms = self._ms(self.sc.duration_s + self.sc.drain_s)
        handlers: dict[int, Callable[..., None]] = {
            _SHIFT_START: self._shift_start,
            _SHIFT_END: self._shift_end,
            _BREAK: self._break,
            _BREAK_END: self._break_end,
            _RECOVER: self._recover,
            _ARRIVAL: self._arrival,
            _ANSWER: self._answer,
            _HANGUP: self._hangup,
            _PATIENCE: self._patience,
            _CALLBACK_ASK: self._callback_ask,
            _DIAL: self._dial,
        }
        while True:
            deadline = acd.next_deadline()
            top = self._heap[0][0] if self._heap else None
            if deadline is not None and (top is None or deadline < top):
                if deadline > stop_ms:
                    break
                self._apply(acd.advance(deadline))
                continue
            if top is None or top > stop_ms:
                break
            when, kind, _, args = heapq.heappop(self._heap)
            handlers[kind](when, *args)
        self.result.end_ms = max(acd.now, self.sc.start_ms)
        self.result.unfinished = len(acd.contact_ids())
        return self.result

    def _apply(self, events: list[Event]) -> None:
        """Record the engine's events and react as the people involved would."""
        self.result.events.extend(events)
        for event in events:
            body = event.body
            if isinstance(body, ContactOffered):
                group = self._groups.get(body.agent_id)
                if group is None:
                    continue
                if group.no_answer_share and self.rng.random() < group.no_answer_share:
                    continue  # lets it ring out
                delay = group.answer_delay.sample(self.rng)
                self._at(event.ts + int(delay * 1000), _ANSWER, body.agent_id, body.contact_id)
            elif isinstance(body, ContactAnswered):
                stream = self._streams.get(body.contact_id)
                if stream is not None:
                    talk = stream.handle_time.sample(self.rng)
                    self._at(event.ts + max(1, int(talk * 1000)), _HANGUP, body.contact_id)
            elif isinstance(body, CallbackDialing):
                stream = self._streams.get(body.contact_id)
                if stream is not None:
                    self._at(event.ts + int(stream.callback_dial_s * 1000), _DIAL, body.contact_id)
            elif isinstance(body, AgentNotReady):
                if body.reason == END_OF_SHIFT and body.agent_id in self._going_home:
                    self._going_home.discard(body.agent_id)
                    self._try(self.acd.logout, body.agent_id, event.ts)
                elif body.reason == RING_NO_ANSWER and body.agent_id in self._groups:
                    back = self._groups[body.agent_id].rna_recovery_s
                    self._at(event.ts + int(back * 1000), _RECOVER, body.agent_id)

    def _try(self, command: Callable[..., list[Event]], *args: object) -> bool:
        """Run an engine command; a refusal is a race the simulation accepts (the customer
        hung up as the agent picked up), not an error."""
        try:
            self._apply(command(*args))
        except AcdError:
            return False
        return True

    # -- handlers --------------------------------------------------------------------------

    def _shift_start(self, when: int, agent_id: str) -> None:
        self._try(self.acd.login, agent_id, when)
        self._try(self.acd.ready, agent_id, when)

    def _shift_end(self, when: int, agent_id: str) -> None:
        view = self.acd.agent_view(agent_id)
        if view.presence == "logged_out":
            return
        if view.contacts:  # finish the work in hand, then go home
            self._going_home.add(agent_id)
            self._try(self.acd.not_ready, agent_id, END_OF_SHIFT, when)
        else:
            self._try(self.acd.logout, agent_id, when)

    def _break(self, when: int, agent_id: str, reason: str) -> None:
        if (
            self.acd.agent_view(agent_id).presence != "logged_out"
            and agent_id not in self._going_home
        ):
            self._try(self.acd.not_ready, agent_id, reason, when)

    def _break_end(self, when: int, agent_id: str) -> None:
        if (
            self.acd.agent_view(agent_id).presence != "logged_out"
            and agent_id not in self._going_home
        ):
            self._try(self.acd.ready, agent_id, when)

    def _recover(self, when: int, agent_id: str) -> None:
        view = self.acd.agent_view(agent_id)
        if view.presence == "not_ready" and view.reason == RING_NO_ANSWER:
            self._try(self.acd.ready, agent_id, when)

    def _arrival(self, when: int, stream: ArrivalStream) -> None:
        self._n += 1
        self.result.arrivals += 1
        cid = f"{stream.queue_id}-{self._n}"
        self._streams[cid] = stream
        weights = [w for _, w in stream.priorities]
        priority = self.rng.choices([p for p, _ in stream.priorities], weights)[0]
        self._apply(self.acd.arrive(cid, when, channel=stream.channel))
        self._apply(
            self.acd.enqueue(
                cid,
                stream.queue_id,
                when,
                channel=stream.channel,
                priority=priority,
                skills=stream.skills,
            )
        )
        patience_s = stream.patience.sample(self.rng) if stream.patience is not None else math.inf
        asks = stream.callback_share and self.rng.random() < stream.callback_share
        if asks and stream.callback_after_s < patience_s:
            self._at(when + int(stream.callback_after_s * 1000), _CALLBACK_ASK, cid)
        elif math.isfinite(patience_s):
            self._at(when + int(patience_s * 1000), _PATIENCE, cid)

    def _answer(self, when: int, agent_id: str, contact_id: str) -> None:
        self._try(self.acd.answer, agent_id, contact_id, when)

    def _hangup(self, when: int, contact_id: str) -> None:
        if self.acd.contact_phase(contact_id) in ("talking", "held"):
            self._try(self.acd.hangup, contact_id, when)

    def _patience(self, when: int, contact_id: str) -> None:
        if self.acd.contact_phase(contact_id) in ("waiting", "offered"):
            self._try(self.acd.abandon, contact_id, when)

    def _callback_ask(self, when: int, contact_id: str) -> None:
        phase = self.acd.contact_phase(contact_id)
        if phase == "waiting":
            self._try(self.acd.request_callback, contact_id, when)
        elif phase == "offered":  # an agent's phone is ringing: ask again if it rings out
            self._at(when + 1000, _CALLBACK_ASK, contact_id)

    def _dial(self, when: int, contact_id: str) -> None:
        if self.acd.contact_phase(contact_id) != "dialing":
            return
        stream = self._streams[contact_id]
        if self.rng.random() < stream.callback_answer_share:
            self._try(self.acd.callback_connected, contact_id, when)
        else:
            self._try(self.acd.callback_failed, contact_id, when)


def simulate(scenario: Scenario, *, seed: int | None = None) -> SimResult:
    """Run ``scenario`` once and return its event log."""
    return Simulation(scenario, seed=seed).run()
