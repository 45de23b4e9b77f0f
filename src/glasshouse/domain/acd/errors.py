"""Typed errors of the ACD. Each message names the object and the reason; the engine checks
before it changes anything, so after an error its state is exactly what it was."""

from __future__ import annotations


class AcdError(ValueError):
    """Base of every error the ACD raises for a command it refuses."""


class ConfigError(AcdError):
    """A queue, agent or tenant setting is invalid."""


class UnknownAgent(AcdError):
    def __init__(self, agent_id: str) -> None:
        super().__init__(f"unknown agent {agent_id!r}")
        self.agent_id = agent_id


class UnknownQueue(AcdError):
    def __init__(self, queue_id: str) -> None:
        super().__init__(f"unknown queue {queue_id!r}")
        self.queue_id = queue_id


class UnknownContact(AcdError):
    def __init__(self, contact_id: str) -> None:
        super().__init__(f"unknown contact {contact_id!r}")
        self.contact_id = contact_id


class InvalidTransition(AcdError):
    """The command is not allowed in the current state (e.g. logging out while talking)."""


class ClockError(AcdError):
    """Time went backwards: the engine only moves forward."""
