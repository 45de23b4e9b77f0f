"""`glasshouse serve` against real SIP software: sipp and baresip as callers and agent phones.

One server subprocess (the demo tenant, a temporary data directory, free loopback ports) serves
the whole module. The calls go through the real IVR (espeak-ng prompts, RFC 4733 and SIP INFO
digits), the ACD, the agents' phones, hold and recording; the checks read what a user would see:
the event log exported with `glasshouse events export`, the recording WAV, the audio the peers
heard, the metrics of `glasshouse metrics`, and the responses on the wire.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from glasshouse.entrypoints import cli
from glasshouse.protocols.sip.digest import DigestChallenge, authorize
from glasshouse.testing.audio import channel, dominant_frequency, rms_dbfs
from glasshouse.testing.baresip import (
    BaresipAccount,
    BaresipPhone,
    baresip_binary,
    baresip_modules_missing,
    parse_sip_trace,
    write_wav,
)
from glasshouse.testing.pcap import dtmf_pcap, tone_pcap
from glasshouse.testing.sipp import (
    free_port,
    ivr_caller,
    ivr_info_caller,
    raw_sockets_allowed,
    sipp_binary,
)

HOST = "127.0.0.1"
GLASSHOUSE = (sys.executable, "-m", "glasshouse")
WAIT_S = 10.0
SERVER_START_S = 60.0
TONE_HZ = 440.0
AGENT_TONE_HZ = 1000.0

needs_sipp = pytest.mark.skipif(sipp_binary() is None, reason="sipp (sip-tester) is not installed")
needs_raw = pytest.mark.skipif(
    not raw_sockets_allowed(), reason="sipp's play_pcap_audio needs root or CAP_NET_RAW"
)
needs_baresip = pytest.mark.skipif(
    baresip_binary() is None or bool(baresip_modules_missing()),
    reason=f"baresip or its modules are missing: {baresip_modules_missing()}",
)


# ---------------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    """The running `glasshouse serve` process and where it keeps its files."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def db(self) -> Path:
        return self.data_dir / "events.db"

    def stderr_tail(self, lines: int = 60) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return "\n".join(text.strip().splitlines()[-lines:]) or "(empty)"

    def ensure_alive(self) -> None:
        """Fail the test, with the server's stderr, if the server has exited."""
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"glasshouse serve exited with {code}; stderr:\n{self.stderr_tail()}")

    def events(self) -> list[dict[str, Any]]:
        """The demo tenant's event log, as `glasshouse events export` writes it (the command
        runs in this process: polling a new interpreter would cost a second a look)."""
        self.ensure_alive()
        target = self.db.parent.parent / "export.jsonl"
        args = ["events", "export", "--db", str(self.db), "--tenant", "demo"]
        code = cli.main([*args, "--output", str(target)])
        assert code == 0, f"glasshouse events export exited with {code}"
        lines = target.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def wait_events(
        self,
        done: Callable[[list[dict[str, Any]]], bool],
        what: str,
        timeout: float = WAIT_S,
    ) -> list[dict[str, Any]]:
        """The event log once ``done(log)`` holds; fails naming ``what`` after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.events()
            if done(log):
                return log
            if time.monotonic() > deadline:
                tail = "\n".join(json.dumps(e) for e in log[-15:])
                pytest.fail(f"the event log never showed {what} within {timeout} s; tail:\n{tail}")
            time.sleep(0.3)


def _rtp_range() -> tuple[int, int]:
    # A random window keeps this server's media ports away from other servers on the machine;
    # the server skips any port in it that is taken.
    low = random.randrange(40_000, 58_000, 2)
    return low, low + 199


def _wait_banner(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while "Press Ctrl-C to stop." not in server.stdout_path.read_text(errors="replace"):
        server.ensure_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"glasshouse serve not ready within {timeout} s:\n{server.stderr_tail()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed: the server cannot speak the IVR prompts")
    folder = tmp_path_factory.mktemp("serve")
    port = free_port(HOST)
    low, high = _rtp_range()
    stdout_path, stderr_path = folder / "stdout.txt", folder / "stderr.txt"
    command = [*GLASSHOUSE, "serve", "--sip-port", str(port)]
    command += ["--rtp-ports", f"{low}-{high}", "--data-dir", str(folder / "data"), "-v"]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    server = Server(process, port, folder / "data", stdout_path, stderr_path)
    try:
        _wait_banner(server, SERVER_START_S)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@pytest.fixture
def server(server_process: Server) -> Iterator[Server]:
    server_process.ensure_alive()
    yield server_process
    server_process.ensure_alive()


@dataclass
class Ledger:
    """What the tests of this module made happen, per contact, for the metrics check."""

    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (queue, outcome)

    def record(self, contact_id: str, queue: str, outcome: str) -> None:
        self.outcomes[contact_id] = (queue, outcome)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    # Long enough to cover queueing, ringing, answer, hold and retrieve in one stretch.
    tone_pcap(folder / "tone440-long.pcap", TONE_HZ, 9000, "PCMU")
    tone_pcap(folder / "tone440-short.pcap", TONE_HZ, 1000, "PCMU")
    dtmf_pcap(folder / "dtmf1.pcap", "1", duration_ms=120)
    silence = folder / "silence.wav"
    write_wav(silence, bytes(2 * 8000 * 60))
    return {
        "tone_long": folder / "tone440-long.pcap",
        "tone_short": folder / "tone440-short.pcap",
        "dtmf1": folder / "dtmf1.pcap",
        "silence": silence,
    }


# ---------------------------------------------------------------------------------------------
# Helpers


def agent_phone(server: Server, number: int, *, answermode: str) -> BaresipPhone:
    account = BaresipAccount(
        user=f"agent{number}",
        registrar=server.address,
        password=f"agent{number}-demo",
        regint=600,
        answermode=answermode,
    )
    return BaresipPhone(account, tone_hz=AGENT_TONE_HZ, sip_trace=True)


def of_contact(log: Sequence[Mapping[str, Any]], contact_id: str) -> list[Mapping[str, Any]]:
    return [e for e in log if e["data"].get("contact_id") == contact_id]


def released(contact_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda log: any(e["type"] == "call.released" for e in of_contact(log, contact_id))


def wrap_up_ended(contact_id: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda log: any(e["type"] == "agent.acw_ended" for e in of_contact(log, contact_id))


def no_agent_logged_in(log: list[dict[str, Any]]) -> bool:
    present: set[str] = set()
    for event in log:
        if event["type"] == "agent.logged_in":
            present.add(event["data"]["agent_id"])
        elif event["type"] == "agent.logged_out":
            present.discard(event["data"]["agent_id"])
    return not present


Matcher = tuple[str, Mapping[str, str]]


def assert_in_order(events: Sequence[Mapping[str, Any]], expected: Sequence[Matcher]) -> None:
    """Each (type, fields) of ``expected`` matches a later event than the one before it."""
    position = 0
    for kind, fields in expected:
        while position < len(events):
            event = events[position]
            position += 1
            if event["type"] == kind and all(event["data"].get(k) == v for k, v in fields.items()):
                break
        else:
            seen = "\n".join(f"  {e['type']} {json.dumps(e['data'])}" for e in events)
            pytest.fail(
                f"no {kind} {dict(fields)} in the expected order; the contact's log:\n{seen}"
            )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.05)


def peak_share(pcm: bytes, width_hz: float = 25.0) -> float:
    """The share of the signal's energy within ``width_hz`` of its strongest frequency: close
    to 1 for a pure tone, small for speech."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    power = np.abs(np.fft.rfft(samples - samples.mean())) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / 8000)
    peak = freqs[int(np.argmax(power))]
    total = float(power.sum())
    return float(power[np.abs(freqs - peak) <= width_hz].sum()) / total if total else 1.0


def read_stereo(path: Path) -> bytes:
    with wave.open(str(path), "rb") as source:
        assert (source.getnchannels(), source.getsampwidth()) == (2, 2), (
            f"{path}: not 16-bit stereo"
        )
        assert source.getframerate() == 8000
        return source.readframes(source.getnframes())


def loud_part(pcm: bytes, threshold_dbfs: float = -45.0) -> bytes:
    """The 20 ms blocks of mono PCM louder than ``threshold_dbfs``, joined."""
    block = 320
    return b"".join(
        pcm[i : i + block]
        for i in range(0, len(pcm) - block + 1, block)
        if rms_dbfs(pcm[i : i + block]) > threshold_dbfs
    )


# ---------------------------------------------------------------------------------------------
# The baresip driver's SIP trace, which the agent checks below read the screen pop from


def test_the_baresip_sip_trace_gives_the_headers_of_what_it_received() -> None:
    output = (
        "baresip is ready.\n\x1b[36;1m#\nUDP 127.0.0.1:5060 -> 127.0.0.1:7000\n"
        "INVITE sip:agent1@127.0.0.1:7000 SIP/2.0\r\nCall-ID: abc\r\n"
        "X-Glasshouse-Queue: sales\r\nSubject: two\r\n  lines\r\nContent-Length: 0\r\n\r\n"
        "\x1b[;m\ncall: ringing\n\x1b[36;1m#\nUDP 127.0.0.1:7000 -> 127.0.0.1:5060\n"
        "SIP/2.0 180 Ringing\r\nCall-ID: abc\r\n\r\n\x1b[;m\n"
    )
    invite, ringing = parse_sip_trace(output)
    assert (invite.method, invite.source, invite.destination) == (
        "INVITE",
        "127.0.0.1:5060",
        "127.0.0.1:7000",
    )
    assert invite.header("x-glasshouse-queue") == "sales"
    assert invite.header("Subject") == "two lines"
    assert invite.header("X-Missing") is None
    assert ringing.method is None and ringing.start_line == "SIP/2.0 180 Ringing"


# ---------------------------------------------------------------------------------------------
# 1. RFC 4733 caller (sipp) -> sales -> agent1 (baresip) answers, holds, resumes, hangs up


@needs_sipp
@needs_raw
@needs_baresip
def test_sipp_caller_reaches_baresip_agent_who_holds_resumes_and_hangs_up(
    server: Server, media: dict[str, Path], ledger: Ledger
) -> None:
    with agent_phone(server, 1, answermode="manual") as agent:
        agent.wait_registered(WAIT_S)
        with ivr_caller(
            server.address,
            dtmf_pcap=media["dtmf1"],
            tone_pcap=media["tone_long"],
            # The digit comes during the menu prompt, after the welcome has played.
            wait_ms=2500,
            # The caller stays on the line: the agent is the one who hangs up.
            tail_ms=20_000,
            timeout_s=45,
        ) as caller:
            caller.start()
            invite = agent.wait_sip_request("INVITE", 20)
            agent.wait_incoming(WAIT_S)
            contact_id = invite.header("X-Glasshouse-Contact-Id")
            assert contact_id, f"no X-Glasshouse-Contact-Id in the INVITE:\n{invite.text}"
            assert invite.header("X-Glasshouse-Queue") == "sales"
            assert invite.header("X-Glasshouse-Var-menu_choice") == "1"
            agent.answer()
            agent.wait_established(WAIT_S)
            wait_until(lambda: "CALL_RTPESTAB" in agent.event_types(), WAIT_S, "agent RTP")
            time.sleep(1.5)  # the caller's tone reaches the agent and the recording
            agent.hold()
            time.sleep(1.0)
            agent.resume()
            time.sleep(0.5)
            agent.hangup()
            agent.wait_call_closed(WAIT_S)
            heard = agent.received_audio()
            caller.wait().check(calls=1)
        ledger.record(contact_id, "sales", "answered")
        # The agent signs off once wrap-up is over (see the wrap-up test below for why).
        server.wait_events(wrap_up_ended(contact_id), f"the end of wrap-up of {contact_id}")

    log = server.wait_events(released(contact_id), f"call.released of {contact_id}")
    events = of_contact(log, contact_id)
    assert_in_order(
        events,
        [
            ("contact.arrived", {}),
            ("ivr.step", {"node_id": "welcome"}),
            ("ivr.step", {"node_id": "main_menu", "outcome": "digit 1"}),
            ("ivr.step", {"node_id": "sales", "outcome": "queued"}),
            ("contact.queued", {"queue_id": "sales"}),
            ("contact.offered", {"agent_id": "agent1", "queue_id": "sales"}),
            ("contact.answered", {"agent_id": "agent1"}),
            ("recording.started", {}),
            ("contact.held", {"agent_id": "agent1"}),
            ("contact.retrieved", {"agent_id": "agent1"}),
            ("contact.ended", {"by": "agent"}),
            ("recording.stopped", {}),
            ("call.released", {"by": "agent"}),
        ],
    )
    assert [e["type"] for e in events].count("contact.offered") == 1

    recordings = list((server.data_dir / "tenants/demo/recordings").glob(f"*/*/*/{contact_id}.wav"))
    assert len(recordings) == 1, f"recordings found: {recordings}"
    stereo = read_stereo(recordings[0])
    caller_side = loud_part(channel(stereo, 0))
    agent_side = loud_part(channel(stereo, 1))
    assert len(caller_side) >= 2 * 8000, "under a second of the caller's tone was recorded"
    assert dominant_frequency(caller_side[: 2 * 8000]) == pytest.approx(TONE_HZ, abs=15)
    assert dominant_frequency(agent_side) == pytest.approx(AGENT_TONE_HZ, abs=15)

    # baresip 1.0 stops writing what it hears once it holds a call (against another baresip
    # too), so its recording covers the talk before the hold.
    assert dominant_frequency(loud_part(heard)) == pytest.approx(TONE_HZ, abs=15)


# ---------------------------------------------------------------------------------------------
# 2. SIP INFO caller (sipp) -> support -> agent2 (baresip, auto answer); the caller hangs up


@needs_sipp
@needs_raw
@needs_baresip
def test_sip_info_caller_reaches_support_and_hangs_up_first(
    server: Server, media: dict[str, Path], ledger: Ledger
) -> None:
    with agent_phone(server, 2, answermode="auto") as agent:
        agent.wait_registered(WAIT_S)
        with ivr_info_caller(
            server.address,
            tone_pcap=media["tone_short"],
            digit="2",
            wait_ms=2500,
            # Queueing, ringing and the automatic answer happen in this pause.
            after_info_ms=1500,
            tail_ms=500,
            timeout_s=30,
        ) as caller:
            caller.run().check(calls=1)
        invite = agent.wait_sip_request("INVITE", WAIT_S)
        closed = agent.wait_call_closed(WAIT_S)
        contact_id = invite.header("X-Glasshouse-Contact-Id")
        assert contact_id, f"no X-Glasshouse-Contact-Id in the INVITE:\n{invite.text}"
        ledger.record(contact_id, "support", "answered")
        server.wait_events(wrap_up_ended(contact_id), f"the end of wrap-up of {contact_id}")
    assert closed.direction == "incoming"
    assert invite.header("X-Glasshouse-Queue") == "support"

    log = server.wait_events(released(contact_id), f"call.released of {contact_id}")
    assert_in_order(
        of_contact(log, contact_id),
        [
            ("contact.arrived", {}),
            ("ivr.step", {"node_id": "main_menu", "outcome": "digit 2"}),
            ("contact.queued", {"queue_id": "support"}),
            ("contact.offered", {"agent_id": "agent2", "queue_id": "support"}),
            ("contact.answered", {"agent_id": "agent2"}),
            ("contact.ended", {"by": "customer"}),
            ("call.released", {"by": "customer"}),
        ],
    )


@needs_baresip
def test_baresip_caller_hears_the_spoken_welcome_and_reaches_support(
    server: Server, media: dict[str, Path], ledger: Ledger
) -> None:
    # The agent phones of the tests before unregistered when they quit, which logs the agents
    # out: the call waits in the queue until the caller gives up, an abandoned contact.
    log = server.wait_events(no_agent_logged_in, "every agent logged out")
    before = {e["data"]["contact_id"] for e in log if e["type"] == "contact.arrived"}
    account = BaresipAccount(user="caller", registrar=server.address)
    with BaresipPhone(account, audio=media["silence"]) as caller:
        caller.dial(f"sip:1000@{server.address}")
        caller.wait_established(WAIT_S)
        time.sleep(3.2)  # the welcome, and the start of the menu
        caller.send_dtmf("2")

        def queued(log: list[dict[str, Any]]) -> bool:
            return any(
                e["type"] == "contact.queued" and e["data"]["contact_id"] not in before for e in log
            )

        log = server.wait_events(queued, "the caller's contact.queued")
        contact_id = next(
            e["data"]["contact_id"]
            for e in log
            if e["type"] == "contact.queued" and e["data"]["contact_id"] not in before
        )
        time.sleep(1.0)  # waiting, with music
        caller.hangup()
        caller.wait_call_closed(WAIT_S)
        heard = caller.received_audio()
    ledger.record(contact_id, "support", "abandoned")

    welcome = heard[: 2 * 8000 * 3]
    assert len(welcome) == 2 * 8000 * 3, f"only {len(heard) / 16000:.2f} s of audio heard"
    assert rms_dbfs(welcome) > -40
    assert peak_share(welcome) < 0.5, "the caller heard a pure tone, not the spoken prompt"

    log = server.wait_events(released(contact_id), f"call.released of {contact_id}")
    assert_in_order(
        of_contact(log, contact_id),
        [
            ("contact.arrived", {}),
            ("ivr.step", {"node_id": "welcome"}),
            ("ivr.step", {"node_id": "main_menu", "outcome": "digit 2"}),
            ("contact.queued", {"queue_id": "support"}),
            ("contact.abandoned", {}),
            ("call.released", {"by": "customer"}),
        ],
    )


class AgentStillLoggedIn(AssertionError):
    """The agent's phone has signed off, yet the log shows the agent logged in."""


@needs_sipp
@needs_raw
@needs_baresip
def test_an_agent_whose_phone_signs_off_during_wrap_up_is_logged_out(
    server: Server, media: dict[str, Path], ledger: Ledger
) -> None:
    with agent_phone(server, 3, answermode="auto") as agent:
        agent.wait_registered(WAIT_S)
        with ivr_info_caller(
            server.address,
            tone_pcap=media["tone_short"],
            digit="1",
            wait_ms=2500,
            after_info_ms=1000,
            tail_ms=300,
            timeout_s=30,
        ) as caller:
            caller.run().check(calls=1)
        invite = agent.wait_sip_request("INVITE", WAIT_S)
        agent.wait_call_closed(WAIT_S)
        contact_id = invite.header("X-Glasshouse-Contact-Id")
        assert contact_id, f"no X-Glasshouse-Contact-Id in the INVITE:\n{invite.text}"
        ledger.record(contact_id, "sales", "answered")
        log = server.wait_events(released(contact_id), f"call.released of {contact_id}")
        assert not wrap_up_ended(contact_id)(log), "wrap-up ended before the phone signed off"
    # baresip un-REGISTERs as it quits, inside the 5 s wrap-up of the demo's queues.

    server.wait_events(wrap_up_ended(contact_id), f"the end of wrap-up of {contact_id}")
    deadline = time.monotonic() + 2.0
    while not no_agent_logged_in(log := server.events()):
        if time.monotonic() > deadline:
            mine = "\n".join(json.dumps(e) for e in log if e["data"].get("agent_id") == "agent3")
            raise AgentStillLoggedIn(f"agent3 is logged in with no phone; its events:\n{mine}")
        time.sleep(0.2)
    assert_in_order(
        [e for e in log if e["data"].get("agent_id") == "agent3"],
        [
            ("agent.acw_started", {"contact_id": contact_id}),
            ("agent.acw_ended", {"contact_id": contact_id}),
            ("agent.logged_out", {}),
        ],
    )


# ---------------------------------------------------------------------------------------------
# 3. The metrics agree with the log and with the calls made


def test_metrics_count_the_calls_made(server: Server, ledger: Ledger, tmp_path: Path) -> None:
    if not ledger.outcomes:
        pytest.skip("no call of this module ran before this test")
    export = tmp_path / "events.jsonl"
    exported = subprocess.run(
        [*GLASSHOUSE, "events", "export", "--db", str(server.db), "--tenant", "demo"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr.decode(errors="replace")
    export.write_bytes(exported.stdout)
    log = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    done = subprocess.run(
        [*GLASSHOUSE, "metrics", "--events", str(export), "--tenant", "demo", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["demo"]

    expected: dict[str, dict[str, int]] = {}
    for queue, outcome in ledger.outcomes.values():
        counts = expected.setdefault(queue, {"offered": 0, "answered": 0, "abandoned": 0})
        counts["offered"] += 1
        counts[outcome] += 1
    for queue, counts in expected.items():
        figures = report["queues"][queue]["total"]
        assert {k: figures[k] for k in counts} == counts, f"queue {queue}"
        in_log = {
            "offered": sum(
                e["type"] == "contact.queued" and e["data"]["queue_id"] == queue for e in log
            ),
            "answered": sum(
                e["type"] == "contact.answered" and e["data"]["queue_id"] == queue for e in log
            ),
        }
        assert {k: figures[k] for k in in_log} == in_log, f"queue {queue} against the log"
    tenant = report["tenant_figures"]["total"]["contacts"]
    assert tenant["offered"] == len(ledger.outcomes)
    assert tenant["answered"] == sum(o == "answered" for _, o in ledger.outcomes.values())
    assert tenant["abandoned"] == sum(o == "abandoned" for _, o in ledger.outcomes.values())
    assert tenant["abandoned"] == sum(e["type"] == "contact.abandoned" for e in log)


# ---------------------------------------------------------------------------------------------
# 4. Bad input over the wire


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)


def parse_reply(data: bytes) -> Reply:
    head = data.decode("utf-8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
    found = re.match(r"SIP/2\.0 (\d{3}) (.*)", head[0])
    assert found, f"not a SIP response: {head[0]!r}"
    headers = [(n.strip(), v.strip()) for n, _, v in (line.partition(":") for line in head[1:])]
    return Reply(int(found.group(1)), found.group(2), headers)


class RawUdp:
    """A bare UDP socket that sends hand-written SIP to the server and reads the replies."""

    def __init__(self, server: Server) -> None:
        self.server = (HOST, server.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(WAIT_S)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def send(self, text: str) -> None:
        """Send ``text`` (``\\n`` line ends, sent as CRLF) as one datagram."""
        self.sock.sendto(text.replace("\n", "\r\n").encode(), self.server)

    def request(self, text: str) -> Reply:
        """Send ``text`` and return the first final reply with its Call-ID (replies to earlier
        datagrams are skipped)."""
        found = re.search(r"^Call-ID: *(\S+)", text, re.M)
        assert found, "a request needs a Call-ID"
        self.send(text)
        deadline = time.monotonic() + WAIT_S
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, _ = self.sock.recvfrom(65_535)
            except TimeoutError:
                pytest.fail(f"no final reply within {WAIT_S} s to:\n{text}")
            reply = parse_reply(data)
            if reply.status >= 200 and reply.header("Call-ID") == found.group(1):
                return reply

    def message(
        self,
        method: str,
        *,
        user: str = "probe",
        to: str | None = None,
        cseq: int = 1,
        call_id: str = "",
        tag: str = "",
        branch: str = "",
        extra: Sequence[tuple[str, str]] = (),
        body: str = "",
    ) -> str:
        """A request from ``user`` to ``to`` (the server itself when None)."""
        server = f"{HOST}:{self.server[1]}"
        uri = f"sip:{to}@{server}" if to else f"sip:{server}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch or _unique('z9hG4bK')}",
            "Max-Forwards: 70",
            f"From: <sip:{user}@{server}>;tag={tag or _unique('t')}",
            f"To: <sip:{to or user}@{server}>",
            f"Call-ID: {call_id or _unique('c')}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{user}@{HOST}:{self.port}>",
            *(f"{name}: {value}" for name, value in extra),
            f"Content-Length: {len(body.replace(chr(10), chr(13) + chr(10)))}",
        ]
        return "\n".join(lines) + "\n\n" + body


def _unique(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:16]


@pytest.fixture
def udp(server: Server) -> Iterator[RawUdp]:
    peer = RawUdp(server)
    yield peer
    peer.close()


def test_a_broken_cseq_gets_400_with_a_warning_naming_it(udp: RawUdp) -> None:
    text = udp.message("OPTIONS").replace("CSeq: 1 OPTIONS", "CSeq: one OPTIONS")
    reply = udp.request(text)
    assert reply.status == 400
    warning = reply.header("Warning") or ""
    assert re.fullmatch(r'399 \S+ ".*\bCSeq\b.*"', warning), f"Warning: {warning!r}"


def test_an_invite_to_an_unknown_number_gets_404(udp: RawUdp) -> None:
    sdp = (
        f"v=0\no=probe 1 1 IN IP4 {HOST}\ns=-\nc=IN IP4 {HOST}\nt=0 0\n"
        f"m=audio {udp.port + 2} RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
    )
    call_id, tag, branch = _unique("c"), _unique("t"), _unique("z9hG4bK")
    dialog = {"call_id": call_id, "tag": tag, "branch": branch}
    invite = udp.message(
        "INVITE", to="9999", extra=[("Content-Type", "application/sdp")], body=sdp, **dialog
    )
    reply = udp.request(invite)
    assert reply.status == 404
    # A non-2xx final answer is acknowledged in its own transaction (RFC 3261 17.1.1.3), or the
    # server would resend it for 32 s.
    ack = udp.message("ACK", to="9999", **dialog)
    udp.send(ack.replace(f"To: <sip:9999@{HOST}:{udp.server[1]}>", f"To: {reply.header('To')}"))


def _register_with_password(udp: RawUdp, user: str, password: str) -> tuple[Reply, Reply]:
    """The challenge to a REGISTER for ``user`` and the answer to the credentials sent back."""
    dialog = {"user": user, "call_id": _unique("c"), "tag": _unique("t")}
    expires = ("Expires", "600")
    challenge = udp.request(udp.message("REGISTER", extra=[expires], **dialog))
    assert challenge.status == 401, f"{user}: the first REGISTER got {challenge.status}"
    offered = challenge.header("WWW-Authenticate")
    assert offered is not None, f"{user}: a 401 without WWW-Authenticate"
    credentials = authorize(
        DigestChallenge.parse(offered),
        method="REGISTER",
        uri=f"sip:{HOST}:{udp.server[1]}",
        username=user,
        password=password,
    )
    extra = [expires, ("Authorization", str(credentials))]
    return challenge, udp.request(udp.message("REGISTER", cseq=2, extra=extra, **dialog))


_ECHOED = frozenset({"via", "from", "to", "call-id", "cseq"})


def _comparable(reply: Reply) -> list[tuple[str, str]]:
    """The reply's headers with the nonce masked and the ones copied from the request reduced
    to their names (they differ because the requests do)."""
    out = []
    for name, value in reply.headers:
        if name.lower() in _ECHOED:
            value = "(from the request)"
        out.append((name, re.sub(r'nonce="[^"]*"', 'nonce="..."', value)))
    return out


def test_wrong_password_and_unknown_user_get_the_same_answer(udp: RawUdp) -> None:
    challenge, final = _register_with_password(udp, "agent3", "not-the-password")
    other_challenge, other_final = _register_with_password(udp, "nobody", "whatever")

    # Nothing tells a scanner which user names exist: challenge and refusal are the same,
    # header for header, apart from the nonce.
    assert final.status in (401, 403), f"a wrong password got {final.status}"
    assert (final.status, final.reason) == (other_final.status, other_final.reason)
    assert _comparable(final) == _comparable(other_final)
    assert _comparable(challenge) == _comparable(other_challenge)
    assert final.header("WWW-Authenticate") != challenge.header("WWW-Authenticate")


def test_the_server_still_answers_options_after_bad_input(udp: RawUdp) -> None:
    udp.send("\x00\xff not SIP at all\n\n")
    udp.send("INVITE sip:1000@nowhere SIP/2.0\nVia: broken\n\n")
    udp.send(udp.message("OPTIONS").replace("Call-ID:", "Call-ID :").replace("CSeq: 1", "CSeq: -1"))
    reply = udp.request(udp.message("OPTIONS", cseq=7))
    assert reply.status == 200
    assert "INVITE" in (reply.header("Allow") or "")
