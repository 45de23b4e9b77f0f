"""RTP and RTCP packets (RFC 3550): round trips, known bytes, exact errors, sequence arithmetic
and the receiver statistics of RFC 3550 A.1/A.3/A.8."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glasshouse.protocols.rtp.packet import (
    SDES_CNAME,
    SDES_TOOL,
    HeaderExtension,
    ReportBlock,
    RtcpBye,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpSourceDescription,
    RtcpUnknown,
    RtpError,
    RtpPacket,
    SdesChunk,
    SdesItem,
    SequenceTracker,
    is_rtcp,
    parse_rtcp,
    seq_add,
    seq_diff,
    seq_gt,
    serialize_rtcp,
    timestamp_diff,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
words = st.binary(max_size=40).map(lambda b: b[: len(b) // 4 * 4])

rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence_number=u16,
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrc=st.lists(u32, max_size=15).map(tuple),
    extension=st.none() | st.builds(HeaderExtension, profile=u16, data=words),
    padding_size=st.integers(0, 255),
)


# ---------------------------------------------------------------------------------------------
# RTP


@given(rtp_packets)
def test_rtp_round_trip(packet: RtpPacket) -> None:
    data = bytes(packet)
    assert RtpPacket.parse(data) == packet
    assert bytes(RtpPacket.parse(data)) == data


@given(st.binary(max_size=80))
def test_rtp_parse_of_any_bytes_is_a_packet_or_an_rtp_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpError:
        return
    assert RtpPacket.parse(bytes(packet)) == packet


def test_rtp_known_bytes() -> None:
    # V=2, M=1, PT=8 (PCMA), seq 0x1234, ts 0xA0, SSRC 0xDEADBEEF, 3 bytes of payload.
    data = bytes.fromhex("80 88 1234 000000a0 deadbeef d5d5d5")
    packet = RtpPacket.parse(data)
    assert packet == RtpPacket(8, 0x1234, 0xA0, 0xDEADBEEF, b"\xd5\xd5\xd5", marker=True)
    assert bytes(packet) == data


def test_rtp_csrc_extension_and_padding_known_bytes() -> None:
    data = bytes.fromhex(
        "b2 00 0001 00000002 00000003"  # V=2 P=1 X=1 CC=2, PT 0
        "00000004 00000005"  # CSRCs
        "bede 0001 10ff0000"  # one-byte header extension profile, one word
        "ff ff"  # payload
        "00 00 03"  # padding of 3
    )
    packet = RtpPacket.parse(data)
    assert packet.csrc == (4, 5)
    assert packet.extension == HeaderExtension(0xBEDE, bytes.fromhex("10ff0000"))
    assert packet.payload == b"\xff\xff"
    assert packet.padding_size == 3
    assert bytes(packet) == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x00\x00", "RTP packet too short: 3 bytes, the fixed header needs 12"),
        (bytes.fromhex("40000000000000000000 0000"), "RTP version 1, expected 2"),
        (
            bytes.fromhex("82000000000000000000 0000 00000001"),
            "RTP packet truncated: 2 CSRCs need 20 bytes, got 16",
        ),
        (bytes.fromhex("90000000000000000000 0000 bede"), "truncated inside the header extension"),
        (
            bytes.fromhex("90000000000000000000 0000 bede0002 00000000"),
            "RTP header extension of 2 words needs 24 bytes, got 20",
        ),
        (
            bytes.fromhex("a0000000000000000000 0000 aa00"),
            "RTP padding flag set but the padding count is 0",
        ),
        (
            bytes.fromhex("a0000000000000000000 0000 aa09"),
            "RTP padding of 9 bytes exceeds the 2 bytes after the header",
        ),
        (
            bytes.fromhex("a0000000000000000000 0000"),
            "RTP padding flag set but no bytes follow the header",
        ),
    ],
)
def test_rtp_parse_errors_are_exact(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (RtpPacket(payload_type=128), "payload_type 128 out of range 0-127"),
        (RtpPacket(sequence_number=70000), "RTP header field out of range"),
        (RtpPacket(csrc=tuple(range(16))), "16 CSRCs, at most 15 fit in the header"),
        (RtpPacket(extension=HeaderExtension(1, b"abc")), "not a whole number of 32-bit words"),
        (RtpPacket(padding_size=256), "padding_size 256 out of range 0-255"),
    ],
)
def test_rtp_serialise_errors(packet: RtpPacket, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        bytes(packet)


def test_rtcp_demultiplexing() -> None:
    assert not is_rtcp(bytes(RtpPacket(0, 1, 2, 3, b"x")))
    assert not is_rtcp(bytes(RtpPacket(101, 1, 2, 3, b"x", marker=True)))
    assert is_rtcp(bytes(RtcpReceiverReport(1)))
    assert is_rtcp(bytes(RtcpSenderReport(1)))
    assert not is_rtcp(b"\x80")


# ---------------------------------------------------------------------------------------------
# RTCP

report_blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=u8,
    packets_lost=st.integers(-0x80_0000, 0x7F_FFFF),
    highest_sequence=u32,
    jitter=u32,
    last_sr=u32,
    delay_since_last_sr=u32,
)
reports = st.lists(report_blocks, max_size=31).map(tuple)
sdes_items = st.builds(SdesItem, type=st.integers(1, 255), value=st.binary(max_size=255))
sdes_chunks = st.builds(SdesChunk, ssrc=u32, items=st.lists(sdes_items, max_size=4).map(tuple))
rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(
        RtcpSenderReport,
        ssrc=u32,
        ntp_timestamp=st.integers(0, 2**64 - 1),
        rtp_timestamp=u32,
        packet_count=u32,
        octet_count=u32,
        reports=reports,
        extension=words,
    ),
    st.builds(RtcpReceiverReport, ssrc=u32, reports=reports, extension=words),
    st.builds(RtcpSourceDescription, chunks=st.lists(sdes_chunks, max_size=5).map(tuple)),
    st.builds(
        RtcpBye,
        sources=st.lists(u32, max_size=31).map(tuple),
        reason=st.none() | st.binary(max_size=255),
    ),
    st.builds(RtcpUnknown, packet_type=st.integers(204, 210), count=st.integers(0, 31), body=words),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_rtcp_compound_round_trip(packets: list[RtcpPacket]) -> None:
    data = serialize_rtcp(packets)
    assert parse_rtcp(data) == packets
    assert serialize_rtcp(parse_rtcp(data)) == data


@given(st.binary(min_size=1, max_size=120))
def test_rtcp_parse_of_any_bytes_is_packets_or_an_rtp_error(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except RtpError:
        return
    assert parse_rtcp(serialize_rtcp(packets)) == packets


def test_rtcp_known_headers() -> None:
    assert bytes(RtcpSenderReport(1))[:4] == bytes.fromhex("80c8 0006")
    assert bytes(RtcpReceiverReport(1, (ReportBlock(2),)))[:4] == bytes.fromhex("81c9 0007")
    sdes = RtcpSourceDescription((SdesChunk(0x01020304, (SdesItem(SDES_CNAME, b"abc"),)),))
    # ssrc, CNAME item (type 1, length 3, "abc"), end marker and padding to a word boundary.
    assert bytes(sdes) == bytes.fromhex("81ca 0003 01020304 0103616263 000000")
    bye = RtcpBye((7,), b"bye")
    assert bytes(bye) == bytes.fromhex("81cb 0002 00000007 03627965")


def test_report_block_negative_loss_uses_24_bits() -> None:
    data = bytes(ReportBlock(ssrc=1, fraction_lost=0, packets_lost=-1))
    assert data[4:8] == bytes.fromhex("00ffffff")
    assert ReportBlock.parse(data).packets_lost == -1


def test_rtcp_padding_on_last_packet_is_dropped() -> None:
    rr = bytearray(bytes(RtcpReceiverReport(9)))
    rr[0] |= 0x20  # P bit
    rr[3] += 1  # one more word: the padding
    rr += bytes.fromhex("00000004")
    assert parse_rtcp(bytes(rr)) == [RtcpReceiverReport(9)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty RTCP packet"),
        (b"\x80\xc9\x00", "RTCP packet 1 truncated: 3 bytes, header needs 4"),
        (bytes.fromhex("40c9 0001 00000001"), "RTCP packet 1: version 1, expected 2"),
        (bytes.fromhex("80c9 0005 00000001"), r"RTCP packet 1 \(201\) claims 24 bytes, only 8"),
        (
            bytes.fromhex("81c8 0006") + bytes(24),
            r"RTCP packet 1 \(SR\) with 1 report blocks needs 52 bytes, got 28",
        ),
        (
            bytes.fromhex("a0c9 0001 00000001") + bytes(RtcpBye()),
            "RTCP packet 1: padding is allowed on the last packet only",
        ),
        (bytes.fromhex("a0c9 0001 00000000"), "RTCP packet 1: bad padding count 0"),
        (bytes.fromhex("81ca 0001 00000001"), r"RTCP packet 1 \(SDES\) chunk 1 has no end marker"),
        (
            bytes.fromhex("81ca 0002 00000001 0109aaaa"),
            r"RTCP packet 1 \(SDES\) chunk 1: item 1 is truncated",
        ),
        (bytes.fromhex("82cb 0001 00000001"), r"RTCP packet 1 \(BYE\) too short for 2 sources"),
        (
            bytes.fromhex("81cb 0002 00000001 09aabbcc"),
            r"RTCP packet 1 \(BYE\): reason of 9 bytes is truncated",
        ),
    ],
)
def test_rtcp_parse_errors_are_exact(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        parse_rtcp(data)


def test_rtcp_serialise_errors() -> None:
    with pytest.raises(RtpError, match="RTCP count 32 out of range 0-31"):
        bytes(RtcpBye(tuple(range(32))))
    with pytest.raises(RtpError, match="SDES item of 256 bytes"):
        bytes(RtcpSourceDescription((SdesChunk(1, (SdesItem(SDES_TOOL, bytes(256)),)),)))
    with pytest.raises(RtpError, match="packets_lost 8388608 does not fit"):
        bytes(ReportBlock(1, packets_lost=0x80_0000))


# ---------------------------------------------------------------------------------------------
# Sequence numbers


def test_sequence_arithmetic_across_the_wrap() -> None:
    assert seq_add(65535, 1) == 0
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_gt(0, 65535)
    assert not seq_gt(65535, 0)
    assert not seq_gt(7, 7)
    assert timestamp_diff(5, 0xFFFF_FFFB) == 10


@given(u16, st.integers(-32768, 32767))
def test_seq_diff_inverts_seq_add(a: int, d: int) -> None:
    assert seq_diff(seq_add(a, d), a) == d
    assert seq_gt(seq_add(a, d), a) == (d > 0)


@given(u32, st.integers(-(2**31), 2**31 - 1))
def test_timestamp_diff(a: int, d: int) -> None:
    assert timestamp_diff((a + d) & 0xFFFF_FFFF, a) == d


# ---------------------------------------------------------------------------------------------
# Receiver statistics


def feed(tracker: SequenceTracker, seqs: list[int], start: float = 0.0) -> None:
    for i, seq in enumerate(seqs):
        tracker.update(seq & 0xFFFF, (seq * 160) & 0xFFFF_FFFF, start + i * 0.02)


def test_tracker_in_order_across_the_wrap() -> None:
    tracker = SequenceTracker(min_sequential=1)
    feed(tracker, list(range(65500, 65600)))
    assert (tracker.received, tracker.expected, tracker.lost) == (100, 100, 0)
    assert tracker.extended_max_seq == 65599
    assert tracker.jitter == pytest.approx(0, abs=1e-6)
    block = tracker.report_block(ssrc=42)
    assert block.highest_sequence == 65599
    assert (block.fraction_lost, block.packets_lost) == (0, 0)


def test_tracker_probation_does_not_count_the_first_packet() -> None:
    tracker = SequenceTracker()  # RFC 3550 MIN_SEQUENTIAL = 2
    assert not tracker.update(10, 0, 0.0)
    assert tracker.update(11, 160, 0.02)
    feed(tracker, list(range(12, 20)))
    assert (tracker.received, tracker.expected, tracker.lost) == (9, 9, 0)


def test_tracker_probation_restarts_on_a_gap() -> None:
    tracker = SequenceTracker()
    assert not tracker.update(10, 0, 0.0)
    assert not tracker.update(20, 0, 0.0)
    assert tracker.update(21, 0, 0.0)
    assert tracker.received == 1


def test_tracker_loss_and_fraction_per_interval() -> None:
    tracker = SequenceTracker(min_sequential=1)
    feed(tracker, [s for s in range(100) if s % 10 != 5])  # 10 lost out of 100
    first = tracker.report_block(ssrc=1, last_sr=7, delay_since_last_sr=9)
    assert first.packets_lost == 10
    assert first.fraction_lost == 10 * 256 // 100
    assert (first.last_sr, first.delay_since_last_sr) == (7, 9)
    feed(tracker, list(range(100, 200)))
    second = tracker.report_block(ssrc=1)
    assert second.packets_lost == 10  # cumulative
    assert second.fraction_lost == 0  # nothing lost in this interval
    assert (
        RtcpReceiverReport(2, (second,)) == parse_rtcp(bytes(RtcpReceiverReport(2, (second,))))[0]
    )


def test_tracker_reordering_is_not_loss_and_duplicates_make_loss_negative() -> None:
    tracker = SequenceTracker(min_sequential=1)
    feed(tracker, [0, 1, 2, 4, 3, 5, 6, 6, 6, 7])
    assert tracker.expected == 8
    assert tracker.received == 10
    assert tracker.lost == -2


def test_tracker_resynchronises_after_a_jump() -> None:
    tracker = SequenceTracker(min_sequential=1)
    feed(tracker, list(range(100)))
    assert not tracker.update(20000, 0, 3.0)  # one stray packet is ignored
    assert tracker.received == 100
    assert tracker.update(20001, 160, 3.02)  # a second in sequence: the source restarted
    assert tracker.received == 1
    assert tracker.expected == 1


def test_tracker_jitter_follows_rfc_3550_a8() -> None:
    tracker = SequenceTracker(min_sequential=1)
    reference = 0.0
    previous_transit: float | None = None
    for i in range(300):
        arrival = i * 0.02 + (0.01 if i % 2 else 0.0)  # every other packet 10 ms late
        timestamp = (1_000_000 + i * 160) & 0xFFFF_FFFF
        tracker.update(i, timestamp, arrival)
        transit = arrival * 8000 - (1_000_000 + i * 160)
        if previous_transit is not None:
            reference += (abs(transit - previous_transit) - reference) / 16
        previous_transit = transit
    assert tracker.jitter == pytest.approx(reference)
    assert tracker.jitter == pytest.approx(80, abs=0.5)  # |D| is 80 timestamp units each time
    assert tracker.report_block(1).jitter == int(reference)


def test_tracker_jitter_across_the_timestamp_wrap() -> None:
    tracker = SequenceTracker(min_sequential=1)
    for i in range(50):
        tracker.update(i, (0xFFFF_FF00 + i * 160) & 0xFFFF_FFFF, i * 0.02)
    assert tracker.jitter == pytest.approx(0, abs=1e-6)


def test_struct_sizes_match_rfc_3550() -> None:
    # Sender info is 20 bytes after the SSRC; a report block is 24 bytes.
    assert len(bytes(RtcpSenderReport(1))) == 28
    assert len(bytes(ReportBlock(1))) == 24
    assert struct.calcsize("!BBHII") == 12
