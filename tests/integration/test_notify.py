"""Notifiers against real files and a real SMTP conversation on the loopback interface."""

from __future__ import annotations

import email
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from glasshouse.adapters.notify import NotifyError, OutboxMessage
from glasshouse.adapters.notify.outbox import FileOutbox
from glasshouse.adapters.notify.smtp import SmtpNotifier
from glasshouse.domain.wfm.reminders import Channel, ContactPoint, UpcomingShift
from glasshouse.service.reminders import send_due_reminders
from glasshouse.testing.memory_store import MemoryEventStore

# ---------------------------------------------------------------------------------------------
# FileOutbox


def test_file_outbox_writes_one_json_file_per_message_in_the_tenants_folder(
    tmp_path: Path,
) -> None:
    outbox = FileOutbox(tmp_path / "var" / "outbox")
    first = outbox.send("acme", "email", "a1@example.test", "Shift reminder", "Hello")
    second = outbox.send("globex", "sms", "+1 555 0100", "", "Your shift", message_id="r-2")
    assert second == "r-2"
    acme = tmp_path / "var" / "outbox" / "acme"
    assert [p.name for p in acme.iterdir()] == [f"{first}.json"]
    assert json.loads((acme / f"{first}.json").read_text(encoding="utf-8")) == {
        "message_id": first,
        "tenant": "acme",
        "channel": "email",
        "address": "a1@example.test",
        "subject": "Shift reminder",
        "body": "Hello",
    }
    assert (acme / f"{first}.json").stat().st_mode & 0o077 == 0  # it holds an address
    assert outbox.messages("acme") == [
        OutboxMessage(first, "acme", "email", "a1@example.test", "Shift reminder", "Hello")
    ]
    assert [m.message_id for m in outbox.messages("globex")] == ["r-2"]
    assert outbox.messages("initech") == []


def test_the_same_message_id_is_kept_once(tmp_path: Path) -> None:
    outbox = FileOutbox(tmp_path)
    outbox.send("acme", "sms", "+1", "", "first", message_id="m-1")
    outbox.send("acme", "sms", "+1", "", "second", message_id="m-1")
    assert [m.body for m in outbox.messages("acme")] == ["first"]
    assert sorted(p.name for p in (tmp_path / "acme").iterdir()) == ["m-1.json"]


@pytest.mark.parametrize(
    "tenant",
    ["../evil", "..", ".", "", "a/b", "/etc", "acme/../globex", ".hidden", "a\x00b", "ac me", "é"],
)
def test_hostile_tenant_ids_are_rejected(tmp_path: Path, tenant: str) -> None:
    root = tmp_path / "outbox"
    outbox = FileOutbox(root)
    with pytest.raises(NotifyError, match="tenant"):
        outbox.send(tenant, "email", "a@example.test", "s", "b")
    with pytest.raises(NotifyError, match="tenant"):
        outbox.messages(tenant)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the root


@pytest.mark.parametrize("message_id", ["../../x", "a/b", ".x", "x" * 200])
def test_hostile_message_ids_are_rejected(tmp_path: Path, message_id: str) -> None:
    with pytest.raises(NotifyError, match="message id"):
        FileOutbox(tmp_path).send("acme", "sms", "+1", "", "b", message_id=message_id)
    assert not (tmp_path / "acme").exists() or list((tmp_path / "acme").iterdir()) == []


def test_file_outbox_reports_a_folder_it_cannot_write(tmp_path: Path) -> None:
    (tmp_path / "acme").write_text("not a folder")
    with pytest.raises(NotifyError, match="cannot write"):
        FileOutbox(tmp_path).send("acme", "sms", "+1", "", "b")


# ---------------------------------------------------------------------------------------------
# SMTP on the loopback interface


class FakeSmtpServer(socketserver.TCPServer):
    """Enough of RFC 5321 for smtplib: one client at a time, messages kept in memory."""

    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse_recipients = False


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: FakeSmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.reply("220 fake.test ESMTP")
        sender, recipients = "", list[str]()
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-fake.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb in ("HELO", "NOOP", "RSET"):
                self.reply("250 OK")
            elif verb == "MAIL":
                sender, recipients = line[10:].strip("<>").split(">")[0], []
                self.reply("250 OK")
            elif verb == "RCPT":
                if self.server.refuse_recipients:
                    self.reply("550 5.1.1 no such user")
                else:
                    recipients.append(line[8:].strip("<>"))
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines: list[bytes] = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                self.server.received.append((sender, recipients, b"".join(lines)))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 command not implemented")


@pytest.fixture
def smtp_server() -> Iterator[FakeSmtpServer]:
    server = FakeSmtpServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_smtp_round_trip_on_loopback(smtp_server: FakeSmtpServer) -> None:
    port = smtp_server.server_address[1]
    notifier = SmtpNotifier(host="127.0.0.1", port=port, sender="planning@bpo.example.test")
    message_id = notifier.send(
        "acme",
        "email",
        "a1@example.test",
        "Shift reminder: Wed 15 Nov 08:00",
        "Your shift starts at 08:00.\n.\nRéponse: C or S.\n",
        message_id="r-42",
    )
    assert message_id == "r-42"
    ((sender, recipients, data),) = smtp_server.received
    assert sender == "planning@bpo.example.test"
    assert recipients == ["a1@example.test"]
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Shift reminder: Wed 15 Nov 08:00"
    assert parsed["To"] == "a1@example.test"
    assert parsed["Message-ID"] == "<r-42@bpo.example.test>"
    body = parsed.get_body()
    assert body is not None
    content = body.get_content().replace("\r\n", "\n")  # SMTP lines end in CRLF
    assert content == "Your shift starts at 08:00.\n.\nRéponse: C or S.\n"


def test_reminders_go_out_by_smtp(smtp_server: FakeSmtpServer) -> None:
    notifier = SmtpNotifier(
        host="127.0.0.1", port=smtp_server.server_address[1], sender="planning@bpo.example.test"
    )
    shift = UpcomingShift("a1", "s-1", 1_700_031_600_000)
    contacts = {"a1": [ContactPoint(Channel.EMAIL, "m1"), ContactPoint(Channel.SMS, "p1")]}
    with MemoryEventStore() as store:
        report = send_due_reminders(
            "acme",
            store,
            notifier,
            [shift],
            contacts,
            shift.start_ms - 3_600_000,
            addresses={"m1": "a1@example.test", "p1": "+1 555 0100"},
        )
        (event,) = store.read("acme")
    assert report.sent == (event,)
    assert [reason for _, reason in report.skipped] == ["the notifier cannot send sms"]
    ((_, recipients, data),) = smtp_server.received
    assert recipients == ["a1@example.test"]
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert parsed["Message-ID"] == f"<{event.body.message_id}@bpo.example.test>"  # type: ignore[attr-defined]


def test_smtp_refusals_become_notify_errors(smtp_server: FakeSmtpServer) -> None:
    smtp_server.refuse_recipients = True
    notifier = SmtpNotifier(
        host="127.0.0.1", port=smtp_server.server_address[1], sender="planning@bpo.example.test"
    )
    with pytest.raises(NotifyError, match="did not take the e-mail"):
        notifier.send("acme", "email", "nobody@example.test", "s", "b")


def test_an_unreachable_smtp_server_is_a_notify_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = SmtpNotifier(host="127.0.0.1", port=port, sender="p@bpo.example.test", timeout=2)
    with pytest.raises(NotifyError, match="did not take the e-mail"):
        notifier.send("acme", "email", "a@example.test", "s", "b")


@pytest.mark.parametrize(
    ("channel", "address", "subject", "message"),
    [
        ("sms", "a@example.test", "s", "channel 'sms'"),
        ("email", "a@example.test, b@example.test", "s", "one plain e-mail address"),
        ("email", "a@example.test\r\nBcc: b@example.test", "s", "one plain e-mail address"),
        ("email", "a@example.test", "hi\r\nBcc: b@example.test", "cannot build"),
    ],
)
def test_smtp_notifier_refuses_header_injection_and_other_channels(
    channel: str, address: str, subject: str, message: str
) -> None:
    # refused before any connection is attempted: nothing listens on this port
    notifier = SmtpNotifier(host="127.0.0.1", port=9, sender="p@bpo.example.test")
    with pytest.raises(NotifyError, match=message):
        notifier.send("acme", channel, address, subject, "b")


def test_smtp_notifier_settings_are_checked() -> None:
    with pytest.raises(NotifyError, match="sender"):
        SmtpNotifier(sender="not an address")
    with pytest.raises(NotifyError, match="port"):
        SmtpNotifier(sender="p@bpo.example.test", port=70_000)
