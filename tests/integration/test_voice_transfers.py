"""Transfers and agents' own calls through the voice server, on real sockets: agents busy on
the calls they place, calls between agents, blind transfer (REFER) to a queue, a named agent or
nowhere, and attended transfer (REFER with Replaces) to an agent or an outside number.

The server runs the demo tenant with a flow that queues straight into ``sales`` (no spoken
prompts) and a trunk whose carrier is a test phone; each agent is a test phone, and an agent's
second line (for the consultation) is a second test phone logged in as the same account."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from glasshouse.adapters.eventstore.jsonl import read_jsonl, write_jsonl
from glasshouse.domain.acd.errors import InvalidTransition, UnknownQueue
from glasshouse.domain.metrics import compute, config_from_events
from glasshouse.protocols.sip.headers import NameAddr
from glasshouse.service.voice.server import ServerOptions, VoiceServer
from glasshouse.service.voice.setup import load_server_setup
from glasshouse.service.voice.transfers import (
    Directory,
    TransferError,
    refer_target,
    refusal,
    sipfrag,
)
from glasshouse.testing.audio import dominant_frequency, rms_dbfs, tone_pcm
from glasshouse.testing.sip_phone import FakePhone

DEMO = Path(str(resources.files("glasshouse") / "demo"))
_RTP_BASE = iter(range(21000, 40000, 200))

DIRECT_FLOW = """
id: direct
version: 1
name: Straight to sales
start: tag
nodes:
  tag:
    type: set
    assign: {account: "'A-42'"}
    next: sales
  sales:
    type: queue
    queue: sales
"""


def _setup(tmp_path: Path, trunk_port: int) -> Path:
    """The demo with 1000 queueing straight into sales, 1 s of wrap-up and the trunk at the
    carrier's port."""
    voice = (DEMO / "voice.yaml").read_text().replace("port: 5080", f"port: {trunk_port}")
    voice = voice.replace('{number: "1000", flow: main}', '{number: "1000", flow: direct}')
    (tmp_path / "voice.yaml").write_text(voice)
    (tmp_path / "direct.yaml").write_text(DIRECT_FLOW)
    server = (DEMO / "server.yaml").read_text().replace("wrap_up_s: 5", "wrap_up_s: 1")
    server = server.replace("flows: [ivr-main.yaml]", "flows: [direct.yaml]")
    (tmp_path / "server.yaml").write_text(server)
    return tmp_path / "server.yaml"


@contextlib.asynccontextmanager
async def voice_server(tmp_path: Path, trunk: FakePhone) -> AsyncIterator[VoiceServer]:
    low = next(_RTP_BASE)
    setup = load_server_setup(_setup(tmp_path, trunk.sip_port), data_dir=tmp_path / "d")
    server = await VoiceServer.create(
        setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(low, low + 199))
    )
    trunk.server = server.switch.stack.address
    try:
        yield server
    finally:
        server.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def events_of(server: VoiceServer) -> list[tuple[str, dict[str, Any]]]:
    return [(e.type, e.to_dict()["data"]) for e in server.store.read("demo")]


def of_contact(server: VoiceServer, contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, d) for t, d in events_of(server) if d.get("contact_id") == contact_id]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def exported_report(server: VoiceServer) -> Any:
    """The metrics of the log as exported (JSON Lines) and read back."""
    out = io.StringIO()
    write_jsonl(server.store.read("demo"), out)
    events = read_jsonl(out.getvalue().splitlines(), "export")
    return compute(events, config_from_events(events))


async def talk(a: FakePhone, b: FakePhone) -> None:
    """Each side sends a tone; each hears the other's."""
    await asyncio.gather(a.send_audio(tone_pcm(440, 800)), b.send_audio(tone_pcm(770, 800)))
    assert abs(dominant_frequency(bytes(b.heard[-3000:])) - 440) < 15
    assert abs(dominant_frequency(bytes(a.heard[-3000:])) - 770) < 15


async def answered_by(agent: FakePhone, caller: FakePhone) -> str:
    """The caller reaches ``agent``; the call's contact id."""
    assert (await caller.dial("1000")).status == 200
    await asyncio.wait_for(agent.call.established.wait(), 10)
    return agent.call.headers["X-Glasshouse-Contact-Id"]


def uri(server: VoiceServer, user: str) -> str:
    host, port = server.switch.stack.address
    return f"sip:{user}@{host}:{port}"


# -- the pure parts ----------------------------------------------------------------------------

DIRECTORY = Directory(
    agents=frozenset({"agent1", "agent2"}),
    usernames={"a.martin": "agent2"},
    queues=frozenset({"sales"}),
)


def test_refer_to_names_an_agent_a_queue_a_number_or_replaces() -> None:
    def target(text: str) -> tuple[str, str]:
        found = refer_target(NameAddr.parse(text), DIRECTORY)
        return found.kind, found.name

    assert target("<sip:agent1@h>") == ("agent", "agent1")
    assert target("<sip:a.martin@h>") == ("agent", "agent2")  # a SIP username
    assert target("<sip:sales@h>") == ("queue", "sales")
    assert target("<sip:+33-1-40-00@h>") == ("external", "+3314000")
    assert target("<tel:+33140000000>") == ("external", "+33140000000")
    attended = refer_target(
        NameAddr.parse("<sip:agent2@h?Replaces=c1%40h%3Bto-tag%3Da%3Bfrom-tag%3Db>"), DIRECTORY
    )
    assert attended.replaces is not None
    assert (attended.replaces.call_id, attended.replaces.to_tag) == ("c1@h", "a")
    for bad, status in (
        ("<sip:nobody@h>", 404),
        ("<sip:h>", 404),
        ("<mailto:x@h>", 416),
        ("<sip:agent2@h?Replaces=c1%40h%3Bto-tag%3Da>", 400),
    ):
        with pytest.raises(TransferError) as caught:
            refer_target(NameAddr.parse(bad), DIRECTORY)
        assert caught.value.status == status, bad
    with pytest.raises(TransferError) as caught:
        refer_target(None, DIRECTORY)
    assert caught.value.status == 400 and "Refer-To" in caught.value.reason


def test_sipfrag_and_refusals() -> None:
    assert sipfrag(200) == b"SIP/2.0 200 OK\r\n"
    assert sipfrag(481, "No such call") == b"SIP/2.0 481 No such call\r\n"
    assert refusal(UnknownQueue("vip")).status == 404
    assert refusal(InvalidTransition("busy"), ["talking"]).status == 486
    assert refusal(InvalidTransition("not ready"), ["wrap_up"]).status == 480


# -- agents' own calls -------------------------------------------------------------------------


def test_agent_calling_out_is_offered_nothing_until_they_hang_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            voice_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                assert (await agent.dial("+33140000002")).status == 200
                await asyncio.wait_for(trunk.call.established.wait(), 5)
                (placed,) = [d for t, d in events_of(server) if t == "contact.outbound_started"]
                assert placed["agent_id"] == "agent1" and placed["consult_for"] == ""
                agent.incoming.clear()
                assert (await caller.dial("1000")).status == 200
                await until(lambda: any(t == "contact.queued" for t, _ in events_of(server)))
                await asyncio.sleep(1.0)
                assert not agent.incoming.is_set()  # busy on their own call: not offered
                assert (await agent.hangup()).status == 200
                await asyncio.wait_for(trunk.call.ended.wait(), 5)
                # Free again: the waiting caller is offered at once (no wrap-up for own calls).
                await asyncio.wait_for(agent.incoming.wait(), 5)
                await asyncio.wait_for(agent.call.established.wait(), 5)
                contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
                await talk(caller, agent)
                # Talking with a customer: a call out is refused, busy.
                async with FakePhone(address, "agent1", "agent1-demo") as line:
                    busy = await line.dial("+33140000003")
                assert busy.status == 486
                assert (await caller.hangup()).status == 200
            await until(lambda: not server.switch.calls)
            own = of_contact(server, placed["contact_id"])
            assert [t for t, _ in own] == [
                "contact.outbound_started",
                "call.dialed",
                "contact.ended",
                "agent.acw_started",
                "agent.acw_ended",
                "call.released",
            ]
            types = [t for t, _ in events_of(server)]
            assert types.count("contact.outbound_started") == 1  # the refused call left nothing
            assert types.index("agent.acw_ended") < types.index("contact.offered")
            assert [t for t, _ in of_contact(server, contact_id) if t != "ivr.step"][:3] == [
                "contact.arrived",
                "contact.queued",
                "contact.offered",
            ]
            report = exported_report(server)
            assert report.tenant_total.loss.arrived == 1
            assert report.queue_totals["sales"].answered == 1
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_agents_call_each_other_by_agent_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            voice_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as one,
                FakePhone(address, "agent2", "agent2-demo") as two,
            ):
                assert (await one.register()).status == 200
                assert (await one.dial("agent9")).status == 404
                assert (await one.dial("agent2")).status == 480  # not registered
                assert (await two.register()).status == 200
                assert (await one.dial("agent2")).status == 200
                await asyncio.wait_for(two.call.established.wait(), 5)
                assert two.call.headers["X-Glasshouse-Agent"] == "agent1"
                contact_id = two.call.headers["X-Glasshouse-Contact-Id"]
                assert not trunk.incoming.is_set()  # never through the trunk
                await talk(one, two)
                assert (await two.hangup()).status == 200
                await asyncio.wait_for(one.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = of_contact(server, contact_id)
            assert log[0] == (
                "contact.outbound_started",
                {"contact_id": contact_id, "agent_id": "agent1", "consult_for": ""},
            )
            answered = next(d for t, d in log if t == "contact.consult_answered")
            assert (answered["agent_id"], answered["from_agent_id"]) == ("agent2", "agent1")
            ended = [d["agent_id"] for t, d in log if t == "contact.ended"]
            assert sorted(ended) == ["agent1", "agent2"]
            assert log[-1][0] == "call.released"

    run(scenario)


def test_a_colleague_who_does_not_answer_stops_ringing_after_the_ring_time(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with FakePhone(("127.0.0.1", 9), "carrier") as trunk:
            path = _setup(tmp_path, trunk.sip_port)
            text = path.read_text().replace(
                "ready_on_register: true", "ready_on_register: true\n      colleague_ring_s: 1"
            )
            path.write_text(text)
            setup = load_server_setup(path, data_dir=tmp_path / "d")
            assert setup.tenants["demo"].phones.colleague_ring_s == 1
            low = next(_RTP_BASE)
            server = await VoiceServer.create(
                setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(low, low + 199))
            )
            try:
                address = server.switch.stack.address
                async with (
                    FakePhone(address, "agent1", "agent1-demo") as one,
                    FakePhone(address, "agent2", "agent2-demo", auto_answer=False) as two,
                ):
                    assert (await one.register()).status == 200
                    assert (await two.register()).status == 200
                    cancelled: list[str] = []
                    two.on_request = lambda r: cancelled.append(r.method)
                    answer = await one.dial("agent2")
                    assert answer.status == 480
                    assert "CANCEL" in cancelled  # the colleague's phone stopped ringing
                    await until(lambda: not server.switch.calls)
                    contact_id = two.call.headers["X-Glasshouse-Contact-Id"]
                    log = of_contact(server, contact_id)
                    assert [t for t, _ in log][:2] == [
                        "contact.outbound_started",
                        "contact.outbound_failed",
                    ]
                    # agent1 is free again in the ACD.
                    view = server.switch.centers["demo"].acd.agent_view("agent1")
                    assert not view.contacts
            finally:
                server.close()

    run(scenario)


# -- blind transfer ----------------------------------------------------------------------------


def test_blind_transfer_to_a_queue_then_to_a_named_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            voice_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as one,
                FakePhone(address, "agent2", "agent2-demo", auto_answer=False) as two,
                FakePhone(address, "agent3", "agent3-demo") as three,
                FakePhone(address, "caller") as caller,
            ):
                assert (await one.register()).status == 200
                contact_id = await answered_by(one, caller)
                assert (await two.register()).status == 200
                assert (await three.register()).status == 200
                # To the support queue: agent2 (support 4) is chosen there.
                assert (await one.refer(uri(server, "support"))).status == 202
                await asyncio.wait_for(one.call.ended.wait(), 5)  # agent1 is let go
                assert one.refer_progress() == [100, 200]
                await asyncio.wait_for(two.incoming.wait(), 5)
                waiting_from = len(caller.heard)
                await asyncio.sleep(0.8)
                assert rms_dbfs(bytes(caller.heard[waiting_from:])) > -40  # music meanwhile
                two.answer()
                await asyncio.wait_for(two.call.established.wait(), 5)
                headers = two.call.headers
                assert headers["X-Glasshouse-Contact-Id"] == contact_id
                assert headers["X-Glasshouse-Queue"] == "support"
                assert headers["X-Glasshouse-Var-account"] == "A-42"  # the screen pop travels
                await talk(caller, two)
                # To a named agent.
                assert (await two.refer(uri(server, "agent3"))).status == 202
                await asyncio.wait_for(two.call.ended.wait(), 5)
                await asyncio.wait_for(three.call.established.wait(), 10)
                assert three.call.headers["X-Glasshouse-Var-account"] == "A-42"
                await talk(caller, three)
                assert (await caller.hangup()).status == 200
                await asyncio.wait_for(three.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = of_contact(server, contact_id)
            transfers = [(d["agent_id"], d["target"]) for t, d in log if t == "contact.transferred"]
            assert transfers == [("agent1", "queue:support"), ("agent2", "agent:agent3")]
            answered = [d["agent_id"] for t, d in log if t == "contact.answered"]
            assert answered == ["agent1", "agent2", "agent3"]
            ended = [(d["agent_id"], d["by"]) for t, d in log if t == "contact.ended"]
            assert ended[-1] == ("agent3", "customer")
            # One recording for the contact, each agent joining it in turn.
            assert [t for t, _ in log].count("recording.started") == 1
            report = exported_report(server)
            assert report.tenant_total.loss.arrived == 1
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_a_transfer_that_cannot_be_made_leaves_the_call_up(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            voice_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                contact_id = await answered_by(agent, caller)
                assert (await agent.refer(uri(server, "nobody"))).status == 202
                await until(lambda: agent.refer_progress() == [404])
                # agent2 is not logged in: the ACD refuses, the agent hears why.
                assert (await agent.refer(uri(server, "agent2"))).status == 202
                await until(lambda: agent.refer_progress()[-2:] == [100, 480])
                # A Replaces that names no call of this agent.
                stray = f"{uri(server, 'agent2')}?Replaces=nope%3Bto-tag%3Dx%3Bfrom-tag%3Dy"
                assert (await agent.refer(stray)).status == 202
                await until(lambda: agent.refer_progress()[-2:] == [100, 481])
                # A number the outbound policy refuses (premium rate).
                assert (await agent.refer(uri(server, "+33899123456"))).status == 202
                await until(lambda: agent.refer_progress()[-2:] == [100, 403])
                await talk(caller, agent)  # still connected
                assert not agent.call.ended.is_set() and not trunk.incoming.is_set()
                assert (await agent.hangup()).status == 200
                await asyncio.wait_for(caller.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            types = [t for t, _ in of_contact(server, contact_id)]
            assert "contact.transferred" not in types
            assert types.count("contact.ended") == 1
            # The refused number was not kept: no event names it.
            assert server.switch.personal.erase_value("demo", "+33899123456") == 0

    run(scenario)


# -- attended transfer -------------------------------------------------------------------------


def test_attended_transfer_to_an_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            voice_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as one,
                FakePhone(address, "agent1", "agent1-demo") as line,  # agent1's second line
                FakePhone(address, "agent2", "agent2-demo") as two,
                FakePhone(address, "caller") as caller,
            ):
                assert (await one.register()).status == 200
                contact_id = await answered_by(one, caller)
                assert (await two.register()).status == 200
                assert (await one.hold()).status == 200
                assert (await line.dial("agent2")).status == 200
                await asyncio.wait_for(two.call.established.wait(), 5)
                assert two.call.headers["X-Glasshouse-Consult-For"] == contact_id
                assert two.call.headers["X-Glasshouse-Var-account"] == "A-42"
                consult_id = two.call.headers["X-Glasshouse-Contact-Id"]
                await talk(line, two)
                assert line.call.dialog is not None
                refer = await one.refer(uri(server, "agent2"), replaces=line.call.dialog)
                assert refer.status == 202
                await asyncio.wait_for(one.call.ended.wait(), 5)
                await asyncio.wait_for(line.call.ended.wait(), 5)
                assert one.refer_progress() == [100, 200]
                await talk(caller, two)  # no music: the customer is off hold, with agent2
                assert (await two.hangup()).status == 200
                await asyncio.wait_for(caller.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = of_contact(server, contact_id)
            transferred = next(d for t, d in log if t == "contact.transferred")
            assert transferred == {
                "contact_id": contact_id,
                "agent_id": "agent1",
                "kind": "attended",
                "target": "agent:agent2",
            }
            types = [t for t, _ in log]
            assert types.index("contact.held") < types.index("contact.transferred")
            assert "contact.transfer_connected" in types
            ended = [(d["agent_id"], d["by"]) for t, d in log if t == "contact.ended"]
            assert ended == [("agent1", "agent"), ("agent2", "agent")]
            consult = of_contact(server, consult_id)
            assert consult[0][1]["consult_for"] == contact_id
            assert [t for t, _ in consult].count("contact.consult_answered") == 1
            after_call = [
                d["contact_id"]
                for t, d in events_of(server)
                if t == "agent.acw_started" and d["agent_id"] == "agent1"
            ]
            assert contact_id in after_call  # agent1 wraps the customer's contact up
            report = exported_report(server)
            assert report.tenant_total.loss.arrived == 1
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_attended_transfer_to_an_outside_number_sent_on_the_consultation(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            voice_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as one,
                FakePhone(address, "agent1", "agent1-demo") as line,
                FakePhone(address, "caller") as caller,
            ):
                assert (await one.register()).status == 200
                contact_id = await answered_by(one, caller)
                assert (await one.hold()).status == 200
                assert (await line.dial("+33140000005")).status == 200
                await asyncio.wait_for(trunk.call.established.wait(), 5)
                await talk(line, trunk)
                # Some phones send the REFER on the consultation, replacing the customer's call.
                assert one.call.dialog is not None
                refer = await line.refer(uri(server, "caller"), replaces=one.call.dialog)
                assert refer.status == 202
                await asyncio.wait_for(line.call.ended.wait(), 5)
                await asyncio.wait_for(one.call.ended.wait(), 5)
                assert line.refer_progress() == [100, 200]
                await talk(caller, trunk)
                assert (await trunk.hangup()).status == 200
                await asyncio.wait_for(caller.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            log = of_contact(server, contact_id)
            transferred = next(d for t, d in log if t == "contact.transferred")
            assert transferred["kind"] == "attended"
            assert transferred["target"].startswith("external:")
            assert "+3314" not in "".join(e.to_json() for e in server.store.read("demo"))
            assert log[-1][0] == "call.released"
            report = exported_report(server)
            assert report.tenant_total.loss.arrived == 1
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)
