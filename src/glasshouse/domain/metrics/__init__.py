"""Contact-center metrics computed from the event log, by the definitions in GLOSSARY.md.

Two independent implementations give the same :class:`Report`: :func:`compute` (batch, from a
whole log) and :class:`LiveMetrics` (incremental, event by event). See ``docs/metrics.md``.
"""

from glasshouse.domain.metrics.batch import compute, compute_rolling
from glasshouse.domain.metrics.config import MetricsConfig, QueueThresholds, config_from_events
from glasshouse.domain.metrics.errors import MetricsError
from glasshouse.domain.metrics.figures import (
    LOGIN_REASON,
    AgentFigures,
    CallLoss,
    QueueFigures,
    Report,
    TenantFigures,
)
from glasshouse.domain.metrics.incremental import LiveMetrics

__all__ = [
    "LOGIN_REASON",
    "AgentFigures",
    "CallLoss",
    "LiveMetrics",
    "MetricsConfig",
    "MetricsError",
    "QueueFigures",
    "QueueThresholds",
    "Report",
    "TenantFigures",
    "compute",
    "compute_rolling",
    "config_from_events",
]
