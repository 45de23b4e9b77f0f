"""Garbage at the voice server: random bytes, mutated SIP messages and torn TCP streams never
raise out of the transport, never stop the server, and an answerable request gets a 4xx.

``GLASSHOUSE_FUZZ_SECONDS`` (default 8) sets how long the over-the-wire part runs; set it to
a few hundred to fuzz for minutes."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from importlib import resources
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.adapters.sip_net.transport import SipTransport
from glasshouse.protocols.sip.message import SipMessage, parse_message
from glasshouse.protocols.sip.uri import SipParseError
from glasshouse.service.voice.server import ServerOptions, VoiceServer
from glasshouse.service.voice.setup import load_server_setup

DEMO = Path(str(resources.files("glasshouse") / "demo" / "server.yaml"))

SEEDS = [
    b"INVITE sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa\r\n"
    b"From: <sip:c@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: f1\r\n"
    b"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:c@127.0.0.1:5999>\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 27\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n",
    b"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKb\r\n"
    b"From: <sip:agent1@127.0.0.1>;tag=2\r\nTo: <sip:agent1@127.0.0.1>\r\nCall-ID: f2\r\n"
    b'CSeq: 1 REGISTER\r\nAuthorization: Digest username="agent1", realm="glasshouse", '
    b'nonce="x", uri="sip:127.0.0.1", response="00"\r\nContent-Length: 0\r\n\r\n',
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc\r\n"
    b"From: <sip:a@b>;tag=3\r\nTo: <sip:c@d>;tag=4\r\nCall-ID: f3\r\nCSeq: 9 BYE\r\n\r\n",
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.randrange(5)
        pos = rng.randrange(len(out) + 1)
        if kind == 0 and out:
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif kind == 1:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        elif kind == 2:
            del out[pos : pos + rng.randint(1, 40)]
        elif kind == 3:
            out[pos:pos] = rng.choice([b"\r\n", b":", b";", b"<", b">", b"\x00", b"%", b" "])
        else:
            out[pos:pos] = rng.choice(SEEDS)[: rng.randint(0, 80)]
    return bytes(out)


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[SipMessage] = []

    def __call__(self, message: SipMessage, source: tuple[str, int], reliable: bool) -> None:
        self.messages.append(message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000) | st.builds(mutate, st.randoms(), st.sampled_from(SEEDS)))
def test_transport_never_raises_and_hands_up_only_parsed_messages(data: bytes) -> None:
    loop = asyncio.new_event_loop()
    try:
        handler = _Recorder()
        transport = SipTransport(loop, handler)
        transport.datagram(data, ("127.0.0.1", 5999))  # no socket: answers go nowhere
        for message in handler.messages:
            assert parse_message(bytes(message)) == message
        try:
            parse_message(data)
        except SipParseError:
            assert not handler.messages
    finally:
        loop.close()


def test_server_survives_a_stream_of_garbage(tmp_path: Path) -> None:
    seconds = float(os.environ.get("GLASSHOUSE_FUZZ_SECONDS", "8"))

    async def scenario() -> None:
        setup = load_server_setup(DEMO, data_dir=tmp_path)
        server = await VoiceServer.create(
            setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(39000, 39199))
        )
        loop = asyncio.get_running_loop()
        address = server.switch.stack.address
        rng = random.Random(4475)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        sent = 0
        try:
            deadline = loop.time() + seconds
            while loop.time() < deadline:
                for _ in range(50):
                    data = (
                        mutate(rng, rng.choice(SEEDS))
                        if rng.random() < 0.8
                        else rng.randbytes(rng.randint(0, 1500))
                    )
                    udp.sendto(data, address)
                    sent += 1
                # Torn and hostile TCP streams as well.
                _reader, writer = await asyncio.open_connection(*address)
                writer.write(mutate(rng, rng.choice(SEEDS)) * rng.randint(1, 3))
                if rng.random() < 0.3:
                    writer.write(b"A" * 40_000)  # over the header limit
                await writer.drain()
                writer.close()
                await asyncio.sleep(0.01)
            # Still serving: an OPTIONS is answered.
            port = udp.getsockname()[1]
            while True:  # drain what the garbage got back
                try:
                    udp.recv(65535)
                except BlockingIOError:
                    break
            options = (
                "OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-after-fuzz\r\n"
                "From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\n"
                "Call-ID: after-fuzz\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            udp.sendto(options, address)
            answer = b""
            end = loop.time() + 5
            while b"after-fuzz" not in answer and loop.time() < end:
                try:
                    answer = await asyncio.wait_for(loop.sock_recv(udp, 65535), 1)
                except TimeoutError:
                    continue
            assert answer.startswith(b"SIP/2.0 200 ")
            stats = server.switch.stack.transport.stats
            assert stats.handler_errors == 0
            assert stats.malformed > 0 and stats.answered_malformed > 0
            assert sent > 100
        finally:
            udp.close()
            server.close()

    asyncio.run(asyncio.wait_for(scenario(), seconds + 60))
