"""Staffing one interval by Erlang C or Erlang A: the use case behind ``glasshouse wfm staffing``
and ``/api/v1/wfm/staffing``.

Both front ends build a :class:`StaffingRequest`, call :func:`staffing` and print
:meth:`StaffingResult.to_json` (or a table of the same figures), so the CLI and the API can never
disagree. The request is checked field by field when it is built; a bad field raises
:class:`StaffingError` naming it by its request name, which each front end renders in its own
words (``--aht`` on the command line, ``aht_s`` in the API).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from glasshouse.domain.wfm.erlang import (
    ErlangError,
    erlang_a,
    erlang_c,
    erlang_c_asa,
    erlang_c_service_level,
    occupancy,
    offered_load,
    scheduled_agents,
    staff_erlang_a,
    staff_erlang_c,
)

__all__ = [
    "FRACTION_FIELDS",
    "NEIGHBOURS",
    "StaffingError",
    "StaffingFigures",
    "StaffingLimits",
    "StaffingRequest",
    "StaffingResult",
    "staffing",
]

# Staffing levels shown on each side of the chosen one.
NEIGHBOURS: Final = 2

# Fields written as fractions: a value above 1 is most likely a percentage.
FRACTION_FIELDS: Final = frozenset({"service_level", "max_occupancy", "shrinkage", "max_abandon"})

# The request field behind each parameter name the Erlang functions may reject.
_DOMAIN_FIELDS: Final = {
    "calls_per_interval": "calls",
    "arrival_rate_per_s": "calls",
    "aht_s": "aht_s",
    "interval_s": "interval_s",
    "load": "calls",
    "target_sl": "service_level",
    "threshold_s": "threshold_s",
    "patience_s": "patience_s",
    "max_occupancy": "max_occupancy",
    "shrinkage": "shrinkage",
    "asa_target": "asa_s",
    "max_abandon": "max_abandon",
    "short_abandon_s": "short_abandon_s",
}

# Fields that may be None (not set); every other one must be a number.
_OPTIONAL_FIELDS: Final = frozenset(
    {"patience_s", "max_occupancy", "asa_s", "max_abandon", "short_abandon_s"}
)
_AT_LEAST_0: Final = "must be a finite number >= 0"
_ABOVE_0: Final = "must be a finite number > 0"
_OPEN_UNIT: Final = "must be strictly between 0 and 1"


class StaffingError(ValueError):
    """A staffing request field is invalid; ``field`` is its request name.

    ``needs`` is set when the field is only allowed together with another one (then that
    field's name); otherwise ``requirement`` says what the value must be and ``value`` is it.
    """

    def __init__(
        self, field: str, requirement: str, value: object, *, needs: str | None = None
    ) -> None:
        self.field = field
        self.requirement = requirement
        self.value = value
        self.needs = needs
        super().__init__(f"{field}: {self.reason()}")

    def reason(self, name: Callable[[str], str] = str) -> str:
        """What is wrong, without the field's own name; ``name`` renders other fields' names."""
        if self.needs is not None:
            return f"needs {name(self.needs)} ({self.requirement})"
        value = self.value
        shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
        message = f"{self.requirement}, got {shown}"
        if self.field in FRACTION_FIELDS and isinstance(value, int | float) and value > 1:
            message += f" (write {value:g}% as {value / 100:g})"
        return message


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise StaffingError(name, "must be a number", value)
    return float(value)


def _check(name: str, value: object, ok: Callable[[float], bool], requirement: str) -> float:
    x = _number(name, value)
    if not ok(x):
        raise StaffingError(name, requirement, value)
    return x


def _at_least_0(x: float) -> bool:
    return 0.0 <= x < math.inf


def _above_0(x: float) -> bool:
    return 0.0 < x < math.inf


def _open_unit(x: float) -> bool:
    return 0.0 < x < 1.0


@dataclass(frozen=True, slots=True)
class StaffingRequest:
    """One interval to staff; times in seconds, shares as fractions (0.8, not 80).

    Erlang C without ``patience_s``, Erlang A (callers abandon) with it. Every field is checked
    on construction, numbers are stored as floats, and a bad one raises :class:`StaffingError`.
    """

    calls: float
    aht_s: float
    interval_s: float = 1800.0
    service_level: float = 0.8
    threshold_s: float = 20.0
    patience_s: float | None = None
    max_occupancy: float | None = None
    shrinkage: float = 0.0
    asa_s: float | None = None
    max_abandon: float | None = None
    short_abandon_s: float | None = None

    def __post_init__(self) -> None:
        if self.patience_s is None:
            for name in ("max_abandon", "short_abandon_s"):
                if getattr(self, name) is not None:
                    raise StaffingError(
                        name, "it applies to Erlang A only", getattr(self, name), needs="patience_s"
                    )
        # The order the Erlang functions check them in, so the first bad field reported is the
        # same whichever layer notices it.
        checks: tuple[tuple[str, Callable[[float], bool], str], ...] = (
            ("calls", _at_least_0, _AT_LEAST_0),
            ("aht_s", _above_0, _ABOVE_0),
            ("interval_s", _above_0, _ABOVE_0),
            ("patience_s", _above_0, _ABOVE_0),
            ("service_level", _open_unit, _OPEN_UNIT),
            ("threshold_s", _at_least_0, _AT_LEAST_0),
            ("max_occupancy", lambda x: 0.0 < x <= 1.0, "must be in (0, 1]"),
            ("asa_s", _above_0, _ABOVE_0),
            ("max_abandon", _open_unit, _OPEN_UNIT),
            ("short_abandon_s", _at_least_0, _AT_LEAST_0),
            ("shrinkage", lambda x: 0.0 <= x < 1.0, "must be in [0, 1)"),
        )
        for name, ok, requirement in checks:
            value = getattr(self, name)
            if value is not None or name not in _OPTIONAL_FIELDS:
                # Frozen: storing the float form is part of construction, not a later change.
                object.__setattr__(self, name, _check(name, value, ok, requirement))

    @property
    def model(self) -> str:
        """``"erlang_a"`` when callers abandon (``patience_s`` given), else ``"erlang_c"``."""
        return "erlang_c" if self.patience_s is None else "erlang_a"


@dataclass(frozen=True, slots=True)
class StaffingLimits:
    """Bounds on the work one request may ask for, for front ends that serve other people's
    requests (the HTTP API): the cost grows like the square root of these two figures, and the
    defaults, far beyond any real queue, keep one request well under a second."""

    max_offered_load_erlangs: float = 1_000_000.0
    # Erlang A: calls arriving within one mean patience (arrival rate x patience_s).
    max_calls_per_patience: float = 100_000_000.0

    def check(self, request: StaffingRequest) -> None:
        """Raise :class:`StaffingError` naming the field to lower if ``request`` is too large."""
        r = request
        if r.calls * r.aht_s / r.interval_s > self.max_offered_load_erlangs:
            raise StaffingError(
                "calls",
                "must give an offered load (calls x aht_s / interval_s) of at most "
                f"{self.max_offered_load_erlangs:,.0f} Erlangs",
                r.calls,
            )
        if r.patience_s is not None and (
            r.calls / r.interval_s * r.patience_s > self.max_calls_per_patience
        ):
            raise StaffingError(
                "patience_s",
                "must keep the calls arriving within one mean patience "
                f"(calls / interval_s x patience_s) at or below {self.max_calls_per_patience:,.0f}",
                r.patience_s,
            )


@dataclass(frozen=True, slots=True)
class StaffingFigures:
    """Predicted figures for one staffing level; NaN where undefined (no calls, no agents)."""

    agents: int
    service_level: float
    asa_s: float
    p_wait: float
    occupancy: float
    p_abandon: float | None  # Erlang A only

    def to_json(self) -> dict[str, Any]:
        """JSON-ready figures; an unbounded or undefined figure is ``None``."""
        out: dict[str, Any] = {
            "agents": self.agents,
            "service_level": _finite(self.service_level),
            "asa_s": _finite(self.asa_s),
            "p_wait": _finite(self.p_wait),
            "occupancy": _finite(self.occupancy),
        }
        if self.p_abandon is not None:
            out["p_abandon"] = _finite(self.p_abandon)
        return out


@dataclass(frozen=True, slots=True)
class StaffingResult:
    """The staffing of one request: agents needed, agents to schedule after shrinkage, and the
    figures at that level and at the levels around it (``neighbours`` includes it)."""

    request: StaffingRequest
    offered_load_erlangs: float
    agents: int
    scheduled_agents: int
    predicted: StaffingFigures
    neighbours: tuple[StaffingFigures, ...]

    @property
    def model(self) -> str:
        """``"erlang_c"`` or ``"erlang_a"``."""
        return self.request.model

    def to_json(self) -> dict[str, Any]:
        """The object ``glasshouse wfm staffing --format json`` prints and the API returns."""
        r = self.request
        predicted = self.predicted.to_json()
        del predicted["agents"]
        return {
            "model": self.model,
            "agents": self.agents,
            "scheduled_agents": self.scheduled_agents,
            "inputs": {
                "calls": r.calls,
                "aht_s": r.aht_s,
                "interval_s": r.interval_s,
                "patience_s": r.patience_s,
                "shrinkage": r.shrinkage,
                "offered_load_erlangs": self.offered_load_erlangs,
            },
            "targets": {
                "service_level": r.service_level,
                "threshold_s": r.threshold_s,
                "max_occupancy": r.max_occupancy,
                "asa_s": r.asa_s,
                "max_abandon": r.max_abandon,
                "short_abandon_s": r.short_abandon_s,
            },
            "predicted": predicted,
            "neighbours": [row.to_json() for row in self.neighbours],
        }


def staffing(request: StaffingRequest, limits: StaffingLimits | None = None) -> StaffingResult:
    """Fewest agents meeting every target of ``request``, with the predicted figures.

    Raises :class:`StaffingError` (naming the request field) if the request exceeds ``limits``
    or its targets cannot be met.
    """
    r = request
    if limits is not None:
        limits.check(r)
    try:
        load = offered_load(r.calls, r.aht_s, r.interval_s)
        if r.patience_s is None:
            agents = staff_erlang_c(
                load,
                r.aht_s,
                r.service_level,
                r.threshold_s,
                max_occupancy=r.max_occupancy,
                asa_target=r.asa_s,
            )
        else:
            agents = staff_erlang_a(
                r.calls / r.interval_s,
                r.aht_s,
                r.patience_s,
                r.service_level,
                r.threshold_s,
                max_occupancy=r.max_occupancy,
                asa_target=r.asa_s,
                max_abandon=r.max_abandon,
                short_abandon_s=r.short_abandon_s,
            )
        scheduled = scheduled_agents(agents, r.shrinkage)
        levels = range(max(0, agents - NEIGHBOURS), agents + NEIGHBOURS + 1)
        rows = tuple(_figures(r, load, n) for n in levels)
    except ErlangError as exc:
        field = _DOMAIN_FIELDS.get(exc.parameter, exc.parameter)
        raise StaffingError(field, exc.requirement, exc.value) from exc
    chosen = next(row for row in rows if row.agents == agents)
    return StaffingResult(r, load, agents, scheduled, chosen, rows)


def _figures(r: StaffingRequest, load: float, n: int) -> StaffingFigures:
    if n == 0 and load == 0.0:  # no calls and no agents: every figure is undefined
        nan = math.nan
        return StaffingFigures(0, nan, nan, nan, nan, None if r.patience_s is None else nan)
    if r.patience_s is None:
        return StaffingFigures(
            agents=n,
            service_level=erlang_c_service_level(n, load, r.aht_s, r.threshold_s),
            asa_s=erlang_c_asa(n, load, r.aht_s),
            p_wait=erlang_c(n, load),
            occupancy=occupancy(n, load),
            p_abandon=None,
        )
    result = erlang_a(n, r.calls / r.interval_s, r.aht_s, r.patience_s)
    if r.short_abandon_s is None:
        sl = result.service_level(r.threshold_s)
    else:
        sl = result.service_level_excluding_short(r.threshold_s, r.short_abandon_s)
    return StaffingFigures(
        agents=n,
        service_level=sl,
        asa_s=result.asa,
        p_wait=result.p_wait,
        occupancy=result.occupancy,
        p_abandon=result.p_abandon,
    )


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded figure (ASA with too few agents) is null."""
    return value if value is None or math.isfinite(value) else None
