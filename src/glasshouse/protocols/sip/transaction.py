"""SIP transactions (RFC 3261 section 17, with the Accepted states of RFC 6026), sans-I/O.

A :class:`TransactionLayer` holds the client and server transactions of one element. It is fed
received messages (:meth:`~TransactionLayer.receive`), the transaction user's requests and
responses (:meth:`~TransactionLayer.send_request`, :meth:`~TransactionLayer.send_response`)
and the time (:meth:`~TransactionLayer.advance` at :meth:`~TransactionLayer.next_deadline`).
Each call returns events: :class:`Transmit` for bytes to write, and what the transaction user
must see (:class:`RequestReceived`, :class:`ResponseReceived`, :class:`AckReceived`,
:class:`TransactionTimeout`, :class:`TransportFailure`). Time is monotonic seconds, always
passed in; timer values come from a :class:`TimerConfig`.

The layer serves a user agent: it sends the ACK for a non-2xx final response itself
(17.1.1.3), retransmits a 2xx to INVITE until the ACK arrives (13.3.1.4, kept in the server
transaction's Accepted state), and passes every 2xx it receives up so the dialog user can
acknowledge each one. Requests must carry an RFC 3261 branch (``z9hG4bK...``); RFC 2543
matching is not done and such requests are refused with :class:`LegacyBranchError`.
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
import itertools
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from glasshouse.protocols.sip.headers import Headers, Via
from glasshouse.protocols.sip.message import (
    MAGIC_COOKIE,
    ResponseHint,
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
    reason_phrase,
)
from glasshouse.protocols.sip.uri import Params, SipParseError, show

Address = tuple[str, int]
"""A transport address: host (an IP address as text) and port."""

DEFAULT_PORT: Final = 5060


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 (RFC 3261 17.1.1.1 and table 4) and the delay before an INVITE server
    transaction sends 100 Trying itself (17.2.1); timers A to M derive from them."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    trying: float = 0.2

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "trying"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"timer {name} must be a finite number >= 0, not {value!r}")
        if self.t1 <= 0:
            raise ValueError("timer t1 must be above 0")
        if self.t2 < self.t1:
            raise ValueError(f"timer t2 ({self.t2}) must not be below t1 ({self.t1})")

    def duration(self, timer: str, *, reliable: bool) -> float:
        """The initial value of an RFC 3261 timer (``"A"`` to ``"M"``; ``"trying"``; and
        ``"cancel"``, how long a cancelled INVITE waits for its final response, 9.1) on a
        reliable or unreliable transport; 0 where the RFC says the state is left at once."""
        match timer:
            case "A" | "E" | "G":
                return self.t1
            case "B" | "F" | "H" | "L" | "M" | "cancel":
                return 64 * self.t1
            case "D":
                return 0.0 if reliable else max(32.0, 64 * self.t1)
            case "I" | "K":
                return 0.0 if reliable else self.t4
            case "J":
                return 0.0 if reliable else 64 * self.t1
            case "trying":
                return self.trying
        raise ValueError(f"unknown timer {show(timer)}")


# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class Transmit:
    """Bytes to write to ``dest`` (on the connection to it when ``reliable``). ``tx_id`` names
    the transaction that sent them, for :meth:`TransactionLayer.transport_error`."""

    data: bytes
    dest: Address
    reliable: bool
    tx_id: str | None = None


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the transaction user, with ``received``/``rport`` set in its top Via.
    For a CANCEL, ``cancels`` is the INVITE server transaction it matches (None if none)."""

    tx_id: str
    request: SipRequest
    source: Address
    reliable: bool
    cancels: str | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for a 2xx. ``tx_id`` is the INVITE server transaction whose 2xx it acknowledges,
    or None when none is known (it ended, or the ACK matches nothing)."""

    request: SipRequest
    source: Address
    reliable: bool
    tx_id: str | None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response for the client transaction ``tx_id``. ``retransmission`` is True for a 2xx
    to INVITE whose To tag was already passed up: the dialog user sends its ACK again."""

    tx_id: str
    response: SipResponse
    retransmission: bool = False


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """Timer B, F or H fired; or timer L fired before the 2xx was acknowledged (13.3.1.4: the
    session should be ended with a BYE); or a cancelled INVITE got no final response within
    64*T1 of its CANCEL (9.1). The transaction is gone."""

    tx_id: str
    method: str


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """The transport reported an error for this transaction (17.1.4, 17.2.4); it is gone."""

    tx_id: str
    method: str
    dest: Address


TxEvent = (
    Transmit
    | RequestReceived
    | AckReceived
    | ResponseReceived
    | TransactionTimeout
    | TransportFailure
)


class Sent(NamedTuple):
    """What :meth:`TransactionLayer.send_request` returns: the new transaction's id and the
    events to act on (the first transmission)."""

    tx_id: str
    events: list[TxEvent]


class TransactionError(ValueError):
    """The transaction user asked for something the transaction state does not allow."""


class LegacyBranchError(SipParseError):
    """A request without an RFC 3261 branch (``z9hG4bK...``) in its top Via. Except for an
    ACK, ``response_hint`` holds the 400 to answer it with."""


class TxState(enum.Enum):
    """The states of RFC 3261 17.1 and 17.2, with Accepted from RFC 6026."""

    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


# ---------------------------------------------------------------------------------------------
# Helpers for the transaction user and the transport


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def is_rfc3261_branch(branch: str | None) -> bool:
    """True if ``branch`` starts with the magic cookie and has something after it."""
    return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7


def with_via(
    request: SipRequest,
    host: str,
    port: int | None,
    transport: str = "UDP",
    *,
    branch: str | None = None,
) -> SipRequest:
    """A copy of ``request`` with a new top Via (a fresh branch unless given, and ``rport``
    per RFC 3581). Not for a CANCEL or a non-2xx ACK: those reuse the INVITE's Via."""
    via = Via(
        transport=transport.upper(),
        host=host,
        port=port,
        params=Params((("branch", branch or new_branch()), ("rport", None))),
    )
    headers = request.headers.copy()
    headers.prepend("Via", str(via))
    return SipRequest(request.method, request.uri, headers, request.body)


def response_address(via: Via, source: Address, *, reliable: bool) -> Address:
    """Where the responses to a request go (RFC 3261 18.2.2, RFC 3581): back over the
    connection for a reliable transport, else to ``maddr``, else to the source address, with
    the source port if ``rport`` was asked for and the sent-by port otherwise."""
    if reliable:
        return source
    maddr = via.maddr
    if maddr is not None:
        return (maddr, via.port or DEFAULT_PORT)
    if "rport" in via.params:
        return source
    return (source[0], via.port or DEFAULT_PORT)


def make_cancel(request: SipRequest) -> SipRequest:
    """The CANCEL for a request we sent (RFC 3261 9.1): same Request-URI, Call-ID, From, To,
    CSeq number, top Via (hence the same branch) and Route; send it with
    :meth:`TransactionLayer.send_request` to the same destination."""
    if request.method in ("ACK", "CANCEL"):
        raise ValueError(f"an {request.method} cannot be cancelled")
    headers = Headers()
    headers.add("Via", _required(request, "Via"))
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", "70")
    for name in ("From", "To", "Call-ID"):
        headers.add(name, _required(request, name))
    headers.add("CSeq", f"{request.cseq.number} CANCEL")
    return SipRequest("CANCEL", request.uri, headers)


def _required(message: SipMessage, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise TransactionError(f"the {_describe(message)} has no {name} header")
    return value


def _describe(message: SipMessage) -> str:
    if isinstance(message, SipRequest):
        return f"{message.method} request"
    return f"{message.status} response"


def _ack_for(request: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK for a non-2xx final response to INVITE (RFC 3261 17.1.1.3)."""
    headers = Headers()
    headers.add("Via", _required(request, "Via"))
    for route in request.headers.get_all("Route"):
        headers.add("Route", route)
    headers.add("Max-Forwards", request.headers.get("Max-Forwards") or "70")
    headers.add("From", _required(request, "From"))
    headers.add("To", _required(response, "To"))
    headers.add("Call-ID", _required(request, "Call-ID"))
    headers.add("CSeq", f"{request.cseq.number} ACK")
    return SipRequest("ACK", request.uri, headers)


def _legacy_branch_error(request: SipRequest, via: Via) -> LegacyBranchError:
    branch = via.branch
    reason = (
        "top Via has no branch parameter"
        if branch is None
        else f"top Via branch {show(branch)} does not start with {MAGIC_COOKIE}"
    )
    if request.method == "ACK":
        return LegacyBranchError(reason)
    copied = [("Via", v) for v in request.headers.get_all("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.headers.get(name)
        if value is not None:
            copied.append((name, value))
    hint = ResponseHint(400, reason_phrase(400), reason, tuple(copied))
    return LegacyBranchError(reason, response_hint=hint)


def _stamp_via(request: SipRequest, via: Via, source: Address) -> SipRequest:
    """The request with ``received`` (and ``rport``) in its top Via (RFC 3261 18.2.1, RFC
    3581 section 4), so that responses built from it carry them back."""
    host, port = source
    params = via.params
    if "rport" in params and via.rport is None:
        params = params.set("received", host).set("rport", str(port))
    elif via.host.lower() != host.lower():
        params = params.set("received", host)
    else:
        return request
    try:
        stamped = dataclasses.replace(via, params=params)
    except ValueError:
        raise TransactionError(f"source address {show(host)} is not an IP address") from None
    headers = request.headers.copy()
    headers.pop_first("Via")
    headers.prepend("Via", str(stamped))
    return SipRequest(request.method, request.uri, headers, request.body)


def _server_id(method: str, branch: str, via: Via) -> str:
    port = "" if via.port is None else via.port
    return f"s/{method}/{branch}/{via.host.lower()}:{port}"


def _client_id(method: str, branch: str) -> str:
    return f"c/{method}/{branch}"


# ---------------------------------------------------------------------------------------------
# State tables


class _Act(enum.Enum):
    PASS = "pass"  # hand the response to the transaction user
    PASS_2XX = "pass 2xx"  # the same, noting whether this To tag was seen before
    PASS_AND_ACK = "pass and ack"  # build and send the ACK for a non-2xx final, hand it up
    RESEND_ACK = "resend ack"  # a retransmitted non-2xx final: the same ACK again
    SEND = "send"  # the transaction user's response goes out


_C, _T, _P = TxState.CALLING, TxState.TRYING, TxState.PROCEEDING
_CO, _A = TxState.COMPLETED, TxState.ACCEPTED

# Received responses, by (state, status class: 1 provisional, 2 success, 3 any other final).
# A pair not listed is absorbed.
_CLIENT_INVITE: Final[dict[tuple[TxState, int], tuple[TxState, _Act]]] = {
    (_C, 1): (_P, _Act.PASS),
    (_C, 2): (_A, _Act.PASS_2XX),
    (_C, 3): (_CO, _Act.PASS_AND_ACK),
    (_P, 1): (_P, _Act.PASS),
    (_P, 2): (_A, _Act.PASS_2XX),
    (_P, 3): (_CO, _Act.PASS_AND_ACK),
    (_CO, 3): (_CO, _Act.RESEND_ACK),
    (_A, 2): (_A, _Act.PASS_2XX),
}
_CLIENT_NON_INVITE: Final[dict[tuple[TxState, int], tuple[TxState, _Act]]] = {
    (_T, 1): (_P, _Act.PASS),
    (_T, 2): (_CO, _Act.PASS),
    (_T, 3): (_CO, _Act.PASS),
    (_P, 1): (_P, _Act.PASS),
    (_P, 2): (_CO, _Act.PASS),
    (_P, 3): (_CO, _Act.PASS),
}
# Responses from the transaction user; a pair not listed is refused with TransactionError.
_SERVER_INVITE: Final[dict[tuple[TxState, int], tuple[TxState, _Act]]] = {
    (_P, 1): (_P, _Act.SEND),
    (_P, 2): (_A, _Act.SEND),
    (_P, 3): (_CO, _Act.SEND),
    (_A, 2): (_A, _Act.SEND),
}
_SERVER_NON_INVITE: Final[dict[tuple[TxState, int], tuple[TxState, _Act]]] = {
    (_T, 1): (_P, _Act.SEND),
    (_T, 2): (_CO, _Act.SEND),
    (_T, 3): (_CO, _Act.SEND),
    (_P, 1): (_P, _Act.SEND),
    (_P, 2): (_CO, _Act.SEND),
    (_P, 3): (_CO, _Act.SEND),
}

# Timers started on entering a state, by (server, invite, state); every other running timer
# is cancelled except those kept. Retransmission timers run on unreliable transports only.
_ENTRY: Final[dict[tuple[bool, bool, TxState], tuple[tuple[str, ...], tuple[str, ...]]]] = {
    (False, True, _C): (("A", "B"), ()),
    (False, True, _P): ((), ("cancel",)),
    (False, True, _CO): (("D",), ()),
    (False, True, _A): (("M",), ()),
    (False, False, _T): (("E", "F"), ()),
    (False, False, _P): ((), ("E", "F")),
    (False, False, _CO): (("K",), ()),
    (True, True, _P): (("trying",), ()),
    (True, True, _CO): (("G", "H"), ()),
    (True, True, TxState.CONFIRMED): (("I",), ()),
    (True, True, _A): (("G", "L"), ()),
    (True, False, _T): ((), ()),
    (True, False, _P): ((), ()),
    (True, False, _CO): (("J",), ()),
}
_RETRANSMIT: Final = frozenset({"A", "E", "G"})
# Timers that only wait for stray retransmissions: a zero value ends the transaction at once.
_LINGER: Final = frozenset({"D", "I", "J", "K"})


def _status_class(status: int) -> int:
    return 1 if status < 200 else 2 if status < 300 else 3


# ---------------------------------------------------------------------------------------------
# The layer


class _Timer:
    __slots__ = ("alive", "name", "tx")

    def __init__(self, name: str, tx: _Tx) -> None:
        self.name = name
        self.tx = tx
        self.alive = True


class _Tx:
    __slots__ = (
        "ack_keys",
        "acked",
        "dest",
        "id",
        "interval",
        "invite",
        "last",
        "method",
        "ok_tags",
        "reliable",
        "request",
        "server",
        "state",
        "timers",
        "wire",
    )

    def __init__(
        self,
        tx_id: str,
        request: SipRequest,
        dest: Address,
        *,
        reliable: bool,
        server: bool,
        wire: bytes,
    ) -> None:
        self.id = tx_id
        # Dropped (None) once the transaction only waits for stray retransmissions (timers D,
        # I, J, K): tens of thousands of such transactions linger at a few hundred calls per
        # second, and their parsed requests would make every full garbage collection slow.
        self.request: SipRequest | None = request
        self.method = request.method
        self.invite = request.method == "INVITE"
        self.server = server
        self.dest = dest
        self.reliable = reliable
        self.state = TxState.TERMINATED  # set on entering the first state
        self.wire = wire  # client: the request as sent; server: the request as received
        self.last: bytes | None = None  # client: the ACK sent; server: the last response sent
        self.timers: dict[str, _Timer] = {}
        self.interval = 0.0  # the current retransmission interval
        self.acked = False  # server INVITE: an ACK for its 2xx arrived
        # Client INVITE: To tags of the 2xx passed up; server INVITE: 2xx dialogs. Empty
        # tuples until used: most transactions never need them.
        self.ok_tags: tuple[str, ...] = ()
        self.ack_keys: tuple[tuple[str, int, str, str], ...] = ()


_AckKey = tuple[str, int, str, str]  # Call-ID, CSeq number, From tag, To tag


class TransactionLayer:
    """The client and server transactions of one SIP element (RFC 3261 17, RFC 6026).

    Client transactions are matched by branch and CSeq method (17.1.3), server transactions
    by branch, sent-by and method, an ACK matching its INVITE (17.2.3). An ACK for a 2xx,
    which carries a branch of its own, is matched to the Accepted INVITE server transaction by
    Call-ID, CSeq number and tags. Timers live in one heap; a cancelled timer is skipped when
    it comes up.
    """

    def __init__(self, config: TimerConfig | None = None) -> None:
        self.config = config or TimerConfig()
        self._txs: dict[str, _Tx] = {}
        self._by_dest: dict[Address, dict[str, _Tx]] = {}
        self._awaiting_ack: dict[_AckKey, _Tx] = {}
        self._heap: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self._dead = 0  # cancelled timers still in the heap

    def __len__(self) -> int:
        """The number of transactions not yet terminated."""
        return len(self._txs)

    def state(self, tx_id: str) -> TxState:
        """A transaction's state; TERMINATED once it is gone (or if it never existed)."""
        tx = self._txs.get(tx_id)
        return TxState.TERMINATED if tx is None else tx.state

    # -- input from the network ---------------------------------------------------------------

    def receive(
        self, message: SipMessage, source: Address, now: float, *, reliable: bool
    ) -> list[TxEvent]:
        """Process a message from the transport: retransmissions are absorbed (a request's is
        answered with the last response), new requests and responses are passed up, an ACK
        for a 2xx comes up as :class:`AckReceived`.

        Raises :class:`LegacyBranchError` for a request without an RFC 3261 branch, and
        :class:`TransactionError` if a new request's ``source`` host is not an IP address.
        """
        if isinstance(message, SipResponse):
            return self._receive_response(message, now)
        via = message.top_via
        branch = via.branch
        if branch is None or not is_rfc3261_branch(branch):
            raise _legacy_branch_error(message, via)
        method = message.method
        if method == "ACK":
            tx = self._txs.get(_server_id("INVITE", branch, via))
            return self._receive_ack(message, tx, source, now, reliable=reliable)
        tx_id = _server_id(method, branch, via)
        tx = self._txs.get(tx_id)
        if tx is not None:
            return self._retransmitted_request(tx)
        request = _stamp_via(message, via, source)
        dest = response_address(via, source, reliable=reliable)
        tx = _Tx(tx_id, request, dest, reliable=reliable, server=True, wire=b"")
        self._add(tx)
        cancels = None
        if method == "CANCEL":
            invite = self._txs.get(_server_id("INVITE", branch, via))
            cancels = None if invite is None else invite.id
        out: list[TxEvent] = [RequestReceived(tx_id, request, source, reliable, cancels)]
        self._enter(tx, TxState.PROCEEDING if tx.invite else TxState.TRYING, now, out)
        return out

    def _retransmitted_request(self, tx: _Tx) -> list[TxEvent]:
        if tx.state not in (TxState.PROCEEDING, TxState.COMPLETED):
            return []  # Trying, Confirmed and Accepted absorb it (RFC 6026 for Accepted)
        if tx.last is None:
            if not tx.invite:
                return []
            # The client is still waiting: answer 100 now rather than at the 200 ms mark.
            self._cancel(tx, "trying")
            tx.last = bytes(make_response(_request_of(tx), 100))
        return [Transmit(tx.last, tx.dest, tx.reliable, tx.id)]

    def _receive_ack(
        self, ack: SipRequest, tx: _Tx | None, source: Address, now: float, *, reliable: bool
    ) -> list[TxEvent]:
        if tx is not None:
            if tx.state is TxState.COMPLETED:
                out: list[TxEvent] = []
                self._enter(tx, TxState.CONFIRMED, now, out)
                return out
            if tx.state is TxState.ACCEPTED:
                return self._ack_2xx(tx, ack, source, reliable=reliable)
            return []  # a repeated ACK in Confirmed, or one before any final response
        if self._awaiting_ack:
            tx = self._awaiting_ack.get(_ack_key(ack, ack.to.tag))
            if tx is not None:
                return self._ack_2xx(tx, ack, source, reliable=reliable)
        return [AckReceived(ack, source, reliable, None)]

    def _ack_2xx(
        self, tx: _Tx, ack: SipRequest, source: Address, *, reliable: bool
    ) -> list[TxEvent]:
        if tx.acked:
            return []  # a second ACK, sent for a retransmitted 2xx
        tx.acked = True
        self._cancel(tx, "G")
        return [AckReceived(ack, source, reliable, tx.id)]

    def _receive_response(self, response: SipResponse, now: float) -> list[TxEvent]:
        vias = response.headers.get_all("Via")
        if len(vias) != 1:
            return []  # a UA discards a response with other than one Via (8.1.3.3)
        branch = Via.parse(vias[0]).branch
        if branch is None:
            return []
        tx = self._txs.get(_client_id(response.cseq.method, branch))
        if tx is None or tx.server:
            return []  # stray, including a 2xx after timer M (RFC 6026 section 7.2)
        table = _CLIENT_INVITE if tx.invite else _CLIENT_NON_INVITE
        step = table.get((tx.state, _status_class(response.status)))
        if step is None:
            return []
        next_state, act = step
        out: list[TxEvent] = []
        if act is _Act.PASS:
            out.append(ResponseReceived(tx.id, response))
        elif act is _Act.PASS_2XX:
            tag = response.to.tag or ""
            out.append(ResponseReceived(tx.id, response, tag in tx.ok_tags))
            if tag not in tx.ok_tags:
                tx.ok_tags += (tag,)
        elif act is _Act.PASS_AND_ACK:
            tx.last = bytes(_ack_for(_request_of(tx), response))
            out.append(Transmit(tx.last, tx.dest, tx.reliable, tx.id))
            out.append(ResponseReceived(tx.id, response))
        elif act is _Act.RESEND_ACK and tx.last is not None:
            out.append(Transmit(tx.last, tx.dest, tx.reliable, tx.id))
        if next_state is not tx.state:
            self._enter(tx, next_state, now, out)
        return out

    # -- input from the transaction user ------------------------------------------------------

    def send_request(
        self, request: SipRequest, dest: Address, now: float, *, reliable: bool
    ) -> Sent:
        """Start a client transaction for ``request`` (which has its top Via: see
        :func:`with_via`), sending it to ``dest``. Not for an ACK (see :meth:`send_ack`)."""
        method = request.method
        if method == "ACK":
            raise TransactionError("an ACK is not sent in a transaction: use send_ack")
        if "Via" not in request.headers:
            raise TransactionError(f"the {method} request has no Via: add one with with_via")
        branch = request.top_via.branch
        if branch is None or not is_rfc3261_branch(branch):
            raise TransactionError(
                f"the {method} request's top Via branch {show(branch)} "
                f"does not start with {MAGIC_COOKIE}"
            )
        cseq = request.cseq
        if cseq.method != method:
            raise TransactionError(f"CSeq method {cseq.method} does not match {method}")
        tx_id = _client_id(method, branch)
        if tx_id in self._txs:
            raise TransactionError(f"a {method} transaction with branch {branch} is running")
        tx = _Tx(tx_id, request, dest, reliable=reliable, server=False, wire=bytes(request))
        self._add(tx)
        out: list[TxEvent] = [Transmit(tx.wire, dest, reliable, tx_id)]
        self._enter(tx, TxState.CALLING if tx.invite else TxState.TRYING, now, out)
        if method == "CANCEL":
            invite = self._txs.get(_client_id("INVITE", branch))
            if invite is not None and invite.state in (TxState.CALLING, TxState.PROCEEDING):
                # RFC 3261 9.1: without a final response 64*T1 after the CANCEL, the INVITE
                # is given up (a 487 lost for good would otherwise leave it in Proceeding).
                wait = self.config.duration("cancel", reliable=reliable)
                self._schedule(invite, "cancel", now + wait)
        return Sent(tx_id, out)

    def send_response(self, response: SipResponse, now: float) -> list[TxEvent]:
        """Send a response on the server transaction it answers (found from its top Via and
        CSeq), to the address recorded when the request arrived."""
        if "Via" not in response.headers:
            raise TransactionError(f"the {response.status} response has no Via")
        via = response.top_via
        branch = via.branch
        method = response.cseq.method
        tx = None if branch is None else self._txs.get(_server_id(method, branch, via))
        if tx is None:
            raise TransactionError(
                f"no server transaction for the {response.status} response "
                f"(branch {show(branch)}, method {method}): it ended or never existed"
            )
        table = _SERVER_INVITE if tx.invite else _SERVER_NON_INVITE
        status_class = _status_class(response.status)
        step = table.get((tx.state, status_class))
        if step is None:
            raise TransactionError(
                f"{tx.id} is {tx.state.value}: it cannot send a {response.status}"
            )
        next_state = step[0]
        tx.last = bytes(response)
        out: list[TxEvent] = [Transmit(tx.last, tx.dest, tx.reliable, tx.id)]
        if tx.invite and status_class == 1:
            self._cancel(tx, "trying")
        if next_state is TxState.ACCEPTED:
            key = _ack_key(_request_of(tx), response.to.tag)
            if key not in self._awaiting_ack:
                self._awaiting_ack[key] = tx
                tx.ack_keys += (key,)
        if next_state is not tx.state:
            self._enter(tx, next_state, now, out)
        return out

    def send_ack(self, ack: SipRequest, dest: Address, *, reliable: bool) -> list[TxEvent]:
        """Send the ACK for a 2xx, which is outside any transaction (RFC 3261 13.2.2.4)."""
        if ack.method != "ACK":
            raise TransactionError(f"send_ack takes an ACK, not an {ack.method}")
        return [Transmit(bytes(ack), dest, reliable)]

    def transport_error(self, target: str | Address, now: float) -> list[TxEvent]:
        """The transport failed for a transaction id, or for every transaction using a
        destination (a closed connection): each is reported and terminated."""
        if isinstance(target, str):
            tx = self._txs.get(target)
            txs = [] if tx is None else [tx]
        else:
            txs = list(self._by_dest.get(target, {}).values())
        out: list[TxEvent] = []
        for tx in txs:
            out.append(TransportFailure(tx.id, tx.method, tx.dest))
            self._terminate(tx)
        return out

    # -- time ---------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`advance` next has work to do, or None if no timer is running."""
        heap = self._heap
        while heap and not heap[0][2].alive:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def advance(self, now: float) -> list[TxEvent]:
        """Fire every timer due at ``now``, in order. A timer restarts from the time it was due
        (not from ``now``), so retransmissions keep their exact schedule."""
        heap = self._heap
        out: list[TxEvent] = []
        while heap and heap[0][0] <= now:
            when, _, timer = heapq.heappop(heap)
            if not timer.alive:
                self._dead -= 1
                continue
            timer.alive = False
            tx = timer.tx
            del tx.timers[timer.name]
            _FIRE[timer.name](self, tx, when, out)
        return out

    # -- internals ----------------------------------------------------------------------------

    def _add(self, tx: _Tx) -> None:
        self._txs[tx.id] = tx
        self._by_dest.setdefault(tx.dest, {})[tx.id] = tx

    def _enter(self, tx: _Tx, state: TxState, now: float, out: list[TxEvent]) -> None:
        tx.state = state
        start, keep = _ENTRY[(tx.server, tx.invite, state)]
        for name in [name for name in tx.timers if name not in keep]:
            self._cancel(tx, name)
        for name in start:
            if name in _RETRANSMIT:
                if tx.reliable:
                    continue
                tx.interval = self.config.t1
            duration = self.config.duration(name, reliable=tx.reliable)
            if name in _LINGER:
                if duration == 0:
                    self._terminate(tx)
                    return
                tx.request = None
                if not tx.server:
                    tx.wire = b""  # a client request is not retransmitted any more
            self._schedule(tx, name, now + duration)

    def _schedule(self, tx: _Tx, name: str, when: float) -> None:
        self._cancel(tx, name)
        timer = _Timer(name, tx)
        tx.timers[name] = timer
        heapq.heappush(self._heap, (when, next(self._order), timer))

    def _cancel(self, tx: _Tx, name: str) -> None:
        timer = tx.timers.pop(name, None)
        if timer is None:
            return
        timer.alive = False
        self._dead += 1
        if self._dead > 1024 and self._dead * 2 > len(self._heap):
            # Mostly dead entries: rebuild so the heap does not grow with cancelled timers.
            self._heap = [entry for entry in self._heap if entry[2].alive]
            heapq.heapify(self._heap)
            self._dead = 0

    def _terminate(self, tx: _Tx) -> None:
        for name in list(tx.timers):
            self._cancel(tx, name)
        tx.state = TxState.TERMINATED
        self._txs.pop(tx.id, None)
        peers = self._by_dest.get(tx.dest)
        if peers is not None:
            peers.pop(tx.id, None)
            if not peers:
                del self._by_dest[tx.dest]
        for key in tx.ack_keys:
            if self._awaiting_ack.get(key) is tx:
                del self._awaiting_ack[key]

    # Timer handlers: (layer, transaction, time the timer was due, events out).

    def _on_retransmit_request(self, tx: _Tx, when: float, out: list[TxEvent]) -> None:
        out.append(Transmit(tx.wire, tx.dest, tx.reliable, tx.id))
        if tx.invite:
            tx.interval *= 2  # timer A doubles without a ceiling (17.1.1.2)
        elif tx.state is TxState.PROCEEDING:
            tx.interval = self.config.t2
        else:
            tx.interval = min(2 * tx.interval, self.config.t2)
        self._schedule(tx, "A" if tx.invite else "E", when + tx.interval)

    def _on_retransmit_response(self, tx: _Tx, when: float, out: list[TxEvent]) -> None:
        if tx.last is not None:
            out.append(Transmit(tx.last, tx.dest, tx.reliable, tx.id))
        tx.interval = min(2 * tx.interval, self.config.t2)
        self._schedule(tx, "G", when + tx.interval)

    def _on_timeout(self, tx: _Tx, when: float, out: list[TxEvent]) -> None:
        out.append(TransactionTimeout(tx.id, tx.method))
        self._terminate(tx)

    def _on_accepted_end(self, tx: _Tx, when: float, out: list[TxEvent]) -> None:
        if not tx.acked:
            out.append(TransactionTimeout(tx.id, tx.method))
        self._terminate(tx)

    def _on_linger_end(self, tx: _Tx, when: float, out: list[TxEvent]) -> None:
        self._terminate(tx)

    def _on_trying(self, tx: _Tx, when: float, out: list[TxEvent]) -> None:
        tx.last = bytes(make_response(_request_of(tx), 100))
        out.append(Transmit(tx.last, tx.dest, tx.reliable, tx.id))


def _request_of(tx: _Tx) -> SipRequest:
    request = tx.request
    if request is None:  # pragma: no cover - only lingering transactions drop it
        raise TransactionError(f"transaction {tx.id} no longer holds its request")
    return request


def _ack_key(request: SipRequest, to_tag: str | None) -> _AckKey:
    return (request.call_id, request.cseq.number, request.from_.tag or "", to_tag or "")


_Handler = Callable[[TransactionLayer, _Tx, float, list[TxEvent]], None]
_FIRE: Final[dict[str, _Handler]] = {
    "A": TransactionLayer._on_retransmit_request,
    "E": TransactionLayer._on_retransmit_request,
    "G": TransactionLayer._on_retransmit_response,
    "B": TransactionLayer._on_timeout,
    "F": TransactionLayer._on_timeout,
    "H": TransactionLayer._on_timeout,
    "L": TransactionLayer._on_accepted_end,
    "D": TransactionLayer._on_linger_end,
    "I": TransactionLayer._on_linger_end,
    "J": TransactionLayer._on_linger_end,
    "K": TransactionLayer._on_linger_end,
    "M": TransactionLayer._on_linger_end,
    "cancel": TransactionLayer._on_timeout,
    "trying": TransactionLayer._on_trying,
}

__all__ = [
    "AckReceived",
    "Address",
    "LegacyBranchError",
    "RequestReceived",
    "ResponseReceived",
    "Sent",
    "TimerConfig",
    "TransactionError",
    "TransactionLayer",
    "TransactionTimeout",
    "Transmit",
    "TransportFailure",
    "TxEvent",
    "TxState",
    "is_rfc3261_branch",
    "make_cancel",
    "new_branch",
    "response_address",
    "with_via",
]
