"""RTP port pairs from a configured range: an even port for RTP and the next odd one for RTCP.

The allocator binds the sockets itself, because the only reliable test that a port is free is
binding it: a port some other program holds is skipped and tried again on a later allocation.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
from dataclasses import dataclass

# Errors meaning "this port is taken (or forbidden), another may work"; anything else (an address
# the host does not have, say) would fail on every port, so it is reported at once.
_PORT_TAKEN = frozenset({errno.EADDRINUSE, errno.EACCES})
# Created non-blocking where the platform can (one system call less per socket, two per call).
_NONBLOCKING_DGRAM = socket.SOCK_DGRAM | getattr(socket, "SOCK_NONBLOCK", 0)


class PortAllocationError(Exception):
    """No RTP port pair can be handed out; the message says why."""


class PortRangeError(PortAllocationError, ValueError):
    """The configured port range cannot hold a single RTP/RTCP pair."""


class PortsExhaustedError(PortAllocationError):
    """Every pair in the range is allocated or held by another program."""


@dataclass(frozen=True, slots=True)
class PortPair:
    """Two bound, non-blocking UDP sockets: RTP on ``port`` (even), RTCP on ``port + 1``."""

    port: int
    rtp: socket.socket
    rtcp: socket.socket

    @property
    def rtcp_port(self) -> int:
        return self.port + 1

    def close(self) -> None:
        """Close both sockets (the allocator still counts the pair until it is released)."""
        self.rtp.close()
        self.rtcp.close()


class PortAllocator:
    """Hands out RTP/RTCP port pairs from ``low``-``high`` (inclusive).

    The search goes round the range from just after the last pair handed out, so a released
    pair is reused only once the others have had their turn: a late packet of a finished call
    then rarely reaches the next one.
    """

    def __init__(self, low: int, high: int) -> None:
        if not 1 <= low <= 65535 or not 1 <= high <= 65535:
            raise PortRangeError(f"port range {low}-{high} is outside 1-65535")
        first = low + (low & 1)
        if first + 1 > high:
            raise PortRangeError(
                f"port range {low}-{high} holds no even RTP port with its RTCP port above it"
            )
        self.low = low
        self.high = high
        self._first = first
        self._pairs = (high - first + 1) // 2
        self._allocated: set[int] = set()
        self._cursor = 0  # index of the pair the next search starts from

    @property
    def capacity(self) -> int:
        """How many pairs the range holds."""
        return self._pairs

    @property
    def in_use(self) -> int:
        """How many pairs are handed out and not yet released."""
        return len(self._allocated)

    def is_allocated(self, port: int) -> bool:
        return port in self._allocated

    def allocate(self, host: str) -> PortPair:
        """Bind the next free pair on ``host`` (an IP literal). Raises ``PortsExhaustedError``
        when none is left and ``PortAllocationError`` when ``host`` cannot be bound at all."""
        family = _family(host)
        busy = 0
        for step in range(self._pairs):
            index = (self._cursor + step) % self._pairs
            port = self._first + 2 * index
            if port in self._allocated:
                continue
            pair = _bind_pair(family, host, port)
            if pair is None:
                busy += 1
                continue
            self._allocated.add(port)
            self._cursor = (index + 1) % self._pairs
            return pair
        raise PortsExhaustedError(
            f"no free RTP port pair in {self.low}-{self.high}: {len(self._allocated)} of "
            f"{self._pairs} allocated, {busy} held by other programs"
        )

    def release(self, port: int) -> None:
        """Return a pair to the range. Raises ``PortAllocationError`` for a port not handed out."""
        if port not in self._allocated:
            raise PortAllocationError(f"RTP port {port} is not allocated, cannot release it")
        self._allocated.remove(port)


@functools.lru_cache(maxsize=64)
def _family(host: str) -> socket.AddressFamily:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise PortAllocationError(f"media host must be an IP address, got {host!r}") from None
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def _bind_pair(family: socket.AddressFamily, host: str, port: int) -> PortPair | None:
    """Both sockets bound, or None if either port is taken."""
    rtp = _bind(family, host, port)
    if rtp is None:
        return None
    try:
        rtcp = _bind(family, host, port + 1)
    except BaseException:
        rtp.close()
        raise
    if rtcp is None:
        rtp.close()
        return None
    return PortPair(port, rtp, rtcp)


def _bind(family: socket.AddressFamily, host: str, port: int) -> socket.socket | None:
    sock = socket.socket(family, _NONBLOCKING_DGRAM)
    try:
        # No SO_REUSEADDR: on UDP it would let two programs share a port silently.
        sock.bind((host, port))
        if _NONBLOCKING_DGRAM == socket.SOCK_DGRAM:
            sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno in _PORT_TAKEN:
            return None
        raise PortAllocationError(f"cannot bind UDP {host} port {port}: {exc.strerror}") from exc
    except BaseException:
        sock.close()
        raise
    return sock
