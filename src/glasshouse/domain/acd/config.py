"""Queue, agent and tenant settings of the ACD, validated where they are made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from glasshouse.domain.acd.errors import ConfigError

Strategy = Literal["longest_idle", "round_robin", "least_calls", "skills_based", "ring_all"]
STRATEGIES: Final[tuple[str, ...]] = get_args(Strategy)

MIN_PROFICIENCY: Final = 1
MAX_PROFICIENCY: Final = 5

#: The reason code the ACD itself sets when an agent lets an offer ring out.
RING_NO_ANSWER: Final = "ring_no_answer"

#: Channels whose contacts take an agent's whole attention: while one is active, nothing else
#: is offered, and an agent who holds other contacts is not offered one.
EXCLUSIVE_CHANNELS: Final = frozenset({"voice"})


def _check_skills(where: str, skills: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, level in skills.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: skill names must be non-empty strings, got {name!r}")
        if isinstance(level, bool) or not isinstance(level, int):
            raise ConfigError(f"{where}: skill '{name}' level must be an integer, got {level!r}")
        if not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY:
            raise ConfigError(
                f"{where}: skill '{name}' level {level} is outside "
                f"{MIN_PROFICIENCY}-{MAX_PROFICIENCY}"
            )
        out[name] = level
    return out


def _non_negative(where: str, name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{where}: '{name}' must be a whole number of seconds >= 0, got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One ACD queue (a skill group). Times are in seconds.

    ``skills`` is required of every agent who serves the queue (name -> minimum proficiency);
    a contact may add requirements of its own. ``members``, when given, limits the queue to
    those agents. ``widen_after_s`` lists waits after which each required level drops by one
    (never below 1); after the last step a contact's own extra skills are dropped too.
    ``callback_retry_s`` is the least time between a callback attempt the customer did not
    answer and the next one (0: dial again as soon as it reaches the head of the queue).
    """

    queue_id: str
    strategy: Strategy = "longest_idle"
    skills: Mapping[str, int] = field(default_factory=dict)
    members: frozenset[str] | None = None
    sl_threshold_s: int = 20
    short_abandon_s: int = 5
    wrap_up_s: int = 0
    ring_timeout_s: int = 15
    max_wait_s: int | None = None
    overflow_queue_id: str | None = None
    overflow_after_s: int | None = None
    overflow_when_no_agents: bool = False
    widen_after_s: tuple[int, ...] = ()
    callback_max_attempts: int = 3
    callback_retry_s: int = 300
    default_aht_s: int = 180

    def __post_init__(self) -> None:
        where = f"queue {self.queue_id!r}"
        if not isinstance(self.queue_id, str) or not self.queue_id:
            raise ConfigError("queue: 'queue_id' must be a non-empty string")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"{where}: unknown strategy {self.strategy!r} (one of {', '.join(STRATEGIES)})"
            )
        object.__setattr__(self, "skills", _check_skills(where, self.skills))
        for name in (
            "sl_threshold_s",
            "short_abandon_s",
            "wrap_up_s",
            "max_wait_s",
            "overflow_after_s",
            "default_aht_s",
        ):
            _non_negative(where, name, getattr(self, name))
        retry = self.callback_retry_s
        # unlike the optional limits above, None (no delay set) is refused too
        if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
            raise ConfigError(
                f"{where}: 'callback_retry_s' must be a whole number of seconds >= 0, got {retry!r}"
            )
        if isinstance(self.ring_timeout_s, bool) or self.ring_timeout_s < 1:
            raise ConfigError(f"{where}: 'ring_timeout_s' must be at least 1 second")
        if self.callback_max_attempts < 1:
            raise ConfigError(f"{where}: 'callback_max_attempts' must be at least 1")
        if self.overflow_queue_id == self.queue_id:
            raise ConfigError(f"{where}: a queue cannot overflow to itself")
        if (
            self.overflow_after_s is not None or self.overflow_when_no_agents
        ) and not self.overflow_queue_id:
            raise ConfigError(f"{where}: overflow is set but 'overflow_queue_id' is missing")
        steps = tuple(self.widen_after_s)
        for s in steps:
            _non_negative(where, "widen_after_s", s)
        if list(steps) != sorted(set(steps)):
            raise ConfigError(f"{where}: 'widen_after_s' must be strictly increasing")
        object.__setattr__(self, "widen_after_s", steps)
        if self.members is not None:
            object.__setattr__(self, "members", frozenset(self.members))


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """An agent's skills (name -> proficiency 1-5) and capacity per channel."""

    agent_id: str
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=lambda: {"voice": 1})

    def __post_init__(self) -> None:
        if not isinstance(self.agent_id, str) or not self.agent_id:
            raise ConfigError("agent: 'agent_id' must be a non-empty string")
        where = f"agent {self.agent_id!r}"
        object.__setattr__(self, "skills", _check_skills(where, self.skills))
        capacity: dict[str, int] = {}
        for channel, n in self.capacity.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ConfigError(f"{where}: capacity for '{channel}' must be an integer >= 0")
            if channel in EXCLUSIVE_CHANNELS and n > 1:
                raise ConfigError(f"{where}: capacity for '{channel}' can only be 0 or 1")
            if n:
                capacity[channel] = n
        object.__setattr__(self, "capacity", capacity)


@dataclass(frozen=True, slots=True)
class AcdSettings:
    """Tenant-wide ACD settings: the not-ready reason codes agents may use."""

    reason_codes: frozenset[str] = frozenset(
        {"break", "lunch", "training", "coaching", "meeting", "other"}
    )
