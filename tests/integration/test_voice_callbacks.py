"""Callbacks end to end on real sockets: the IVR's callback node queues the caller as a
callback; the reserved agent's phone rings with the number, the customer is called through
the tenant's trunk (a FakePhone as the carrier), and the two are bridged. A customer who does
not answer is retried up to the queue's limit; a callback survives ``kill -9`` of the server.
The number stays out of the log (a reference to the personal data store): once erased, the
pending callback fails for good instead of being dialled."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.adapters.personal import SqlitePersonalStore
from glasshouse.domain.events import Event
from glasshouse.domain.metrics import compute, config_from_events
from glasshouse.entrypoints.cli import main
from glasshouse.protocols.sip.message import SipRequest
from glasshouse.service.voice.callbacks import CallbackSettings
from glasshouse.service.voice.server import ServerOptions, VoiceServer
from glasshouse.service.voice.setup import load_server_setup
from glasshouse.testing.audio import dominant_frequency, tone_pcm
from glasshouse.testing.sip_phone import FakePhone

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng (Debian package) is needed"
)

DEMO = Path(str(resources.files("glasshouse") / "demo"))
SRC = Path(__file__).resolve().parents[2] / "src"
CUSTOMER = "+33612345678"
_RTP_BASE = iter(range(33000, 34400, 100))

CALLBACK_FLOW = """
id: callme
version: 1
name: Call me back
start: offer
nodes:
  offer:
    type: callback
    number: "{{caller}}"
    queue: sales
    next: bye
    fallback: sorry
  bye: {type: hangup, prompt: {text: "We will call you back."}, reason: callback}
  sorry: {type: hangup, prompt: {text: "Sorry."}, reason: no_callback}
"""


def _setup(folder: Path, trunk_port: int, retry_s: int | None = None) -> Path:
    """The demo with its trunk at ``trunk_port`` and number 4000 offering a callback (and its
    queues' ``callback_retry_s`` set when given)."""
    voice = (DEMO / "voice.yaml").read_text().replace("port: 5080", f"port: {trunk_port}")
    voice = voice.replace(
        '- {number: "1000", flow: main}',
        '- {number: "1000", flow: main}\n      - {number: "4000", flow: callme}',
    )
    (folder / "voice.yaml").write_text(voice)
    (folder / "callme.yaml").write_text(CALLBACK_FLOW)
    server = (
        (DEMO / "server.yaml")
        .read_text()
        .replace("flows: [ivr-main.yaml]", f"flows: [{DEMO / 'ivr-main.yaml'}, callme.yaml]")
    )
    if retry_s is not None:
        server = server.replace(
            "ring_timeout_s: 20", f"ring_timeout_s: 20\n        callback_retry_s: {retry_s}"
        )
    (folder / "server.yaml").write_text(server)
    return folder / "server.yaml"


@contextlib.asynccontextmanager
async def callback_server(
    folder: Path, trunk: FakePhone, retry_s: int | None = None
) -> AsyncIterator[VoiceServer]:
    low = next(_RTP_BASE)
    setup = load_server_setup(_setup(folder, trunk.sip_port, retry_s), data_dir=folder / "d")
    server = await VoiceServer.create(
        setup, ServerOptions(sip_host="127.0.0.1", sip_port=0, rtp_ports=(low, low + 99))
    )
    trunk.server = server.switch.stack.address
    try:
        yield server
    finally:
        server.close()


def run(test: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout))


def log_of(events: list[Event], contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (e.type, e.to_dict()["data"])
        for e in events
        if e.to_dict()["data"].get("contact_id") == contact_id
    ]


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def request_callback(address: tuple[str, int]) -> None:
    """A caller reaches the callback node, hears the goodbye and is hung up on."""
    async with FakePhone(address, CUSTOMER) as caller:
        assert (await caller.dial("4000")).status == 200
        await asyncio.wait_for(caller.call.ended.wait(), 10)


def test_callback_rings_the_agent_then_the_customer_and_bridges_them(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            callback_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            await request_callback(address)
            events = list(server.store.read("demo"))
            requested = [e.body for e in events if e.type == "callback.requested"]
            assert len(requested) == 1
            contact_id = requested[0].contact_id
            # The log names the number by reference only; the personal data store holds it.
            assert server.switch.personal.get("demo", requested[0].number_ref) == CUSTOMER
            assert CUSTOMER not in "".join(e.to_json() for e in events)
            await until(lambda: not server.switch.calls)
            # The caller's hang-up abandoned nothing: the callback waits for an agent.
            assert server.switch.centers["demo"].acd.contact_phase(contact_id) == "waiting"
            async with FakePhone(address, "agent1", "agent1-demo") as agent:
                assert (await agent.register()).status == 200
                await asyncio.wait_for(agent.incoming.wait(), 10)
                headers = agent.call.headers
                assert headers["X-Glasshouse-Callback-Number"] == CUSTOMER
                assert headers["X-Glasshouse-Contact-Id"] == contact_id
                assert headers["X-Glasshouse-Queue"] == "sales"
                await asyncio.wait_for(trunk.incoming.wait(), 10)
                invite = trunk.call.invite
                assert invite is not None and str(invite.uri).startswith(f"sip:{CUSTOMER}@")
                # The carrier gets no screen pop.
                assert not any(name.startswith("X-Glasshouse") for name, _ in invite.headers)
                await asyncio.wait_for(trunk.call.established.wait(), 5)
                await asyncio.gather(
                    agent.send_audio(tone_pcm(440, 1200)), trunk.send_audio(tone_pcm(770, 1200))
                )
                assert abs(dominant_frequency(bytes(trunk.heard[-4000:])) - 440) < 15
                assert abs(dominant_frequency(bytes(agent.heard[-4000:])) - 770) < 15
                assert (await agent.hangup()).status == 200
                await asyncio.wait_for(trunk.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls and not server.switch.callbacks.active)
            events = list(server.store.read("demo"))
            types = [t for t, _ in log_of(events, contact_id)]
            wanted = [
                "contact.arrived",
                "contact.queued",
                "callback.requested",
                "callback.dialing",
                "contact.answered",
                "recording.started",
                "contact.ended",
            ]
            assert [t for t in types if t in wanted] == wanted
            ended = next(d for t, d in log_of(events, contact_id) if t == "contact.ended")
            assert ended == {"contact_id": contact_id, "agent_id": "agent1", "by": "agent"}
            queue = compute(events, config_from_events(events)).queue_totals["sales"]
            assert (queue.callbacks_requested, queue.callbacks_connected) == (1, 1)
            assert server.switch.table_sizes() == {"calls": 0, "dialogs": 0, "invites": 0}

    run(scenario)


def test_customer_not_answering_is_retried_until_the_queues_limit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            callback_server(tmp_path, trunk, retry_s=1) as server,
        ):
            server.switch.callbacks.settings = CallbackSettings(
                customer_ring_s=1.5, not_reached_prompt="No answer."
            )
            # Busy, then ringing without an answer, then declined: three attempts (the limit).
            script = iter([(486, True), (None, False), (603, True)])

            def carrier(request: SipRequest) -> None:
                if request.method == "INVITE" and request.to.tag is None:
                    trunk.reject_with, trunk.auto_answer = next(script, (480, True))

            trunk.on_request = carrier
            address = server.switch.stack.address
            async with FakePhone(address, "agent1", "agent1-demo") as agent:
                invites = 0

                def agent_rung(request: SipRequest) -> None:
                    nonlocal invites
                    invites += request.method == "INVITE" and request.to.tag is None

                agent.on_request = agent_rung
                assert (await agent.register()).status == 200
                await request_callback(address)

                def failures() -> list[dict[str, Any]]:
                    return [
                        e.to_dict()["data"]
                        for e in server.store.read("demo")
                        if e.type == "callback.failed"
                    ]

                await until(lambda: len(failures()) == 3, timeout=40)
                assert [f["retry"] for f in failures()] == [True, True, False]
                assert invites == 3  # the agent's phone rang for each attempt
                await until(lambda: not server.switch.callbacks.active)
                assert agent.call.ended.is_set()  # each attempt ended with a BYE to the agent
            events = list(server.store.read("demo"))
            contact_id = failures()[0]["contact_id"]
            types = [t for t, _ in log_of(events, contact_id)]
            assert types.count("callback.dialing") == 3
            assert "contact.answered" not in types
            # Each retry waited the queue's callback_retry_s (1 s) after the failed attempt.
            timeline = [
                (e.type, e.ts)
                for e in events
                if e.to_dict()["data"].get("contact_id") == contact_id
            ]
            failed = [ts for t, ts in timeline if t == "callback.failed"]
            dialing = [ts for t, ts in timeline if t == "callback.dialing"]
            assert all(dialing[i + 1] - failed[i] >= 1000 for i in range(2))
            causes = [d["cause"] for t, d in log_of(events, contact_id) if t == "call.released"]
            assert [c for c in causes if c.startswith("callback:")] == [
                "callback: customer 486 Busy Here",
                "callback: customer no answer",
                "callback: customer 603 Decline",
            ]
            assert server.switch.centers["demo"].acd.contact_phase(contact_id) is None
            queue = compute(events, config_from_events(events)).queue_totals["sales"]
            assert (queue.callbacks_requested, queue.callbacks_connected) == (1, 0)

    run(scenario)


def test_agent_declining_puts_the_callback_back_for_the_next_agent(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            callback_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            await request_callback(address)
            async with (
                FakePhone(address, "agent1", "agent1-demo", reject_with=603) as refusing,
                FakePhone(address, "agent3", "agent3-demo") as agent,
            ):
                assert (await refusing.register()).status == 200
                await asyncio.wait_for(refusing.incoming.wait(), 10)
                assert (await agent.register()).status == 200
                await asyncio.wait_for(agent.call.established.wait(), 10)
                await asyncio.wait_for(trunk.call.established.wait(), 10)
                assert (await trunk.hangup()).status == 200  # the customer hangs up
                await asyncio.wait_for(agent.call.ended.wait(), 5)
            await until(lambda: not server.switch.calls and not server.switch.callbacks.active)
            events = list(server.store.read("demo"))
            contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
            log = log_of(events, contact_id)
            dialing = [d["agent_id"] for t, d in log if t == "callback.dialing"]
            assert dialing == ["agent1", "agent3"]
            assert [d["retry"] for t, d in log if t == "callback.failed"] == [True]
            refused = [
                d for t, d in ((e.type, e.to_dict()["data"]) for e in events)
                if t == "agent.not_ready" and d["agent_id"] == "agent1"
            ]  # fmt: skip
            assert refused[-1]["reason"] == "ring_no_answer"
            ended = next(d for t, d in log if t == "contact.ended")
            assert ended == {"contact_id": contact_id, "agent_id": "agent3", "by": "customer"}
            compute(events, config_from_events(events))

    run(scenario)


def test_a_callback_the_tenant_may_not_place_takes_the_nodes_fallback(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            callback_server(tmp_path, trunk) as server,
        ):
            # A premium-rate number is blocked by the tenant's outbound policy.
            async with FakePhone(server.switch.stack.address, "+33899123456") as caller:
                assert (await caller.dial("4000")).status == 200
                await asyncio.wait_for(caller.call.ended.wait(), 10)
            await until(lambda: not server.switch.calls)
            events = [(e.type, e.to_dict()["data"]) for e in server.store.read("demo")]
        steps = [(d["node_id"], d["outcome"]) for t, d in events if t == "ivr.step"]
        assert steps == [("offer", "unavailable"), ("sorry", "hangup")]
        types = [t for t, _ in events]
        assert "callback.requested" not in types and "contact.ivr_completed" in types
        assert not trunk.incoming.is_set()

    run(scenario)


# -- erasure ---------------------------------------------------------------------------------


def erase(folder: Path) -> None:
    """``glasshouse privacy erase`` of the customer's number, as an operator would run it."""
    argv = ["privacy", "erase", "--data-dir", str(folder / "d"), "--tenant", "demo"]
    assert main([*argv, "--number", CUSTOMER]) == 0


def failed_for_good(server: VoiceServer) -> list[tuple[str, dict[str, Any]]]:
    """The log of the one callback requested, after checking its number was never dialled."""
    events = list(server.store.read("demo"))
    requested = [e.body for e in events if e.type == "callback.requested"]
    assert len(requested) == 1
    contact_id = requested[0].contact_id
    assert server.switch.personal.get("demo", requested[0].number_ref) is None
    assert server.switch.centers["demo"].acd.contact_phase(contact_id) is None
    compute(events, config_from_events(events))  # the log is still a valid lifecycle
    return log_of(events, contact_id)


def test_a_callback_whose_number_is_erased_while_it_waits_fails_for_good(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with (
            FakePhone(("127.0.0.1", 9), "carrier") as trunk,
            callback_server(tmp_path, trunk) as server,
        ):
            address = server.switch.stack.address
            await request_callback(address)
            await until(lambda: not server.switch.calls)
            erase(tmp_path)  # another process, on the running server's file
            async with FakePhone(address, "agent1", "agent1-demo") as agent:
                assert (await agent.register()).status == 200
                await until(lambda: not server.switch.callbacks.pending)
                await asyncio.sleep(0.3)
                assert not agent.incoming.is_set()  # nobody is rung for a number that is gone
            assert not trunk.incoming.is_set()
            log = failed_for_good(server)
            assert [t for t, _ in log if t.startswith("callback.")] == [
                "callback.requested", "callback.dialing", "callback.failed"
            ]  # fmt: skip
            assert [d["retry"] for t, d in log if t == "callback.failed"] == [False]

    with caplog.at_level("WARNING", logger="glasshouse.service.voice.callbacks"):
        run(scenario)
    assert "fails for good: its number (pd-" in caplog.text
    assert CUSTOMER not in caplog.text


def test_a_callback_whose_number_is_erased_while_the_server_is_stopped_fails_for_good(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with FakePhone(("127.0.0.1", 9), "carrier") as trunk:
            async with callback_server(tmp_path, trunk) as server:
                await request_callback(server.switch.stack.address)
                await until(lambda: not server.switch.calls)
            erase(tmp_path)
            async with callback_server(tmp_path, trunk) as server:
                async with FakePhone(server.switch.stack.address, "agent1", "agent1-demo") as agent:
                    assert (await agent.register()).status == 200
                    await until(lambda: not server.switch.callbacks.pending)
                    await asyncio.sleep(0.3)
                    assert not agent.incoming.is_set()
                assert not trunk.incoming.is_set()
                log = failed_for_good(server)
                assert [t for t, _ in log if t.startswith("callback.")] == [
                    "callback.requested", "callback.restored", "callback.dialing",
                    "callback.failed",
                ]  # fmt: skip
                assert [d["retry"] for t, d in log if t == "callback.failed"] == [False]

    run(scenario)


# -- kill -9 ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = int(udp.getsockname()[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        try:
            tcp.bind(("127.0.0.1", port))
        except OSError:
            return _free_port()
    return port


def _start(config: Path, data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "glasshouse", "serve", "--config", str(config),
         "--sip-port", str(port), "--rtp-ports", "34600-34799", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "Press Ctrl-C" in line:
            return proc
        if not line and proc.poll() is not None:
            raise AssertionError(
                f"the server did not start: {proc.stderr.read() if proc.stderr else ''}"
            )
    _close(proc)
    raise AssertionError("the server did not start in 60 s")


def _close(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def test_a_pending_callback_survives_kill_9_and_is_dialled_after_restart(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"

    async def scenario() -> None:
        async with FakePhone(("127.0.0.1", port), "carrier") as trunk:
            config = _setup(tmp_path, trunk.sip_port)
            server = _start(config, data, port)
            try:
                await request_callback(("127.0.0.1", port))
                server.send_signal(signal.SIGKILL)  # before any agent could dial it
                server.wait(10)
            finally:
                _close(server)
            assert server.returncode == -signal.SIGKILL
            restarted = _start(config, data, port)
            try:
                async with FakePhone(("127.0.0.1", port), "agent1", "agent1-demo") as agent:
                    assert (await agent.register()).status == 200
                    await asyncio.wait_for(agent.incoming.wait(), 10)
                    assert agent.call.headers["X-Glasshouse-Callback-Number"] == CUSTOMER
                    await asyncio.wait_for(trunk.call.established.wait(), 10)
                    invite = trunk.call.invite
                    assert invite is not None and str(invite.uri).startswith(f"sip:{CUSTOMER}@")
                    assert (await agent.hangup()).status == 200
                    await asyncio.wait_for(trunk.call.ended.wait(), 5)
                restarted.send_signal(signal.SIGTERM)
                restarted.wait(20)
            finally:
                _close(restarted)

    run(scenario, timeout=150)
    with SqliteEventStore(data / "events.db") as store:
        events = list(store.read("demo"))
    requested = [e.body for e in events if e.type == "callback.requested"]
    assert len(requested) == 1
    assert CUSTOMER not in "".join(e.to_json() for e in events)
    with SqlitePersonalStore(data / "personal.db", create=False) as personal:
        assert personal.get("demo", requested[0].number_ref) == CUSTOMER
    types = [t for t, _ in log_of(events, requested[0].contact_id)]
    wanted = ["callback.requested", "callback.restored", "callback.dialing", "contact.answered"]
    assert [t for t in types if t in wanted] == wanted
    assert "contact.ended" in types
    queue = compute(events, config_from_events(events)).queue_totals["sales"]
    assert (queue.callbacks_requested, queue.callbacks_connected) == (1, 1)
