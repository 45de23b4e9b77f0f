"""The parameters of the metric definitions (GLOSSARY.md): thresholds, interval, ring period.

Every figure that depends on a parameter is computed with the values held here, and reports
carry the :class:`MetricsConfig` they used so that they can state them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Literal, get_args

from glasshouse.domain.events import Event, QueueConfigured
from glasshouse.domain.metrics.errors import MetricsError

AboveHoldBaseline = Literal["queue", "tenant", "fixed"]
ABOVE_HOLD_BASELINES: Final[tuple[str, ...]] = get_args(AboveHoldBaseline)

#: Seconds in a day: intervals must divide it so that every day starts on an interval boundary.
_DAY_S: Final = 86_400


@dataclass(frozen=True, slots=True)
class QueueThresholds:
    """A queue's thresholds: ``sl_threshold_s`` is T of the service level (answered within T,
    abandoned after T); ``short_abandon_s`` is T_short (abandoned with queue time <= T_short)."""

    sl_threshold_s: int = 20
    short_abandon_s: int = 5

    def __post_init__(self) -> None:
        for name in ("sl_threshold_s", "short_abandon_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of seconds >= 0, got {value!r}")

    @property
    def sl_threshold_ms(self) -> int:
        return self.sl_threshold_s * 1000

    @property
    def short_abandon_ms(self) -> int:
        return self.short_abandon_s * 1000


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """How figures are computed for one tenant.

    ``thresholds`` apply to every queue not named in ``queue_thresholds``. ``interval_s`` is the
    reporting interval (900 or 1800 in practice; any divisor of a day is accepted).
    ``ring_period_s`` turns an answer speed into a ring count. ``above_hold_baseline`` says what
    "above hold time" compares talk + hold with: the queue's average for the period, the
    tenant's average for the period, or ``above_hold_fixed_s``. ``rolling_window_s`` is the
    default window of live wall figures.
    """

    thresholds: QueueThresholds = QueueThresholds()
    queue_thresholds: Mapping[str, QueueThresholds] = field(default_factory=dict)
    interval_s: int = 900
    ring_period_s: int = 5
    above_hold_baseline: AboveHoldBaseline = "queue"
    above_hold_fixed_s: int = 0
    rolling_window_s: int = 900

    def __post_init__(self) -> None:
        for name in ("interval_s", "ring_period_s", "rolling_window_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a whole number of seconds > 0, got {value!r}")
        if _DAY_S % self.interval_s:
            raise ValueError(f"interval_s must divide a day (86400 s), got {self.interval_s}")
        if self.above_hold_baseline not in ABOVE_HOLD_BASELINES:
            raise ValueError(
                f"above_hold_baseline must be one of {', '.join(ABOVE_HOLD_BASELINES)}, "
                f"got {self.above_hold_baseline!r}"
            )
        fixed = self.above_hold_fixed_s
        if isinstance(fixed, bool) or not isinstance(fixed, int) or fixed < 0:
            raise ValueError(f"above_hold_fixed_s must be seconds >= 0, got {fixed!r}")
        object.__setattr__(self, "queue_thresholds", dict(self.queue_thresholds))

    @property
    def interval_ms(self) -> int:
        return self.interval_s * 1000

    @property
    def ring_period_ms(self) -> int:
        return self.ring_period_s * 1000

    def thresholds_for(self, queue_id: str) -> QueueThresholds:
        """The thresholds in force for ``queue_id``."""
        return self.queue_thresholds.get(queue_id, self.thresholds)

    def with_thresholds(
        self, *, sl_threshold_s: int | None = None, short_abandon_s: int | None = None
    ) -> MetricsConfig:
        """A copy where the given thresholds apply to every queue, overrides included."""

        def patch(t: QueueThresholds) -> QueueThresholds:
            return QueueThresholds(
                t.sl_threshold_s if sl_threshold_s is None else sl_threshold_s,
                t.short_abandon_s if short_abandon_s is None else short_abandon_s,
            )

        return replace(
            self,
            thresholds=patch(self.thresholds),
            queue_thresholds={q: patch(t) for q, t in self.queue_thresholds.items()},
        )


def config_from_events(
    events: Iterable[Event],
    base: MetricsConfig | None = None,
    *,
    tenant: str | None = None,
) -> MetricsConfig:
    """``base`` (default settings if None) with the thresholds of every ``queue.configured``
    event of the tenant (the last one per queue wins; test events are ignored).

    Without ``tenant`` the events must all belong to one tenant, else :class:`MetricsError`.
    """
    config = base if base is not None else MetricsConfig()
    seen: str | None = tenant
    per_queue = dict(config.queue_thresholds)
    for event in events:
        if seen is None:
            seen = event.tenant
        elif event.tenant != seen:
            if tenant is not None:
                continue
            raise MetricsError(
                event.seq,
                f"events of several tenants ({seen!r}, {event.tenant!r}); name the tenant",
            )
        body = event.body
        if event.test or not isinstance(body, QueueConfigured):
            continue
        per_queue[body.queue_id] = QueueThresholds(body.sl_threshold_s, body.short_abandon_s)
    return replace(config, queue_thresholds=per_queue)
