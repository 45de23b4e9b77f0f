"""Live metrics: the same figures as :mod:`glasshouse.domain.metrics.batch`, kept up to date
event by event.

:class:`LiveMetrics` keeps running counters per (queue | agent | tenant, interval) that each
event updates in O(1) amortised time, the open state of every contact and agent, and the recent
past (contacts that entered the queue, calls that arrived, agent state pieces) for rolling-window
figures. It is written independently of the batch computation (they share only the config and
result types), so that the two agreeing on a log checks both against the definitions.

Errors: an event that does not fit the lifecycle raises
:class:`~glasshouse.domain.metrics.errors.MetricsError` from :meth:`LiveMetrics.ingest`, and the
event is not applied if the check fails before any change (checks come first). The caller
decides what to do: stop, or log the event and carry on with the next one.

One instance covers one tenant over one reporting period (a day, say): its interval counters
and the ids of finished contacts grow with the period; the rolling-window history is trimmed to
``max_window_ms``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import fields
from fractions import Fraction
from operator import add
from typing import Any, Final, TypeVar

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

_T = TypeVar("_T")

#: Default history kept for rolling windows: windows up to this long can be asked for.
DEFAULT_MAX_WINDOW_MS: Final = 4 * 3600 * 1000
#: How often the rolling history is trimmed (it is kept this much longer than needed).
_TRIM_EVERY_MS: Final = 60_000

# Contact phases (the customer's side; P_TALK: with one agent or more) and how they read in
# errors; P_TALK .. P_ACW are also the phases of an agent's part of a contact.
P_ARRIVED, P_QUEUED, P_OVERFLOWING, P_CB_WAIT, P_CB_DIAL = 0, 1, 2, 3, 4
P_TALK, P_HOLD, P_WRAP, P_ACW = 5, 6, 7, 8
P_MOVING, P_GONE = 9, 10
_PHASE: Final = (
    "arrived",
    "queued",
    "overflowing",
    "waiting for a callback",
    "dialling a callback",
    "talking",
    "on hold",
    "ended",
    "in after-call work",
    "being transferred",
    "ended",
)

# Final outcome of a queue segment / of a contact.
K_NONE, K_ANSWERED, K_ABANDONED, K_OVERFLOWED, K_TIMED_OUT, K_CALLBACK = -1, 0, 1, 2, 3, 4
#: cut off by the system (contact.lost): offered, with no outcome of its own
K_LOST: Final = 5
# Agent contact facts recorded on a segment for rolling windows.
E_OFFER, E_RNA, E_ANSWER, E_CALLBACK = 0, 1, 2, 3

# QueueFigures numbers, in field order after ``thresholds``.
_Q_FIELDS: Final = tuple(f.name for f in fields(QueueFigures))[1:19]
(
    Q_OFFERED,
    Q_ANSWERED,
    Q_ABANDONED,
    Q_SHORT,
    Q_WITHIN,
    Q_AFTER,
    Q_OVERFLOWED,
    Q_TIMED_OUT,
    Q_CB_REQUESTED,
    Q_CB_CONNECTED,
    Q_ANSWERED_MS,
    Q_ABANDONED_MS,
    Q_HANDLED,
    Q_TALK,
    Q_HOLD,
    Q_ACW,
    Q_JL,
    Q_JL_MS,
) = range(18)
# AgentFigures numbers, in field order without ``not_ready_ms``.
_A_FIELDS: Final = tuple(f.name for f in fields(AgentFigures) if f.name != "not_ready_ms")
(
    A_OFFERED,
    A_ANSWERED,
    A_RNA,
    A_CALLBACKS,
    A_SPEED,
    A_RINGS,
    A_HANDLED,
    A_H_TALK,
    A_H_HOLD,
    A_H_ACW,
    A_JL,
    A_JL_MS,
    A_LOGGED_IN,
    A_IDLE,
    A_RINGING,
    A_TALK,
    A_HOLD,
    A_ACW,
) = range(18)
_L_FIELDS: Final = tuple(f.name for f in fields(CallLoss))
L_ARRIVED, L_ANSWERED, L_IVR_DONE, L_BLOCKED, L_IVR_LOST, L_ABANDONED, L_NO_ANSWER, L_CB_LOST = (
    range(8)
)


class _Seg:
    """One stay of a contact in one queue, with what the rolling window needs to recount it.

    The first segment of a contact also carries the contact's outcome as the tenant counts it
    (``t_*``). Records point one way only (contact -> segment), so that finished ones are freed
    by reference counting alone."""

    __slots__ = (
        "cb_connected",
        "entry",
        "handled",
        "is_first",
        "key",
        "kind",
        "more_handled",
        "qacc",
        "queue",
        "queue_ms",
        "short_ms",
        "sl_ms",
        "t_cb_connected",
        "t_handled",
        "t_kind",
        "t_more_handled",
        "t_overflowed",
        "t_queue_ms",
        "t_short_ms",
        "t_sl_ms",
    )

    def __init__(
        self,
        is_first: bool,
        queue: str,
        entry: int,
        key: int,
        qacc: list[int],
        sl: int,
        sh: int,
    ) -> None:
        self.is_first = is_first
        self.queue = queue
        self.entry = entry
        self.key = key
        self.qacc = qacc
        self.sl_ms = sl
        self.short_ms = sh
        self.kind = K_NONE
        self.queue_ms = 0
        self.cb_connected = False
        #: (agent, talk, hold, acw, justified) once a part of the contact answered here is
        #: handled; the parts after it (an attended transfer) in ``more_handled``
        self.handled: tuple[str, int, int, int, bool] | None = None
        self.more_handled: list[tuple[str, int, int, int, bool]] | None = None
        self.t_kind = K_NONE
        self.t_queue_ms = 0
        self.t_sl_ms = 0
        self.t_short_ms = 0
        self.t_overflowed = False
        self.t_cb_connected = False
        #: (talk, hold, acw, justified) once a part of the contact is handled; more parts (of
        #: a transferred contact) in ``t_more_handled``
        self.t_handled: tuple[int, int, int, bool] | None = None
        self.t_more_handled: list[tuple[int, int, int, bool]] | None = None


#: The parts of a contact nobody answered: shared, never changed (replaced by a contact's own).
_NO_PARTS: Final[dict[str, _Part]] = {}


class _Part:
    """One agent's part of a contact, from answering (placing, taking over) the call to the end
    of their after-call work; ``seg`` is the queue stay it counts in (None: a placed call)."""

    __slots__ = ("agent", "ended", "hold_ms", "hold_start", "justified", "phase", "seg", "start")

    def __init__(self, agent: str, start: int, seg: _Seg | None) -> None:
        self.agent = agent
        self.start = start
        self.seg = seg
        self.phase = P_TALK
        self.hold_start = 0
        self.hold_ms = 0
        self.ended = 0
        self.justified = False


class _Contact:
    __slots__ = (
        "active",
        "arrived",
        "cid",
        "dial_agent",
        "final",
        "first",
        "lacc",
        "loss",
        "offers",
        "phase",
        "rna",
        "seg",
        "tacc",
        "to_queue",
        "transfer",
        "transfer_seg",
    )

    def __init__(self, cid: str, phase: int) -> None:
        self.cid = cid
        self.phase = phase
        self.arrived = -1
        self.lacc: list[int] | None = None
        self.loss = -1
        self.seg: _Seg | None = None
        self.first: _Seg | None = None
        self.tacc: list[int] = []
        self.offers: dict[str, int] = {}
        self.rna = False
        self.to_queue = ""
        self.dial_agent = ""
        #: the stay that gave the contact's outcome as the tenant counts it (its first wait)
        self.final: _Seg | None = None
        #: the parts not over yet, by agent
        self.active = _NO_PARTS
        #: a transfer announced by contact.transferred: "queue:<id>" or "agent:<id>"
        self.transfer = ""
        self.transfer_seg: _Seg | None = None


class _Agent:
    """An agent's state: logged in, base presence, and how many contacts are in each activity."""

    __slots__ = (
        "acc",
        "acc_end",
        "acc_start",
        "acw",
        "aid",
        "base",
        "hold",
        "on",
        "ring",
        "since",
        "talk",
    )

    def __init__(self, aid: str) -> None:
        self.aid = aid
        #: the agent's accumulator for the interval [acc_start, acc_end) last written
        self.acc: list[int] = []
        self.acc_start = 0
        self.acc_end = 0
        self.on = False
        self.base: str | None = LOGIN_REASON  # None = ready
        self.since = 0
        self.ring = 0
        self.talk = 0
        self.hold = 0
        self.acw = 0


#: (agent, start, end, base, ring, talk, hold, acw): a stretch of constant agent state.
Piece = tuple[str, int, int, str | None, int, int, int, int]


def _allocate(
    table: dict[tuple[str, int], list[int]],
    reasons: dict[tuple[str, int], dict[str, int]],
    piece: Piece,
    size: int,
) -> None:
    """Add a piece's clock time to ``table`` per interval of ``size`` ms (``size`` 0: to the
    agent's single key ``(agent, -1)``)."""
    aid, start, end, base, ring, talk, hold, acw = piece
    k = start - start % size if size else -1
    while True:
        if size:
            stop = k + size
            part = (end if stop >= end else stop) - (start if start > k else k)
        else:
            stop = end
            part = end - start
        key = (aid, k)
        acc = table.get(key)
        if acc is None:
            acc = table[key] = [0] * 18
        acc[A_LOGGED_IN] += part
        if ring or talk or hold or acw:
            acc[A_RINGING] += part * ring
            acc[A_TALK] += part * talk
            acc[A_HOLD] += part * hold
            acc[A_ACW] += part * acw
        elif base is None:
            acc[A_IDLE] += part
        else:
            nr = reasons.get(key)
            if nr is None:
                nr = reasons[key] = {}
            nr[base] = nr.get(base, 0) + part
        if stop >= end:
            return
        k = stop


class LiveMetrics:
    """Figures of one tenant, updated per event; :meth:`report` and :meth:`rolling` read them.

    With ``tenant``, events of other tenants are ignored; without it, the first event fixes the
    tenant and an event of another raises :class:`MetricsError`.
    """

    __slots__ = (
        "_a",
        "_agents",
        "_arrivals",
        "_config",
        "_contacts",
        "_dispatch",
        "_facts",
        "_finished",
        "_interval",
        "_last_seq",
        "_last_ts",
        "_loss",
        "_max_window",
        "_nr",
        "_pieces",
        "_q",
        "_qth",
        "_ring_ms",
        "_segments",
        "_strict",
        "_t",
        "_tenant",
        "_thresholds",
        "_trim_at",
        "_tth",
        "_withdrawable",
    )

    def __init__(
        self,
        config: MetricsConfig,
        *,
        tenant: str | None = None,
        max_window_ms: int = DEFAULT_MAX_WINDOW_MS,
    ) -> None:
        if max_window_ms <= 0:
            raise ValueError(f"max_window_ms must be > 0, got {max_window_ms}")
        self._config = config
        self._tenant = tenant
        self._strict = tenant is None
        self._interval = config.interval_ms
        self._ring_ms = config.ring_period_ms
        self._max_window = max_window_ms
        self._thresholds: dict[str, tuple[int, int]] = {}
        self._last_ts = -1
        self._last_seq = 0
        self._trim_at = 0
        self._contacts: dict[str, _Contact] = {}
        self._finished: set[str] = set()
        self._withdrawable: set[tuple[str, str]] = set()
        self._agents: dict[str, _Agent] = {}
        self._q: dict[tuple[str, int], list[int]] = {}
        self._qth: dict[tuple[str, int], list[int]] = {}
        self._t: dict[int, list[int]] = {}
        self._tth: dict[int, list[int]] = {}
        self._loss: dict[int, list[int]] = {}
        self._a: dict[tuple[str, int], list[int]] = {}
        self._nr: dict[tuple[str, int], dict[str, int]] = {}
        self._segments: deque[_Seg] = deque()
        self._arrivals: deque[_Contact] = deque()
        self._pieces: deque[Piece] = deque()
        #: (ts, agent, segment entry, E_*, answer speed): offers and their outcomes
        self._facts: deque[tuple[int, str, int, int, int]] = deque()
        self._dispatch: dict[type[Any], Callable[[Any, int, int], None]] = {
            ContactArrived: self._arrived,
            ContactBlocked: self._blocked,
            ContactIvrCompleted: self._ivr_completed,
            ContactIvrAbandoned: self._ivr_abandoned,
            ContactQueued: self._queued,
            ContactOffered: self._offered,
            ContactRingNoAnswer: self._ring_no_answer,
            ContactOfferWithdrawn: self._offer_withdrawn,
            ContactAnswered: self._answered,
            ContactAbandoned: self._abandoned,
            ContactOverflowed: self._overflowed,
            ContactTimedOut: self._timed_out,
            ContactLost: self._lost,
            CallbackRequested: self._callback_requested,
            CallbackDialing: self._callback_dialing,
            CallbackFailed: self._callback_failed,
            ContactHeld: self._held,
            ContactRetrieved: self._retrieved,
            ContactEnded: self._ended,
            AgentAcwStarted: self._acw_started,
            ContactDispositioned: self._dispositioned,
            AgentAcwEnded: self._acw_ended,
            ContactOutboundStarted: self._outbound_started,
            ContactOutboundFailed: self._outbound_failed,
            ContactConsultAnswered: self._consult_answered,
            ContactTransferred: self._transferred,
            ContactTransferConnected: self._transfer_connected,
            AgentLoggedIn: self._logged_in,
            AgentLoggedOut: self._logged_out,
            AgentReady: self._ready,
            AgentNotReady: self._not_ready,
        }

    @property
    def tenant(self) -> str | None:
        return self._tenant

    @property
    def last_ts(self) -> int | None:
        """The time of the last event ingested (None before the first)."""
        return self._last_ts if self._last_ts >= 0 else None

    # -- ingest ---------------------------------------------------------------------------------

    def ingest(self, event: Event) -> None:
        """Apply one event (events of a tenant come in seq order, ts not decreasing).
        Raises :class:`MetricsError` if it does not fit the lifecycle."""
        if event.tenant != self._tenant:
            if self._tenant is None:
                self._tenant = event.tenant
            elif self._strict:
                raise MetricsError(
                    event.seq,
                    f"events of several tenants ({self._tenant!r}, {event.tenant!r}); "
                    "name the tenant",
                )
            else:
                return
        ts = event.ts
        seq = event.seq
        if ts < self._last_ts:
            raise MetricsError(seq, f"ts {ts} goes backwards (after {self._last_ts})")
        if seq:
            if seq <= self._last_seq:
                raise MetricsError(seq, f"seq goes backwards (after {self._last_seq})")
            self._last_seq = seq
        self._last_ts = ts
        if ts >= self._trim_at:
            self._trim(ts)
        if event.test:
            return
        handler = self._dispatch.get(type(event.body))
        if handler is not None:
            handler(event.body, ts, seq)

    def _trim(self, ts: int) -> None:
        horizon = ts - self._max_window
        segments = self._segments
        while segments and segments[0].entry <= horizon:
            segments.popleft()
        arrivals = self._arrivals
        while arrivals and arrivals[0].arrived <= horizon:
            arrivals.popleft()
        pieces = self._pieces
        while pieces and pieces[0][2] <= horizon:
            pieces.popleft()
        facts = self._facts
        while facts and facts[0][0] <= horizon:
            facts.popleft()
        self._trim_at = ts + _TRIM_EVERY_MS

    # -- helpers --------------------------------------------------------------------------------

    def _get(self, cid: str, what: str, seq: int) -> _Contact:
        c = self._contacts.get(cid)
        if c is None:
            if cid in self._finished:
                raise MetricsError(seq, f"{what} for contact {cid!r}, which is finished")
            raise MetricsError(seq, f"{what} for unknown contact {cid!r}")
        return c

    def _queued_in(self, cid: str, queue: str, what: str, seq: int) -> _Contact:
        c = self._contacts.get(cid)
        if c is not None and c.phase == P_QUEUED:
            seg = c.seg
            if seg is not None and seg.queue == queue:
                return c
        c = self._get(cid, what, seq)
        if c.phase != P_QUEUED:
            raise MetricsError(seq, f"{what} for contact {cid!r}, which is {_PHASE[c.phase]}")
        seg = c.seg
        assert seg is not None
        if seg.queue != queue:
            raise MetricsError(
                seq, f"{what} in queue {queue!r} for contact {cid!r}, which is in {seg.queue!r}"
            )
        return c

    def _handling(
        self, cid: str, agent: str, phases: tuple[int, ...], what: str, seq: int
    ) -> tuple[_Contact, _Part]:
        """The contact and the agent's part of it, in one of ``phases``."""
        c = self._contacts.get(cid)
        if c is not None:
            part = c.active.get(agent)
            if part is not None and part.phase in phases:
                return c, part
        c = self._get(cid, what, seq)
        part = c.active.get(agent)
        if part is None:
            if c.active:
                raise MetricsError(
                    seq,
                    f"{what} by agent {agent!r} for contact {cid!r}, handled by "
                    + ", ".join(map(repr, c.active)),
                )
            raise MetricsError(seq, f"{what} for contact {cid!r}, which is {_PHASE[c.phase]}")
        if part.phase not in phases:
            raise MetricsError(seq, f"{what} for contact {cid!r}, which is {_PHASE[part.phase]}")
        return c, part

    def _can_start(self, c: _Contact, aid: str, what: str, seq: int) -> _Agent:
        """Check that ``aid`` may start a part of ``c``: logged in, not on it already."""
        if aid in c.active:
            raise MetricsError(seq, f"{what} by agent {aid!r} for contact {c.cid!r}, still theirs")
        a = self._agents.get(aid)
        if a is None or not a.on:
            raise MetricsError(seq, f"{what} for agent {aid!r}, who is not logged in")
        return a

    @staticmethod
    def _start(c: _Contact, a: _Agent, ts: int, seg: _Seg | None) -> None:
        """The agent's part of the contact starts (their time is stepped to ``ts`` already)."""
        a.talk += 1
        if c.active is _NO_PARTS:
            c.active = {}
        c.active[a.aid] = _Part(a.aid, ts, seg)
        c.phase = P_TALK

    def _gone(self, c: _Contact) -> None:
        """The customer left: the contact is finished once every agent's part is over."""
        if c.active:
            c.phase = P_GONE
        else:
            self._finish(c)

    def _finish(self, c: _Contact) -> None:
        del self._contacts[c.cid]
        self._finished.add(c.cid)

    def _thresholds_of(self, queue: str) -> tuple[int, int]:
        t = self._thresholds.get(queue)
        if t is None:
            q = self._config.thresholds_for(queue)
            t = self._thresholds[queue] = (q.sl_threshold_ms, q.short_abandon_ms)
        return t

    def _step(self, a: _Agent, ts: int) -> None:
        """Close the agent's current piece of constant state at ``ts``."""
        start = a.since
        if ts > start and a.on:
            piece = (a.aid, start, ts, a.base, a.ring, a.talk, a.hold, a.acw)
            self._pieces.append(piece)
            if a.acc_start <= start and ts <= a.acc_end and (a.ring or a.talk or a.hold or a.acw):
                # the common case, done inline: a busy piece inside the interval last written
                part = ts - start
                acc = a.acc
                acc[A_LOGGED_IN] += part
                acc[A_RINGING] += part * a.ring
                acc[A_TALK] += part * a.talk
                acc[A_HOLD] += part * a.hold
                acc[A_ACW] += part * a.acw
            else:
                _allocate(self._a, self._nr, piece, self._interval)
                size = self._interval
                k = (ts - 1) - (ts - 1) % size
                a.acc = self._agent_acc(a.aid, k)
                a.acc_start = k
                a.acc_end = k + size
        a.since = ts

    def _agent_acc(self, aid: str, key: int) -> list[int]:
        k = (aid, key)
        acc = self._a.get(k)
        if acc is None:
            acc = self._a[k] = [0] * 18
        return acc

    def _stop_ringing(self, c: _Contact, ts: int) -> None:
        """The contact left the queue: offers still ringing stop now (a later
        ``contact.offer_withdrawn`` for them is accepted and changes nothing)."""
        agents = self._agents
        for aid in c.offers:
            a = agents[aid]
            self._step(a, ts)
            a.ring -= 1
            self._withdrawable.add((c.cid, aid))
        c.offers = {}

    def _lose(self, c: _Contact, index: int) -> None:
        lacc = c.lacc
        if lacc is not None and c.loss < 0:  # a contact is lost, or answered, once
            lacc[index] += 1
            c.loss = index

    def _final(self, c: _Contact, kind: int, ts: int) -> None:
        """A final queue outcome at ``ts``, counted for the tenant (once per contact: stays after
        a transfer are further waits of a contact already answered)."""
        seg = c.seg
        first = c.first
        assert seg is not None and first is not None
        if c.final is not None:
            return
        c.final = seg
        first.t_kind = kind
        first.t_sl_ms = seg.sl_ms
        first.t_short_ms = seg.short_ms
        tacc = c.tacc
        if kind in (K_ANSWERED, K_ABANDONED):
            qt = first.t_queue_ms = ts - first.entry
            _count_outcome(tacc, kind, qt, seg.sl_ms, seg.short_ms)
        elif kind == K_TIMED_OUT:
            tacc[Q_TIMED_OUT] += 1
        else:
            tacc[Q_CB_REQUESTED] += 1

    def _leave(self, c: _Contact, kind: int, ts: int) -> _Seg:
        seg = c.seg
        assert seg is not None
        seg.kind = kind
        qt = seg.queue_ms = ts - seg.entry
        qacc = seg.qacc
        if kind in (K_ANSWERED, K_ABANDONED):
            _count_outcome(qacc, kind, qt, seg.sl_ms, seg.short_ms)
        elif kind == K_OVERFLOWED:
            qacc[Q_OVERFLOWED] += 1
        elif kind == K_TIMED_OUT:
            qacc[Q_TIMED_OUT] += 1
        elif kind == K_CALLBACK:
            qacc[Q_CB_REQUESTED] += 1
        if c.offers:
            self._stop_ringing(c, ts)
        return seg

    # -- contact lifecycle ----------------------------------------------------------------------

    def _arrived(self, b: ContactArrived, ts: int, seq: int) -> None:
        cid = b.contact_id
        if cid in self._contacts or cid in self._finished:
            raise MetricsError(seq, f"contact.arrived for contact {cid!r}, seen before")
        c = self._contacts[cid] = _Contact(cid, P_ARRIVED)
        c.arrived = ts
        key = ts - ts % self._interval
        lacc = self._loss.get(key)
        if lacc is None:
            lacc = self._loss[key] = [0] * 8
        lacc[L_ARRIVED] += 1
        c.lacc = lacc
        self._arrivals.append(c)

    def _not_queued(self, cid: str, index: int, what: str, seq: int) -> None:
        c = self._contacts.get(cid)
        if c is None:
            if cid in self._finished:
                raise MetricsError(seq, f"{what} for contact {cid!r}, which is finished")
            self._finished.add(cid)  # never reached the tenant's number: no call loss
            return
        if c.phase != P_ARRIVED:
            raise MetricsError(seq, f"{what} for contact {cid!r}, which is {_PHASE[c.phase]}")
        self._lose(c, index)
        self._finish(c)

    def _blocked(self, b: ContactBlocked, ts: int, seq: int) -> None:
        self._not_queued(b.contact_id, L_BLOCKED, "contact.blocked", seq)

    def _ivr_completed(self, b: ContactIvrCompleted, ts: int, seq: int) -> None:
        self._not_queued(b.contact_id, L_IVR_DONE, "contact.ivr_completed", seq)

    def _ivr_abandoned(self, b: ContactIvrAbandoned, ts: int, seq: int) -> None:
        self._not_queued(b.contact_id, L_IVR_LOST, "contact.ivr_abandoned", seq)

    def _queued(self, b: ContactQueued, ts: int, seq: int) -> None:
        cid = b.contact_id
        queue = b.queue_id
        c = self._contacts.get(cid)
        if c is None:
            if cid in self._finished:
                raise MetricsError(seq, f"contact.queued for contact {cid!r}, which is finished")
            c = self._contacts[cid] = _Contact(cid, P_QUEUED)
        elif c.phase == P_OVERFLOWING:
            if c.to_queue != queue:
                raise MetricsError(
                    seq,
                    f"contact.queued in {queue!r} for contact {cid!r}, "
                    f"which overflowed to {c.to_queue!r}",
                )
        elif c.phase == P_MOVING:
            if c.transfer.startswith("queue:") and c.transfer != f"queue:{queue}":
                raise MetricsError(
                    seq,
                    f"contact.queued in {queue!r} for contact {cid!r}, "
                    f"which was transferred to {c.transfer!r}",
                )
            c.transfer = ""
        elif c.phase != P_ARRIVED:
            raise MetricsError(
                seq, f"contact.queued for contact {cid!r}, which is {_PHASE[c.phase]}"
            )
        c.phase = P_QUEUED
        key = ts - ts % self._interval
        qkey = (queue, key)
        qacc = self._q.get(qkey)
        if qacc is None:
            qacc = self._q[qkey] = [0] * 18
        qacc[Q_OFFERED] += 1
        sl, short = self._thresholds_of(queue)
        seg = _Seg(c.first is None, queue, ts, key, qacc, sl, short)
        if c.first is None:
            c.first = seg
            tacc = self._t.get(key)
            if tacc is None:
                tacc = self._t[key] = [0] * 18
            tacc[Q_OFFERED] += 1
            c.tacc = tacc
        c.seg = seg
        self._segments.append(seg)

    def _offered(self, b: ContactOffered, ts: int, seq: int) -> None:
        c = self._queued_in(b.contact_id, b.queue_id, "contact.offered", seq)
        aid = b.agent_id
        a = self._agents.get(aid)
        if a is None or not a.on:
            raise MetricsError(seq, f"contact.offered to agent {aid!r}, who is not logged in")
        if aid in c.offers:
            raise MetricsError(
                seq, f"contact.offered: contact {c.cid!r} is already ringing at {aid!r}"
            )
        self._withdrawable.discard((c.cid, aid))
        self._step(a, ts)
        a.ring += 1
        c.offers[aid] = ts
        seg = c.seg
        assert seg is not None
        self._facts.append((ts, aid, seg.entry, E_OFFER, 0))
        self._agent_acc(aid, seg.key)[A_OFFERED] += 1

    def _ring_stop(self, c: _Contact, aid: str, ts: int, what: str, seq: int) -> int:
        """End the offer ringing at ``aid``; return when it started."""
        started = c.offers.pop(aid, None)
        if started is None:
            raise MetricsError(seq, f"{what}: contact {c.cid!r} is not ringing at {aid!r}")
        a = self._agents[aid]
        self._step(a, ts)
        a.ring -= 1
        return started

    def _ring_no_answer(self, b: ContactRingNoAnswer, ts: int, seq: int) -> None:
        c = self._queued_in(b.contact_id, b.queue_id, "contact.ring_no_answer", seq)
        self._ring_stop(c, b.agent_id, ts, "contact.ring_no_answer", seq)
        c.rna = True
        seg = c.seg
        assert seg is not None
        self._facts.append((ts, b.agent_id, seg.entry, E_RNA, 0))
        self._agent_acc(b.agent_id, seg.key)[A_RNA] += 1

    def _offer_withdrawn(self, b: ContactOfferWithdrawn, ts: int, seq: int) -> None:
        pair = (b.contact_id, b.agent_id)
        if pair in self._withdrawable:
            self._withdrawable.discard(pair)
            return
        c = self._get(b.contact_id, "contact.offer_withdrawn", seq)
        self._ring_stop(c, b.agent_id, ts, "contact.offer_withdrawn", seq)

    def _answered(self, b: ContactAnswered, ts: int, seq: int) -> None:
        c = self._get(b.contact_id, "contact.answered", seq)
        aid = b.agent_id
        if c.phase == P_CB_DIAL:
            seg = c.seg
            assert seg is not None
            if seg.queue != b.queue_id or c.dial_agent != aid:
                raise MetricsError(
                    seq,
                    f"contact.answered by {aid!r} in {b.queue_id!r} for contact {c.cid!r}, "
                    f"a callback dialled by {c.dial_agent!r} in {seg.queue!r}",
                )
            a = self._can_start(c, aid, "contact.answered", seq)
            self._step(a, ts)
            a.ring -= 1
            seg.cb_connected = True
            seg.qacc[Q_CB_CONNECTED] += 1
            if seg is c.final:  # the callback the contact's first wait ended in
                c.tacc[Q_CB_CONNECTED] += 1
                assert c.first is not None
                c.first.t_cb_connected = True
            self._facts.append((ts, aid, seg.entry, E_CALLBACK, 0))
            self._agent_acc(aid, seg.key)[A_CALLBACKS] += 1
        else:
            c = self._queued_in(b.contact_id, b.queue_id, "contact.answered", seq)
            if aid in c.active:
                self._can_start(c, aid, "contact.answered", seq)
            started = self._ring_stop(c, aid, ts, "contact.answered", seq)
            a = self._agents[aid]
            seg = self._leave(c, K_ANSWERED, ts)
            self._final(c, K_ANSWERED, ts)
            speed = ts - started
            self._facts.append((ts, aid, seg.entry, E_ANSWER, speed))
            acc = self._agent_acc(aid, seg.key)
            acc[A_ANSWERED] += 1
            acc[A_SPEED] += speed
            acc[A_RINGS] += -(-speed // self._ring_ms)
        self._lose(c, L_ANSWERED)
        a.talk += 1  # as _start does, inline
        part = _Part(aid, ts, seg)
        if c.active is _NO_PARTS:
            c.active = {aid: part}
        else:
            c.active[aid] = part
        c.phase = P_TALK

    def _abandoned(self, b: ContactAbandoned, ts: int, seq: int) -> None:
        c = self._queued_in(b.contact_id, b.queue_id, "contact.abandoned", seq)
        self._leave(c, K_ABANDONED, ts)
        self._final(c, K_ABANDONED, ts)
        self._lose(c, L_NO_ANSWER if c.rna else L_ABANDONED)
        self._gone(c)

    def _overflowed(self, b: ContactOverflowed, ts: int, seq: int) -> None:
        c = self._queued_in(b.contact_id, b.queue_id, "contact.overflowed", seq)
        self._leave(c, K_OVERFLOWED, ts)
        first = c.first
        assert first is not None
        if not first.t_overflowed:
            first.t_overflowed = True
            c.tacc[Q_OVERFLOWED] += 1
        c.to_queue = b.to_queue_id
        c.phase = P_OVERFLOWING

    def _timed_out(self, b: ContactTimedOut, ts: int, seq: int) -> None:
        c = self._queued_in(b.contact_id, b.queue_id, "contact.timed_out", seq)
        self._leave(c, K_TIMED_OUT, ts)
        self._final(c, K_TIMED_OUT, ts)
        self._lose(c, L_BLOCKED)
        self._gone(c)

    def _lost(self, b: ContactLost, ts: int, seq: int) -> None:
        c = self._get(b.contact_id, "contact.lost", seq)
        phase = c.phase
        if phase == P_QUEUED:
            # no outcome for the queue or the tenant (the first wait's outcome stays unset)
            self._leave(c, K_LOST, ts)
        elif phase not in (P_ARRIVED, P_OVERFLOWING, P_MOVING, P_CB_WAIT):
            raise MetricsError(seq, f"contact.lost for contact {c.cid!r}, which is {_PHASE[phase]}")
        self._lose(c, L_BLOCKED)  # the tenant's side could not carry the call, as when blocked
        c.transfer = ""
        self._gone(c)

    def _callback_requested(self, b: CallbackRequested, ts: int, seq: int) -> None:
        c = self._queued_in(b.contact_id, b.queue_id, "callback.requested", seq)
        self._leave(c, K_CALLBACK, ts)
        self._final(c, K_CALLBACK, ts)
        c.phase = P_CB_WAIT

    def _callback_dialing(self, b: CallbackDialing, ts: int, seq: int) -> None:
        c = self._get(b.contact_id, "callback.dialing", seq)
        seg = c.seg
        if c.phase != P_CB_WAIT or seg is None or seg.queue != b.queue_id:
            raise MetricsError(
                seq,
                f"callback.dialing in {b.queue_id!r} for contact {c.cid!r}, "
                f"which is {_PHASE[c.phase]}",
            )
        aid = b.agent_id
        a = self._agents.get(aid)
        if a is None or not a.on:
            raise MetricsError(seq, f"callback.dialing to agent {aid!r}, who is not logged in")
        self._step(a, ts)
        a.ring += 1
        c.dial_agent = aid
        c.phase = P_CB_DIAL

    def _callback_failed(self, b: CallbackFailed, ts: int, seq: int) -> None:
        c = self._get(b.contact_id, "callback.failed", seq)
        if c.phase != P_CB_DIAL:
            raise MetricsError(
                seq, f"callback.failed for contact {c.cid!r}, which is {_PHASE[c.phase]}"
            )
        seg = c.seg
        assert seg is not None
        if seg.queue != b.queue_id or c.dial_agent != b.agent_id:
            raise MetricsError(
                seq,
                f"callback.failed by {b.agent_id!r} in {b.queue_id!r} for contact {c.cid!r}, "
                f"dialled by {c.dial_agent!r} in {seg.queue!r}",
            )
        a = self._agents[b.agent_id]
        self._step(a, ts)
        a.ring -= 1
        if b.retry:
            c.phase = P_CB_WAIT
        else:
            self._lose(c, L_CB_LOST)
            self._gone(c)

    def _held(self, b: ContactHeld, ts: int, seq: int) -> None:
        c = self._contacts.get(b.contact_id)
        part = c.active.get(b.agent_id) if c is not None else None
        if part is None or part.phase != P_TALK:
            _, part = self._handling(b.contact_id, b.agent_id, (P_TALK,), "contact.held", seq)
        a = self._agents[b.agent_id]
        self._step(a, ts)
        a.talk -= 1
        a.hold += 1
        part.hold_start = ts
        part.phase = P_HOLD

    def _retrieved(self, b: ContactRetrieved, ts: int, seq: int) -> None:
        c = self._contacts.get(b.contact_id)
        part = c.active.get(b.agent_id) if c is not None else None
        if part is None or part.phase != P_HOLD:
            _, part = self._handling(b.contact_id, b.agent_id, (P_HOLD,), "contact.retrieved", seq)
        a = self._agents[b.agent_id]
        self._step(a, ts)
        a.hold -= 1
        a.talk += 1
        part.hold_ms += ts - part.hold_start
        part.phase = P_TALK

    def _conversation_over(self, c: _Contact, part: _Part, a: _Agent, ts: int) -> None:
        """The agent's conversation in ``part`` ends at ``ts`` (the agent's time is stepped)."""
        if part.phase == P_HOLD:
            part.hold_ms += ts - part.hold_start
            a.hold -= 1
        else:
            a.talk -= 1
        part.ended = ts
        part.phase = P_WRAP
        if c.phase == P_TALK:
            for other in c.active.values():
                if other.phase <= P_HOLD:
                    return
            # the last agent left the customer: a transfer carries on, else the customer is gone
            if c.transfer:
                c.phase = P_MOVING
            else:
                c.phase = P_GONE

    def _ended(self, b: ContactEnded, ts: int, seq: int) -> None:
        c = self._contacts.get(b.contact_id)
        part = c.active.get(b.agent_id) if c is not None else None
        if c is None or part is None or part.phase > P_HOLD:
            c, part = self._handling(
                b.contact_id, b.agent_id, (P_TALK, P_HOLD), "contact.ended", seq
            )
        a = self._agents[b.agent_id]
        self._step(a, ts)
        if len(c.active) > 1:
            self._conversation_over(c, part, a, ts)
        else:  # the common case, done inline: the contact's only agent leaves it
            if part.phase == P_HOLD:
                part.hold_ms += ts - part.hold_start
                a.hold -= 1
            else:
                a.talk -= 1
            part.ended = ts
            part.phase = P_WRAP
            if c.phase == P_TALK:
                c.phase = P_MOVING if c.transfer else P_GONE
        a.acw += 1

    def _acw_started(self, b: AgentAcwStarted, ts: int, seq: int) -> None:
        c = self._contacts.get(b.contact_id)
        part = c.active.get(b.agent_id) if c is not None else None
        if part is None or part.phase != P_WRAP:
            _, part = self._handling(b.contact_id, b.agent_id, (P_WRAP,), "agent.acw_started", seq)
        part.phase = P_ACW

    def _dispositioned(self, b: ContactDispositioned, ts: int, seq: int) -> None:
        c = self._contacts.get(b.contact_id)
        part = c.active.get(b.agent_id) if c is not None else None
        if part is None:  # every part not over is in one of the phases below
            _, part = self._handling(
                b.contact_id,
                b.agent_id,
                (P_TALK, P_HOLD, P_WRAP, P_ACW),
                "contact.dispositioned",
                seq,
            )
        part.justified = b.justified_long

    def _part_over(self, c: _Contact, part: _Part) -> None:
        del c.active[part.agent]
        if c.phase == P_GONE and not c.active:
            self._finish(c)

    def _acw_ended(self, b: AgentAcwEnded, ts: int, seq: int) -> None:
        c = self._contacts.get(b.contact_id)
        part = c.active.get(b.agent_id) if c is not None else None
        if c is None or part is None or part.phase != P_ACW:
            c, part = self._handling(b.contact_id, b.agent_id, (P_ACW,), "agent.acw_ended", seq)
        aid = b.agent_id
        a = self._agents[aid]
        self._step(a, ts)
        a.acw -= 1
        seg = part.seg
        if seg is not None:  # a handled contact (calls agents place count in agent time only)
            hold = part.hold_ms
            talk = part.ended - part.start - hold
            acw = ts - part.ended
            justified = part.justified
            first = c.first
            assert first is not None
            if seg.handled is None:
                seg.handled = (aid, talk, hold, acw, justified)
            elif seg.more_handled is None:
                seg.more_handled = [(aid, talk, hold, acw, justified)]
            else:
                seg.more_handled.append((aid, talk, hold, acw, justified))
            if first.t_handled is None:
                first.t_handled = (talk, hold, acw, justified)
            elif first.t_more_handled is None:
                first.t_more_handled = [(talk, hold, acw, justified)]
            else:
                first.t_more_handled.append((talk, hold, acw, justified))
            acc = self._agent_acc(aid, seg.key)
            if justified:
                total = talk + hold + acw
                _count_handled(seg.qacc, talk, hold, acw, True)
                _count_handled(c.tacc, talk, hold, acw, True)
                acc[A_JL] += 1
                acc[A_JL_MS] += total
            else:
                _count_handled(seg.qacc, talk, hold, acw, False)
                _count_handled(c.tacc, talk, hold, acw, False)
                key = (seg.queue, seg.key)
                values = self._qth.get(key)
                if values is None:
                    values = self._qth[key] = []
                values.append(talk + hold)
                values = self._tth.get(first.key)
                if values is None:
                    values = self._tth[first.key] = []
                values.append(talk + hold)
                acc[A_HANDLED] += 1
                acc[A_H_TALK] += talk
                acc[A_H_HOLD] += hold
                acc[A_H_ACW] += acw
        del c.active[aid]
        if c.phase == P_GONE and not c.active:
            self._finish(c)

    # -- calls agents place, consultations and transfers ----------------------------------------

    def _outbound_started(self, b: ContactOutboundStarted, ts: int, seq: int) -> None:
        cid = b.contact_id
        if cid in self._contacts or cid in self._finished:
            raise MetricsError(seq, f"contact.outbound_started for contact {cid!r}, seen before")
        c = _Contact(cid, P_TALK)
        a = self._can_start(c, b.agent_id, "contact.outbound_started", seq)
        self._contacts[cid] = c
        self._step(a, ts)
        self._start(c, a, ts, None)

    def _outbound_failed(self, b: ContactOutboundFailed, ts: int, seq: int) -> None:
        what = "contact.outbound_failed"
        c, part = self._handling(b.contact_id, b.agent_id, (P_TALK, P_HOLD), what, seq)
        if part.seg is not None:
            raise MetricsError(seq, f"{what} for contact {c.cid!r}, answered from a queue")
        a = self._agents[b.agent_id]
        self._step(a, ts)
        # the part ends without after-call work: it is not a handled contact
        self._conversation_over(c, part, a, ts)
        self._part_over(c, part)

    def _consult_answered(self, b: ContactConsultAnswered, ts: int, seq: int) -> None:
        what = "contact.consult_answered"
        c, part = self._handling(b.contact_id, b.from_agent_id, (P_TALK, P_HOLD), what, seq)
        if part.seg is not None:
            raise MetricsError(seq, f"{what} for contact {c.cid!r}, answered from a queue")
        a = self._can_start(c, b.agent_id, what, seq)
        self._step(a, ts)
        self._start(c, a, ts, None)

    def _transferred(self, b: ContactTransferred, ts: int, seq: int) -> None:
        if not b.target.startswith(("queue:", "agent:")):
            return  # to an outside number: the contact ends with its agent's part
        c, part = self._handling(
            b.contact_id, b.agent_id, (P_TALK, P_HOLD), "contact.transferred", seq
        )
        c.transfer = b.target
        c.transfer_seg = part.seg

    def _transfer_connected(self, b: ContactTransferConnected, ts: int, seq: int) -> None:
        what = "contact.transfer_connected"
        c = self._get(b.contact_id, what, seq)
        if c.phase != P_MOVING:
            raise MetricsError(seq, f"{what} for contact {c.cid!r}, which is {_PHASE[c.phase]}")
        if c.transfer != f"agent:{b.agent_id}":
            raise MetricsError(
                seq,
                f"{what} to agent {b.agent_id!r} for contact {c.cid!r}, "
                f"which was transferred to {c.transfer!r}",
            )
        a = self._can_start(c, b.agent_id, what, seq)
        self._step(a, ts)
        self._start(c, a, ts, c.transfer_seg)
        c.transfer = ""

    # -- agent states ---------------------------------------------------------------------------

    def _present(self, aid: str, what: str, seq: int) -> _Agent:
        a = self._agents.get(aid)
        if a is None or not a.on:
            raise MetricsError(seq, f"{what} for agent {aid!r}, who is not logged in")
        return a

    def _logged_in(self, b: AgentLoggedIn, ts: int, seq: int) -> None:
        aid = b.agent_id
        a = self._agents.get(aid)
        if a is None:
            a = self._agents[aid] = _Agent(aid)
        elif a.on:
            raise MetricsError(seq, f"agent.logged_in for agent {aid!r}, already logged in")
        a.on = True
        a.base = LOGIN_REASON
        a.since = ts

    def _logged_out(self, b: AgentLoggedOut, ts: int, seq: int) -> None:
        a = self._present(b.agent_id, "agent.logged_out", seq)
        if a.ring or a.talk or a.hold or a.acw:
            raise MetricsError(
                seq, f"agent.logged_out for agent {b.agent_id!r}, who still has a contact"
            )
        self._step(a, ts)
        a.on = False

    def _ready(self, b: AgentReady, ts: int, seq: int) -> None:
        a = self._present(b.agent_id, "agent.ready", seq)
        self._step(a, ts)
        a.base = None

    def _not_ready(self, b: AgentNotReady, ts: int, seq: int) -> None:
        a = self._present(b.agent_id, "agent.not_ready", seq)
        self._step(a, ts)
        a.base = b.reason

    # -- reading --------------------------------------------------------------------------------

    def _as_of(self, now_ms: int | None, what: str) -> int | None:
        if now_ms is None:
            return self.last_ts
        if now_ms < self._last_ts:
            raise MetricsError(
                0, f"{what} at {now_ms} is before the last event ingested ({self._last_ts})"
            )
        return now_ms

    def _open_pieces(self, now: int) -> list[Piece]:
        return [
            (a.aid, a.since, now, a.base, a.ring, a.talk, a.hold, a.acw)
            for a in self._agents.values()
            if a.on and now > a.since
        ]

    def report(self, now_ms: int | None = None) -> Report:
        """Figures per interval and in total as of ``now_ms`` (default: the last event's time;
        agents' current states run to it). Costs O(keys + handled contacts), not O(events)."""
        now = self._as_of(now_ms, "report")
        config = self._config
        size = self._interval
        agent_acc = {key: list(acc) for key, acc in self._a.items()}
        reasons = {key: dict(nr) for key, nr in self._nr.items()}
        if now is not None:
            for piece in self._open_pieces(now):
                _allocate(agent_acc, reasons, piece, size)

        tenant_intervals: dict[int, TenantFigures] = {}
        t_total = [0] * 18
        t_total_th: list[int] = []
        l_total = [0] * 8
        t_avg: dict[int, tuple[int, int]] = {}
        for key in self._t.keys() | self._loss.keys():
            tacc = self._t.get(key) or [0] * 18
            lacc = self._loss.get(key) or [0] * 8
            values = self._tth.get(key, [])
            _add_into(t_total, tacc)
            _add_into(l_total, lacc)
            t_total_th.extend(values)
            t_avg[key] = (tacc[Q_TALK] + tacc[Q_HOLD], tacc[Q_HANDLED])
            tenant_intervals[key] = TenantFigures(
                _queue_figures(None, tacc, values, config, None), _loss_figures(lacc)
            )
        tenant_total = TenantFigures(
            _queue_figures(None, t_total, t_total_th, config, None), _loss_figures(l_total)
        )
        t_avg_total = (t_total[Q_TALK] + t_total[Q_HOLD], t_total[Q_HANDLED])

        queue_intervals: dict[tuple[str, int], QueueFigures] = {}
        q_total: dict[str, list[int]] = {}
        q_total_th: dict[str, list[int]] = {}
        for (queue, key), qacc in self._q.items():
            values = self._qth.get((queue, key), [])
            total = q_total.get(queue)
            if total is None:
                total = q_total[queue] = [0] * 18
                q_total_th[queue] = []
            _add_into(total, qacc)
            q_total_th[queue].extend(values)
            queue_intervals[(queue, key)] = _queue_figures(
                config.thresholds_for(queue), qacc, values, config, t_avg.get(key, (0, 0))
            )
        queue_totals = {
            queue: _queue_figures(
                config.thresholds_for(queue), total, q_total_th[queue], config, t_avg_total
            )
            for queue, total in q_total.items()
        }

        agent_intervals: dict[tuple[str, int], AgentFigures] = {}
        a_total: dict[str, list[int]] = {}
        a_total_nr: dict[str, dict[str, int]] = {}
        for akey in agent_acc.keys() | reasons.keys():
            acc = agent_acc.get(akey) or [0] * 18
            nr = reasons.get(akey, {})
            aid = akey[0]
            total = a_total.get(aid)
            if total is None:
                total = a_total[aid] = [0] * 18
                a_total_nr[aid] = {}
            _add_into(total, acc)
            total_nr = a_total_nr[aid]
            for reason, ms in nr.items():
                total_nr[reason] = total_nr.get(reason, 0) + ms
            figures = _agent_figures(acc, nr)
            if figures is not None:
                agent_intervals[akey] = figures
        agent_totals = {}
        for aid, total in a_total.items():
            figures = _agent_figures(total, a_total_nr[aid])
            if figures is not None:
                agent_totals[aid] = figures

        return Report(
            tenant=self._tenant,
            config=config,
            as_of_ms=now,
            window=None,
            queue_intervals=queue_intervals,
            queue_totals=queue_totals,
            agent_intervals=agent_intervals,
            agent_totals=agent_totals,
            tenant_intervals=tenant_intervals,
            tenant_total=tenant_total,
        )

    def rolling(self, at_ms: int | None = None, window_ms: int | None = None) -> Report:
        """Figures over the contacts that entered the queue in ``(at - W, at]`` (calls that
        arrived in it, for call loss), outcomes as of ``at``, and agent time in the window.
        ``at_ms`` defaults to the last event's time and may not be before it; ``window_ms``
        defaults to the config's rolling window and may not exceed ``max_window_ms``.
        Costs O(what happened in the window)."""
        if window_ms is None:
            window_ms = self._config.rolling_window_s * 1000
        if not 0 < window_ms <= self._max_window:
            raise ValueError(f"window_ms must be in 1..{self._max_window}, got {window_ms}")
        at = self._as_of(at_ms, "rolling window")
        if at is None:
            at = 0
        lo = at - window_ms
        config = self._config

        queues: dict[str, list[int]] = {}
        queue_th: dict[str, list[int]] = {}
        agents: dict[tuple[str, int], list[int]] = {}
        reasons: dict[tuple[str, int], dict[str, int]] = {}
        tacc = [0] * 18
        tenant_th: list[int] = []
        ring_ms = self._ring_ms
        for seg in reversed(self._segments):
            if seg.entry <= lo:
                break
            qacc = queues.get(seg.queue)
            if qacc is None:
                qacc = queues[seg.queue] = [0] * 18
                queue_th[seg.queue] = []
            qacc[Q_OFFERED] += 1
            kind = seg.kind
            if kind in (K_ANSWERED, K_ABANDONED):
                _count_outcome(qacc, kind, seg.queue_ms, seg.sl_ms, seg.short_ms)
            elif kind == K_OVERFLOWED:
                qacc[Q_OVERFLOWED] += 1
            elif kind == K_TIMED_OUT:
                qacc[Q_TIMED_OUT] += 1
            elif kind == K_CALLBACK:
                qacc[Q_CB_REQUESTED] += 1
                if seg.cb_connected:
                    qacc[Q_CB_CONNECTED] += 1
            for aid, talk, hold, acw, justified in _all(seg.handled, seg.more_handled):
                _count_handled(qacc, talk, hold, acw, justified)
                if not justified:
                    queue_th[seg.queue].append(talk + hold)
                acc = agents.get((aid, -1))
                if acc is None:
                    acc = agents[(aid, -1)] = [0] * 18
                if justified:
                    acc[A_JL] += 1
                    acc[A_JL_MS] += talk + hold + acw
                else:
                    acc[A_HANDLED] += 1
                    acc[A_H_TALK] += talk
                    acc[A_H_HOLD] += hold
                    acc[A_H_ACW] += acw
            if seg.is_first:
                tacc[Q_OFFERED] += 1
                if seg.t_overflowed:
                    tacc[Q_OVERFLOWED] += 1
                kind = seg.t_kind
                if kind in (K_ANSWERED, K_ABANDONED):
                    _count_outcome(tacc, kind, seg.t_queue_ms, seg.t_sl_ms, seg.t_short_ms)
                elif kind == K_TIMED_OUT:
                    tacc[Q_TIMED_OUT] += 1
                elif kind == K_CALLBACK:
                    tacc[Q_CB_REQUESTED] += 1
                    if seg.t_cb_connected:
                        tacc[Q_CB_CONNECTED] += 1
                for talk, hold, acw, justified in _all(seg.t_handled, seg.t_more_handled):
                    _count_handled(tacc, talk, hold, acw, justified)
                    if not justified:
                        tenant_th.append(talk + hold)
        # An offer, ring-no-answer or answer happens after its segment's entry: facts older than
        # the window belong to contacts that entered before it.
        for fact_ts, aid, entry, fact, speed in reversed(self._facts):
            if fact_ts <= lo:
                break
            if entry <= lo:
                continue
            acc = agents.get((aid, -1))
            if acc is None:
                acc = agents[(aid, -1)] = [0] * 18
            if fact == E_OFFER:
                acc[A_OFFERED] += 1
            elif fact == E_RNA:
                acc[A_RNA] += 1
            elif fact == E_ANSWER:
                acc[A_ANSWERED] += 1
                acc[A_SPEED] += speed
                acc[A_RINGS] += -(-speed // ring_ms)
            else:
                acc[A_CALLBACKS] += 1
        lacc = [0] * 8
        for c in reversed(self._arrivals):
            if c.arrived <= lo:
                break
            lacc[L_ARRIVED] += 1
            if c.loss >= 0:
                lacc[c.loss] += 1

        for piece in reversed(self._pieces):
            if piece[2] <= lo:
                break
            _allocate(agents, reasons, _clip(piece, lo), 0)
        for piece in self._open_pieces(at):
            if piece[2] > lo:
                _allocate(agents, reasons, _clip(piece, lo), 0)

        t_avg = (tacc[Q_TALK] + tacc[Q_HOLD], tacc[Q_HANDLED])
        agent_totals = {}
        for key in agents.keys() | reasons.keys():
            figures = _agent_figures(agents.get(key) or [0] * 18, reasons.get(key, {}))
            if figures is not None:
                agent_totals[key[0]] = figures
        return Report(
            tenant=self._tenant,
            config=config,
            as_of_ms=at,
            window=(lo, at),
            queue_intervals={},
            queue_totals={
                queue: _queue_figures(
                    config.thresholds_for(queue), qacc, queue_th[queue], config, t_avg
                )
                for queue, qacc in queues.items()
            },
            agent_intervals={},
            agent_totals=agent_totals,
            tenant_intervals={},
            tenant_total=TenantFigures(
                _queue_figures(None, tacc, tenant_th, config, None), _loss_figures(lacc)
            ),
        )


# ---------------------------------------------------------------------------------------------
# Counting helpers and building the result types


def _clip(piece: Piece, lo: int) -> Piece:
    """The part of a piece (ending after ``lo``) from ``lo`` on."""
    aid, start, end, base, ring, talk, hold, acw = piece
    return piece if start >= lo else (aid, lo, end, base, ring, talk, hold, acw)


def _count_outcome(acc: list[int], kind: int, qt: int, sl_ms: int, short_ms: int) -> None:
    if kind == K_ANSWERED:
        acc[Q_ANSWERED] += 1
        acc[Q_ANSWERED_MS] += qt
        if qt <= sl_ms:
            acc[Q_WITHIN] += 1
    else:
        acc[Q_ABANDONED] += 1
        acc[Q_ABANDONED_MS] += qt
        if qt <= short_ms:
            acc[Q_SHORT] += 1
        if qt > sl_ms:
            acc[Q_AFTER] += 1


def _all(first: _T | None, more: list[_T] | None) -> list[_T]:
    """The handled parts kept as a first one and, rarely, more."""
    if first is None:
        return []
    return [first] if more is None else [first, *more]


def _count_handled(acc: list[int], talk: int, hold: int, acw: int, justified: bool) -> None:
    if justified:
        acc[Q_JL] += 1
        acc[Q_JL_MS] += talk + hold + acw
    else:
        acc[Q_HANDLED] += 1
        acc[Q_TALK] += talk
        acc[Q_HOLD] += hold
        acc[Q_ACW] += acw


def _add_into(total: list[int], acc: list[int]) -> None:
    total[:] = map(add, total, acc)


def _queue_figures(
    thresholds: QueueThresholds | None,
    acc: list[int],
    values: list[int],
    config: MetricsConfig,
    tenant_average: tuple[int, int] | None,
) -> QueueFigures:
    """``values`` are talk + hold of the handled contacts; ``tenant_average`` is the tenant's
    (sum, count) for the same period (None: this is the tenant)."""
    fields_: dict[str, Any] = dict(zip(_Q_FIELDS, acc, strict=True))
    kind = config.above_hold_baseline
    baseline: Fraction | None
    if kind == "fixed":
        limit = config.above_hold_fixed_s * 1000
        above = len([v for v in values if v > limit])
        baseline = Fraction(limit)
    else:
        if kind == "tenant" and tenant_average is not None:
            total, count = tenant_average
        else:
            total, count = acc[Q_TALK] + acc[Q_HOLD], acc[Q_HANDLED]
        if count:
            baseline = Fraction(total, count)
            above = len([v for v in values if v * count > total])
        else:
            baseline = None
            above = 0
    return QueueFigures(
        thresholds=thresholds, above_hold=above, above_hold_baseline_ms=baseline, **fields_
    )


def _loss_figures(acc: list[int]) -> CallLoss:
    return CallLoss(**dict(zip(_L_FIELDS, acc, strict=True)))


#: AgentFigures built positionally: numbers in field order, ``not_ready_ms`` after ready-idle
#: (checked where the field orders are read, at import).
_make_agent_figures: Callable[..., AgentFigures] = AgentFigures
assert tuple(f.name for f in fields(AgentFigures)).index("not_ready_ms") == A_IDLE + 1


def _agent_figures(acc: list[int], reasons: dict[str, int]) -> AgentFigures | None:
    """The figures, or None if they are all zero."""
    not_ready = {reason: ms for reason, ms in reasons.items() if ms}
    if not not_ready and not any(acc):
        return None
    return _make_agent_figures(*acc[: A_IDLE + 1], not_ready, *acc[A_IDLE + 1 :])
