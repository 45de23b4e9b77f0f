"""E-mail through an SMTP server, with the standard library's :mod:`smtplib`.

One connection per message: reminders are few, and a short-lived connection needs no keep-alive
or reconnect logic. Plain SMTP only (no STARTTLS or login yet): point it at a relay on the same
host or private network that does the rest.
"""

from __future__ import annotations

import re
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from typing import Final

from glasshouse.adapters.notify import NotifyError, check_channel, check_safe_name

__all__ = ["SmtpNotifier"]

# One plain address: no display name, list, spaces or line breaks (they would let a caller add
# recipients or headers).
_ADDRESS: Final = re.compile(r"[^@\s<>,;\"']+@[^@\s<>,;\"']+")


class SmtpNotifier:
    """A :class:`~glasshouse.adapters.notify.Notifier` for ``email`` over SMTP."""

    def __init__(
        self, *, host: str = "localhost", port: int = 25, sender: str, timeout: float = 10.0
    ) -> None:
        if not isinstance(sender, str) or not _ADDRESS.fullmatch(sender):
            raise NotifyError(f"sender must be one plain e-mail address, got {sender!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise NotifyError(f"port must be an integer 1-65535, got {port!r}")
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    @property
    def channels(self) -> frozenset[str]:
        return frozenset({"email"})

    def send(
        self,
        tenant: str,
        channel: str,
        address: str,
        subject: str,
        body: str,
        *,
        message_id: str | None = None,
    ) -> str:
        check_channel(channel, self.channels)
        if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
            raise NotifyError("address must be one plain e-mail address")
        message_id = check_safe_name(
            "message id", uuid.uuid4().hex if message_id is None else message_id
        )
        message = EmailMessage()
        try:
            message["From"] = self.sender
            message["To"] = address
            message["Subject"] = subject
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = f"<{message_id}@{self.sender.rsplit('@', 1)[1]}>"
            message.set_content(body)
        except (ValueError, TypeError) as exc:  # a line break in a header, a non-string...
            raise NotifyError(f"cannot build the e-mail for tenant {tenant!r}: {exc}") from exc
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(
                f"SMTP {self.host}:{self.port} did not take the e-mail for tenant {tenant!r}: {exc}"
            ) from exc
        return message_id
