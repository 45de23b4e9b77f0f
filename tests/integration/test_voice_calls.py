"""Whole calls through the voice server on real sockets: the demo tenant's IVR, its queues and
agents' phones, with the product's scriptable test phone on the other side of each leg.

Each test starts the server in the test's event loop on free ports of 127.0.0.1 with a fresh
data directory, and checks what the phones got (status codes, headers, audio) and what the
event log holds. Interop with other SIP software is in ``test_voice_interop.py``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from glasshouse.adapters.media.audio import read_wav
from glasshouse.domain.metrics import compute, config_from_events
from glasshouse.service.voice.server import ServerOptions, VoiceServer
from glasshouse.service.voice.setup import load_server_setup
from glasshouse.testing.audio import dominant_frequency, rms_dbfs, tone_pcm
from glasshouse.testing.sip_phone import FakePhone

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng (Debian package) is needed"
)

DEMO = Path(str(resources.files("glasshouse") / "demo" / "server.yaml"))
_RTP_BASE = iter(range(41000, 60000, 200))


@contextlib.asynccontextmanager
async def voice_server(data_dir: Path) -> AsyncIterator[VoiceServer]:
    low = next(_RTP_BASE)
    setup = load_server_setup(DEMO, data_dir=data_dir)
    server = await VoiceServer.create(
        setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(low, low + 199))
    )
    try:
        yield server
    finally:
        server.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def events_of(server: VoiceServer) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.to_dict()["data"]) for e in server.store.read("demo")]


def contact_events(server: VoiceServer, contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, d) for t, d in events_of(server) if d.get("contact_id") == contact_id]


def queue_totals(server: VoiceServer) -> Any:
    events = list(server.store.read("demo"))
    return compute(events, config_from_events(events)).queue_totals


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_call_through_ivr_queue_agent_with_hold_and_recording(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with voice_server(tmp_path) as server:
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "0611223344") as caller,
            ):
                assert (await agent.register()).status == 200
                assert (await caller.dial("1000")).status == 200
                await asyncio.sleep(1.0)  # the welcome prompt plays
                assert (await caller.info_dtmf("1")).status == 200
                await asyncio.wait_for(agent.incoming.wait(), 10)
                headers = agent.call.headers
                contact_id = headers["X-Glasshouse-Contact-Id"]
                assert headers["X-Glasshouse-Queue"] == "sales"
                assert headers["X-Glasshouse-Var-menu_choice"] == "1"  # the screen pop
                await asyncio.wait_for(agent.call.established.wait(), 5)
                heard_before = len(agent.heard)
                await asyncio.gather(
                    caller.send_audio(tone_pcm(440, 1500)), agent.send_audio(tone_pcm(770, 1500))
                )
                assert len(agent.heard) > heard_before
                assert abs(dominant_frequency(bytes(caller.heard[-6000:])) - 770) < 15
                assert abs(dominant_frequency(bytes(agent.heard[-6000:])) - 440) < 15
                assert (await agent.hold()).status == 200
                held_from = len(caller.heard)
                await asyncio.sleep(0.1)
                packets_at_hold = agent.received_packets
                await asyncio.sleep(0.9)
                # The held phone asked not to receive (sendonly): nothing is sent to it.
                assert agent.received_packets - packets_at_hold <= 1
                music = bytes(caller.heard[held_from:])
                assert len(music) > 8000 and rms_dbfs(music) > -40  # music, not silence
                assert (await agent.unhold()).status == 200
                assert (await agent.hangup()).status == 200
                await asyncio.wait_for(caller.call.ended.wait(), 5)  # the caller got a BYE
            await until(lambda: not server.switch.calls)
            types = [t for t, _ in contact_events(server, contact_id)]
            ivr = [d for t, d in contact_events(server, contact_id) if t == "ivr.step"]
            assert [(s["node_id"], s["outcome"]) for s in ivr] == [
                ("welcome", "barge-in"),
                ("opening_hours", "open"),
                ("main_menu", "digit 1"),
                ("sales", "queued"),
            ]
            expected = [
                "contact.arrived",
                "contact.queued",
                "contact.offered",
                "contact.answered",
                "recording.started",
                "contact.held",
                "contact.retrieved",
                "contact.ended",
                "recording.stopped",
                "call.released",
            ]
            assert [t for t in types if t in expected] == expected
            ended = next(d for t, d in contact_events(server, contact_id) if t == "contact.ended")
            assert ended["by"] == "agent"
            # The recording: stereo, caller left (440 Hz), agent right (770 Hz).
            (wav,) = list((tmp_path / "tenants" / "demo" / "recordings").rglob("*.wav"))
            audio = read_wav(wav)
            assert audio.channels == 2 and audio.sample_rate == 8000
            left = audio.samples[:, 0]
            right = audio.samples[:, 1]
            loud_left = left[abs(left) > 0.05]
            loud_right = right[abs(right) > 0.05]
            assert len(loud_left) > 4000 and len(loud_right) > 4000
            pcm_left = (left * 32767).astype("<i2").tobytes()
            pcm_right = (right * 32767).astype("<i2").tobytes()
            assert abs(dominant_frequency(pcm_left) - 440) < 15
            assert abs(dominant_frequency(pcm_right) - 770) < 15
            # The contact engine's metrics agree with the log.
            queue = queue_totals(server)["sales"]
            assert (queue.offered, queue.answered, queue.abandoned) == (1, 1, 0)
            # Nothing of the call is held any more.
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_rfc4733_key_routes_to_support_and_agent_declining_passes_it_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with voice_server(tmp_path) as server:
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent2", "agent2-demo", reject_with=486) as busy,
                FakePhone(address, "agent3", "agent3-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await busy.register()).status == 200
                assert (await agent.register()).status == 200
                assert (await caller.dial("1000")).status == 200
                await asyncio.sleep(0.5)
                await caller.send_rfc4733("2")
                await asyncio.wait_for(agent.incoming.wait(), 10)
                assert agent.call.headers["X-Glasshouse-Queue"] == "support"
                contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
                await asyncio.wait_for(agent.call.established.wait(), 5)
                await asyncio.sleep(0.5)
                # The tail of the key that chose the queue does not reach the agent.
                assert agent.received_events == 0
                assert (await caller.hangup()).status == 200
                await asyncio.wait_for(agent.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = contact_events(server, contact_id)
            offers = [d["agent_id"] for t, d in log if t == "contact.offered"]
            # agent2 (support 4) is offered first by skill, refuses with 486, agent3 gets it.
            assert offers == ["agent2", "agent3"]
            assert ("contact.ring_no_answer", {"contact_id": contact_id, "queue_id": "support",
                    "agent_id": "agent2"}) in log  # fmt: skip
            not_ready = [
                d
                for t, d in events_of(server)
                if t == "agent.not_ready" and d["agent_id"] == "agent2"
            ]
            assert not_ready and not_ready[-1]["reason"] == "ring_no_answer"
            ended = next(d for t, d in log if t == "contact.ended")
            assert ended == {"contact_id": contact_id, "agent_id": "agent3", "by": "customer"}
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_caller_waits_with_music_then_abandons(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with voice_server(tmp_path) as server:
            async with FakePhone(server.switch.stack.address, "caller") as caller:
                assert (await caller.dial("1000")).status == 200
                await asyncio.sleep(0.5)
                await caller.info_dtmf("1")
                await until(lambda: any(t == "contact.queued" for t, _ in events_of(server)))
                start = len(caller.heard)
                await asyncio.sleep(1.5)
                assert rms_dbfs(bytes(caller.heard[start:])) > -40  # music on hold
                assert (await caller.hangup()).status == 200
            await until(lambda: not server.switch.calls)
            types = [t for t, _ in events_of(server)]
            assert "contact.abandoned" in types
            released = [d for t, d in events_of(server) if t == "call.released"]
            assert released[-1]["by"] == "customer"
            queue = queue_totals(server)["sales"]
            assert (queue.offered, queue.answered, queue.abandoned) == (1, 0, 1)

    run(scenario)


def test_hanging_up_in_the_ivr_and_bad_requests(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with voice_server(tmp_path) as server:
            address = server.switch.stack.address
            async with FakePhone(address, "caller") as caller:
                assert (await caller.dial("9999")).status == 404
                assert (await caller.dial("1000")).status == 200
                assert (await caller.hangup()).status == 200
            await until(lambda: not server.switch.calls)
            types = [t for t, _ in events_of(server)]
            assert types[-3:] == ["contact.arrived", "contact.ivr_abandoned", "call.released"][-3:]
            # Garbage and broken requests: 400 naming the problem, and the server goes on.
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            port = sock.getsockname()[1]
            broken = (
                "OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-broken\r\n"
                "From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\n"
                "Call-ID: broken-1\r\nCSeq: one OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            for garbage in (b"\x00\xff" * 50, b"NOT SIP AT ALL\r\n\r\n", broken):
                sock.sendto(garbage, address)
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
            assert data.startswith(b"SIP/2.0 400 ")
            assert b"Warning: 399" in data and b"CSeq" in data
            ok = (
                "OPTIONS sip:1000@127.0.0.1 SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-fine\r\n"
                "From: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\n"
                "Call-ID: fine-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
            sock.sendto(ok, address)
            data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
            assert data.startswith(b"SIP/2.0 200 ")
            sock.close()
            assert server.switch.stack.transport.stats.malformed >= 3

    run(scenario)


def test_wrong_password_and_unknown_user_look_alike(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with voice_server(tmp_path) as server:
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "wrong") as a,
                FakePhone(address, "nobody", "whatever") as b,
            ):
                first = await a.register()
                second = await b.register()
            assert first.status == second.status == 401

            def shape(response: Any) -> list[str]:
                return sorted(
                    name for name, _ in response.headers if name not in ("Via", "From", "To",
                    "Call-ID", "CSeq")
                )  # fmt: skip

            assert shape(first) == shape(second)
            # Not logged in: nobody registered successfully.
            assert not any(t == "agent.logged_in" for t, _ in events_of(server))

    run(scenario)


TRANSFER_FLOW = """
id: partner
version: 3
name: Partner line
start: hello
nodes:
  hello:
    type: play
    prompt: {text: "Connecting you."}
    next: out
  out:
    type: transfer
    number: "+33140000000"
    fallback: bye
  bye:
    type: hangup
"""


EXTRAS_FLOW = """
id: extras
version: 1
name: Voicemail and survey
start: menu
nodes:
  menu:
    type: menu
    prompt: {text: "Press 1 to leave a message, 2 for an agent."}
    options: {"1": message, "2": agents}
    fallback: message
  message:
    type: voicemail
    box: sales
    prompt: {text: "Leave a message."}
    max_seconds: 5
  agents:
    type: queue
    queue: sales
    survey: csat
  csat:
    type: survey
    intro: {text: "One question."}
    questions:
      - {id: overall, prompt: {text: "From 1 to 5?"}, min: 1, max: 5}
    goodbye: {text: "Thank you."}
"""


def _setup_with_trunk(tmp_path: Path, trunk_port: int) -> Path:
    """The demo, with its trunk at ``trunk_port``, number 2000 sent out to a partner and 3000
    offering voicemail or an agent followed by a survey."""
    demo = DEMO.parent
    voice = (demo / "voice.yaml").read_text().replace("port: 5080", f"port: {trunk_port}")
    voice = voice.replace(
        '- {number: "1000", flow: main}',
        '- {number: "1000", flow: main}\n      - {number: "2000", flow: partner}'
        '\n      - {number: "3000", flow: extras}',
    )
    (tmp_path / "voice.yaml").write_text(voice)
    (tmp_path / "partner.yaml").write_text(TRANSFER_FLOW)
    (tmp_path / "extras.yaml").write_text(EXTRAS_FLOW)
    server = (
        (demo / "server.yaml")
        .read_text()
        .replace(
            "flows: [ivr-main.yaml]",
            f"flows: [{demo / 'ivr-main.yaml'}, partner.yaml, extras.yaml]",
        )
    )
    (tmp_path / "server.yaml").write_text(server)
    return tmp_path / "server.yaml"


@contextlib.asynccontextmanager
async def server_with_trunk(tmp_path: Path, trunk: FakePhone) -> AsyncIterator[VoiceServer]:
    low = next(_RTP_BASE)
    setup = load_server_setup(_setup_with_trunk(tmp_path, trunk.sip_port), data_dir=tmp_path / "d")
    server = await VoiceServer.create(
        setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(low, low + 199))
    )
    trunk.server = server.switch.stack.address
    try:
        yield server
    finally:
        server.close()


def test_ivr_transfer_and_agent_blind_transfer_go_out_through_the_trunk(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            server_with_trunk(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            # 1. The IVR hands the caller to the partner's number.
            async with FakePhone(address, "caller") as caller:
                assert (await caller.dial("2000")).status == 200
                await asyncio.wait_for(trunk.incoming.wait(), 10)
                invite = trunk.call.invite
                assert invite is not None and str(invite.uri).startswith("sip:+33140000000@")
                contact_id = trunk.call.headers["X-Glasshouse-Contact-Id"]
                await asyncio.wait_for(trunk.call.established.wait(), 5)
                await asyncio.gather(
                    caller.send_audio(tone_pcm(440, 1000)),
                    trunk.send_audio(tone_pcm(770, 1000)),
                )
                assert abs(dominant_frequency(bytes(trunk.heard[-4000:])) - 440) < 15
                assert abs(dominant_frequency(bytes(caller.heard[-4000:])) - 770) < 15
                assert (await caller.hangup()).status == 200
                await asyncio.wait_for(trunk.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = [(t, d) for t, d in events_of(server) if d.get("contact_id") == contact_id]
            steps = [(d["node_id"], d["outcome"]) for t, d in log if t == "ivr.step"]
            assert steps[-1] == ("out", "transfer")
            assert [t for t, _ in log if t != "ivr.step"] == [
                    "contact.arrived", "contact.ivr_completed", "call.released"
                ]  # fmt: skip
            trunk.incoming.clear()
            # 2. An agent's blind transfer (REFER) to an outside number.
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                assert (await caller.dial("1000")).status == 200
                await asyncio.sleep(0.3)
                await caller.info_dtmf("1")
                await asyncio.wait_for(agent.call.established.wait(), 10)
                contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
                host, port = address
                assert (await agent.refer(f"sip:+33140000001@{host}:{port}")).status == 202
                await asyncio.wait_for(agent.call.ended.wait(), 5)  # the agent is let go
                assert any(r.method == "NOTIFY" for r in agent.requests)
                await asyncio.wait_for(trunk.incoming.wait(), 10)
                assert trunk.call.headers["X-Glasshouse-Contact-Id"] == contact_id
                await asyncio.wait_for(trunk.call.established.wait(), 5)
                await caller.send_audio(tone_pcm(440, 800))
                assert abs(dominant_frequency(bytes(trunk.heard[-3000:])) - 440) < 15
                assert (await trunk.hangup()).status == 200
                await asyncio.wait_for(caller.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = [(t, d) for t, d in events_of(server) if d.get("contact_id") == contact_id]
            transferred = next(d for t, d in log if t == "contact.transferred")
            ref = transferred["target"].removeprefix("external:")
            assert transferred == {
                "contact_id": contact_id,
                "agent_id": "agent1",
                "kind": "blind",
                "target": f"external:{ref}",
            }
            # The number is in the personal data store, not in the log.
            assert server.switch.personal.get("demo", ref) == "+33140000001"
            assert "+33140000001" not in "".join(e.to_json() for e in server.store.read("demo"))
            types = [t for t, _ in log]
            assert types.index("contact.answered") < types.index("contact.transferred")
            assert types.index("contact.transferred") < types.index("contact.ended")
            assert log[-1] == (
                    "call.released", {"contact_id": contact_id, "by": "external", "cause": "bye"}
                )  # fmt: skip

    run(scenario)


def test_agents_call_out_only_when_authenticated_and_allowed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            server_with_trunk(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            # The intruder and the stranger are away from the trunk's address (127.0.0.1).
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "agent2", "wrong", host="127.0.0.2") as intruder,
                FakePhone(address, "nobody", "guess", host="127.0.0.2") as stranger,
            ):
                # Wrong password and unknown user: both challenged again, alike.
                bad = await intruder.dial("+33140000002")
                unknown = await stranger.dial("+33140000002")
                assert bad.status == unknown.status == 401
                assert not trunk.incoming.is_set()
                # Premium-rate numbers are refused even to a good agent.
                refused = await agent.dial("+33899123456")
                assert refused.status == 403, refused
                # An authenticated agent reaches the outside number through the trunk.
                ok = await agent.dial("+33140000002")
                assert ok.status == 200
                assert trunk.call.invite is not None
                assert str(trunk.call.invite.uri).startswith("sip:+33140000002@")
                await asyncio.wait_for(trunk.call.established.wait(), 5)
                await agent.send_audio(tone_pcm(600, 800))
                assert abs(dominant_frequency(bytes(trunk.heard[-3000:])) - 600) < 15
                assert (await agent.hangup()).status == 200
                await asyncio.wait_for(trunk.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            dialed = [d for t, d in events_of(server) if t == "call.dialed"]
            assert len(dialed) == 1 and dialed[0]["agent_id"] == "agent1"
            assert dialed[0]["trunk"] == "loopback-trunk"
            released = [d for t, d in events_of(server) if t == "call.released"]
            assert released[-1]["contact_id"] == dialed[0]["contact_id"]
            assert released[-1]["by"] == "agent"
            assert "+3314" not in "".join(e.to_json() for e in server.store.read("demo"))

    run(scenario)


def test_voicemail_and_post_call_survey(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            server_with_trunk(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            # 1. A message: greeting, beep, the caller's voice until "#".
            async with FakePhone(address, "caller") as caller:
                assert (await caller.dial("3000")).status == 200
                await caller.info_dtmf("1")
                await until(lambda: any(t == "ivr.step" and d["node_id"] == "message"
                                        for t, d in events_of(server)))  # fmt: skip
                await asyncio.sleep(2.0)  # greeting and beep
                await caller.send_audio(tone_pcm(500, 1200))
                await caller.info_dtmf("#")
                await asyncio.wait_for(caller.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            (vm,) = [d for t, d in events_of(server) if t == "voicemail.recorded"]
            assert vm["box"] == "sales" and vm["duration_ms"] >= 800
            wav = next((tmp_path / "d" / "tenants" / "demo" / "recordings").rglob("*-vm.wav"))
            audio = read_wav(wav)
            assert audio.channels == 1
            pcm = (audio.samples[:, 0] * 32767).astype("<i2").tobytes()
            assert abs(dominant_frequency(pcm) - 500) < 15
            # 2. An agent, then the survey once the agent hangs up.
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                assert (await caller.dial("3000")).status == 200
                await caller.info_dtmf("2")
                await asyncio.wait_for(agent.call.established.wait(), 10)
                contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
                assert (await agent.hangup()).status == 200
                await until(lambda: any(t == "ivr.step" and d["node_type"] == "survey"
                                        for t, d in events_of(server)))  # fmt: skip
                await asyncio.sleep(1.5)  # the question
                await caller.info_dtmf("4")
                await asyncio.wait_for(caller.call.ended.wait(), 10)  # goodbye, then BYE
            await until(lambda: not server.switch.calls)
            log = contact_events(server, contact_id)
            answers = [d for t, d in log if t == "survey.answered"]
            assert answers == [
                {"contact_id": contact_id, "survey_id": "csat", "question_id": "overall",
                 "value": "4"}
            ]  # fmt: skip
            types = [t for t, _ in log]
            assert types.index("contact.ended") < types.index("survey.answered")
            assert types[-1] == "call.released"

    run(scenario)


def test_recording_pauses_for_card_data(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with voice_server(tmp_path) as server:
            address = server.switch.stack.address
            control = "application/x-glasshouse-control"
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                assert (await caller.dial("1000")).status == 200
                await caller.info_dtmf("1")
                await asyncio.wait_for(agent.call.established.wait(), 10)
                contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
                await caller.send_audio(tone_pcm(440, 1000))
                assert (await agent.info("recording=pause", control)).status == 200
                assert (await agent.info("recording=pause", control)).status == 409
                await caller.send_audio(tone_pcm(1200, 1000))  # the card number, say
                assert (await agent.info("recording=resume", control)).status == 200
                await caller.send_audio(tone_pcm(440, 1000))
                assert (await caller.info("recording=pause", control)).status == 403
                assert (await agent.info("format c:", control)).status == 488
                assert (await caller.hangup()).status == 200
            await until(lambda: not server.switch.calls)
            types = [t for t, _ in contact_events(server, contact_id)]
            assert types.index("recording.paused") < types.index("recording.resumed")
            paused = next(
                d for t, d in contact_events(server, contact_id) if t == "recording.paused"
            )
            assert paused["by"] == "agent1"
            (wav,) = list((tmp_path / "tenants" / "demo" / "recordings").rglob("*.wav"))
            left = read_wav(wav).samples[:, 0]
            pcm = (left * 32767).astype("<i2").tobytes()
            assert abs(dominant_frequency(pcm) - 440) < 15
            # Nothing of the paused 1,200 Hz tone is kept: second by second, no 1.2 kHz.
            for start in range(0, len(pcm) - 16000, 8000):
                piece = pcm[start : start + 16000]
                if rms_dbfs(piece) > -50:
                    assert abs(dominant_frequency(piece) - 1200) > 100

    run(scenario)
