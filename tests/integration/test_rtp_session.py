"""RTP sessions on real UDP sockets on 127.0.0.1: what a peer receives (decoded, measured with an
FFT), what it sends in (DTMF, garbage, a new source port), bridging, hold, RTCP and the port
allocator. Wall-clock speed is never asserted beyond "not faster than real time"."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import pytest

from glasshouse.adapters.media.ports import (
    PortAllocationError,
    PortAllocator,
    PortRangeError,
    PortsExhaustedError,
)
from glasshouse.adapters.media.rtp_session import (
    BridgeError,
    InvalidRemoteError,
    MediaEngine,
    MediaError,
    RtpSession,
    SessionClosedError,
    bridge,
    unbridge,
)
from glasshouse.protocols.rtp.dtmf import DtmfError, DtmfReceiver, DtmfSender
from glasshouse.protocols.rtp.g711 import (
    pcma_decode,
    pcma_encode,
    pcma_to_pcmu,
    pcmu_decode,
    pcmu_encode,
    pcmu_to_pcma,
)
from glasshouse.protocols.rtp.packet import (
    SDES_CNAME,
    ReportBlock,
    RtcpBye,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpSourceDescription,
    RtpPacket,
    is_rtcp,
    parse_rtcp,
    seq_add,
    serialize_rtcp,
)

LOCALHOST = "127.0.0.1"
PCMU_SILENCE = b"\xff" * 160
PCMA_SILENCE = b"\xd5" * 160


# ---------------------------------------------------------------------------------------------
# Helpers: a tone source, a plain UDP peer, free port ranges


class ToneSource:
    """A sine of ``frames`` x 20 ms, pre-encoded in both laws."""

    def __init__(self, frequency: float = 1000.0, frames: int = 50) -> None:
        t = np.arange(frames * 160)
        pcm = (8000 * np.sin(2 * np.pi * frequency * t / 8000)).astype("<i2").tobytes()
        self._encoded = {0: pcmu_encode(pcm), 8: pcma_encode(pcm)}
        self._frames = frames
        self._position = 0

    def next_payload(self, payload_type: int) -> bytes | None:
        if self._position >= self._frames:
            return None
        start = 160 * self._position
        self._position += 1
        return self._encoded[payload_type][start : start + 160]


class BrokenSource:
    def __init__(self) -> None:
        self.calls = 0

    def next_payload(self, payload_type: int) -> bytes | None:
        self.calls += 1
        if self.calls > 3:
            raise OSError("prompt file vanished")
        return PCMU_SILENCE


class UdpPeer:
    """A plain UDP socket standing in for a phone or gateway."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCALHOST, 0))
        self.sock.setblocking(False)
        host, port = self.sock.getsockname()
        self.address: tuple[str, int] = (host, port)

    async def datagram(self, timeout: float = 3.0) -> bytes:
        loop = asyncio.get_running_loop()
        data, _ = await asyncio.wait_for(loop.sock_recvfrom(self.sock, 4096), timeout)
        return data

    async def rtp(self, count: int, timeout: float = 5.0) -> list[tuple[float, RtpPacket]]:
        """The next ``count`` RTP packets with their arrival times."""
        loop = asyncio.get_running_loop()
        out: list[tuple[float, RtpPacket]] = []
        while len(out) < count:
            data = await self.datagram(timeout)
            if not is_rtcp(data):
                out.append((loop.time(), RtpPacket.parse(data)))
        return out

    async def packets(self, count: int) -> list[RtpPacket]:
        return [p for _, p in await self.rtp(count)]

    def drain(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(4096))
            except BlockingIOError:
                return out

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def close(self) -> None:
        self.sock.close()


def free_base(pairs: int) -> int:
    """An even port starting ``2 * pairs`` ports that are free right now."""
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 60000, 2)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + 2 * pairs):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((LOCALHOST, port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range found")


def run(scenario: Callable[[MediaEngine], Coroutine[Any, Any, None]], **engine: Any) -> None:
    """Run ``scenario`` with a fresh engine, then close everything it opened."""

    async def main() -> None:
        base = free_base(16)
        media = MediaEngine(
            asyncio.get_running_loop(), LOCALHOST, PortAllocator(base, base + 31), **engine
        )
        try:
            await asyncio.wait_for(scenario(media), 20)
        finally:
            media.close()

    asyncio.run(main())


def dominant_frequency(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(float)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 8000)[int(np.argmax(spectrum))])


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def dtmf_packets(digit: str, timestamp: int, seq: int, ssrc: int = 0x5EED) -> list[RtpPacket]:
    sender = DtmfSender(payload_type=101)
    return [
        s.packet
        for s in sender.packets(digit, 100, timestamp=timestamp, sequence_number=seq, ssrc=ssrc)
    ]


async def open_pair(
    engine: MediaEngine, peer: UdpPeer, payload_type: int = 0, te: int | None = None
) -> RtpSession:
    session = await engine.open_session()
    session.set_remote(peer.address, payload_type, te)
    return session


# ---------------------------------------------------------------------------------------------
# Playing


def test_a_tone_arrives_at_its_frequency_with_continuous_numbering_then_silence() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            session = await engine.open_session()
            finished: list[int] = []
            session.play(ToneSource(frames=60), on_done=lambda: finished.append(1))
            session.set_remote(peer.address, 0)
            received = await peer.rtp(70)
            packets = [p for _, p in received]
            assert {p.payload_type for p in packets} == {0}
            assert {p.ssrc for p in packets} == {session.ssrc}
            assert all(
                seq_add(a.sequence_number, 1) == b.sequence_number
                for a, b in itertools.pairwise(packets)
            )
            steps = [
                (b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)
            ]
            assert all(s > 0 and s % 160 == 0 for s in steps)
            assert steps.count(160) >= 0.9 * len(steps)
            assert [p.marker for p in packets[:2]] == [True, False]

            tone = packets[:60]
            assert dominant_frequency(pcmu_decode(b"".join(p.payload for p in tone))) == (
                pytest.approx(1000, abs=15)
            )
            # Never faster than real time: the 50th packet is 49 ticks after the first.
            assert received[49][0] - received[0][0] >= 0.8
            assert received[49][0] - received[0][0] < 10
            # The source finished: silence follows on the same stream, on_done ran once.
            assert all(p.payload == PCMU_SILENCE for p in packets[60:])
            assert finished == [1]

            # A new source continues the numbering and starts a talk spurt.
            peer.drain()
            session.play(ToneSource(frames=10))
            last_silence = packets[-1]
            more = await peer.packets(15)
            tone_start = next(i for i, p in enumerate(more) if p.payload != PCMU_SILENCE)
            assert more[tone_start].marker
            assert not any(p.marker for p in more[tone_start + 1 :])
            assert more[0].ssrc == session.ssrc
            assert ((more[0].sequence_number - last_silence.sequence_number) & 0xFFFF) >= 1
            assert all(
                seq_add(a.sequence_number, 1) == b.sequence_number
                for a, b in itertools.pairwise(more)
            )
            assert session.stats.packets_out >= 85
        finally:
            peer.close()

    run(scenario)


def test_comfort_silence_when_idle_in_the_negotiated_law() -> None:
    async def scenario(engine: MediaEngine) -> None:
        mu_peer, a_peer = UdpPeer(), UdpPeer()
        try:
            await open_pair(engine, mu_peer, 0)
            await open_pair(engine, a_peer, 8)
            mu = await mu_peer.packets(5)
            alaw = await a_peer.packets(5)
            assert [(p.payload_type, p.payload) for p in mu] == [(0, PCMU_SILENCE)] * 5
            assert [(p.payload_type, p.payload) for p in alaw] == [(8, PCMA_SILENCE)] * 5
            assert mu[0].marker and not any(p.marker for p in mu[1:])
        finally:
            mu_peer.close()
            a_peer.close()

    run(scenario)


def test_replacing_and_stopping_a_source_and_a_failing_source() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            session = await open_pair(engine, peer)
            done: list[str] = []
            session.play(ToneSource(frames=1000), on_done=lambda: done.append("long"))
            await peer.packets(3)
            session.play(BrokenSource(), on_done=lambda: done.append("broken"))
            await until(lambda: done == ["broken"])  # replaced: "long" never reports done
            assert not session.playing
            peer.drain()
            assert (await peer.packets(2))[-1].payload == PCMU_SILENCE
            session.play(ToneSource(frames=1000))
            session.stop_playing()
            peer.drain()
            assert [p.payload for p in await peer.packets(3)] == [PCMU_SILENCE] * 3
        finally:
            peer.close()

    run(scenario)


def test_on_done_can_chain_the_next_prompt_without_a_gap() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            session = await engine.open_session()
            session.play(
                ToneSource(500, frames=5), on_done=lambda: session.play(ToneSource(2000, 5))
            )
            session.set_remote(peer.address, 0)
            packets = await peer.packets(12)
            first = pcmu_decode(b"".join(p.payload for p in packets[:5]))
            second = pcmu_decode(b"".join(p.payload for p in packets[5:10]))
            assert dominant_frequency(first) == pytest.approx(500, abs=40)
            assert dominant_frequency(second) == pytest.approx(2000, abs=40)
            assert [p.marker for p in packets[:7]] == [
                True,
                False,
                False,
                False,
                False,
                True,
                False,
            ]
            assert packets[10].payload == PCMU_SILENCE
        finally:
            peer.close()

    run(scenario)


# ---------------------------------------------------------------------------------------------
# DTMF


def test_rfc4733_digits_in_are_reported_exactly_once_each() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            digits: list[str] = []
            session = await engine.open_session(on_dtmf=digits.append)
            session.set_remote(peer.address, 0, 101)
            timestamp, seq = 1000, 500
            for digit in "42#":
                for packet in dtmf_packets(digit, timestamp, seq):
                    for _ in range(2):  # every packet duplicated on the way
                        peer.send(bytes(packet), session.local_address)
                    await asyncio.sleep(0.005)
                timestamp += 1600
                seq += 10
            await until(lambda: len(digits) >= 3)
            await asyncio.sleep(0.4)  # past the receiver's timeout: nothing more comes
            assert digits == ["4", "2", "#"]
            assert session.stats.dtmf_in == 3
        finally:
            peer.close()

    run(scenario)


def test_a_press_whose_end_packets_are_lost_is_reported_after_the_timeout() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            digits: list[str] = []
            session = await engine.open_session(on_dtmf=digits.append)
            session.set_remote(peer.address, 0, 101)
            for packet in dtmf_packets("9", 4000, 10)[:-3]:  # no end packets
                peer.send(bytes(packet), session.local_address)
            await until(lambda: digits == ["9"])
        finally:
            peer.close()

    run(scenario)


def test_send_dtmf_pauses_audio_and_the_peer_decodes_the_digits() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            session = await open_pair(engine, peer, 0, 101)
            await peer.packets(2)
            sent = session.send_dtmf("1#", duration_ms=100, gap_ms=60)
            await asyncio.wait_for(sent, 3)
            await asyncio.sleep(0.1)
            packets = [RtpPacket.parse(d) for d in peer.drain() if not is_rtcp(d)]
            events = [p for p in packets if p.payload_type == 101]
            receiver = DtmfReceiver()
            got = [d.digit for p in events for d in receiver.receive(p, 0.0)]
            assert got == ["1", "#"]
            assert {p.ssrc for p in packets} == {session.ssrc}
            assert all(
                seq_add(a.sequence_number, 1) == b.sequence_number
                for a, b in itertools.pairwise(packets)
            )
            # Audio between the presses and after them starts new talk spurts.
            first_audio_after = next(
                p
                for i, p in enumerate(packets)
                if p.payload_type == 0 and i > 0 and packets[i - 1].payload_type == 101
            )
            assert first_audio_after.marker
            assert session.stats.dtmf_out == 2
        finally:
            peer.close()

    run(scenario)


def test_received_audio_reaches_the_listeners_in_arrival_order() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            session = await open_pair(engine, peer, 8)
            heard: list[tuple[int, bytes, int]] = []
            session.add_audio_listener(lambda pt, payload, ts: heard.append((pt, payload, ts)))
            frames = [bytes([i]) * 160 for i in range(5)]
            for i, frame in enumerate(frames):
                peer.send(
                    bytes(RtpPacket(8, 10 + i, 800 + 160 * i, 0xD1, frame)), session.local_address
                )
            peer.send(bytes(RtpPacket(0, 15, 1600, 0xD1, PCMU_SILENCE)), session.local_address)
            await until(lambda: session.stats.packets_in + session.stats.ignored == 6)
            assert heard == [(8, f, 800 + 160 * i) for i, f in enumerate(frames)]
            assert session.stats.ignored == 1  # PCMU was not negotiated on this leg
            assert session.stats.packets_in == 5 and session.stats.lost == 0
        finally:
            peer.close()

    run(scenario)


# ---------------------------------------------------------------------------------------------
# Symmetric RTP


def test_sending_latches_onto_the_address_the_peer_sends_from() -> None:
    async def scenario(engine: MediaEngine) -> None:
        sdp_peer, nat_peer, stranger = UdpPeer(), UdpPeer(), UdpPeer()
        try:
            session = await open_pair(engine, sdp_peer, 0)
            await sdp_peer.packets(2)
            # Neither garbage nor a payload type we did not negotiate moves the stream.
            stranger.send(b"\x80\x00garbage", session.local_address)
            stranger.send(bytes(RtpPacket(18, 1, 160, 0xBAD, b"\x00" * 10)), session.local_address)
            await until(lambda: session.stats.malformed + session.stats.ignored == 2)
            assert session.stats.latched == 0
            nat_peer.send(bytes(RtpPacket(0, 7, 160, 0xCAFE, PCMU_SILENCE)), session.local_address)
            await until(lambda: session.stats.latched == 1)
            assert session.remote_address == nat_peer.address
            moved = await nat_peer.packets(3)
            assert {p.ssrc for p in moved} == {session.ssrc}
            sdp_peer.drain()
            await asyncio.sleep(0.1)
            assert sdp_peer.drain() == []
            assert session.stats.latched == 1
            assert stranger.drain() == []
        finally:
            for peer in (sdp_peer, nat_peer, stranger):
                peer.close()

    run(scenario)


def test_the_stream_locks_to_its_remote_until_it_falls_silent_or_is_moved() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer, stranger, other = UdpPeer(), UdpPeer(), UdpPeer()
        try:
            session = await open_pair(engine, peer, 0)
            assert not session.stats.locked
            for seq in range(2):
                peer.send(
                    bytes(RtpPacket(0, seq, 160 * seq, 0xAB, PCMU_SILENCE)), session.local_address
                )
            await until(lambda: session.stats.packets_in == 2)
            assert session.stats.locked
            # A stranger's well-formed packet of the right type is not even seen: it can neither
            # move the stream nor be counted (before the lock it would have latched).
            stranger.send(bytes(RtpPacket(0, 9, 160, 0xBAD, PCMU_SILENCE)), session.local_address)
            peer.send(bytes(RtpPacket(0, 2, 320, 0xAB, PCMU_SILENCE)), session.local_address)
            await until(lambda: session.stats.packets_in == 3)
            await asyncio.sleep(0.05)
            stats = session.stats
            assert (stats.packets_in, stats.ignored, stats.latched) == (3, 0, 0)
            assert stats.remote_address == peer.address
            # What we send still reaches the remote, now through the connected socket.
            peer.drain()
            assert len(await peer.packets(2)) == 2
            # A new address from signalling opens the lock at once; its first packet locks again.
            session.set_remote(other.address, 0)
            assert not session.stats.locked
            other.send(bytes(RtpPacket(0, 1, 160, 0xCD, PCMU_SILENCE)), session.local_address)
            await until(lambda: session.stats.locked)
            assert session.remote_address == other.address and session.stats.packets_in == 4
            # A remote silent for a second no longer holds the stream.
            await until(lambda: not session.stats.locked, timeout=3)
            stranger.send(bytes(RtpPacket(0, 10, 320, 0xBAD, PCMU_SILENCE)), session.local_address)
            await until(lambda: session.stats.latched == 1)
            assert session.remote_address == stranger.address
        finally:
            for p in (peer, stranger, other):
                p.close()

    run(scenario)


# ---------------------------------------------------------------------------------------------
# Bridging


def test_bridge_transcodes_pcmu_to_pcma_and_forwards_dtmf_restamped() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer_a, peer_b = UdpPeer(), UdpPeer()
        try:
            a = await engine.open_session(on_dtmf=lambda d: a_digits.append(d))
            a_digits: list[str] = []
            b = await engine.open_session()
            a.set_remote(peer_a.address, 0, 101)
            b.set_remote(peer_b.address, 8, 100)
            bridge(a, b)
            assert a.bridged_to is b and b.bridged_to is a
            peer_b.drain()

            tone = ToneSource(frames=50)
            sent = []
            for i in range(50):
                payload = tone.next_payload(0)
                assert payload is not None
                sent.append(payload)
                packet = RtpPacket(0, 1000 + i, 5000 + 160 * i, 0xA1, payload, i == 0)
                peer_a.send(bytes(packet), a.local_address)
                if i % 10 == 9:
                    await asyncio.sleep(0.005)
            out = await peer_b.packets(50)
            assert {(p.payload_type, p.ssrc) for p in out} == {(8, b.ssrc)}
            assert [p.payload for p in out] == [pcmu_to_pcma(p) for p in sent]
            assert dominant_frequency(pcma_decode(b"".join(p.payload for p in out))) == (
                pytest.approx(1000, abs=15)
            )
            assert all(
                seq_add(x.sequence_number, 1) == y.sequence_number
                for x, y in itertools.pairwise(out)
            )
            assert all(
                (y.timestamp - x.timestamp) & 0xFFFFFFFF == 160 for x, y in itertools.pairwise(out)
            )
            assert out[0].marker

            press = dtmf_packets("5", 5000 + 160 * 50, 1050, ssrc=0xA1)
            for packet in press:
                peer_a.send(bytes(packet), a.local_address)
            events = await peer_b.packets(len(press))
            assert {(p.payload_type, p.ssrc) for p in events} == {(100, b.ssrc)}
            receiver = DtmfReceiver()
            assert [d.digit for p in events for d in receiver.receive(p, 0.0)] == ["5"]
            assert events[0].sequence_number == seq_add(out[-1].sequence_number, 1)
            await until(lambda: a_digits == ["5"])

            # The other way: PCMA from b's peer arrives as PCMU on a's.
            peer_a.drain()
            alaw = pcma_encode(np.full(160, 3000, dtype="<i2").tobytes())
            peer_b.send(bytes(RtpPacket(8, 1, 0, 0xB2, alaw)), b.local_address)
            back = (await peer_a.packets(1))[0]
            assert (back.payload_type, back.ssrc, back.payload) == (0, a.ssrc, pcma_to_pcmu(alaw))

            # Unbridged, b keeps its own stream alive with silence.
            unbridge(a)
            assert a.bridged_to is None and b.bridged_to is None
            peer_b.drain()
            after = await peer_b.packets(3)
            assert [p.payload for p in after] == [PCMA_SILENCE] * 3
            assert after[0].ssrc == b.ssrc
            assert after[0].marker
            assert after[0].sequence_number == seq_add(events[-1].sequence_number, 1)
            assert 0 < (after[0].timestamp - events[-1].timestamp) & 0xFFFFFFFF < 0x8000_0000
        finally:
            peer_a.close()
            peer_b.close()

    run(scenario)


async def pass_through_pair(
    engine: MediaEngine, law_a: int = 0, law_b: int = 0, te_a: int = 101, te_b: int = 101
) -> tuple[RtpSession, RtpSession, UdpPeer, UdpPeer]:
    """Two legs bridged, each with a plain UDP peer; the peers' comfort silence is drained."""
    peer_a, peer_b = UdpPeer(), UdpPeer()
    a = await engine.open_session()
    b = await engine.open_session()
    a.set_remote(peer_a.address, law_a, te_a)
    b.set_remote(peer_b.address, law_b, te_b)
    bridge(a, b)
    await asyncio.sleep(0.03)
    peer_a.drain()
    peer_b.drain()
    return a, b, peer_a, peer_b


def far_end_stream(count: int, ssrc: int = 0xFA4E, first_seq: int = 65530) -> list[bytes]:
    """A far end's own numbering (wrapping), timing and markers: what pass-through keeps."""
    tone = ToneSource(frames=count)
    out = []
    for i in range(count):
        payload = tone.next_payload(0)
        assert payload is not None
        packet = RtpPacket(0, seq_add(first_seq, i), 777 + 160 * i, ssrc, payload, i in (0, 7))
        out.append(bytes(packet))
    return out


async def send_all(peer: UdpPeer, datagrams: list[bytes], to: tuple[str, int]) -> None:
    for i, data in enumerate(datagrams):
        peer.send(data, to)
        if i % 10 == 9:
            await asyncio.sleep(0.005)


async def rtp_datagrams(peer: UdpPeer, count: int, timeout: float = 3.0) -> list[bytes]:
    out: list[bytes] = []
    while len(out) < count:
        data = await peer.datagram(timeout)
        if not is_rtcp(data):
            out.append(data)
    return out


def test_a_same_law_bridge_passes_datagrams_through_unchanged_both_ways() -> None:
    async def scenario(engine: MediaEngine) -> None:
        a, b, peer_a, peer_b = await pass_through_pair(engine)
        try:
            sent = far_end_stream(30)
            await send_all(peer_a, sent, a.local_address)
            assert await rtp_datagrams(peer_b, 30) == sent
            back = far_end_stream(30, ssrc=0xB0B, first_seq=9)
            await send_all(peer_b, back, b.local_address)
            assert await rtp_datagrams(peer_a, 30) == back
            assert (a.stats.packets_in, b.stats.packets_out) == (30, 30)
            assert (b.stats.packets_in, a.stats.packets_out) == (30, 30)
            assert b.stats.bytes_out == sum(len(d) for d in sent)
            # Nothing was sequence-checked, so nothing counts as lost.
            assert a.stats.lost == 0 and b.stats.lost == 0
        finally:
            peer_a.close()
            peer_b.close()

    run(scenario)


def test_a_backlog_built_while_the_loop_was_busy_is_relayed_whole_and_in_order() -> None:
    # The engine serves one datagram per ready port per wake-up while wake-ups come often; a
    # loop held up for 200 ms finds ten datagrams waiting on a port, and must not cap the
    # stream at one packet per wake-up.
    async def scenario(engine: MediaEngine) -> None:
        a, _b, peer_a, peer_b = await pass_through_pair(engine)
        try:
            sent = far_end_stream(10)
            for data in sent:
                peer_a.send(data, a.local_address)
            time.sleep(0.2)  # the loop is busy elsewhere (blocking it on purpose)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            # One or two wake-ups after a 200 ms gap take several datagrams from the port
            # (up to one per 20 ms elapsed, at most 8), not one each.
            assert a.stats.packets_in >= 8
            assert await rtp_datagrams(peer_b, 10) == sent
            assert a.stats.packets_in == 10
        finally:
            peer_a.close()
            peer_b.close()

    run(scenario)


def test_pass_through_keeps_one_stream_for_extensions_new_addresses_and_dtmf() -> None:
    async def scenario(engine: MediaEngine) -> None:
        digits: list[str] = []
        a, _, peer_a, peer_b = await pass_through_pair(engine, te_a=101, te_b=100)
        a.on_dtmf = digits.append
        nat = UdpPeer()
        try:
            # A header extension takes the full path, and still goes out as it came.
            extended = RtpPacket(0, 50, 8000, 0xFA4E, PCMU_SILENCE)
            raw = bytearray(bytes(extended))
            raw[0] |= 0x10
            with_extension = bytes(raw[:12]) + b"\xbe\xde\x00\x01\x10\xaa\x00\x00" + raw[12:]
            peer_a.send(with_extension, a.local_address)
            assert await rtp_datagrams(peer_b, 1) == [with_extension]

            # Locked to peer_a (strict RTP): another source is not heard and moves nothing.
            assert a.stats.locked
            await send_all(nat, far_end_stream(2, first_seq=51), a.local_address)
            await asyncio.sleep(0.1)
            assert peer_b.drain() == [] and a.remote_address == peer_a.address
            # The far end moves (NAT rebinding): once peer_a has been silent for a second the
            # lock opens; the new address latches, and its packets still pass as they are.
            await until(lambda: not a.stats.locked, timeout=3)
            moved = far_end_stream(3, first_seq=51)
            await send_all(nat, moved, a.local_address)
            assert await rtp_datagrams(peer_b, 3) == moved
            assert a.remote_address == nat.address and a.stats.latched == 1
            await until(lambda: a.stats.locked)

            # Key presses: detected here, passed on in the far end's stream with b's payload type.
            press = [bytes(p) for p in dtmf_packets("9", 8000 + 160 * 4, 54, ssrc=0xFA4E)]
            await send_all(nat, press, a.local_address)
            out = await rtp_datagrams(peer_b, len(press))
            assert [d[1] & 0x7F for d in out] == [100] * len(press)
            assert [d[:1] + d[2:] for d in out] == [d[:1] + d[2:] for d in press]
            assert [d[1] & 0x80 for d in out] == [d[1] & 0x80 for d in press]
            await until(lambda: digits == ["9"])
        finally:
            for peer in (peer_a, peer_b, nat):
                peer.close()

    run(scenario)


def test_listeners_prompts_hold_and_other_laws_take_the_restamping_path() -> None:
    async def scenario(engine: MediaEngine) -> None:
        a, b, peer_a, peer_b = await pass_through_pair(engine)
        try:
            # A recorder listening on a: packets are re-stamped into b's own stream.
            heard: list[bytes] = []

            def recorder(payload_type: int, payload: bytes, timestamp: int) -> None:
                heard.append(payload)

            a.add_audio_listener(recorder)
            sent = far_end_stream(10)
            await send_all(peer_a, sent, a.local_address)
            out = [RtpPacket.parse(d) for d in await rtp_datagrams(peer_b, 10)]
            assert {p.ssrc for p in out} == {b.ssrc}
            assert [p.payload for p in out] == [RtpPacket.parse(d).payload for d in sent]
            assert out[0].marker
            await until(lambda: len(heard) == 10)

            # The listener gone, the far end's packets pass untouched again.
            a.remove_audio_listener(recorder)
            again = far_end_stream(5, first_seq=100)
            await send_all(peer_a, again, a.local_address)
            assert await rtp_datagrams(peer_b, 5) == again

            # b playing a prompt sends the prompt, not a's packets; then pass-through resumes.
            b.play(ToneSource(frames=5))
            prompt = [RtpPacket.parse(d) for d in await rtp_datagrams(peer_b, 5)]
            assert {p.ssrc for p in prompt} == {b.ssrc}
            await until(lambda: not b.playing)
            await asyncio.sleep(0.03)
            peer_b.drain()
            after = far_end_stream(5, first_seq=200)
            await send_all(peer_a, after, a.local_address)
            assert await rtp_datagrams(peer_b, 5) == after

            # b on hold sends nothing at all.
            b.hold()
            await send_all(peer_a, far_end_stream(5, first_seq=300), a.local_address)
            await until(lambda: a.stats.packets_in == 10 + 5 + 5 + 5)
            await asyncio.sleep(0.05)
            assert [d for d in peer_b.drain() if not is_rtcp(d)] == []
            b.unhold()

            # Another law on b: transcoded into b's own stream.
            b.set_remote(peer_b.address, 8, 101)
            await send_all(peer_a, far_end_stream(3, first_seq=400), a.local_address)
            alaw = [RtpPacket.parse(d) for d in await rtp_datagrams(peer_b, 3)]
            assert {(p.payload_type, p.ssrc) for p in alaw} == {(8, b.ssrc)}
        finally:
            peer_a.close()
            peer_b.close()

    run(scenario)


def test_with_the_fast_relay_off_every_packet_is_restamped() -> None:
    async def scenario(engine: MediaEngine) -> None:
        assert not engine.fast_relay
        a, b, peer_a, peer_b = await pass_through_pair(engine)
        try:
            sent = far_end_stream(10)
            await send_all(peer_a, sent, a.local_address)
            out = [RtpPacket.parse(d) for d in await rtp_datagrams(peer_b, 10)]
            assert {p.ssrc for p in out} == {b.ssrc}
            assert [p.payload for p in out] == [RtpPacket.parse(d).payload for d in sent]
            engine.fast_relay = True  # takes effect on bridges already up
            more = far_end_stream(5, first_seq=20)
            await send_all(peer_a, more, a.local_address)
            assert await rtp_datagrams(peer_b, 5) == more
        finally:
            peer_a.close()
            peer_b.close()

    run(scenario, fast_relay=False)


def test_pass_through_forwards_only_what_parses_and_drops_our_own_echo(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(20241123)
    junk = [rng.randbytes(rng.randrange(0, 60)) for _ in range(100)]
    junk += [
        b"\x80" + bytes([rng.choice([0, 0x80, 8, 101])]) + rng.randbytes(11) for _ in range(50)
    ]
    junk += [b"", b"\x80\x00" + bytes(10), b"\x90\x00" + bytes(10) + b"\x00\x00\xff\xff"]

    async def scenario(engine: MediaEngine) -> None:
        a, b, peer_a, peer_b = await pass_through_pair(engine)
        try:
            echo = bytes(RtpPacket(0, 1, 160, a.ssrc, PCMU_SILENCE))  # a's own stream, looped
            await send_all(peer_a, [*junk, echo], a.local_address)

            def accounted() -> int:
                s = a.stats
                return s.packets_in + s.malformed + s.ignored + s.rtcp_in

            await until(lambda: accounted() == len(junk) + 1)
            await asyncio.sleep(0.05)
            out = [d for d in peer_b.drain() if not is_rtcp(d)]
            assert len(out) == a.stats.packets_in == b.stats.packets_out
            assert all(d in junk for d in out)
            assert echo not in out
            for data in out:
                RtpPacket.parse(data)
        finally:
            peer_a.close()
            peer_b.close()

    with caplog.at_level(logging.ERROR):
        run(scenario)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_bridge_refuses_what_it_cannot_do() -> None:
    async def scenario(engine: MediaEngine) -> None:
        s1 = await engine.open_session()
        s2 = await engine.open_session()
        s3 = await engine.open_session()
        with pytest.raises(BridgeError, match="itself"):
            bridge(s1, s1)
        bridge(s1, s2)
        bridge(s1, s2)  # again: nothing changes
        with pytest.raises(BridgeError, match="already bridged"):
            bridge(s3, s2)
        s1.close()
        assert s2.bridged_to is None
        with pytest.raises(SessionClosedError):
            bridge(s1, s3)

    run(scenario)


# ---------------------------------------------------------------------------------------------
# Hold


def test_hold_stops_packets_and_unhold_resumes_the_same_stream() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            session = await open_pair(engine, peer)
            before = await peer.packets(3)
            session.hold()
            assert session.held
            sent_before_hold = [RtpPacket.parse(d) for d in peer.drain()]
            last = sent_before_hold[-1] if sent_before_hold else before[-1]
            await asyncio.sleep(0.2)
            assert peer.drain() == []
            session.unhold()
            resumed = (await peer.packets(1))[0]
            assert resumed.sequence_number == seq_add(last.sequence_number, 1)
            assert resumed.marker
            assert resumed.ssrc == before[-1].ssrc
            assert ((resumed.timestamp - before[-1].timestamp) & 0xFFFFFFFF) >= 1600
        finally:
            peer.close()

    run(scenario)


# ---------------------------------------------------------------------------------------------
# RTCP


def test_rtcp_sender_reports_while_sending_receiver_reports_on_hold() -> None:
    async def scenario(engine: MediaEngine) -> None:
        peer, peer_rtcp = UdpPeer(), UdpPeer()
        try:
            session = await engine.open_session()
            session.set_remote(peer.address, 8, rtcp_addr=peer_rtcp.address)
            for i in range(5):
                peer.send(
                    bytes(RtpPacket(8, 100 + i, 160 * i, 0xFEED, PCMA_SILENCE)),
                    session.local_address,
                )
            peer_sr = RtcpSenderReport(0xFEED, ntp_timestamp=0x1234_5678_9ABC_0000)
            ours = ReportBlock(session.ssrc, fraction_lost=12, packets_lost=3)
            peer_rtcp.send(
                serialize_rtcp([peer_sr, RtcpReceiverReport(0xFEED, (ours,))]),
                (LOCALHOST, session.rtcp_port),
            )
            await until(lambda: session.stats.rtcp_in == 1 and session.stats.packets_in == 5)
            assert session.stats.remote_report == ours

            report = parse_rtcp(await peer_rtcp.datagram())
            while not isinstance(report[0], RtcpSenderReport) or not report[0].reports:
                report = parse_rtcp(await peer_rtcp.datagram())
            sr, sdes = report
            assert isinstance(sr, RtcpSenderReport) and isinstance(sdes, RtcpSourceDescription)
            assert sr.ssrc == session.ssrc and sr.packet_count > 0
            assert sr.octet_count == 160 * sr.packet_count
            assert sr.reports[0].ssrc == 0xFEED
            assert sr.reports[0].last_sr == 0x5678_9ABC
            assert sdes.chunks[0].items[0].type == SDES_CNAME
            assert sdes.chunks[0].items[0].value == engine.cname.encode()

            session.hold()
            peer_rtcp.drain()
            await peer_rtcp.datagram()  # may still cover packets sent before the hold
            report = parse_rtcp(await peer_rtcp.datagram())
            assert isinstance(report[0], RtcpReceiverReport)
            assert report[0].ssrc == session.ssrc
            assert session.stats.rtcp_out >= 3

            session.close()
            bye = parse_rtcp(peer_rtcp.drain()[-1])
            assert isinstance(bye[-1], RtcpBye) and bye[-1].sources == (session.ssrc,)
        finally:
            peer.close()
            peer_rtcp.close()

    run(scenario, rtcp_interval=0.1)


# ---------------------------------------------------------------------------------------------
# Bad input


def test_garbage_datagrams_are_counted_and_the_session_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    crafted = [
        b"",
        b"\x80",
        b"\x80\x00" + bytes(9),  # 11 bytes
        b"\x40\x00" + bytes(30),  # version 1
        b"\x8f\x00" + bytes(20),  # 15 CSRCs announced, not there
        b"\x90\x00" + bytes(10) + b"\x00\x00\xff\xff",  # extension longer than the packet
        b"\xa0\x00" + bytes(10) + b"\x00",  # padding count 0
        bytes(RtpPacket(101, 1, 0, 1, b"\x01\x02\x03")),  # telephone-event of 3 bytes
        b"\x80\xc8\x00\x09" + bytes(8),  # RTCP (multiplexed) claiming more than it has
    ]
    rng = random.Random(20240611)
    fuzz = [rng.randbytes(rng.randrange(0, 200)) for _ in range(150)]
    fuzz += [
        b"\x80"
        + bytes([rng.choice([0, 101, 8, 0x80 | 101, 200])])
        + rng.randbytes(rng.randrange(0, 40))
        for _ in range(150)
    ]

    async def scenario(engine: MediaEngine) -> None:
        peer = UdpPeer()
        try:
            digits: list[str] = []
            session = await engine.open_session(on_dtmf=digits.append)
            session.set_remote(peer.address, 0, 101)
            for i, data in enumerate(crafted + fuzz):
                peer.send(data, session.local_address)
                if i % 20 == 19:
                    await asyncio.sleep(0.002)
            peer.send(b"\x80\xc8\x00", (LOCALHOST, session.rtcp_port))

            def accounted() -> int:
                s = session.stats
                return s.packets_in + s.malformed + s.ignored + s.rtcp_in

            await until(lambda: accounted() == len(crafted) + len(fuzz) + 1)
            assert session.stats.malformed >= len(crafted)
            digits.clear()
            await asyncio.sleep(0.35)  # let any digit the fuzz started time out
            digits.clear()
            for packet in dtmf_packets("7", 0x7777_0000, 40000, ssrc=0x7777):
                peer.send(bytes(packet), session.local_address)
            await until(lambda: digits == ["7"])
            peer.drain()
            assert len(await peer.packets(2)) == 2
        finally:
            peer.close()

    with caplog.at_level(logging.ERROR):
        run(scenario)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_bad_remote_descriptions_and_requests_get_precise_errors() -> None:
    async def scenario(engine: MediaEngine) -> None:
        session = await engine.open_session()
        with pytest.raises(InvalidRemoteError, match=r"payload type 18 is not G\.711"):
            session.set_remote((LOCALHOST, 4000), 18)
        with pytest.raises(InvalidRemoteError, match="must be an IP address"):
            session.set_remote(("pbx.example.com", 4000), 0)
        with pytest.raises(InvalidRemoteError, match="IPv6"):
            session.set_remote(("::1", 4000), 0)
        with pytest.raises(InvalidRemoteError, match="port 0 out of range"):
            session.set_remote((LOCALHOST, 0), 0)
        with pytest.raises(InvalidRemoteError, match="is the audio payload type"):
            session.set_remote((LOCALHOST, 4000), 8, 8)
        with pytest.raises(MediaError, match="did not negotiate telephone-event"):
            session.send_dtmf("1")
        session.set_remote((LOCALHOST, 4000), 0, 101)
        with pytest.raises(DtmfError, match="not a DTMF digit: 'x'"):
            session.send_dtmf("12x")
        with pytest.raises(DtmfError, match="duration 5 ms"):
            session.send_dtmf("1", duration_ms=5)
        session.close()
        session.close()
        with pytest.raises(SessionClosedError, match="is closed"):
            session.play(ToneSource())

    run(scenario)


# ---------------------------------------------------------------------------------------------
# Ports


def test_port_allocator_hands_out_even_pairs_until_exhausted_and_reuses_released_ones() -> None:
    base = free_base(3)
    ports = PortAllocator(base - 1, base + 5)  # odd low bound: the first pair starts at base
    assert ports.capacity == 3
    pairs = [ports.allocate(LOCALHOST) for _ in range(3)]
    try:
        assert sorted(p.port for p in pairs) == [base, base + 2, base + 4]
        assert all(p.rtcp.getsockname()[1] == p.port + 1 for p in pairs)
        with pytest.raises(PortsExhaustedError, match="3 of 3 allocated"):
            ports.allocate(LOCALHOST)
        middle = pairs.pop(1)
        middle.close()
        ports.release(middle.port)
        again = ports.allocate(LOCALHOST)
        pairs.append(again)
        assert again.port == middle.port
        assert ports.in_use == 3
        with pytest.raises(PortAllocationError, match="not allocated"):
            ports.release(base + 100)
    finally:
        for pair in pairs:
            pair.close()


def test_port_allocator_skips_ports_other_programs_hold() -> None:
    base = free_base(3)
    squatters = []
    for port in (base, base + 3):  # an RTP port, and the RTCP port of the second pair
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOCALHOST, port))
        squatters.append(s)
    ports = PortAllocator(base, base + 5)
    try:
        pair = ports.allocate(LOCALHOST)
        assert pair.port == base + 4
        with pytest.raises(PortsExhaustedError, match="2 held by other programs"):
            ports.allocate(LOCALHOST)
        pair.close()
    finally:
        for s in squatters:
            s.close()


def test_port_allocator_rejects_bad_ranges_and_hosts() -> None:
    for low, high in [(5000, 4000), (0, 100), (5000, 70000), (5001, 5002), (6000, 6000)]:
        with pytest.raises(PortRangeError):
            PortAllocator(low, high)
    ports = PortAllocator(40000, 40100)
    with pytest.raises(PortAllocationError, match="must be an IP address"):
        ports.allocate("localhost")
    with pytest.raises(PortAllocationError, match=r"cannot bind UDP 192\.0\.2\.1"):
        ports.allocate("192.0.2.1")  # not an address of this host
    assert ports.in_use == 0


def test_a_closed_session_gives_its_ports_back() -> None:
    async def main() -> None:
        base = free_base(1)
        engine = MediaEngine(asyncio.get_running_loop(), LOCALHOST, PortAllocator(base, base + 1))
        try:
            first = await engine.open_session()
            with pytest.raises(PortsExhaustedError):
                await engine.open_session()
            first.close()
            second = await engine.open_session()
            assert second.port == first.port == base
        finally:
            engine.close()
        with pytest.raises(SessionClosedError, match="engine is closed"):
            await engine.open_session()

    asyncio.run(main())
