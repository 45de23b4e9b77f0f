"""RTP sessions on UDP sockets, driven by one shared 20 ms media clock per process.

``MediaEngine`` owns the clock: every tick it pulls one payload from each session that sends on
its own (playing a source, sending DTMF, or keeping the line alive with silence) and sends it.
A tick costs a slice, a header and a ``sendto`` per session; there is no task or timer per
session, so one core carries hundreds of calls. Bridged sessions are not on the clock at all:
a packet arriving on one leg goes out on the other as it arrives.

Relaying has two paths. When nothing needs to look inside the audio (both legs in the same law,
the outgoing leg neither playing, holding nor sending DTMF, no audio listener such as a recorder),
a bridge is *pass-through*: the datagrams go out as they came, the far end's SSRC, numbering and
timing included, like a media proxy. A plain audio packet from the latched remote then costs a
few byte comparisons and one ``sendto``, no parse. Otherwise (transcoding, a listener, the
other leg playing, on hold or sending DTMF) packets take the full path, which re-stamps them
into the outgoing leg's own stream.

The wire formats and the RFC 4733 and RFC 3550 logic are the pure code in
``glasshouse.protocols.rtp``; this module owns the sockets, the clock and the callbacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import logging
import math
import secrets
import select
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from glasshouse.adapters.media.ports import PortAllocator, PortPair
from glasshouse.adapters.media.source import FRAME_SAMPLES, SAMPLE_RATE, AudioSource
from glasshouse.protocols.rtp.dtmf import (
    DtmfDigit,
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    digit_to_event,
)
from glasshouse.protocols.rtp.g711 import (
    PCMA_PAYLOAD_TYPE,
    PCMA_TO_PCMU,
    PCMU_PAYLOAD_TYPE,
    PCMU_TO_PCMA,
    G711Law,
    silence,
)
from glasshouse.protocols.rtp.packet import (
    SDES_CNAME,
    ReportBlock,
    RtcpBye,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpSourceDescription,
    RtpError,
    RtpPacket,
    SdesChunk,
    SdesItem,
    SequenceTracker,
    is_rtcp,
    parse_rtcp,
    seq_diff,
    seq_gt,
    serialize_rtcp,
    timestamp_diff,
)

__all__ = [
    "FRAME_SECONDS",
    "Address",
    "AudioListener",
    "BridgeError",
    "DtmfListener",
    "EngineStats",
    "InvalidRemoteError",
    "MediaEngine",
    "MediaError",
    "RtpSession",
    "SessionClosedError",
    "SessionStats",
    "bridge",
    "unbridge",
]

_log = logging.getLogger(__name__)

FRAME_SECONDS: Final = 0.02
_TS_MASK: Final = 0xFFFF_FFFF
_NTP_EPOCH: Final = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
# RFC 3550 A.1 limits: an incoming sequence jump beyond them is a new stream, not loss.
_MAX_DROPOUT: Final = 3000
_MAX_MISORDER: Final = 100
# RFC 4733 suggests updates every 50 ms; 40 ms is a whole number of ticks, so each update
# leaves on the tick it is due instead of drifting against the clock.
_DTMF_UPDATE_SECONDS: Final = 0.04
# How many times one tick follows ``on_done`` into a freshly started source that is already
# finished, before giving the tick to silence (a callback loop must not hang the clock).
_MAX_SOURCE_CHAIN: Final = 4
_MAX_READS_PER_WAKEUP: Final = 32
_RECEIVE_BUFFER: Final = 4096  # RTP of G.711 and RTCP fit many times over; more is truncated
_RTP_HEADER: Final = 12
_MAX_READS_PER_READY: Final = 8
_USE_EPOLL: Final = hasattr(select, "epoll")
_PLAIN_RTP_FIRST_BYTE: Final = 0x80  # version 2, no padding, no extension, no CSRC
# A locked stream whose remote sent nothing for this many ticks opens again to any source.
_LOCK_IDLE_TICKS: Final = 50

Address = tuple[str, int]
DtmfListener = Callable[[str], None]
AudioListener = Callable[[int, bytes, int], None]


class MediaError(Exception):
    """A media request cannot be carried out; the message says why."""


class InvalidRemoteError(MediaError, ValueError):
    """The remote media description (address, payload types) cannot be used."""


class SessionClosedError(MediaError):
    """The session (or its engine) is closed."""


class BridgeError(MediaError):
    """Two sessions cannot be bridged as asked."""


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Counters of one session. Every datagram received lands in exactly one of
    ``packets_in``, ``rtcp_in``, ``malformed`` and ``ignored``."""

    packets_out: int
    bytes_out: int  # whole RTP datagrams
    packets_in: int  # RTP packets accepted (negotiated payload type, well formed)
    bytes_in: int
    # RFC 3550 estimate (expected - received) over every source heard; packets passed through a
    # bridge untouched are not sequence-checked, and the estimate restarts after such a spell.
    lost: int
    malformed: int  # RTP, RTCP or telephone-event payloads that did not parse
    ignored: int  # well-formed RTP we do not use: payload type not negotiated, no remote yet
    latched: int  # times the sending address moved to where the peer's RTP comes from
    # Whether the RTP socket is connected to the remote: only its datagrams reach the session.
    locked: bool
    dtmf_in: int  # key presses received
    dtmf_out: int  # key presses sent
    rtcp_in: int
    rtcp_out: int
    socket_errors: int  # sends dropped because the socket refused them, failed receives
    remote_address: Address | None
    remote_report: ReportBlock | None  # what the peer last reported about our stream


@dataclass(frozen=True, slots=True)
class EngineStats:
    sessions: int
    sending: int  # sessions on the clock this tick (playing, DTMF or comfort silence)
    ticks: int
    ticks_skipped: int  # ticks dropped because the loop fell further behind than ``max_burst``


@dataclass(slots=True)
class _DtmfPress:
    digit: str
    duration_ms: int
    gap_ms: int
    done: asyncio.Future[None] | None  # set on the last press of a ``send_dtmf`` call


def _call(callback: Callable[..., object], *args: object) -> None:
    """Run an application callback; its failure is logged and stays out of the media path."""
    try:
        callback(*args)
    except Exception:
        _log.exception("media callback %r failed", callback)


def _check_ip(host: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        raise InvalidRemoteError(f"{what} must be an IP address, got {host!r}") from None


_libc: Any = None


def _disconnect(sock: Any) -> bool:
    """Dissolve a UDP socket's association (``connect`` with ``AF_UNSPEC``, which Python's
    ``socket.connect`` cannot express); False where that is not possible."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    if not _libc:
        return False
    unspec = (ctypes.c_ubyte * 16)()  # zeroed: sa_family AF_UNSPEC
    return int(_libc.connect(sock.fileno(), unspec, ctypes.sizeof(unspec))) == 0


def _ntp_now() -> int:
    return int((time.time() + _NTP_EPOCH) * 4_294_967_296) & 0xFFFF_FFFF_FFFF_FFFF


class MediaEngine:
    """Opens RTP sessions on ``host`` (an IP address) with ports from ``ports`` and drives them
    all from one 20 ms clock on ``loop``. Create one per process; use it from ``loop`` only.

    Sockets are watched with ``loop.add_reader``, so ``loop`` must be a selector loop (the
    default on Unix, and uvloop); datagram transports would add a queue and a call per packet.
    On Linux the engine keeps its own epoll set of every session's sockets and the loop watches
    that one descriptor: a wake-up then serves every port with a packet waiting, one datagram
    each (the set is level-triggered, so what is left is served at the next wake-up), instead
    of one loop callback per port and a read that fails with EAGAIN after each packet. At a
    few hundred calls that is most of the relay's cost.
    ``fast_relay=False`` makes every bridge re-stamp every packet (the baseline of benchmarks).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        ports: PortAllocator,
        *,
        rtcp_interval: float = 5.0,
        max_burst: int = 3,
        cname: str | None = None,
        fast_relay: bool = True,
    ) -> None:
        address = _check_ip(host, "media host")
        if max_burst < 1:
            raise ValueError(f"max_burst must be at least 1, got {max_burst}")
        if rtcp_interval < FRAME_SECONDS:
            raise ValueError(f"rtcp_interval must be at least {FRAME_SECONDS} s")
        self.host = host
        self._version = address.version
        self._loop = loop
        self._ports = ports
        self._max_burst = max_burst
        self.cname = cname if cname is not None else f"glasshouse-{secrets.token_hex(6)}"
        self._sessions: dict[RtpSession, None] = {}
        # Dicts as ordered sets: a tick visits sessions in a deterministic order, and a tick
        # walks a snapshot, so callbacks may add or drop sessions while it runs.
        self._senders: dict[RtpSession, None] = {}
        self._dtmf_waiting: dict[RtpSession, None] = {}
        # Reports are spread over the interval, a bucket of sessions per tick, so a thousand
        # calls set up together do not all report in the same tick.
        self._rtcp_buckets: list[dict[RtpSession, None]] = [
            {} for _ in range(max(1, round(rtcp_interval / FRAME_SECONDS)))
        ]
        self._next_bucket = 0
        self._origin = 0.0
        self._tick = 0
        self._timer: asyncio.TimerHandle | None = None
        self._ticks = 0
        self._ticks_skipped = 0
        self._closed = False
        self._fast_relay = fast_relay
        # fd -> the reader of one datagram (Linux); None where epoll is missing.
        self._epoll: Any = None
        self._ready_handlers: dict[int, Callable[[], bool]] = {}
        self._last_ready = 0.0
        # Sessions whose RTP socket is connected to their remote (see ``RtpSession._lock``).
        self._locked: dict[RtpSession, None] = {}
        if _USE_EPOLL:
            self._epoll = select.epoll()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def fast_relay(self) -> bool:
        """Whether bridges may pass packets through untouched (see the module docstring)."""
        return self._fast_relay

    @fast_relay.setter
    def fast_relay(self, enabled: bool) -> None:
        self._fast_relay = enabled
        for session in tuple(self._sessions):
            session._update_passthrough()

    @property
    def sessions(self) -> tuple[RtpSession, ...]:
        return tuple(self._sessions)

    @property
    def stats(self) -> EngineStats:
        return EngineStats(
            len(self._sessions), len(self._senders), self._ticks, self._ticks_skipped
        )

    async def open_session(self, *, on_dtmf: DtmfListener | None = None) -> RtpSession:
        """A new session on the next free port pair. Raises ``PortsExhaustedError`` when the
        range is full and ``SessionClosedError`` after ``close()``."""
        if self._closed:
            raise SessionClosedError("the media engine is closed")
        pair = self._ports.allocate(self.host)
        try:
            session = RtpSession(self, pair, on_dtmf)
            self._watch(pair, session)
        except BaseException:
            self._unwatch(pair)
            pair.close()
            self._ports.release(pair.port)
            raise
        self._sessions[session] = None
        bucket = self._rtcp_buckets[self._next_bucket]
        self._next_bucket = (self._next_bucket + 1) % len(self._rtcp_buckets)
        bucket[session] = None
        session._rtcp_bucket = bucket
        self._start_clock()
        return session

    def close(self) -> None:
        """Close every session (their ports go back to the allocator) and stop the clock."""
        self._closed = True
        for session in tuple(self._sessions):
            session.close()
        self._stop_clock()
        epoll = self._epoll
        if epoll is not None:
            self._epoll = None
            if self._ready_handlers:
                self._ready_handlers.clear()
            self._loop.remove_reader(epoll.fileno())
            epoll.close()

    # -- sockets ----------------------------------------------------------------------------

    def _watch(self, pair: PortPair, session: RtpSession) -> None:
        epoll = self._epoll
        if epoll is None:
            self._loop.add_reader(pair.rtp.fileno(), session._read_rtp)
            self._loop.add_reader(pair.rtcp.fileno(), session._read_rtcp)
            return
        if not self._ready_handlers:
            self._loop.add_reader(epoll.fileno(), self._on_ready)
        for sock, handler in (
            (pair.rtp, session._receive_rtp),
            (pair.rtcp, session._receive_rtcp),
        ):
            fd = sock.fileno()
            epoll.register(fd, select.EPOLLIN)
            self._ready_handlers[fd] = handler

    def _unwatch(self, pair: PortPair) -> None:
        epoll = self._epoll
        if epoll is None:
            self._loop.remove_reader(pair.rtp.fileno())
            self._loop.remove_reader(pair.rtcp.fileno())
            return
        for sock in (pair.rtp, pair.rtcp):
            fd = sock.fileno()
            if self._ready_handlers.pop(fd, None) is not None:
                with contextlib.suppress(OSError):
                    epoll.unregister(fd)
        if not self._ready_handlers:
            self._loop.remove_reader(epoll.fileno())

    def _on_ready(self) -> None:
        epoll = self._epoll
        if epoll is None:
            return
        handlers = self._ready_handlers
        try:
            ready = epoll.poll(0)
        except OSError:
            return
        # One datagram per port when wake-ups come often (a stream sends one every 20 ms, so
        # there is rarely a second, and looking for it costs a failed read). When the loop was
        # away longer, a port may hold several: take up to one per 20 ms elapsed, or a busy
        # loop would cap every stream at its wake-up rate.
        now = time.monotonic()
        gap = now - self._last_ready
        self._last_ready = now
        reads = min(_MAX_READS_PER_READY, int(gap / FRAME_SECONDS) + 1)
        for fd, _mask in ready:
            handler = handlers.get(fd)
            if handler is None:
                continue  # closed by an earlier handler of this wake-up
            try:
                for _ in range(reads):
                    if not handler():
                        break
            except Exception:
                _log.exception("datagram handling failed on descriptor %d", fd)

    # -- clock ------------------------------------------------------------------------------

    def media_timestamp(self, ts_base: int, now: float) -> int:
        """The RTP timestamp at loop time ``now`` of a stream whose tick 0 is ``ts_base``."""
        return (ts_base + round((now - self._origin) * SAMPLE_RATE)) & _TS_MASK

    def _start_clock(self) -> None:
        if self._timer is None:
            self._origin = self._loop.time()
            self._tick = 0
            self._timer = self._loop.call_at(self._origin, self._on_clock)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_clock(self) -> None:
        self._timer = None
        loop = self._loop
        now = loop.time()
        first = self._tick
        # Ticks are absolute times from the origin, so a late callback never shifts the rest.
        # asyncio may fire a timer up to its clock resolution early: the tick it was set for is
        # due by definition.
        last = max(first, int((now - self._origin) / FRAME_SECONDS + 1e-6))
        if last - first >= self._max_burst:
            # Far behind: send at most ``max_burst`` packets per session now and let the rest go
            # (the RTP timestamps jump with real time, which receivers treat as loss).
            self._ticks_skipped += last - first - self._max_burst + 1
            first = last - self._max_burst + 1
        try:
            for tick in range(first, last + 1):
                self._run_tick(tick, now)
        finally:
            self._tick = last + 1
            if self._sessions and not self._closed and self._timer is None:
                self._timer = loop.call_at(
                    self._origin + self._tick * FRAME_SECONDS, self._on_clock
                )

    def _run_tick(self, tick: int, now: float) -> None:
        self._ticks += 1
        for session in tuple(self._senders):
            try:
                session._on_tick(tick)
            except Exception:
                _log.exception("media tick failed on port %d; its source is stopped", session.port)
                session._abandon_source()
        bucket = self._rtcp_buckets[tick % len(self._rtcp_buckets)]
        for session in tuple(bucket):
            try:
                session._send_report(now)
            except Exception:
                _log.exception("RTCP report failed on port %d", session.port)
        for session in tuple(self._dtmf_waiting):
            session._poll_dtmf(now)
        if tick % _LOCK_IDLE_TICKS == 0 and self._locked:
            for session in tuple(self._locked):
                if session._packets_in == session._lock_seen:
                    session._unlock()
                else:
                    session._lock_seen = session._packets_in

    # -- session bookkeeping ----------------------------------------------------------------

    def _set_sending(self, session: RtpSession, sending: bool) -> None:
        if sending:
            self._senders[session] = None
        else:
            self._senders.pop(session, None)

    def _forget(self, session: RtpSession) -> None:
        self._sessions.pop(session, None)
        self._locked.pop(session, None)
        self._senders.pop(session, None)
        self._dtmf_waiting.pop(session, None)
        if session._rtcp_bucket is not None:
            session._rtcp_bucket.pop(session, None)
        self._unwatch(session._pair)
        session._pair.close()
        self._ports.release(session.port)
        if not self._sessions:
            self._stop_clock()


class RtpSession:
    """One audio stream pair on a local port pair: what goes out (a source, DTMF, comfort
    silence, or the bridged leg's packets) and what comes in (audio listeners, DTMF).

    Created by ``MediaEngine.open_session``; use it from the engine's loop only. Sending starts
    once ``set_remote`` says where to; until then nothing is sent and RTP is ignored.
    """

    def __init__(
        self,
        engine: MediaEngine,
        pair: PortPair,
        on_dtmf: DtmfListener | None,
    ) -> None:
        self._engine = engine
        self._loop = engine.loop
        self._pair = pair
        self._sock = pair.rtp
        host, port = pair.rtp.getsockname()[:2]
        self.local_address: Address = (host, port)
        # SSRC, first sequence number and timestamp base from one read of the system's CSPRNG.
        random = int.from_bytes(secrets.token_bytes(10), "big")
        self.ssrc = random & _TS_MASK
        self._ssrc_bytes = self.ssrc.to_bytes(4, "big")
        # Random starting points (RFC 3550 5.1) make a stream hard to guess for an off-path
        # attacker and make restarted calls distinguishable.
        self._seq = (random >> 32) & 0xFFFF
        self._ts_base = random >> 48
        self._last_ts: int | None = None
        self._sdes = RtcpSourceDescription(
            (SdesChunk(self.ssrc, (SdesItem(SDES_CNAME, engine.cname.encode()),)),)
        )
        self._rtcp_bucket: dict[RtpSession, None] | None = None
        # Locking needs the engine's epoll set (the reader of the port is swapped) and a way
        # to dissolve the association again.
        self._may_lock = engine._epoll is not None
        self._locked = False
        self._lock_seen = 0

        # Where and what we send.
        self._remote: Address | None = None
        self._remote_rtcp: Address | None = None
        self._rtcp_mux = False
        self._payload_type = PCMU_PAYLOAD_TYPE
        self._telephone_event: int | None = None
        self._silence = silence(G711Law.PCMU)
        self._dtmf_sender: DtmfSender | None = None

        # What is going out.
        self._source: AudioSource | None = None
        self._on_done: Callable[[], None] | None = None
        self._held = False
        self._bridge: RtpSession | None = None
        # The bridged leg while packets arriving here may go out there untouched (pass-through).
        self._pass_to: RtpSession | None = None
        self._sending = False  # on the engine's clock
        self._marker_next = True  # the next local packet starts a talk spurt
        self._relayed = False  # the last packet out came from the bridged leg
        self._relay_synced = False
        self._relay_ssrc = 0
        self._relay_last_in = 0
        self._relay_seq_offset = 0
        self._relay_ts_offset = 0
        self._dtmf_queue: deque[_DtmfPress] = deque()
        self._dtmf_packets: deque[tuple[int, RtpPacket]] = deque()
        self._dtmf_press: _DtmfPress | None = None
        self._dtmf_next_tick = 0

        # What comes in.
        self.on_dtmf = on_dtmf
        self._audio_listeners: list[AudioListener] = []
        self._dtmf_receiver = DtmfReceiver(SAMPLE_RATE)
        self._rx_ssrc: int | None = None
        self._rx_tracker: SequenceTracker | None = None
        self._lost_before = 0
        self._last_sr = 0
        self._last_sr_arrival = 0.0
        self._remote_report: ReportBlock | None = None

        self._packets_out = 0
        self._bytes_out = 0
        self._octets_out = 0
        self._sent_since_report = False
        self._packets_in = 0
        self._bytes_in = 0
        self._malformed = 0
        self._ignored = 0
        self._latched = 0
        self._dtmf_in = 0
        self._dtmf_out = 0
        self._rtcp_in = 0
        self._rtcp_out = 0
        self._socket_errors = 0
        # Telephone events received before this loop time are not passed to a bridged leg
        # (they are still reported through on_dtmf).
        self.dtmf_quiet_until = 0.0

        self._closed = False

    def __repr__(self) -> str:
        return f"<RtpSession port={self.port} ssrc={self.ssrc:#010x} remote={self._remote}>"

    # -- description ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The local RTP port (RTCP is ``port + 1``)."""
        return self._pair.port

    @property
    def rtcp_port(self) -> int:
        return self._pair.rtcp_port

    @property
    def remote_address(self) -> Address | None:
        """Where RTP goes: the SDP address, or the one latched from the peer's packets."""
        return self._remote

    @property
    def payload_type(self) -> int:
        return self._payload_type

    @property
    def playing(self) -> bool:
        return self._source is not None

    @property
    def held(self) -> bool:
        return self._held

    @property
    def bridged_to(self) -> RtpSession | None:
        return self._bridge

    @property
    def passing_through(self) -> bool:
        """Whether packets arriving here go out on the bridged leg untouched (pass-through)."""
        return self._pass_to is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def packets_out(self) -> int:
        """RTP packets sent so far (``stats.packets_out`` without building the whole record)."""
        return self._packets_out

    @property
    def stats(self) -> SessionStats:
        tracker = self._rx_tracker
        return SessionStats(
            packets_out=self._packets_out,
            bytes_out=self._bytes_out,
            packets_in=self._packets_in,
            bytes_in=self._bytes_in,
            lost=self._lost_before + (tracker.lost if tracker is not None else 0),
            malformed=self._malformed,
            ignored=self._ignored,
            latched=self._latched,
            locked=self._locked,
            dtmf_in=self._dtmf_in,
            dtmf_out=self._dtmf_out,
            rtcp_in=self._rtcp_in,
            rtcp_out=self._rtcp_out,
            socket_errors=self._socket_errors,
            remote_address=self._remote,
            remote_report=self._remote_report,
        )

    # -- control ----------------------------------------------------------------------------

    def set_remote(
        self,
        addr: Address,
        payload_type: int,
        telephone_event_pt: int | None = None,
        *,
        rtcp_addr: Address | None = None,
    ) -> None:
        """Send to ``addr`` with G.711 ``payload_type`` (0 PCMU, 8 PCMA) and RFC 4733 events on
        ``telephone_event_pt`` (None: not negotiated), as the SDP exchange agreed. RTCP goes to
        ``rtcp_addr``, by default the port above ``addr``'s. Raises ``InvalidRemoteError``."""
        self._check_open()
        remote = self._check_address(addr, "remote RTP address")
        rtcp = (
            (remote[0], remote[1] + 1)
            if rtcp_addr is None
            else self._check_address(rtcp_addr, "remote RTCP address")
        )
        if payload_type == PCMU_PAYLOAD_TYPE:
            law = G711Law.PCMU
        elif payload_type == PCMA_PAYLOAD_TYPE:
            law = G711Law.PCMA
        else:
            raise InvalidRemoteError(
                f"payload type {payload_type} is not G.711 (0 for PCMU or 8 for PCMA)"
            )
        if telephone_event_pt is not None:
            if not 0 <= telephone_event_pt <= 127:
                raise InvalidRemoteError(
                    f"telephone-event payload type {telephone_event_pt} out of range 0-127"
                )
            if telephone_event_pt == payload_type:
                raise InvalidRemoteError(
                    f"telephone-event payload type {telephone_event_pt} is the audio payload type"
                )
        if remote[1] == 65535 and rtcp_addr is None:
            raise InvalidRemoteError("remote RTP port 65535 leaves no port above it for RTCP")
        if self._locked and remote != self._remote:
            self._unlock()
        self._remote = remote
        self._remote_rtcp = rtcp
        self._rtcp_mux = rtcp == remote
        self._payload_type = payload_type
        self._silence = silence(law)
        self._telephone_event = telephone_event_pt
        self._dtmf_sender = (
            None
            if telephone_event_pt is None
            else DtmfSender(telephone_event_pt, SAMPLE_RATE, update_interval=_DTMF_UPDATE_SECONDS)
        )
        if telephone_event_pt is None:
            self._cancel_dtmf()
        self._update_sending()

    def play(self, source: AudioSource, on_done: Callable[[], None] | None = None) -> None:
        """Play ``source`` from the next tick, replacing what was playing (whose ``on_done`` is
        not called). ``on_done`` runs once, when ``source`` finishes; it may call ``play``."""
        self._check_open()
        self._source = source
        self._on_done = on_done
        self._marker_next = True
        self._update_sending()

    def stop_playing(self) -> None:
        """Stop the source without calling its ``on_done``; silence (or the bridge) follows."""
        self._source = None
        self._on_done = None
        self._update_sending()

    def hold(self) -> None:
        """Stop sending RTP (the stream is sendonly from the peer's side, or inactive); receiving,
        RTCP and the playing source's position are kept. DTMF not yet sent is abandoned."""
        self._check_open()
        self._held = True
        self._cancel_dtmf()
        self._update_sending()

    def unhold(self) -> None:
        """Resume sending where ``hold`` stopped, with a new talk spurt."""
        self._check_open()
        if self._held:
            self._held = False
            self._marker_next = True
            self._relay_synced = False
            self._update_sending()

    def send_dtmf(
        self, digits: str, *, duration_ms: int = 100, gap_ms: int = 60
    ) -> asyncio.Future[None]:
        """Queue RFC 4733 key presses; audio pauses during each press. The future completes when
        the last end packet is sent (cancelled if the session holds or closes first). Raises
        ``DtmfError`` for a bad digit or duration, ``MediaError`` if telephone-event was not
        negotiated."""
        self._check_open()
        if self._dtmf_sender is None:
            raise MediaError("cannot send DTMF: the peer did not negotiate telephone-event")
        if not digits:
            raise DtmfError("no digits to send")
        for digit in digits:
            digit_to_event(digit)
        if not 20 <= duration_ms <= 8000:
            raise DtmfError(f"DTMF duration {duration_ms} ms out of range 20-8000")
        if not 0 <= gap_ms <= 10_000:
            raise DtmfError(f"DTMF gap {gap_ms} ms out of range 0-10000")
        done: asyncio.Future[None] = self._loop.create_future()
        last = len(digits) - 1
        for index, digit in enumerate(digits):
            self._dtmf_queue.append(
                _DtmfPress(digit, duration_ms, gap_ms, done if index == last else None)
            )
        self._update_sending()
        return done

    def add_audio_listener(self, listener: AudioListener) -> None:
        """Call ``listener(payload_type, payload, rtp_timestamp)`` for every audio packet
        received, in arrival order (no jitter buffering)."""
        self._audio_listeners.append(listener)
        self._update_passthrough()

    def remove_audio_listener(self, listener: AudioListener) -> None:
        """Stop calling ``listener``; a listener not added is ignored."""
        if listener in self._audio_listeners:
            self._audio_listeners.remove(listener)
            self._update_passthrough()

    def close(self) -> None:
        """Unbridge, say BYE over RTCP, close the sockets and give the ports back to the
        allocator. Closing twice does nothing."""
        if self._closed:
            return
        if self._bridge is not None:
            unbridge(self)
        if self._remote is not None:
            try:
                bye = serialize_rtcp((self._sdes, RtcpBye((self.ssrc,))))
                self._send_rtcp(bye)
            except Exception:
                _log.exception("RTCP BYE failed on port %d", self.port)
        self._closed = True
        self._source = None
        self._on_done = None
        self._cancel_dtmf()
        self._update_sending()
        self._engine._forget(self)
        # The listeners are usually the owner's bound methods: dropping them breaks the cycle
        # session -> owner -> session, so a closed session is freed at once, not by the
        # collector (whose full passes grow with every call that waits for it).
        self.on_dtmf = None
        self._audio_listeners.clear()

    # -- internals: state -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(f"RTP session on port {self.port} is closed")

    def _check_address(self, addr: Address, what: str) -> Address:
        if not isinstance(addr, tuple) or len(addr) != 2:
            raise InvalidRemoteError(f"{what} must be a (host, port) pair, got {addr!r}")
        host, port = addr
        if not isinstance(host, str):
            raise InvalidRemoteError(f"{what}: host must be a string, got {host!r}")
        ip = _check_ip(host, what)
        if ip.version != self._engine._version:
            raise InvalidRemoteError(
                f"{what} {host} is IPv{ip.version}, the media host is IPv{self._engine._version}"
            )
        if not isinstance(port, int) or not 1 <= port <= 65535:
            raise InvalidRemoteError(f"{what}: port {port!r} out of range 1-65535")
        return (str(ip), port)

    def _lock(self) -> None:
        """Connect the RTP socket to the remote, which has just sent from where we send to.

        From then on the kernel delivers only that remote's datagrams (strict RTP: a stranger
        cannot inject into or steer the stream), and the packet path uses ``recv``/``send``
        without converting addresses on every datagram. The engine opens the lock again once
        the remote has been silent for a second, so a phone whose NAT binding moves latches
        anew, and ``set_remote`` opens it for a new address."""
        remote = self._remote
        engine = self._engine
        fd = self._sock.fileno()
        if remote is None or self._closed or fd not in engine._ready_handlers:
            return
        try:
            self._sock.connect(remote)
        except OSError:
            self._may_lock = False
            return
        self._locked = True
        self._may_lock = False
        self._lock_seen = self._packets_in
        engine._ready_handlers[fd] = self._receive_locked
        engine._locked[self] = None

    def _unlock(self) -> None:
        """Accept datagrams from any source again (the next accepted one may latch)."""
        if not self._locked:
            return
        engine = self._engine
        engine._locked.pop(self, None)
        if not _disconnect(self._sock):
            _log.warning("port %d stays locked to %s: cannot disconnect", self.port, self._remote)
            return
        self._locked = False
        self._may_lock = not self._closed
        fd = self._sock.fileno()
        if fd in engine._ready_handlers:
            engine._ready_handlers[fd] = self._receive_rtp

    def _dtmf_busy(self) -> bool:
        return bool(self._dtmf_queue) or self._dtmf_press is not None

    def _update_sending(self) -> None:
        sending = (
            not self._closed
            and not self._held
            and self._remote is not None
            and (self._bridge is None or self._source is not None or self._dtmf_busy())
        )
        if sending != self._sending:
            self._sending = sending
            self._engine._set_sending(self, sending)
        self._update_passthrough()

    def _update_passthrough(self) -> None:
        """Decide again, for both directions of the bridge, whether packets may pass untouched.
        Runs on every change of state that matters, so the packet path only reads the result."""
        peer = self._bridge
        self._set_pass_to(peer if peer is not None and self._may_pass_to(peer) else None)
        if peer is not None:
            peer._set_pass_to(self if peer._may_pass_to(self) else None)

    def _may_pass_to(self, peer: RtpSession) -> bool:
        return (
            self._engine._fast_relay
            and not self._closed
            and not peer._closed
            and not self._audio_listeners
            and peer._remote is not None
            and not peer._held
            and peer._source is None
            and not peer._dtmf_busy()
            and peer._payload_type == self._payload_type
        )

    def _set_pass_to(self, peer: RtpSession | None) -> None:
        if peer is not None and self._pass_to is None:
            # Passed-through packets are not sequence-checked: close the statistics of the
            # stream so far, so that a later check starts afresh instead of counting the
            # packets that went by as lost.
            tracker = self._rx_tracker
            if tracker is not None:
                self._lost_before += tracker.lost
                self._rx_tracker = None
                self._rx_ssrc = None
        self._pass_to = peer

    def _cancel_dtmf(self) -> None:
        press = self._dtmf_press
        if press is not None and press.done is not None:
            press.done.cancel()
        for queued in self._dtmf_queue:
            if queued.done is not None:
                queued.done.cancel()
        self._dtmf_queue.clear()
        self._dtmf_packets.clear()
        self._dtmf_press = None

    def _abandon_source(self) -> None:
        self._source = None
        self._on_done = None
        self._update_sending()

    # -- internals: sending -----------------------------------------------------------------

    def _on_tick(self, tick: int) -> None:
        # Every sending session runs this 50 times a second: the common case is kept flat.
        remote = self._remote
        if not self._sending or remote is None:
            return
        if (self._dtmf_queue or self._dtmf_press is not None) and self._dtmf_tick(tick, remote):
            return
        source = self._source
        if source is None:
            payload = self._silence
        else:
            try:
                next_payload: bytes | None = source.next_payload(self._payload_type)
            except Exception:
                _log.exception("audio source %r failed on port %d", source, self.port)
                next_payload = None
            if next_payload is None:
                payload = self._after_source(source)
                remote = self._remote
                if not self._sending or remote is None:
                    return  # on_done closed, held or bridged the session
            else:
                payload = next_payload
        if self._relayed:
            ts, marker = self._timestamp(tick)
        else:
            ts = (self._ts_base + tick * FRAME_SAMPLES) & _TS_MASK
            marker = self._marker_next
            self._marker_next = False
            self._relay_synced = False
            self._last_ts = ts
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        packet = RtpPacket(self._payload_type, seq, ts, self.ssrc, payload, marker)
        self._send(bytes(packet), len(payload), remote)

    def _after_source(self, finished: AudioSource) -> bytes:
        """The payload for a tick whose source just finished: ``on_done`` runs and may start the
        next source, which then plays from this very tick."""
        source: AudioSource | None = finished
        for _ in range(_MAX_SOURCE_CHAIN):
            on_done = self._on_done
            self._source = None
            self._on_done = None
            if on_done is not None:
                _call(on_done)
            source = self._source
            if source is None or self._closed:
                break
            try:
                payload = source.next_payload(self._payload_type)
            except Exception:
                _log.exception("audio source %r failed on port %d", source, self.port)
                payload = None
            if payload is not None:
                return payload
        self._update_sending()
        return self._silence

    def _timestamp(self, tick: int) -> tuple[int, bool]:
        """The RTP timestamp of a local packet at ``tick`` and whether it starts a talk spurt."""
        ts = (self._ts_base + tick * FRAME_SAMPLES) & _TS_MASK
        marker = self._marker_next
        self._marker_next = False
        if self._relayed:
            # Relayed packets carried the other leg's timing, which drifts from ours: never let
            # our timestamps step backwards or repeat when we take over again.
            self._relayed = False
            marker = True
            last = self._last_ts
            if last is not None:
                gap = timestamp_diff(ts, last)
                if gap < FRAME_SAMPLES:
                    self._ts_base = (self._ts_base + FRAME_SAMPLES - gap) & _TS_MASK
                    ts = (self._ts_base + tick * FRAME_SAMPLES) & _TS_MASK
        self._relay_synced = False
        self._last_ts = ts
        return ts, marker

    def _send(self, data: bytes, payload_size: int, remote: Address) -> None:
        # A packet the kernel cannot take now is dropped and counted, never queued: a late
        # media packet is worthless.
        try:
            if self._locked:
                self._sock.send(data)
            else:
                self._sock.sendto(data, remote)
        except OSError:
            self._socket_errors += 1
            return
        self._packets_out += 1
        self._bytes_out += len(data)
        self._octets_out += payload_size
        self._sent_since_report = True

    def _dtmf_tick(self, tick: int, remote: Address) -> bool:
        """Send the DTMF packets due at ``tick``; True if the tick belongs to a press."""
        packets = self._dtmf_packets
        press = self._dtmf_press
        if press is None:
            sender = self._dtmf_sender
            if tick < self._dtmf_next_tick or sender is None:
                return False
            press = self._dtmf_queue.popleft()
            self._dtmf_press = press
            ts, _ = self._timestamp(tick)
            for scheduled in sender.packets(
                press.digit, press.duration_ms, timestamp=ts, sequence_number=0, ssrc=self.ssrc
            ):
                packets.append((tick + round(scheduled.offset / FRAME_SECONDS), scheduled.packet))
        while packets and packets[0][0] <= tick:
            _, packet = packets.popleft()
            # Numbered when sent, so the packets fit whatever else this stream sent meanwhile.
            packet.sequence_number = self._seq
            self._seq = (self._seq + 1) & 0xFFFF
            self._send(bytes(packet), len(packet.payload), remote)
        if not packets:
            self._dtmf_press = None
            self._dtmf_out += 1
            self._dtmf_next_tick = tick + max(1, math.ceil(press.gap_ms / 20))
            self._marker_next = True
            if press.done is not None and not press.done.done():
                press.done.set_result(None)
            if not self._dtmf_queue:
                self._update_sending()
        return True

    def _forward(self, data: bytes, in_telephone_event: int | None) -> None:
        """Send a datagram from the bridged leg as it came (pass-through); a telephone-event
        packet only gets this leg's payload type number."""
        remote = self._remote
        if remote is None:
            return
        if in_telephone_event is not None:
            out_type = self._telephone_event
            if out_type is None:
                return  # this leg has no RFC 4733: the digit cannot be passed on
            if out_type != in_telephone_event:
                data = bytes((data[0], (data[1] & 0x80) | out_type)) + data[2:]
        try:
            if self._locked:
                self._sock.send(data)
            else:
                self._sock.sendto(data, remote)
        except OSError:
            self._socket_errors += 1
            return
        self._packets_out += 1
        self._bytes_out += len(data)
        # Our own numbering must start a new talk spurt when the full path takes over again.
        self._relay_synced = False

    def _relay(self, packet: RtpPacket, in_payload_type: int, event: bool, now: float) -> None:
        """Send a packet that arrived on the bridged leg, re-stamped into this stream."""
        remote = self._remote
        if remote is None or self._held or self._closed or self._source is not None:
            return
        if self._dtmf_queue or self._dtmf_press is not None:
            return
        payload = packet.payload
        if event:
            out_type = self._telephone_event
            if out_type is None:
                return  # this leg has no RFC 4733: the digit cannot be passed on
        else:
            out_type = self._payload_type
            if in_payload_type != out_type:
                payload = payload.translate(
                    PCMU_TO_PCMA if in_payload_type == PCMU_PAYLOAD_TYPE else PCMA_TO_PCMU
                )
        in_seq = packet.sequence_number
        if (
            self._relay_synced
            and packet.ssrc == self._relay_ssrc
            and -_MAX_MISORDER < seq_diff(in_seq, self._relay_last_in) < _MAX_DROPOUT
        ):
            marker = packet.marker
            if seq_gt(in_seq, self._relay_last_in):
                self._relay_last_in = in_seq
        else:
            # A new incoming stream (or our own packets in between): map its numbering so that
            # ours continues from where it is, and mark the start of a talk spurt.
            ts_now = self._engine.media_timestamp(self._ts_base, now)
            last = self._last_ts
            if last is not None and timestamp_diff(ts_now, last) < FRAME_SAMPLES:
                ts_now = (last + FRAME_SAMPLES) & _TS_MASK
            self._relay_ts_offset = ts_now - packet.timestamp
            self._relay_seq_offset = self._seq - in_seq
            self._relay_ssrc = packet.ssrc
            self._relay_last_in = in_seq
            self._relay_synced = True
            marker = True
        seq = (in_seq + self._relay_seq_offset) & 0xFFFF
        ts = (packet.timestamp + self._relay_ts_offset) & _TS_MASK
        if seq_diff(seq, self._seq) >= 0:
            self._seq = (seq + 1) & 0xFFFF
        if self._last_ts is None or timestamp_diff(ts, self._last_ts) > 0:
            self._last_ts = ts
        self._relayed = True
        packet = RtpPacket(out_type, seq, ts, self.ssrc, payload, marker)
        self._send(bytes(packet), len(payload), remote)

    # -- internals: receiving ---------------------------------------------------------------

    def _read_rtp(self) -> None:
        # Without the engine's epoll set: several datagrams per wake-up saves the event loop a
        # round per packet; the bound keeps one flooded port from starving the rest.
        for _ in range(_MAX_READS_PER_WAKEUP):
            if not self._receive_rtp():
                return

    def _receive_rtp(self) -> bool:
        """Take one datagram from the RTP port; False when there was none (or the port failed).

        Every RTP datagram of every call comes through here, so the pass-through case is
        inline: a plain audio packet of the negotiated type from the latched remote goes out
        on the bridged leg as it came, with no parse and no further call."""
        try:
            data, addr = self._sock.recvfrom(_RECEIVE_BUFFER)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._socket_errors += 1
            return False
        peer = self._pass_to  # None once closed
        if (
            peer is not None
            and len(data) > _RTP_HEADER
            and data[0] == _PLAIN_RTP_FIRST_BYTE
            and data[1] & 0x7F == self._payload_type
            and addr == self._remote
            and data[8:12] != self._ssrc_bytes
        ):
            remote = peer._remote
            if remote is None:
                return True
            if self._may_lock:
                self._lock()
            self._packets_in += 1
            self._bytes_in += len(data)
            try:
                if peer._locked:
                    peer._sock.send(data)
                else:
                    peer._sock.sendto(data, remote)
            except OSError:
                peer._socket_errors += 1
                return True
            peer._packets_out += 1
            peer._bytes_out += len(data)
            peer._relay_synced = False
            return True
        if self._closed:
            return False
        try:
            self._on_rtp_datagram(data, addr)
        except Exception:
            # Parse errors are counted where they happen; this is the last guard that keeps
            # a defect in one packet's handling away from the event loop.
            self._malformed += 1
            _log.exception("datagram handling failed on port %d", self.port)
        return True

    def _receive_locked(self) -> bool:
        """``_receive_rtp`` for a locked port: every datagram comes from the remote."""
        try:
            data = self._sock.recv(_RECEIVE_BUFFER)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            # Also how an ICMP "port unreachable" for our last send surfaces on a connected
            # socket: counted, and the next read goes on.
            self._socket_errors += 1
            return False
        peer = self._pass_to
        if (
            peer is not None
            and len(data) > _RTP_HEADER
            and data[0] == _PLAIN_RTP_FIRST_BYTE
            and data[1] & 0x7F == self._payload_type
            and data[8:12] != self._ssrc_bytes
        ):
            remote = peer._remote
            if remote is None:
                return True
            self._packets_in += 1
            self._bytes_in += len(data)
            try:
                if peer._locked:
                    peer._sock.send(data)
                else:
                    peer._sock.sendto(data, remote)
            except OSError:
                peer._socket_errors += 1
                return True
            peer._packets_out += 1
            peer._bytes_out += len(data)
            peer._relay_synced = False
            return True
        if self._closed:
            return False
        try:
            self._on_rtp_datagram(data, self._remote)
        except Exception:
            self._malformed += 1
            _log.exception("datagram handling failed on port %d", self.port)
        return True

    def _read_rtcp(self) -> None:
        for _ in range(_MAX_READS_PER_WAKEUP):
            if not self._receive_rtcp():
                return

    def _receive_rtcp(self) -> bool:
        """Take one datagram from the RTCP port; False when there was none."""
        if self._closed:
            return False
        try:
            data, addr = self._pair.rtcp.recvfrom(_RECEIVE_BUFFER)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._socket_errors += 1
            return False
        try:
            self._on_rtcp_datagram(data, addr, muxed=False)
        except Exception:
            self._malformed += 1
            _log.exception("datagram handling failed on port %d", self.port + 1)
        return True

    def _on_rtp_datagram(self, data: bytes, addr: Any) -> None:
        if self._closed:
            return
        if is_rtcp(data):
            self._on_rtcp_datagram(data, addr, muxed=True)
            return
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            self._malformed += 1
            return
        remote = self._remote
        payload_type = packet.payload_type
        event = payload_type == self._telephone_event
        if (
            remote is None
            or packet.ssrc == self.ssrc
            or (payload_type != self._payload_type and not event)
        ):
            self._ignored += 1
            return
        now = self._loop.time()
        digits: list[DtmfDigit] = []
        if event:
            try:
                digits = self._dtmf_receiver.receive(packet, now)
            except DtmfError:
                self._malformed += 1
                return
        if addr[0] != remote[0] or addr[1] != remote[1]:
            # Symmetric RTP: the peer (or its NAT) sends from where it wants to receive.
            self._remote = (addr[0], addr[1])
            self._latched += 1
            if self._rtcp_mux:
                self._remote_rtcp = self._remote
        elif self._may_lock:
            self._lock()
        self._packets_in += 1
        self._bytes_in += len(data)
        if self._pass_to is None:
            tracker = self._rx_tracker
            if tracker is None or packet.ssrc != self._rx_ssrc:
                if tracker is not None:
                    self._lost_before += tracker.lost
                tracker = self._rx_tracker = SequenceTracker(SAMPLE_RATE)
                self._rx_ssrc = packet.ssrc
            tracker.update(packet.sequence_number, packet.timestamp, now)
        if event:
            for digit in digits:
                self._deliver_dtmf(digit)
            if self._dtmf_receiver.next_deadline() is not None:
                self._engine._dtmf_waiting[self] = None
        else:
            for listener in tuple(self._audio_listeners):
                _call(listener, payload_type, packet.payload, packet.timestamp)
        peer = self._bridge
        if peer is None or self._closed:
            return
        if event and now < self.dtmf_quiet_until:
            return  # the tail of a key pressed before the bridge (an IVR choice): not passed on
        if self._pass_to is peer:
            # Pass-through: whatever is accepted goes on as it came, so the far end sees one
            # stream (a packet with a header extension, the first one from a new address, DTMF).
            peer._forward(data, payload_type if event else None)
        else:
            peer._relay(packet, payload_type, event, now)

    def _deliver_dtmf(self, digit: DtmfDigit) -> None:
        self._dtmf_in += 1
        listener = self.on_dtmf
        if listener is not None:
            _call(listener, digit.digit)

    def _poll_dtmf(self, now: float) -> None:
        for digit in self._dtmf_receiver.poll(now):
            self._deliver_dtmf(digit)
        if self._dtmf_receiver.next_deadline() is None:
            self._engine._dtmf_waiting.pop(self, None)

    # -- internals: RTCP --------------------------------------------------------------------

    def _on_rtcp_datagram(self, data: bytes, addr: Any, *, muxed: bool) -> None:
        if self._closed:
            return
        try:
            packets = parse_rtcp(data)
        except RtpError:
            self._malformed += 1
            return
        self._rtcp_in += 1
        now = self._loop.time()
        for packet in packets:
            if isinstance(packet, RtcpSenderReport):
                self._last_sr = (packet.ntp_timestamp >> 16) & _TS_MASK
                self._last_sr_arrival = now
                self._note_reports(packet.reports)
            elif isinstance(packet, RtcpReceiverReport):
                self._note_reports(packet.reports)
        if self._remote is not None:
            if muxed:
                self._rtcp_mux = True
                self._remote_rtcp = self._remote
            elif not self._rtcp_mux:
                self._remote_rtcp = (addr[0], addr[1])

    def _note_reports(self, reports: tuple[ReportBlock, ...]) -> None:
        for block in reports:
            if block.ssrc == self.ssrc:
                self._remote_report = block

    def _send_report(self, now: float) -> None:
        if self._remote is None or self._closed:
            return
        blocks: tuple[ReportBlock, ...] = ()
        tracker = self._rx_tracker
        if tracker is not None and self._rx_ssrc is not None:
            dlsr = 0
            if self._last_sr:
                dlsr = int((now - self._last_sr_arrival) * 65536) & _TS_MASK
            blocks = (tracker.report_block(self._rx_ssrc, self._last_sr, dlsr),)
        report: RtcpPacket
        if self._sent_since_report:
            report = RtcpSenderReport(
                self.ssrc,
                _ntp_now(),
                self._engine.media_timestamp(self._ts_base, now),
                self._packets_out & _TS_MASK,
                self._octets_out & _TS_MASK,
                blocks,
            )
        else:
            report = RtcpReceiverReport(self.ssrc, blocks)
        self._sent_since_report = False
        self._send_rtcp(serialize_rtcp((report, self._sdes)))

    def _send_rtcp(self, data: bytes) -> None:
        if self._rtcp_mux:
            sock, remote = self._sock, self._remote
        else:
            sock, remote = self._pair.rtcp, self._remote_rtcp
        if remote is None:
            return
        try:
            sock.sendto(data, remote)
        except OSError:
            self._socket_errors += 1
            return
        self._rtcp_out += 1


def bridge(a: RtpSession, b: RtpSession) -> None:
    """Connect two legs: packets arriving on either go out on the other as they arrive, untouched
    while the bridge can pass them through, else transcoded between PCMU and PCMA and with DTMF
    events re-stamped. A leg playing a source or sending DTMF sends that instead until it
    finishes. Raises ``BridgeError``."""
    if a is b:
        raise BridgeError(f"cannot bridge the session on port {a.port} to itself")
    if a._engine is not b._engine:
        raise BridgeError("cannot bridge sessions of different media engines")
    a._check_open()
    b._check_open()
    for session, other in ((a, b), (b, a)):
        current = session._bridge
        if current is not None and current is not other:
            raise BridgeError(
                f"session on port {session.port} is already bridged to port {current.port}; "
                "unbridge it first"
            )
    a._bridge = b
    b._bridge = a
    for session in (a, b):
        session._relay_synced = False
        session._update_sending()


def unbridge(session: RtpSession) -> None:
    """Disconnect ``session`` from its bridged leg (if any); both go back to their own sources
    or comfort silence."""
    other = session._bridge
    if other is None:
        return
    for leg in (session, other):
        leg._bridge = None
        leg._marker_next = True
        leg._update_sending()
