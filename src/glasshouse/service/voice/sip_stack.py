"""The SIP transaction layer on the event loop: messages from the transport go through the
transactions, transmissions go to the transport, timers run on the loop's clock, and what the
transaction user must see goes to its callback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from glasshouse.adapters.sip_net.transport import SipTransport
from glasshouse.protocols.sip.message import SipMessage, SipRequest, SipResponse
from glasshouse.protocols.sip.transaction import (
    LegacyBranchError,
    TransactionLayer,
    Transmit,
    TxEvent,
)

__all__ = ["SipStack"]

_log = logging.getLogger(__name__)

Address = tuple[str, int]
UserCallback = Callable[[TxEvent], None]


class SipStack:
    """Owns the transport and the transaction layer; ``user`` receives every non-transmit
    event (requests, ACKs, responses, timeouts, transport failures)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, user: UserCallback) -> None:
        self._loop = loop
        self._user = user
        self.layer = TransactionLayer()
        self.transport = SipTransport(loop, self._on_message)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def start(self, host: str, port: int) -> None:
        await self.transport.start(host, port)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.transport.close()

    @property
    def address(self) -> Address:
        return (self.transport.host, self.transport.port)

    # -- in ----------------------------------------------------------------------------------

    def _on_message(self, message: SipMessage, source: Address, reliable: bool) -> None:
        try:
            events = self.layer.receive(message, source, self._loop.time(), reliable=reliable)
        except LegacyBranchError as exc:
            if exc.response_hint is not None:
                self.transport.send(bytes(exc.response_hint.response()), source, reliable)
            return
        self._dispatch(events)

    def _dispatch(self, events: list[TxEvent]) -> None:
        for event in events:
            if isinstance(event, Transmit):
                self.transport.send(event.data, event.dest, event.reliable)
            else:
                try:
                    self._user(event)
                except Exception:
                    _log.exception("SIP user failed on %s", type(event).__name__)
        self._arm()

    def _arm(self) -> None:
        deadline = self.layer.next_deadline()
        if deadline is None:
            return
        if self._timer_at is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        self._dispatch(self.layer.advance(self._loop.time()))

    # -- out ---------------------------------------------------------------------------------

    def send_request(self, request: SipRequest, dest: Address, *, reliable: bool = False) -> str:
        """Start a client transaction; returns its id."""
        sent = self.layer.send_request(request, dest, self._loop.time(), reliable=reliable)
        self._dispatch(sent.events)
        return sent.tx_id

    def send_response(self, response: SipResponse) -> None:
        self._dispatch(self.layer.send_response(response, self._loop.time()))

    def send_ack(self, ack: SipRequest, dest: Address, *, reliable: bool = False) -> None:
        self._dispatch(self.layer.send_ack(ack, dest, reliable=reliable))
