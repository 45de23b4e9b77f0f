"""The jitter buffer on a simulated clock: reordering, duplicates, late and lost packets,
sequence wrap, pauses, bursts, a new source, and the adaptive target."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.rtp.g711 import ComfortNoise, G711Law
from glasshouse.protocols.rtp.jitter import Concealment, Frame, FrameKind, JitterBuffer
from glasshouse.protocols.rtp.packet import RtpPacket

SILENCE = b"\xff" * 160
FRAME = 0.02


def packet(seq: int, ssrc: int = 1) -> RtpPacket:
    seq &= 0xFFFF
    return RtpPacket(0, seq, seq * 160 & 0xFFFF_FFFF, ssrc, seq.to_bytes(2, "big") * 80)


def run(
    buffer: JitterBuffer,
    arrivals: list[tuple[float, RtpPacket]],
    ticks: int,
    first_tick: float = 0.005,
) -> list[Frame]:
    """Deliver packets at their arrival times and tick every 20 ms; a packet arriving at the
    same instant as a tick is put first."""
    events = sorted(arrivals, key=lambda a: a[0])
    frames = []
    i = 0
    for n in range(ticks):
        now = first_tick + n * FRAME
        while i < len(events) and events[i][0] <= now:
            buffer.put(events[i][1], events[i][0])
            i += 1
        frames.append(buffer.tick(now))
    return frames


def audio(frames: list[Frame]) -> list[int]:
    return [f.sequence_number for f in frames if f.sequence_number is not None]


def steady(seqs: range | list[int], start: float = 0.0) -> list[tuple[float, RtpPacket]]:
    return [(start + i * FRAME, packet(s)) for i, s in enumerate(seqs)]


def test_in_order_stream_plays_after_the_target_delay() -> None:
    buffer = JitterBuffer(SILENCE, target_ms=60)
    frames = run(buffer, steady(range(50)), 60)
    # Nothing to play for the first 60 ms, then every packet in order.
    assert [f.kind for f in frames[:3]] == [FrameKind.SILENCE] * 3
    assert frames[3].kind is FrameKind.AUDIO
    assert audio(frames) == list(range(50))
    assert frames[3].payload == packet(0).payload
    assert buffer.stats.played == 50
    assert buffer.stats.lost == buffer.stats.late == 0


def test_reordered_packets_play_in_sequence() -> None:
    order = [0, 2, 1, 3, 5, 4, 7, 6, 8, 9, 11, 10]
    arrivals = [(i * FRAME, packet(s)) for i, s in enumerate(order)]
    frames = run(JitterBuffer(SILENCE, target_ms=60), arrivals, 20)
    assert audio(frames) == sorted(order)


def test_duplicates_are_dropped() -> None:
    arrivals = steady(range(20)) + [(i * FRAME + 0.001, packet(i)) for i in range(0, 20, 3)]
    buffer = JitterBuffer(SILENCE)
    frames = run(buffer, arrivals, 30)
    assert audio(frames) == list(range(20))
    assert buffer.stats.duplicates == 7


def test_a_lost_packet_is_filled_with_silence() -> None:
    buffer = JitterBuffer(SILENCE)
    frames = run(buffer, [a for a in steady(range(20)) if a[1].sequence_number != 7], 30)
    assert audio(frames) == [s for s in range(20) if s != 7]
    gap = frames[3 + 7]
    assert (gap.kind, gap.payload) == (FrameKind.SILENCE, SILENCE)
    assert buffer.stats.lost == 1


def test_a_late_packet_is_concealed_then_dropped() -> None:
    arrivals = [(t + (0.2 if p.sequence_number == 5 else 0), p) for t, p in steady(range(20))]
    buffer = JitterBuffer(SILENCE, target_ms=40)
    frames = run(buffer, arrivals, 30)
    assert audio(frames) == [s for s in range(20) if s != 5]
    assert buffer.stats.late == 1
    assert buffer.stats.lost == 1


def test_repetition_concealment_is_limited() -> None:
    missing = {5, 6, 7, 8}
    buffer = JitterBuffer(SILENCE, concealment=Concealment.REPEAT, max_repeats=2)
    frames = run(buffer, [a for a in steady(range(20)) if a[1].sequence_number not in missing], 30)
    kinds = [f.kind for f in frames[3 + 4 : 3 + 10]]
    assert kinds == [
        FrameKind.AUDIO,
        FrameKind.REPEAT,
        FrameKind.REPEAT,
        FrameKind.SILENCE,
        FrameKind.SILENCE,
        FrameKind.AUDIO,
    ]
    assert frames[3 + 5].payload == packet(4).payload


def test_sequence_numbers_wrap() -> None:
    seqs = [s & 0xFFFF for s in range(65520, 65560)]
    frames = run(JitterBuffer(SILENCE), steady(seqs), 50)
    assert audio(frames) == seqs


def test_a_pause_drains_the_buffer_and_playout_resumes_without_late_drops() -> None:
    # Silence suppression: sequence numbers continue, arrival stops for a second.
    arrivals = steady(range(10)) + steady(range(10, 20), start=1.2)
    buffer = JitterBuffer(SILENCE, target_ms=60)
    frames = run(buffer, arrivals, 90)
    assert audio(frames) == list(range(20))
    assert buffer.stats.late == 0
    assert buffer.stats.underruns == 2  # the pause, and the end of the stream
    resumed = next(i for i, f in enumerate(frames) if f.sequence_number == 10)
    assert resumed * FRAME + 0.005 >= 1.2 + 0.06  # filled up to the target again


def test_burst_beyond_max_depth_keeps_the_newest_frames() -> None:
    arrivals = steady(range(10)) + [(0.3, packet(s)) for s in range(10, 40)]
    buffer = JitterBuffer(SILENCE, target_ms=60, max_ms=200)
    frames = run(buffer, arrivals, 40)
    seqs = audio(frames)
    assert seqs == sorted(seqs)
    assert seqs[-1] == 39
    assert buffer.stats.dropped > 0
    assert buffer.stats.dropped + len(seqs) == 40


def test_a_buffer_that_started_deep_comes_back_to_its_target() -> None:
    # The first five packets come in a burst 100 ms late, so playout starts 100 ms behind.
    arrivals = [(0.1 if i < 5 else i * FRAME, packet(i)) for i in range(300)]
    buffer = JitterBuffer(SILENCE, target_ms=40, window_s=1.0)
    frames = run(buffer, arrivals, 300)
    seqs = audio(frames)
    assert seqs == sorted(seqs)
    assert buffer.stats.dropped == 5  # 145 ms of delay brought down to 40 ms and a frame
    assert buffer.stats.late == 0
    played_at = next(n for n, f in enumerate(frames) if f.sequence_number == 280)
    assert 0.005 + played_at * FRAME - 280 * FRAME == pytest.approx(0.045)


def test_a_new_ssrc_resets_the_buffer() -> None:
    arrivals = steady(range(10)) + [(0.2 + i * FRAME, packet(3000 + i, ssrc=2)) for i in range(10)]
    buffer = JitterBuffer(SILENCE)
    frames = run(buffer, arrivals, 30)
    assert buffer.stats.resets == 1
    assert audio(frames)[-10:] == list(range(3000, 3010))


def test_a_sequence_jump_resets_the_buffer() -> None:
    arrivals = steady(range(10)) + [(0.2 + i * FRAME, packet(40000 + i)) for i in range(10)]
    buffer = JitterBuffer(SILENCE)
    frames = run(buffer, arrivals, 30)
    assert buffer.stats.resets == 1
    assert audio(frames)[-10:] == list(range(40000, 40010))


def test_comfort_noise_fills_gaps() -> None:
    noise = ComfortNoise(G711Law.PCMU, seed=1)
    buffer = JitterBuffer(noise.frame)
    frames = run(buffer, [a for a in steady(range(10)) if a[1].sequence_number != 4], 12)
    fills = [f.payload for f in frames if f.kind is FrameKind.SILENCE]
    assert len(fills) == 4  # three while filling, one for the lost packet
    assert len(set(fills)) == 4  # noise, not a repeated buffer
    assert all(len(f) == 160 for f in fills)


def test_adaptive_target_grows_with_jitter_and_decays_when_it_calms() -> None:
    rng = random.Random(5)
    # 1 s on time, 2 s of heavy jitter (up to 120 ms), then 12 s on time again.
    arrivals = [
        (i * FRAME + (rng.uniform(0, 0.12) if 50 <= i < 150 else 0.0), packet(i))
        for i in range(750)
    ]
    buffer = JitterBuffer(SILENCE, target_ms=40, adaptive=True, min_ms=40, max_ms=300, window_s=2.0)
    last_tick = 0.005 + 149 * FRAME
    grown = run(buffer, [a for a in arrivals if a[0] <= last_tick], 150)
    peak = buffer.target_ms
    assert peak > 40
    rest = run(buffer, [a for a in arrivals if a[0] > last_tick], 600, first_tick=3.005)
    assert buffer.target_ms == 40
    seqs = audio(grown + rest)
    assert seqs == sorted(set(seqs))
    stats = buffer.stats
    assert stats.played + stats.late + stats.dropped >= 745


def test_fixed_target_does_not_adapt() -> None:
    rng = random.Random(5)
    arrivals = [(i * FRAME + rng.uniform(0, 0.12), packet(i)) for i in range(200)]
    buffer = JitterBuffer(SILENCE, target_ms=40)
    run(buffer, arrivals, 220)
    assert buffer.target_ms == 40


def test_invalid_configuration() -> None:
    with pytest.raises(ValueError, match="min_ms <= target_ms <= max_ms"):
        JitterBuffer(SILENCE, target_ms=500, max_ms=300)


@settings(max_examples=40, deadline=None)
@given(
    delays=st.lists(st.floats(0, 0.035), min_size=60, max_size=60),
    lost=st.sets(st.integers(0, 59), max_size=10),
    duplicated=st.sets(st.integers(0, 59), max_size=10),
    start=st.integers(0, 0xFFFF),
)
def test_packets_within_the_target_all_play_once_in_order(
    delays: list[float], lost: set[int], duplicated: set[int], start: int
) -> None:
    # Target 60 ms, jitter up to 35 ms: no packet can miss its turn.
    arrivals = []
    for i, delay in enumerate(delays):
        if i in lost:
            continue
        arrivals.append((i * FRAME + delay, packet(start + i)))
        if i in duplicated:
            arrivals.append((i * FRAME + delay + 0.001, packet(start + i)))
    buffer = JitterBuffer(SILENCE, target_ms=60)
    frames = run(buffer, arrivals, 80, first_tick=0.036)
    expected = [(start + i) & 0xFFFF for i in range(60) if i not in lost]
    # Playout starts at the first packet to arrive; an earlier one lost is never waited for.
    first = min(i for i in range(60) if i not in lost)
    assert audio(frames) == expected
    assert buffer.stats.late == 0
    assert buffer.stats.duplicates == len(duplicated - lost)
    last = max(i for i in range(60) if i not in lost)
    assert buffer.stats.lost == sum(1 for i in lost if first < i < last)
