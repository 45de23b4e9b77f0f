"""Early media on real sockets: a flow with ``early_media: true`` is answered with an unreliable
``183 Session Progress`` and its prompts play before any ``200 OK``; the 200 comes when the
flow first needs the caller, and a flow that ends before that rejects the call (never billed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from glasshouse.domain.ivr.flow import FlowError, load_flow_text
from glasshouse.service.voice.server import ServerOptions, VoiceServer
from glasshouse.service.voice.setup import load_server_setup
from glasshouse.testing.audio import dominant_frequency, rms_dbfs, tone_pcm
from glasshouse.testing.sip_phone import FakePhone

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng (Debian package) is needed"
)

DEMO = Path(str(resources.files("glasshouse") / "demo"))
_RTP_BASE = iter(range(35000, 36000, 200))

CLOSED_FLOW = """
id: closed
version: 1
name: Closed line
early_media: true
start: lookup
nodes:
  lookup:
    type: hours
    zone: UTC
    weekly: {mon-sun: []}
    open: bye
    closed: closed
  closed:
    type: hangup
    prompt: {text: "We are closed. Please call again tomorrow."}
    reason: closed
  bye: {type: hangup, reason: sip_503}
"""

BUSY_FLOW = """
id: busy
version: 1
name: Busy line
early_media: true
start: busy
nodes:
  busy: {type: hangup, prompt: {text: "All lines are busy."}, reason: sip_486}
"""


def _setup(folder: Path) -> Path:
    """The demo, with 5000 closed, 5001 the main flow as early media and 5002 busy."""
    voice = (DEMO / "voice.yaml").read_text()
    voice = voice.replace(
        '- {number: "1000", flow: main}',
        '- {number: "1000", flow: main}\n      - {number: "5000", flow: closed}'
        '\n      - {number: "5001", flow: main_early}\n      - {number: "5002", flow: busy}',
    )
    (folder / "voice.yaml").write_text(voice)
    (folder / "closed.yaml").write_text(CLOSED_FLOW)
    (folder / "busy.yaml").write_text(BUSY_FLOW)
    main = (DEMO / "ivr-main.yaml").read_text().replace("id: main\n", "id: main_early\n")
    main = main.replace("start: welcome", "start: welcome\nearly_media: true")
    (folder / "early.yaml").write_text(main)
    server = (
        (DEMO / "server.yaml")
        .read_text()
        .replace(
            "flows: [ivr-main.yaml]",
            f"flows: [{DEMO / 'ivr-main.yaml'}, closed.yaml, early.yaml, busy.yaml]",
        )
    )
    (folder / "server.yaml").write_text(server)
    return folder / "server.yaml"


@contextlib.asynccontextmanager
async def early_server(folder: Path) -> AsyncIterator[VoiceServer]:
    low = next(_RTP_BASE)
    setup = load_server_setup(_setup(folder), data_dir=folder / "d")
    server = await VoiceServer.create(
        setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(low, low + 199))
    )
    try:
        yield server
    finally:
        server.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def contact_log(server: VoiceServer, contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    events = [(e.type, e.to_dict()["data"]) for e in server.store.read("demo")]
    return [(t, d) for t, d in events if d.get("contact_id") == contact_id]


def last_contact(server: VoiceServer) -> str:
    arrived = [
        e.to_dict()["data"] for e in server.store.read("demo") if e.type == "contact.arrived"
    ]
    return str(arrived[-1]["contact_id"])


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_early_media_is_a_validated_flow_option() -> None:
    flow = load_flow_text(CLOSED_FLOW)
    assert flow.early_media
    assert not load_flow_text(CLOSED_FLOW.replace("early_media: true\n", "")).early_media
    with pytest.raises(FlowError, match='field "early_media": must be true or false, got text'):
        load_flow_text(CLOSED_FLOW.replace("early_media: true", "early_media: 'yes'"))


def test_closed_line_plays_its_message_as_early_media_then_rejects(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with early_server(tmp_path) as server:
            address = server.switch.stack.address
            async with FakePhone(address, "caller") as caller:
                final = await caller.dial("5000", timeout=20)
                assert final.status == 480  # never answered: the caller is never charged
                statuses = [status for status, _ in caller.heard_at]
                assert 183 in statuses and 200 not in statuses
                early = next(r for r in caller.responses if r.status == 183)
                assert early.content_type is not None and b"m=audio" in early.body
                assert final.to.tag == early.to.tag  # one early dialog, then its end
                heard = dict(caller.heard_at)[480]
                assert heard > 8000  # over half a second of the message reached the caller
                assert rms_dbfs(bytes(caller.heard[:heard])) > -40
                # Another reason names its status: all lines busy is a 486.
                busy = await caller.dial("5002", timeout=20)
                assert busy.status == 486
            await until(lambda: not server.switch.calls)
            log = contact_log(server, last_contact(server))
            types = [t for t, _ in log]
            assert types == [
                "contact.arrived",
                "ivr.step",
                "contact.ivr_completed",
                "call.released",
            ]
            assert log[-1][1]["cause"] == "ivr sip_486"
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_menu_answers_the_call_and_it_goes_on_to_an_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with early_server(tmp_path) as server:
            address = server.switch.stack.address
            async with (
                FakePhone(address, "agent1", "agent1-demo") as agent,
                FakePhone(address, "caller") as caller,
            ):
                assert (await agent.register()).status == 200
                answered = await caller.dial("5001", timeout=20)
                assert answered.status == 200
                statuses = [status for status, _ in caller.heard_at]
                assert statuses.index(183) < statuses.index(200)
                assert caller.early_media.is_set()
                # The welcome prompt was heard before the answer, at the menu.
                assert dict(caller.heard_at)[200] > 8000
                steps = [
                    (d["node_id"], d["outcome"])
                    for t, d in contact_log(server, last_contact(server))
                    if t == "ivr.step"
                ]
                assert steps == [("welcome", "played"), ("opening_hours", "open")]
                assert (await caller.info_dtmf("1")).status == 200  # in the answered dialog
                await asyncio.wait_for(agent.call.established.wait(), 10)
                await caller.send_audio(tone_pcm(440, 800))
                assert abs(dominant_frequency(bytes(agent.heard[-3000:])) - 440) < 15
                assert (await caller.hangup()).status == 200
                await asyncio.wait_for(agent.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls)
            types = [t for t, _ in contact_log(server, last_contact(server))]
            assert types.index("contact.queued") < types.index("contact.answered")

    run(scenario)


def test_caller_cancelling_during_early_media_is_an_ivr_abandon(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with early_server(tmp_path) as server:
            address = server.switch.stack.address
            async with FakePhone(address, "caller") as caller:
                dialling = asyncio.get_running_loop().create_task(caller.dial("5001"))
                await asyncio.wait_for(caller.early_media.wait(), 10)
                assert (await caller.cancel()).status == 200
                assert (await dialling).status == 487
            await until(lambda: not server.switch.calls)
            log = contact_log(server, last_contact(server))
            types = [t for t, _ in log if t != "ivr.step"]
            assert types == ["contact.arrived", "contact.ivr_abandoned", "call.released"]
            assert log[-1][1] == {
                "contact_id": last_contact(server), "by": "customer", "cause": "cancel"
            }  # fmt: skip
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)
