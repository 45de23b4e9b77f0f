"""Run sipp (SIPp 3.6, the Debian ``sip-tester`` package) as a SIP peer in interop and load tests.

``SippRun`` builds the command line (scenario, target, call count and rate, loopback ports chosen
free, stat and error logs in a work directory, ``-timeout`` so sipp always ends by itself), runs
sipp in its own process group bounded by a Python timeout too, and returns a ``SippResult`` with
the exit code and the successful/failed call counts read from the stat CSV (or, if sipp died
before writing it, from the final screen).

The builders ``ivr_caller``, ``ivr_info_caller``, ``answering_peer`` and ``registering_agent``
set up the scenarios shipped in ``sipp_scenarios/``. Playing a pcap needs a raw socket
(``raw_sockets_allowed``): root or CAP_NET_RAW.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import TypedDict, Unpack

from glasshouse.testing.pcap import capture_duration

SIPP_BINARY = "sipp"
SIPP_PCAP_DIR = Path("/usr/share/sip-tester")
BUILTIN_SCENARIOS = frozenset(
    {"uac", "uas", "uac_pcap", "regexp", "branchc", "branchs", "3pcc-C-A", "3pcc-C-B"}
    | {"3pcc-A", "3pcc-B"}
)
SHIPPED_SCENARIOS = ("uac_ivr_dtmf", "uac_ivr_info", "uas_answer", "uac_register")
TRANSPORTS = frozenset({"u1", "un", "t1", "tn"})

# sipp's documented exit codes; 255 and 254 are its -1 and -2.
EXIT_MEANINGS = {
    0: "all calls succeeded",
    1: "at least one call failed",
    97: "stopped by an internal command",
    99: "normal exit without any call processed",
    254: "fatal error binding a socket",
    255: "fatal error (bad scenario, option or file)",
}
_GRACE_S = 5.0


class SippError(RuntimeError):
    """sipp cannot be run as asked (not installed, bad option, a port never bound)."""


class SippFailed(AssertionError):
    """A sipp run did not end as required; the message carries its exit code, counts and logs."""


def sipp_binary() -> str | None:
    """The path of the sipp executable, or None if it is not installed."""
    return shutil.which(SIPP_BINARY)


def raw_sockets_allowed() -> bool:
    """Whether this process may open the raw socket that sipp's ``play_pcap_audio`` needs."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP):
            return True
    except PermissionError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return False
        raise


def scenario_path(name: str) -> Path:
    """The XML file of a scenario shipped in ``glasshouse/testing/sipp_scenarios``."""
    if name not in SHIPPED_SCENARIOS:
        raise SippError(f"no shipped scenario {name!r}; shipped: {', '.join(SHIPPED_SCENARIOS)}")
    package = resources.files("glasshouse.testing")
    path = Path(str(package.joinpath("sipp_scenarios", name + ".xml")))
    if not path.is_file():
        raise SippError(f"shipped scenario {name!r} is missing from the installed package ({path})")
    return path


# ---------------------------------------------------------------------------------------------
# Ports


def _bindable(port: int, host: str, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, tcp_too: bool = True) -> int:
    """A port that is free for UDP (and TCP, by default) on ``host`` right now."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = int(probe.getsockname()[1])
        if not tcp_too or _bindable(port, host, socket.SOCK_STREAM):
            return port
    raise SippError(f"no free port found on {host}")


def free_port_block(count: int = 4, host: str = "127.0.0.1") -> int:
    """An even port ``p`` with ``p`` .. ``p + count - 1`` all free for UDP: sipp binds its media
    port and the one two above it (audio and video echo)."""
    for _ in range(64):
        base = free_port(host, tcp_too=False) & ~1
        if base + count > 65535:
            continue
        if all(_bindable(base + i, host, socket.SOCK_DGRAM) for i in range(count)):
            return base
    raise SippError(f"no block of {count} free UDP ports found on {host}")


def _hex_address(host: str, port: int) -> str:
    packed = socket.inet_aton(host)
    return f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"


def port_bound(host: str, port: int, *, tcp: bool = False) -> bool:
    """Whether some socket is bound to ``host:port`` (listening, for TCP), from /proc/net."""
    table = Path("/proc/net/tcp" if tcp else "/proc/net/udp")
    wanted = {_hex_address(host, port), _hex_address("0.0.0.0", port)}
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return not _bindable(port, host, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[1] in wanted and (not tcp or fields[3] == "0A"):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class SippResult:
    """How a sipp run ended: exit code, call counts (cumulative), and what it logged."""

    command: tuple[str, ...]
    exit_code: int
    successful_calls: int
    failed_calls: int
    total_calls: int
    timed_out: bool
    stdout: str
    stderr: str
    errors: str
    stats: Mapping[str, str] = field(default_factory=dict)

    @property
    def hit_sipp_timeout(self) -> bool:
        """Whether sipp's own ``-timeout`` ended the run (it then exits 255)."""
        return "timed out after" in self.stderr or "timed out after" in self.errors

    @property
    def meaning(self) -> str:
        """sipp's documented meaning of the exit code."""
        if self.timed_out:
            return "killed: still running when the Python timeout expired"
        if self.hit_sipp_timeout:
            return "stopped by its -timeout with calls unfinished"
        return EXIT_MEANINGS.get(self.exit_code, f"exit code {self.exit_code}")

    @property
    def all_succeeded(self) -> bool:
        """True when sipp exited 0 by itself with no failed call."""
        return not self.timed_out and self.exit_code == 0 and self.failed_calls == 0

    def describe(self) -> str:
        """A multi-line report for assertion messages: outcome, counts, errors, stderr tail."""
        lines = [
            f"sipp {self.meaning} (exit {self.exit_code}): {self.successful_calls} successful, "
            f"{self.failed_calls} failed, {self.total_calls} created",
            "command: " + " ".join(self.command),
        ]
        if self.errors.strip():
            lines.append("errors:\n" + _tail(self.errors, 40))
        if self.stderr.strip():
            lines.append("stderr:\n" + _tail(self.stderr, 20))
        return "\n".join(lines)

    def check(self, calls: int | None = None) -> SippResult:
        """Raise ``SippFailed`` unless every call succeeded (and, if given, exactly ``calls``
        of them); returns self so a test can chain it."""
        if not self.all_succeeded:
            raise SippFailed(self.describe())
        if calls is not None and self.successful_calls != calls:
            raise SippFailed(f"expected {calls} successful calls\n{self.describe()}")
        return self


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def parse_stat_csv(text: str) -> dict[str, str]:
    """The last row of a sipp ``-trace_stat`` file as a column -> value mapping (empty when the
    file has no data row)."""
    rows = [row for row in csv.reader(text.splitlines(), delimiter=";") if row]
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return {name: value for name, value in zip(header, last, strict=False) if name}


_SCREEN_COUNTERS = ("Successful call", "Failed call", "Total Calls created")


def parse_screen_counts(screen: str) -> tuple[int, int, int] | None:
    """(successful, failed, created) from the cumulative column of sipp's last statistics
    screen, or None if the text has none."""
    found: dict[str, int] = {}
    for line in screen.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[0] in _SCREEN_COUNTERS:
            with contextlib.suppress(ValueError):
                found[parts[0]] = int(parts[2])
    if "Successful call" not in found or "Failed call" not in found:
        return None
    created = found.get("Total Calls created", found["Successful call"] + found["Failed call"])
    return found["Successful call"], found["Failed call"], created


def _count(stats: Mapping[str, str], name: str) -> int | None:
    value = stats.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LoggedMessage:
    """One SIP message from a ``-trace_msg`` log: ``sent`` or ``received``, and its text."""

    direction: str
    text: str

    @property
    def start_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str | None:
        """The request method, or None for a response."""
        first = self.start_line.split(" ", 1)[0]
        return None if first.startswith("SIP/") else first


_LOG_SEPARATOR = re.compile(r"^-{20,} \d{4}-\d\d-\d\d [\d:.]+\s*$", re.M)
_LOG_HEAD = re.compile(r"^\S+ message (sent|received)\b")


def parse_message_log(text: str) -> list[LoggedMessage]:
    """The messages of a sipp ``-trace_msg`` file, in order (line ends as ``\\n``)."""
    out: list[LoggedMessage] = []
    for entry in _LOG_SEPARATOR.split(text.replace("\r\n", "\n")):
        head, _, body = entry.strip("\n").partition("\n")
        found = _LOG_HEAD.match(head)
        if found is not None:
            out.append(LoggedMessage(found.group(1), body.strip("\n")))
    return out


# ---------------------------------------------------------------------------------------------
# Running


class SippRun:
    """One sipp process running a scenario against ``target`` (``host:port``; None for a UAS).

    ``scenario`` is a built-in name (``uac``, ``uas``, ``uac_pcap``...: ``-sn``), a shipped
    scenario name (see ``SHIPPED_SCENARIOS``) or the path of an XML file (``-sf``). ``keys``
    become ``-key NAME VALUE`` and ``variables`` ``-set NAME VALUE``. sipp stops by itself after
    ``timeout_s`` (``-timeout`` with ``-timeout_error``: calls still up then count as failed);
    ``wait`` also kills the process group if it outlives that by a few seconds. Logs go to
    ``workdir`` (a temporary directory removed on ``close`` unless one is given). Dropping the
    last reference to a running ``SippRun`` kills its sipp.
    """

    def __init__(
        self,
        scenario: str | os.PathLike[str],
        target: str | None = None,
        *,
        calls: int = 1,
        rate: float | None = None,
        rate_period_ms: int | None = None,
        limit: int | None = None,
        service: str | None = None,
        local_ip: str = "127.0.0.1",
        local_port: int | None = None,
        media_port: int | None = None,
        transport: str = "u1",
        keys: Mapping[str, str | os.PathLike[str]] | None = None,
        variables: Mapping[str, int | float | str] | None = None,
        auth: tuple[str, str] | None = None,
        duration_ms: int | None = None,
        timeout_s: float = 30.0,
        recv_timeout_ms: int = 10_000,
        trace_messages: bool = False,
        extra_args: Sequence[str] = (),
        workdir: str | os.PathLike[str] | None = None,
        binary: str | None = None,
    ) -> None:
        if calls < 1:
            raise SippError(f"calls must be at least 1, got {calls}")
        if rate is not None and rate <= 0:
            raise SippError(f"rate must be positive, got {rate}")
        if limit is not None and limit < 1:
            raise SippError(f"limit must be at least 1, got {limit}")
        if timeout_s <= 0:
            raise SippError(f"timeout_s must be positive, got {timeout_s}")
        if recv_timeout_ms <= 0:
            raise SippError(f"recv_timeout_ms must be positive, got {recv_timeout_ms}")
        if transport not in TRANSPORTS:
            raise SippError(f"transport {transport!r} is not one of {sorted(TRANSPORTS)}")
        found = binary if binary is not None else sipp_binary()
        if found is None:
            raise SippError("sipp is not installed (Debian package sip-tester)")
        self.binary = found
        self.scenario = scenario
        self.target = target
        self.calls = calls
        self.rate = rate
        self.rate_period_ms = rate_period_ms
        self.limit = limit
        self.service = service
        self.local_ip = local_ip
        self.local_port = local_port if local_port is not None else free_port(local_ip)
        self.media_port = media_port if media_port is not None else free_port_block(4, local_ip)
        self.control_port = free_port(local_ip, tcp_too=False)
        self.transport = transport
        self.keys = {name: str(value) for name, value in (keys or {}).items()}
        self.variables = {name: _number_text(value) for name, value in (variables or {}).items()}
        self.auth = auth
        self.duration_ms = duration_ms
        self.timeout_s = timeout_s
        self.recv_timeout_ms = recv_timeout_ms
        self.trace_messages = trace_messages
        self.extra_args = tuple(extra_args)
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="sipp-")) if workdir is None else Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        # sipp runs in its own session, so it would outlive a test that forgets close().
        self._children: list[subprocess.Popen[bytes]] = []
        weakref.finalize(self, _reap, self._children, self.workdir if self._own_workdir else None)
        self._process: subprocess.Popen[bytes] | None = None
        self._result: SippResult | None = None
        self._command: tuple[str, ...] = ()
        try:
            self._build_command()  # fail now, not at start(), on a bad scenario
        except Exception:
            self.close()
            raise

    # -- files --------------------------------------------------------------------------------

    @property
    def stat_file(self) -> Path:
        return self.workdir / "stat.csv"

    @property
    def error_file(self) -> Path:
        return self.workdir / "errors.log"

    @property
    def screen_file(self) -> Path:
        return self.workdir / "screen.log"

    @property
    def message_file(self) -> Path:
        """The SIP message trace (written only with ``trace_messages=True``)."""
        return self.workdir / "messages.log"

    @property
    def command(self) -> tuple[str, ...]:
        """The sipp command line, built from the current attributes."""
        return self._build_command()

    def messages(self) -> list[LoggedMessage]:
        """The SIP messages sent and received so far (needs ``trace_messages=True``)."""
        if not self.trace_messages:
            raise SippError("messages() needs a run made with trace_messages=True")
        return parse_message_log(_read(self.message_file))

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def address(self) -> str:
        """``host:port`` where this sipp receives SIP: the target to give a peer."""
        return f"{self.local_ip}:{self.local_port}"

    def _scenario_args(self) -> list[str]:
        scenario = self.scenario
        if isinstance(scenario, str) and scenario in BUILTIN_SCENARIOS:
            if scenario == "uac_pcap":
                self._link_builtin_pcaps()
            return ["-sn", scenario]
        if isinstance(scenario, str) and scenario in SHIPPED_SCENARIOS:
            return ["-sf", str(scenario_path(scenario))]
        path = Path(scenario)
        if not path.is_file():
            raise SippError(f"scenario {str(scenario)!r} is neither built in nor an existing file")
        return ["-sf", str(path.resolve())]

    def _link_builtin_pcaps(self) -> None:
        # The built-in uac_pcap scenario plays pcap/g711a.pcap and pcap/dtmf_2833_1.pcap
        # relative to the working directory.
        folder = self.workdir / "pcap"
        folder.mkdir(exist_ok=True)
        for name in ("g711a.pcap", "dtmf_2833_1.pcap"):
            source = SIPP_PCAP_DIR / name
            if not source.is_file():
                raise SippError(f"uac_pcap needs {source}, which sip-tester normally ships")
            link = folder / name
            if not link.exists():
                link.symlink_to(source)

    def _build_command(self) -> tuple[str, ...]:
        args = [self.binary]
        if self.target is not None:
            args.append(self.target)
        args += self._scenario_args()
        args += ["-i", self.local_ip, "-p", str(self.local_port), "-t", self.transport]
        args += ["-mi", self.local_ip, "-mp", str(self.media_port)]
        args += ["-ci", self.local_ip, "-cp", str(self.control_port)]
        args += ["-m", str(self.calls)]
        if self.rate is not None:
            args += ["-r", _number_text(self.rate)]
        if self.rate_period_ms is not None:
            args += ["-rp", str(self.rate_period_ms)]
        if self.limit is not None:
            args += ["-l", str(self.limit)]
        if self.service is not None:
            args += ["-s", self.service]
        if self.auth is not None:
            args += ["-au", self.auth[0], "-ap", self.auth[1]]
        if self.duration_ms is not None:
            args += ["-d", str(self.duration_ms)]
        for name, value in self.keys.items():
            args += ["-key", name, value]
        for name, value in self.variables.items():
            args += ["-set", name, value]
        args += ["-timeout", f"{self.timeout_s:g}s", "-timeout_error"]
        args += ["-recv_timeout", str(self.recv_timeout_ms)]
        args += ["-trace_stat", "-stf", str(self.stat_file), "-fd", "1"]
        args += ["-trace_err", "-error_file", str(self.error_file)]
        args += ["-trace_screen", "-screen_file", str(self.screen_file)]
        if self.trace_messages:
            args += ["-trace_msg", "-message_file", str(self.message_file)]
        args += ["-nostdin", *self.extra_args]
        return tuple(args)

    # -- process ------------------------------------------------------------------------------

    def start(self) -> SippRun:
        """Start sipp in its own process group; returns self."""
        if self._process is not None:
            raise SippError("this sipp run was already started")
        self._command = self._build_command()
        with (
            (self.workdir / "stdout.txt").open("wb") as out,
            (self.workdir / "stderr.txt").open("wb") as err,
        ):
            self._process = subprocess.Popen(
                self._command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self._children.append(self._process)
        return self

    def wait_ready(self, timeout: float = 5.0) -> SippRun:
        """Block until sipp has bound its SIP port (start a UAS before its callers). Raises
        ``SippFailed`` if sipp exits first and ``SippError`` if the port never appears."""
        process = self._require_started()
        deadline = time.monotonic() + timeout
        tcp = self.transport.startswith("t")
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SippFailed("sipp exited before it was ready\n" + self.wait(0).describe())
            if tcp and self.target is not None:
                return self  # a TCP client listens on nothing
            if port_bound(self.local_ip, self.local_port, tcp=tcp):
                return self
            time.sleep(0.02)
        raise SippError(f"sipp did not bind {self.address} within {timeout} s")

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self, timeout: float | None = None) -> SippResult:
        """Wait for sipp to end (by default ``timeout_s`` plus a grace period), killing its
        process group if it is still running then; returns the result."""
        if self._result is not None:
            return self._result
        process = self._require_started()
        limit = self.timeout_s + _GRACE_S if timeout is None else timeout
        timed_out = False
        try:
            process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill()
        self._result = self._collect(process.returncode, timed_out)
        return self._result

    def stop(self, grace: float = 3.0) -> SippResult:
        """Ask sipp to finish (SIGUSR1: no new calls, current ones end) and wait up to ``grace``
        seconds before killing it."""
        process = self._require_started()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGUSR1)
        return self.wait(grace)

    def run(self, timeout: float | None = None) -> SippResult:
        """Start, wait and return the result."""
        self.start()
        return self.wait(timeout)

    def close(self) -> None:
        """Kill sipp if it still runs and remove the temporary work directory."""
        if self._process is not None and self._process.poll() is None:
            self._kill()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SippRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _require_started(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise SippError("sipp was not started")
        return self._process

    def _kill(self) -> None:
        kill_process_group(self._require_started())

    def _collect(self, exit_code: int | None, timed_out: bool) -> SippResult:
        stats = parse_stat_csv(_read(self.stat_file))
        stdout = _read(self.workdir / "stdout.txt")
        successful = _count(stats, "SuccessfulCall(C)")
        failed = _count(stats, "FailedCall(C)")
        created = _count(stats, "TotalCallCreated")
        if successful is None or failed is None:
            counts = parse_screen_counts(_read(self.screen_file)) or parse_screen_counts(stdout)
            successful, failed, created = counts if counts is not None else (0, 0, 0)
        return SippResult(
            command=self._command,
            exit_code=-1 if exit_code is None else exit_code,
            successful_calls=successful,
            failed_calls=failed,
            total_calls=created if created is not None else successful + failed,
            timed_out=timed_out,
            stdout=stdout,
            stderr=_read(self.workdir / "stderr.txt"),
            errors=_read(self.error_file),
            stats=stats,
        )


def kill_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by ``process`` (started with ``start_new_session``) if
    it is still running, and reap it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _reap(processes: list[subprocess.Popen[bytes]], folder: Path | None) -> None:
    for process in processes:
        kill_process_group(process)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _number_text(value: int | float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _pcap_ms(path: str | os.PathLike[str], what: str) -> int:
    if not Path(path).is_file():
        raise SippError(f"{what} {str(path)!r} does not exist")
    return round(capture_duration(path) * 1000)


# ---------------------------------------------------------------------------------------------
# The shipped scenarios


class SippOptions(TypedDict, total=False):
    """The ``SippRun`` options a scenario builder passes through unchanged."""

    rate: float | None
    rate_period_ms: int | None
    limit: int | None
    local_ip: str
    local_port: int | None
    media_port: int | None
    transport: str
    duration_ms: int | None
    timeout_s: float
    recv_timeout_ms: int
    trace_messages: bool
    extra_args: Sequence[str]
    workdir: str | os.PathLike[str] | None
    binary: str | None


def ivr_caller(
    target: str,
    *,
    dtmf_pcap: str | os.PathLike[str],
    tone_pcap: str | os.PathLike[str],
    number: str = "1000",
    wait_ms: int = 500,
    tail_ms: int = 200,
    calls: int = 1,
    **options: Unpack[SippOptions],
) -> SippRun:
    """``uac_ivr_dtmf.xml``: call ``number`` at ``target``, wait ``wait_ms``, play the RFC 4733
    pcap, then the tone pcap, and hang up ``tail_ms`` after it ends. ``options`` go to
    ``SippRun`` (rate, limit, timeout_s...)."""
    variables = {
        "wait_ms": wait_ms,
        "dtmf_ms": _pcap_ms(dtmf_pcap, "dtmf_pcap") + 100,
        "tone_ms": _pcap_ms(tone_pcap, "tone_pcap") + tail_ms,
    }
    keys = {"dtmf_pcap": str(dtmf_pcap), "tone_pcap": str(tone_pcap)}
    return SippRun(
        "uac_ivr_dtmf",
        target,
        calls=calls,
        service=number,
        keys=keys,
        variables=variables,
        **options,
    )


def ivr_info_caller(
    target: str,
    *,
    tone_pcap: str | os.PathLike[str],
    digit: str = "1",
    info_duration_ms: int = 160,
    number: str = "1000",
    wait_ms: int = 500,
    after_info_ms: int = 300,
    tail_ms: int = 200,
    calls: int = 1,
    **options: Unpack[SippOptions],
) -> SippRun:
    """``uac_ivr_info.xml``: like ``ivr_caller`` but the digit goes as a SIP INFO
    (application/dtmf-relay, ``Signal=digit``, ``Duration=info_duration_ms``)."""
    if len(digit) != 1 or digit.upper() not in "0123456789*#ABCD":
        raise SippError(f"not a DTMF digit: {digit!r}")
    variables = {
        "wait_ms": wait_ms,
        "dtmf_ms": after_info_ms,
        "tone_ms": _pcap_ms(tone_pcap, "tone_pcap") + tail_ms,
    }
    keys = {
        "dtmf_digit": digit,
        "dtmf_duration": str(info_duration_ms),
        "tone_pcap": str(tone_pcap),
    }
    return SippRun(
        "uac_ivr_info",
        target,
        calls=calls,
        service=number,
        keys=keys,
        variables=variables,
        **options,
    )


def answering_peer(
    *,
    tone_pcap: str | os.PathLike[str],
    hold_ms: int = 30_000,
    ring_ms: int = 0,
    calls: int = 1,
    **options: Unpack[SippOptions],
) -> SippRun:
    """``uas_answer.xml``: answer ``calls`` calls after ringing ``ring_ms``, play the tone pcap,
    and hang up after ``hold_ms`` unless the caller does first."""
    _pcap_ms(tone_pcap, "tone_pcap")
    # A held call must not be cut by sipp's global -timeout before the peer's BYE is due.
    options.setdefault("timeout_s", max(30.0, (ring_ms + hold_ms) / 1000 + 15))
    return SippRun(
        "uas_answer",
        None,
        calls=calls,
        keys={"tone_pcap": str(tone_pcap)},
        variables={"hold_ms": hold_ms, "ring_ms": ring_ms},
        **options,
    )


def registering_agent(
    target: str,
    *,
    user: str,
    password: str,
    expires: int = 3600,
    calls: int = 1,
    **options: Unpack[SippOptions],
) -> SippRun:
    """``uac_register.xml``: REGISTER ``user`` at ``target``, answering a digest challenge
    with ``password`` (MD5: the only algorithm sipp 3.6 computes)."""
    return SippRun(
        "uac_register",
        target,
        calls=calls,
        service=user,
        auth=(user, password),
        keys={"expires": str(expires)},
        **options,
    )
