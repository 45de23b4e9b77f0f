"""Outboxes: notifiers that keep messages instead of delivering them.

:class:`MemoryOutbox` is the fake for tests (also in :mod:`glasshouse.testing.outbox`).
:class:`FileOutbox` writes one JSON file per message into ``<root>/<tenant>/`` (by default
``var/outbox/<tenant>/``), for a relay to deliver or a person to inspect. Both treat a message id
already used by the tenant as already sent, so handing the same message over twice keeps it once.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from glasshouse.adapters.notify import (
    CHANNELS,
    NotifyError,
    OutboxMessage,
    check_channel,
    check_safe_name,
)

__all__ = ["FileOutbox", "MemoryOutbox"]


def _check_text(tenant: object, address: object, subject: object, body: object) -> None:
    if not isinstance(tenant, str) or not tenant:
        raise NotifyError(f"tenant must be a non-empty string, got {tenant!r}")
    if not isinstance(address, str) or not address.strip():
        raise NotifyError("address must be a non-empty string")
    if not isinstance(subject, str) or not isinstance(body, str):
        raise NotifyError("subject and body must be strings")


class MemoryOutbox:
    """A :class:`~glasshouse.adapters.notify.Notifier` that keeps messages in memory.

    ``fail("reason")`` makes every send raise :class:`NotifyError` until ``fail(None)``, to test
    what callers do when a transport is down."""

    def __init__(self, channels: Iterable[str] = CHANNELS) -> None:
        self._channels = frozenset(channels)
        self._lock = threading.Lock()
        self._messages: dict[str, dict[str, OutboxMessage]] = {}
        self._failure: str | None = None
        self._next = 0

    @property
    def channels(self) -> frozenset[str]:
        return self._channels

    def fail(self, reason: str | None) -> None:
        self._failure = reason

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
        _check_text(tenant, address, subject, body)
        check_channel(channel, self._channels)
        with self._lock:
            if self._failure is not None:
                raise NotifyError(self._failure)
            if message_id is None:
                self._next += 1
                message_id = f"m{self._next}"
            check_safe_name("message id", message_id)
            box = self._messages.setdefault(tenant, {})
            if message_id not in box:
                box[message_id] = OutboxMessage(message_id, tenant, channel, address, subject, body)
        return message_id

    def messages(self, tenant: str) -> list[OutboxMessage]:
        """The tenant's messages, in the order they were sent."""
        with self._lock:
            return list(self._messages.get(tenant, {}).values())


class FileOutbox:
    """A :class:`~glasshouse.adapters.notify.Notifier` writing ``<root>/<tenant>/<id>.json``.

    The tenant id and the message id must each be a plain name (letters, digits, ``_``, ``-``,
    ``.``; starting with a letter or digit), so neither can reach outside the tenant's folder.
    Files are written whole (a temporary file, flushed, then linked into place) and readable by
    the owner only: they hold addresses."""

    def __init__(self, root: str | os.PathLike[str] = "var/outbox") -> None:
        self._root = Path(root)

    @property
    def channels(self) -> frozenset[str]:
        return CHANNELS

    @property
    def root(self) -> Path:
        return self._root

    def folder(self, tenant: str) -> Path:
        """The tenant's folder (validated; not created)."""
        folder = self._root / check_safe_name("tenant", tenant)
        if folder.resolve().parent != self._root.resolve():  # pragma: no cover - belt and braces
            raise NotifyError(f"tenant {tenant!r} resolves outside the outbox")
        return folder

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
        _check_text(tenant, address, subject, body)
        check_channel(channel, CHANNELS)
        folder = self.folder(tenant)
        message_id = check_safe_name(
            "message id", uuid.uuid4().hex if message_id is None else message_id
        )
        message = OutboxMessage(message_id, tenant, channel, address, subject, body)
        data = json.dumps(message.to_dict(), ensure_ascii=False, indent=2, sort_keys=True)
        target = folder / f"{message_id}.json"
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(data + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                # Linking fails if the id was used already: the first copy stays.
                with contextlib.suppress(FileExistsError):
                    os.link(temp, target)
            finally:
                os.unlink(temp)
        except OSError as exc:
            raise NotifyError(f"outbox {folder}: cannot write message {message_id}: {exc}") from exc
        return message_id

    def messages(self, tenant: str) -> list[OutboxMessage]:
        """The tenant's messages, oldest file first."""
        folder = self.folder(tenant)
        if not folder.is_dir():
            return []
        files = [p for p in folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
        out: list[OutboxMessage] = []
        for path in files:
            try:
                out.append(OutboxMessage.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError) as exc:
                raise NotifyError(f"{path}: unreadable outbox message ({exc})") from exc
        return out
