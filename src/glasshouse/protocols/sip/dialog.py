"""SIP dialogs (RFC 3261 section 12, with the INVITE specifics of section 13), sans-I/O.

A :class:`Dialog` is created by the UAS from a request and its response carrying our To tag
(:meth:`Dialog.as_uas`), or by the UAC from its request and a 1xx/2xx carrying the remote To
tag (:meth:`Dialog.as_uac`). It builds in-dialog requests (route set, CSeq, Contact), the ACK
for a 2xx, checks the order of received requests and follows target refreshes. Messages are
looked up by :class:`DialogId` with :func:`dialog_id_from_request` and
:func:`dialog_id_from_response`. :func:`new_request` builds a request outside any dialog.
Vias are added by the transaction user with
:func:`glasshouse.protocols.sip.transaction.with_via`.
"""

from __future__ import annotations

import dataclasses
import enum
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from glasshouse.protocols.sip.headers import Headers, MediaType, NameAddr, SipWarning
from glasshouse.protocols.sip.message import SipRequest, SipResponse, make_response
from glasshouse.protocols.sip.uri import SipUri, Uri, is_token, show

MAX_CSEQ: Final = 2**31 - 1
# Requests whose Contact replaces the remote target (RFC 3261 12.2, RFC 3311, RFC 6665).
TARGET_REFRESH: Final = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})
# Requests that must carry a Contact (RFC 3261 8.1.1.8, RFC 3311, RFC 3515, RFC 6665).
_NEEDS_CONTACT: Final = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})
_CREATES_DIALOG: Final = frozenset({"INVITE", "SUBSCRIBE", "REFER"})


class DialogError(ValueError):
    """A message cannot create or update this dialog; the text names what is wrong."""


class DialogState(enum.Enum):
    """RFC 3261 12: early (a 1xx created it), confirmed (a 2xx), terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class DialogId(NamedTuple):
    """A dialog as seen from our side: Call-ID, our tag, the remote tag (RFC 3261 12)."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an in-dialog request is refused: the status to answer and the problem."""

    status: int
    reason: str

    def response(self, request: SipRequest, *, agent: str = "-") -> SipResponse:
        """The response to ``request``, with ``Warning: 399 <agent> "<reason>"``."""
        warning = SipWarning(399, agent, self.reason)
        return make_response(request, self.status, headers=[("Warning", str(warning))])


def new_tag() -> str:
    """A fresh From/To tag (64 random bits, RFC 3261 19.3)."""
    return secrets.token_hex(8)


def new_call_id() -> str:
    """A fresh Call-ID (128 random bits, no host part, RFC 3261 8.1.1.4)."""
    return secrets.token_hex(16)


def dialog_id_from_request(request: SipRequest) -> DialogId | None:
    """The id of the dialog a received request belongs to (our tag is the To tag); None for a
    request outside a dialog (no To tag)."""
    local = request.to.tag
    if local is None:
        return None
    return DialogId(request.call_id, local, request.from_.tag or "")


def dialog_id_from_response(response: SipResponse) -> DialogId | None:
    """The id of the dialog a received response belongs to or creates (our tag is the From
    tag); None without a To tag (a 100, or a response that creates no dialog)."""
    remote = response.to.tag
    if remote is None:
        return None
    return DialogId(response.call_id, response.from_.tag or "", remote)


def _untagged(address: NameAddr) -> NameAddr:
    if "tag" not in address.params:
        return address
    return dataclasses.replace(address, params=address.params.remove("tag"))


def _is_sips(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and uri.scheme == "sips"


def _add_body(
    headers: Headers, body: bytes, content_type: str | None, extra: Iterable[tuple[str, str]]
) -> None:
    if content_type is not None:
        headers.add("Content-Type", str(MediaType.parse(content_type)))
    elif body:
        raise ValueError("a request with a body needs a content_type")
    for name, value in extra:
        headers.add(name, value)


def new_request(
    method: str,
    uri: Uri,
    *,
    from_addr: NameAddr,
    to_addr: NameAddr,
    contact: NameAddr | None = None,
    call_id: str | None = None,
    from_tag: str | None = None,
    cseq: int = 1,
    route: Sequence[NameAddr] = (),
    body: bytes = b"",
    content_type: str | None = None,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> SipRequest:
    """A request outside any dialog (RFC 3261 8.1.1): From with a tag (fresh unless given), To
    without one, a fresh Call-ID unless given, CSeq ``cseq``, Max-Forwards 70, Contact, and
    the preloaded ``route``. INVITE, SUBSCRIBE, REFER and UPDATE need a ``contact``."""
    if method in ("ACK", "CANCEL"):
        raise ValueError(f"an {method} is built from the request it belongs to, not here")
    if to_addr.tag is not None:
        raise ValueError("a request outside a dialog has no To tag")
    if contact is None and method in _NEEDS_CONTACT:
        raise ValueError(f"an {method} needs a contact")
    if not 0 <= cseq <= MAX_CSEQ:
        raise ValueError(f"CSeq {cseq} out of range 0 to 2**31-1")
    headers = Headers()
    for hop in route:
        headers.add("Route", str(hop))
    headers.add("Max-Forwards", "70")
    headers.add("From", str(_untagged(from_addr).with_tag(from_tag or new_tag())))
    headers.add("To", str(to_addr))
    headers.add("Call-ID", call_id or new_call_id())
    headers.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        headers.add("Contact", str(contact))
    _add_body(headers, body, content_type, extra_headers)
    return SipRequest(method, uri, headers, body)


@dataclass(slots=True, kw_only=True)
class Dialog:
    """The state of one dialog (RFC 3261 12.1). ``local_uri`` and ``remote_uri`` are the From
    and To addresses without tags; ``local_seq``/``remote_seq`` are None until a request is
    sent/received in the dialog; ``route_set`` is in the order requests visit it."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: Uri
    local_contact: NameAddr
    route_set: tuple[NameAddr, ...] = ()
    local_seq: int | None = None
    remote_seq: int | None = None
    state: DialogState = DialogState.EARLY
    secure: bool = False
    is_uac: bool = False

    @property
    def id(self) -> DialogId:
        """The key to look this dialog up by (see :func:`dialog_id_from_request`)."""
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation -----------------------------------------------------------------------------

    @classmethod
    def as_uas(cls, request: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a UAS creates by answering ``request`` with ``response`` (101-299, our
        To tag, our Contact), per RFC 3261 12.1.1."""
        status = _check_creating(request, response)
        local = response.to
        if local.tag is None:
            raise DialogError(f"the {status} response has no To tag")
        ours = response.contact
        if not ours:
            raise DialogError(f"the {status} response has no Contact (RFC 3261 12.1.1)")
        theirs = request.contact
        if not theirs:
            raise DialogError(f"the {request.method} request has no Contact")
        remote = request.from_
        return cls(
            call_id=request.call_id,
            local_tag=local.tag,
            remote_tag=remote.tag or "",
            local_uri=_untagged(local),
            remote_uri=_untagged(remote),
            remote_target=theirs[0].uri,
            local_contact=ours[0],
            route_set=tuple(request.record_route),
            remote_seq=request.cseq.number,
            state=DialogState.EARLY if status < 200 else DialogState.CONFIRMED,
            secure=_is_sips(request.uri),
            is_uac=False,
        )

    @classmethod
    def as_uac(cls, request: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a UAC gets from a 101-299 response (with a To tag) to its ``request``,
        per RFC 3261 12.1.2: route set from Record-Route in reverse, remote target from
        Contact (the Request-URI if a 1xx has none)."""
        status = _check_creating(request, response)
        remote = response.to
        if remote.tag is None:
            raise DialogError(f"the {status} response has no To tag")
        ours = request.contact
        if not ours:
            raise DialogError(f"the {request.method} request has no Contact")
        theirs = response.contact
        if theirs:
            target = theirs[0].uri
        elif status < 200:
            target = request.uri
        else:
            raise DialogError(f"the {status} response has no Contact (RFC 3261 12.1.1)")
        local = request.from_
        if local.tag is None:
            raise DialogError(f"the {request.method} request has no From tag")
        return cls(
            call_id=request.call_id,
            local_tag=local.tag,
            remote_tag=remote.tag,
            local_uri=_untagged(local),
            remote_uri=_untagged(remote),
            remote_target=target,
            local_contact=ours[0],
            route_set=tuple(reversed(response.record_route)),
            local_seq=request.cseq.number,
            state=DialogState.EARLY if status < 200 else DialogState.CONFIRMED,
            secure=_is_sips(request.uri),
            is_uac=True,
        )

    # -- requests we send ---------------------------------------------------------------------

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """The next request in the dialog (BYE, re-INVITE, INFO, REFER, NOTIFY, UPDATE...) per
        RFC 3261 12.2.1.1: the local CSeq goes up by one; Contact for target refreshes."""
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"an {method} is not a new request: use create_ack or make_cancel")
        if not is_token(method):
            raise ValueError(f"method {show(method)} is not a token")
        if self.state is DialogState.TERMINATED:
            raise DialogError(f"dialog {self.call_id} is terminated")
        seq = 1 if self.local_seq is None else self.local_seq + 1
        if seq > MAX_CSEQ:
            raise DialogError(f"dialog {self.call_id} has used every CSeq number")
        headers = self._base_headers(f"{seq} {method}")
        if method in _NEEDS_CONTACT:
            headers.add("Contact", str(self.local_contact))
        _add_body(headers, body, content_type, extra_headers)
        self.local_seq = seq
        return SipRequest(method, self._request_uri(), headers, body)

    def create_ack(
        self,
        invite_cseq: int,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """The ACK for a 2xx to the INVITE with CSeq ``invite_cseq`` (RFC 3261 13.2.2.4); sent
        again for each retransmission of that 2xx."""
        if not 0 <= invite_cseq <= MAX_CSEQ:
            raise ValueError(f"CSeq {invite_cseq} out of range 0 to 2**31-1")
        headers = self._base_headers(f"{invite_cseq} ACK")
        _add_body(headers, body, content_type, extra_headers)
        return SipRequest("ACK", self._request_uri(), headers, body)

    def _base_headers(self, cseq: str) -> Headers:
        headers = Headers()
        for hop in self._routes():
            headers.add("Route", str(hop))
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self.local_uri.with_tag(self.local_tag)))
        remote = self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri
        headers.add("To", str(remote))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", cseq)
        return headers

    def _strict_first_hop(self) -> bool:
        first = self.route_set[0].uri if self.route_set else None
        return first is not None and not (isinstance(first, SipUri) and first.lr)

    def _request_uri(self) -> Uri:
        if not self._strict_first_hop():
            return self.remote_target
        # A strict router takes the request addressed to itself (RFC 3261 12.2.1.1), with the
        # parameters a Request-URI cannot carry removed.
        first = self.route_set[0].uri
        if isinstance(first, SipUri):
            return dataclasses.replace(first, headers=(), params=first.params.remove("method"))
        return first

    def _routes(self) -> Sequence[NameAddr]:
        if not self._strict_first_hop():
            return self.route_set
        return (*self.route_set[1:], NameAddr(uri=self.remote_target))

    # -- messages from the peer and our answers ----------------------------------------------

    def receive_request(self, request: SipRequest) -> Rejection | None:
        """Check a request received in this dialog (RFC 3261 12.2.2): None if it is accepted
        (the remote CSeq and, for a target refresh, the remote target are updated), else
        why it must be refused: 481 for another or an ended dialog, 500 if out of order."""
        if dialog_id_from_request(request) != self.id:
            return Rejection(481, f"the request does not belong to dialog {self.call_id}")
        method = request.method
        if method == "ACK" or method == "CANCEL":
            return None  # they carry the CSeq number of the request they belong to
        if self.state is DialogState.TERMINATED:
            return Rejection(481, f"dialog {self.call_id} is terminated")
        number = request.cseq.number
        if self.remote_seq is not None and number < self.remote_seq:
            return Rejection(
                500, f"CSeq {number} is lower than {self.remote_seq}: the request is out of order"
            )
        self.remote_seq = number
        if method in TARGET_REFRESH:
            contacts = request.contact
            if contacts:
                self.remote_target = contacts[0].uri
        return None

    def response_sent(self, response: SipResponse) -> None:
        """Note a response we sent to a request of the peer: a 2xx to INVITE confirms the
        dialog, a failure to the INVITE that created it ends it, so does a 2xx to BYE."""
        method = response.cseq.method
        status = response.status
        if method == "INVITE":
            if 200 <= status < 300:
                if self.state is DialogState.EARLY:
                    self.state = DialogState.CONFIRMED
            elif status >= 300 and self.state is DialogState.EARLY:
                self.state = DialogState.TERMINATED
        elif method == "BYE" and 200 <= status < 300:
            self.state = DialogState.TERMINATED

    def receive_response(self, response: SipResponse) -> None:
        """Apply a response to a request we sent in this dialog (RFC 3261 12.2.1.2, 13.2.2.4):
        a 2xx to INVITE confirms the dialog (recomputing the route set if it was early) and a
        2xx to a target refresh updates the remote target; a failure to the INVITE of an
        early dialog, a 481 or 408, or a final response to BYE ends it."""
        tag = response.to.tag
        if response.status > 100 and (tag or "") != self.remote_tag:
            raise DialogError(
                f"the {response.status} response has To tag {show(tag)}, "
                f"not {show(self.remote_tag)}: it belongs to another dialog"
            )
        status = response.status
        method = response.cseq.method
        if 200 <= status < 300:
            if method == "INVITE" and self.state is DialogState.EARLY:
                self.route_set = tuple(reversed(response.record_route))
                self.state = DialogState.CONFIRMED
            if method in TARGET_REFRESH:
                contacts = response.contact
                if contacts:
                    self.remote_target = contacts[0].uri
        if (
            status in (408, 481)
            or (method == "BYE" and status >= 200)
            or (method == "INVITE" and status >= 300 and self.state is DialogState.EARLY)
        ):
            self.state = DialogState.TERMINATED

    def terminate(self) -> None:
        """End the dialog (a BYE sent that timed out, the session given up)."""
        self.state = DialogState.TERMINATED


def _check_creating(request: SipRequest, response: SipResponse) -> int:
    if request.method not in _CREATES_DIALOG:
        raise DialogError(f"a {request.method} does not create a dialog")
    status = response.status
    if not 101 <= status <= 299:
        raise DialogError(f"a {status} response does not create a dialog")
    if response.cseq.method != request.method:
        raise DialogError(
            f"the {status} response answers a {response.cseq.method}, not the {request.method}"
        )
    if response.call_id != request.call_id:
        raise DialogError(f"the {status} response has Call-ID {show(response.call_id)}")
    return status


__all__ = [
    "MAX_CSEQ",
    "TARGET_REFRESH",
    "Dialog",
    "DialogError",
    "DialogId",
    "DialogState",
    "Rejection",
    "dialog_id_from_request",
    "dialog_id_from_response",
    "new_call_id",
    "new_request",
    "new_tag",
]
