"""The error raised when an event log does not fit the contact and agent lifecycles."""

from __future__ import annotations


class MetricsError(ValueError):
    """An event does not fit the lifecycle (or the stream is not one tenant's, in order).

    ``seq`` is the offending event's sequence number (0 if the log has not assigned one) and
    ``reason`` says what is wrong; the message reads ``seq N: reason``.
    """

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"seq {seq}: {reason}")
        self.seq = seq
        self.reason = reason
