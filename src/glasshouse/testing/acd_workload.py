"""Random but valid-looking ACD workloads, for tests and benchmarks that compare routers.

``random_workload`` drives an :class:`Acd` with a reproducible mix of commands (configuration,
logins, state changes, arrivals, answers, hang-ups, callbacks, time passing) and returns what
happened; two engines given the same seed must produce the same events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from glasshouse.domain.acd import Acd, AcdError, AgentSpec, QueueSpec
from glasshouse.domain.acd.config import STRATEGIES
from glasshouse.domain.events import (
    CallbackDialing,
    ContactAnswered,
    ContactEnded,
    ContactOffered,
    Event,
)


@dataclass
class Outcome:
    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _queues(rng: random.Random, skills: list[str], agents: list[str]) -> list[QueueSpec]:
    specs: list[QueueSpec] = []
    for i in range(rng.randint(1, 4)):
        qskills = {
            s: rng.randint(1, 3) for s in rng.sample(skills, rng.randint(0, min(2, len(skills))))
        }
        members = (
            frozenset(rng.sample(agents, rng.randint(1, len(agents))))
            if rng.random() < 0.2
            else None
        )
        overflow = specs[-1].queue_id if specs and rng.random() < 0.4 else None
        specs.append(
            QueueSpec(
                f"q{i}",
                strategy=rng.choice(STRATEGIES),  # type: ignore[arg-type]
                skills=qskills,
                members=members,
                wrap_up_s=rng.choice((0, 0, 5, 30)),
                ring_timeout_s=rng.choice((5, 15)),
                max_wait_s=rng.choice((None, 60, 300)),
                overflow_queue_id=overflow,
                overflow_after_s=rng.choice((None, 20)) if overflow else None,
                overflow_when_no_agents=bool(overflow) and rng.random() < 0.3,
                widen_after_s=rng.choice(((), (10,), (10, 40))),
                callback_max_attempts=rng.randint(1, 3),
            )
        )
    return specs


def random_workload(acd: Acd, seed: int, steps: int = 300) -> Outcome:
    """Apply ``steps`` random commands to ``acd``; refused commands are recorded, not raised."""
    rng = random.Random(seed)
    out = Outcome()
    skills = [f"s{i}" for i in range(rng.randint(1, 5))]
    agent_ids = [f"a{i}" for i in range(rng.randint(1, 8))]
    now = 0

    def run(fn: object, *args: object, **kwargs: object) -> None:
        try:
            out.events.extend(fn(*args, **kwargs))  # type: ignore[operator]
        except AcdError as exc:
            out.errors.append(f"{type(exc).__name__}: {exc}")

    for spec in _queues(rng, skills, agent_ids):
        run(acd.configure_queue, spec, now)
    queue_ids = [q.queue_id for q in acd.queues()]
    for agent_id in agent_ids:
        cap = {"voice": 1} if rng.random() < 0.8 else {"chat": rng.randint(1, 3), "voice": 1}
        agent_skills = {
            s: rng.randint(1, 5) for s in rng.sample(skills, rng.randint(0, len(skills)))
        }
        run(acd.configure_agent, AgentSpec(agent_id, agent_skills, cap), now)
    offered: list[tuple[str, str]] = []
    talking: list[str] = []
    wrapping: list[tuple[str, str]] = []
    dialing: list[str] = []
    contacts: list[str] = []
    n = 0
    for _ in range(steps):
        now += rng.choice((0, 1, 100, 1000, 5000, 20000))
        op = rng.random()
        before = len(out.events)
        if op < 0.25:
            n += 1
            cid = f"c{n}"
            contacts.append(cid)
            extra = {s: rng.randint(1, 4) for s in rng.sample(skills, rng.randint(0, 1))}
            run(
                acd.enqueue,
                cid,
                rng.choice(queue_ids),
                now,
                channel="chat" if rng.random() < 0.15 else "voice",
                priority=rng.choice((0, 0, 0, 1, 5)),
                skills=extra,
            )
        elif op < 0.35:
            run(acd.login, rng.choice(agent_ids), now, ready=rng.random() < 0.7)
        elif op < 0.42:
            run(acd.ready, rng.choice(agent_ids), now)
        elif op < 0.46:
            run(acd.not_ready, rng.choice(agent_ids), rng.choice(("break", "lunch")), now)
        elif op < 0.48:
            run(acd.logout, rng.choice(agent_ids), now)
        elif op < 0.60 and offered:
            cid, aid = offered.pop(rng.randrange(len(offered)))
            run(acd.answer, aid, cid, now)
        elif op < 0.70 and talking:
            run(acd.hangup, talking.pop(rng.randrange(len(talking))), now)
        elif op < 0.74 and wrapping:
            aid, cid = wrapping.pop(rng.randrange(len(wrapping)))
            run(acd.end_wrap_up, aid, cid, now)
        elif op < 0.80 and contacts:
            run(acd.abandon, rng.choice(contacts), now)
        elif op < 0.84 and contacts:
            run(acd.request_callback, rng.choice(contacts), now)
        elif op < 0.90 and dialing:
            cid = dialing.pop(rng.randrange(len(dialing)))
            if rng.random() < 0.5:
                run(acd.callback_connected, cid, now)
            else:
                run(acd.callback_failed, cid, now)
        else:
            run(acd.advance, now)
        for event in out.events[before:]:
            body = event.body
            if isinstance(body, ContactOffered):
                offered.append((body.contact_id, body.agent_id))
            elif isinstance(body, ContactAnswered):
                talking.append(body.contact_id)
            elif isinstance(body, ContactEnded):
                wrapping.append((body.agent_id, body.contact_id))
            elif isinstance(body, CallbackDialing):
                dialing.append(body.contact_id)
    return out
