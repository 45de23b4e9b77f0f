"""Classic pcap files of RTP streams: what sipp's ``play_pcap_audio`` sends, and a reader for tests.

Each packet is written as Ethernet II / IPv4 / UDP / RTP with correct lengths and checksums, one
record every ``ptime_ms`` (20 ms by default). sipp rewrites the UDP ports and addresses when it
plays a file (it keeps the RTP header as written), so the addresses here are placeholders.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glasshouse.protocols.rtp.dtmf import DEFAULT_PAYLOAD_TYPE, DtmfError, DtmfSender
from glasshouse.protocols.rtp.g711 import G711Law, decode, encode
from glasshouse.protocols.rtp.packet import RtpError, RtpPacket, seq_add
from glasshouse.testing.audio import tone_pcm

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
SNAPLEN = 65535
CLOCK_RATE = 8000

_GLOBAL_HEADER = struct.Struct("IHHiIII")
_RECORD_HEADER = struct.Struct("IIII")
_ETHERNET = struct.Struct("!6s6sH")
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_UDP = struct.Struct("!HHHH")
_ETHERTYPE_IPV4 = 0x0800
_IPPROTO_UDP = 17
# Locally administered unicast MACs: they can never clash with a real interface's address.
_SRC_MAC = bytes.fromhex("020000000001")
_DST_MAC = bytes.fromhex("020000000002")

Address = tuple[str, int]
DEFAULT_SRC: Address = ("10.0.0.1", 10000)
DEFAULT_DST: Address = ("10.0.0.2", 20000)


class PcapError(ValueError):
    """A pcap file cannot be written or read; the message names the record and the field."""


@dataclass(frozen=True, slots=True)
class TimedPacket:
    """An RTP packet and its capture time in seconds from the start of the file."""

    time: float
    packet: RtpPacket


@dataclass(frozen=True, slots=True)
class CapturedRtp:
    """One RTP packet read from a capture, with its UDP addresses and capture time (seconds)."""

    time: float
    src: Address
    dst: Address
    packet: RtpPacket


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip_bytes(host: str, what: str) -> bytes:
    parts = host.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise PcapError(f"{what} address {host!r} is not a dotted IPv4 address")
    return bytes(int(p) for p in parts)


def _port(port: int, what: str) -> int:
    if not 0 < port <= 0xFFFF:
        raise PcapError(f"{what} port {port} out of range 1-65535")
    return port


def udp_frame(src: Address, dst: Address, payload: bytes, ident: int = 0) -> bytes:
    """One Ethernet II frame carrying ``payload`` in IPv4/UDP, with both checksums computed."""
    src_ip, dst_ip = _ip_bytes(src[0], "source"), _ip_bytes(dst[0], "destination")
    sport, dport = _port(src[1], "source"), _port(dst[1], "destination")
    udp_length = _UDP.size + len(payload)
    total_length = _IPV4.size + udp_length
    if total_length > 0xFFFF:
        raise PcapError(f"UDP payload of {len(payload)} bytes does not fit in one IPv4 packet")
    pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_length)
    udp_sum = _checksum(pseudo + _UDP.pack(sport, dport, udp_length, 0) + payload)
    # A computed checksum of zero is sent as all ones: zero means "no checksum" (RFC 768).
    udp = _UDP.pack(sport, dport, udp_length, udp_sum or 0xFFFF) + payload
    header = _IPV4.pack(
        0x45, 0xB8, total_length, ident & 0xFFFF, 0, 64, _IPPROTO_UDP, 0, src_ip, dst_ip
    )
    ip_sum = _checksum(header)
    header = header[:10] + struct.pack("!H", ip_sum) + header[12:]
    return _ETHERNET.pack(_DST_MAC, _SRC_MAC, _ETHERTYPE_IPV4) + header + udp


def write_timed_packets(
    path: str | os.PathLike[str],
    packets: Iterable[TimedPacket],
    *,
    src: Address = DEFAULT_SRC,
    dst: Address = DEFAULT_DST,
    start: float = 1_600_000_000.0,
) -> int:
    """Write ``packets`` to a classic (microsecond, Ethernet) pcap file, each stamped ``start``
    plus its time; returns the number written. Raises ``PcapError`` for bad addresses or times."""
    records: list[bytes] = []
    for index, timed in enumerate(packets):
        if timed.time < 0:
            raise PcapError(f"packet {index}: negative time {timed.time}")
        try:
            frame = udp_frame(src, dst, bytes(timed.packet), ident=index)
        except RtpError as exc:
            raise PcapError(f"packet {index}: {exc}") from None
        micros = round((start + timed.time) * 1_000_000)
        seconds, micros = divmod(micros, 1_000_000)
        if not 0 <= seconds <= 0xFFFF_FFFF:
            raise PcapError(f"packet {index}: time {start + timed.time} does not fit in 32 bits")
        records.append(_RECORD_HEADER.pack(seconds, micros, len(frame), len(frame)) + frame)
    header = _GLOBAL_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    Path(path).write_bytes(header + b"".join(records))
    return len(records)


def write_rtp_pcap(
    path: str | os.PathLike[str],
    payloads: Iterable[bytes],
    payload_type: int,
    *,
    ptime_ms: int = 20,
    samples_per_packet: int | None = None,
    ssrc: int | None = None,
    first_sequence: int = 0,
    first_timestamp: int = 0,
    src: Address = DEFAULT_SRC,
    dst: Address = DEFAULT_DST,
) -> int:
    """Write one RTP stream, a packet per payload every ``ptime_ms``, the first with the marker
    bit; the RTP timestamp advances by ``samples_per_packet`` (8 kHz x ptime by default)."""
    if ptime_ms <= 0:
        raise PcapError(f"ptime_ms must be positive, got {ptime_ms}")
    step = CLOCK_RATE * ptime_ms // 1000 if samples_per_packet is None else samples_per_packet
    stream_ssrc = random.getrandbits(32) if ssrc is None else ssrc
    timed = (
        TimedPacket(
            index * ptime_ms / 1000,
            RtpPacket(
                payload_type,
                seq_add(first_sequence, index),
                (first_timestamp + index * step) & 0xFFFF_FFFF,
                stream_ssrc,
                payload,
                index == 0,
            ),
        )
        for index, payload in enumerate(payloads)
    )
    return write_timed_packets(path, timed, src=src, dst=dst)


def _law(law: G711Law | str) -> G711Law:
    try:
        return G711Law(law.upper())
    except ValueError:
        raise PcapError(f"unknown G.711 law {law!r}: use PCMU or PCMA") from None


def tone_pcap(
    path: str | os.PathLike[str],
    freq_hz: float,
    ms: int,
    law: G711Law | str = G711Law.PCMU,
    *,
    level_dbfs: float = -10.0,
    ptime_ms: int = 20,
    ssrc: int | None = None,
) -> int:
    """Write a G.711 sine of ``freq_hz`` lasting ``ms`` (whole packets) in 20 ms packets with the
    law's static payload type; returns the packet count."""
    chosen = _law(law)
    if not 0 < freq_hz < CLOCK_RATE / 2:
        raise PcapError(f"tone frequency {freq_hz} Hz must be between 0 and {CLOCK_RATE // 2}")
    if ms < ptime_ms:
        raise PcapError(f"tone of {ms} ms is shorter than one {ptime_ms} ms packet")
    codes = encode(chosen, tone_pcm(freq_hz, ms, CLOCK_RATE, level_dbfs))
    size = CLOCK_RATE * ptime_ms // 1000
    payloads = [codes[i : i + size] for i in range(0, len(codes) - size + 1, size)]
    return write_rtp_pcap(path, payloads, chosen.payload_type, ptime_ms=ptime_ms, ssrc=ssrc)


def dtmf_packets(
    digits: str,
    *,
    duration_ms: int = 100,
    gap_ms: int = 100,
    payload_type: int = DEFAULT_PAYLOAD_TYPE,
    ptime_ms: int = 20,
    end_packets: int = 3,
    ssrc: int | None = None,
    first_sequence: int = 0,
    first_timestamp: int = 0,
    volume: int = 10,
) -> list[TimedPacket]:
    """RFC 4733 packets for pressing each of ``digits`` for ``duration_ms`` with ``gap_ms``
    between presses: an update every ``ptime_ms``, then ``end_packets`` end packets
    ``ptime_ms`` apart. Raises ``PcapError`` naming a bad digit or duration."""
    if not digits:
        raise PcapError("no digits to send")
    if gap_ms < 0:
        raise PcapError(f"gap_ms must not be negative, got {gap_ms}")
    if ptime_ms <= 0:
        raise PcapError(f"ptime_ms must be positive, got {ptime_ms}")
    try:
        sender = DtmfSender(payload_type, CLOCK_RATE, ptime_ms / 1000, end_packets, volume)
    except ValueError as exc:
        raise PcapError(str(exc)) from None
    stream_ssrc = random.getrandbits(32) if ssrc is None else ssrc
    out: list[TimedPacket] = []
    sequence = first_sequence
    start_ms = 0
    for position, digit in enumerate(digits):
        timestamp = (first_timestamp + start_ms * CLOCK_RATE // 1000) & 0xFFFF_FFFF
        try:
            scheduled = sender.packets(
                digit, duration_ms, timestamp=timestamp, sequence_number=sequence, ssrc=stream_ssrc
            )
        except (DtmfError, RtpError) as exc:
            raise PcapError(f"digit {position + 1} of {digits!r}: {exc}") from None
        updates = len(scheduled) - end_packets
        for index, item in enumerate(scheduled):
            # The sender stamps all end packets with the same offset; spreading them one ptime
            # apart is what survives a short burst of loss on a real network.
            extra = max(0, index - updates) * ptime_ms / 1000
            out.append(TimedPacket(start_ms / 1000 + item.offset + extra, item.packet))
        sequence = seq_add(sequence, len(scheduled))
        start_ms += duration_ms + (end_packets - 1) * ptime_ms + gap_ms
    return out


def dtmf_pcap(
    path: str | os.PathLike[str],
    digits: str,
    *,
    duration_ms: int = 100,
    gap_ms: int = 100,
    payload_type: int = DEFAULT_PAYLOAD_TYPE,
    ssrc: int | None = None,
) -> int:
    """Write RFC 4733 telephone-events for ``digits`` (any of ``0-9*#A-D``) with payload type
    ``payload_type`` (101 by default), three end packets each; returns the packet count."""
    packets = dtmf_packets(
        digits, duration_ms=duration_ms, gap_ms=gap_ms, payload_type=payload_type, ssrc=ssrc
    )
    return write_timed_packets(path, packets)


# ---------------------------------------------------------------------------------------------
# Reading


def _header_format(magic: bytes) -> tuple[str, int]:
    for order in ("<", ">"):
        (value,) = struct.unpack(order + "I", magic)
        if value == PCAP_MAGIC_US:
            return order, 1_000_000
        if value == PCAP_MAGIC_NS:
            return order, 1_000_000_000
    raise PcapError(f"not a classic pcap file: magic {magic.hex()} (pcapng is not supported)")


def _ipv4_offset(linktype: int, frame: bytes, index: int) -> int | None:
    """Where the IPv4 header starts in a frame, or None if the frame carries something else."""
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
        return 0 if frame[:1] and frame[0] >> 4 == 4 else None
    if linktype == LINKTYPE_ETHERNET:
        offset = 12
    elif linktype == LINKTYPE_LINUX_SLL:
        offset = 14
    else:
        raise PcapError(f"unsupported link type {linktype}")
    if len(frame) < offset + 2:
        raise PcapError(f"record {index}: frame of {len(frame)} bytes has no link header")
    (ethertype,) = struct.unpack_from("!H", frame, offset)
    return offset + 2 if ethertype == _ETHERTYPE_IPV4 else None


def _dotted(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def read_rtp_pcap(
    path: str | os.PathLike[str], *, verify_checksums: bool = True
) -> list[CapturedRtp]:
    """The RTP packets of a classic pcap file, in file order; records that are not IPv4/UDP are
    skipped. Raises ``PcapError`` for a truncated file or record, a bad length or (with
    ``verify_checksums``) a wrong IPv4 or UDP checksum."""
    data = Path(path).read_bytes()
    if len(data) < _GLOBAL_HEADER.size:
        raise PcapError(f"file of {len(data)} bytes is shorter than the 24-byte pcap header")
    order, units = _header_format(data[:4])
    _magic, _major, _minor, _zone, _figs, _snaplen, linktype = struct.unpack_from(
        order + "IHHiIII", data
    )
    record = struct.Struct(order + "IIII")
    out: list[CapturedRtp] = []
    pos = _GLOBAL_HEADER.size
    first: float | None = None
    index = 0
    while pos < len(data):
        if pos + record.size > len(data):
            raise PcapError(f"record {index}: truncated record header at byte {pos}")
        seconds, fraction, captured, original = record.unpack_from(data, pos)
        pos += record.size
        if pos + captured > len(data):
            raise PcapError(f"record {index}: {captured} bytes announced, file ends first")
        if captured != original:
            raise PcapError(f"record {index}: truncated capture ({captured} of {original} bytes)")
        frame = data[pos : pos + captured]
        pos += captured
        stamp = seconds + fraction / units
        first = stamp if first is None else first
        packet = _parse_frame(linktype, frame, index, verify_checksums)
        if packet is not None:
            src, dst, payload = packet
            try:
                rtp = RtpPacket.parse(payload)
            except RtpError as exc:
                raise PcapError(f"record {index}: {exc}") from None
            out.append(CapturedRtp(stamp - first, src, dst, rtp))
        index += 1
    return out


def _parse_frame(
    linktype: int, frame: bytes, index: int, verify: bool
) -> tuple[Address, Address, bytes] | None:
    offset = _ipv4_offset(linktype, frame, index)
    if offset is None:
        return None
    if len(frame) < offset + _IPV4.size:
        raise PcapError(f"record {index}: IPv4 header truncated")
    version_ihl, _tos, total, _ident, _frag, _ttl, protocol, _sum, src_ip, dst_ip = (
        _IPV4.unpack_from(frame, offset)
    )
    header_length = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header_length < _IPV4.size:
        raise PcapError(f"record {index}: bad IPv4 version/header length byte {version_ihl:#x}")
    if protocol != _IPPROTO_UDP:
        return None
    if offset + total > len(frame) or total < header_length + _UDP.size:
        raise PcapError(f"record {index}: IPv4 total length {total} does not fit the frame")
    if verify and _checksum(frame[offset : offset + header_length]) != 0:
        raise PcapError(f"record {index}: wrong IPv4 header checksum")
    udp_start = offset + header_length
    sport, dport, udp_length, udp_sum = _UDP.unpack_from(frame, udp_start)
    if udp_length != total - header_length:
        raise PcapError(
            f"record {index}: UDP length {udp_length} but IPv4 carries {total - header_length}"
        )
    segment = frame[udp_start : udp_start + udp_length]
    if verify and udp_sum:
        pseudo = src_ip + dst_ip + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_length)
        if _checksum(pseudo + segment) != 0:
            raise PcapError(f"record {index}: wrong UDP checksum")
    return (_dotted(src_ip), sport), (_dotted(dst_ip), dport), segment[_UDP.size :]


def capture_duration(path: str | os.PathLike[str], ptime_ms: int = 20) -> float:
    """Seconds from the first packet of a capture to the end of its last one (``ptime_ms`` after
    it starts): how long sipp takes to play the file."""
    packets = read_rtp_pcap(path, verify_checksums=False)
    return packets[-1].time + ptime_ms / 1000 if packets else 0.0


def decode_stream(packets: Sequence[CapturedRtp], law: G711Law | str) -> bytes:
    """The 16-bit linear PCM of the G.711 packets of ``law`` among ``packets``, in order."""
    chosen = _law(law)
    return b"".join(
        decode(chosen, p.packet.payload)
        for p in packets
        if p.packet.payload_type == chosen.payload_type
    )
