"""sipp as the tenant's carrier (a UAS on the trunk's address): the IVR's transfer node and an
agent's blind transfer both reach it, with media both ways, and the call ends cleanly on both
sides."""

from __future__ import annotations

import asyncio
import shutil
from importlib import resources
from pathlib import Path

import pytest

from glasshouse.adapters.personal import SqlitePersonalStore
from glasshouse.service.voice.server import ServerOptions, VoiceServer
from glasshouse.service.voice.setup import load_server_setup
from glasshouse.testing.audio import dominant_frequency, tone_pcm
from glasshouse.testing.pcap import tone_pcap
from glasshouse.testing.sip_phone import FakePhone
from glasshouse.testing.sipp import answering_peer, free_port, raw_sockets_allowed

pytestmark = [
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (Debian sip-tester) is needed"),
    pytest.mark.skipif(
        not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng (Debian package) is needed"
    ),
    pytest.mark.skipif(
        not raw_sockets_allowed(), reason="sipp plays pcaps through a raw socket (root)"
    ),
]

DEMO = Path(str(resources.files("glasshouse") / "demo"))
PARTNER = """
id: partner
version: 1
name: Partner line
start: out
nodes:
  out: {type: transfer, number: "+33140000000", fallback: bye}
  bye: {type: hangup}
"""


def _setup(tmp_path: Path, trunk_port: int) -> Path:
    voice = (DEMO / "voice.yaml").read_text().replace("port: 5080", f"port: {trunk_port}")
    voice = voice.replace(
        '- {number: "1000", flow: main}',
        '- {number: "1000", flow: main}\n      - {number: "2000", flow: partner}',
    )
    (tmp_path / "voice.yaml").write_text(voice)
    (tmp_path / "partner.yaml").write_text(PARTNER)
    server = (
        (DEMO / "server.yaml")
        .read_text()
        .replace("flows: [ivr-main.yaml]", f"flows: [{DEMO / 'ivr-main.yaml'}, partner.yaml]")
    )
    (tmp_path / "server.yaml").write_text(server)
    return tmp_path / "server.yaml"


def test_transfers_reach_sipp_as_the_carrier(tmp_path: Path) -> None:
    pcap = tmp_path / "tone.pcap"
    tone_pcap(pcap, 1000, 4000)
    trunk_port = free_port()
    carrier = answering_peer(
        tone_pcap=pcap, hold_ms=30_000, calls=2, local_port=trunk_port, timeout_s=60
    )
    carrier.start().wait_ready()

    async def scenario() -> list[tuple[str, dict[str, object]]]:
        setup = load_server_setup(_setup(tmp_path, trunk_port), data_dir=tmp_path / "d")
        server = await VoiceServer.create(
            setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(37000, 37199))
        )
        address = server.switch.stack.address
        try:
            # 1. The IVR sends the caller out to the partner's number.
            async with FakePhone(address, "caller") as caller:
                assert (await caller.dial("2000")).status == 200
                await asyncio.sleep(2.5)  # sipp answers and plays its 1 kHz tone
                assert abs(dominant_frequency(bytes(caller.heard[-8000:])) - 1000) < 15
                assert (await caller.hangup()).status == 200
            # 2. An agent's blind transfer to an outside number.
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                assert (await caller.dial("1000")).status == 200
                await caller.info_dtmf("1")
                await asyncio.wait_for(agent.call.established.wait(), 10)
                host, port = address
                assert (await agent.refer(f"sip:+33140000001@{host}:{port}")).status == 202
                await asyncio.wait_for(agent.call.ended.wait(), 5)
                await asyncio.sleep(2.5)
                await caller.send_audio(tone_pcm(440, 500))
                assert abs(dominant_frequency(bytes(caller.heard[-8000:])) - 1000) < 15
                assert (await caller.hangup()).status == 200
            for _ in range(100):
                if not server.switch.calls:
                    break
                await asyncio.sleep(0.05)
            return [(e.type, e.to_dict()["data"]) for e in server.store.read("demo")]
        finally:
            server.close()

    try:
        events = asyncio.run(asyncio.wait_for(scenario(), 60))
        result = carrier.wait(30)
    finally:
        carrier.close()
    result.check(calls=2)  # both calls answered and ended with a BYE sipp acknowledged
    transferred = [d for t, d in events if t == "contact.transferred"]
    # The log names the number by reference; it is in the personal data store.
    [target] = [str(d["target"]) for d in transferred]
    assert target.startswith("external:pd-")
    assert not any("+33140000001" in str(data) for _, data in events)
    with SqlitePersonalStore(tmp_path / "d" / "personal.db", create=False) as personal:
        assert personal.get("demo", target.removeprefix("external:")) == "+33140000001"
    released = [d for t, d in events if t == "call.released"]
    assert len(released) == 2 and all(d["by"] == "customer" for d in released)
