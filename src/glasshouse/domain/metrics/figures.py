"""Immutable metric results: raw counts and integer-millisecond sums, with the derived rates
computed exactly (as :class:`~fractions.Fraction`) by the definitions in GLOSSARY.md.

A derived figure is ``None`` when its denominator is 0. Both the batch computation
(:mod:`glasshouse.domain.metrics.batch`) and the live one
(:mod:`glasshouse.domain.metrics.incremental`) return these types, so they compare with ``==``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

from glasshouse.domain.metrics.config import MetricsConfig, QueueThresholds

#: The not-ready reason code under which the time between an agent's login and their first
#: ready / not-ready is reported.
LOGIN_REASON: Final = "login"


def ratio(numerator: int, denominator: int) -> Fraction | None:
    """``numerator / denominator`` exactly, or None when the denominator is 0."""
    return Fraction(numerator, denominator) if denominator else None


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Contact figures of one queue (or of the whole tenant) over one period.

    Counts are over the contacts that **entered the queue** in the period. ``thresholds`` are
    the ones used (None for tenant figures, where each contact is judged by the thresholds of
    the queue it ended in). ``handled``, ``talk_ms``, ``hold_ms`` and ``acw_ms`` cover handled
    contacts that are not justified long; those are in ``justified_long`` and
    ``justified_long_ms`` (their talk + hold + ACW).
    """

    thresholds: QueueThresholds | None
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    abandoned_after: int = 0
    overflowed: int = 0
    timed_out: int = 0
    callbacks_requested: int = 0
    callbacks_connected: int = 0
    answered_queue_ms: int = 0
    abandoned_queue_ms: int = 0
    handled: int = 0
    talk_ms: int = 0
    hold_ms: int = 0
    acw_ms: int = 0
    justified_long: int = 0
    justified_long_ms: int = 0
    above_hold: int = 0
    above_hold_baseline_ms: Fraction | None = None

    @property
    def abandon_rate(self) -> Fraction | None:
        """(abandoned - short) / (offered - short)."""
        return ratio(self.abandoned - self.short_abandoned, self.offered - self.short_abandoned)

    @property
    def service_level(self) -> Fraction | None:
        """answered_within(T) / (answered + abandoned - short)."""
        return ratio(self.answered_within, self.answered + self.abandoned - self.short_abandoned)

    @property
    def asa_ms(self) -> Fraction | None:
        """Average speed of answer: queue time of answered contacts / answered."""
        return ratio(self.answered_queue_ms, self.answered)

    @property
    def average_queue_ms(self) -> Fraction | None:
        """Queue time of answered and abandoned contacts / (answered + abandoned)."""
        return ratio(
            self.answered_queue_ms + self.abandoned_queue_ms, self.answered + self.abandoned
        )

    @property
    def average_abandon_ms(self) -> Fraction | None:
        return ratio(self.abandoned_queue_ms, self.abandoned)

    @property
    def aht_ms(self) -> Fraction | None:
        """Average handle time: (talk + hold + ACW) / handled, justified long excluded."""
        return ratio(self.talk_ms + self.hold_ms + self.acw_ms, self.handled)

    @property
    def average_talk_ms(self) -> Fraction | None:
        return ratio(self.talk_ms, self.handled)

    @property
    def average_hold_ms(self) -> Fraction | None:
        return ratio(self.hold_ms, self.handled)

    @property
    def average_acw_ms(self) -> Fraction | None:
        return ratio(self.acw_ms, self.handled)

    @property
    def justified_long_aht_ms(self) -> Fraction | None:
        """Average handle time of the justified-long contacts (reported apart from AHT)."""
        return ratio(self.justified_long_ms, self.justified_long)


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """One agent over one period.

    Contact counts and ``handled_*`` sums are over contacts that entered the queue in the period
    (like queue figures). State times (``logged_in_ms`` ... ``acw_ms``) are clock time inside the
    period. ``ringing_ms`` is time with an offer ringing (or a callback being dialled);
    ``talk_ms``, ``hold_ms`` and ``acw_ms`` add up over contacts if an agent holds several.
    """

    offered: int = 0
    answered: int = 0
    ring_no_answer: int = 0
    callbacks_connected: int = 0
    answer_speed_ms: int = 0
    rings: int = 0
    handled: int = 0
    handled_talk_ms: int = 0
    handled_hold_ms: int = 0
    handled_acw_ms: int = 0
    justified_long: int = 0
    justified_long_ms: int = 0
    logged_in_ms: int = 0
    ready_idle_ms: int = 0
    not_ready_ms: Mapping[str, int] = field(default_factory=dict)
    ringing_ms: int = 0
    talk_ms: int = 0
    hold_ms: int = 0
    acw_ms: int = 0

    @property
    def average_answer_speed_ms(self) -> Fraction | None:
        """Offer to answer, averaged over answered offers."""
        return ratio(self.answer_speed_ms, self.answered)

    @property
    def average_rings(self) -> Fraction | None:
        """Mean of ceil(answer speed / ring period) over answered offers."""
        return ratio(self.rings, self.answered)

    @property
    def aht_ms(self) -> Fraction | None:
        return ratio(
            self.handled_talk_ms + self.handled_hold_ms + self.handled_acw_ms, self.handled
        )

    @property
    def not_ready_total_ms(self) -> int:
        return sum(self.not_ready_ms.values())

    @property
    def occupancy(self) -> Fraction | None:
        """(talk + hold + ACW) / (talk + hold + ACW + ready-idle)."""
        busy = self.talk_ms + self.hold_ms + self.acw_ms
        return ratio(busy, busy + self.ready_idle_ms)


@dataclass(frozen=True, slots=True)
class CallLoss:
    """Call loss over the contacts that reached the tenant's numbers (``contact.arrived``) in
    the period. Lost = not answered by an agent and not completed in the IVR; there is no
    short-abandon exclusion. ``blocked`` includes queue time-outs (no capacity)."""

    arrived: int = 0
    answered: int = 0
    completed_in_ivr: int = 0
    blocked: int = 0
    lost_in_ivr: int = 0
    abandoned_in_queue: int = 0
    agent_no_answer: int = 0
    callback_not_reached: int = 0

    @property
    def lost(self) -> int:
        return (
            self.blocked
            + self.lost_in_ivr
            + self.abandoned_in_queue
            + self.agent_no_answer
            + self.callback_not_reached
        )

    @property
    def rate(self) -> Fraction | None:
        """Call loss rate: lost / arrived."""
        return ratio(self.lost, self.arrived)


@dataclass(frozen=True, slots=True)
class TenantFigures:
    """The tenant over one period: ``contacts`` counts each contact once (interval of its
    first queue entry, the final outcome of its first wait through overflows, queue time from
    first entry; handle times of all its handled parts); ``loss`` is call loss."""

    contacts: QueueFigures
    loss: CallLoss


@dataclass(frozen=True, slots=True)
class Report:
    """All figures of one tenant as of ``as_of_ms``.

    For an interval report, ``queue_intervals``, ``agent_intervals`` and ``tenant_intervals``
    are keyed by interval start (ms since the epoch) and ``window`` is None. For a rolling
    report, ``window`` is ``(start, end)`` (contacts that entered the queue in ``(start, end]``,
    agent time inside it), the interval mappings are empty and the totals hold the figures.
    A queue, agent or interval appears only if one of its figures is not zero.
    """

    tenant: str | None
    config: MetricsConfig
    as_of_ms: int | None
    window: tuple[int, int] | None
    queue_intervals: Mapping[tuple[str, int], QueueFigures]
    queue_totals: Mapping[str, QueueFigures]
    agent_intervals: Mapping[tuple[str, int], AgentFigures]
    agent_totals: Mapping[str, AgentFigures]
    tenant_intervals: Mapping[int, TenantFigures]
    tenant_total: TenantFigures
