"""The in-memory outbox, a fake :class:`~glasshouse.adapters.notify.Notifier` for tests."""

from __future__ import annotations

from glasshouse.adapters.notify.outbox import MemoryOutbox

__all__ = ["MemoryOutbox"]
