"""``kill -9`` of the voice server in the middle of a recorded call: the call's events and its
recording up to the last flushed second survive, and the next start recovers the recording; it
also closes the call and the agent's login in the log, so the agent logs in again by registering
and the metrics of the whole log count the interrupted call."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.adapters.media.audio import read_wav
from glasshouse.adapters.media.recording import repair_wav
from glasshouse.domain.events import Event
from glasshouse.entrypoints.cli import main
from glasshouse.testing.audio import dominant_frequency, tone_pcm
from glasshouse.testing.sip_phone import FakePhone

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng (Debian package) is needed"
)

SRC = Path(__file__).resolve().parents[2] / "src"


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


def _start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "glasshouse", "serve", "--sip-port", str(port),
         "--rtp-ports", "36000-36199", "--data-dir", str(data_dir)],
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


def test_events_and_recording_survive_kill_9(tmp_path: Path) -> None:
    port = _free_port()
    server = _start(tmp_path, port)
    contact_id = ""

    async def call() -> None:
        nonlocal contact_id
        address = ("127.0.0.1", port)
        async with (
            FakePhone(address, "agent1", "agent1-demo") as agent,
            FakePhone(address, "caller") as caller,
        ):
            assert (await agent.register()).status == 200
            assert (await caller.dial("1000")).status == 200
            await caller.info_dtmf("1")
            await asyncio.wait_for(agent.call.established.wait(), 10)
            contact_id = agent.call.headers["X-Glasshouse-Contact-Id"]
            await asyncio.gather(
                caller.send_audio(tone_pcm(440, 3500)), agent.send_audio(tone_pcm(770, 3500))
            )
            server.send_signal(signal.SIGKILL)  # mid-call: nobody has hung up
            server.wait(10)

    try:
        asyncio.run(asyncio.wait_for(call(), 60))
    finally:
        _close(server)
    assert server.returncode == -signal.SIGKILL
    with SqliteEventStore(tmp_path / "events.db") as store:
        types = [
            e.type
            for e in store.read("demo")
            if e.to_dict()["data"].get("contact_id") == contact_id
        ]
    assert types[:1] == ["contact.arrived"]
    assert {"contact.queued", "contact.offered", "contact.answered", "recording.started"} <= set(
        types
    )
    assert "call.released" not in types
    (wav,) = list((tmp_path / "tenants" / "demo" / "recordings").rglob("*.wav"))
    # Whatever the kill interrupted, the file holds whole flushed seconds of both parties.
    duration = repair_wav(wav)
    assert duration >= 1000
    audio = read_wav(wav)
    left = (audio.samples[:, 0] * 32767).astype("<i2").tobytes()
    right = (audio.samples[:, 1] * 32767).astype("<i2").tobytes()
    assert abs(dominant_frequency(left) - 440) < 15
    assert abs(dominant_frequency(right) - 770) < 15
    # The next start closes the recording the dead process left open, and logs it.
    restarted = _start(tmp_path, port)
    try:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(20)
    finally:
        _close(restarted)
    with SqliteEventStore(tmp_path / "events.db") as store:
        stopped = [
            e.to_dict()["data"]
            for e in store.read("demo")
            if e.type == "recording.stopped" and e.to_dict()["data"]["contact_id"] == contact_id
        ]
    assert len(stopped) == 1 and stopped[0]["duration_ms"] >= 1000


def _data(event: Event) -> dict[str, object]:
    data: dict[str, object] = event.to_dict()["data"]
    return data


async def _answered_call(agent: FakePhone, caller: FakePhone) -> str:
    """The caller dials the demo number and chooses sales; the agent answers. The contact id."""
    assert (await caller.dial("1000")).status == 200
    await caller.info_dtmf("1")
    await asyncio.wait_for(agent.call.established.wait(), 10)
    return agent.call.headers["X-Glasshouse-Contact-Id"]


def test_after_kill_9_the_call_and_login_are_closed_and_the_agent_works_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    address = ("127.0.0.1", port)
    server = _start(tmp_path, port)
    first = second = ""

    async def before() -> None:
        nonlocal first
        async with (
            FakePhone(address, "agent1", "agent1-demo") as agent,
            FakePhone(address, "caller") as caller,
        ):
            assert (await agent.register()).status == 200
            first = await _answered_call(agent, caller)
            await asyncio.sleep(1)
            server.send_signal(signal.SIGKILL)  # mid-call
            server.wait(10)

    async def after() -> None:
        nonlocal second
        async with (
            FakePhone(address, "agent1", "agent1-demo") as agent,
            FakePhone(address, "caller") as caller,
        ):
            assert (await agent.register()).status == 200  # logs agent1 in again
            second = await _answered_call(agent, caller)
            assert (await caller.hangup()).status == 200
            with SqliteEventStore(tmp_path / "events.db") as store:
                for _ in range(100):  # the demo queue's 5 s of wrap-up
                    if any(
                        e.type == "agent.acw_ended" and _data(e)["contact_id"] == second
                        for e in store.read("demo")
                    ):
                        break
                    await asyncio.sleep(0.1)

    try:
        asyncio.run(asyncio.wait_for(before(), 60))
    finally:
        _close(server)
    assert server.returncode == -signal.SIGKILL
    with SqliteEventStore(tmp_path / "events.db") as store:
        killed_at = list(store.read("demo"))[-1]
    restarted = _start(tmp_path, port)
    try:
        asyncio.run(asyncio.wait_for(after(), 60))
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(20)
        assert restarted.stderr is not None
        assert "left 1 contact(s) and 1 agent(s) open" in restarted.stderr.read()
    finally:
        _close(restarted)

    with SqliteEventStore(tmp_path / "events.db") as store:
        events = list(store.read("demo"))
    closing = [e for e in events if e.seq > killed_at.seq][:4]
    assert [(e.type, _data(e)) for e in closing] == [
        ("contact.ended", {"contact_id": first, "agent_id": "agent1", "by": "system"}),
        ("agent.acw_started", {"agent_id": "agent1", "contact_id": first}),
        ("agent.acw_ended", {"agent_id": "agent1", "contact_id": first}),
        ("agent.logged_out", {"agent_id": "agent1"}),
    ]
    assert {e.ts for e in closing} == {killed_at.ts}  # as of the dead process's last event
    logins = [e.seq for e in events if e.type == "agent.logged_in"]
    assert len(logins) == 2 and logins[1] > closing[-1].seq

    exported = tmp_path / "demo.jsonl"
    db = str(tmp_path / "events.db")
    assert (
        main(["events", "export", "--tenant", "demo", "--db", db, "--output", str(exported)]) == 0
    )
    capsys.readouterr()
    assert main(["metrics", "--events", str(exported), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)["demo"]
    sales = report["queues"]["sales"]["total"]
    # the interrupted call was answered and is handled, its talk up to the last event logged
    assert (sales["offered"], sales["answered"], sales["handled"]) == (2, 2, 2)
    loss = report["tenant_figures"]["total"]["call_loss"]
    assert (loss["arrived"], loss["answered"], loss["lost"]) == (2, 2, 0)
    assert report["agents"]["agent1"]["total"]["logged_in_ms"] > 0
