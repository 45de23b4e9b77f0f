"""Simulation scenarios: what arrives, who answers, and for how long.

A scenario is plain data (usually YAML, see ``docs/simulation.md``) checked here, with errors
that name the field, e.g. ``arrivals[0].handle_time.mean_s: must be > 0``. Times inside a
scenario are offsets from its start; durations accept ``90``, ``"90s"``, ``"15m"``, ``"8h"``.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from glasshouse.domain.acd.config import AcdSettings, AgentSpec, QueueSpec
from glasshouse.domain.acd.errors import ConfigError

DISTRIBUTIONS: Final = ("fixed", "exponential", "lognormal", "uniform", "erlang")
END_OF_SHIFT: Final = "end_of_shift"


class ScenarioError(ValueError):
    """The scenario is invalid; the message names the field and the reason."""


_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|min|m|h|d)?)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|min|m|h|d)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration_s(value: object, where: str) -> float:
    """Seconds from ``90``, ``"90s"``, ``"15m"``, ``"8h"``, ``"4h30m"``, ``"1d"`` (>= 0)."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where}: expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.match(value.replace(" ", "")):
        parts = _PART.findall(value.replace(" ", ""))
        if len(parts) > 1 and any(not unit for _, unit in parts):
            raise ScenarioError(f"{where}: every part of {value!r} needs a unit, like '4h30m'")
        seconds = sum(float(num) * _UNIT_S[unit or None] for num, unit in parts)
    else:
        raise ScenarioError(
            f"{where}: expected a duration like 90, '90s', '15m', '8h' or '4h30m', got {value!r}"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise ScenarioError(f"{where}: a duration must be >= 0, got {value!r}")
    return seconds


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution of durations in seconds."""

    kind: str = "exponential"
    mean_s: float = 180.0
    sd_s: float = 0.0  # lognormal
    min_s: float = 0.0  # uniform
    max_s: float = 0.0  # uniform
    k: int = 2  # erlang shape

    def sample(self, rng: random.Random) -> float:
        kind = self.kind
        if kind == "fixed":
            return self.mean_s
        if kind == "exponential":
            return rng.expovariate(1.0 / self.mean_s)
        if kind == "lognormal":
            var = math.log(1.0 + (self.sd_s / self.mean_s) ** 2)
            mu = math.log(self.mean_s) - var / 2
            return rng.lognormvariate(mu, math.sqrt(var))
        if kind == "uniform":
            return rng.uniform(self.min_s, self.max_s)
        # erlang: sum of k exponentials with the same overall mean
        return sum(rng.expovariate(self.k / self.mean_s) for _ in range(self.k))


@dataclass(frozen=True, slots=True)
class ArrivalStream:
    """Contacts arriving at one queue."""

    queue_id: str
    #: calls per interval, one number per interval (Poisson within each); or a constant rate
    per_interval: tuple[float, ...] = ()
    rate_per_hour: float = 0.0
    #: explicit arrival offsets in seconds (instead of a Poisson process)
    times_s: tuple[float, ...] = ()
    channel: str = "voice"
    handle_time: Distribution = field(default_factory=Distribution)
    patience: Distribution | None = None
    priorities: tuple[tuple[int, float], ...] = ((0, 1.0),)  # (priority, weight)
    skills: Mapping[str, int] = field(default_factory=dict)
    #: share of callers who ask for a callback once they have waited ``callback_after_s``
    callback_share: float = 0.0
    callback_after_s: float = 60.0
    #: share of dialled callbacks the customer answers; seconds until they do
    callback_answer_share: float = 1.0
    callback_dial_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Break:
    at_s: float
    duration_s: float
    reason: str = "break"


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """``count`` agents alike: ids ``{prefix}{n}``, one shift, the same breaks."""

    count: int
    prefix: str
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=lambda: {"voice": 1})
    shift_start_s: float = 0.0
    shift_end_s: float | None = None  # None = the end of the scenario
    breaks: tuple[Break, ...] = ()
    answer_delay: Distribution = field(default_factory=lambda: Distribution("fixed", 0.0))
    no_answer_share: float = 0.0
    #: after a ring-no-answer (which makes the agent not ready), back to ready after this long
    rna_recovery_s: float = 30.0

    def agent_ids(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(1, self.count + 1)]


@dataclass(frozen=True, slots=True)
class Scenario:
    tenant: str
    start_ms: int
    duration_s: float
    interval_s: int
    seed: int
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentGroup, ...]
    arrivals: tuple[ArrivalStream, ...]
    reason_codes: frozenset[str] = frozenset({"break", "lunch", "training", "meeting", "other"})
    #: after the last arrival, how long to let the floor finish its work
    drain_s: float = 7200.0

    def acd_settings(self) -> AcdSettings:
        return AcdSettings(reason_codes=self.reason_codes | {END_OF_SHIFT})


# ---------------------------------------------------------------------------------------------
# parsing


def _map(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ScenarioError(
            f"{where}: unknown field(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _number(
    value: object, where: str, *, low: float | None = None, high: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    if low is not None and value < low:
        raise ScenarioError(f"{where}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ScenarioError(f"{where}: must be <= {high}, got {value!r}")
    return float(value)


def _int(value: object, where: str, *, low: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected a whole number, got {value!r}")
    if low is not None and value < low:
        raise ScenarioError(f"{where}: must be >= {low}, got {value!r}")
    return value


def parse_skills(value: object, where: str) -> dict[str, int]:
    """``{skill: proficiency 1-5}`` checked, with errors naming ``where``."""
    data = _map(value, where)
    out: dict[str, int] = {}
    for name, level in data.items():
        lv = _int(level, f"{where}.{name}", low=1)
        if lv > 5:
            raise ScenarioError(f"{where}.{name}: proficiency must be 1-5, got {lv}")
        out[str(name)] = lv
    return out


def parse_distribution(value: object, where: str) -> Distribution:
    """``{dist: exponential, mean_s: 180}``; a bare number means a fixed duration."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return Distribution("fixed", parse_duration_s(value, where))
    data = _map(value, where)
    _unknown(data, {"dist", "mean_s", "sd_s", "min_s", "max_s", "k"}, where)
    kind = data.get("dist", "exponential")
    if kind not in DISTRIBUTIONS:
        raise ScenarioError(
            f"{where}.dist: unknown distribution {kind!r} (one of {', '.join(DISTRIBUTIONS)})"
        )
    if kind == "uniform":
        lo = _number(data.get("min_s", 0), f"{where}.min_s", low=0)
        hi = _number(data.get("max_s"), f"{where}.max_s", low=lo)
        return Distribution("uniform", (lo + hi) / 2, min_s=lo, max_s=hi)
    mean = _number(data.get("mean_s"), f"{where}.mean_s", low=0)
    if kind != "fixed" and mean <= 0:
        raise ScenarioError(f"{where}.mean_s: must be > 0 for a {kind} distribution")
    sd = _number(data.get("sd_s", 0), f"{where}.sd_s", low=0)
    if kind == "lognormal" and sd <= 0:
        raise ScenarioError(f"{where}.sd_s: a lognormal distribution needs sd_s > 0")
    k = _int(data.get("k", 2), f"{where}.k", low=1)
    return Distribution(kind, mean, sd_s=sd, k=k)


_QUEUE_FIELDS = {
    "strategy",
    "skills",
    "members",
    "sl_threshold_s",
    "short_abandon_s",
    "wrap_up_s",
    "ring_timeout_s",
    "max_wait_s",
    "overflow_queue_id",
    "overflow_after_s",
    "overflow_when_no_agents",
    "widen_after_s",
    "callback_max_attempts",
    "callback_retry_s",
    "default_aht_s",
}


def parse_queue(data: object, where: str) -> QueueSpec:
    """One queue of a scenario or a tenant setup, with errors naming ``where``."""
    q = _map(data, where)
    _unknown(q, _QUEUE_FIELDS | {"id"}, where)
    if not isinstance(q.get("id"), str) or not q.get("id"):
        raise ScenarioError(f"{where}.id: a queue needs a non-empty id")
    kwargs: dict[str, Any] = {k: v for k, v in q.items() if k != "id"}
    if "skills" in kwargs:
        kwargs["skills"] = parse_skills(kwargs["skills"], f"{where}.skills")
    if "members" in kwargs:
        kwargs["members"] = frozenset(str(m) for m in _list(kwargs["members"], f"{where}.members"))
    if "widen_after_s" in kwargs:
        kwargs["widen_after_s"] = tuple(
            int(parse_duration_s(v, f"{where}.widen_after_s"))
            for v in _list(kwargs["widen_after_s"], f"{where}.widen_after_s")
        )
    for key in (
        "sl_threshold_s",
        "short_abandon_s",
        "wrap_up_s",
        "ring_timeout_s",
        "max_wait_s",
        "overflow_after_s",
        "callback_retry_s",
        "default_aht_s",
    ):
        if kwargs.get(key) is not None:
            kwargs[key] = int(parse_duration_s(kwargs[key], f"{where}.{key}"))
    try:
        return QueueSpec(q["id"], **kwargs)
    except ConfigError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _arrivals(data: object, where: str, queue_ids: set[str]) -> ArrivalStream:
    a = _map(data, where)
    _unknown(
        a,
        {
            "queue",
            "per_interval",
            "rate_per_hour",
            "times_s",
            "channel",
            "handle_time",
            "patience",
            "priorities",
            "skills",
            "callback_share",
            "callback_after_s",
            "callback_answer_share",
            "callback_dial_s",
        },
        where,
    )
    queue = a.get("queue")
    if queue not in queue_ids:
        raise ScenarioError(
            f"{where}.queue: unknown queue {queue!r} (queues: {', '.join(sorted(queue_ids))})"
        )
    per_interval = tuple(
        _number(v, f"{where}.per_interval[{i}]", low=0)
        for i, v in enumerate(_list(a.get("per_interval", []), f"{where}.per_interval"))
    )
    rate = _number(a.get("rate_per_hour", 0), f"{where}.rate_per_hour", low=0)
    times = tuple(
        parse_duration_s(v, f"{where}.times_s[{i}]")
        for i, v in enumerate(_list(a.get("times_s", []), f"{where}.times_s"))
    )
    if sum(1 for x in (per_interval, rate, times) if x) != 1:
        raise ScenarioError(f"{where}: give exactly one of per_interval, rate_per_hour or times_s")
    prios = a.get("priorities", {0: 1.0})
    pmap = _map(prios, f"{where}.priorities")
    priorities = tuple(
        (
            _int(
                int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k,
                f"{where}.priorities",
            ),
            _number(w, f"{where}.priorities.{k}", low=0),
        )
        for k, w in pmap.items()
    )
    if not priorities or sum(w for _, w in priorities) <= 0:
        raise ScenarioError(f"{where}.priorities: the weights must add up to more than 0")
    patience = a.get("patience")
    return ArrivalStream(
        queue_id=str(queue),
        per_interval=per_interval,
        rate_per_hour=rate,
        times_s=tuple(sorted(times)),
        channel=str(a.get("channel", "voice")),
        handle_time=parse_distribution(
            a.get("handle_time", {"dist": "exponential", "mean_s": 180}), f"{where}.handle_time"
        ),
        patience=None if patience is None else parse_distribution(patience, f"{where}.patience"),
        priorities=priorities,
        skills=parse_skills(a.get("skills", {}), f"{where}.skills"),
        callback_share=_number(
            a.get("callback_share", 0), f"{where}.callback_share", low=0, high=1
        ),
        callback_after_s=parse_duration_s(
            a.get("callback_after_s", 60), f"{where}.callback_after_s"
        ),
        callback_answer_share=_number(
            a.get("callback_answer_share", 1), f"{where}.callback_answer_share", low=0, high=1
        ),
        callback_dial_s=parse_duration_s(a.get("callback_dial_s", 15), f"{where}.callback_dial_s"),
    )


def _agents(data: object, where: str, duration_s: float, reasons: frozenset[str]) -> AgentGroup:
    g = _map(data, where)
    _unknown(
        g,
        {
            "count",
            "prefix",
            "skills",
            "capacity",
            "shift",
            "breaks",
            "answer_delay_s",
            "no_answer_share",
            "rna_recovery_s",
        },
        where,
    )
    count = _int(g.get("count", 1), f"{where}.count", low=1)
    prefix = g.get("prefix")
    if not isinstance(prefix, str) or not prefix:
        raise ScenarioError(f"{where}.prefix: agent groups need a non-empty id prefix")
    shift = _map(g.get("shift", {}), f"{where}.shift")
    _unknown(shift, {"start", "end"}, f"{where}.shift")
    start = parse_duration_s(shift.get("start", 0), f"{where}.shift.start")
    end = parse_duration_s(shift["end"], f"{where}.shift.end") if "end" in shift else None
    if end is not None and end <= start:
        raise ScenarioError(f"{where}.shift.end: must be after the shift start")
    breaks: list[Break] = []
    for i, b in enumerate(_list(g.get("breaks", []), f"{where}.breaks")):
        bw = f"{where}.breaks[{i}]"
        bm = _map(b, bw)
        _unknown(bm, {"at", "duration", "reason"}, bw)
        reason = str(bm.get("reason", "break"))
        if reason not in reasons:
            raise ScenarioError(
                f"{bw}.reason: unknown reason code {reason!r} "
                f"(reason_codes: {', '.join(sorted(reasons))})"
            )
        breaks.append(
            Break(
                parse_duration_s(bm.get("at"), f"{bw}.at"),
                parse_duration_s(bm.get("duration"), f"{bw}.duration"),
                reason,
            )
        )
    capacity = {
        str(k): _int(v, f"{where}.capacity.{k}", low=0)
        for k, v in _map(g.get("capacity", {"voice": 1}), f"{where}.capacity").items()
    }
    group = AgentGroup(
        count=count,
        prefix=prefix,
        skills=parse_skills(g.get("skills", {}), f"{where}.skills"),
        capacity=capacity,
        shift_start_s=start,
        shift_end_s=end,
        breaks=tuple(sorted(breaks, key=lambda b: b.at_s)),
        answer_delay=parse_distribution(g.get("answer_delay_s", 0), f"{where}.answer_delay_s"),
        no_answer_share=_number(
            g.get("no_answer_share", 0), f"{where}.no_answer_share", low=0, high=1
        ),
        rna_recovery_s=parse_duration_s(g.get("rna_recovery_s", 30), f"{where}.rna_recovery_s"),
    )
    try:
        AgentSpec(f"{prefix}1", group.skills, group.capacity)
    except ConfigError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    return group


def _start_ms(value: object) -> int:
    if value is None:
        return 1_767_600_000_000  # 2026-01-05 08:00 UTC, a Monday
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(
                f"start: expected an ISO 8601 time like 2026-01-05T08:00:00Z, got {value!r}"
            ) from None
        return _start_ms(dt)
    raise ScenarioError(f"start: expected an ISO 8601 time, got {value!r}")


def parse_scenario(data: object) -> Scenario:
    """Build a :class:`Scenario` from plain data (as loaded from YAML), or raise ScenarioError."""
    s = _map(data, "scenario")
    _unknown(
        s,
        {
            "tenant",
            "start",
            "duration",
            "interval",
            "seed",
            "queues",
            "agents",
            "arrivals",
            "reason_codes",
            "drain",
        },
        "scenario",
    )
    tenant = s.get("tenant", "sim")
    if not isinstance(tenant, str) or not tenant:
        raise ScenarioError("tenant: must be a non-empty string")
    duration = parse_duration_s(s.get("duration", "1h"), "duration")
    if duration <= 0:
        raise ScenarioError("duration: must be > 0")
    interval = int(parse_duration_s(s.get("interval", "30m"), "interval"))
    if interval not in (900, 1800, 3600):
        raise ScenarioError(f"interval: must be 15m, 30m or 60m, got {s.get('interval')!r}")
    reasons = frozenset(
        str(r)
        for r in _list(
            s.get("reason_codes", ["break", "lunch", "training", "meeting", "other"]),
            "reason_codes",
        )
    )
    queues = tuple(
        parse_queue(q, f"queues[{i}]") for i, q in enumerate(_list(s.get("queues", []), "queues"))
    )
    if not queues:
        raise ScenarioError("queues: at least one queue is needed")
    ids = [q.queue_id for q in queues]
    dupes = sorted({q for q in ids if ids.count(q) > 1})
    if dupes:
        raise ScenarioError(f"queues: duplicate id(s) {', '.join(dupes)}")
    for i, q in enumerate(queues):
        if q.overflow_queue_id is not None and q.overflow_queue_id not in ids[:i]:
            raise ScenarioError(
                f"queues[{i}].overflow_queue_id: {q.overflow_queue_id!r} must be a queue "
                f"listed before {q.queue_id!r}"
            )
    agents = tuple(
        _agents(g, f"agents[{i}]", duration, reasons)
        for i, g in enumerate(_list(s.get("agents", []), "agents"))
    )
    prefixes = [g.prefix for g in agents]
    if len(set(prefixes)) != len(prefixes):
        raise ScenarioError("agents: each group needs its own prefix")
    arrivals = tuple(
        _arrivals(a, f"arrivals[{i}]", set(ids))
        for i, a in enumerate(_list(s.get("arrivals", []), "arrivals"))
    )
    return Scenario(
        tenant=tenant,
        start_ms=_start_ms(s.get("start")),
        duration_s=duration,
        interval_s=interval,
        seed=_int(s.get("seed", 1), "seed"),
        queues=queues,
        agents=agents,
        arrivals=arrivals,
        reason_codes=reasons,
        drain_s=parse_duration_s(s.get("drain", "2h"), "drain"),
    )
