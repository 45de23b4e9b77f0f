"""A scriptable SIP phone on real UDP sockets, built on the product's own SIP layers, for tests
that need precise control of one side of a call (timing, what is sent, what is checked).

Interop with other SIP software is proven with sipp and baresip (``glasshouse.testing.sipp``,
``glasshouse.testing.baresip``); this phone makes the many small scenarios cheap: a caller that
presses keys by RFC 4733 or SIP INFO and records what it hears, an agent phone that registers,
answers, holds and hangs up."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from glasshouse.protocols.rtp.dtmf import DtmfSender
from glasshouse.protocols.rtp.g711 import G711Law, decode, encode
from glasshouse.protocols.rtp.packet import RtpError, RtpPacket
from glasshouse.protocols.sdp import (
    Direction,
    SessionDescription,
    accept_answer,
    build_answer,
    build_offer,
)
from glasshouse.protocols.sip.dialog import Dialog, new_request, new_tag
from glasshouse.protocols.sip.digest import DigestChallenge, authorize, choose_challenge
from glasshouse.protocols.sip.headers import NameAddr, Replaces
from glasshouse.protocols.sip.message import (
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from glasshouse.protocols.sip.transaction import (
    AckReceived,
    RequestReceived,
    ResponseReceived,
    TransactionLayer,
    TransactionTimeout,
    Transmit,
    TxEvent,
    make_cancel,
    with_via,
)
from glasshouse.protocols.sip.uri import SipParseError, SipUri

__all__ = ["FakePhone", "PhoneError"]

Address = tuple[str, int]


class PhoneError(AssertionError):
    """The peer did not do what the test expected (a timeout, a refusal)."""


@dataclass
class _Call:
    dialog: Dialog | None = None
    invite: SipRequest | None = None
    local_sdp: SessionDescription | None = None
    remote_rtp: Address | None = None
    payload_type: int = 0
    telephone_event: int | None = None
    established: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    headers: dict[str, str] = field(default_factory=dict)


class FakePhone:
    """One phone (one SIP user) on ``127.0.0.1``: ``async with FakePhone(server, "agent1",
    "secret") as phone: await phone.register()``."""

    def __init__(
        self,
        server: Address,
        user: str,
        password: str = "",
        *,
        host: str = "127.0.0.1",
        auto_answer: bool = True,
        reject_with: int | None = None,
    ) -> None:
        self.server = server
        self.user = user
        self.password = password
        self.host = host
        self.auto_answer = auto_answer
        self.reject_with = reject_with  # answer incoming calls with this final status
        self.layer = TransactionLayer()
        self.heard = bytearray()  # linear PCM of what this phone received
        self.received_packets = 0
        self.received_events = 0  # RFC 4733 telephone-event packets received
        self.requests: list[SipRequest] = []
        self.responses: list[SipResponse] = []
        #: (status, bytes of ``heard`` so far) as each response came: what was heard before it
        self.heard_at: list[tuple[int, int]] = []
        #: a provisional response with SDP came to our INVITE: its media flows before any answer
        self.early_media = asyncio.Event()
        self.sent: list[SipRequest] = []  # requests we sent, as sent (with their Via)
        self.call = _Call()
        self.incoming = asyncio.Event()
        self._sip: socket.socket | None = None
        self._rtp: socket.socket | None = None
        self._waiters: dict[str, asyncio.Future[SipResponse]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None
        self._seq = 0
        self._ts = 0
        self._ssrc = 0x1234ABCD
        self.on_request: Callable[[SipRequest], None] | None = None

    # -- life --------------------------------------------------------------------------------

    async def __aenter__(self) -> FakePhone:
        self._loop = asyncio.get_running_loop()
        self._sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sip.bind((self.host, 0))
        self._sip.setblocking(False)
        self._rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._rtp.bind((self.host, 0))
        self._rtp.setblocking(False)
        self._loop.add_reader(self._sip.fileno(), self._read_sip)
        self._loop.add_reader(self._rtp.fileno(), self._read_rtp)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
        if self._timer is not None:
            self._timer.cancel()
        for sock in (self._sip, self._rtp):
            if sock is not None and self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(sock.fileno())
                sock.close()
        self._sip = self._rtp = None

    @property
    def sip_port(self) -> int:
        assert self._sip is not None
        return int(self._sip.getsockname()[1])

    @property
    def rtp_port(self) -> int:
        assert self._rtp is not None
        return int(self._rtp.getsockname()[1])

    def _uri(self, user: str | None = None) -> SipUri:
        return SipUri(host=self.server[0], user=user or self.user, port=self.server[1])

    def _contact(self) -> NameAddr:
        return NameAddr(uri=SipUri(host=self.host, user=self.user, port=self.sip_port))

    # -- SIP plumbing ------------------------------------------------------------------------

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _read_sip(self) -> None:
        assert self._sip is not None
        while True:
            try:
                data, addr = self._sip.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            try:
                message: SipMessage = parse_message(data)
            except SipParseError:
                continue
            self._dispatch(
                self.layer.receive(message, (addr[0], addr[1]), self._now(), reliable=False)
            )

    def _dispatch(self, events: list[TxEvent]) -> None:
        assert self._sip is not None and self._loop is not None
        for event in events:
            if isinstance(event, Transmit):
                self._sip.sendto(event.data, event.dest)
            elif isinstance(event, ResponseReceived):
                self.responses.append(event.response)
                self.heard_at.append((event.response.status, len(self.heard)))
                if 100 < event.response.status < 200 and event.response.body:
                    self._early_media(event.response)
                waiter = self._waiters.get(event.tx_id)
                if event.response.status >= 200 and waiter is not None and not waiter.done():
                    waiter.set_result(event.response)
            elif isinstance(event, TransactionTimeout):
                waiter = self._waiters.get(event.tx_id)
                if waiter is not None and not waiter.done():
                    waiter.set_exception(PhoneError(f"{event.method} timed out"))
            elif isinstance(event, RequestReceived):
                self.requests.append(event.request)
                self._on_request(event)
            elif isinstance(event, AckReceived):
                self.call.established.set()
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.layer.next_deadline()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._dispatch(self.layer.advance(self._now()))

    async def _request(self, request: SipRequest, timeout: float = 10.0) -> SipResponse:
        request = with_via(request, self.host, self.sip_port)
        self.sent.append(request)
        sent = self.layer.send_request(request, self.server, self._now(), reliable=False)
        assert self._loop is not None
        waiter: asyncio.Future[SipResponse] = self._loop.create_future()
        self._waiters[sent.tx_id] = waiter
        self._dispatch(sent.events)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise PhoneError(f"no final response to {request.method} in {timeout} s") from None
        finally:
            self._waiters.pop(sent.tx_id, None)

    def _respond(self, response: SipResponse) -> None:
        self._dispatch(self.layer.send_response(response, self._now()))

    # -- registering -------------------------------------------------------------------------

    async def register(self, expires: int = 600) -> SipResponse:
        """REGISTER, answering the digest challenge; returns the final response."""
        call_id = None
        tag = new_tag()
        response: SipResponse | None = None
        credentials: list[tuple[str, str]] = []
        for cseq in (1, 2):
            request = new_request(
                "REGISTER",
                SipUri(host=self.server[0], port=self.server[1]),
                from_addr=NameAddr(uri=self._uri()),
                to_addr=NameAddr(uri=self._uri()),
                contact=self._contact(),
                call_id=call_id,
                from_tag=tag,
                cseq=cseq,
                extra_headers=[("Expires", str(expires)), *credentials],
            )
            call_id = request.call_id
            response = await self._request(request)
            if response.status != 401:
                return response
            challenge = choose_challenge(
                DigestChallenge.parse(h) for h in response.www_authenticate
            )
            if challenge is None:
                return response
            creds = authorize(
                challenge,
                method="REGISTER",
                uri=str(request.uri),
                username=self.user,
                password=self.password,
            )
            credentials = [("Authorization", str(creds))]
        assert response is not None
        return response

    # -- calling -----------------------------------------------------------------------------

    async def dial(self, number: str, *, timeout: float = 10.0) -> SipResponse:
        """INVITE ``number`` at the server, ACK the answer and start sending silence."""
        offer = build_offer(self.host, self.rtp_port, session_id="1")
        invite = new_request(
            "INVITE",
            self._uri(number),
            from_addr=NameAddr(uri=self._uri()),
            to_addr=NameAddr(uri=self._uri(number)),
            contact=self._contact(),
            body=bytes(offer),
            content_type="application/sdp",
        )
        self.call = self._next_call(invite=invite, local_sdp=offer)
        response = await self._request(invite, timeout)
        if response.status in (401, 407) and self.password:
            # Answer the challenge once, as a phone does for a call out (RFC 3261 22.2).
            challenges = (
                response.www_authenticate
                if response.status == 401
                else (response.proxy_authenticate)
            )
            challenge = choose_challenge(DigestChallenge.parse(h) for h in challenges)
            if challenge is None:
                return response
            creds = authorize(
                challenge,
                method="INVITE",
                uri=str(invite.uri),
                username=self.user,
                password=self.password,
            )
            name = "Authorization" if response.status == 401 else "Proxy-Authorization"
            invite = new_request(
                "INVITE",
                invite.uri,
                from_addr=invite.from_,
                from_tag=invite.from_.tag,
                to_addr=NameAddr(uri=self._uri(number)),
                contact=self._contact(),
                call_id=invite.call_id,
                cseq=invite.cseq.number + 1,
                body=bytes(offer),
                content_type="application/sdp",
                extra_headers=[(name, str(creds))],
            )
            self.call.invite = invite
            response = await self._request(invite, timeout)
        if response.status >= 300:
            return response
        dialog = Dialog.as_uac(invite, response)
        self.call.dialog = dialog
        ack = with_via(dialog.create_ack(invite.cseq.number), self.host, self.sip_port)
        self._dispatch(self.layer.send_ack(ack, self.server, reliable=False))
        audio = accept_answer(offer, SessionDescription.parse(response.body))
        if audio is not None and audio.remote_address:
            self.call.remote_rtp = (audio.remote_address, audio.remote_port)
            self.call.payload_type = audio.codec.payload_type
            self.call.telephone_event = audio.telephone_event
        self.call.established.set()
        return response

    def _early_media(self, response: SipResponse) -> None:
        """A 18x with an SDP answer to our INVITE (RFC 3261 13.2.1): send our media there."""
        invite, offer = self.call.invite, self.call.local_sdp
        if invite is None or offer is None or response.call_id != invite.call_id:
            return
        try:
            audio = accept_answer(offer, SessionDescription.parse(response.body))
        except ValueError:
            return
        if audio is not None and audio.remote_address:
            self.call.remote_rtp = (audio.remote_address, audio.remote_port)
            self.call.payload_type = audio.codec.payload_type
            self.call.telephone_event = audio.telephone_event
            self.early_media.set()

    async def cancel(self) -> SipResponse:
        """CANCEL our INVITE still without a final response; returns the CANCEL's response
        (the INVITE's own, 487, goes to :meth:`dial`)."""
        invite = next((r for r in reversed(self.sent) if r.method == "INVITE"), None)
        if invite is None:
            raise PhoneError("no INVITE to cancel")
        cancel = make_cancel(invite)
        sent = self.layer.send_request(cancel, self.server, self._now(), reliable=False)
        assert self._loop is not None
        waiter: asyncio.Future[SipResponse] = self._loop.create_future()
        self._waiters[sent.tx_id] = waiter
        self._dispatch(sent.events)
        try:
            return await asyncio.wait_for(waiter, 10)
        except TimeoutError:
            raise PhoneError("no response to CANCEL in 10 s") from None
        finally:
            self._waiters.pop(sent.tx_id, None)

    def _on_request(self, event: RequestReceived) -> None:
        request = event.request
        if self.on_request is not None:
            self.on_request(request)
        if request.method == "INVITE" and request.to.tag is None:
            self.call = self._next_call(invite=request)
            self.call.headers = {
                name: value for name, value in request.headers if name.lower().startswith("x-")
            }
            tag = new_tag()
            self.incoming.set()
            if self.reject_with is not None:
                self._respond(make_response(request, self.reject_with, to_tag=tag))
                return
            self._respond(make_response(request, 180, to_tag=tag))
            if self.auto_answer:
                self.answer()
        elif request.method == "INVITE":
            self._respond(
                make_response(request, 200, headers=[("Content-Type", "application/sdp")])
            )
        elif request.method == "CANCEL":
            self._respond(make_response(request, 200))
            self.call.ended.set()
        elif request.method == "BYE":
            self._respond(make_response(request, 200))
            self.call.ended.set()
            self._stop_sending()
        else:
            self._respond(make_response(request, 200))

    def _next_call(self, **fields: object) -> _Call:
        """The next call's state. Events nobody has seen fire yet carry over, so a test that
        began waiting for "established" before the INVITE arrived is woken by it."""
        old = self.call
        call = _Call(**fields)  # type: ignore[arg-type]
        if not old.established.is_set():
            call.established = old.established
        if not old.ended.is_set():
            call.ended = old.ended
        return call

    def answer(self) -> None:
        """Answer the incoming call with 200 OK and our media."""
        invite = self.call.invite
        assert invite is not None
        offer = SessionDescription.parse(invite.body)
        answer = build_answer(offer, self.host, self.rtp_port, session_id="2")
        tag = new_tag()
        ok = make_response(
            invite,
            200,
            to_tag=tag,
            headers=[("Contact", str(self._contact())), ("Content-Type", "application/sdp")],
        )
        ok.body = bytes(answer.description)
        self.call.dialog = Dialog.as_uas(invite, ok)
        self.call.local_sdp = answer.description
        if answer.audio is not None and answer.audio.remote_address:
            self.call.remote_rtp = (answer.audio.remote_address, answer.audio.remote_port)
            self.call.payload_type = answer.audio.codec.payload_type
            self.call.telephone_event = answer.audio.telephone_event
        self._respond(ok)

    async def _in_dialog(self, method: str, **kwargs: object) -> SipResponse:
        dialog = self.call.dialog
        if dialog is None:
            raise PhoneError(f"no call to send {method} in")
        request = dialog.create_request(method, **kwargs)  # type: ignore[arg-type]  # forwarded as given
        return await self._request(request)

    async def hold(self, direction: Direction = Direction.SENDONLY) -> SipResponse:
        """re-INVITE with ``sendonly`` (or ``inactive``)."""
        return await self._reoffer(direction)

    async def unhold(self) -> SipResponse:
        return await self._reoffer(Direction.SENDRECV)

    async def _reoffer(self, direction: Direction) -> SipResponse:
        previous = self.call.local_sdp
        offer = build_offer(
            self.host, self.rtp_port, session_id=previous.origin.session_id if previous else "3",
            direction=direction, previous=previous,
        )  # fmt: skip
        self.call.local_sdp = offer
        response = await self._in_dialog(
            "INVITE", body=bytes(offer), content_type="application/sdp"
        )
        if response.status < 300 and self.call.dialog is not None:
            ack = self.call.dialog.create_ack(response.cseq.number)
            self._dispatch(
                self.layer.send_ack(
                    with_via(ack, self.host, self.sip_port), self.server, reliable=False
                )
            )
        return response

    async def info(self, body: str, content_type: str) -> SipResponse:
        """An INFO in the call with ``body``."""
        return await self._in_dialog("INFO", body=body.encode(), content_type=content_type)

    async def info_dtmf(self, digit: str) -> SipResponse:
        return await self._in_dialog(
            "INFO",
            body=f"Signal={digit}\r\nDuration=160\r\n".encode(),
            content_type="application/dtmf-relay",
        )

    async def refer(self, target: str, *, replaces: Dialog | None = None) -> SipResponse:
        """Blind transfer (RFC 3515): REFER the other party to ``target`` (a SIP URI). With
        ``replaces`` (the consultation's dialog, maybe another phone's), an attended transfer
        (RFC 5589 7): the Refer-To carries a Replaces (RFC 3891) naming that dialog, its to-tag
        the far end's tag and its from-tag ours."""
        uri = SipUri.parse(target)
        if replaces is not None:
            named = Replaces(
                call_id=replaces.call_id,
                to_tag=replaces.remote_tag,
                from_tag=replaces.local_tag,
            )
            uri = replace(uri, headers=(*uri.headers, ("Replaces", str(named))))
        return await self._in_dialog(
            "REFER",
            extra_headers=[("Refer-To", f"<{uri}>"), ("Referred-By", str(self._contact()))],
        )

    def refer_progress(self) -> list[int]:
        """The status codes reported so far by NOTIFYs of a REFER (RFC 3515 sipfrag bodies), in
        the order they came."""
        codes = []
        for request in self.requests:
            if request.method != "NOTIFY" or not request.body.startswith(b"SIP/2.0 "):
                continue
            status = request.body[8:11]
            if status.isdigit():
                codes.append(int(status))
        return codes

    async def hangup(self) -> SipResponse:
        self._stop_sending()
        response = await self._in_dialog("BYE")
        self.call.ended.set()
        return response

    # -- media -------------------------------------------------------------------------------

    def _read_rtp(self) -> None:
        assert self._rtp is not None
        while True:
            try:
                data, _ = self._rtp.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            try:
                packet = RtpPacket.parse(data)
            except RtpError:
                continue
            if packet.payload_type == (self.call.telephone_event or 101):
                self.received_events += 1
            if packet.payload_type in (0, 8):
                self.received_packets += 1
                law = G711Law.PCMU if packet.payload_type == 0 else G711Law.PCMA
                self.heard += decode(law, packet.payload)

    def _send_packet(self, payload: bytes, payload_type: int, marker: bool = False) -> None:
        if self._rtp is None or self.call.remote_rtp is None:
            return
        packet = RtpPacket(payload_type, self._seq & 0xFFFF, self._ts, self._ssrc, payload, marker)
        self._seq += 1
        with contextlib.suppress(OSError):
            self._rtp.sendto(bytes(packet), self.call.remote_rtp)

    def send_audio(self, pcm: bytes) -> asyncio.Task[None]:
        """Send linear PCM (8 kHz, 16-bit) in real time, 20 ms packets; returns the task."""

        async def run() -> None:
            law = G711Law.PCMU if self.call.payload_type == 0 else G711Law.PCMA
            loop = asyncio.get_running_loop()
            begin = loop.time()
            for n, start in enumerate(range(0, len(pcm) - 319, 320)):
                self._send_packet(encode(law, pcm[start : start + 320]), self.call.payload_type)
                self._ts += 160
                # paced on absolute times, like a phone's sound card clock
                await asyncio.sleep(max(0.0, begin + (n + 1) * 0.02 - loop.time()))

        self._stop_sending()
        self._sending = asyncio.get_running_loop().create_task(run())
        return self._sending

    def send_rfc4733(self, digits: str) -> asyncio.Task[None]:
        """Press ``digits`` as RFC 4733 telephone events (100 ms each, 100 ms apart)."""

        async def run() -> None:
            pt = self.call.telephone_event or 101
            sender = DtmfSender(pt)
            for digit in digits:
                packets = sender.packets(
                    digit, 100, timestamp=self._ts, sequence_number=self._seq, ssrc=self._ssrc
                )
                self._seq += len(packets)
                sent_at = 0.0
                for scheduled in packets:
                    if scheduled.offset > sent_at:
                        await asyncio.sleep(scheduled.offset - sent_at)
                        sent_at = scheduled.offset
                    self._send_raw(bytes(scheduled.packet))
                self._ts += 1600
                await asyncio.sleep(0.1)

        return asyncio.get_running_loop().create_task(run())

    def _send_raw(self, data: bytes) -> None:
        if self._rtp is not None and self.call.remote_rtp is not None:
            with contextlib.suppress(OSError):
                self._rtp.sendto(data, self.call.remote_rtp)

    def _stop_sending(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None
