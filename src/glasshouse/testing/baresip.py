"""Drive baresip (1.0, Debian) as a headless softphone in interop tests: an agent's phone or a
caller.

``BaresipPhone`` writes its own configuration directory (``baresip -f DIR``): SIP on loopback at a
free port, G.711 only, the ``aufile`` module playing a WAV into the call, ``aubridge`` as a silent
player, and ``sndfile`` recording what the phone sends and hears as WAV files. No sound card, no
X11. It is driven through ``ctrl_tcp`` (JSON in netstrings on a loopback TCP port): commands
(``dial``, ``accept``, ``hangup``, ``hold``, ``resume``, ``sndcode``) get a response, and
baresip's user-agent events (``REGISTER_OK``, ``CALL_INCOMING``, ``CALL_ESTABLISHED``,
``CALL_CLOSED``, ``CALL_DTMF_START``...) are collected in ``events``. With ``sip_trace=True``
baresip logs every SIP message it sends and receives (``-s``), and ``sip_messages`` /
``wait_sip_request`` read them back, so a test can check the headers of an INVITE the phone got
(ctrl_tcp events carry none). Every wait is bounded and the process is always killed on
``stop``/exit of the context manager.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import wave
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from glasshouse.testing.audio import tone_pcm

BARESIP_BINARY = "baresip"
MODULE_PATH = Path("/usr/lib/baresip/modules")
# Only what a headless G.711 phone needs; menu provides the call commands ctrl_tcp runs.
MODULES = ("g711.so", "aufile.so", "aubridge.so", "sndfile.so")
APP_MODULES = ("menu.so", "ctrl_tcp.so")
ANSWER_MODES = frozenset({"manual", "early", "auto"})
_MAX_NETSTRING = 1 << 20
# One traced message: a colour escape, "#", "UDP 1.2.3.4:5 -> 6.7.8.9:10", the message, a reset.
_TRACE_ENTRY = re.compile(
    r"\x1b\[[0-9;]*m#\r?\n(?P<transport>[A-Z]+) (?P<source>\S+) -> (?P<destination>\S+)\r?\n"
    r"(?P<text>.*?)\x1b\[[0-9;]*m",
    re.S,
)


class BaresipError(RuntimeError):
    """baresip cannot be run or refused a command; the message says which and why."""


class BaresipTimeout(BaresipError, TimeoutError):
    """An awaited event did not arrive in time; the message lists the events seen."""


def baresip_binary() -> str | None:
    """The path of the baresip executable, or None if it is not installed."""
    return shutil.which(BARESIP_BINARY)


def baresip_modules_missing(module_path: Path = MODULE_PATH) -> list[str]:
    """The modules this driver needs that are not in ``module_path`` (empty when all are)."""
    return [m for m in (*MODULES, *APP_MODULES, "account.so") if not (module_path / m).is_file()]


@dataclass(frozen=True, slots=True)
class BaresipEvent:
    """One user-agent event from ctrl_tcp, with the monotonic time it was read."""

    type: str
    event_class: str
    received: float
    account: str | None = None
    direction: str | None = None
    peer_uri: str | None = None
    call_id: str | None = None
    param: str | None = None
    raw: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, object], received: float) -> BaresipEvent:
        def text(name: str) -> str | None:
            value = data.get(name)
            return None if value is None else str(value)

        return cls(
            type=str(data.get("type", "")),
            event_class=str(data.get("class", "")),
            received=received,
            account=text("accountaor"),
            direction=text("direction"),
            peer_uri=text("peeruri"),
            call_id=text("id"),
            param=text("param"),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class BaresipAccount:
    """One SIP account line of baresip's ``accounts`` file.

    ``registrar`` is the ``host:port`` of the AOR's domain (where REGISTER goes); ``regint`` 0
    means never register. ``answermode`` is manual, early or auto.
    """

    user: str = "agent1"
    registrar: str = "127.0.0.1:5060"
    password: str | None = None
    regint: int = 0
    answermode: str = "manual"
    transport: str = "udp"
    display_name: str | None = None
    codecs: tuple[str, ...] = ("pcmu", "pcma")

    def __post_init__(self) -> None:
        if self.answermode not in ANSWER_MODES:
            raise BaresipError(f"answermode {self.answermode!r} is not one of {ANSWER_MODES}")
        if self.regint < 0:
            raise BaresipError(f"regint must not be negative, got {self.regint}")
        if self.transport not in ("udp", "tcp"):
            raise BaresipError(f"transport {self.transport!r} is not udp or tcp")
        for name, value in (("user", self.user), ("registrar", self.registrar)):
            if not value or any(c in value for c in ' <>;"\r\n'):
                raise BaresipError(f"{name} {value!r} is empty or has characters SIP URIs forbid")
        if self.password is not None and any(c in self.password for c in ';"\r\n'):
            raise BaresipError("the password cannot hold ';', '\"' or line breaks")

    @property
    def aor(self) -> str:
        return f"sip:{self.user}@{self.registrar}"

    def line(self) -> str:
        """The account as baresip writes it: ``<sip:user@host:port;transport=udp>;params``."""
        name = f'"{self.display_name}" ' if self.display_name else ""
        params = [f"regint={self.regint}", f"answermode={self.answermode}"]
        if self.password is not None:
            params += [f"auth_user={self.user}", f"auth_pass={self.password}"]
        if self.codecs:
            params.append("audio_codecs=" + ",".join(self.codecs))
        return f"{name}<{self.aor};transport={self.transport}>;" + ";".join(params)


@dataclass(frozen=True, slots=True)
class TracedSipMessage:
    """One SIP message from baresip's SIP trace: how it travelled and its text (``\\n`` line
    ends)."""

    transport: str
    source: str
    destination: str
    text: str

    @property
    def start_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str | None:
        """The request method, or None for a response."""
        first = self.start_line.split(" ", 1)[0]
        return None if first.startswith("SIP/") else first

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The header fields in order, as (name, value); folded lines are joined."""
        out: list[tuple[str, str]] = []
        for line in self.text.split("\n")[1:]:
            if not line.strip():
                break
            if line[:1] in (" ", "\t") and out:
                name, value = out[-1]
                out[-1] = (name, f"{value} {line.strip()}")
                continue
            name, colon, value = line.partition(":")
            if colon:
                out.append((name.strip(), value.strip()))
        return out

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None if it is absent."""
        wanted = name.lower()
        return next((v for n, v in self.headers if n.lower() == wanted), None)


def parse_sip_trace(output: str) -> list[TracedSipMessage]:
    """The SIP messages baresip logged with ``-s``, in order (line ends as ``\\n``)."""
    return [
        TracedSipMessage(
            found.group("transport"),
            found.group("source"),
            found.group("destination"),
            found.group("text").replace("\r\n", "\n").strip("\n"),
        )
        for found in _TRACE_ENTRY.finditer(output)
    ]


def _free_port(host: str, kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _bindable(host: str, port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_sip_port(host: str) -> int:
    """A port free for SIP over UDP and TCP, with the next one free for TCP: baresip binds all
    three (TLS one above) and fails to start if any is taken."""
    for _ in range(64):
        port = _free_port(host, socket.SOCK_DGRAM)
        if port < 65535 and all(_bindable(host, p, socket.SOCK_STREAM) for p in (port, port + 1)):
            return port
    raise BaresipError(f"no free SIP port found on {host}")


def write_wav(path: str | os.PathLike[str], pcm: bytes, rate: int = 8000) -> Path:
    """Write mono 16-bit PCM as a WAV file (what ``aufile`` plays); returns the path."""
    target = Path(path)
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return target


def read_wav(path: str | os.PathLike[str]) -> bytes:
    """The 16-bit PCM frames of a mono WAV file; raises ``BaresipError`` for anything else."""
    try:
        with wave.open(str(path), "rb") as source:
            if source.getsampwidth() != 2 or source.getnchannels() != 1:
                raise BaresipError(
                    f"{path}: {source.getnchannels()} channel(s) of {8 * source.getsampwidth()}"
                    " bits, expected mono 16-bit"
                )
            return source.readframes(source.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BaresipError(f"{path}: not a readable WAV file ({exc})") from None


class BaresipPhone:
    """One baresip process with one account, driven over ctrl_tcp.

    ``audio`` is the WAV (8 kHz mono 16-bit) the phone sends once a call is up; by default a
    ``tone_hz`` sine of ``audio_ms``. baresip 1.0 hangs up when that file runs out (an
    ``AUDIO_ERROR`` event, then ``CALL_CLOSED`` with "End of file"), hence the long default.
    Waits take a timeout in seconds and raise ``BaresipTimeout`` naming what was awaited and
    the events seen. ``sip_trace`` logs the SIP messages for ``sip_messages``. Dropping the last
    reference to a started phone kills its baresip.
    """

    def __init__(
        self,
        account: BaresipAccount,
        *,
        audio: str | os.PathLike[str] | None = None,
        tone_hz: float = 1000.0,
        audio_ms: int = 120_000,
        listen_ip: str = "127.0.0.1",
        sip_port: int | None = None,
        rtp_ports: tuple[int, int] | None = None,
        workdir: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        module_path: str | os.PathLike[str] = MODULE_PATH,
        verbose: bool = False,
        sip_trace: bool = False,
        extra_config: Sequence[tuple[str, str]] = (),
    ) -> None:
        found = binary if binary is not None else baresip_binary()
        if found is None:
            raise BaresipError("baresip is not installed (Debian package baresip-core)")
        self.binary = found
        self.account = account
        self.listen_ip = listen_ip
        self.sip_port = sip_port if sip_port is not None else _free_sip_port(listen_ip)
        self.ctrl_port = _free_port(listen_ip, socket.SOCK_STREAM)
        self.rtp_ports = rtp_ports
        self.module_path = Path(module_path)
        self.verbose = verbose
        self.sip_trace = sip_trace
        self.extra_config = tuple(extra_config)
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="baresip-")) if workdir is None else Path(workdir)
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        # baresip runs in its own session, so it would outlive a test that forgets close().
        self._children: list[subprocess.Popen[bytes]] = []
        weakref.finalize(self, _reap, self._children, self.workdir if self._own_workdir else None)
        self.config_dir = self.workdir / "config"
        self.recordings_dir = self.workdir / "recordings"
        if audio is None:
            self.audio = write_wav(self.workdir / "send.wav", tone_pcm(tone_hz, audio_ms))
        else:
            self.audio = Path(audio)
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Condition()
        self._events: list[BaresipEvent] = []
        self._responses: dict[str, Mapping[str, object]] = {}
        self._cursor: dict[str, int] = {}
        self._token = 0
        self._closed_reason: str | None = None

    # -- configuration ------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port`` where this phone receives SIP."""
        return f"{self.listen_ip}:{self.sip_port}"

    @property
    def uri(self) -> str:
        """A SIP URI that reaches this phone directly (no registrar)."""
        return f"sip:{self.account.user}@{self.address}"

    def config_text(self) -> str:
        """The ``config`` file written for this phone."""
        entries: list[tuple[str, str]] = [
            ("poll_method", "epoll"),
            ("net_interface", self.listen_ip),
            ("sip_listen", self.address),
            ("call_local_timeout", "120"),
            ("call_max_calls", "4"),
            ("audio_player", "aubridge,nil"),
            ("audio_alert", "aubridge,nil"),
            ("audio_source", f"aufile,{self.audio}"),
            ("ausrc_srate", "8000"),
            ("auplay_srate", "8000"),
            ("ausrc_channels", "1"),
            ("auplay_channels", "1"),
            ("audio_level", "no"),
            ("rtcp_mux", "no"),
            ("jitter_buffer_delay", "1-10"),
            ("module_path", str(self.module_path)),
        ]
        if self.rtp_ports is not None:
            entries.append(("rtp_ports", f"{self.rtp_ports[0]}-{self.rtp_ports[1]}"))
        entries += [("module", m) for m in MODULES]
        entries.append(("module_tmp", "account.so"))
        entries += [("module_app", m) for m in APP_MODULES]
        entries += [
            ("ctrl_tcp_listen", f"{self.listen_ip}:{self.ctrl_port}"),
            ("snd_path", str(self.recordings_dir)),
            *self.extra_config,
        ]
        return "".join(f"{name}\t\t{value}\n" for name, value in entries)

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "config").write_text(self.config_text())
        # The account is added over ctrl_tcp once connected (``uanew``): one in this file would
        # register before anyone listens for REGISTER_OK.
        (self.config_dir / "accounts").write_text("")
        # baresip writes an example contacts file when there is none; an empty one is quieter.
        (self.config_dir / "contacts").write_text("")

    # -- process ------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 10.0) -> BaresipPhone:
        """Write the configuration, start baresip and connect to its control port."""
        if self._process is not None:
            raise BaresipError("this phone was already started")
        if not Path(self.audio).is_file():
            raise BaresipError(f"audio file {self.audio} does not exist")
        missing = baresip_modules_missing(self.module_path)
        if missing:
            raise BaresipError(f"baresip modules missing from {self.module_path}: {missing}")
        self._write_config()
        command = [self.binary, "-4", "-f", str(self.config_dir)]
        if self.sip_trace:
            command.append("-s")
        if self.verbose:
            command.append("-v")
        with (self.workdir / "output.txt").open("wb") as output:
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children.append(self._process)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise BaresipError(
                    f"baresip exited with {self._process.returncode} while starting:\n"
                    + self.output[-2000:]
                )
            try:
                self._socket = socket.create_connection((self.listen_ip, self.ctrl_port), 0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BaresipError(
                        f"baresip's ctrl_tcp did not listen on port {self.ctrl_port} within "
                        f"{timeout} s:\n" + self.output[-2000:]
                    ) from None
                time.sleep(0.05)
        self._socket.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name="baresip-ctrl", daemon=True)
        self._reader.start()
        try:
            self.command("uanew", self.account.line(), timeout=timeout)
        except BaresipError:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Quit baresip (``quit``, then SIGTERM, then SIGKILL of its process group)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(BaresipError, OSError):
                self._send("quit", None)
            try:
                process.wait(timeout=min(timeout, 2.0))
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    process.wait(timeout=5)
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
        if self._reader is not None:
            self._reader.join(timeout=2)

    def close(self) -> None:
        """Stop baresip and remove the temporary work directory (recordings included)."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> BaresipPhone:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _signal_group(self, signum: int) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signum)

    @property
    def output(self) -> str:
        """What baresip printed so far (its log)."""
        try:
            return (self.workdir / "output.txt").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- control connection -------------------------------------------------------------------

    def _read_loop(self) -> None:
        sock = self._socket
        assert sock is not None
        buffer = b""
        reason = "baresip closed the control connection"
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    message, buffer = _take_netstring(buffer)
                    if message is None:
                        break
                    self._dispatch(message)
        except (OSError, BaresipError) as exc:
            reason = f"control connection failed: {exc}"
        with self._lock:
            self._closed_reason = reason
            self._lock.notify_all()

    def _dispatch(self, message: bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            return  # a message we cannot read is dropped, as baresip drops ours
        if not isinstance(data, dict):
            return
        now = time.monotonic()
        with self._lock:
            if data.get("event"):
                self._events.append(BaresipEvent.from_json(data, now))
            elif data.get("response") and isinstance(data.get("token"), str):
                self._responses[data["token"]] = data
            self._lock.notify_all()

    def _send(self, command: str, params: str | None) -> str:
        if self._socket is None:
            raise BaresipError("baresip is not running: call start() first")
        with self._lock:
            self._token += 1
            token = f"t{self._token}"
        body: dict[str, str] = {"command": command, "token": token}
        if params is not None:
            body["params"] = params
        encoded = json.dumps(body).encode()
        self._socket.sendall(str(len(encoded)).encode() + b":" + encoded + b",")
        return token

    def command(self, command: str, params: str | None = None, timeout: float = 5.0) -> str:
        """Run a baresip command (as typed after ``/``) and return its text output. Raises
        ``BaresipError`` if baresip answers not-ok and ``BaresipTimeout`` if it does not."""
        token = self._send(command, params)
        deadline = time.monotonic() + timeout
        with self._lock:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BaresipTimeout(f"no response to {command!r} within {timeout} s")
                if self._closed_reason is not None:
                    raise BaresipError(f"no response to {command!r}: {self._closed_reason}")
                self._lock.wait(left)
            response = self._responses.pop(token)
        data = response.get("data")
        text = "" if data is None else str(data)
        if not response.get("ok"):
            raise BaresipError(f"baresip refused {command!r} ({params!r}): {text.strip()}")
        return text

    # -- events -------------------------------------------------------------------------------

    @property
    def events(self) -> list[BaresipEvent]:
        """Every event received so far, oldest first."""
        with self._lock:
            return list(self._events)

    def event_types(self) -> list[str]:
        return [e.type for e in self.events]

    def wait_event(
        self,
        types: str | Sequence[str],
        timeout: float,
        *,
        where: Callable[[BaresipEvent], bool] | None = None,
    ) -> BaresipEvent:
        """The next event of one of ``types`` (matching ``where``) not returned by an earlier
        wait for the same types, waiting up to ``timeout`` seconds for it."""
        wanted = (types,) if isinstance(types, str) else tuple(types)
        key = ",".join(sorted(wanted))
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                start = self._cursor.get(key, 0)
                for index in range(start, len(self._events)):
                    event = self._events[index]
                    if event.type in wanted and (where is None or where(event)):
                        self._cursor[key] = index + 1
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self._closed_reason is not None:
                    seen = ", ".join(e.type for e in self._events) or "none"
                    why = self._closed_reason or f"not within {timeout} s"
                    raise BaresipTimeout(f"no {'/'.join(wanted)} event ({why}); events: {seen}")
                self._lock.wait(left)

    def wait_registered(self, timeout: float = 10.0) -> BaresipEvent:
        """Wait for ``REGISTER_OK``; raises ``BaresipError`` on ``REGISTER_FAIL``."""
        event = self.wait_event(("REGISTER_OK", "REGISTER_FAIL"), timeout)
        if event.type == "REGISTER_FAIL":
            raise BaresipError(f"registration of {self.account.aor} failed: {event.param}")
        return event

    def wait_incoming(self, timeout: float = 10.0) -> BaresipEvent:
        """Wait for an incoming call (``CALL_INCOMING``)."""
        return self.wait_event("CALL_INCOMING", timeout)

    def wait_established(self, timeout: float = 10.0) -> BaresipEvent:
        """Wait for a call to be answered (``CALL_ESTABLISHED``); raises ``BaresipError`` if
        a call closes first."""
        event = self.wait_event(("CALL_ESTABLISHED", "CALL_CLOSED"), timeout)
        if event.type == "CALL_CLOSED":
            raise BaresipError(f"call closed before it was established: {event.param}")
        return event

    def wait_call_closed(self, timeout: float = 10.0) -> BaresipEvent:
        """Wait for a call to end (``CALL_CLOSED``; ``param`` carries the reason)."""
        return self.wait_event("CALL_CLOSED", timeout)

    def sip_messages(self) -> list[TracedSipMessage]:
        """The SIP messages sent and received so far (needs ``sip_trace=True``)."""
        if not self.sip_trace:
            raise BaresipError("sip_messages() needs a phone made with sip_trace=True")
        return parse_sip_trace(self.output)

    def wait_sip_request(
        self, method: str, timeout: float = 10.0, *, index: int = 0
    ) -> TracedSipMessage:
        """The ``index``-th ``method`` request this phone received (needs ``sip_trace=True``),
        waiting up to ``timeout`` seconds for baresip to log it."""
        deadline = time.monotonic() + timeout
        while True:
            received = [
                m
                for m in self.sip_messages()
                if m.method == method and m.destination.endswith(f":{self.sip_port}")
            ]
            if len(received) > index:
                return received[index]
            if time.monotonic() > deadline:
                seen = ", ".join(m.method or m.start_line for m in self.sip_messages()) or "none"
                raise BaresipTimeout(
                    f"no {method} request #{index + 1} received within {timeout} s; "
                    f"SIP messages: {seen}"
                )
            time.sleep(0.02)

    def received_dtmf(self) -> str:
        """The digits baresip reported receiving (RFC 4733 or SIP INFO), in order."""
        return "".join(e.param or "" for e in self.events if e.type == "CALL_DTMF_START")

    # -- call control -------------------------------------------------------------------------

    def dial(self, uri: str) -> str:
        """Place a call to ``uri`` (``sip:user@host:port``)."""
        if not uri.startswith(("sip:", "sips:")) or any(c in uri for c in " \r\n"):
            raise BaresipError(f"not a SIP URI: {uri!r}")
        return self.command("dial", uri)

    def answer(self) -> str:
        """Accept the ringing incoming call."""
        return self.command("accept")

    def hangup(self) -> str:
        """Hang up (or reject, or cancel) the current call."""
        return self.command("hangup")

    def hold(self) -> str:
        """Put the current call on hold (re-INVITE with ``a=sendonly``)."""
        return self.command("hold")

    def resume(self) -> str:
        """Take the current call off hold."""
        return self.command("resume")

    def send_dtmf(self, digits: str, gap: float = 0.25) -> None:
        """Send ``digits`` as RFC 4733 events, one ``sndcode`` per digit ``gap`` seconds
        apart (baresip sends each press for a fixed length)."""
        for index, digit in enumerate(digits):
            if digit.upper() not in "0123456789*#ABCD":
                raise BaresipError(f"digit {index + 1} of {digits!r} is not a DTMF digit")
            self.command("sndcode", digit.upper())
            time.sleep(gap)

    # -- recordings ---------------------------------------------------------------------------

    def recordings(self, kind: str = "dec") -> list[Path]:
        """The WAV files sndfile wrote, oldest first: ``dec`` is what the phone heard, ``enc``
        what it sent."""
        if kind not in ("dec", "enc"):
            raise BaresipError(f"recording kind {kind!r} is not dec or enc")
        return sorted(self.recordings_dir.glob(f"dump-*-{kind}.wav"), key=_mtime)

    @property
    def received_wav(self) -> Path | None:
        """The recording of what the phone heard in its latest call (complete once the call
        has closed), or None."""
        found = self.recordings("dec")
        return found[-1] if found else None

    def received_audio(self) -> bytes:
        """The 16-bit 8 kHz PCM of ``received_wav``; raises ``BaresipError`` if there is none."""
        path = self.received_wav
        if path is None:
            raise BaresipError(f"no recording in {self.recordings_dir}")
        return read_wav(path)


def _reap(processes: list[subprocess.Popen[bytes]], folder: Path | None) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _take_netstring(buffer: bytes) -> tuple[bytes | None, bytes]:
    """Split one netstring (``len:data,``) off ``buffer``: (data, rest), or (None, buffer) when
    it is incomplete. Raises ``BaresipError`` for a malformed one."""
    colon = buffer.find(b":")
    if colon < 0:
        if len(buffer) > 10:
            raise BaresipError(f"netstring length prefix too long: {buffer[:12]!r}")
        return None, buffer
    digits = buffer[:colon]
    if not digits.isdigit():
        raise BaresipError(f"bad netstring length {digits[:12]!r}")
    length = int(digits)
    if length > _MAX_NETSTRING:
        raise BaresipError(f"netstring of {length} bytes is over the {_MAX_NETSTRING} limit")
    end = colon + 1 + length
    if len(buffer) < end + 1:
        return None, buffer
    if buffer[end : end + 1] != b",":
        raise BaresipError("netstring does not end with ','")
    return buffer[colon + 1 : end], buffer[end + 1 :]
