"""The ACD engine of one tenant, sans-I/O.

Every command takes the current time (integer ms) and returns the events it caused, in order.
Events are both the facts to append to the log and the instructions for the adapters
(``contact.offered`` rings an agent's phone, ``callback.dialing`` dials a customer...). Timers
(ring-no-answer, maximum wait, overflow, skill widening, wrap-up) are internal: a command first
fires every timer due at or before its time, and ``advance(now)`` fires them on their own;
``next_deadline()`` says when the next one is due. The live system and the simulator drive the
same engine, so what-if simulations route exactly as production does.

A command that is not allowed raises a typed :class:`AcdError` before anything changes.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from sortedcontainers import SortedList

from glasshouse.domain.acd.config import (
    RING_NO_ANSWER,
    AcdSettings,
    AgentSpec,
    QueueSpec,
)
from glasshouse.domain.acd.errors import (
    AcdError,
    ClockError,
    InvalidTransition,
    UnknownAgent,
    UnknownContact,
    UnknownQueue,
)
from glasshouse.domain.acd.routing import IndexedRouter, Router
from glasshouse.domain.acd.state import (
    NO_QUEUE,
    AgentState,
    ContactState,
    Phase,
    Presence,
    effective_requirement,
)
from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentConfigured,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNotReady,
    AgentReady,
    CallbackDialing,
    CallbackFailed,
    CallbackRequested,
    CallbackRestored,
    ContactAbandoned,
    ContactAnswered,
    ContactArrived,
    ContactBlocked,
    ContactConsultAnswered,
    ContactDispositioned,
    ContactEnded,
    ContactHeld,
    ContactIvrAbandoned,
    ContactIvrCompleted,
    ContactOffered,
    ContactOfferWithdrawn,
    ContactOutboundFailed,
    ContactOutboundStarted,
    ContactOverflowed,
    ContactQueued,
    ContactRetrieved,
    ContactRingNoAnswer,
    ContactTimedOut,
    ContactTransferConnected,
    ContactTransferred,
    Event,
    EventBody,
    QueueConfigured,
)

#: The reason code an agent has between logging in and first going ready.
LOGIN_REASON: Final = "login"
SYSTEM_REASONS: Final = frozenset({LOGIN_REASON, RING_NO_ANSWER})

_RING, _MAX_WAIT, _OVERFLOW, _WIDEN, _WRAP_UP = range(5)
#: the after-call work of an agent whose contact carried on without them (a transfer)
_WRAP_UP_APART: Final = 5
#: a callback the customer did not answer may be dialled again (its queue's retry delay)
_CALLBACK_RETRY: Final = 6
#: keys of contacts put back at the front of their queue sort before every arrival's
_FRONT: Final = 1 << 62
_VOICE: Final = "voice"

RouterFactory = Callable[[Callable[[], list[QueueSpec]]], Router]


@dataclass(frozen=True, slots=True)
class AgentView:
    agent_id: str
    presence: str
    reason: str
    contacts: tuple[tuple[str, str], ...]  # (contact id, phase)
    calls: int


@dataclass(frozen=True, slots=True)
class QueueView:
    queue_id: str
    waiting: int
    callbacks_waiting: int
    staffed: int
    available: int
    oldest_entered_ms: int | None


class Acd:
    """One tenant's ACD: agents, queues and the contacts between them."""

    def __init__(
        self,
        tenant: str,
        settings: AcdSettings | None = None,
        *,
        router: RouterFactory | None = None,
        test: bool = False,
    ) -> None:
        if not tenant:
            raise AcdError("a tenant id is required")
        self.tenant = tenant
        self.settings = settings or AcdSettings()
        self.test = test
        self._queues: dict[str, QueueSpec] = {}
        self._agents: dict[str, AgentState] = {}
        self._contacts: dict[str, ContactState] = {}
        self._in_ivr: set[str] = set()
        self._now = 0
        self._out: list[Event] = []
        self._carried: list[Event] = []
        self._timers: list[tuple[int, int, int, str, int, str]] = []
        self._timer_seq = 0
        self._order = 0  # arrival order of waiting contacts
        self._rr_counter: dict[str, int] = {}
        self._waiting: dict[str, SortedList] = {}  # queue -> keys of waiting contacts
        self._staffed: dict[str, int] = {}  # queue -> logged-in eligible agents
        self._aht_ms: dict[str, float] = {}  # queue -> smoothed handle time
        self._handle_start: dict[str, int] = {}  # contact -> answer time
        #: (agent, contact) -> (queue, answer time, timer generation): after-call work of an
        #: agent on a contact that carried on without them
        self._apart: dict[tuple[str, str], tuple[QueueSpec, int, int]] = {}
        self._apart_gen = 0
        self._front = 0  # order of contacts put back at the front of their queue
        #: callbacks waiting out their retry delay: they keep their place in the queue but
        #: stay out of the routing index until their timer says they may be dialled again
        self._retry_due: set[str] = set()
        factory: RouterFactory = router or IndexedRouter
        self._router = factory(lambda: list(self._queues.values()))

    # ------------------------------------------------------------------------------------
    # plumbing

    def _begin(self, now: int) -> None:
        if isinstance(now, bool) or not isinstance(now, int):
            raise ClockError(f"time must be integer milliseconds, got {now!r}")
        if now < self._now:
            raise ClockError(f"time went backwards: {now} < {self._now}")
        # events of timers fired by a command that was then refused are not lost
        self._out, self._carried = self._carried, []
        self._fire_due(now)
        self._now = now

    def _finish(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def _emit(self, body: EventBody) -> None:
        self._out.append(Event(self.tenant, self._now, body, test=self.test))

    def _timer(self, at: int, kind: int, target: str, gen: int, extra: str = "") -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (at, self._timer_seq, kind, target, gen, extra))

    def _fire_due(self, now: int) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            at, _, kind, target, gen, extra = heapq.heappop(timers)
            self._now = max(self._now, at)
            if kind == _WRAP_UP:
                self._on_wrap_up_timer(target, gen, extra)
            elif kind == _WRAP_UP_APART:
                apart = self._apart.get((target, extra))
                if apart is not None and apart[2] == gen:
                    self._end_apart(target, extra)
            else:
                contact = self._contacts.get(target)
                if contact is not None:
                    self._on_contact_timer(contact, kind, gen, extra)

    def next_deadline(self) -> int | None:
        """When the next timer is due (ms), or None. Void timers may fire as no-ops."""
        return self._timers[0][0] if self._timers else None

    def advance(self, now: int) -> list[Event]:
        """Fire every timer due at or before ``now``."""
        self._begin(now)
        return self._finish()

    def _agent(self, agent_id: str) -> AgentState:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(agent_id)
        return agent

    def _contact(self, contact_id: str) -> ContactState:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise UnknownContact(contact_id)
        return contact

    def _queue(self, queue_id: str) -> QueueSpec:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise UnknownQueue(queue_id)
        return queue

    # ------------------------------------------------------------------------------------
    # configuration

    def configure_queue(self, spec: QueueSpec, now: int) -> list[Event]:
        """Create a queue or change its settings (waiting contacts keep their places)."""
        if spec.overflow_queue_id is not None and spec.overflow_queue_id not in self._queues:
            raise UnknownQueue(spec.overflow_queue_id)
        self._begin(now)
        self._queues[spec.queue_id] = spec
        self._rr_counter.setdefault(spec.queue_id, 0)
        self._waiting.setdefault(spec.queue_id, SortedList())
        self._aht_ms.setdefault(spec.queue_id, spec.default_aht_s * 1000.0)
        for contact in self._contacts.values():
            if contact.queue.queue_id == spec.queue_id:
                contact.queue = spec
                contact.requirement = effective_requirement(spec, contact.extra, contact.widen_step)
        self._staffed[spec.queue_id] = sum(
            1
            for a in self._agents.values()
            if a.presence is not Presence.LOGGED_OUT and self._serves(a, spec)
        )
        self._rebuild_router()
        self._emit(
            QueueConfigured(
                queue_id=spec.queue_id,
                strategy=spec.strategy,
                sl_threshold_s=spec.sl_threshold_s,
                short_abandon_s=spec.short_abandon_s,
                wrap_up_s=spec.wrap_up_s,
                callback_retry_s=spec.callback_retry_s,
            )
        )
        for contact in self._waiting_contacts(spec.queue_id):
            if contact.phase is Phase.WAITING:
                self._route_contact(contact)
        return self._finish()

    def configure_agent(self, spec: AgentSpec, now: int) -> list[Event]:
        """Create an agent or change their skills and capacity."""
        old = self._agents.get(spec.agent_id)
        self._begin(now)
        if old is None:
            agent = AgentState(spec, len(self._agents))
            self._agents[spec.agent_id] = agent
        else:
            agent = old
            if agent.presence is not Presence.LOGGED_OUT:
                self._staff(agent, -1)
            agent.spec = spec
            if agent.presence is not Presence.LOGGED_OUT:
                self._staff(agent, +1)
        self._emit(
            AgentConfigured(
                agent_id=spec.agent_id, skills=dict(spec.skills), capacity=dict(spec.capacity)
            )
        )
        if old is not None:
            self._rebuild_router()
            self._route_agent(agent)
        return self._finish()

    def replace_router(self, factory: RouterFactory) -> None:
        """Swap the routing index for another built from the current state (used to run the
        naive reference router from exactly the state the indexed one reached)."""
        self._router = factory(lambda: list(self._queues.values()))
        self._rebuild_router()

    def _rebuild_router(self) -> None:
        waiting = [
            c
            for c in self._contacts.values()
            if c.phase is Phase.WAITING and c.contact_id not in self._retry_due
        ]
        self._router.rebuild(self._agents.values(), waiting)

    @staticmethod
    def _serves(agent: AgentState, queue: QueueSpec) -> bool:
        if queue.members is not None and agent.agent_id not in queue.members:
            return False
        return agent.satisfies(tuple(queue.skills.items())) and (bool(agent.spec.capacity))

    def _staff(self, agent: AgentState, delta: int) -> None:
        for queue in self._queues.values():
            if self._serves(agent, queue):
                self._staffed[queue.queue_id] += delta

    def _waiting_contacts(self, queue_id: str) -> Iterator[ContactState]:
        return (c for c in list(self._contacts.values()) if c.queue.queue_id == queue_id)

    # ------------------------------------------------------------------------------------
    # agent commands

    def login(self, agent_id: str, now: int, *, ready: bool = False) -> list[Event]:
        """Log the agent in: not ready (reason "login") until they go ready."""
        agent = self._agent(agent_id)
        if agent.presence is not Presence.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id!r} is already logged in")
        self._begin(now)
        agent.presence = Presence.NOT_READY
        agent.reason = LOGIN_REASON
        agent.calls = 0
        self._staff(agent, +1)
        self._emit(AgentLoggedIn(agent_id=agent_id))
        self._emit(AgentNotReady(agent_id=agent_id, reason=LOGIN_REASON))
        if ready:
            self._set_ready(agent)
        return self._finish()

    def logout(self, agent_id: str, now: int) -> list[Event]:
        """Log the agent out. Refused while the agent holds a contact."""
        agent = self._agent(agent_id)
        if agent.presence is Presence.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id!r} is not logged in")
        self._check_idle(agent, "log out")
        self._begin(now)
        try:  # a timer due now may have handed the agent a contact
            self._check_idle(agent, "log out")
        except AcdError:
            self._carried, self._out = self._out, []
            raise
        self._do_logout(agent)
        return self._finish()

    def _check_idle(self, agent: AgentState, doing: str) -> None:
        if agent.contacts:
            cid = next(iter(agent.contacts))
            phase = self._phase_for(agent.agent_id, cid) or "busy"
            raise InvalidTransition(
                f"agent {agent.agent_id!r} cannot {doing}: contact {cid!r} is {phase}; "
                "end or transfer it first"
            )

    def _do_logout(self, agent: AgentState) -> None:
        agent.presence = Presence.LOGGED_OUT
        agent.reason = ""
        agent.pending_not_ready = None
        self._staff(agent, -1)
        agent.token += 1
        self._emit(AgentLoggedOut(agent_id=agent.agent_id))

    def ready(self, agent_id: str, now: int) -> list[Event]:
        """The agent is ready for contacts (cancels a pending not-ready)."""
        agent = self._agent(agent_id)
        if agent.presence is Presence.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id!r} is not logged in")
        self._begin(now)
        if agent.presence is Presence.NOT_READY:
            agent.pending_not_ready = None
            self._set_ready(agent)
        elif agent.pending_not_ready is not None:
            agent.pending_not_ready = None
            agent.token += 1
            self._route_agent(agent, indexed=False)
        return self._finish()

    def _set_ready(self, agent: AgentState) -> None:
        agent.presence = Presence.READY
        agent.reason = ""
        if not agent.contacts:
            agent.idle_since = self._now
        self._emit(AgentReady(agent_id=agent.agent_id))
        agent.token += 1
        self._route_agent(agent, indexed=False)

    def not_ready(self, agent_id: str, reason: str, now: int) -> list[Event]:
        """The agent goes not ready with a reason code; while busy, it applies after wrap-up."""
        agent = self._agent(agent_id)
        if agent.presence is Presence.LOGGED_OUT:
            raise InvalidTransition(f"agent {agent_id!r} is not logged in")
        if reason not in self.settings.reason_codes:
            codes = ", ".join(sorted(self.settings.reason_codes))
            raise AcdError(f"unknown not-ready reason {reason!r} (this tenant has: {codes})")
        self._begin(now)
        if agent.contacts:
            agent.pending_not_ready = reason
            agent.token += 1
        elif agent.presence is not Presence.NOT_READY or agent.reason != reason:
            self._set_not_ready(agent, reason)
        return self._finish()

    def _set_not_ready(self, agent: AgentState, reason: str) -> None:
        agent.presence = Presence.NOT_READY
        agent.reason = reason
        agent.pending_not_ready = None
        agent.token += 1
        self._emit(AgentNotReady(agent_id=agent.agent_id, reason=reason))

    def answer(self, agent_id: str, contact_id: str, now: int) -> list[Event]:
        """The agent picks up a contact offered to them."""
        agent = self._agent(agent_id)
        contact = self._contact(contact_id)
        if contact.phase is not Phase.OFFERED or agent_id not in contact.offered_to:
            raise InvalidTransition(
                f"contact {contact_id!r} is not ringing at agent {agent_id!r} "
                f"(it is {contact.phase.value})"
            )
        self._begin(now)
        if contact.phase is not Phase.OFFERED or agent_id not in contact.offered_to:
            # the ring timer fired at this very instant: the offer is gone
            return self._finish()
        others = [a for a in contact.offered_to if a != agent_id]
        self._connect(contact, agent)
        self._withdraw(contact, others, "answered_elsewhere")
        return self._finish()

    def decline(self, agent_id: str, contact_id: str, now: int) -> list[Event]:
        """The agent's phone refused the offer or could not be reached (busy, declined, no
        registered phone): like a ring-no-answer, at once. With ring-all and other agents still
        ringing, only this agent's offer is withdrawn."""
        self._agent(agent_id)
        contact = self._contact(contact_id)
        if contact.phase is not Phase.OFFERED or agent_id not in contact.offered_to:
            raise InvalidTransition(
                f"contact {contact_id!r} is not ringing at agent {agent_id!r} "
                f"(it is {contact.phase.value})"
            )
        self._begin(now)
        if contact.phase is not Phase.OFFERED or agent_id not in contact.offered_to:
            return self._finish()  # the ring timer fired at this very instant
        if len(contact.offered_to) > 1:
            contact.offered_to = [a for a in contact.offered_to if a != agent_id]
            self._withdraw(contact, [agent_id], "declined")
        else:
            self._ring_no_answer(contact)
        return self._finish()

    def _withdraw(self, contact: ContactState, agent_ids: list[str], reason: str) -> None:
        """Stop an offer ringing at these agents, free them all, then route to them."""
        agents = [self._agents[a] for a in agent_ids]
        for agent in agents:
            agent.contacts.pop(contact.contact_id, None)
            self._emit(
                ContactOfferWithdrawn(
                    contact_id=contact.contact_id,
                    queue_id=contact.queue.queue_id,
                    agent_id=agent.agent_id,
                    reason=reason,
                )
            )
        # every agent is free in the index before any is routed: one's routing must see
        # the others as they really are
        for agent in agents:
            self._free(agent)
        for agent in agents:
            self._route_agent(agent)

    def _connect(self, contact: ContactState, agent: AgentState) -> None:
        contact.phase = Phase.TALKING
        contact.agent_id = agent.agent_id
        contact.offered_to = []
        contact.timer_gen += 1
        agent.calls += 1
        self._agent_changed(agent)
        self._handle_start[contact.contact_id] = self._now
        self._emit(
            ContactAnswered(
                contact_id=contact.contact_id,
                queue_id=contact.queue.queue_id,
                agent_id=agent.agent_id,
            )
        )

    def hold(self, agent_id: str, contact_id: str, now: int) -> list[Event]:
        contact = self._handled_by(agent_id, contact_id, Phase.TALKING, "put on hold")
        self._begin(now)
        contact.phase = Phase.HELD
        self._emit(ContactHeld(contact_id=contact_id, agent_id=agent_id))
        return self._finish()

    def retrieve(self, agent_id: str, contact_id: str, now: int) -> list[Event]:
        contact = self._handled_by(agent_id, contact_id, Phase.HELD, "retrieve")
        self._begin(now)
        contact.phase = Phase.TALKING
        self._emit(ContactRetrieved(contact_id=contact_id, agent_id=agent_id))
        return self._finish()

    def _handled_by(self, agent_id: str, contact_id: str, phase: Phase, doing: str) -> ContactState:
        self._agent(agent_id)
        contact = self._contact(contact_id)
        if contact.agent_id != agent_id or contact.phase is not phase:
            raise InvalidTransition(
                f"agent {agent_id!r} cannot {doing} contact {contact_id!r}: it is "
                f"{contact.phase.value}"
                + (f" with {contact.agent_id!r}" if contact.agent_id else "")
            )
        return contact

    def hangup(self, contact_id: str, now: int, *, by: str = "customer") -> list[Event]:
        """The conversation ends (either side hung up). A waiting contact that hangs up
        abandons instead."""
        contact = self._contact(contact_id)
        if contact.phase in (Phase.WAITING, Phase.OFFERED) and not contact.callback:
            return self.abandon(contact_id, now)
        if contact.phase not in (Phase.TALKING, Phase.HELD):
            raise InvalidTransition(f"contact {contact_id!r} is {contact.phase.value}, not talking")
        self._begin(now)
        if contact.phase not in (Phase.TALKING, Phase.HELD):
            return self._finish()
        far = self._hang_up(contact, by)
        if far is not None:
            self._release(far)
        return self._finish()

    def _hang_up(self, contact: ContactState, by: str) -> AgentState | None:
        """End a conversation: its agent goes to after-call work. The agent who answered an
        agent's call leaves it too, without after-call work; they are returned, not released."""
        far = self._end_far_side(contact, by) if contact.far_agent else None
        contact_id = contact.contact_id
        agent = self._agents[contact.agent_id]
        contact.phase = Phase.WRAP_UP
        self._emit(ContactEnded(contact_id=contact_id, agent_id=agent.agent_id, by=by))
        self._emit(AgentAcwStarted(agent_id=agent.agent_id, contact_id=contact_id))
        wrap = contact.queue.wrap_up_s * 1000
        if wrap == 0:
            self._end_wrap_up(agent, contact)
        else:
            self._timer(self._now + wrap, _WRAP_UP, agent.agent_id, agent.token, contact_id)
        return far

    def end_wrap_up(self, agent_id: str, contact_id: str, now: int) -> list[Event]:
        """The agent finishes after-call work before the queue's wrap-up time runs out."""
        if (agent_id, contact_id) in self._apart:
            self._begin(now)
            if (agent_id, contact_id) in self._apart:  # else its timer ended it at this instant
                self._end_apart(agent_id, contact_id)
            return self._finish()
        contact = self._handled_by(agent_id, contact_id, Phase.WRAP_UP, "end wrap-up of")
        self._begin(now)
        if contact.phase is Phase.WRAP_UP:
            self._end_wrap_up(self._agents[agent_id], contact)
        return self._finish()

    def _on_wrap_up_timer(self, agent_id: str, gen: int, contact_id: str) -> None:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.phase is not Phase.WRAP_UP or contact.agent_id != agent_id:
            return
        self._end_wrap_up(self._agents[agent_id], contact)

    def _end_wrap_up(self, agent: AgentState, contact: ContactState) -> None:
        self._emit(AgentAcwEnded(agent_id=agent.agent_id, contact_id=contact.contact_id))
        started = self._handle_start.pop(contact.contact_id, self._now)
        self._smooth_aht(contact.queue, started)
        contact.phase = Phase.DONE
        del self._contacts[contact.contact_id]
        agent.contacts.pop(contact.contact_id, None)
        self._release(agent)

    def disposition(
        self, agent_id: str, contact_id: str, code: str, now: int, *, justified_long: bool = False
    ) -> list[Event]:
        """Record the outcome code of a contact the agent is handling or wrapping up."""
        self._agent(agent_id)
        if (agent_id, contact_id) not in self._apart:
            contact = self._contact(contact_id)
            if contact.agent_id != agent_id or contact.phase not in (
                Phase.TALKING,
                Phase.HELD,
                Phase.WRAP_UP,
            ):
                raise InvalidTransition(
                    f"agent {agent_id!r} is not handling contact {contact_id!r}"
                )
        if not code:
            raise AcdError("a disposition code is required")
        self._begin(now)
        self._emit(
            ContactDispositioned(
                contact_id=contact_id, agent_id=agent_id, code=code, justified_long=justified_long
            )
        )
        return self._finish()

    # ------------------------------------------------------------------------------------
    # calls agents place, consultations and transfers

    def start_outbound(
        self,
        agent_id: str,
        contact_id: str,
        now: int,
        *,
        number: str = "",
        consult_for: str | None = None,
    ) -> list[Event]:
        """The agent places a call: they are busy with ``contact_id`` on the voice channel until
        it ends or fails. Refused while they hold a voice contact, except ``consult_for``: their
        own contact, on hold, that this call consults about. ``number`` is not logged."""
        if not isinstance(number, str):
            raise AcdError(f"the number dialled must be a string, got {number!r}")
        if not isinstance(contact_id, str) or not contact_id:
            raise AcdError("a contact id is required")
        agent = self._agent(agent_id)

        def check() -> None:
            if contact_id in self._contacts or contact_id in self._in_ivr:
                raise InvalidTransition(f"contact {contact_id!r} is already active")
            self._check_free_for_call(agent, "place a call", consult_for)

        self._guarded(now, check)
        contact = ContactState(contact_id, NO_QUEUE, _VOICE, 0, {}, self._now)
        contact.phase = Phase.TALKING
        contact.agent_id = agent_id
        contact.consult_for = consult_for
        self._contacts[contact_id] = contact
        agent.contacts[contact_id] = _VOICE
        self._agent_changed(agent)
        self._emit(
            ContactOutboundStarted(
                contact_id=contact_id, agent_id=agent_id, consult_for=consult_for or ""
            )
        )
        return self._finish()

    def outbound_failed(self, contact_id: str, now: int, *, reason: str = "") -> list[Event]:
        """The call an agent placed never connected (busy, no answer, refused): it ends without
        after-call work and the agent is free again, or back with the customer they hold."""
        if not isinstance(reason, str):
            raise AcdError(f"the reason must be a string, got {reason!r}")
        contact = self._contact(contact_id)

        def check() -> None:
            self._check_placing(contact)
            if contact.far_agent:
                raise InvalidTransition(
                    f"contact {contact_id!r} connected: agent {contact.far_agent!r} answered it"
                )

        self._guarded(now, check)
        agent = self._agents[contact.agent_id]
        self._emit(
            ContactOutboundFailed(contact_id=contact_id, agent_id=agent.agent_id, reason=reason)
        )
        self._drop(contact)
        agent.contacts.pop(contact_id, None)
        self._release(agent)
        return self._finish()

    def start_inbound_consult(self, agent_id: str, contact_id: str, now: int) -> list[Event]:
        """Agent ``agent_id`` answered the call another agent placed (``contact_id``, usually a
        consultation): both are busy with it until it ends. Any presence will do; refused while
        the agent holds a voice contact, a ringing offer included."""
        agent = self._agent(agent_id)
        contact = self._contact(contact_id)

        def check() -> None:
            self._check_placing(contact)
            if contact.far_agent:
                raise InvalidTransition(
                    f"contact {contact_id!r} was already answered by agent {contact.far_agent!r}"
                )
            if contact.agent_id == agent_id:
                raise InvalidTransition(
                    f"agent {agent_id!r} placed contact {contact_id!r} and cannot answer it"
                )
            self._check_free_for_call(agent, "answer an agent's call", None)

        self._guarded(now, check)
        contact.far_agent = agent_id
        agent.contacts[contact_id] = _VOICE
        self._agent_changed(agent)
        self._emit(
            ContactConsultAnswered(
                contact_id=contact_id, agent_id=agent_id, from_agent_id=contact.agent_id
            )
        )
        return self._finish()

    def transfer(
        self,
        contact_id: str,
        now: int,
        *,
        to_queue: str | None = None,
        to_agent: str | None = None,
    ) -> list[Event]:
        """Blind transfer of a talking or held contact by its agent, who goes to after-call work
        as on a hang-up. The contact waits anew in ``to_queue`` (its priority kept), or rings at
        ``to_agent`` (ready, with a free voice line) and, unanswered, waits at the front of the
        queue it was answered from."""
        if (to_queue is None) == (to_agent is None):
            raise AcdError("a transfer needs exactly one target: to_queue or to_agent")
        contact = self._contact(contact_id)
        queue = self._queue(to_queue) if to_queue is not None else None
        target = self._agent(to_agent) if to_agent is not None else None

        def check() -> None:
            self._check_transferable(contact)
            if target is not None:
                self._check_can_take(target, contact)

        self._guarded(now, check)
        agent = self._agents[contact.agent_id]
        where = f"queue:{to_queue}" if queue is not None else f"agent:{to_agent}"
        self._emit(
            ContactTransferred(
                contact_id=contact_id, agent_id=agent.agent_id, kind="blind", target=where
            )
        )
        done = self._part_ends(agent, contact)
        contact.callback = False  # a connected callback that goes on is an ordinary contact
        contact.attempts = 0
        contact.deferred = []
        contact.route_gen += 1  # the answered offer's ring timer is void
        if queue is not None:
            self._enter_queue(contact, queue)
        else:
            assert target is not None
            self._enter_queue(contact, contact.queue, direct=target)
        if done:  # released only now, so the contact is not offered straight back to them
            agent.contacts.pop(contact_id, None)
            self._release(agent)
        return self._finish()

    def complete_transfer(self, contact_id: str, consult_contact_id: str, now: int) -> list[Event]:
        """Attended transfer: the agent's held customer ``contact_id`` is connected to the far
        side of their consultation ``consult_contact_id``, which ends. An agent there now
        handles the contact; an outside number takes it out of the ACD. Either way the
        transferring agent goes to after-call work for it."""
        contact = self._contact(contact_id)
        consult = self._contact(consult_contact_id)

        def check() -> None:
            if contact.phase is not Phase.HELD:
                raise InvalidTransition(
                    f"contact {contact_id!r} cannot be transferred: it is "
                    f"{contact.phase.value}, not held"
                )
            if (
                consult.consult_for != contact_id
                or consult.agent_id != contact.agent_id
                or consult.phase not in (Phase.TALKING, Phase.HELD)
                or consult_contact_id not in self._contacts
            ):
                raise InvalidTransition(
                    f"contact {consult_contact_id!r} is not a consultation in progress about "
                    f"contact {contact_id!r}"
                )
            self._check_customer_call(contact)

        self._guarded(now, check)
        agent = self._agents[contact.agent_id]
        far = self._agents[consult.far_agent] if consult.far_agent else None
        where = f"agent:{far.agent_id}" if far is not None else f"external:{consult_contact_id}"
        self._emit(
            ContactTransferred(
                contact_id=contact_id, agent_id=agent.agent_id, kind="attended", target=where
            )
        )
        self._hang_up(consult, "agent")
        if far is None:  # the outside party has the customer now: the contact leaves the ACD
            self._hang_up(contact, "agent")
            return self._finish()
        done = self._part_ends(agent, contact)
        contact.agent_id = far.agent_id
        contact.phase = Phase.TALKING
        far.contacts[contact_id] = contact.channel
        self._agent_changed(far)
        self._handle_start[contact_id] = self._now
        self._emit(
            ContactTransferConnected(
                contact_id=contact_id,
                agent_id=far.agent_id,
                from_agent_id=agent.agent_id,
                consult_id=consult_contact_id,
            )
        )
        if done:
            agent.contacts.pop(contact_id, None)
            self._release(agent)
        return self._finish()

    def _guarded(self, now: int, check: Callable[[], None]) -> None:
        """Check, fire the timers due by ``now``, and check again (a timer may have changed
        what was checked); on a refusal the timers' events wait for the next command."""
        check()
        self._begin(now)
        try:
            check()
        except AcdError:
            self._carried, self._out = self._out, []
            raise

    def _phase_for(self, agent_id: str, contact_id: str) -> str | None:
        """The phase of a contact as it concerns this agent (None: not theirs any more)."""
        if (agent_id, contact_id) in self._apart:
            return Phase.WRAP_UP.value
        contact = self._contacts.get(contact_id)
        return contact.phase.value if contact is not None else None

    def _check_free_for_call(self, agent: AgentState, doing: str, consult_for: str | None) -> None:
        """Refuse unless the agent may be on a new voice call: logged in, with voice capacity,
        and holding no voice contact but ``consult_for`` (their own, on hold)."""
        aid = agent.agent_id
        if agent.presence is Presence.LOGGED_OUT:
            raise InvalidTransition(f"agent {aid!r} cannot {doing}: not logged in")
        if not agent.spec.capacity.get(_VOICE):
            raise InvalidTransition(f"agent {aid!r} cannot {doing}: no voice capacity")
        if consult_for is not None:
            held = self._contact(consult_for)
            if held.agent_id != aid or held.phase is not Phase.HELD:
                raise InvalidTransition(
                    f"agent {aid!r} cannot consult about contact {consult_for!r}: it is "
                    f"{held.phase.value}"
                    + (f" with {held.agent_id!r}" if held.agent_id != aid else ", not held")
                )
            if held.consult_for is not None or held.far_agent:
                raise InvalidTransition(
                    f"agent {aid!r} cannot consult about contact {consult_for!r}: it is a call "
                    "between agents or a consultation, not a customer's"
                )
        for cid, channel in agent.contacts.items():
            if channel == _VOICE and cid != consult_for:
                phase = self._phase_for(aid, cid)
                raise InvalidTransition(
                    f"agent {aid!r} cannot {doing}: contact {cid!r} is "
                    + ("ringing" if phase == Phase.OFFERED.value else str(phase))
                )

    def _check_placing(self, contact: ContactState) -> None:
        if not contact.placed or contact.phase not in (Phase.TALKING, Phase.HELD):
            origin = "" if contact.placed else ", from a queue"
            raise InvalidTransition(
                f"contact {contact.contact_id!r} is not a call an agent is placing "
                f"(it is {contact.phase.value}{origin})"
            )

    @staticmethod
    def _check_customer_call(contact: ContactState) -> None:
        """Refuse a contact that cannot be transferred: not voice, or not with a customer."""
        cid = contact.contact_id
        if contact.channel != _VOICE:
            raise InvalidTransition(
                f"contact {cid!r} cannot be transferred: only voice contacts can "
                f"(it is {contact.channel})"
            )
        if contact.consult_for is not None or contact.far_agent:
            raise InvalidTransition(
                f"contact {cid!r} cannot be transferred: it is a call between agents "
                "or a consultation"
            )

    def _check_transferable(self, contact: ContactState) -> None:
        cid = contact.contact_id
        if contact.phase not in (Phase.TALKING, Phase.HELD):
            raise InvalidTransition(
                f"contact {cid!r} cannot be transferred: it is {contact.phase.value}, "
                "not talking or held"
            )
        self._check_customer_call(contact)
        for other in self._agents[contact.agent_id].contacts:
            consult = self._contacts.get(other)
            if (
                consult is not None
                and consult.consult_for == cid
                and consult.phase in (Phase.TALKING, Phase.HELD)
            ):
                raise InvalidTransition(
                    f"contact {cid!r} cannot be transferred blind: consultation {other!r} is in "
                    "progress; complete the transfer or end the consultation first"
                )

    def _check_can_take(self, target: AgentState, contact: ContactState) -> None:
        aid = target.agent_id
        cid = contact.contact_id
        if aid == contact.agent_id:
            raise InvalidTransition(f"agent {aid!r} cannot transfer contact {cid!r} to themselves")
        if contact.placed:
            raise InvalidTransition(
                f"contact {cid!r} cannot be transferred to agent {aid!r}: it has no queue to wait "
                "in should they not answer; transfer it to a queue"
            )
        if target.presence is Presence.LOGGED_OUT:
            raise InvalidTransition(f"agent {aid!r} cannot take contact {cid!r}: not logged in")
        if target.presence is not Presence.READY:
            raise InvalidTransition(
                f"agent {aid!r} cannot take contact {cid!r}: not ready ({target.reason})"
            )
        if not target.available_for(contact.channel):
            busy = next(iter(target.contacts), None)
            raise InvalidTransition(
                f"agent {aid!r} cannot take contact {cid!r}: no free voice line"
                + (f" (contact {busy!r} is {self._phase_for(aid, busy)})" if busy else "")
                + (" and going not ready" if target.pending_not_ready is not None else "")
            )

    def _end_far_side(self, contact: ContactState, by: str) -> AgentState:
        """The agent who answered an agent's call leaves it, without after-call work (the call
        has no queue to set any); returned, not yet released."""
        far = self._agents[contact.far_agent]
        cid = contact.contact_id
        contact.far_agent = ""
        self._emit(ContactEnded(contact_id=cid, agent_id=far.agent_id, by=by))
        self._emit(AgentAcwStarted(agent_id=far.agent_id, contact_id=cid))
        self._emit(AgentAcwEnded(agent_id=far.agent_id, contact_id=cid))
        far.contacts.pop(cid, None)
        return far

    def _part_ends(self, agent: AgentState, contact: ContactState) -> bool:
        """The agent's conversation with a contact that carries on without them ends: their
        after-call work runs apart from the contact, for the wrap-up time of the queue it was
        answered from. True if that is 0 s: it is over, and the caller releases the agent."""
        cid = contact.contact_id
        aid = agent.agent_id
        self._emit(ContactEnded(contact_id=cid, agent_id=aid, by="agent"))
        self._emit(AgentAcwStarted(agent_id=aid, contact_id=cid))
        started = self._handle_start.pop(cid, self._now)
        contact.agent_id = ""
        wrap = contact.queue.wrap_up_s * 1000
        if wrap == 0:
            self._emit(AgentAcwEnded(agent_id=aid, contact_id=cid))
            self._smooth_aht(contact.queue, started)
            return True
        self._apart_gen += 1
        self._apart[(aid, cid)] = (contact.queue, started, self._apart_gen)
        self._timer(self._now + wrap, _WRAP_UP_APART, aid, self._apart_gen, cid)
        return False

    def _end_apart(self, agent_id: str, contact_id: str) -> None:
        queue, started, _ = self._apart.pop((agent_id, contact_id))
        agent = self._agents[agent_id]
        self._emit(AgentAcwEnded(agent_id=agent_id, contact_id=contact_id))
        self._smooth_aht(queue, started)
        agent.contacts.pop(contact_id, None)
        self._release(agent)

    def _smooth_aht(self, queue: QueueSpec, started: int) -> None:
        """Fold one handling into the queue's smoothed handle time (expected-wait
        announcements); calls agents placed belong to no queue."""
        if queue is not NO_QUEUE:
            qid = queue.queue_id
            self._aht_ms[qid] = 0.9 * self._aht_ms.get(qid, 0.0) + 0.1 * (self._now - started)

    # ------------------------------------------------------------------------------------
    # contact commands

    def arrive(
        self, contact_id: str, now: int, *, channel: str = "voice", entry: str = ""
    ) -> list[Event]:
        """A contact reached one of the tenant's entry points (before any IVR)."""
        if contact_id in self._contacts or contact_id in self._in_ivr:
            raise InvalidTransition(f"contact {contact_id!r} is already active")
        if not contact_id:
            raise AcdError("a contact id is required")
        self._begin(now)
        self._in_ivr.add(contact_id)
        self._emit(ContactArrived(contact_id=contact_id, channel=channel, entry=entry))
        return self._finish()

    def _leave_ivr(self, contact_id: str) -> None:
        if contact_id not in self._in_ivr:
            raise UnknownContact(contact_id)

    def ivr_completed(self, contact_id: str, now: int) -> list[Event]:
        """The contact finished in self-service."""
        self._leave_ivr(contact_id)
        self._begin(now)
        self._in_ivr.discard(contact_id)
        self._emit(ContactIvrCompleted(contact_id=contact_id))
        return self._finish()

    def ivr_abandoned(self, contact_id: str, now: int) -> list[Event]:
        """The customer left in the IVR."""
        self._leave_ivr(contact_id)
        self._begin(now)
        self._in_ivr.discard(contact_id)
        self._emit(ContactIvrAbandoned(contact_id=contact_id))
        return self._finish()

    def block(self, contact_id: str, reason: str, now: int) -> list[Event]:
        """The contact was refused (no capacity, closed) before reaching a queue."""
        self._leave_ivr(contact_id)
        self._begin(now)
        self._in_ivr.discard(contact_id)
        self._emit(ContactBlocked(contact_id=contact_id, reason=reason))
        return self._finish()

    def enqueue(
        self,
        contact_id: str,
        queue_id: str,
        now: int,
        *,
        channel: str = "voice",
        priority: int = 0,
        skills: Mapping[str, int] | None = None,
    ) -> list[Event]:
        """Put a contact in a queue. ``priority``: higher first (VIP); ``skills``: the
        contact's own requirements (skill -> minimum proficiency) on top of the queue's."""
        queue = self._queue(queue_id)
        if contact_id in self._contacts:
            raise InvalidTransition(f"contact {contact_id!r} is already in the ACD")
        if not contact_id:
            raise AcdError("a contact id is required")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise AcdError(f"priority must be an integer, got {priority!r}")
        extra: dict[str, int] = {}
        for skill, level in (skills or {}).items():
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
                raise AcdError(f"contact {contact_id!r}: skill {skill!r} level must be 1-5")
            extra[skill] = level
        self._begin(now)
        self._in_ivr.discard(contact_id)
        contact = ContactState(contact_id, queue, channel, priority, extra, self._now)
        self._contacts[contact_id] = contact
        self._enter_queue(contact, queue)
        return self._finish()

    def _enter_queue(
        self, contact: ContactState, queue: QueueSpec, *, direct: AgentState | None = None
    ) -> None:
        """A new wait in ``queue``, routed as usual; with ``direct``, offered to that agent
        at once instead, and at the front of the queue should they not answer."""
        contact.queue = queue
        contact.entered_ms = self._now
        contact.widen_step = 0
        contact.timer_gen += 1
        contact.requirement = effective_requirement(queue, contact.extra, 0)
        if direct is None:
            self._order += 1
            contact.key = (-contact.priority, self._order)
        else:  # ahead of everyone of its priority
            self._front += 1
            contact.key = (-contact.priority, self._front - _FRONT)
        self._emit(
            ContactQueued(
                contact_id=contact.contact_id,
                queue_id=queue.queue_id,
                channel=contact.channel,
                priority=contact.priority,
                skills=dict(contact.extra),
            )
        )
        if (
            direct is None
            and queue.overflow_when_no_agents
            and self._staffed.get(queue.queue_id, 0) == 0
        ):
            self._overflow(contact, "no_agents")
            return
        gen = contact.timer_gen
        cid = contact.contact_id
        if queue.max_wait_s is not None:
            self._timer(self._now + queue.max_wait_s * 1000, _MAX_WAIT, cid, gen)
        if queue.overflow_after_s is not None:
            self._timer(self._now + queue.overflow_after_s * 1000, _OVERFLOW, cid, gen)
        for step, after in enumerate(queue.widen_after_s, start=1):
            self._timer(self._now + after * 1000, _WIDEN, cid, gen, str(step))
        self._wait(contact)
        if direct is None:
            self._route_contact(contact)
        else:
            self._offer(contact, [direct])

    def _wait(self, contact: ContactState) -> None:
        contact.phase = Phase.WAITING
        contact.offered_to = []
        contact.agent_id = ""
        self._waiting[contact.queue.queue_id].add(contact.key)
        self._router.add_waiting(contact)

    def _unwait(self, contact: ContactState) -> None:
        if contact.phase is Phase.WAITING:
            self._waiting[contact.queue.queue_id].discard(contact.key)
            self._router.remove_waiting(contact)
        contact.route_gen += 1

    def abandon(self, contact_id: str, now: int) -> list[Event]:
        """The customer left while queued or while an agent's phone rang."""
        contact = self._contact(contact_id)
        if contact.phase not in (Phase.WAITING, Phase.OFFERED) or contact.callback:
            raise InvalidTransition(
                f"contact {contact_id!r} cannot abandon: it is {contact.phase.value}"
                + (" (a callback request)" if contact.callback else "")
            )
        self._begin(now)
        if contact.phase not in (Phase.WAITING, Phase.OFFERED):
            return self._finish()
        offered = list(contact.offered_to)
        self._unwait(contact)
        self._emit(ContactAbandoned(contact_id=contact_id, queue_id=contact.queue.queue_id))
        self._drop(contact)
        self._withdraw(contact, offered, "abandoned")
        return self._finish()

    def _drop(self, contact: ContactState) -> None:
        contact.phase = Phase.DONE
        contact.timer_gen += 1
        self._contacts.pop(contact.contact_id, None)

    def request_callback(self, contact_id: str, now: int, *, number_ref: str = "") -> list[Event]:
        """ "Keep my place and call me back": the contact keeps its position in the queue and
        becomes an outbound attempt when it reaches the head. ``number_ref`` (the number's
        reference in the personal data store, never the number) is logged with it."""
        contact = self._contact(contact_id)
        if contact.phase is not Phase.WAITING or contact.callback:
            raise InvalidTransition(
                f"contact {contact_id!r} cannot request a callback: it is {contact.phase.value}"
                + (" and already a callback" if contact.callback else "")
            )
        self._begin(now)
        if contact.phase is not Phase.WAITING:
            return self._finish()
        contact.callback = True
        contact.timer_gen += 1  # max wait, overflow and widening no longer apply
        self._emit(
            CallbackRequested(
                contact_id=contact_id, queue_id=contact.queue.queue_id, number_ref=number_ref
            )
        )
        return self._finish()

    def enqueue_callback(
        self,
        contact_id: str,
        queue_id: str,
        now: int,
        *,
        number_ref: str = "",
        channel: str = "voice",
        priority: int = 0,
        skills: Mapping[str, int] | None = None,
    ) -> list[Event]:
        """Queue a contact straight as a callback request (an IVR's callback node): logged as
        ``contact.queued`` then ``callback.requested``, and only then may an agent be reserved
        to dial it, so it is never offered as an inbound call. Refused like :meth:`enqueue`.
        ``number_ref`` is logged as for :meth:`request_callback`."""
        queue = self._queue(queue_id)
        if contact_id in self._contacts:
            raise InvalidTransition(f"contact {contact_id!r} is already in the ACD")
        if not contact_id:
            raise AcdError("a contact id is required")
        extra = _contact_requirements(contact_id, priority, skills)
        self._begin(now)
        self._in_ivr.discard(contact_id)
        contact = ContactState(contact_id, queue, channel, priority, extra, self._now)
        contact.callback = True  # wait timers are void for it, and routing reserves an agent
        self._contacts[contact_id] = contact
        mark = len(self._out)
        self._enter_queue(contact, queue)
        # Entering the queue may already have reserved an agent: the request is logged right
        # after the contact's (last, after an overflow) queued event, before any dialling.
        at, queued_in = mark, contact.queue.queue_id
        for index in range(mark, len(self._out)):
            body = self._out[index].body
            if isinstance(body, ContactQueued) and body.contact_id == contact_id:
                at, queued_in = index + 1, body.queue_id
        request = CallbackRequested(
            contact_id=contact_id, queue_id=queued_in, number_ref=number_ref
        )
        self._out.insert(at, Event(self.tenant, self._now, request, test=self.test))
        return self._finish()

    def callback_declined(self, contact_id: str, now: int) -> list[Event]:
        """The agent reserved for a callback did not take it (declined, busy, unreachable or
        rang out) before the customer was dialled. As for a ring-no-answer, the agent goes not
        ready and the callback goes back to its place at the front; the attempt does not count.
        Logged as ``callback.failed`` (retry) followed by the agent's ``agent.not_ready``."""
        contact = self._dialing(contact_id)
        self._begin(now)
        agent = self._agents[contact.agent_id]
        self._emit(
            CallbackFailed(
                contact_id=contact_id,
                queue_id=contact.queue.queue_id,
                agent_id=agent.agent_id,
                retry=True,
            )
        )
        agent.contacts.pop(contact_id, None)
        contact.attempts -= 1
        if not agent.contacts:
            agent.idle_since = self._now
        self._set_not_ready(agent, RING_NO_ANSWER)
        self._wait(contact)  # its key is unchanged: back at its place
        self._route_contact(contact)
        return self._finish()

    def restore_callback(
        self,
        contact_id: str,
        queue_id: str,
        now: int,
        *,
        attempts: int = 0,
        dialing_agent: str = "",
        priority: int = 0,
    ) -> list[Event]:
        """Take back a callback the log shows still pending when the server stopped (requested,
        neither connected nor finally failed). ``attempts`` made so far count against the
        queue's limit (at least one attempt is always left); an attempt the stopped server was
        dialling with ``dialing_agent`` is logged failed (retry) first. Logs
        ``callback.restored``; the contact waits behind those already waiting."""
        queue = self._queue(queue_id)
        if contact_id in self._contacts or contact_id in self._in_ivr:
            raise InvalidTransition(f"contact {contact_id!r} is already active")
        if not contact_id:
            raise AcdError("a contact id is required")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise AcdError(f"attempts must be a whole number >= 0, got {attempts!r}")
        _contact_requirements(contact_id, priority, None)
        self._begin(now)
        if dialing_agent:
            self._emit(
                CallbackFailed(
                    contact_id=contact_id, queue_id=queue_id, agent_id=dialing_agent, retry=True
                )
            )
        contact = ContactState(contact_id, queue, "voice", priority, {}, self._now)
        contact.callback = True
        contact.attempts = min(attempts, queue.callback_max_attempts - 1)
        contact.requirement = effective_requirement(queue, {}, 0)
        self._order += 1
        contact.key = (-priority, self._order)
        self._contacts[contact_id] = contact
        self._emit(CallbackRestored(contact_id=contact_id, queue_id=queue_id))
        self._wait(contact)
        self._route_contact(contact)
        return self._finish()

    def callback_given_up(self, contact_id: str, now: int) -> list[Event]:
        """The callback being dialled can never be placed (its number was erased): it fails for
        good whatever attempts are left (``callback.failed`` without retry); the agent is free."""
        contact = self._dialing(contact_id)
        self._begin(now)
        agent = self._agents[contact.agent_id]
        self._emit(
            CallbackFailed(
                contact_id=contact_id,
                queue_id=contact.queue.queue_id,
                agent_id=agent.agent_id,
                retry=False,
            )
        )
        agent.contacts.pop(contact_id, None)
        self._drop(contact)
        self._release(agent)
        return self._finish()

    def callback_connected(self, contact_id: str, now: int) -> list[Event]:
        """The dialled customer answered: agent and customer are connected."""
        contact = self._dialing(contact_id)
        self._begin(now)
        self._connect(contact, self._agents[contact.agent_id])
        return self._finish()

    def callback_failed(self, contact_id: str, now: int) -> list[Event]:
        """The dialled customer did not answer: retry later (back of the queue) until the
        queue's attempt limit, not before the queue's ``callback_retry_s`` has passed."""
        contact = self._dialing(contact_id)
        self._begin(now)
        agent = self._agents[contact.agent_id]
        retry = contact.attempts < contact.queue.callback_max_attempts
        self._emit(
            CallbackFailed(
                contact_id=contact_id,
                queue_id=contact.queue.queue_id,
                agent_id=agent.agent_id,
                retry=retry,
            )
        )
        agent.contacts.pop(contact_id, None)
        if retry:
            self._order += 1
            contact.key = (-contact.priority, self._order)
            delay_ms = contact.queue.callback_retry_s * 1000
            if delay_ms:
                self._hold_callback(contact, self._now + delay_ms)
            else:
                self._wait(contact)
        else:
            self._drop(contact)
        self._release(agent)
        if retry and contact.phase is Phase.WAITING:
            self._route_contact(contact)
        return self._finish()

    def _hold_callback(self, contact: ContactState, due: int) -> None:
        """Queue a failed callback at its place without making it routable before ``due``:
        it counts as waiting (position, queue view) while contacts behind it are served."""
        contact.phase = Phase.WAITING
        contact.offered_to = []
        contact.agent_id = ""
        self._waiting[contact.queue.queue_id].add(contact.key)
        self._retry_due.add(contact.contact_id)
        self._timer(due, _CALLBACK_RETRY, contact.contact_id, contact.route_gen)

    def _callback_due(self, contact: ContactState, gen: int) -> None:
        """A held callback's retry delay is over: it becomes routable at its place."""
        if contact.phase is not Phase.WAITING or contact.route_gen != gen:
            return
        if contact.contact_id not in self._retry_due:
            return
        self._retry_due.discard(contact.contact_id)
        self._router.add_waiting(contact)
        self._route_contact(contact)

    def _dialing(self, contact_id: str) -> ContactState:
        contact = self._contact(contact_id)
        if contact.phase is not Phase.DIALING:
            raise InvalidTransition(
                f"contact {contact_id!r} is not a callback being dialled "
                f"(it is {contact.phase.value})"
            )
        return contact

    # ------------------------------------------------------------------------------------
    # routing

    def _agent_changed(self, agent: AgentState) -> None:
        agent.token += 1
        self._router.agent_changed(agent)

    def _release(self, agent: AgentState) -> None:
        """The agent holds one contact less: apply pending state, then route to them."""
        if self._free(agent, index=False):
            self._route_agent(agent, indexed=False)

    def _free(self, agent: AgentState, *, index: bool = True) -> bool:
        """The agent holds one contact less: apply a pending not-ready; with ``index``, put
        the agent back in the routing index. Returns whether the agent may take contacts."""
        if not agent.contacts:
            agent.idle_since = self._now
            if agent.pending_not_ready is not None:
                self._set_not_ready(agent, agent.pending_not_ready)
                return False
        if agent.presence is not Presence.READY:
            return False
        if index:
            self._agent_changed(agent)
        else:
            agent.token += 1
        return True

    def _route_agent(self, agent: AgentState, *, indexed: bool = True) -> None:
        """Offer waiting contacts to a newly available agent while they have room.

        ``indexed=False``: the agent is not in the routing index yet. A free agent usually
        takes a waiting contact at once, so they are indexed only if they stay available
        (or before a ring-all search, which looks for them in the index)."""
        if agent.presence is not Presence.READY:
            if not indexed:
                self._router.agent_changed(agent)
            return
        channels = list(agent.spec.capacity)
        while True:
            best: ContactState | None = None
            for channel in channels:
                if not agent.available_for(channel):
                    continue
                found = self._router.best_contact(agent, channel)
                if found is not None and (best is None or found.key < best.key):
                    best = found
            if best is None:
                if not indexed:
                    self._router.agent_changed(agent)
                return
            if best.queue.strategy == "ring_all" and not best.callback:
                if not indexed:
                    self._router.agent_changed(agent)
                    indexed = True
                self._route_contact(best)  # rings this agent and every other free one
            else:
                self._offer(best, [agent])  # re-indexes the agent for what room is left
                indexed = True

    def _route_contact(self, contact: ContactState) -> None:
        if contact.phase is not Phase.WAITING or contact.contact_id in self._retry_due:
            return
        if contact.queue.strategy == "ring_all" and not contact.callback:
            agents = self._router.all_agents(contact)
            if agents:
                self._offer(contact, agents)
            return
        agent = self._router.best_agent(contact)
        if agent is not None:
            self._offer(contact, [agent])

    def _offer(self, contact: ContactState, agents: list[AgentState]) -> None:
        self._unwait(contact)
        queue = contact.queue
        qid = queue.queue_id
        cid = contact.contact_id
        if contact.callback:
            agent = agents[0]
            contact.phase = Phase.DIALING
            contact.agent_id = agent.agent_id
            contact.attempts += 1
            agent.contacts[cid] = contact.channel
            self._note_rr(agent, queue)
            self._agent_changed(agent)
            self._emit(CallbackDialing(contact_id=cid, queue_id=qid, agent_id=agent.agent_id))
            return
        contact.phase = Phase.OFFERED
        contact.offered_to = [a.agent_id for a in agents]
        for agent in agents:
            agent.contacts[cid] = contact.channel
            self._note_rr(agent, queue)
            self._agent_changed(agent)
            self._emit(ContactOffered(contact_id=cid, queue_id=qid, agent_id=agent.agent_id))
        self._timer(self._now + queue.ring_timeout_s * 1000, _RING, cid, contact.route_gen)

    def _note_rr(self, agent: AgentState, queue: QueueSpec) -> None:
        if queue.strategy == "round_robin":
            self._rr_counter[queue.queue_id] += 1
            agent.rr_last[queue.queue_id] = self._rr_counter[queue.queue_id]

    # ------------------------------------------------------------------------------------
    # timers

    def _on_contact_timer(self, contact: ContactState, kind: int, gen: int, extra: str) -> None:
        if kind == _RING:
            if contact.phase is Phase.OFFERED and contact.route_gen == gen:
                self._ring_no_answer(contact)
            return
        if kind == _CALLBACK_RETRY:
            self._callback_due(contact, gen)
            return
        if gen != contact.timer_gen or contact.callback:
            return
        if contact.phase is Phase.OFFERED:
            contact.deferred.append((kind, extra))
            return
        if contact.phase is not Phase.WAITING:
            return
        self._wait_timer(contact, kind, extra)

    def _wait_timer(self, contact: ContactState, kind: int, extra: str) -> None:
        queue = contact.queue
        if kind == _MAX_WAIT:
            self._unwait(contact)
            self._emit(ContactTimedOut(contact_id=contact.contact_id, queue_id=queue.queue_id))
            self._drop(contact)
        elif kind == _OVERFLOW:
            self._unwait(contact)
            self._overflow(contact, "timeout")
        elif kind == _WIDEN:
            step = int(extra)
            if step <= contact.widen_step:
                return
            self._unwait(contact)
            contact.widen_step = step
            contact.requirement = effective_requirement(queue, contact.extra, step)
            self._wait(contact)
            self._route_contact(contact)

    def _overflow(self, contact: ContactState, reason: str) -> None:
        queue = contact.queue
        target = self._queues.get(queue.overflow_queue_id or "")
        if target is None:  # the target was removed; stay
            self._wait(contact)
            return
        self._emit(
            ContactOverflowed(
                contact_id=contact.contact_id,
                queue_id=queue.queue_id,
                to_queue_id=target.queue_id,
                reason=reason,
            )
        )
        self._enter_queue(contact, target)

    def _ring_no_answer(self, contact: ContactState) -> None:
        queue = contact.queue
        offered = list(contact.offered_to)
        contact.offered_to = []
        contact.route_gen += 1
        ring_all = queue.strategy == "ring_all"
        agents = [self._agents[a] for a in offered]
        for agent in agents:
            agent.contacts.pop(contact.contact_id, None)
            if ring_all:  # nobody picked up: ring again rather than punish everyone
                self._emit(
                    ContactOfferWithdrawn(
                        contact_id=contact.contact_id,
                        queue_id=queue.queue_id,
                        agent_id=agent.agent_id,
                        reason="ring_timeout",
                    )
                )
                self._free(agent)
                continue
            self._emit(
                ContactRingNoAnswer(
                    contact_id=contact.contact_id, queue_id=queue.queue_id, agent_id=agent.agent_id
                )
            )
            if not agent.contacts:
                agent.idle_since = self._now
            self._set_not_ready(agent, RING_NO_ANSWER)
        # back in the queue at its original place (it was at the front when offered)
        self._wait(contact)
        deferred, contact.deferred = contact.deferred, []
        for kind, extra in deferred:
            if contact.phase is Phase.WAITING:
                self._wait_timer(contact, kind, extra)
        self._route_contact(contact)
        if ring_all:
            for agent in agents:
                self._route_agent(agent)

    # ------------------------------------------------------------------------------------
    # views

    def position(self, contact_id: str) -> int:
        """1-based place of a waiting contact in its queue (1 = next)."""
        contact = self._contact(contact_id)
        if contact.phase is not Phase.WAITING:
            raise InvalidTransition(
                f"contact {contact_id!r} is not waiting ({contact.phase.value})"
            )
        return int(self._waiting[contact.queue.queue_id].bisect_left(contact.key)) + 1

    def expected_wait_s(self, contact_id: str) -> int | None:
        """Seconds until a waiting contact is likely answered, for announcements: its position
        times the queue's smoothed handle time over the agents staffing it; None when nobody
        staffs the queue."""
        pos = self.position(contact_id)
        qid = self._contacts[contact_id].queue.queue_id
        staffed = self._staffed.get(qid, 0)
        if staffed == 0:
            return None
        return int(-(-pos * self._aht_ms[qid] // (staffed * 1000)))

    def agent_view(self, agent_id: str) -> AgentView:
        agent = self._agent(agent_id)
        return AgentView(
            agent_id=agent_id,
            presence=agent.presence.value,
            reason=agent.reason,
            contacts=tuple(
                (cid, phase)
                for cid in agent.contacts
                if (phase := self._phase_for(agent_id, cid)) is not None
            ),
            calls=agent.calls,
        )

    def queue_view(self, queue_id: str) -> QueueView:
        self._queue(queue_id)
        waiting = [
            c
            for c in self._contacts.values()
            if c.queue.queue_id == queue_id and c.phase is Phase.WAITING
        ]
        return QueueView(
            queue_id=queue_id,
            waiting=len(waiting),
            callbacks_waiting=sum(1 for c in waiting if c.callback),
            staffed=self._staffed.get(queue_id, 0),
            available=sum(
                1
                for a in self._agents.values()
                if self._serves(a, self._queues[queue_id]) and a.available_for("voice")
            ),
            oldest_entered_ms=min((c.entered_ms for c in waiting), default=None),
        )

    @property
    def router(self) -> Router:
        """The routing index in use."""
        return self._router

    def contact_ids(self) -> list[str]:
        """Ids of the contacts in the ACD (waiting, ringing, talking or in wrap-up)."""
        return list(self._contacts)

    def contact_phase(self, contact_id: str) -> str | None:
        """The phase of a contact in the ACD, or None once it has left."""
        contact = self._contacts.get(contact_id)
        return contact.phase.value if contact is not None else None

    @property
    def now(self) -> int:
        return self._now

    def queues(self) -> list[QueueSpec]:
        return list(self._queues.values())

    def agents(self) -> list[AgentSpec]:
        return [a.spec for a in self._agents.values()]


def _contact_requirements(
    contact_id: str, priority: int, skills: Mapping[str, int] | None
) -> dict[str, int]:
    """A queued contact's priority and own skill requirements, checked (callback entries)."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise AcdError(f"priority must be an integer, got {priority!r}")
    extra: dict[str, int] = {}
    for skill, level in (skills or {}).items():
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise AcdError(f"contact {contact_id!r}: skill {skill!r} level must be 1-5")
        extra[skill] = level
    return extra
