"""SIP over UDP and TCP on real sockets: bytes in, parsed messages up; bytes out.

The transport parses each datagram (or frames the TCP stream) and hands the message to its
``on_message`` callback with the source address and whether it came reliably. A message that
does not parse is answered with the 4xx its :class:`ResponseHint` describes when the bytes were
an answerable request (``400 Bad Request`` with a ``Warning`` naming the problem) and dropped
otherwise; nothing a peer sends raises out of here (a last guard counts and logs defects in the
handler itself). Responses to a TCP request go back on the connection it came on; requests to a
TCP destination reuse a connection to it or open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from glasshouse.protocols.sip.message import SipMessage, SipStreamParser, parse_message
from glasshouse.protocols.sip.uri import SipParseError

__all__ = ["MessageHandler", "SipTransport", "TransportStats"]

_log = logging.getLogger(__name__)

Address = tuple[str, int]
MessageHandler = Callable[[SipMessage, Address, bool], None]

MAX_DATAGRAM: Final = 65_535
_READS_PER_WAKEUP: Final = 64
_TCP_IDLE_S: Final = 600.0
_MAX_TCP_CONNECTIONS: Final = 4096
_MAX_ERRORS_PER_READ: Final = 64
_PORT_ATTEMPTS: Final = 20


@dataclass(slots=True)
class TransportStats:
    received: int = 0
    sent: int = 0
    malformed: int = 0
    answered_malformed: int = 0
    handler_errors: int = 0
    send_errors: int = 0
    tcp_connections: int = 0


class SipTransport:
    """One UDP socket and one TCP listener on ``host:port``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_message: MessageHandler,
        *,
        agent: str = "glasshouse",
    ) -> None:
        self._loop = loop
        self._on_message = on_message
        self._agent = agent
        self._udp: socket.socket | None = None
        self._tcp_server: asyncio.base_events.Server | None = None
        self._connections: dict[Address, _TcpConnection] = {}
        self.stats = TransportStats()
        self.host = ""
        self.port = 0

    async def start(self, host: str, port: int, *, tcp: bool = True) -> None:
        """Bind UDP (and TCP) on ``host:port``; port 0 picks a free port, the same for both
        (a port free for UDP but taken for TCP is given back and another one tried)."""
        for attempt in range(_PORT_ATTEMPTS if port == 0 else 1):
            try:
                await self._start(host, port, tcp=tcp)
                return
            except OSError:
                if port != 0 or attempt == _PORT_ATTEMPTS - 1:
                    raise

    async def _start(self, host: str, port: int, *, tcp: bool) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            udp.bind((host, port))
            udp.setblocking(False)
        except OSError:
            udp.close()
            raise
        self._udp = udp
        self.host, self.port = udp.getsockname()[:2]
        self._loop.add_reader(udp.fileno(), self._read_udp)
        if tcp:
            try:
                self._tcp_server = await self._loop.create_server(
                    lambda: _TcpConnection(self, None), host, self.port, reuse_address=True
                )
            except OSError:
                self.close()
                raise

    def close(self) -> None:
        if self._udp is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            self._tcp_server = None
        for conn in list(self._connections.values()):
            conn.close()
        self._connections.clear()

    # -- receiving ---------------------------------------------------------------------------

    def _read_udp(self) -> None:
        udp = self._udp
        if udp is None:
            return
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, addr = udp.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.stats.send_errors += 1  # an ICMP error reported on the socket
                return
            self.datagram(data, (addr[0], addr[1]))

    def datagram(self, data: bytes, source: Address) -> None:
        """Handle one received datagram (also the entry point for tests and replays)."""
        if not data.strip(b"\r\n"):
            return  # a keep-alive (RFC 5626 CRLF ping)
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self._malformed(exc, source, None)
            return
        self._deliver(message, source, False)

    def _deliver(self, message: SipMessage, source: Address, reliable: bool) -> None:
        self.stats.received += 1
        try:
            self._on_message(message, source, reliable)
        except Exception:
            self.stats.handler_errors += 1
            _log.exception("SIP handler failed on a message from %s:%d", *source)

    def _malformed(self, exc: SipParseError, source: Address, conn: _TcpConnection | None) -> None:
        self.stats.malformed += 1
        hint = exc.response_hint
        _log.info("malformed SIP from %s:%d: %s", source[0], source[1], exc.reason)
        if hint is None:
            return
        try:
            response = hint.response(agent=self._agent)
        except SipParseError:
            return
        self.stats.answered_malformed += 1
        if conn is not None:
            conn.write(bytes(response))
        else:
            self._sendto(bytes(response), source)

    # -- sending -----------------------------------------------------------------------------

    def send(self, data: bytes, dest: Address, reliable: bool) -> None:
        """Write ``data`` to ``dest`` over UDP, or over TCP when ``reliable``."""
        if not reliable:
            self._sendto(data, dest)
            return
        conn = self._connections.get(dest)
        if conn is not None and not conn.closed:
            conn.write(data)
            self.stats.sent += 1
            return
        self._loop.create_task(self._connect_and_send(data, dest))

    def _sendto(self, data: bytes, dest: Address) -> None:
        udp = self._udp
        if udp is None:
            return
        try:
            udp.sendto(data, dest)
            self.stats.sent += 1
        except OSError:
            self.stats.send_errors += 1

    async def _connect_and_send(self, data: bytes, dest: Address) -> None:
        try:
            _, protocol = await asyncio.wait_for(
                self._loop.create_connection(lambda: _TcpConnection(self, dest), *dest), 5.0
            )
        except (OSError, TimeoutError):
            self.stats.send_errors += 1
            return
        protocol.write(data)
        self.stats.sent += 1

    def _register(self, conn: _TcpConnection, peer: Address) -> bool:
        if len(self._connections) >= _MAX_TCP_CONNECTIONS:
            return False
        self._connections[peer] = conn
        self.stats.tcp_connections += 1
        return True

    def _forget(self, conn: _TcpConnection) -> None:
        if conn.peer is not None and self._connections.get(conn.peer) is conn:
            del self._connections[conn.peer]


class _TcpConnection(asyncio.Protocol):
    def __init__(self, owner: SipTransport, peer: Address | None) -> None:
        self._owner = owner
        self.peer = peer
        self._parser = SipStreamParser()
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        name: Any = transport.get_extra_info("peername")
        self.peer = (name[0], name[1]) if name else self.peer
        if self.peer is None or not self._owner._register(self, self.peer):
            transport.close()
            return
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self._owner._loop.call_later(_TCP_IDLE_S, self.close)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            return
        self._touch()
        for _ in range(_MAX_ERRORS_PER_READ):
            try:
                messages = self._parser.feed(data)
            except SipParseError as exc:
                self._owner._malformed(exc, self.peer, self)
                if self._parser.failed:
                    self.close()
                    return
                data = b""
                continue
            for message in messages:
                self._owner._deliver(message, self.peer, True)
            return
        self.close()  # a stream of nothing but errors

    def write(self, data: bytes) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        if self._transport is not None:
            self._transport.close()
        self._owner._forget(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._idle is not None:
            self._idle.cancel()
        self._owner._forget(self)
