"""The automatic call distributor: queues, agents and routing, sans-I/O."""

from glasshouse.domain.acd.config import AcdSettings, AgentSpec, QueueSpec, Strategy
from glasshouse.domain.acd.engine import Acd, AgentView, QueueView
from glasshouse.domain.acd.errors import (
    AcdError,
    ClockError,
    ConfigError,
    InvalidTransition,
    UnknownAgent,
    UnknownContact,
    UnknownQueue,
)

__all__ = [
    "Acd",
    "AcdError",
    "AcdSettings",
    "AgentSpec",
    "AgentView",
    "ClockError",
    "ConfigError",
    "InvalidTransition",
    "QueueSpec",
    "QueueView",
    "Strategy",
    "UnknownAgent",
    "UnknownContact",
    "UnknownQueue",
]
