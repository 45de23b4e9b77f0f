"""The ACD's mutable working state: one object per agent and per contact.

These are internal to the engine and its routers; the outside world sees events and the
read-only views the engine returns.
"""

from __future__ import annotations

import enum
from typing import Final

from glasshouse.domain.acd.config import EXCLUSIVE_CHANNELS, AgentSpec, QueueSpec

#: A contact requirement: ((skill, minimum level), ...) sorted by skill name.
Requirement = tuple[tuple[str, int], ...]


#: The queue of a contact an agent placed: it was never queued, so it waits nowhere, and its
#: after-call work is 0 s (no queue sets one). Compared by identity: no configured queue is it.
NO_QUEUE: Final = QueueSpec("\x00no queue", wrap_up_s=0)


class Presence(enum.Enum):
    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    READY = "ready"


class Phase(enum.Enum):
    """Where a contact is in its life inside the ACD."""

    WAITING = "waiting"  # in a queue (a callback request waits here too)
    OFFERED = "offered"  # ringing at one agent (or several, with ring-all)
    DIALING = "dialing"  # a callback: agent reserved, customer being dialled
    TALKING = "talking"
    HELD = "held"
    WRAP_UP = "wrap_up"  # conversation over, the agent is in after-call work
    DONE = "done"


class AgentState:
    __slots__ = (
        "calls",
        "contacts",
        "idle_since",
        "order",
        "pending_not_ready",
        "presence",
        "reason",
        "rr_last",
        "spec",
        "token",
    )

    def __init__(self, spec: AgentSpec, order: int) -> None:
        self.spec = spec
        self.order = order
        self.presence = Presence.LOGGED_OUT
        self.reason = ""
        #: contact id -> the channel of each contact the agent holds (ringing, talking, ACW)
        self.contacts: dict[str, str] = {}
        self.idle_since = 0
        self.calls = 0
        #: per round-robin queue: the counter value when this agent was last offered from it
        self.rr_last: dict[str, int] = {}
        #: bumped whenever the agent's availability or ordering keys change; router index
        #: entries holding an older token are stale
        self.token = 0
        #: a not-ready requested while busy, applied when the agent's last contact ends
        self.pending_not_ready: str | None = None

    @property
    def agent_id(self) -> str:
        return self.spec.agent_id

    def available_for(self, channel: str) -> bool:
        """Ready, and has room for one more contact of ``channel``."""
        if self.presence is not Presence.READY or self.pending_not_ready is not None:
            return False
        cap = self.spec.capacity.get(channel, 0)
        if cap == 0:
            return False
        if not self.contacts:
            return True
        if channel in EXCLUSIVE_CHANNELS:
            return False
        used = 0
        for ch in self.contacts.values():
            if ch in EXCLUSIVE_CHANNELS:
                return False
            if ch == channel:
                used += 1
        return used < cap

    def satisfies(self, requirement: Requirement) -> bool:
        skills = self.spec.skills
        return all(skills.get(skill, 0) >= level for skill, level in requirement)


class ContactState:
    __slots__ = (
        "agent_id",
        "attempts",
        "callback",
        "channel",
        "consult_for",
        "contact_id",
        "deferred",
        "entered_ms",
        "extra",
        "far_agent",
        "key",
        "offered_to",
        "phase",
        "priority",
        "queue",
        "requirement",
        "route_gen",
        "timer_gen",
        "widen_step",
    )

    def __init__(
        self,
        contact_id: str,
        queue: QueueSpec,
        channel: str,
        priority: int,
        extra: dict[str, int],
        entered_ms: int,
    ) -> None:
        self.contact_id = contact_id
        self.queue = queue
        self.channel = channel
        self.priority = priority
        #: the contact's own skill requirements, beyond its queue's
        self.extra = extra
        self.entered_ms = entered_ms
        self.requirement: Requirement = ()
        self.key: tuple[int, int] = (0, 0)
        self.phase = Phase.WAITING
        self.offered_to: list[str] = []
        self.agent_id = ""
        self.callback = False
        self.attempts = 0
        #: bumped when the contact leaves a queue (or becomes a callback): its wait timers
        #: (maximum wait, overflow, widening) holding an older value are void
        self.timer_gen = 0
        #: bumped whenever the contact stops waiting; routing-index entries and ring timers
        #: holding an older value are void
        self.route_gen = 0
        #: wait timers that fell due while an agent's phone rang, applied if it rings out
        self.deferred: list[tuple[int, str]] = []
        self.widen_step = 0
        #: a call an agent placed to consult about this held contact of theirs
        self.consult_for: str | None = None
        #: the agent who answered a call placed by ``agent_id`` (an agent-to-agent call)
        self.far_agent = ""

    @property
    def placed(self) -> bool:
        """An agent placed this call: it never waited in a queue."""
        return self.queue is NO_QUEUE


def effective_requirement(queue: QueueSpec, extra: dict[str, int], widen_step: int) -> Requirement:
    """The skills a contact needs after ``widen_step`` widening steps of its queue."""
    merged = dict(queue.skills)
    steps = len(queue.widen_after_s)
    if widen_step < steps or steps == 0:
        for skill, level in extra.items():
            if merged.get(skill, 0) < level:
                merged[skill] = level
    if widen_step:
        merged = {skill: max(1, level - widen_step) for skill, level in merged.items()}
    return tuple(sorted(merged.items()))
