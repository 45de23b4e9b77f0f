"""The sipp and baresip drivers against each other and against tiny Python peers, on loopback.

The Python peers here are deliberately small: a UAS that answers every INVITE with an SDP
pointing at its own RTP socket and records what arrives (to prove the pcaps are really played),
and a registrar that challenges with a 401 and checks the digest. Tests needing sipp or baresip
skip when they are not installed; those playing pcaps also need a raw socket (root/CAP_NET_RAW).
"""

from __future__ import annotations

import itertools
import re
import secrets
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.protocols.rtp import DtmfReceiver, RtpPacket, pcmu_decode
from glasshouse.protocols.sdp import SessionDescription, build_answer
from glasshouse.protocols.sip import (
    DigestAuthenticator,
    DigestCredentials,
    DigestOutcome,
    SipRequest,
    make_response,
    parse_message,
)
from glasshouse.testing.audio import dominant_frequency
from glasshouse.testing.baresip import (
    BaresipAccount,
    BaresipError,
    BaresipPhone,
    BaresipTimeout,
    baresip_binary,
    baresip_modules_missing,
)
from glasshouse.testing.pcap import (
    PcapError,
    capture_duration,
    decode_stream,
    dtmf_pcap,
    read_rtp_pcap,
    tone_pcap,
    write_rtp_pcap,
)
from glasshouse.testing.sipp import (
    SippFailed,
    SippOptions,
    SippRun,
    answering_peer,
    ivr_caller,
    ivr_info_caller,
    parse_screen_counts,
    parse_stat_csv,
    raw_sockets_allowed,
    registering_agent,
    sipp_binary,
)

LOOPBACK = "127.0.0.1"
WAIT_S = 10.0

needs_sipp = pytest.mark.skipif(
    sipp_binary() is None, reason="sipp is not installed (Debian package sip-tester)"
)
needs_raw = pytest.mark.skipif(
    not raw_sockets_allowed(), reason="sipp's play_pcap_audio needs a raw socket (CAP_NET_RAW)"
)
needs_baresip = pytest.mark.skipif(
    baresip_binary() is None or bool(baresip_modules_missing()),
    reason="baresip 1.0 with the aufile, aubridge, sndfile and ctrl_tcp modules is not installed",
)


# ---------------------------------------------------------------------------------------------
# Tiny Python peers


@dataclass
class _Loop:
    """A UDP socket served by a thread until ``close``."""

    sock: socket.socket
    handler: Callable[[bytes, tuple[str, int]], None]
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.sock.settimeout(0.05)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.handler(data, addr)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOOPBACK, 0))
    return sock


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class MediaSinkUas:
    """Answers INVITEs (SDP answer pointing at its RTP socket), INFO and BYE; records the RTP
    packets with their arrival time, the INFO bodies and the methods it received."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, RtpPacket]] = []
        self.info_bodies: list[bytes] = []
        self.methods: list[str] = []
        self._lock = threading.Lock()
        rtp = _udp_socket()
        self.rtp_port = int(rtp.getsockname()[1])
        sip = _udp_socket()
        self.address = f"{LOOPBACK}:{sip.getsockname()[1]}"
        self._rtp = _Loop(rtp, self._on_rtp)
        self._sip = _Loop(sip, self._on_sip)

    def _on_rtp(self, data: bytes, _addr: tuple[str, int]) -> None:
        with self._lock:
            self.packets.append((time.monotonic(), RtpPacket.parse(data)))

    def _on_sip(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if not isinstance(message, SipRequest):
            return
        with self._lock:
            self.methods.append(message.method)
            if message.method == "INFO":
                self.info_bodies.append(message.body)
        if message.method == "ACK":
            return
        response = make_response(message, 200, to_tag="sink")
        if message.method == "INVITE":
            offer = SessionDescription.parse(message.body)
            answer = build_answer(offer, LOOPBACK, self.rtp_port, session_id="4242")
            response.headers.add("Contact", f"<sip:sink@{self.address}>")
            response.headers.add("Content-Type", "application/sdp")
            response.body = bytes(answer.description)
        self._sip.sock.sendto(bytes(response), addr)

    def rtp(self, payload_type: int) -> list[tuple[float, RtpPacket]]:
        with self._lock:
            return [(t, p) for t, p in self.packets if p.payload_type == payload_type]

    def close(self) -> None:
        self._sip.close()
        self._rtp.close()


class ChallengingRegistrar:
    """Answers REGISTER with a 401 (MD5 digest, realm "glasshouse") and, once the credentials
    check out, 200 with the binding; records every verification outcome."""

    def __init__(self, passwords: dict[str, str]) -> None:
        self.passwords = passwords
        self.authenticator = DigestAuthenticator(
            secrets.token_bytes(32), "glasshouse", algorithms=("MD5",)
        )
        self.challenges = 0
        self.outcomes: list[DigestOutcome] = []
        sock = _udp_socket()
        self.address = f"{LOOPBACK}:{sock.getsockname()[1]}"
        self._loop = _Loop(sock, self._on_sip)

    def _on_sip(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if not isinstance(message, SipRequest) or message.method == "ACK":
            return
        if message.method != "REGISTER":
            response = make_response(message, 405, to_tag="reg")
        elif not message.authorization:
            self.challenges += 1
            response = make_response(
                message,
                401,
                to_tag="reg",
                headers=[
                    ("WWW-Authenticate", str(c)) for c in self.authenticator.challenges(time.time())
                ],
            )
        else:
            credentials = DigestCredentials.parse(message.authorization[0])
            outcome = self.authenticator.verify(
                credentials,
                method="REGISTER",
                now=time.time(),
                password=self.passwords.get(credentials.username, ""),
            )
            self.outcomes.append(outcome)
            if outcome is DigestOutcome.ACCEPTED:
                extra = [("Expires", str(message.expires or 0))]
                contact = message.headers.get("Contact")
                if contact is not None:
                    extra.append(("Contact", contact))
                response = make_response(message, 200, to_tag="reg", headers=extra)
            else:
                response = make_response(message, 403, to_tag="reg")
        self._loop.sock.sendto(bytes(response), addr)

    def close(self) -> None:
        self._loop.close()


@pytest.fixture
def sink() -> Iterator[MediaSinkUas]:
    peer = MediaSinkUas()
    yield peer
    peer.close()


@pytest.fixture
def registrar() -> Iterator[ChallengingRegistrar]:
    peer = ChallengingRegistrar({"agent1": "agent1-demo"})
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    tone_pcap(folder / "tone440.pcap", 440, 600, "PCMU")
    # "D" is one of the digits sipp ships no pcap for.
    dtmf_pcap(folder / "dtmf.pcap", "2D", duration_ms=100, gap_ms=60)
    return {"tone": folder / "tone440.pcap", "dtmf": folder / "dtmf.pcap"}


# ---------------------------------------------------------------------------------------------
# pcap files


def test_rtp_pcap_round_trips_with_valid_lengths_checksums_and_20ms_spacing(
    tmp_path: Path,
) -> None:
    payloads = [bytes([i]) * 160 for i in range(5)]
    path = tmp_path / "s.pcap"
    assert write_rtp_pcap(path, payloads, 0, ssrc=7, first_sequence=65534) == 5

    packets = read_rtp_pcap(path, verify_checksums=True)

    assert [p.packet.payload for p in packets] == payloads
    assert [p.packet.sequence_number for p in packets] == [65534, 65535, 0, 1, 2]
    assert [p.packet.timestamp for p in packets] == [0, 160, 320, 480, 640]
    assert [round(p.time * 1000) for p in packets] == [0, 20, 40, 60, 80]
    assert [p.packet.marker for p in packets] == [True, False, False, False, False]
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    assert struct.unpack_from("<I", data, 20)[0] == 1  # Ethernet
    assert len(data) == 24 + 5 * (16 + 14 + 20 + 8 + 12 + 160)


@settings(deadline=None, max_examples=25)
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=200), min_size=1, max_size=6),
    payload_type=st.integers(0, 127),
)
def test_any_stream_reads_back_as_written(payloads: list[bytes], payload_type: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.pcap"
        write_rtp_pcap(path, payloads, payload_type, ssrc=1)
        packets = read_rtp_pcap(path)
    assert [(p.packet.payload_type, p.packet.payload) for p in packets] == [
        (payload_type, payload) for payload in payloads
    ]


def test_tone_pcap_carries_the_tone_in_g711(tmp_path: Path) -> None:
    for law in ("PCMU", "PCMA"):
        path = tmp_path / f"{law}.pcap"
        assert tone_pcap(path, 440, 200, law) == 10
        packets = read_rtp_pcap(path)
        assert {p.packet.payload_type for p in packets} == {0 if law == "PCMU" else 8}
        assert dominant_frequency(decode_stream(packets, law)) == pytest.approx(440, abs=1)
        assert capture_duration(path) == pytest.approx(0.2)


def test_dtmf_pcap_is_one_press_per_digit_with_three_end_packets(tmp_path: Path) -> None:
    path = tmp_path / "dtmf.pcap"
    dtmf_pcap(path, "1D#", duration_ms=100, gap_ms=50)
    packets = read_rtp_pcap(path)
    receiver = DtmfReceiver()
    digits = [d for p in packets for d in receiver.receive(p.packet, p.time)]

    assert [d.digit for d in digits] == ["1", "D", "#"]
    assert all(d.ended and d.duration_ms == 100 for d in digits)
    assert {p.packet.payload_type for p in packets} == {101}
    ends = [p for p in packets if p.packet.payload[1] & 0x80]
    assert len(ends) == 9
    gaps = {round((b.time - a.time) * 1000) for a, b in itertools.pairwise(packets)}
    assert 20 in gaps and min(gaps) >= 20


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: dtmf_pcap(p, "1x"), "digit 2 of '1x'"),
        (lambda p: dtmf_pcap(p, ""), "no digits"),
        (lambda p: tone_pcap(p, 440, 100, "G722"), "unknown G.711 law"),
        (lambda p: tone_pcap(p, 9000, 100), "tone frequency"),
        (lambda p: write_rtp_pcap(p, [b""], 200), "payload_type 200"),
    ],
)
def test_bad_requests_name_the_problem(
    tmp_path: Path, call: Callable[[Path], int], message: str
) -> None:
    with pytest.raises(PcapError, match=re.escape(message)):
        call(tmp_path / "x.pcap")


def test_damaged_files_are_refused_with_the_record_named(tmp_path: Path) -> None:
    path = tmp_path / "s.pcap"
    write_rtp_pcap(path, [b"\x00" * 160] * 2, 0)
    data = bytearray(path.read_bytes())
    (tmp_path / "cut.pcap").write_bytes(bytes(data[:-10]))
    with pytest.raises(PcapError, match="record 1: 214 bytes announced"):
        read_rtp_pcap(tmp_path / "cut.pcap")
    data[24 + 16 + 14 + 20 + 8 + 20] ^= 0xFF  # a payload byte: the UDP checksum no longer fits
    (tmp_path / "bad.pcap").write_bytes(bytes(data))
    with pytest.raises(PcapError, match="record 0: wrong UDP checksum"):
        read_rtp_pcap(tmp_path / "bad.pcap")
    (tmp_path / "ng.pcap").write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(PcapError, match="pcapng is not supported"):
        read_rtp_pcap(tmp_path / "ng.pcap")


def test_the_pcaps_sipp_ships_read_back() -> None:
    shipped = Path("/usr/share/sip-tester/dtmf_2833_5.pcap")
    if not shipped.is_file():
        pytest.skip("sip-tester's pcaps are not installed")
    receiver = DtmfReceiver()
    digits = [d for p in read_rtp_pcap(shipped) for d in receiver.receive(p.packet, p.time)]
    assert [d.digit for d in digits] == ["5"]


# ---------------------------------------------------------------------------------------------
# sipp result parsing


def test_stat_csv_and_final_screen_give_the_counts() -> None:
    csv_text = "A;SuccessfulCall(C);FailedCall(C);\n1;0;0;\n2;3;1;\n"
    assert parse_stat_csv(csv_text) == {"A": "2", "SuccessfulCall(C)": "3", "FailedCall(C)": "1"}
    assert parse_stat_csv("A;B\n") == {}
    screen = (
        "  Total Calls created    |                           |        4\n"
        "  Successful call        |        0                  |        3\n"
        "  Failed call            |        1                  |        1\n"
    )
    assert parse_screen_counts(screen) == (3, 1, 4)
    assert parse_screen_counts("nothing here") is None


# ---------------------------------------------------------------------------------------------
# sipp against sipp, and against the Python peers


@needs_sipp
@needs_raw
@pytest.mark.parametrize("dtmf", ["rfc4733", "info"])
def test_ivr_caller_completes_calls_against_the_answering_peer(
    media: dict[str, Path], dtmf: str
) -> None:
    with answering_peer(tone_pcap=media["tone"], calls=2, timeout_s=20) as uas:
        uas.start().wait_ready()
        options: SippOptions = {"rate": 20, "limit": 2, "timeout_s": 20}
        if dtmf == "rfc4733":
            caller = ivr_caller(
                uas.address,
                dtmf_pcap=media["dtmf"],
                tone_pcap=media["tone"],
                wait_ms=100,
                calls=2,
                **options,
            )
        else:
            caller = ivr_info_caller(
                uas.address, tone_pcap=media["tone"], wait_ms=100, calls=2, **options
            )
        with caller:
            caller.run().check(calls=2)
        uas.wait().check(calls=2)


@needs_sipp
@needs_raw
def test_answering_peer_may_hang_up_first(media: dict[str, Path]) -> None:
    with answering_peer(tone_pcap=media["tone"], hold_ms=200, timeout_s=20) as uas:
        uas.start().wait_ready()
        with ivr_caller(
            uas.address,
            dtmf_pcap=media["dtmf"],
            tone_pcap=media["tone"],
            wait_ms=5000,
            trace_messages=True,
        ) as uac:
            uac.run().check(calls=1)
            wire = [(m.direction, m.method or m.start_line) for m in uac.messages()]
        uas.wait().check(calls=1)
    # The peer's BYE came during the caller's wait; the caller answered it and sent none.
    assert wire[-2:] == [("received", "BYE"), ("sent", "SIP/2.0 200 OK")]
    assert ("sent", "BYE") not in wire


@needs_sipp
@needs_raw
def test_ivr_caller_really_plays_the_dtmf_and_tone_pcaps(
    media: dict[str, Path], sink: MediaSinkUas
) -> None:
    with ivr_caller(
        sink.address, dtmf_pcap=media["dtmf"], tone_pcap=media["tone"], wait_ms=100
    ) as uac:
        uac.run().check(calls=1)

    receiver = DtmfReceiver()
    digits = [d for t, p in sink.rtp(101) for d in receiver.receive(p, t)]
    assert [d.digit for d in digits] == ["2", "D"]
    audio = b"".join(pcmu_decode(p.payload) for _, p in sink.rtp(0))
    assert len(audio) == 2 * 8 * 600
    assert dominant_frequency(audio) == pytest.approx(440, abs=2)
    assert sink.methods[:2] == ["INVITE", "ACK"] and sink.methods[-1] == "BYE"


@needs_sipp
@needs_raw
def test_info_caller_sends_dtmf_relay(media: dict[str, Path], sink: MediaSinkUas) -> None:
    with ivr_info_caller(sink.address, tone_pcap=media["tone"], digit="2", wait_ms=100) as uac:
        uac.run().check(calls=1)
    assert sink.info_bodies == [b"Signal=2\r\nDuration=160\r\n"]
    assert len(sink.rtp(0)) == 30


@needs_sipp
def test_registering_agent_answers_the_digest_challenge(registrar: ChallengingRegistrar) -> None:
    with registering_agent(registrar.address, user="agent1", password="agent1-demo") as reg:
        reg.run().check(calls=1)
    assert registrar.challenges == 1
    assert registrar.outcomes == [DigestOutcome.ACCEPTED]


@needs_sipp
def test_a_wrong_password_fails_the_call_and_says_why(registrar: ChallengingRegistrar) -> None:
    with registering_agent(registrar.address, user="agent1", password="nope") as reg:
        result = reg.run()
    assert result.exit_code == 1 and result.failed_calls == 1
    assert registrar.outcomes == [DigestOutcome.WRONG_RESPONSE]
    with pytest.raises(SippFailed, match="at least one call failed"):
        result.check()


@needs_sipp
def test_every_run_ends_by_itself_or_is_killed() -> None:
    # Nobody calls this UAS: sipp's own -timeout ends it.
    with SippRun("uas", timeout_s=1) as idle:
        result = idle.run()
    assert result.hit_sipp_timeout and not result.all_succeeded
    # A run outliving the Python bound is killed with its process group.
    with SippRun("uas", timeout_s=60) as stuck:
        stuck.start()
        result = stuck.wait(timeout=0.5)
        assert result.timed_out and not stuck.running()


# ---------------------------------------------------------------------------------------------
# baresip


@needs_baresip
def test_baresip_registers_with_digest_auth(registrar: ChallengingRegistrar) -> None:
    account = BaresipAccount(
        user="agent1", registrar=registrar.address, password="agent1-demo", regint=60
    )
    with BaresipPhone(account) as phone:
        event = phone.wait_registered(WAIT_S)
    assert event.param == "200 OK"
    assert registrar.challenges >= 1
    assert registrar.outcomes[0] is DigestOutcome.ACCEPTED


@needs_baresip
def test_baresip_reports_a_failed_registration(registrar: ChallengingRegistrar) -> None:
    account = BaresipAccount(registrar=registrar.address, password="wrong", regint=60)
    with BaresipPhone(account) as phone, pytest.raises(BaresipError, match="registration"):
        phone.wait_registered(WAIT_S)


@needs_baresip
@needs_sipp
def test_baresip_dials_sipp_uas(tmp_path: Path) -> None:
    with SippRun("uas", timeout_s=20) as uas:
        uas.start().wait_ready()
        with BaresipPhone(BaresipAccount()) as phone:
            phone.dial(f"sip:service@{uas.address}")
            phone.wait_established(WAIT_S)
            phone.hangup()
            assert phone.wait_call_closed(WAIT_S).direction == "outgoing"
        uas.wait().check(calls=1)


@needs_baresip
@needs_sipp
def test_baresip_auto_answers_sipp_uac() -> None:
    with BaresipPhone(BaresipAccount(answermode="auto")) as phone:
        with SippRun("uac", phone.address, service="agent1", duration_ms=300) as uac:
            uac.run().check(calls=1)
        established = phone.wait_established(WAIT_S)
        assert established.direction == "incoming"
        assert phone.wait_call_closed(WAIT_S).call_id == established.call_id


@needs_baresip
@needs_sipp
@needs_raw
def test_baresip_holds_resumes_and_records_what_it_hears(media: dict[str, Path]) -> None:
    with answering_peer(tone_pcap=media["tone"], trace_messages=True, timeout_s=20) as uas:
        uas.start().wait_ready()
        with BaresipPhone(BaresipAccount()) as phone:
            phone.dial(f"sip:agent2@{uas.address}")
            phone.wait_established(WAIT_S)
            _wait_until(lambda: "CALL_RTPESTAB" in phone.event_types(), WAIT_S, "RTP")
            time.sleep(0.7)  # the 600 ms tone plays out
            phone.hold()
            phone.resume()
            phone.hangup()
            phone.wait_call_closed(WAIT_S)
            heard = phone.received_audio()
        uas.wait().check(calls=1)
        invites = [m.text for m in uas.messages() if m.method == "INVITE"]

    assert dominant_frequency(heard) == pytest.approx(440, abs=2)
    assert len(invites) == 3
    assert "a=sendonly" in invites[1] and "a=sendrecv" in invites[2]


@needs_baresip
@needs_sipp
@needs_raw
def test_ivr_caller_answers_a_reinvite_and_baresip_hears_its_dtmf(media: dict[str, Path]) -> None:
    # On a cold machine a just-started baresip has once shown no sign of sipp's first INVITE
    # (no event at all); that case alone is tried once more, and the second try must pass.
    for attempt in (1, 2):
        try:
            _ivr_caller_and_baresip(media)
            return
        except BaresipTimeout as exc:
            if attempt == 2 or "events: none" not in str(exc):
                raise


def _ivr_caller_and_baresip(media: dict[str, Path]) -> None:
    with BaresipPhone(BaresipAccount(user="ivr", answermode="auto")) as phone:
        with ivr_caller(
            phone.address,
            number="ivr",
            dtmf_pcap=media["dtmf"],
            tone_pcap=media["tone"],
            wait_ms=1500,
            trace_messages=True,
        ) as uac:
            uac.start()
            phone.wait_established(WAIT_S)
            phone.hold()
            phone.resume()
            uac.wait().check(calls=1)
            received = [m.method for m in uac.messages() if m.direction == "received"]
        phone.wait_call_closed(WAIT_S)
        assert received.count("INVITE") == 2
        assert phone.received_dtmf() == "2D"


@needs_baresip
def test_baresip_answers_another_baresip_and_hears_its_dtmf() -> None:
    with (
        BaresipPhone(BaresipAccount(user="agent3")) as agent,
        BaresipPhone(BaresipAccount(user="caller")) as caller,
    ):
        caller.dial(agent.uri)
        incoming = agent.wait_incoming(WAIT_S)
        assert incoming.peer_uri is not None and "caller@" in incoming.peer_uri
        agent.answer()
        agent.wait_established(WAIT_S)
        caller.wait_established(WAIT_S)
        caller.send_dtmf("12#")
        _wait_until(lambda: agent.received_dtmf() == "12#", WAIT_S, "three DTMF digits")
        caller.hangup()
        assert agent.wait_call_closed(WAIT_S).direction == "incoming"
