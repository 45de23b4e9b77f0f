"""Notifications to people (agents' shift reminders today): the :class:`Notifier` contract.

A notifier hands one message to a channel (``email``, ``sms``) for a tenant and returns the
message's id. The caller may choose the id (``message_id``), so that it can record the send in
the event log before the message leaves; a notifier then uses that id (the outbox's file name,
the e-mail's ``Message-ID``). Failures raise :class:`NotifyError`, never a transport's own error.

Implementations: :class:`~glasshouse.adapters.notify.outbox.MemoryOutbox` (tests),
:class:`~glasshouse.adapters.notify.outbox.FileOutbox` (one JSON file per message under
``var/outbox/<tenant>/``, for a relay or for inspection) and
:class:`~glasshouse.adapters.notify.smtp.SmtpNotifier` (e-mail through an SMTP server).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Final, Protocol

__all__ = [
    "CHANNELS",
    "Notifier",
    "NotifyError",
    "OutboxMessage",
    "check_channel",
    "check_safe_name",
]

CHANNELS: Final = frozenset({"email", "sms"})

# A name that is one harmless path component: no separators, no leading dot, no "..".
_SAFE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class NotifyError(Exception):
    """A message was refused or could not be handed over; the message says which and why."""


class Notifier(Protocol):
    """Sends one message to one address on one channel, for a tenant."""

    @property
    def channels(self) -> frozenset[str]:
        """The channels this notifier can send on."""
        ...

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
        """Hand the message over and return its id (``message_id`` when given)."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message as an outbox keeps it."""

    message_id: str
    tenant: str
    channel: str
    address: str
    subject: str
    body: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> OutboxMessage:
        names = ("message_id", "tenant", "channel", "address", "subject", "body")
        if not isinstance(data, dict) or not all(isinstance(data.get(n), str) for n in names):
            raise NotifyError("not an outbox message (expected an object of strings)")
        return cls(*(data[n] for n in names))


def check_safe_name(what: str, value: object) -> str:
    """``value`` if it can be used as one file or folder name, else :class:`NotifyError`."""
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise NotifyError(
            f"{what} {value!r} is not allowed here: use 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return value


def check_channel(channel: object, channels: frozenset[str]) -> str:
    if not isinstance(channel, str) or channel not in channels:
        raise NotifyError(
            f"channel {channel!r} is not supported here (one of {', '.join(sorted(channels))})"
        )
    return channel
