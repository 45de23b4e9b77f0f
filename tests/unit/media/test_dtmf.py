"""DTMF: the RFC 4733 payload, the sender's packet sequence, the receiver's one digit per press
(redundant ends, duplicates, reordering, loss, long presses), and in-band tones generated and
detected through G.711 and against noise."""

from __future__ import annotations

import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.rtp import g711
from glasshouse.protocols.rtp.dtmf import (
    DIGITS,
    DtmfDigit,
    DtmfError,
    DtmfReceiver,
    DtmfSender,
    InbandDtmfDetector,
    ScheduledPacket,
    TelephoneEvent,
    digit_to_event,
    dtmf_tone,
    dtmf_tones,
    event_to_digit,
    goertzel_power,
)
from glasshouse.protocols.rtp.packet import RtpPacket

# ---------------------------------------------------------------------------------------------
# Payload


@given(
    st.builds(
        TelephoneEvent,
        event=st.integers(0, 255),
        end=st.booleans(),
        volume=st.integers(0, 63),
        duration=st.integers(0, 0xFFFF),
    )
)
def test_telephone_event_round_trip(event: TelephoneEvent) -> None:
    assert TelephoneEvent.parse(bytes(event)) == event


def test_telephone_event_known_bytes() -> None:
    event = TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert bytes(event) == bytes.fromhex("05 8a 0320")
    assert TelephoneEvent.parse(bytes.fromhex("05 ca 0320")) == event  # R bit ignored
    assert TelephoneEvent.parse(bytes.fromhex("0b 0a 00a0")) == TelephoneEvent(11, False, 10, 160)


def test_telephone_event_errors() -> None:
    with pytest.raises(DtmfError, match="telephone-event payload must be 4 bytes, got 3"):
        TelephoneEvent.parse(b"\x01\x02\x03")
    with pytest.raises(DtmfError, match="volume 64 out of range 0-63"):
        bytes(TelephoneEvent(1, volume=64))
    with pytest.raises(DtmfError, match="duration 65536 out of range"):
        bytes(TelephoneEvent(1, duration=65536))


def test_digit_event_codes() -> None:
    assert [digit_to_event(d) for d in "0189*#ABCD"] == [0, 1, 8, 9, 10, 11, 12, 13, 14, 15]
    assert digit_to_event("a") == 12
    assert "".join(event_to_digit(e) for e in range(16)) == DIGITS
    for bad in ("E", "", "12", " "):
        with pytest.raises(DtmfError, match="not a DTMF digit"):
            digit_to_event(bad)
    with pytest.raises(DtmfError, match="event 16 is not a DTMF digit"):
        event_to_digit(16)


# ---------------------------------------------------------------------------------------------
# Sender


def test_sender_sequence_for_one_press() -> None:
    sent = DtmfSender().packets("5", 200, timestamp=0xFFFF_FF00, sequence_number=65534, ssrc=0x1234)
    events = [TelephoneEvent.parse(s.packet.payload) for s in sent]
    assert [s.offset for s in sent] == [0.05, 0.1, 0.15, 0.2, 0.2, 0.2]
    assert [e.duration for e in events] == [400, 800, 1200, 1600, 1600, 1600]
    assert [e.end for e in events] == [False, False, False, True, True, True]
    assert {e.event for e in events} == {5}
    assert [s.packet.marker for s in sent] == [True, False, False, False, False, False]
    assert [s.packet.sequence_number for s in sent] == [65534, 65535, 0, 1, 2, 3]
    assert {s.packet.timestamp for s in sent} == {0xFFFF_FF00}
    assert {(s.packet.payload_type, s.packet.ssrc) for s in sent} == {(101, 0x1234)}


def test_sender_short_press_starts_with_a_marked_end_packet() -> None:
    sent = DtmfSender(payload_type=96).packets("#", 40, timestamp=0, sequence_number=0, ssrc=1)
    assert len(sent) == 3
    assert [s.packet.marker for s in sent] == [True, False, False]
    assert all(
        TelephoneEvent.parse(s.packet.payload) == TelephoneEvent(11, True, 10, 320) for s in sent
    )


def test_sender_rejects_impossible_durations() -> None:
    with pytest.raises(DtmfError, match="must be positive and fit in 65535"):
        DtmfSender().packets("1", 9000, timestamp=0, sequence_number=0, ssrc=1)
    with pytest.raises(DtmfError, match="not a DTMF digit"):
        DtmfSender().packets("x", 100, timestamp=0, sequence_number=0, ssrc=1)


# ---------------------------------------------------------------------------------------------
# Receiver


def presses(
    digits: str, *, duration_ms: int = 120, gap_ms: int = 80, ssrc: int = 7, ts: int = 1000
) -> list[tuple[float, RtpPacket]]:
    """Every packet of a sequence of presses, with its send time."""
    sender = DtmfSender()
    out: list[tuple[float, RtpPacket]] = []
    seq = 100
    start = 0.0
    for digit in digits:
        sent: list[ScheduledPacket] = sender.packets(
            digit, duration_ms, timestamp=ts, sequence_number=seq, ssrc=ssrc
        )
        out.extend((start + s.offset, s.packet) for s in sent)
        seq = (seq + len(sent)) & 0xFFFF
        ts = (ts + (duration_ms + gap_ms) * 8) & 0xFFFF_FFFF
        start += (duration_ms + gap_ms) / 1000
    return out


def receive_all(receiver: DtmfReceiver, packets: list[tuple[float, RtpPacket]]) -> list[DtmfDigit]:
    digits: list[DtmfDigit] = []
    now = 0.0
    for now, packet in packets:
        digits += receiver.poll(now)
        digits += receiver.receive(packet, now)
    digits += receiver.poll(now + 10)
    return digits


def test_receiver_reports_one_digit_per_press_despite_three_end_packets() -> None:
    digits = receive_all(DtmfReceiver(), presses("1234"))
    assert [d.digit for d in digits] == list("1234")
    assert all(d.ended and d.duration == 960 and d.duration_ms == 120 for d in digits)
    assert [d.timestamp for d in digits] == [1000, 2600, 4200, 5800]


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_receiver_with_duplicates_reordering_and_lost_packets(rng: random.Random) -> None:
    packets = presses("159#")
    mangled: list[tuple[float, RtpPacket]] = []
    for when, packet in packets:
        if not (TelephoneEvent.parse(packet.payload).end or rng.random() > 0.2):
            continue  # lose a fifth of the updates (never all three end packets here)
        mangled.append((when + rng.uniform(0, 0.08), packet))  # reorder neighbours
        if rng.random() < 0.3:
            mangled.append((when + rng.uniform(0, 0.1), packet))  # duplicate
    mangled.sort(key=lambda item: item[0])
    digits = receive_all(DtmfReceiver(), mangled)
    assert [d.digit for d in digits] == list("159#")
    assert all(d.ended and d.duration == 960 for d in digits)


def test_receiver_when_every_end_packet_is_lost() -> None:
    packets = [(t, p) for t, p in presses("12") if not TelephoneEvent.parse(p.payload).end]
    receiver = DtmfReceiver(timeout=0.3)
    digits: list[DtmfDigit] = []
    for now, packet in packets:
        digits += receiver.receive(packet, now)
    # The second press closes the first, with the last duration seen.
    assert [(d.digit, d.ended, d.duration) for d in digits] == [("1", False, 800)]
    last_seen = packets[-1][0]
    assert receiver.next_deadline() == pytest.approx(last_seen + 0.3)
    assert receiver.poll(last_seen + 0.29) == []
    closed = receiver.poll(last_seen + 0.3)
    assert [(d.digit, d.ended, d.duration) for d in closed] == [("2", False, 800)]
    assert receiver.next_deadline() is None


def test_receiver_end_packet_first_then_stale_updates() -> None:
    packets = [p for _, p in presses("7")]
    receiver = DtmfReceiver()
    assert [d.digit for d in receiver.receive(packets[-1], 0.0)] == ["7"]
    for packet in packets:
        assert receiver.receive(packet, 0.1) == []
    assert receiver.poll(5.0) == []


def test_receiver_same_digit_twice_is_two_presses() -> None:
    digits = receive_all(DtmfReceiver(), presses("55"))
    assert [d.digit for d in digits] == ["5", "5"]


def test_receiver_timestamp_wrap_between_presses() -> None:
    digits = receive_all(DtmfReceiver(), presses("123", ts=0xFFFF_F000))
    assert [d.digit for d in digits] == list("123")
    assert digits[2].timestamp == (0xFFFF_F000 + 2 * 1600) & 0xFFFF_FFFF


def test_receiver_long_press_in_segments() -> None:
    # RFC 4733 2.5.1.3: past 65535 units the event goes on with a new timestamp, no marker.
    receiver = DtmfReceiver()
    start = 50_000
    seq = 0
    out: list[DtmfDigit] = []

    def send(ts: int, duration: int, end: bool = False, marker: bool = False) -> None:
        nonlocal seq
        payload = bytes(TelephoneEvent(3, end, 10, duration))
        out.extend(receiver.receive(RtpPacket(101, seq, ts, 9, payload, marker), seq * 0.05))
        seq += 1

    send(start, 400, marker=True)
    for duration in range(800, 65535, 400):
        send(start, duration)
    send(start, 65535)
    for duration in range(400, 8000, 400):
        send(start + 65535, duration)
    for _ in range(3):
        send(start + 65535, 8000, end=True)
    assert [(d.digit, d.timestamp, d.duration, d.ended) for d in out] == [
        ("3", start, 65535 + 8000, True)
    ]


def test_receiver_new_ssrc_starts_afresh() -> None:
    receiver = DtmfReceiver()
    first = presses("1", ts=5_000_000, ssrc=1)
    second = presses("2", ts=10, ssrc=2)  # an older timestamp, but another source
    digits = receive_all(receiver, first + [(t + 1, p) for t, p in second])
    assert [d.digit for d in digits] == ["1", "2"]


def test_receiver_ignores_non_dtmf_events_and_rejects_bad_payloads() -> None:
    receiver = DtmfReceiver()
    flash = RtpPacket(101, 1, 100, 1, bytes(TelephoneEvent(16, True, 10, 800)))
    assert receiver.receive(flash, 0.0) == []
    with pytest.raises(DtmfError, match="must be 4 bytes"):
        receiver.receive(RtpPacket(101, 2, 200, 1, b"\x01"), 0.0)
    assert [d.digit for d in receive_all(receiver, presses("9"))] == ["9"]


# ---------------------------------------------------------------------------------------------
# In-band tones


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def pcm(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}h", *(max(-32768, min(32767, v)) for v in values))


def detect(pcm_data: bytes, frame_samples: int = 160) -> list[DtmfDigit]:
    detector = InbandDtmfDetector()
    found: list[DtmfDigit] = []
    step = 2 * frame_samples
    for i in range(0, len(pcm_data), step):
        found += detector.feed(pcm_data[i : i + step])
    return found + detector.flush()


def add_noise(pcm_data: bytes, rms: float, seed: int = 0) -> bytes:
    rng = random.Random(seed)
    return pcm([round(v + rng.gauss(0, rms)) for v in samples(pcm_data)])


def test_goertzel_power_of_a_sine() -> None:
    n, amplitude = 205, 1000
    sine = [amplitude * math.sin(2 * math.pi * 770 * i / 8000) for i in range(n)]
    assert goertzel_power(sine, 770, 8000) == pytest.approx((amplitude * n / 2) ** 2, rel=0.02)
    assert goertzel_power(sine, 1336, 8000) < (amplitude * n / 2) ** 2 / 1000


def test_tone_generator_levels_and_length() -> None:
    tone = samples(dtmf_tone("5", 100, level_dbov=-10))
    assert len(tone) == 800
    assert max(abs(v) for v in tone) <= 2 * 32767 * 10 ** (-10 / 20) + 1
    with pytest.raises(DtmfError, match="would clip"):
        dtmf_tone("5", 100, level_dbov=-3)


def test_every_digit_is_detected_with_its_duration() -> None:
    found = detect(dtmf_tones(DIGITS, tone_ms=100, gap_ms=100))
    assert "".join(d.digit for d in found) == DIGITS
    assert all(50 <= d.duration_ms <= 130 for d in found)
    # Each digit starts within two blocks of where its tone starts.
    for index, digit in enumerate(found):
        assert abs(digit.timestamp - index * 1600) <= 410


@pytest.mark.parametrize("law", list(g711.G711Law))
def test_detection_through_g711(law: g711.G711Law) -> None:
    tones = dtmf_tones("0123456789", tone_ms=80, gap_ms=80, level_dbov=-20)
    decoded = g711.decode(law, g711.encode(law, tones))
    assert "".join(d.digit for d in detect(decoded, frame_samples=77)) == "0123456789"


def test_detection_in_noise() -> None:
    tones = dtmf_tones("*#AD", tone_ms=100, gap_ms=100, level_dbov=-15)
    tone_rms = 32767 * 10 ** (-15 / 20)  # each tone's rms is amplitude / sqrt(2)
    noisy = add_noise(tones, rms=tone_rms / 10)  # about 17 dB below the two tones
    assert "".join(d.digit for d in detect(noisy)) == "*#AD"


@pytest.mark.parametrize(
    "signal",
    ["white noise", "loud noise", "one row tone", "1 kHz", "voiced harmonics", "short tone"],
)
def test_no_digits_in_signals_that_are_not_dtmf(signal: str) -> None:
    n = 8000
    if signal == "white noise":
        data = add_noise(bytes(2 * n), rms=1000)
    elif signal == "loud noise":
        data = add_noise(bytes(2 * n), rms=8000, seed=1)
    elif signal == "one row tone":
        data = pcm([round(8000 * math.sin(2 * math.pi * 697 * i / 8000)) for i in range(n)])
    elif signal == "1 kHz":
        data = pcm([round(8000 * math.sin(2 * math.pi * 1000 * i / 8000)) for i in range(n)])
    elif signal == "voiced harmonics":
        # A vowel-like sound: 140 Hz and its harmonics falling off at 6 dB per octave.
        data = pcm(
            [
                round(
                    sum(6000 / k * math.sin(2 * math.pi * 140 * k * i / 8000) for k in range(1, 25))
                )
                for i in range(n)
            ]
        )
    else:  # 20 ms: too short to be a digit
        data = dtmf_tone("1", 20) + bytes(2 * n)
    assert detect(data) == []


def test_silence_costs_no_detection() -> None:
    assert detect(bytes(16000)) == []
