"""VOICE-LOAD: concurrent calls and call setups/s the voice server holds on one core.

sipp callers dial a tenant number on loopback; the number's IVR flow plays a menu ("Press 1."),
the caller answers it with a SIP INFO digit, the flow queues the call, the ACD offers it to one of
N agents, the server calls that agent's registered phone, and a sipp UAS standing in for every
agent phone answers. Both ends stream G.711 RTP for the whole call (sipp ``rtp_stream``, a 440 Hz
tone looped), so the server relays media both ways until the caller hangs up.

The server runs in a child process pinned to core 0 (``taskset -c 0``) with the composition
``glasshouse serve`` starts (``VoiceServer.create`` on uvloop), plus a sample of its media engine
every 0.5 s (calls up, bridged legs, RTP relayed per leg, legs that relayed nothing, garbage
collection pauses). ``--cli`` runs the ``glasshouse serve`` command itself instead (no media
sample, no baseline). sipp and this script run on core 1. The agents' accounts are registered
by a small digest client bound to the sipp UAS's port: the registrar sends an agent's calls to
the address its REGISTER came from.

A step runs callers at R setups/s for D seconds, each call talking H seconds after the IVR, so
R x (0.2 + H) calls are up at once. The server's CPU (utime + stime from /proc) is taken over the
steady part of the step. A step is held when no call failed: sipp's failed counts on both sides,
every call created completed, the event log's arrivals, answers and caller releases equal the
calls made, no server error was logged, and every bridged leg relayed RTP at >= 45 packets/s.
Per step the table shows calls up (measured in the server), setups/s, failed calls, server CPU as
% of one core and ms per call, RTP packets/s per bridged leg, mean INVITE -> 200, the share of
the server's core other processes took, and the load generator's CPU.

Baseline, in the same run: the concurrency steps with the relay fast path off
(``MediaEngine.fast_relay = False``: every bridged packet parsed and re-stamped), reported as a
ratio of CPU per call at the lightest step and of concurrent calls held.

    python benchmarks/sip_load.py            # full: 250-700 up at 25/s, 25-200 setups/s (~10 min)
    python benchmarks/sip_load.py --quick    # CI smoke: 20 up at 10/s, under a minute
    python benchmarks/sip_load.py --record   # recording on (media.record), both runs
    python benchmarks/sip_load.py --steps 25:19.8:34,100:1:15   # own steps, R:H:D

Targets: >= 500 concurrent calls with media and >= 200 call setups/s on one core, 0 failed.
Needs sipp (Debian ``sip-tester``) built with RTPSTREAM, ``taskset`` and two cores.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import resource
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
SERVER_CORE = 0
LOAD_CORE = 1
NUMBER = "1000"
PASSWORD = "load-secret-{:04d}"
INFO_AFTER_MS = 200  # the caller presses 1 this long after the answer (barge-in on the menu)
IVR_S = INFO_AFTER_MS / 1000
RTP_PORTS = (44000, 49999)  # the server's; sipp's media ports start at 50000 and 57000
TARGET_CONCURRENT = 500
TARGET_CPS = 200
EXPECTED_PPS = 50  # G.711 in 20 ms packets
SAMPLE_S = 0.5


class LoadError(RuntimeError):
    """The load cannot be set up (a tool missing, the server not starting, a registration
    refused); the message says what and where."""


# ---------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True, slots=True)
class Step:
    """R calls/s for ``duration_s`` seconds, each held ``hold_s`` seconds after the IVR."""

    name: str
    rate: float
    hold_s: float
    duration_s: float

    @property
    def concurrency(self) -> int:
        return round(self.rate * (IVR_S + self.hold_s))

    @property
    def calls(self) -> int:
        return round(self.rate * self.duration_s)

    @property
    def window(self) -> tuple[float, float]:
        """Seconds from the first call when calls up are steady: arrivals = departures."""
        return IVR_S + self.hold_s + 1.5, self.duration_s - 0.5


@dataclass(frozen=True, slots=True)
class Sweep:
    """Steps run in order on one server until one is not held."""

    name: str
    steps: tuple[Step, ...]


def concurrency_step(up: int, rate: float) -> Step:
    """``up`` calls at once at ``rate`` setups/s, long enough for 12 s of steady state."""
    hold = round(up / rate - IVR_S, 2)
    return Step(f"{up} up", rate, hold, IVR_S + hold + 14)


def cps_step(rate: float, hold_s: float, duration_s: float) -> Step:
    return Step(f"{rate:g}/s", rate, hold_s, duration_s)


def full_plan() -> tuple[list[Sweep], list[Sweep]]:
    # Calls up at 25 setups/s, so that call handling stays a quarter of the core and the sweep
    # measures media; setups/s with 1 s calls, so that it measures call handling.
    concurrent = Sweep(
        "concurrent",
        tuple(concurrency_step(n, 25) for n in (250, TARGET_CONCURRENT, 600, 700)),
    )
    setups = Sweep(
        "setups/s", tuple(cps_step(r, 1.0, 15) for r in (25, 50, 75, 100, 150, TARGET_CPS))
    )
    baseline = Sweep(
        "concurrent", tuple(concurrency_step(n, 25) for n in (250, 375, TARGET_CONCURRENT, 600))
    )
    return [concurrent, setups], [baseline]


def quick_plan() -> tuple[list[Sweep], list[Sweep]]:
    step = Step("20 up", 10, 1.8, 12)
    return [Sweep("quick", (step,))], [Sweep("quick", (step,))]


# ---------------------------------------------------------------------------------------------
# The server's setup


def write_setup(folder: Path, agents: int, *, record: bool) -> Path:
    """One tenant, one number, a menu answered by INFO, one queue and ``agents`` agents with
    phone accounts ``agent0000``...; returns the server setup file."""
    accounts = "\n".join(
        f'      - {{username: agent{i:04d}, agent: agent{i:04d}, password: "{PASSWORD.format(i)}"}}'
        for i in range(agents)
    )
    (folder / "voice.yaml").write_text(
        f"""server: {{realm: glasshouse, sip_host: {HOST}}}
registrar: {{algorithms: [MD5], max_expires: 3600, default_expires: 3600}}
tenants:
  - id: load
    numbers: [{{number: "{NUMBER}", flow: load}}]
    accounts:
{accounts}
    trunks:
      - {{name: sipp, host: {HOST}, port: 5999, transport: udp}}
"""
    )
    (folder / "flow.yaml").write_text(
        """id: load
version: 1
name: Load test line
start: menu
nodes:
  menu:
    type: menu
    prompt: {text: "Press 1."}
    options: {"1": queue}
    fallback: queue
  queue: {type: queue, queue: agents}
"""
    )
    agent_list = "\n".join(f"      - {{id: agent{i:04d}}}" for i in range(agents))
    server = folder / "server.yaml"
    server.write_text(
        f"""voice: voice.yaml
tenants:
  - id: load
    queues: [{{id: agents, strategy: longest_idle, wrap_up_s: 0, ring_timeout_s: 20}}]
    agents:
{agent_list}
    flows: [flow.yaml]
    media: {{record: {str(record).lower()}, announce_every_s: 0, moh: true}}
"""
    )
    return server


# ---------------------------------------------------------------------------------------------
# sipp scenarios: a caller that answers the menu and streams, an agent phone that streams


_CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="Glasshouse load caller">
  <Global variables="wait_ms,hold_ms" />
  <nop><action>
    <todouble assign_to="wait" variable="wait_ms" />
    <todouble assign_to="hold" variable="hold_ms" />
  </action></nop>
  <send retrans="500" start_txn="invite"><![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]Ld[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=caller 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=ptime:20
      a=sendrecv

    ]]></send>
  <recv response="100" optional="true" response_txn="invite" />
  <recv response="180" optional="true" response_txn="invite" />
  <recv response="200" rtd="true" rrs="true" response_txn="invite" timeout="32000" />
  <send ack_txn="invite"><![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]Ld[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
    <action><exec rtp_stream="{rtp_file},-1,0" /></action>
  </send>
  <pause variable="wait" />
  <send retrans="500"><![CDATA[

      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]Ld[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 INFO
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal=1
      Duration=160

    ]]></send>
  <recv response="200" timeout="32000" />
  <pause variable="hold" />
  <send retrans="500"><![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]Ld[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 3 BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]></send>
  <recv response="200" crlf="true" timeout="32000" />
  <timewait milliseconds="500" />
  <ResponseTimeRepartition value="10, 20, 50, 100, 200, 500, 1000" />
  <CallLengthRepartition value="1000, 5000, 10000, 20000" />
</scenario>
"""

_AGENT = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="Glasshouse load agent phone">
  <recv request="INVITE" crlf="true" />
  <send><![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]Ag[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Length: 0

    ]]></send>
  <send retrans="500"><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]Ag[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=ptime:20
      a=sendrecv

    ]]></send>
  <recv request="ACK" crlf="true" timeout="32000">
    <action><exec rtp_stream="{rtp_file},-1,0" /></action>
  </recv>
  <!-- A 200 retransmitted before the ACK came gets a second ACK (a new transaction). -->
  <label id="talking" />
  <recv request="ACK" optional="true" next="talking" />
  <recv request="BYE" timeout="600000" />
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <timewait milliseconds="500" />
</scenario>
"""


def write_scenarios(folder: Path) -> tuple[Path, Path]:
    """The caller and agent scenarios and the tone they stream (raw PCMU, looped by sipp;
    ``rtp_stream`` takes no ``-key`` substitution, so the path is written in)."""
    from glasshouse.protocols.rtp.g711 import G711Law, encode
    from glasshouse.testing.audio import tone_pcm

    tone = folder / "tone-440.pcmu"
    tone.write_bytes(encode(G711Law.PCMU, tone_pcm(440, 2000)))
    caller, agent = folder / "caller.xml", folder / "agent.xml"
    caller.write_text(_CALLER.replace("{rtp_file}", str(tone)))
    agent.write_text(_AGENT.replace("{rtp_file}", str(tone)))
    return caller, agent


# ---------------------------------------------------------------------------------------------
# Registering the agents' phones


def register_agents(server: tuple[str, int], contact_port: int, agents: int) -> float:
    """REGISTER ``agent0000``... with digest auth from ``HOST:contact_port`` (where the sipp UAS
    will listen: the registrar sends calls to the address a REGISTER came from). Up to 64 in
    flight, retransmitted after 1 s; returns the seconds taken. Raises ``LoadError``."""
    from glasshouse.protocols.sip.dialog import new_request
    from glasshouse.protocols.sip.digest import DigestChallenge, authorize, choose_challenge
    from glasshouse.protocols.sip.headers import NameAddr
    from glasshouse.protocols.sip.message import SipRequest, SipResponse, parse_message
    from glasshouse.protocols.sip.transaction import with_via
    from glasshouse.protocols.sip.uri import SipParseError, SipUri

    registrar_uri = SipUri(host=server[0], port=server[1])

    def request(index: int, cseq: int, call_id: str | None, auth: str | None) -> SipRequest:
        user = f"agent{index:04d}"
        aor = NameAddr(uri=SipUri(host=server[0], user=user, port=server[1]))
        extra = [("Expires", "3600")] + ([("Authorization", auth)] if auth else [])
        built = new_request(
            "REGISTER",
            registrar_uri,
            from_addr=aor,
            to_addr=aor,
            contact=NameAddr(uri=SipUri(host=HOST, user=user, port=contact_port)),
            call_id=call_id,
            cseq=cseq,
            extra_headers=extra,
        )
        return with_via(built, HOST, contact_port)

    started = time.monotonic()
    pending = list(range(agents))
    in_flight: dict[str, tuple[int, SipRequest, float, int]] = {}  # call-id -> state
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, contact_port))
        except OSError as exc:
            raise LoadError(f"cannot bind the agents' contact port {contact_port}: {exc}") from None
        sock.setblocking(False)
        while pending or in_flight:
            now = time.monotonic()
            while pending and len(in_flight) < 64:
                index = pending.pop()
                req = request(index, 1, None, None)
                in_flight[req.call_id] = (index, req, now, 1)
                sock.sendto(bytes(req), server)
            for call_id, (index, req, sent_at, tries) in list(in_flight.items()):
                if now - sent_at > 1.0:
                    if tries >= 5:
                        raise LoadError(f"agent{index:04d}: no answer to REGISTER in 5 tries")
                    in_flight[call_id] = (index, req, now, tries + 1)
                    sock.sendto(bytes(req), server)
            ready, _, _ = select.select([sock], [], [], 0.05)
            if not ready:
                continue
            while True:
                try:
                    data = sock.recv(65535)
                except BlockingIOError:
                    break
                try:
                    response = parse_message(data)
                except SipParseError:
                    continue
                if not isinstance(response, SipResponse):
                    continue
                state = in_flight.get(response.call_id)
                if state is None or response.cseq.number != state[1].cseq.number:
                    continue  # a retransmission's second answer
                index, req, _, _ = state
                if response.status == 200:
                    del in_flight[response.call_id]
                elif response.status == 401 and req.cseq.number == 1:
                    challenge = choose_challenge(
                        DigestChallenge.parse(h) for h in response.www_authenticate
                    )
                    if challenge is None:
                        raise LoadError(f"agent{index:04d}: no usable digest challenge")
                    creds = authorize(
                        challenge,
                        method="REGISTER",
                        uri=str(req.uri),
                        username=f"agent{index:04d}",
                        password=PASSWORD.format(index),
                    )
                    again = request(index, 2, response.call_id, str(creds))
                    in_flight[response.call_id] = (index, again, time.monotonic(), 1)
                    sock.sendto(bytes(again), server)
                elif response.status >= 200:
                    raise LoadError(
                        f"agent{index:04d}: REGISTER answered {response.status} {response.reason}"
                    )
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# Processes


def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), from /proc."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def core_busy(core: int | None) -> tuple[float, float]:
    """(busy, total) seconds of ``core`` (all cores when None) since boot, from /proc/stat."""
    name = "cpu" if core is None else f"cpu{core}"
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            ticks = [int(x) for x in fields[1:]]
            idle = ticks[3] + ticks[4]  # idle and iowait
            hz = os.sysconf("SC_CLK_TCK")
            return (sum(ticks) - idle) / hz, sum(ticks) / hz
    return 0.0, 0.0


def rss_bytes() -> int:
    """Resident memory of this process, from /proc."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def ctx_switches() -> tuple[int, int]:
    """(voluntary, involuntary) context switches of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw, usage.ru_nivcsw


def pinned(core: int | None, command: Sequence[str]) -> list[str]:
    if core is None:
        return list(command)
    return ["taskset", "-c", str(core), *command]


def free_udp_port() -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((HOST, 0))
            port = int(probe.getsockname()[1])
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind((HOST, port))
            except OSError:
                continue
        return port
    raise LoadError("no free port on loopback")


def stop_process(
    process: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 10.0
) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@dataclass
class ServerRun:
    """One server process: its folder, ports and the files it writes."""

    label: str
    folder: Path
    port: int
    fast_relay: bool
    record: bool
    cli: bool
    process: subprocess.Popen[bytes] | None = None
    stats_file: Path = field(init=False)
    log_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stats_file = self.folder / "media-stats.jsonl"
        self.log_file = self.folder / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, setup: Path, core: int | None, profile: Path | None) -> None:
        ports = f"{RTP_PORTS[0]}-{RTP_PORTS[1]}"
        if self.cli:
            glasshouse = Path(sys.executable).parent / "glasshouse"
            command = [str(glasshouse), "serve"]
        else:
            command = [sys.executable, str(Path(__file__).resolve()), "serve-child"]
            command += ["--stats-file", str(self.stats_file)]
            command += [] if self.fast_relay else ["--no-fast-relay"]
            command += ["--profile", str(profile)] if profile is not None else []
        command += ["--config", str(setup), "--sip-port", str(self.port)]
        command += ["--rtp-ports", ports, "--data-dir", str(self.data_dir)]
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                pinned(core, command), stdout=log, stderr=subprocess.STDOUT, cwd=self.folder
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LoadError(f"the server exited at start:\n{self.log_tail()}")
            if "Press Ctrl-C to stop." in self.log_file.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise LoadError(f"the server did not start within 60 s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGINT, 20)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def error_lines(self) -> list[str]:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]

    def samples(self, start: float, end: float) -> list[dict[str, Any]]:
        if not self.stats_file.exists():
            return []
        out = []
        for line in self.stats_file.read_text().splitlines():
            with contextlib.suppress(ValueError):
                sample = json.loads(line)
                if start <= sample["t"] <= end:
                    out.append(sample)
        return out

    def event_counts(self) -> dict[str, int]:
        path = self.data_dir / "events.db"
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()
            released = db.execute(
                "SELECT count(*) FROM events WHERE type = 'call.released' "
                "AND json_extract(data, '$.by') = 'customer' "
                "AND json_extract(data, '$.cause') = 'bye'"
            ).fetchone()[0]
        counts = {str(kind): int(n) for kind, n in rows}
        counts["call.released.by_caller"] = int(released)
        return counts


@dataclass(frozen=True, slots=True)
class SippOutcome:
    exit_code: int | None
    successful: int
    failed: int
    created: int
    response_ms: float | None
    errors: str


def _stat_row(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = [row for row in csv.reader(path.read_text().splitlines(), delimiter=";") if row]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def _duration_ms(text: str | None) -> float | None:
    """sipp's ``HH:MM:SS:microseconds`` as milliseconds."""
    if not text:
        return None
    parts = text.split(":")
    if len(parts) != 4:
        return None
    try:
        h, m, s, us = (int(p) for p in parts)
    except ValueError:
        return None
    return ((h * 60 + m) * 60 + s) * 1000 + us / 1000


def sipp_outcome(process: subprocess.Popen[bytes], workdir: Path, name: str) -> SippOutcome:
    stats = _stat_row(workdir / f"{name}.csv")

    def count(column: str) -> int:
        try:
            return int(stats.get(column, "0"))
        except ValueError:
            return 0

    errors_file = workdir / f"{name}-errors.log"
    errors = errors_file.read_text(errors="replace") if errors_file.exists() else ""
    return SippOutcome(
        process.returncode,
        count("SuccessfulCall(C)"),
        count("FailedCall(C)"),
        count("TotalCallCreated"),
        _duration_ms(stats.get("ResponseTime1(C)")),
        errors,
    )


def sipp_command(
    scenario: Path, workdir: Path, name: str, *, port: int, media_port: int, calls: int
) -> list[str]:
    command = ["sipp", "-sf", str(scenario), "-i", HOST, "-p", str(port), "-m", str(calls)]
    command += ["-mi", HOST, "-mp", str(media_port), "-nostdin"]
    command += ["-ci", HOST, "-cp", str(free_udp_port())]  # not sipp's fixed 8888
    command += ["-trace_err", "-error_file", str(workdir / f"{name}-errors.log")]
    command += ["-trace_stat", "-stf", str(workdir / f"{name}.csv"), "-fd", "1"]
    return command


# ---------------------------------------------------------------------------------------------
# One step


@dataclass
class StepResult:
    server: str
    sweep: str
    step: Step
    calls_up: float | None  # mean in the steady window, measured in the server
    calls_made: int
    failed: int
    cpu_percent: float
    cpu_ms_per_call: float
    rtp_pps_per_leg: float | None
    silent_legs: int | None
    response_ms: float | None
    sipp_cpu_percent: float  # both sipp processes, % of one core
    load_core_busy: float  # % of the load generator's core busy, whoever used it
    others_on_server_core: float  # % of the server's core used by anything but the server
    gc_max_ms: float | None  # longest garbage collection pause in the window
    rss_mb: float | None  # the server's resident memory at the end of the window
    problems: list[str]

    @property
    def held(self) -> bool:
        return self.failed == 0 and not self.problems


def run_step(
    server: ServerRun,
    sweep: str,
    step: Step,
    *,
    caller_xml: Path,
    agent_xml: Path,
    agent_port: int,
    core: int | None,
    server_core: int | None,
) -> StepResult:
    workdir = server.folder / f"step-{sweep}-{step.name}".replace("/", "-").replace(" ", "-")
    workdir.mkdir()
    before = server.event_counts()
    errors_before = len(server.error_lines())
    calls = step.calls
    agent_cmd = sipp_command(
        agent_xml, workdir, "agent", port=agent_port, media_port=57000, calls=calls
    )
    agent_cmd += ["-timeout", f"{step.duration_s + step.hold_s + 120:g}s", "-timeout_error"]
    caller_cmd = sipp_command(
        caller_xml, workdir, "caller", port=free_udp_port(), media_port=50000, calls=calls
    )
    caller_cmd.insert(1, f"{HOST}:{server.port}")
    caller_cmd += ["-s", NUMBER, "-r", f"{step.rate:g}", "-l", str(3 * step.concurrency + 100)]
    caller_cmd += ["-set", "wait_ms", str(INFO_AFTER_MS), "-set", "hold_ms"]
    caller_cmd += [str(round(step.hold_s * 1000))]
    caller_cmd += ["-timeout", f"{step.duration_s + step.hold_s + 90:g}s", "-timeout_error"]
    out = (workdir / "sipp.out").open("wb")
    agent = subprocess.Popen(pinned(core, agent_cmd), stdout=out, stderr=out, cwd=workdir)
    caller: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(0.5)  # the UAS binds its port before the first INVITE can reach it
        if agent.poll() is not None:
            raise LoadError(f"the sipp agent phone exited at start, see {workdir}")
        caller = subprocess.Popen(pinned(core, caller_cmd), stdout=out, stderr=out, cwd=workdir)
        origin = time.monotonic()
        window_start, window_end = (origin + t for t in step.window)
        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu_start, t_start = cpu_seconds(server.pid), time.monotonic()
        sipp_start = cpu_seconds(caller.pid) + cpu_seconds(agent.pid)
        busy_start = core_busy(core)
        server_core_start = core_busy(server_core)
        time.sleep(max(0.0, window_end - time.monotonic()))
        cpu_end, t_end = cpu_seconds(server.pid), time.monotonic()
        sipp_cpu = cpu_seconds(caller.pid) + cpu_seconds(agent.pid) - sipp_start
        busy_end = core_busy(core)
        server_core_end = core_busy(server_core)
        try:
            caller.wait(step.duration_s + step.hold_s + 120)
        except subprocess.TimeoutExpired:
            stop_process(caller, signal.SIGUSR1, 10)
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            stop_process(agent, signal.SIGUSR1, 10)
    finally:
        for process in (caller, agent):
            if process is not None:
                stop_process(process, signal.SIGKILL, 5)
        out.close()
    time.sleep(1.0)  # the server's last releases reach the log
    caller_out = sipp_outcome(caller, workdir, "caller")
    agent_out = sipp_outcome(agent, workdir, "agent")
    after = server.event_counts()

    def delta(kind: str) -> int:
        return after.get(kind, 0) - before.get(kind, 0)

    problems: list[str] = []
    failed = caller_out.failed + agent_out.failed + max(0, calls - caller_out.successful)
    if caller_out.exit_code != 0:
        problems.append(f"caller sipp exit {caller_out.exit_code}")
    if agent_out.successful != caller_out.successful:
        problems.append(
            f"agents answered {agent_out.successful}, callers completed {caller_out.successful}"
        )
    for kind in ("contact.arrived", "contact.answered", "call.released.by_caller"):
        if delta(kind) != caller_out.successful:
            problems.append(f"event log: {delta(kind)} {kind}, sipp: {caller_out.successful}")
    new_errors = server.error_lines()[errors_before:]
    if new_errors:
        problems.append(f"{len(new_errors)} error lines in the server log ({new_errors[0][:80]})")
    cpu = cpu_end - cpu_start
    span = t_end - t_start
    samples = server.samples(t_start, t_end)
    calls_up: float | None = None
    pps: float | None = None
    silent: int | None = None
    gc_max: float | None = None
    rss: float | None = None
    if samples:
        gc_max = max(s["gc_max_ms"] for s in samples)
        rss = samples[-1]["rss_mb"]
        calls_up = sum(s["calls"] for s in samples) / len(samples)
        legs = sum(s["legs_measured"] * s["dt"] for s in samples)
        silent = sum(s["silent_legs"] for s in samples)
        if silent:
            problems.append(f"{silent} bridged legs relayed no RTP for {SAMPLE_S:g} s")
        if legs:
            pps = sum(s["relayed"] for s in samples) / legs
            if pps < 0.9 * EXPECTED_PPS:
                problems.append(
                    f"RTP relayed at {pps:.0f} packets/s per leg (expected {EXPECTED_PPS})"
                )
        else:
            problems.append("no leg stayed bridged between two samples: RTP not measured")
    for name, outcome in (("caller", caller_out), ("agent", agent_out)):
        if outcome.failed and outcome.errors:
            first = next((ln for ln in outcome.errors.splitlines()[1:] if ln.strip()), "")
            problems.append(f"{name} sipp: {first.strip()[:100]}")
    return StepResult(
        server=server.label,
        sweep=sweep,
        step=step,
        calls_up=calls_up,
        calls_made=caller_out.created,
        failed=failed,
        cpu_percent=100 * cpu / span,
        cpu_ms_per_call=1000 * cpu / (step.rate * span),
        rtp_pps_per_leg=pps,
        silent_legs=silent,
        response_ms=caller_out.response_ms,
        sipp_cpu_percent=100 * sipp_cpu / span,
        load_core_busy=100 * (busy_end[0] - busy_start[0]) / max(1e-9, busy_end[1] - busy_start[1]),
        others_on_server_core=max(
            0.0, 100 * (server_core_end[0] - server_core_start[0] - cpu) / span
        ),
        gc_max_ms=gc_max,
        rss_mb=rss,
        problems=problems,
    )


# ---------------------------------------------------------------------------------------------
# Runs and the report


@dataclass
class Options:
    agents: int
    record: bool
    cli: bool
    profile: Path | None
    keep: bool
    server_core: int | None
    load_core: int | None


def run_server(
    label: str, sweep: Sweep, options: Options, root: Path, *, fast_relay: bool
) -> list[StepResult]:
    """A fresh server for ``sweep``: what one sweep leaves behind (memory, state) does not
    weigh on the next one's figures."""
    folder = root / f"{label}-{sweep.name}".replace(" ", "-").replace("/", "-")
    folder.mkdir()
    setup = write_setup(folder, options.agents, record=options.record)
    caller_xml, agent_xml = write_scenarios(folder)
    server = ServerRun(
        label, folder, free_udp_port(), fast_relay, options.record, options.cli and fast_relay
    )
    profile = None if options.profile is None else options.profile / f"{folder.name}.prof"
    print(f"[{label}] starting the server on core {options.server_core}", flush=True)
    server.start(setup, options.server_core, profile)
    results: list[StepResult] = []
    try:
        agent_port = free_udp_port()
        took = register_agents((HOST, server.port), agent_port, options.agents)
        print(f"[{label}] {options.agents} agent phones registered in {took:.1f} s", flush=True)
        for step in sweep.steps:
            print(
                f"[{label}] {sweep.name} {step.name}: {step.rate:g} calls/s, "
                f"{step.hold_s:g} s talk, {step.calls} calls ...",
                flush=True,
            )
            result = run_step(
                server,
                sweep.name,
                step,
                caller_xml=caller_xml,
                agent_xml=agent_xml,
                agent_port=agent_port,
                core=options.load_core,
                server_core=options.server_core,
            )
            results.append(result)
            print("    " + row(result), flush=True)
            for problem in result.problems:
                print(f"      ! {problem}", flush=True)
            if not result.held:
                break
    finally:
        server.stop()
    if profile is not None and profile.exists():
        import pstats

        print(f"[{label}] profile of the server: {profile}")
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(20)
    return results


HEADER = (
    f"{'server':<13} {'step':<16} {'calls up':>8} {'setups/s':>8} {'calls':>6} {'failed':>6} "
    f"{'CPU %':>6} {'ms/call':>7} {'RTP pps':>7} {'INV->200':>8} {'GC ms':>6} {'RSS MB':>6} "
    f"{'others %':>8} {'sipp %':>6} {'core1 %':>7}"
)


def row(r: StepResult) -> str:
    up = f"{r.calls_up:.0f}" if r.calls_up is not None else f"~{r.step.concurrency}"
    pps = f"{r.rtp_pps_per_leg:.1f}" if r.rtp_pps_per_leg is not None else "n/a"
    rtd = f"{r.response_ms:.0f} ms" if r.response_ms is not None else "n/a"
    gc_ms = f"{r.gc_max_ms:.0f}" if r.gc_max_ms is not None else "n/a"
    rss = f"{r.rss_mb:.0f}" if r.rss_mb is not None else "n/a"
    return (
        f"{r.server:<13} {r.sweep[:5] + ' ' + r.step.name:<16} {up:>8} {r.step.rate:>8g} "
        f"{r.calls_made:>6} {r.failed:>6} {r.cpu_percent:>6.1f} {r.cpu_ms_per_call:>7.2f} "
        f"{pps:>7} {rtd:>8} {gc_ms:>6} {rss:>6} {r.others_on_server_core:>8.0f} "
        f"{r.sipp_cpu_percent:>6.0f} {r.load_core_busy:>7.0f}"
    )


def best(results: list[StepResult], sweep: str) -> StepResult | None:
    """The held step with the most calls up (concurrency) or setups/s."""
    held = [r for r in results if r.sweep == sweep and r.held]
    if not held:
        return None
    if sweep == "setups/s":
        return max(held, key=lambda r: r.step.rate)
    return max(held, key=calls_up)


def report(main: list[StepResult], baseline: list[StepResult], *, full: bool) -> int:
    """Print the table and the summary; 0 when the full plan met the targets, or another plan
    held its first step."""
    print()
    print(HEADER)
    for r in main + baseline:
        print(row(r))
    print()
    first = main[0].sweep if main else ""
    top = best(main, first)
    ok = top is not None
    if top is not None:
        media = "RTP both ways" if top.rtp_pps_per_leg is not None else "RTP not measured"
        print(
            f"max concurrent calls held (0 failed, {media}): {calls_up(top):.0f} at "
            f"{top.step.rate:g} setups/s; server CPU {top.cpu_percent:.0f}% of one core, "
            f"{top.cpu_ms_per_call:.2f} ms CPU per call"
        )
        ok = not full or calls_up(top) >= TARGET_CONCURRENT * 0.95
    else:
        print("max concurrent calls held: none (the first step failed)")
    if full:
        top_cps = best(main, "setups/s")
        if top_cps is not None:
            print(
                f"max call setups/s held (0 failed): {top_cps.step.rate:g} "
                f"({top_cps.step.hold_s:g} s calls, {calls_up(top_cps):.0f} up); server CPU "
                f"{top_cps.cpu_percent:.0f}%, {top_cps.cpu_ms_per_call:.2f} ms CPU per call"
            )
            ok = ok and top_cps.step.rate >= TARGET_CPS
        else:
            print("max call setups/s held: none")
            ok = False
        print(
            f"targets: >= {TARGET_CONCURRENT} concurrent calls with media, >= {TARGET_CPS} "
            f"setups/s: {'met' if ok else 'NOT met'}"
        )
    pairs = [
        (m, b)
        for b in baseline
        for m in main
        if m.step == b.step and m.sweep == b.sweep and m.held and b.held
    ]
    if pairs:
        # The lightest common step: near saturation both use the whole core and CPU per call
        # stops telling them apart.
        m, b = pairs[0]
        print(
            f"baseline, relay fast path off, at {b.step.name}: CPU per call "
            f"{b.cpu_ms_per_call:.2f} ms vs {m.cpu_ms_per_call:.2f} ms, "
            f"x{b.cpu_ms_per_call / m.cpu_ms_per_call:.2f}; server CPU {b.cpu_percent:.0f}% "
            f"vs {m.cpu_percent:.0f}% of one core"
        )
    base_top = best(baseline, first)
    if baseline and top is not None:
        if base_top is None:
            print("baseline, relay fast path off: no step held")
        else:
            last = max(r.step.concurrency for r in baseline)
            capped = " (its sweep's last step)" if base_top.step.concurrency == last else ""
            print(
                f"concurrent calls held: {calls_up(top):.0f} with the fast path vs "
                f"{calls_up(base_top):.0f}{capped} without: "
                f"x{calls_up(top) / calls_up(base_top):.2f}"
            )
    for sweep in dict.fromkeys(r.sweep for r in main):
        steps = [r for r in main if r.sweep == sweep and r.rss_mb is not None]
        if len(steps) >= 2:
            assert steps[0].rss_mb is not None and steps[-1].rss_mb is not None
            calls = sum(r.calls_made for r in steps[1:])
            grown = steps[-1].rss_mb - steps[0].rss_mb
            print(
                f"server memory over the {sweep} sweep: {steps[0].rss_mb:.0f} -> "
                f"{steps[-1].rss_mb:.0f} MB, {1000 * grown / max(1, calls):.1f} kB per later "
                f"call; longest garbage-collection pause "
                f"{max(r.gc_max_ms or 0.0 for r in steps):.0f} ms"
            )
    crowded = [r for r in main + baseline if r.others_on_server_core > 10]
    if crowded:
        print(
            f"warning: other processes used up to "
            f"{max(r.others_on_server_core for r in crowded):.0f}% of the server's core during "
            f"{len(crowded)} step(s); those figures understate the server"
        )
    return 0 if ok else 1


def calls_up(result: StepResult) -> float:
    return result.calls_up if result.calls_up is not None else float(result.step.concurrency)


def parse_steps(text: str) -> tuple[Step, ...]:
    """``R:H:D,...`` (calls/s, seconds of talk, seconds of calls) as steps."""
    steps = []
    for item in text.split(","):
        try:
            rate, hold, duration = (float(x) for x in item.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"step {item!r} is not RATE:HOLD_S:DURATION_S (like 50:9.8:30)"
            ) from None
        if rate <= 0 or hold < 0 or duration < IVR_S + hold + 3:
            raise argparse.ArgumentTypeError(
                f"step {item!r}: need a positive rate and a duration of at least hold + 3.2 s"
            )
        steps.append(Step(f"{rate:g}/s {hold:g}s", rate, hold, duration))
    return tuple(steps)


def check_tools(options: Options) -> None:
    if shutil.which("sipp") is None:
        raise LoadError("sipp is not installed (Debian package sip-tester)")
    version = subprocess.run(["sipp", "-v"], capture_output=True, text=True, check=False)
    if "RTPSTREAM" not in version.stdout + version.stderr:
        raise LoadError("this sipp was built without RTPSTREAM (rtp_stream is needed)")
    if options.server_core is not None and shutil.which("taskset") is None:
        raise LoadError("taskset is not installed (util-linux); use --no-pin")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve-child"]:
        return serve_child(args[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short CI smoke run (< 60 s)")
    parser.add_argument("--record", action="store_true", help="record every call (media.record)")
    parser.add_argument("--agents", type=int, help="agents and phones (default 750; quick 40)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the fast-path-off run")
    parser.add_argument(
        "--cli", action="store_true", help="run the `glasshouse serve` command (no media sample)"
    )
    parser.add_argument(
        "--steps",
        type=parse_steps,
        metavar="R:H:D,...",
        help="own steps instead of the plan: R calls/s, H s talk, D s of calls (baseline too)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--profile", type=Path, help="cProfile the server into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, CSV)")
    ns = parser.parse_args(args)
    pin = not ns.no_pin and (os.cpu_count() or 1) >= 2
    options = Options(
        agents=ns.agents if ns.agents is not None else (40 if ns.quick else 750),
        record=ns.record,
        cli=ns.cli,
        profile=ns.profile,
        keep=ns.keep,
        server_core=SERVER_CORE if pin else None,
        load_core=LOAD_CORE if pin else None,
    )
    if options.profile is not None:
        options.profile.mkdir(parents=True, exist_ok=True)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1000 calls are 2000+ sockets
    main_plan, baseline_plan = quick_plan() if ns.quick else full_plan()
    if ns.steps is not None:
        main_plan = baseline_plan = [Sweep("custom", ns.steps)]
    if options.agents < max(s.concurrency for sw in main_plan for s in sw.steps) + 20:
        parser.error("--agents must exceed the plan's concurrent calls by 20")
    try:
        check_tools(options)
    except LoadError as exc:
        print(f"sip_load: {exc}", file=sys.stderr)
        return 2
    if options.load_core is not None:
        os.sched_setaffinity(0, {options.load_core})
    root = Path(tempfile.mkdtemp(prefix="sip-load-"))
    mode = "quick" if ns.quick else "full" if ns.steps is None else "custom steps"
    print(
        f"sip_load {mode}: {options.agents} agents, recording {'on' if ns.record else 'off'}, "
        f"server on core {options.server_core}, sipp on core {options.load_core}; work in {root}"
    )
    started = time.monotonic()
    try:
        fast = [
            r
            for sweep in main_plan
            for r in run_server("fast path", sweep, options, root, fast_relay=True)
        ]
        slow: list[StepResult] = []
        if not ns.no_baseline and not ns.cli:
            slow = [
                r
                for sweep in baseline_plan
                for r in run_server("fast path off", sweep, options, root, fast_relay=False)
            ]
        status = report(fast, slow, full=not ns.quick and ns.steps is None)
    except LoadError as exc:
        print(f"sip_load: {exc}", file=sys.stderr)
        return 1
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"total {time.monotonic() - started:.0f} s")
    return status


# ---------------------------------------------------------------------------------------------
# The server child: what `glasshouse serve` runs, plus a media sample every 0.5 s


def serve_child(argv: list[str]) -> int:
    """Run the voice server like ``glasshouse serve`` and append a JSON line every 0.5 s to
    ``--stats-file``: calls up, RTP relayed on bridged legs and the legs that relayed none."""
    import asyncio
    import gc
    import logging

    import uvloop

    from glasshouse.service.voice.server import ServerOptions, VoiceServer, settle_memory
    from glasshouse.service.voice.setup import load_server_setup

    parser = argparse.ArgumentParser(prog="sip_load.py serve-child")
    parser.add_argument("--config", required=True)
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-ports", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--stats-file", type=Path, required=True)
    parser.add_argument("--no-fast-relay", action="store_true")
    parser.add_argument("--profile", type=Path)
    ns = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    low, high = (int(p) for p in ns.rtp_ports.split("-"))
    setup = load_server_setup(ns.config, data_dir=ns.data_dir)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await VoiceServer.create(
            setup, ServerOptions(sip_host=HOST, sip_port=ns.sip_port, rtp_ports=(low, high))
        )
        engine = server.switch.media
        engine.fast_relay = not ns.no_fast_relay
        settle_memory()  # as `glasshouse serve` does once it is up
        print("Press Ctrl-C to stop.", flush=True)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        previous: dict[Any, int] = {}
        last = time.monotonic()
        pauses: list[tuple[int, float]] = []  # garbage collections: generation, seconds
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.perf_counter()
            else:
                pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

        gc.callbacks.append(on_gc)
        with ns.stats_file.open("a") as out:

            def sample() -> None:
                nonlocal previous, last
                now = time.monotonic()
                # The server's own CPU is what is measured: the sample reads counters only.
                current = {s: s.packets_out for s in engine.sessions if s.bridged_to is not None}
                both = [s for s in current if s in previous]
                relayed = sum(current[s] - previous[s] for s in both)
                silent = sum(1 for s in both if current[s] == previous[s])
                line = {
                    "t": now,
                    "dt": now - last,
                    "calls": len(server.switch.calls),
                    "bridged_legs": len(current),
                    "passing_through": sum(1 for s in current if s.passing_through),
                    "legs_measured": len(both),
                    "relayed": relayed,
                    "silent_legs": silent,
                    "ticks_skipped": engine.stats.ticks_skipped,
                    "switch": dict(server.switch.stats),
                    "sip": asdict(server.switch.stack.transport.stats),
                    "gc_ms": round(1000 * sum(p for _, p in pauses), 2),
                    "gc_max_ms": round(1000 * max((p for _, p in pauses), default=0.0), 2),
                    "gc_full": sum(1 for g, _ in pauses if g == 2),
                    "cpu": time.process_time(),
                    "rss_mb": round(rss_bytes() / 1e6, 1),
                    "ctx": ctx_switches(),
                }
                pauses.clear()
                out.write(json.dumps(line) + "\n")
                out.flush()
                previous, last = current, now
                timer[0] = loop.call_later(SAMPLE_S, sample)

            timer = [loop.call_later(SAMPLE_S, sample)]
            try:
                await stop.wait()
            finally:
                timer[0].cancel()
                server.close()

    profiler = None
    if ns.profile is not None:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve())
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(ns.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
