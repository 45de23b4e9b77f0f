"""Metrics from an event log, in batch: rebuild every contact and agent, then aggregate.

:func:`compute` reads the whole log once to rebuild one record per contact (its queue segments,
offers, callback attempts, holds, end and after-call work, with their timestamps) and one per
agent (login sessions and ready / not-ready spans), then aggregates those records into a
:class:`~glasshouse.domain.metrics.figures.Report`. :func:`compute_rolling` does the same over a
rolling window. The definitions are in GLOSSARY.md and ``docs/metrics.md``.

This module shares nothing with :mod:`glasshouse.domain.metrics.incremental` but the config and
result types, so that the two agreeing on a log is evidence that both follow the definitions.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from operator import add
from typing import Any, Final

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
    ContactConsultAnswered,
    ContactDispositioned,
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
)
from glasshouse.domain.metrics.config import MetricsConfig, QueueThresholds
from glasshouse.domain.metrics.errors import MetricsError
from glasshouse.domain.metrics.figures import (
    LOGIN_REASON,
    AgentFigures,
    CallLoss,
    QueueFigures,
    Report,
    TenantFigures,
)

# Contact phases (the customer's side; _TALK: with one agent or more), and the phases of an
# agent's part of a contact (_TALK .. _DONE).
_ARRIVED, _QUEUED, _TRANSFER, _CB_WAIT, _CB_DIAL, _TALK, _HOLD, _WRAP, _ACW, _DONE = range(10)
_MOVING, _GONE = 10, 11
_PHASE_NAMES: Final = (
    "arrived",
    "queued",
    "overflowing",
    "waiting for a callback",
    "dialling a callback",
    "talking",
    "on hold",
    "ended",
    "in after-call work",
    "finished",
    "being transferred",
    "ended",
)

# How a queue segment ended.
_ANSWERED, _ABANDONED, _OVERFLOWED, _TIMED_OUT, _CALLBACK = range(5)
#: cut off by the system (contact.lost): offered, with no outcome of its own
_LOST: Final = 5
# How an offer (or a callback attempt) ended.
_O_ANSWERED, _O_RNA, _O_WITHDRAWN, _O_CLOSED, _O_FAILED = range(5)
# How a contact ended before any queue.
_PRE_BLOCKED, _PRE_IVR_DONE, _PRE_IVR_LOST = range(3)

# Accumulator layouts (the numeric fields of the figure types, in order).
_NQ: Final = 18  # QueueFigures.offered .. justified_long_ms
_NA: Final = 18  # AgentFigures numbers (not_ready_ms is kept apart)
_NL: Final = 8  # CallLoss
_A_LOGGED, _A_IDLE, _A_RINGING, _A_TALK, _A_HOLD, _A_ACW = 12, 13, 14, 15, 16, 17

#: The period key of totals (interval keys are interval starts, never negative).
_TOTAL: Final = -1
_NO_LIMIT: Final = 1 << 63


class _Offer:
    __slots__ = ("agent", "end", "result", "start")

    def __init__(self, agent: str, start: int) -> None:
        self.agent = agent
        self.start = start
        self.end: int | None = None
        self.result = -1


class _Segment:
    __slots__ = ("cb_connected", "dials", "entry", "exit_kind", "exit_ts", "offers", "queue")

    def __init__(self, queue: str, entry: int) -> None:
        self.queue = queue
        self.entry = entry
        self.exit_kind = -1
        self.exit_ts = 0
        self.offers: list[_Offer] = []
        self.dials: list[_Offer] = []
        self.cb_connected = False


class _Part:
    """One agent's part of a contact: from answering (or placing, or taking over) the call to
    the end of their after-call work. ``seg`` is the queue stay it counts in (None for calls
    agents place)."""

    __slots__ = ("acw_end", "agent", "ended", "holds", "justified", "phase", "seg", "start")

    def __init__(self, agent: str, start: int, seg: _Segment | None) -> None:
        self.agent = agent
        self.start = start
        self.seg = seg
        self.phase = _TALK
        self.holds = _NO_HOLDS  # a part's own list from its first hold
        self.ended: int | None = None
        self.acw_end: int | None = None
        self.justified = False


#: The parts of a contact nobody answered, and the holds of a part never on hold: shared,
#: never changed (the first part, or hold, replaces them with a list of its own).
_NO_PART_LIST: Final[list[_Part]] = []
_NO_HOLDS: Final[list[list[int]]] = []


def _open_part(c: _Contact, agent: str) -> _Part | None:
    """The agent's part of the contact that is not over yet, if any."""
    for part in c.parts:
        if part.agent == agent and part.phase != _DONE:
            return part
    return None


class _Contact:
    __slots__ = (
        "arrived",
        "cb_lost",
        "cid",
        "lost",
        "open",
        "open_offers",
        "parts",
        "phase",
        "pre",
        "rna",
        "segments",
        "to_queue",
        "transfer",
        "transfer_seg",
        "was_answered",
        "withdrawable",
    )

    def __init__(self, cid: str) -> None:
        self.cid = cid
        self.phase = _ARRIVED
        self.arrived: int | None = None
        self.pre = -1
        self.segments: list[_Segment] = []
        self.open_offers: dict[str, _Offer] = {}
        self.withdrawable: set[str] = set()
        self.to_queue = ""
        self.rna = False
        self.was_answered = False
        self.cb_lost = False
        self.lost = False  # cut off by the system before an agent answered (contact.lost)
        #: every part, and the parts not over yet by agent (shared empty ones until the first)
        self.parts = _NO_PART_LIST
        self.open = 0  # parts not over yet (an agent has at most one per contact)
        #: a transfer announced by contact.transferred: "queue:<id>" or "agent:<id>"
        self.transfer = ""
        self.transfer_seg: _Segment | None = None


class _Agent:
    __slots__ = ("active", "base", "base_spans", "sessions", "since")

    def __init__(self) -> None:
        self.sessions: list[list[int]] = []  # [login, logout]; logout -1 while logged in
        self.base_spans: list[tuple[int, int, str | None]] = []  # (start, end, reason|None)
        self.base: str | None = None  # None = ready, else the not-ready reason
        self.since = 0
        self.active = 0  # offers ringing, callbacks dialling, contacts until ACW ends

    @property
    def logged_in(self) -> bool:
        return bool(self.sessions) and self.sessions[-1][1] < 0


class _Log:
    """Pass 1: the records of one tenant's contacts and agents, as of a time."""

    def __init__(self) -> None:
        self.contacts: dict[str, _Contact] = {}
        self.agents: dict[str, _Agent] = {}

    def handlers(self) -> dict[type[Any], Callable[[Any, int, int], None]]:
        """The handler of each event type. (Not kept on the log: bound methods pointing back
        at it would make a reference cycle and keep every record alive until a collection.)"""
        return {
            ContactArrived: self.arrived,
            ContactBlocked: self.blocked,
            ContactIvrCompleted: self.ivr_completed,
            ContactIvrAbandoned: self.ivr_abandoned,
            ContactQueued: self.queued,
            ContactOffered: self.offered,
            ContactRingNoAnswer: self.ring_no_answer,
            ContactOfferWithdrawn: self.offer_withdrawn,
            ContactAnswered: self.answered,
            ContactAbandoned: self.abandoned,
            ContactOverflowed: self.overflowed,
            ContactTimedOut: self.timed_out,
            ContactLost: self.lost,
            CallbackRequested: self.callback_requested,
            CallbackDialing: self.callback_dialing,
            CallbackFailed: self.callback_failed,
            ContactHeld: self.held,
            ContactRetrieved: self.retrieved,
            ContactEnded: self.ended,
            AgentAcwStarted: self.acw_started,
            ContactDispositioned: self.dispositioned,
            AgentAcwEnded: self.acw_ended,
            ContactOutboundStarted: self.outbound_started,
            ContactOutboundFailed: self.outbound_failed,
            ContactConsultAnswered: self.consult_answered,
            ContactTransferred: self.transferred,
            ContactTransferConnected: self.transfer_connected,
            AgentLoggedIn: self.logged_in,
            AgentLoggedOut: self.logged_out,
            AgentReady: self.ready,
            AgentNotReady: self.not_ready,
        }

    # -- look-ups ------------------------------------------------------------------------------

    def _contact(self, cid: str, what: str, seq: int) -> _Contact:
        c = self.contacts.get(cid)
        if c is None:
            raise MetricsError(seq, f"{what} for unknown contact {cid!r}")
        return c

    @staticmethod
    def _refuse(c: _Contact, what: str, seq: int) -> MetricsError:
        return MetricsError(seq, f"{what} for contact {c.cid!r}, which is {_PHASE_NAMES[c.phase]}")

    def _in_queue(self, cid: str, queue: str, what: str, seq: int) -> _Contact:
        c = self.contacts.get(cid)
        if c is not None and c.phase == _QUEUED and c.segments[-1].queue == queue:
            return c
        c = self._contact(cid, what, seq)
        if c.phase != _QUEUED:
            raise self._refuse(c, what, seq)
        if c.segments[-1].queue != queue:
            raise MetricsError(
                seq,
                f"{what} in queue {queue!r} for contact {cid!r}, which is in "
                f"{c.segments[-1].queue!r}",
            )
        return c

    def _part(
        self, cid: str, agent: str, phases: tuple[int, ...], what: str, seq: int
    ) -> tuple[_Contact, _Part]:
        """The contact and the agent's part of it, in one of ``phases``."""
        c = self.contacts.get(cid)
        if c is not None and c.parts:
            part = c.parts[-1]
            if part.agent == agent and part.phase in phases:
                return c, part
        c = self._contact(cid, what, seq)
        found = _open_part(c, agent)
        if found is None:
            if c.open:
                raise MetricsError(
                    seq,
                    f"{what} by agent {agent!r} for contact {cid!r}, handled by "
                    + ", ".join(repr(p.agent) for p in c.parts if p.phase != _DONE),
                )
            raise self._refuse(c, what, seq)
        part = found
        if part.phase not in phases:
            raise MetricsError(
                seq, f"{what} for contact {cid!r}, which is {_PHASE_NAMES[part.phase]}"
            )
        return c, part

    def _start_part(
        self,
        c: _Contact,
        agent: str,
        ts: int,
        seg: _Segment | None,
        what: str,
        seq: int,
        *,
        present: bool = False,
    ) -> None:
        """The agent's part of the contact starts (``present``: the agent is known to be
        logged in, answering an offer or a callback they dial)."""
        if c.open and _open_part(c, agent) is not None:
            raise MetricsError(
                seq, f"{what} by agent {agent!r} for contact {c.cid!r}, still theirs"
            )
        a = self.agents[agent] if present else self._agent(agent, what, seq)
        a.active += 1
        part = _Part(agent, ts, seg)
        if c.parts is _NO_PART_LIST:
            c.parts = [part]
        else:
            c.parts.append(part)
        c.open += 1
        c.phase = _TALK

    @staticmethod
    def _gone(c: _Contact) -> None:
        """The customer left: the contact is finished once every agent's part is over."""
        c.phase = _GONE if c.open else _DONE

    def _working_agent(self, agent: str, what: str, seq: int) -> _Agent:
        a = self.agents.get(agent)
        if a is None or not a.logged_in:
            raise MetricsError(seq, f"{what} to agent {agent!r}, who is not logged in")
        return a

    def _close_offers(self, c: _Contact, ts: int) -> None:
        """The contact left the queue: offers still ringing stop ringing now."""
        if not c.open_offers:
            return
        for agent, offer in c.open_offers.items():
            offer.end = ts
            offer.result = _O_CLOSED
            c.withdrawable.add(agent)
            self.agents[agent].active -= 1
        c.open_offers = {}

    # -- contact lifecycle ---------------------------------------------------------------------

    def arrived(self, b: ContactArrived, ts: int, seq: int) -> None:
        if b.contact_id in self.contacts:
            raise MetricsError(seq, f"contact.arrived for contact {b.contact_id!r}, seen before")
        c = self.contacts[b.contact_id] = _Contact(b.contact_id)
        c.arrived = ts

    def _before_queue(self, cid: str, kind: int, what: str, seq: int) -> None:
        c = self.contacts.get(cid)
        if c is None:
            c = self.contacts[cid] = _Contact(cid)
        elif c.phase != _ARRIVED:
            raise self._refuse(c, what, seq)
        c.pre = kind
        c.phase = _DONE

    def blocked(self, b: ContactBlocked, ts: int, seq: int) -> None:
        self._before_queue(b.contact_id, _PRE_BLOCKED, "contact.blocked", seq)

    def ivr_completed(self, b: ContactIvrCompleted, ts: int, seq: int) -> None:
        self._before_queue(b.contact_id, _PRE_IVR_DONE, "contact.ivr_completed", seq)

    def ivr_abandoned(self, b: ContactIvrAbandoned, ts: int, seq: int) -> None:
        self._before_queue(b.contact_id, _PRE_IVR_LOST, "contact.ivr_abandoned", seq)

    def queued(self, b: ContactQueued, ts: int, seq: int) -> None:
        c = self.contacts.get(b.contact_id)
        if c is None:
            c = self.contacts[b.contact_id] = _Contact(b.contact_id)
        elif c.phase == _TRANSFER:
            if c.to_queue != b.queue_id:
                raise MetricsError(
                    seq,
                    f"contact.queued in {b.queue_id!r} for contact {c.cid!r}, "
                    f"which overflowed to {c.to_queue!r}",
                )
        elif c.phase == _MOVING:
            if c.transfer.startswith("queue:") and c.transfer != f"queue:{b.queue_id}":
                raise MetricsError(
                    seq,
                    f"contact.queued in {b.queue_id!r} for contact {c.cid!r}, "
                    f"which was transferred to {c.transfer!r}",
                )
            c.transfer = ""
        elif c.phase != _ARRIVED:
            raise self._refuse(c, "contact.queued", seq)
        c.segments.append(_Segment(b.queue_id, ts))
        c.phase = _QUEUED

    def offered(self, b: ContactOffered, ts: int, seq: int) -> None:
        c = self._in_queue(b.contact_id, b.queue_id, "contact.offered", seq)
        a = self._working_agent(b.agent_id, "contact.offered", seq)
        if b.agent_id in c.open_offers:
            raise MetricsError(
                seq, f"contact.offered: contact {c.cid!r} is already ringing at {b.agent_id!r}"
            )
        offer = _Offer(b.agent_id, ts)
        c.open_offers[b.agent_id] = offer
        c.segments[-1].offers.append(offer)
        c.withdrawable.discard(b.agent_id)
        a.active += 1

    def _end_offer(
        self, c: _Contact, agent: str, ts: int, result: int, what: str, seq: int
    ) -> None:
        offer = c.open_offers.pop(agent, None)
        if offer is None:
            raise MetricsError(seq, f"{what}: contact {c.cid!r} is not ringing at {agent!r}")
        offer.end = ts
        offer.result = result
        self.agents[agent].active -= 1

    def ring_no_answer(self, b: ContactRingNoAnswer, ts: int, seq: int) -> None:
        c = self._in_queue(b.contact_id, b.queue_id, "contact.ring_no_answer", seq)
        self._end_offer(c, b.agent_id, ts, _O_RNA, "contact.ring_no_answer", seq)
        c.rna = True

    def offer_withdrawn(self, b: ContactOfferWithdrawn, ts: int, seq: int) -> None:
        c = self._contact(b.contact_id, "contact.offer_withdrawn", seq)
        if b.agent_id in c.withdrawable:  # already stopped when the contact left the queue
            c.withdrawable.discard(b.agent_id)
            return
        self._end_offer(c, b.agent_id, ts, _O_WITHDRAWN, "contact.offer_withdrawn", seq)

    def answered(self, b: ContactAnswered, ts: int, seq: int) -> None:
        c = self._contact(b.contact_id, "contact.answered", seq)
        if c.phase == _CB_DIAL:
            seg = c.segments[-1]
            dial = seg.dials[-1]
            if seg.queue != b.queue_id or dial.agent != b.agent_id:
                raise MetricsError(
                    seq,
                    f"contact.answered by {b.agent_id!r} in {b.queue_id!r} for contact "
                    f"{c.cid!r}, a callback dialled by {dial.agent!r} in {seg.queue!r}",
                )
            if c.open and _open_part(c, b.agent_id) is not None:
                raise MetricsError(
                    seq,
                    f"contact.answered by agent {b.agent_id!r} for contact {c.cid!r}, still theirs",
                )
            dial.end = ts
            dial.result = _O_ANSWERED
            self.agents[b.agent_id].active -= 1
            seg.cb_connected = True
        else:
            c = self._in_queue(b.contact_id, b.queue_id, "contact.answered", seq)
            self._end_offer(c, b.agent_id, ts, _O_ANSWERED, "contact.answered", seq)
            seg = c.segments[-1]
            seg.exit_kind = _ANSWERED
            seg.exit_ts = ts
            self._close_offers(c, ts)
        if c.open:
            self._start_part(c, b.agent_id, ts, seg, "contact.answered", seq, present=True)
        else:  # the common case, done inline: the contact's first agent
            self.agents[b.agent_id].active += 1
            part = _Part(b.agent_id, ts, seg)
            if c.parts is _NO_PART_LIST:
                c.parts = [part]
            else:
                c.parts.append(part)
            c.open = 1
            c.phase = _TALK
        c.was_answered = True

    def _leave_queue(
        self, cid: str, queue: str, kind: int, what: str, ts: int, seq: int
    ) -> _Contact:
        c = self._in_queue(cid, queue, what, seq)
        seg = c.segments[-1]
        seg.exit_kind = kind
        seg.exit_ts = ts
        self._close_offers(c, ts)
        return c

    def abandoned(self, b: ContactAbandoned, ts: int, seq: int) -> None:
        c = self._leave_queue(b.contact_id, b.queue_id, _ABANDONED, "contact.abandoned", ts, seq)
        self._gone(c)

    def overflowed(self, b: ContactOverflowed, ts: int, seq: int) -> None:
        c = self._leave_queue(b.contact_id, b.queue_id, _OVERFLOWED, "contact.overflowed", ts, seq)
        c.to_queue = b.to_queue_id
        c.phase = _TRANSFER

    def timed_out(self, b: ContactTimedOut, ts: int, seq: int) -> None:
        c = self._leave_queue(b.contact_id, b.queue_id, _TIMED_OUT, "contact.timed_out", ts, seq)
        self._gone(c)

    def lost(self, b: ContactLost, ts: int, seq: int) -> None:
        c = self._contact(b.contact_id, "contact.lost", seq)
        if c.phase == _QUEUED:
            seg = c.segments[-1]
            seg.exit_kind = _LOST
            seg.exit_ts = ts
            self._close_offers(c, ts)
        elif c.phase not in (_ARRIVED, _TRANSFER, _MOVING, _CB_WAIT):
            raise self._refuse(c, "contact.lost", seq)
        c.lost = True
        c.transfer = ""
        self._gone(c)

    def callback_requested(self, b: CallbackRequested, ts: int, seq: int) -> None:
        c = self._leave_queue(b.contact_id, b.queue_id, _CALLBACK, "callback.requested", ts, seq)
        c.phase = _CB_WAIT

    def callback_dialing(self, b: CallbackDialing, ts: int, seq: int) -> None:
        c = self._contact(b.contact_id, "callback.dialing", seq)
        if c.phase != _CB_WAIT or c.segments[-1].queue != b.queue_id:
            raise self._refuse(c, f"callback.dialing in {b.queue_id!r}", seq)
        a = self._working_agent(b.agent_id, "callback.dialing", seq)
        c.segments[-1].dials.append(_Offer(b.agent_id, ts))
        a.active += 1
        c.phase = _CB_DIAL

    def callback_failed(self, b: CallbackFailed, ts: int, seq: int) -> None:
        c = self._contact(b.contact_id, "callback.failed", seq)
        if c.phase != _CB_DIAL:
            raise self._refuse(c, "callback.failed", seq)
        seg = c.segments[-1]
        dial = seg.dials[-1]
        if seg.queue != b.queue_id or dial.agent != b.agent_id:
            raise MetricsError(
                seq,
                f"callback.failed by {b.agent_id!r} in {b.queue_id!r} for contact "
                f"{c.cid!r}, dialled by {dial.agent!r} in {seg.queue!r}",
            )
        dial.end = ts
        dial.result = _O_FAILED
        self.agents[b.agent_id].active -= 1
        if b.retry:
            c.phase = _CB_WAIT
        else:
            c.cb_lost = True
            self._gone(c)

    def held(self, b: ContactHeld, ts: int, seq: int) -> None:
        _, part = self._part(b.contact_id, b.agent_id, (_TALK,), "contact.held", seq)
        if part.holds is _NO_HOLDS:
            part.holds = [[ts, -1]]
        else:
            part.holds.append([ts, -1])
        part.phase = _HOLD

    def retrieved(self, b: ContactRetrieved, ts: int, seq: int) -> None:
        _, part = self._part(b.contact_id, b.agent_id, (_HOLD,), "contact.retrieved", seq)
        part.holds[-1][1] = ts
        part.phase = _TALK

    def _conversation_over(self, c: _Contact, part: _Part, ts: int) -> None:
        if part.phase == _HOLD:
            part.holds[-1][1] = ts
        part.ended = ts
        part.phase = _WRAP
        if c.phase == _TALK:
            for other in c.parts:
                if other.phase <= _HOLD:
                    return
            # the last agent left the customer: a transfer carries on, else the customer is gone
            if c.transfer:
                c.phase = _MOVING
            else:
                self._gone(c)

    def ended(self, b: ContactEnded, ts: int, seq: int) -> None:
        c, part = self._part(b.contact_id, b.agent_id, (_TALK, _HOLD), "contact.ended", seq)
        if c.open > 1:
            self._conversation_over(c, part, ts)
            return
        # the common case, done inline: the contact's only agent leaves it
        if part.phase == _HOLD:
            part.holds[-1][1] = ts
        part.ended = ts
        part.phase = _WRAP
        if c.phase == _TALK:
            c.phase = _MOVING if c.transfer else _GONE

    def acw_started(self, b: AgentAcwStarted, ts: int, seq: int) -> None:
        _, part = self._part(b.contact_id, b.agent_id, (_WRAP,), "agent.acw_started", seq)
        part.phase = _ACW

    def dispositioned(self, b: ContactDispositioned, ts: int, seq: int) -> None:
        _, part = self._part(
            b.contact_id, b.agent_id, (_TALK, _HOLD, _WRAP, _ACW), "contact.dispositioned", seq
        )
        part.justified = b.justified_long

    def _part_over(self, c: _Contact, part: _Part, ts: int) -> None:
        part.acw_end = ts
        part.phase = _DONE
        c.open -= 1
        self.agents[part.agent].active -= 1
        if c.phase == _GONE and not c.open:
            c.phase = _DONE

    def acw_ended(self, b: AgentAcwEnded, ts: int, seq: int) -> None:
        c, part = self._part(b.contact_id, b.agent_id, (_ACW,), "agent.acw_ended", seq)
        part.acw_end = ts  # as _part_over does, inline
        part.phase = _DONE
        c.open -= 1
        self.agents[part.agent].active -= 1
        if c.phase == _GONE and not c.open:
            c.phase = _DONE

    # -- calls agents place, consultations and transfers ----------------------------------------

    def outbound_started(self, b: ContactOutboundStarted, ts: int, seq: int) -> None:
        if b.contact_id in self.contacts:
            raise MetricsError(
                seq, f"contact.outbound_started for contact {b.contact_id!r}, seen before"
            )
        c = _Contact(b.contact_id)
        self._start_part(c, b.agent_id, ts, None, "contact.outbound_started", seq)
        self.contacts[b.contact_id] = c

    def outbound_failed(self, b: ContactOutboundFailed, ts: int, seq: int) -> None:
        what = "contact.outbound_failed"
        c, part = self._part(b.contact_id, b.agent_id, (_TALK, _HOLD), what, seq)
        if part.seg is not None:
            raise MetricsError(seq, f"{what} for contact {c.cid!r}, answered from a queue")
        # the part ends without after-call work: it is not a handled contact
        self._conversation_over(c, part, ts)
        self._part_over(c, part, ts)

    def consult_answered(self, b: ContactConsultAnswered, ts: int, seq: int) -> None:
        what = "contact.consult_answered"
        c, part = self._part(b.contact_id, b.from_agent_id, (_TALK, _HOLD), what, seq)
        if part.seg is not None:
            raise MetricsError(seq, f"{what} for contact {c.cid!r}, answered from a queue")
        self._start_part(c, b.agent_id, ts, None, what, seq)

    def transferred(self, b: ContactTransferred, ts: int, seq: int) -> None:
        if not b.target.startswith(("queue:", "agent:")):
            return  # to an outside number: the contact ends with its agent's part
        c, part = self._part(b.contact_id, b.agent_id, (_TALK, _HOLD), "contact.transferred", seq)
        c.transfer = b.target
        c.transfer_seg = part.seg

    def transfer_connected(self, b: ContactTransferConnected, ts: int, seq: int) -> None:
        what = "contact.transfer_connected"
        c = self._contact(b.contact_id, what, seq)
        if c.phase != _MOVING:
            raise self._refuse(c, what, seq)
        if c.transfer != f"agent:{b.agent_id}":
            raise MetricsError(
                seq,
                f"{what} to agent {b.agent_id!r} for contact {c.cid!r}, "
                f"which was transferred to {c.transfer!r}",
            )
        self._start_part(c, b.agent_id, ts, c.transfer_seg, what, seq)
        c.transfer = ""

    # -- agent states --------------------------------------------------------------------------

    def _agent(self, agent: str, what: str, seq: int) -> _Agent:
        a = self.agents.get(agent)
        if a is None or not a.logged_in:
            raise MetricsError(seq, f"{what} for agent {agent!r}, who is not logged in")
        return a

    def logged_in(self, b: AgentLoggedIn, ts: int, seq: int) -> None:
        a = self.agents.get(b.agent_id)
        if a is None:
            a = self.agents[b.agent_id] = _Agent()
        elif a.logged_in:
            raise MetricsError(seq, f"agent.logged_in for agent {b.agent_id!r}, already logged in")
        a.sessions.append([ts, -1])
        a.base = LOGIN_REASON
        a.since = ts

    def _set_base(self, a: _Agent, base: str | None, ts: int) -> None:
        if ts > a.since:
            a.base_spans.append((a.since, ts, a.base))
        a.base = base
        a.since = ts

    def logged_out(self, b: AgentLoggedOut, ts: int, seq: int) -> None:
        a = self._agent(b.agent_id, "agent.logged_out", seq)
        if a.active:
            raise MetricsError(
                seq, f"agent.logged_out for agent {b.agent_id!r}, who still has a contact"
            )
        self._set_base(a, None, ts)
        a.sessions[-1][1] = ts

    def ready(self, b: AgentReady, ts: int, seq: int) -> None:
        self._set_base(self._agent(b.agent_id, "agent.ready", seq), None, ts)

    def not_ready(self, b: AgentNotReady, ts: int, seq: int) -> None:
        self._set_base(self._agent(b.agent_id, "agent.not_ready", seq), b.reason, ts)


def _read(
    events: Iterable[Event], tenant: str | None, until_ms: int | None
) -> tuple[_Log, str | None, int | None]:
    """Pass 1 over the tenant's events with ``ts <= until_ms``: (records, tenant, last ts)."""
    log = _Log()
    handlers = log.handlers()
    strict = tenant is None
    last_ts = -1
    last_seq = 0
    limit = until_ms if until_ms is not None else _NO_LIMIT
    for event in events:
        if event.ts > limit and (tenant is None or event.tenant == tenant):
            break
        if event.tenant != tenant:
            if tenant is None:
                tenant = event.tenant
            elif strict:
                raise MetricsError(
                    event.seq,
                    f"events of several tenants ({tenant!r}, {event.tenant!r}); name the tenant",
                )
            else:
                continue
        ts = event.ts
        seq = event.seq
        if ts < last_ts:
            raise MetricsError(seq, f"ts {ts} goes backwards (after {last_ts})")
        if seq:
            if seq <= last_seq:
                raise MetricsError(seq, f"seq goes backwards (after {last_seq})")
            last_seq = seq
        last_ts = ts
        if event.test:
            continue
        handler = handlers.get(type(event.body))
        if handler is not None:
            handler(event.body, ts, seq)
    return log, tenant, (last_ts if last_ts >= 0 else None)


# ---------------------------------------------------------------------------------------------
# Pass 2: aggregate the records


class _Sums:
    """Accumulators per (queue | agent | tenant, period). A period is an interval start, or
    :data:`_TOTAL` for a rolling window (where only what falls in the window counts)."""

    def __init__(self, config: MetricsConfig, window: tuple[int, int] | None) -> None:
        self.config = config
        self.interval_ms = config.interval_ms
        self.window = window
        self._limits: dict[str, tuple[int, int]] = {}
        self.queue: dict[tuple[str, int], list[int]] = {}
        self.queue_th: dict[tuple[str, int], list[int]] = {}  # talk + hold per handled contact
        self.tenant: dict[int, list[int]] = {}
        self.tenant_th: dict[int, list[int]] = {}
        self.loss: dict[int, list[int]] = {}
        self.agent: dict[tuple[str, int], list[int]] = {}
        self.not_ready: dict[tuple[str, int], dict[str, int]] = {}

    def period(self, ts: int) -> int | None:
        """The period of a contact counted at ``ts`` (its queue entry or arrival), if any."""
        if self.window is not None:
            lo, hi = self.window
            return _TOTAL if lo < ts <= hi else None
        return ts - ts % self.interval_ms

    def agent_acc(self, agent: str, period: int) -> list[int]:
        key = (agent, period)
        acc = self.agent.get(key)
        if acc is None:
            acc = self.agent[key] = [0] * _NA
        return acc

    def spread(self, agent: str, start: int, end: int, index: int, reason: str = "") -> None:
        """Add the clock time [start, end) of an agent state to each period it overlaps
        (``index`` -1 means not ready for ``reason``)."""
        if self.window is not None:
            lo, hi = self.window
            start = max(start, lo)
            end = min(end, hi)
            if end > start:
                self._add_time(agent, _TOTAL, end - start, index, reason)
            return
        size = self.interval_ms
        k = start - start % size
        while k < end:
            stop = k + size
            self._add_time(agent, k, (end if end < stop else stop) - max(start, k), index, reason)
            k = stop

    def _add_time(self, agent: str, period: int, ms: int, index: int, reason: str) -> None:
        key = (agent, period)
        if index < 0:
            nr = self.not_ready.get(key)
            if nr is None:
                nr = self.not_ready[key] = {}
            nr[reason] = nr.get(reason, 0) + ms
        else:
            acc = self.agent.get(key)
            if acc is None:
                acc = self.agent[key] = [0] * _NA
            acc[index] += ms

    def limits(self, queue: str) -> tuple[int, int]:
        """(T, T_short) of a queue, in ms."""
        found = self._limits.get(queue)
        if found is None:
            t = self.config.thresholds_for(queue)
            found = self._limits[queue] = (t.sl_threshold_ms, t.short_abandon_ms)
        return found


def _handle_times(part: _Part) -> tuple[int, int, int]:
    """(talk, hold, ACW) of a handled part of a contact. ACW runs from the end of the
    conversation to agent.acw_ended (the agent is busy with the contact all that time)."""
    assert part.ended is not None and part.acw_end is not None
    hold = sum(end - start for start, end in part.holds)
    return part.ended - part.start - hold, hold, part.acw_end - part.ended


def _add_handled(acc: list[int], talk: int, hold: int, acw: int, justified: bool) -> None:
    # QueueFigures: handled 12, talk 13, hold 14, acw 15, justified_long 16, its ms 17
    if justified:
        acc[16] += 1
        acc[17] += talk + hold + acw
    else:
        acc[12] += 1
        acc[13] += talk
        acc[14] += hold
        acc[15] += acw


def _add_outcome(acc: list[int], kind: int, queue_ms: int, sl_ms: int, short_ms: int) -> None:
    """Count a queue outcome into a QueueFigures accumulator (queue time ``queue_ms``)."""
    if kind == _ANSWERED:
        acc[1] += 1
        acc[10] += queue_ms
        if queue_ms <= sl_ms:
            acc[4] += 1
    elif kind == _ABANDONED:
        acc[2] += 1
        acc[11] += queue_ms
        if queue_ms <= short_ms:
            acc[3] += 1
        if queue_ms > sl_ms:
            acc[5] += 1
    elif kind == _TIMED_OUT:
        acc[7] += 1
    elif kind == _CALLBACK:
        acc[8] += 1
    elif kind == _OVERFLOWED:
        acc[6] += 1


def _add_contact(sums: _Sums, c: _Contact, config: MetricsConfig) -> None:
    segments = c.segments
    ring_ms = config.ring_period_ms
    queues = sums.queue
    # Each agent's part of a contact that came through a queue is one handled contact, of the
    # queue stay it was answered from (a part taken over in an attended transfer: the stay of
    # the part it took over); parts of calls agents placed count in agent time only.
    handled: list[tuple[_Part, int, int, int]] = []
    for part in c.parts:
        if part.seg is not None and part.acw_end is not None:
            talk, hold, acw = _handle_times(part)
            handled.append((part, talk, hold, acw))
    for seg in segments:
        period = sums.period(seg.entry)
        if period is None:
            continue
        key = (seg.queue, period)
        acc = queues.get(key)
        if acc is None:
            acc = queues[key] = [0] * _NQ
        sl_ms, short_ms = sums.limits(seg.queue)
        acc[0] += 1
        kind = seg.exit_kind
        _add_outcome(acc, kind, seg.exit_ts - seg.entry, sl_ms, short_ms)
        if kind == _CALLBACK and seg.cb_connected:
            acc[9] += 1
        for offer in seg.offers:
            agent_acc = sums.agent_acc(offer.agent, period)
            agent_acc[0] += 1
            if offer.result == _O_RNA:
                agent_acc[2] += 1
            elif offer.result == _O_ANSWERED:
                assert offer.end is not None
                speed = offer.end - offer.start
                agent_acc[1] += 1
                agent_acc[4] += speed
                agent_acc[5] += -(-speed // ring_ms)
        for dial in seg.dials:
            if dial.result == _O_ANSWERED:
                sums.agent_acc(dial.agent, period)[3] += 1
        for part, talk, hold, acw in handled:
            if part.seg is not seg:
                continue
            _add_handled(acc, talk, hold, acw, part.justified)
            agent_acc = sums.agent_acc(part.agent, period)
            if part.justified:
                agent_acc[10] += 1
                agent_acc[11] += talk + hold + acw
            else:
                values = sums.queue_th.get(key)
                if values is None:
                    values = sums.queue_th[key] = []
                values.append(talk + hold)
                agent_acc[6] += 1
                agent_acc[7] += talk
                agent_acc[8] += hold
                agent_acc[9] += acw
    if segments:
        first = segments[0]
        period = sums.period(first.entry)
        if period is not None:
            acc = sums.tenant.get(period)
            if acc is None:
                acc = sums.tenant[period] = [0] * _NQ
            acc[0] += 1
            if any(seg.exit_kind == _OVERFLOWED for seg in segments):
                acc[6] += 1
            # the outcome of the first wait (through overflows): stays after a transfer are
            # further waits of a contact already answered
            end = None
            for seg in segments:
                if seg.exit_kind != _OVERFLOWED:
                    end = seg
                    break
            if end is not None:  # else the contact is on its way to a queue
                sl_ms, short_ms = sums.limits(end.queue)
                _add_outcome(acc, end.exit_kind, end.exit_ts - first.entry, sl_ms, short_ms)
                if end.exit_kind == _CALLBACK and end.cb_connected:
                    acc[9] += 1
            for part, talk, hold, acw in handled:
                _add_handled(acc, talk, hold, acw, part.justified)
                if not part.justified:
                    sums.tenant_th.setdefault(period, []).append(talk + hold)
    if c.arrived is not None:
        period = sums.period(c.arrived)
        if period is not None:
            acc = sums.loss.get(period)
            if acc is None:
                acc = sums.loss[period] = [0] * _NL
            acc[0] += 1
            if c.pre == _PRE_IVR_DONE:
                acc[2] += 1
            elif c.pre == _PRE_BLOCKED:
                acc[3] += 1
            elif c.pre == _PRE_IVR_LOST:
                acc[4] += 1
            elif c.was_answered:
                acc[1] += 1
            elif c.lost:  # the tenant's side could not carry the call, as when blocked
                acc[3] += 1
            elif segments:
                kind = segments[-1].exit_kind
                if kind == _TIMED_OUT:
                    acc[3] += 1
                elif kind == _ABANDONED:
                    acc[6 if c.rna else 5] += 1
                elif kind == _CALLBACK and c.cb_lost:
                    acc[7] += 1


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of spans as sorted, disjoint spans."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _subtract(
    start: int, end: int, busy: list[tuple[int, int]], i: int
) -> tuple[list[tuple[int, int]], int]:
    """[start, end) minus the sorted disjoint ``busy`` spans, scanning from ``busy[i]``.
    Returns the free pieces and the index to resume from for a later span."""
    while i < len(busy) and busy[i][1] <= start:
        i += 1
    free: list[tuple[int, int]] = []
    cursor = start
    j = i
    while j < len(busy) and busy[j][0] < end:
        b_start, b_end = busy[j]
        if b_start > cursor:
            free.append((cursor, b_start))
        cursor = max(cursor, b_end)
        j += 1
    if cursor < end:
        free.append((cursor, end))
    return free, i


def _add_agent_time(sums: _Sums, log: _Log, as_of: int) -> None:
    activity: dict[str, list[tuple[int, int, int]]] = {}

    def add(agent: str, start: int, end: int | None, index: int) -> None:
        stop = as_of if end is None or end < 0 else end
        if stop > start:
            spans = activity.get(agent)
            if spans is None:
                spans = activity[agent] = []
            spans.append((start, stop, index))

    for c in log.contacts.values():
        for seg in c.segments:
            for offer in seg.offers:
                add(offer.agent, offer.start, offer.end, _A_RINGING)
            for dial in seg.dials:
                add(dial.agent, dial.start, dial.end, _A_RINGING)
        for part in c.parts:
            aid = part.agent
            conversation_end = part.ended if part.ended is not None else as_of
            cursor = part.start
            for hold_start, hold_end in part.holds:
                add(aid, cursor, hold_start, _A_TALK)
                cursor = hold_end if hold_end >= 0 else conversation_end
                add(aid, hold_start, cursor, _A_HOLD)
            add(aid, cursor, conversation_end, _A_TALK)
            if part.ended is not None:
                add(aid, part.ended, part.acw_end, _A_ACW)

    spread = sums.spread
    for agent_id, agent in log.agents.items():
        spans = activity.get(agent_id, [])
        for start, end, index in spans:
            spread(agent_id, start, end, index)
        for login, logout in agent.sessions:
            spread(agent_id, login, as_of if logout < 0 else logout, _A_LOGGED)
        base_spans = list(agent.base_spans)
        if agent.logged_in and as_of > agent.since:
            base_spans.append((agent.since, as_of, agent.base))
        busy = _merge([(start, end) for start, end, _ in spans])
        i = 0
        for start, end, reason in base_spans:
            free, i = _subtract(start, end, busy, i)
            for free_start, free_end in free:
                if reason is None:
                    spread(agent_id, free_start, free_end, _A_IDLE)
                else:
                    spread(agent_id, free_start, free_end, -1, reason)


def _above_hold(
    values: list[int], config: MetricsConfig, average: tuple[int, int]
) -> tuple[int, Fraction | None]:
    """How many talk + hold ``values`` exceed the baseline, and the baseline (ms)."""
    if config.above_hold_baseline == "fixed":
        fixed = config.above_hold_fixed_s * 1000
        return sum(1 for v in values if v > fixed), Fraction(fixed)
    total, count = average
    if not count:
        return 0, None
    return sum(1 for v in values if v * count > total), Fraction(total, count)


def _queue_figures(
    thresholds: QueueThresholds | None, acc: list[int], above: int, baseline: Fraction | None
) -> QueueFigures:
    return QueueFigures(
        thresholds=thresholds,
        offered=acc[0],
        answered=acc[1],
        abandoned=acc[2],
        short_abandoned=acc[3],
        answered_within=acc[4],
        abandoned_after=acc[5],
        overflowed=acc[6],
        timed_out=acc[7],
        callbacks_requested=acc[8],
        callbacks_connected=acc[9],
        answered_queue_ms=acc[10],
        abandoned_queue_ms=acc[11],
        handled=acc[12],
        talk_ms=acc[13],
        hold_ms=acc[14],
        acw_ms=acc[15],
        justified_long=acc[16],
        justified_long_ms=acc[17],
        above_hold=above,
        above_hold_baseline_ms=baseline,
    )


def _agent_figures(acc: list[int], not_ready: dict[str, int]) -> AgentFigures:
    return AgentFigures(
        offered=acc[0],
        answered=acc[1],
        ring_no_answer=acc[2],
        callbacks_connected=acc[3],
        answer_speed_ms=acc[4],
        rings=acc[5],
        handled=acc[6],
        handled_talk_ms=acc[7],
        handled_hold_ms=acc[8],
        handled_acw_ms=acc[9],
        justified_long=acc[10],
        justified_long_ms=acc[11],
        logged_in_ms=acc[_A_LOGGED],
        ready_idle_ms=acc[_A_IDLE],
        not_ready_ms=not_ready,
        ringing_ms=acc[_A_RINGING],
        talk_ms=acc[_A_TALK],
        hold_ms=acc[_A_HOLD],
        acw_ms=acc[_A_ACW],
    )


def _call_loss(acc: list[int]) -> CallLoss:
    return CallLoss(
        arrived=acc[0],
        answered=acc[1],
        completed_in_ivr=acc[2],
        blocked=acc[3],
        lost_in_ivr=acc[4],
        abandoned_in_queue=acc[5],
        agent_no_answer=acc[6],
        callback_not_reached=acc[7],
    )


def _sum_into(table: dict[Any, list[int]], key: Any, acc: list[int]) -> None:
    total = table.get(key)
    if total is None:
        table[key] = list(acc)
    else:
        total[:] = map(add, total, acc)


def _add_totals(sums: _Sums) -> None:
    """Add the :data:`_TOTAL` period of every queue, agent and the tenant: the sum over
    intervals (every contact and every millisecond belongs to exactly one interval)."""
    for (queue, _), acc in list(sums.queue.items()):
        _sum_into(sums.queue, (queue, _TOTAL), acc)
    for (queue, _), values in list(sums.queue_th.items()):
        sums.queue_th.setdefault((queue, _TOTAL), []).extend(values)
    for acc in list(sums.tenant.values()):
        _sum_into(sums.tenant, _TOTAL, acc)
    for values in list(sums.tenant_th.values()):
        sums.tenant_th.setdefault(_TOTAL, []).extend(values)
    for acc in list(sums.loss.values()):
        _sum_into(sums.loss, _TOTAL, acc)
    for (agent, _), acc in list(sums.agent.items()):
        _sum_into(sums.agent, (agent, _TOTAL), acc)
    for (agent, _), reasons in list(sums.not_ready.items()):
        total = sums.not_ready.setdefault((agent, _TOTAL), {})
        for reason, ms in reasons.items():
            total[reason] = total.get(reason, 0) + ms


def _report(
    sums: _Sums,
    config: MetricsConfig,
    tenant: str | None,
    as_of: int | None,
) -> Report:
    if sums.window is None:
        _add_totals(sums)
    queue_intervals: dict[tuple[str, int], QueueFigures] = {}
    queue_totals: dict[str, QueueFigures] = {}
    for (queue, period), acc in sums.queue.items():
        values = sums.queue_th.get((queue, period), [])
        if config.above_hold_baseline == "tenant":
            t = sums.tenant.get(period)
            average = (t[13] + t[14], t[12]) if t is not None else (0, 0)
        else:
            average = (acc[13] + acc[14], acc[12])
        above, baseline = _above_hold(values, config, average)
        fig = _queue_figures(config.thresholds_for(queue), acc, above, baseline)
        if period == _TOTAL:
            queue_totals[queue] = fig
        else:
            queue_intervals[(queue, period)] = fig

    tenant_intervals: dict[int, TenantFigures] = {}
    tenant_total = TenantFigures(QueueFigures(None), CallLoss())
    for period in sums.tenant.keys() | sums.loss.keys() | {_TOTAL}:
        acc = sums.tenant.get(period, [0] * _NQ)
        values = sums.tenant_th.get(period, [])
        above, baseline = _above_hold(values, config, (acc[13] + acc[14], acc[12]))
        tenant_figures = TenantFigures(
            _queue_figures(None, acc, above, baseline),
            _call_loss(sums.loss.get(period, [0] * _NL)),
        )
        if period == _TOTAL:
            tenant_total = tenant_figures
        else:
            tenant_intervals[period] = tenant_figures

    agent_intervals: dict[tuple[str, int], AgentFigures] = {}
    agent_totals: dict[str, AgentFigures] = {}
    for key in sums.agent.keys() | sums.not_ready.keys():
        acc = sums.agent.get(key, [0] * _NA)
        not_ready = {r: ms for r, ms in sums.not_ready.get(key, {}).items() if ms}
        if not any(acc) and not not_ready:
            continue
        agent_figures = _agent_figures(acc, not_ready)
        agent_id, period = key
        if period == _TOTAL:
            agent_totals[agent_id] = agent_figures
        else:
            agent_intervals[key] = agent_figures

    return Report(
        tenant=tenant,
        config=config,
        as_of_ms=as_of,
        window=sums.window,
        queue_intervals=queue_intervals,
        queue_totals=queue_totals,
        agent_intervals=agent_intervals,
        agent_totals=agent_totals,
        tenant_intervals=tenant_intervals,
        tenant_total=tenant_total,
    )


def _aggregate(
    log: _Log,
    config: MetricsConfig,
    tenant: str | None,
    as_of: int | None,
    window: tuple[int, int] | None,
) -> Report:
    sums = _Sums(config, window)
    for c in log.contacts.values():
        _add_contact(sums, c, config)
    if as_of is not None:
        _add_agent_time(sums, log, as_of)
    return _report(sums, config, tenant, as_of)


def _compute(
    events: Iterable[Event],
    config: MetricsConfig,
    tenant: str | None,
    until_ms: int | None,
    window_ms: int | None,
) -> Report:
    log, tenant, last = _read(events, tenant, until_ms)
    as_of = until_ms if until_ms is not None else last
    window = None
    if window_ms is not None:
        assert until_ms is not None
        window = (until_ms - window_ms, until_ms)
    return _aggregate(log, config, tenant, as_of, window)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while records are built.

    The records hold no reference cycles (reference counting frees them, when :func:`_compute`
    returns, before the collector resumes), but building one per contact makes the collector
    scan the whole heap, the log being read included, again and again: over a large log that
    takes longer than the computation itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compute(
    events: Iterable[Event],
    config: MetricsConfig,
    *,
    tenant: str | None = None,
    as_of_ms: int | None = None,
) -> Report:
    """Figures per interval, queue, agent and for the tenant, from the tenant's events.

    With ``tenant``, other tenants' events are skipped; without it the events must all be one
    tenant's. With ``as_of_ms``, events after it are ignored and open agent states run to it;
    by default the figures are as of the last event. Raises :class:`MetricsError` for an event
    that does not fit the lifecycle.
    """
    with _collector_paused():
        return _compute(events, config, tenant, as_of_ms, None)


def compute_rolling(
    events: Iterable[Event],
    config: MetricsConfig,
    at_ms: int,
    window_ms: int,
    *,
    tenant: str | None = None,
) -> Report:
    """The same figures over the contacts that entered the queue in ``(at - W, at]`` (calls that
    arrived in it, for call loss), with outcomes known by ``at``, and agent time in the window.
    Events after ``at_ms`` are ignored."""
    if window_ms <= 0:
        raise ValueError(f"window_ms must be > 0, got {window_ms}")
    with _collector_paused():
        return _compute(events, config, tenant, at_ms, window_ms)
