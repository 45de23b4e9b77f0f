"""What a stopped server left open in a tenant's log, and the events that close it.

The ACD is not rebuilt from the log at start: the calls a stopped process carried ended with it
(``kill -9`` or a clean stop alike), and agents log in again when their phones register. For the
log to stay a valid lifecycle (metrics, adherence, no second ``agent.logged_in``),
:func:`close_out` replays a tenant's log just far enough to know, at its end, which agents are
logged in and which contacts are open in which phase, and returns the events that close them as
of the last event's time (the process stopped after it):

* a conversation (answered, on hold, a call an agent placed, a consultation, a transferred
  contact) -> per agent on it, latest first: ``contact.ended{by: "system"}``,
  ``agent.acw_started``, ``agent.acw_ended`` (0 s of after-call work); after-call work in
  progress -> ``agent.acw_ended``;
* a contact nobody was talking with (in the IVR, waiting or ringing in a queue, between queues)
  -> ``contact.lost{reason: "restart"}``, then ``contact.offer_withdrawn{reason: "lost"}`` for
  each agent it was ringing at;
* a callback being dialled -> ``callback.failed{retry: true}`` for that attempt; a callback
  waiting with a number is left as it is (the server takes it back at start); one without a
  number cannot be dialled again -> ``contact.lost``;
* then ``agent.logged_out`` for every agent still logged in.

Test-mode events are a world of their own (metrics and reports leave them out): what they left
open is closed with test-mode events. Closing a log that :func:`close_out` has closed finds
nothing open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from glasshouse.domain.events import (
    AgentAcwEnded,
    AgentAcwStarted,
    AgentLoggedIn,
    AgentLoggedOut,
    CallbackDialing,
    CallbackFailed,
    CallbackRequested,
    CallbackRestored,
    ContactAbandoned,
    ContactAnswered,
    ContactArrived,
    ContactBlocked,
    ContactConsultAnswered,
    ContactEnded,
    ContactHeld,
    ContactIvrAbandoned,
    ContactIvrCompleted,
    ContactLost,
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
)

__all__ = ["RESTART", "CloseOut", "RecoveryError", "close_out"]

#: ``contact.lost`` reason of what a stopped server left open.
RESTART: Final = "restart"
#: ``contact.offer_withdrawn`` reason of an offer that stopped ringing when its contact was lost.
LOST: Final = "lost"
#: ``contact.ended`` ``by`` of a conversation the server's stop ended.
SYSTEM: Final = "system"

# The customer's side of a contact.
_IVR, _WAITING, _BETWEEN, _CALLBACK, _DIALING, _TALKING, _GONE = range(7)
# An agent's part of a contact.
_TALK, _HOLD, _WRAP, _ACW = range(4)


class RecoveryError(ValueError):
    """The events given are not one tenant's log; the message says why."""


@dataclass(frozen=True, slots=True)
class CloseOut:
    """The events that close what a stopped server left open in one tenant's log (all at the
    last event's time), and how many contacts and agents they close."""

    events: tuple[Event, ...] = ()
    contacts: int = 0
    agents: int = 0


class _Contact:
    __slots__ = ("cid", "dial_agent", "number_ref", "offers", "parts", "phase", "queue", "transfer")

    def __init__(self, cid: str, phase: int) -> None:
        self.cid = cid
        self.phase = phase
        self.queue = ""
        self.offers: dict[str, None] = {}  # the agents it rings at, in offer order
        self.parts: dict[str, int] = {}  # agent -> their part's phase, in start order
        self.dial_agent = ""
        self.number_ref = ""  # where the number to call back is kept (callbacks)
        self.transfer = ""  # "queue:<id>" or "agent:<id>" announced by contact.transferred


class _World:
    """The open contacts and logged-in agents of one world (test mode or not) of a log.

    It only follows the log: an event that does not fit is passed over, never refused, so that
    a log written before a fix (a second login, say) can still be closed."""

    def __init__(self) -> None:
        self.contacts: dict[str, _Contact] = {}
        self.agents: dict[str, bool] = {}  # agent -> logged in, in order of first appearance

    def handlers(self) -> dict[type[EventBody], Callable[[Any], None]]:
        return {
            ContactArrived: self.arrived,
            ContactBlocked: self.left_ivr,
            ContactIvrCompleted: self.left_ivr,
            ContactIvrAbandoned: self.left_ivr,
            ContactQueued: self.queued,
            ContactOffered: self.offered,
            ContactRingNoAnswer: self.offer_over,
            ContactOfferWithdrawn: self.offer_over,
            ContactAnswered: self.answered,
            ContactAbandoned: self.left_queue,
            ContactTimedOut: self.left_queue,
            ContactLost: self.left_queue,
            ContactOverflowed: self.overflowed,
            CallbackRequested: self.callback_requested,
            CallbackDialing: self.callback_dialing,
            CallbackFailed: self.callback_failed,
            CallbackRestored: self.callback_restored,
            ContactHeld: self.held,
            ContactRetrieved: self.retrieved,
            ContactEnded: self.ended,
            AgentAcwStarted: self.acw_started,
            AgentAcwEnded: self.acw_ended,
            ContactOutboundStarted: self.outbound_started,
            ContactOutboundFailed: self.outbound_failed,
            ContactConsultAnswered: self.joined,
            ContactTransferred: self.transferred,
            ContactTransferConnected: self.joined,
            AgentLoggedIn: self.logged_in,
            AgentLoggedOut: self.logged_out,
        }

    # -- contacts ------------------------------------------------------------------------------

    def _new(self, cid: str, phase: int) -> _Contact:
        c = self.contacts[cid] = _Contact(cid, phase)
        return c

    def _gone(self, c: _Contact) -> None:
        """The customer's side is over: the contact is forgotten once every part is over."""
        c.phase = _GONE
        c.offers.clear()
        if not c.parts:
            del self.contacts[c.cid]

    def _conversation_over(self, c: _Contact) -> None:
        if c.phase == _TALKING and not any(p <= _HOLD for p in c.parts.values()):
            if c.transfer:
                c.phase = _BETWEEN
            else:
                self._gone(c)

    def arrived(self, b: ContactArrived) -> None:
        if b.contact_id not in self.contacts:
            self._new(b.contact_id, _IVR)

    def left_ivr(self, b: ContactBlocked | ContactIvrCompleted | ContactIvrAbandoned) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.phase == _IVR:
            self._gone(c)

    def queued(self, b: ContactQueued) -> None:
        c = self.contacts.get(b.contact_id) or self._new(b.contact_id, _WAITING)
        c.phase = _WAITING
        c.queue = b.queue_id
        c.offers.clear()
        c.transfer = ""

    def offered(self, b: ContactOffered) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.phase == _WAITING:
            c.offers[b.agent_id] = None

    def offer_over(self, b: ContactRingNoAnswer | ContactOfferWithdrawn) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None:
            c.offers.pop(b.agent_id, None)

    def answered(self, b: ContactAnswered) -> None:
        c = self.contacts.get(b.contact_id) or self._new(b.contact_id, _TALKING)
        c.phase = _TALKING
        c.queue = b.queue_id
        c.offers.clear()  # offers still ringing elsewhere stopped with the answer
        c.dial_agent = ""
        c.parts[b.agent_id] = _TALK

    def left_queue(self, b: ContactAbandoned | ContactTimedOut | ContactLost) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.phase != _TALKING:
            self._gone(c)

    def overflowed(self, b: ContactOverflowed) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None:
            c.phase = _BETWEEN
            c.offers.clear()

    def callback_requested(self, b: CallbackRequested) -> None:
        c = self.contacts.get(b.contact_id) or self._new(b.contact_id, _CALLBACK)
        c.phase = _CALLBACK
        c.queue = b.queue_id
        c.number_ref = b.number_ref
        c.offers.clear()

    def callback_dialing(self, b: CallbackDialing) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.phase == _CALLBACK:
            c.phase = _DIALING
            c.queue = b.queue_id
            c.dial_agent = b.agent_id

    def callback_failed(self, b: CallbackFailed) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.phase == _DIALING:
            c.dial_agent = ""
            if b.retry:
                c.phase = _CALLBACK
            else:
                self._gone(c)

    def callback_restored(self, b: CallbackRestored) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.phase in (_CALLBACK, _DIALING):
            c.phase = _CALLBACK
            c.queue = b.queue_id
            c.dial_agent = ""

    def _set_part(self, cid: str, agent: str, frm: tuple[int, ...], to: int) -> None:
        c = self.contacts.get(cid)
        if c is not None and c.parts.get(agent, -1) in frm:
            c.parts[agent] = to

    def held(self, b: ContactHeld) -> None:
        self._set_part(b.contact_id, b.agent_id, (_TALK,), _HOLD)

    def retrieved(self, b: ContactRetrieved) -> None:
        self._set_part(b.contact_id, b.agent_id, (_HOLD,), _TALK)

    def ended(self, b: ContactEnded) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and c.parts.get(b.agent_id, -1) in (_TALK, _HOLD):
            c.parts[b.agent_id] = _WRAP
            self._conversation_over(c)

    def acw_started(self, b: AgentAcwStarted) -> None:
        self._set_part(b.contact_id, b.agent_id, (_WRAP,), _ACW)

    def _part_over(self, cid: str, agent: str) -> None:
        c = self.contacts.get(cid)
        if c is None or c.parts.pop(agent, None) is None:
            return
        self._conversation_over(c)  # forgets it when the customer's side ends with this part
        if c.phase == _GONE and not c.parts:
            self.contacts.pop(cid, None)

    def acw_ended(self, b: AgentAcwEnded) -> None:
        self._part_over(b.contact_id, b.agent_id)

    def outbound_started(self, b: ContactOutboundStarted) -> None:
        if b.contact_id not in self.contacts:
            self._new(b.contact_id, _TALKING).parts[b.agent_id] = _TALK

    def outbound_failed(self, b: ContactOutboundFailed) -> None:
        self._part_over(b.contact_id, b.agent_id)

    def joined(self, b: ContactConsultAnswered | ContactTransferConnected) -> None:
        """Another agent's part starts: they answered an agent's call or took a transfer."""
        c = self.contacts.get(b.contact_id)
        if c is not None:
            c.phase = _TALKING
            c.transfer = ""
            c.parts[b.agent_id] = _TALK

    def transferred(self, b: ContactTransferred) -> None:
        c = self.contacts.get(b.contact_id)
        if c is not None and b.target.startswith(("queue:", "agent:")):
            c.transfer = b.target

    # -- agents --------------------------------------------------------------------------------

    def logged_in(self, b: AgentLoggedIn) -> None:
        self.agents[b.agent_id] = True

    def logged_out(self, b: AgentLoggedOut) -> None:
        self.agents[b.agent_id] = False

    # -- closing -------------------------------------------------------------------------------

    def close(self, reason: str) -> tuple[list[EventBody], int, int]:
        """The bodies that close what is open, and how many contacts and agents they close."""
        out: list[EventBody] = []
        contacts = 0
        for c in self.contacts.values():
            before = len(out)
            cid = c.cid
            # Latest part first: the colleague who answered an agent's call leaves it first,
            # as when the ACD ends one.
            for agent, phase in reversed(c.parts.items()):
                if phase <= _HOLD:
                    out.append(ContactEnded(contact_id=cid, agent_id=agent, by=SYSTEM))
                if phase <= _WRAP:
                    out.append(AgentAcwStarted(agent_id=agent, contact_id=cid))
                out.append(AgentAcwEnded(agent_id=agent, contact_id=cid))
            if c.phase == _TALKING:
                c.phase = _BETWEEN if c.transfer else _GONE
            if c.phase == _DIALING:
                out.append(
                    CallbackFailed(
                        contact_id=cid, queue_id=c.queue, agent_id=c.dial_agent, retry=True
                    )
                )
                c.phase = _CALLBACK
            # A callback with a number is the server's to take back and dial, not to close.
            if c.phase in (_IVR, _WAITING, _BETWEEN) or (c.phase == _CALLBACK and not c.number_ref):
                out.append(ContactLost(contact_id=cid, reason=reason))
                out.extend(
                    ContactOfferWithdrawn(
                        contact_id=cid, queue_id=c.queue, agent_id=agent, reason=LOST
                    )
                    for agent in c.offers
                )
            if len(out) > before:
                contacts += 1
        agents = [agent for agent, on in self.agents.items() if on]
        out.extend(AgentLoggedOut(agent_id=agent) for agent in agents)
        return out, contacts, len(agents)


def close_out(events: Iterable[Event], *, reason: str = RESTART) -> CloseOut:
    """The events that close what one tenant's log leaves open (contacts and logged-in agents,
    but not callbacks waiting with a number), stamped with its last event's time; nothing for a
    log with nothing open. Raises :class:`RecoveryError` for events of several tenants."""
    worlds = (_World(), _World())  # not test mode, test mode
    dispatch = (worlds[0].handlers(), worlds[1].handlers())
    tenant: str | None = None
    last_ts = 0
    for event in events:
        if tenant is None:
            tenant = event.tenant
        elif event.tenant != tenant:
            raise RecoveryError(
                f"events of several tenants ({tenant!r}, {event.tenant!r}) at seq {event.seq}: "
                "close one tenant's log at a time"
            )
        last_ts = max(last_ts, event.ts)
        handler = dispatch[event.test].get(type(event.body))
        if handler is not None:
            handler(event.body)
    if tenant is None:
        return CloseOut()
    closing: list[Event] = []
    contacts = agents = 0
    for test, world in enumerate(worlds):
        bodies, n_contacts, n_agents = world.close(reason)
        closing += (Event(tenant, last_ts, body, test=bool(test)) for body in bodies)
        contacts += n_contacts
        agents += n_agents
    return CloseOut(tuple(closing), contacts, agents)
