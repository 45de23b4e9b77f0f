"""RTP and RTCP packets (RFC 3550): parse from bytes, serialise with ``bytes()``.

Also the 16-bit sequence number arithmetic and the receiver statistics (RFC 3550 A.1, A.3 and
A.8) that an RTCP report block carries.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

RTP_VERSION = 2

_RTP_HEADER = struct.Struct("!BBHII")
_WORD = struct.Struct("!I")
_EXTENSION_HEADER = struct.Struct("!HH")
_RTCP_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IQIII")
_REPORT_BLOCK = struct.Struct("!IIIIII")

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203

SDES_END = 0
SDES_CNAME = 1
SDES_NAME = 2
SDES_EMAIL = 3
SDES_PHONE = 4
SDES_LOC = 5
SDES_TOOL = 6
SDES_NOTE = 7
SDES_PRIV = 8


class RtpError(ValueError):
    """An RTP or RTCP packet cannot be parsed or serialised; the message says which field."""


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise RtpError(f"{name} {value} out of range 0-{maximum}")


# ---------------------------------------------------------------------------------------------
# Sequence number and timestamp arithmetic


def seq_add(seq: int, n: int) -> int:
    """``seq + n`` modulo 2**16."""
    return (seq + n) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance from ``b`` to ``a`` across the 16-bit wrap, in -32768..32767."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_gt(a: int, b: int) -> bool:
    """True if sequence number ``a`` comes after ``b`` (RFC 1982 serial number order)."""
    return 0 < (a - b) & 0xFFFF < 0x8000


def timestamp_diff(a: int, b: int) -> int:
    """Signed distance from RTP timestamp ``b`` to ``a`` across the 32-bit wrap."""
    return ((a - b + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


# ---------------------------------------------------------------------------------------------
# RTP


@dataclass(frozen=True, slots=True)
class HeaderExtension:
    """The RTP header extension: a 16-bit profile value and data in whole 32-bit words."""

    profile: int
    data: bytes = b""


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet. Mutable so that a relay can rewrite SSRC, sequence and timestamp."""

    payload_type: int = 0
    sequence_number: int = 0
    timestamp: int = 0
    ssrc: int = 0
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: HeaderExtension | None = None
    padding_size: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raises ``RtpError`` naming the first field that is wrong."""
        size = len(data)
        if size < 12:
            raise RtpError(f"RTP packet too short: {size} bytes, the fixed header needs 12")
        first, second, seq, timestamp, ssrc = _RTP_HEADER.unpack_from(data)
        if first == 0x80:  # version 2, no padding, no extension, no CSRC: the usual case
            return cls(second & 0x7F, seq, timestamp, ssrc, data[12:], second > 0x7F)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected 2")
        count = first & 0x0F
        pos = 12 + 4 * count
        if size < pos:
            raise RtpError(f"RTP packet truncated: {count} CSRCs need {pos} bytes, got {size}")
        csrc = struct.unpack_from(f"!{count}I", data, 12)
        extension = None
        if first & 0x10:
            if size < pos + 4:
                raise RtpError("RTP packet truncated inside the header extension")
            profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
            pos += 4
            end = pos + 4 * words
            if size < end:
                raise RtpError(
                    f"RTP header extension of {words} words needs {end} bytes, got {size}"
                )
            extension = HeaderExtension(profile, data[pos:end])
            pos = end
        padding = 0
        if first & 0x20:
            if size == pos:
                raise RtpError("RTP padding flag set but no bytes follow the header")
            padding = data[-1]
            if padding == 0:
                raise RtpError("RTP padding flag set but the padding count is 0")
            if padding > size - pos:
                raise RtpError(
                    f"RTP padding of {padding} bytes exceeds the {size - pos} bytes "
                    "after the header"
                )
        return cls(
            second & 0x7F,
            seq,
            timestamp,
            ssrc,
            data[pos : size - padding],
            second > 0x7F,
            csrc,
            extension,
            padding,
        )

    def __bytes__(self) -> bytes:
        pt = self.payload_type
        if not 0 <= pt <= 127:
            raise RtpError(f"payload_type {pt} out of range 0-127")
        second = pt | 0x80 if self.marker else pt
        csrc = self.csrc
        extension = self.extension
        padding = self.padding_size
        try:
            if not csrc and extension is None and not padding:
                return (
                    _RTP_HEADER.pack(0x80, second, self.sequence_number, self.timestamp, self.ssrc)
                    + self.payload
                )
            if len(csrc) > 15:
                raise RtpError(f"{len(csrc)} CSRCs, at most 15 fit in the header")
            first = 0x80 | len(csrc)
            if extension is not None:
                first |= 0x10
            if padding:
                _check_range("padding_size", padding, 255)
                first |= 0x20
            parts = [
                _RTP_HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)
            ]
            parts.extend(_WORD.pack(c) for c in csrc)
            if extension is not None:
                if len(extension.data) % 4:
                    raise RtpError(
                        f"header extension data of {len(extension.data)} bytes "
                        "is not a whole number of 32-bit words"
                    )
                words = len(extension.data) // 4
                _check_range("header extension length", words, 0xFFFF)
                parts.append(_EXTENSION_HEADER.pack(extension.profile, words))
                parts.append(extension.data)
            parts.append(self.payload)
            if padding:
                parts.append(bytes(padding - 1) + bytes((padding,)))
            return b"".join(parts)
        except struct.error as exc:
            raise RtpError(f"RTP header field out of range: {exc}") from None


def is_rtcp(data: bytes) -> bool:
    """Whether a datagram on a multiplexed RTP/RTCP port is RTCP (RFC 5761 section 4)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


# ---------------------------------------------------------------------------------------------
# RTCP


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics for one source, as carried in SR and RR packets."""

    ssrc: int
    fraction_lost: int = 0
    packets_lost: int = 0  # cumulative, signed 24-bit: duplicates can make it negative
    highest_sequence: int = 0  # extended: cycles << 16 | highest sequence number
    jitter: int = 0
    last_sr: int = 0
    delay_since_last_sr: int = 0

    def __bytes__(self) -> bytes:
        _check_range("fraction_lost", self.fraction_lost, 255)
        if not -0x80_0000 <= self.packets_lost <= 0x7F_FFFF:
            raise RtpError(f"packets_lost {self.packets_lost} does not fit in 24 signed bits")
        try:
            return _REPORT_BLOCK.pack(
                self.ssrc,
                self.fraction_lost << 24 | (self.packets_lost & 0xFF_FFFF),
                self.highest_sequence,
                self.jitter,
                self.last_sr,
                self.delay_since_last_sr,
            )
        except struct.error as exc:
            raise RtpError(f"report block field out of range: {exc}") from None

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        ssrc, lost_word, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        lost = lost_word & 0xFF_FFFF
        if lost & 0x80_0000:
            lost -= 0x100_0000
        return cls(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class RtcpSenderReport:
    """SR (PT 200): sender information and report blocks."""

    ssrc: int
    ntp_timestamp: int = 0  # 64-bit NTP format: seconds << 32 | fraction
    rtp_timestamp: int = 0
    packet_count: int = 0
    octet_count: int = 0
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific, whole 32-bit words

    def __bytes__(self) -> bytes:
        try:
            body = _SENDER_INFO.pack(
                self.ssrc,
                self.ntp_timestamp,
                self.rtp_timestamp,
                self.packet_count,
                self.octet_count,
            )
        except struct.error as exc:
            raise RtpError(f"sender report field out of range: {exc}") from None
        body += b"".join(bytes(r) for r in self.reports) + self.extension
        return _rtcp_packet(RTCP_SR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class RtcpReceiverReport:
    """RR (PT 201): report blocks from a participant that is not sending."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    def __bytes__(self) -> bytes:
        try:
            head = _WORD.pack(self.ssrc)
        except struct.error as exc:
            raise RtpError(f"receiver report field out of range: {exc}") from None
        body = head + b"".join(bytes(r) for r in self.reports) + self.extension
        return _rtcp_packet(RTCP_RR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class SdesItem:
    """One SDES item: its type (``SDES_CNAME``...) and raw value (UTF-8 text by RFC 3550)."""

    type: int
    value: bytes


@dataclass(frozen=True, slots=True)
class SdesChunk:
    ssrc: int
    items: tuple[SdesItem, ...] = ()


@dataclass(frozen=True, slots=True)
class RtcpSourceDescription:
    """SDES (PT 202): items such as the CNAME, per source."""

    chunks: tuple[SdesChunk, ...] = ()

    def __bytes__(self) -> bytes:
        parts = []
        for chunk in self.chunks:
            try:
                encoded = bytearray(_WORD.pack(chunk.ssrc))
            except struct.error as exc:
                raise RtpError(f"SDES chunk field out of range: {exc}") from None
            for item in chunk.items:
                _check_range("SDES item type", item.type, 255)
                if item.type == SDES_END:
                    raise RtpError("SDES item type 0 is the end marker, not an item")
                if len(item.value) > 255:
                    raise RtpError(f"SDES item of {len(item.value)} bytes, at most 255 fit")
                encoded += bytes((item.type, len(item.value))) + item.value
            # At least one null octet ends the item list and pads the chunk to a word boundary.
            encoded += bytes(4 - len(encoded) % 4)
            parts.append(bytes(encoded))
        return _rtcp_packet(RTCP_SDES, len(self.chunks), b"".join(parts))


@dataclass(frozen=True, slots=True)
class RtcpBye:
    """BYE (PT 203): the sources leave, optionally with a reason."""

    sources: tuple[int, ...] = ()
    reason: bytes | None = None

    def __bytes__(self) -> bytes:
        try:
            body = b"".join(_WORD.pack(s) for s in self.sources)
        except struct.error as exc:
            raise RtpError(f"BYE source out of range: {exc}") from None
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtpError(f"BYE reason of {len(self.reason)} bytes, at most 255 fit")
            text = bytes((len(self.reason),)) + self.reason
            body += text + bytes(-len(text) % 4)
        return _rtcp_packet(RTCP_BYE, len(self.sources), body)


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """Any other RTCP packet (APP, feedback, XR): kept whole so a compound packet still parses."""

    packet_type: int
    count: int = 0
    body: bytes = b""

    def __bytes__(self) -> bytes:
        _check_range("RTCP packet type", self.packet_type, 255)
        return _rtcp_packet(self.packet_type, self.count, self.body)


RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSourceDescription | RtcpBye | RtcpUnknown


def _rtcp_packet(packet_type: int, count: int, body: bytes) -> bytes:
    if not 0 <= count <= 31:
        raise RtpError(f"RTCP count {count} out of range 0-31")
    if len(body) % 4:
        raise RtpError(f"RTCP body of {len(body)} bytes is not a whole number of 32-bit words")
    words = len(body) // 4
    if words > 0xFFFF:
        raise RtpError(f"RTCP packet of {words + 1} words is too long")
    return _RTCP_HEADER.pack(0x80 | count, packet_type, words) + body


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """A compound RTCP packet: the packets' bytes one after another."""
    return b"".join(bytes(p) for p in packets)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet. Padding, allowed on the last packet only, is dropped."""
    packets: list[RtcpPacket] = []
    pos = 0
    size = len(data)
    if size == 0:
        raise RtpError("empty RTCP packet")
    while pos < size:
        index = len(packets) + 1
        if size - pos < 4:
            raise RtpError(f"RTCP packet {index} truncated: {size - pos} bytes, header needs 4")
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, pos)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTCP packet {index}: version {first >> 6}, expected 2")
        end = pos + 4 + 4 * words
        if end > size:
            raise RtpError(
                f"RTCP packet {index} ({packet_type}) claims {end - pos} bytes, "
                f"only {size - pos} remain"
            )
        body = data[pos + 4 : end]
        if first & 0x20:
            if end != size:
                raise RtpError(f"RTCP packet {index}: padding is allowed on the last packet only")
            padding = body[-1] if body else 0
            if padding == 0 or padding > len(body):
                raise RtpError(f"RTCP packet {index}: bad padding count {padding}")
            body = body[:-padding]
        packets.append(_parse_rtcp_body(index, packet_type, first & 0x1F, body))
        pos = end
    return packets


def _parse_rtcp_body(index: int, packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RTCP_SR:
        need = 24 + 24 * count
        if len(body) < need:
            raise RtpError(
                f"RTCP packet {index} (SR) with {count} report blocks needs {need + 4} bytes, "
                f"got {len(body) + 4}"
            )
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        reports = tuple(ReportBlock.parse(body, 24 + 24 * i) for i in range(count))
        return RtcpSenderReport(ssrc, ntp, rtp_ts, packets, octets, reports, body[need:])
    if packet_type == RTCP_RR:
        need = 4 + 24 * count
        if len(body) < need:
            raise RtpError(
                f"RTCP packet {index} (RR) with {count} report blocks needs {need + 4} bytes, "
                f"got {len(body) + 4}"
            )
        (ssrc,) = _WORD.unpack_from(body)
        reports = tuple(ReportBlock.parse(body, 4 + 24 * i) for i in range(count))
        return RtcpReceiverReport(ssrc, reports, body[need:])
    if packet_type == RTCP_SDES:
        return RtcpSourceDescription(_parse_sdes_chunks(index, count, body))
    if packet_type == RTCP_BYE:
        if len(body) < 4 * count:
            raise RtpError(f"RTCP packet {index} (BYE) too short for {count} sources")
        sources = struct.unpack_from(f"!{count}I", body)
        reason = None
        pos = 4 * count
        if pos < len(body):
            length = body[pos]
            if pos + 1 + length > len(body):
                raise RtpError(f"RTCP packet {index} (BYE): reason of {length} bytes is truncated")
            reason = body[pos + 1 : pos + 1 + length]
        return RtcpBye(sources, reason)
    return RtcpUnknown(packet_type, count, body)


def _parse_sdes_chunks(index: int, count: int, body: bytes) -> tuple[SdesChunk, ...]:
    chunks = []
    pos = 0
    for number in range(1, count + 1):
        where = f"RTCP packet {index} (SDES) chunk {number}"
        if pos + 4 > len(body):
            raise RtpError(f"{where} is missing")
        (ssrc,) = _WORD.unpack_from(body, pos)
        start = pos
        pos += 4
        items: list[SdesItem] = []
        while True:
            if pos >= len(body):
                raise RtpError(f"{where} has no end marker")
            item_type = body[pos]
            if item_type == SDES_END:
                pos += 1
                break
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise RtpError(f"{where}: item {len(items) + 1} is truncated")
            length = body[pos + 1]
            items.append(SdesItem(item_type, body[pos + 2 : pos + 2 + length]))
            pos += 2 + length
        pos += -(pos - start) % 4
        chunks.append(SdesChunk(ssrc, tuple(items)))
    return tuple(chunks)


# ---------------------------------------------------------------------------------------------
# Receiver statistics

_MAX_DROPOUT = 3000
_MAX_MISORDER = 100
_SEQ_MOD = 1 << 16


class SequenceTracker:
    """Reception statistics for one SSRC: RFC 3550 A.1 (sequence validation, probation and
    resynchronisation), A.3 (expected and lost, per interval) and A.8 (interarrival jitter).

    ``arrival`` is the local receive time in seconds; the tracker never reads a clock.
    """

    __slots__ = (
        "_bad_seq",
        "_base_seq",
        "_clock_rate",
        "_cycles",
        "_expected_prior",
        "_jitter",
        "_last_arrival",
        "_last_timestamp",
        "_max_seq",
        "_min_sequential",
        "_probation",
        "_received",
        "_received_prior",
        "_started",
    )

    def __init__(self, clock_rate: int = 8000, min_sequential: int = 2) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        if min_sequential < 1:
            raise ValueError(f"min_sequential must be at least 1, got {min_sequential}")
        self._clock_rate = clock_rate
        self._min_sequential = min_sequential
        self._started = False
        self._probation = 0
        self._max_seq = 0
        self._cycles = 0
        self._base_seq = 0
        self._bad_seq = _SEQ_MOD + 1  # cannot match a 16-bit number
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_arrival = 0.0
        self._last_timestamp: int | None = None

    def _init_seq(self, seq: int) -> None:
        self._base_seq = seq
        self._max_seq = seq
        self._bad_seq = _SEQ_MOD + 1
        self._cycles = 0
        self._received = 0
        self._received_prior = 0
        self._expected_prior = 0

    def update(self, seq: int, timestamp: int, arrival: float) -> bool:
        """Account for one received packet. False while the source is on probation or when the
        sequence number jumped too far (a second consecutive packet after a jump resyncs)."""
        if not self._started:
            self._started = True
            self._init_seq(seq)
            self._max_seq = (seq - 1) & 0xFFFF
            self._probation = self._min_sequential
        valid = self._update_seq(seq)
        if valid:
            self._update_jitter(timestamp, arrival)
        return valid

    def _update_seq(self, seq: int) -> bool:
        # RFC 3550 A.1, transcribed.
        udelta = (seq - self._max_seq) & 0xFFFF
        if self._probation:
            if seq == (self._max_seq + 1) & 0xFFFF:
                self._probation -= 1
                self._max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self._received += 1
                    return True
            else:
                self._probation = self._min_sequential - 1
                self._max_seq = seq
            return False
        if udelta < _MAX_DROPOUT:
            if seq < self._max_seq:
                self._cycles += _SEQ_MOD
            self._max_seq = seq
        elif udelta <= _SEQ_MOD - _MAX_MISORDER:
            if seq == self._bad_seq:
                self._init_seq(seq)
                self._last_timestamp = None
            else:
                self._bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted as received
        self._received += 1
        return True

    def _update_jitter(self, timestamp: int, arrival: float) -> None:
        last = self._last_timestamp
        if last is not None:
            transit_change = (arrival - self._last_arrival) * self._clock_rate - timestamp_diff(
                timestamp, last
            )
            self._jitter += (abs(transit_change) - self._jitter) / 16.0
        self._last_timestamp = timestamp
        self._last_arrival = arrival

    @property
    def received(self) -> int:
        """Packets counted since the source was validated (duplicates included, per A.3)."""
        return self._received

    @property
    def extended_max_seq(self) -> int:
        return self._cycles + self._max_seq

    @property
    def expected(self) -> int:
        if not self._started or self._probation:
            return 0
        return self.extended_max_seq - self._base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost, clamped to the signed 24 bits of a report block."""
        return max(-0x80_0000, min(0x7F_FFFF, self.expected - self._received))

    @property
    def jitter(self) -> float:
        """Interarrival jitter estimate in timestamp units."""
        return self._jitter

    def report_block(
        self, ssrc: int, last_sr: int = 0, delay_since_last_sr: int = 0
    ) -> ReportBlock:
        """The report block for this source, and the start of a new reporting interval (the
        fraction lost covers the packets since the previous call)."""
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return ReportBlock(
            ssrc=ssrc,
            fraction_lost=fraction,
            packets_lost=self.lost,
            highest_sequence=self.extended_max_seq & 0xFFFF_FFFF,
            jitter=int(self._jitter),
            last_sr=last_sr,
            delay_since_last_sr=delay_since_last_sr,
        )
