"""What ``glasshouse serve`` runs: the voice configuration (numbers, accounts, trunks), and per
tenant its queues, agents, IVR flows and media settings, read from one YAML file.

```yaml
voice: voice.yaml            # docs/voice-config.md; paths are relative to this file
data_dir: /var/lib/glasshouse  # event log, recordings, prompt cache (default ./var/serve)
tenants:
  - id: demo
    time_zone: Europe/Paris
    reason_codes: [break, lunch, training]
    queues: [{id: sales, strategy: longest_idle, wrap_up_s: 10}]
    agents: [{id: agent1, skills: {sales: 3}}]
    flows: [ivr-main.yaml]
    media: {record: true, announce_every_s: 30, moh: true}
    agent_phones: {ready_on_register: true}
    callbacks: {customer_ring_s: 30, not_reached_prompt: "The customer did not answer."}
```

Everything is checked together, so a number that names a missing flow, a flow that sends callers
to a missing queue, or an account whose agent does not exist is refused at start with the path of
the field (``tenants[0].flows[0] (ivr-main.yaml): node "sales", queue "sals" is not a queue of
tenant "demo"``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from glasshouse.domain.acd import AgentSpec, ConfigError, QueueSpec
from glasshouse.domain.ivr.flow import Flow, FlowError, QueueNode, load_flow_text
from glasshouse.domain.sim.scenario import ScenarioError, parse_queue, parse_skills
from glasshouse.domain.voice.config import VoiceConfig, VoiceConfigError, load_voice_config

__all__ = [
    "CallbackSettings",
    "MediaSettings",
    "PhoneSettings",
    "ServerSetup",
    "SetupError",
    "TenantSetup",
    "load_server_setup",
]

_DEFAULT_REASONS = ("break", "lunch", "training", "meeting", "other")


class SetupError(ValueError):
    """The server setup cannot run; the message names the file and field."""


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """``record``: record answered calls (both parties); ``announce_every_s``: position and
    expected wait announced to queued callers this often (0: never); ``moh``: music on hold
    between announcements (silence otherwise); ``voice``: the text-to-speech voice."""

    record: bool = True
    announce_every_s: int = 30
    moh: bool = True
    voice: str = "en"


@dataclass(frozen=True, slots=True)
class PhoneSettings:
    """``ready_on_register``: an agent whose phone registers is logged in and made ready, and
    logged out when the registration ends (until an agent desktop does this explicitly);
    ``colleague_ring_s``: how long a colleague's phone rings for an agent's call before the
    caller gets 480."""

    ready_on_register: bool = True
    colleague_ring_s: int = 30


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    """``customer_ring_s``: how long the customer's phone may ring before a callback attempt
    counts as not answered; ``not_reached_prompt``: what the agent hears when it fails."""

    customer_ring_s: float = 30.0
    not_reached_prompt: str = "The customer did not answer."


@dataclass(frozen=True, slots=True)
class TenantSetup:
    tenant_id: str
    time_zone: str
    reason_codes: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentSpec, ...]
    flows: Mapping[str, Flow]
    media: MediaSettings = MediaSettings()
    phones: PhoneSettings = PhoneSettings()
    callbacks: CallbackSettings = CallbackSettings()


@dataclass(frozen=True, slots=True)
class ServerSetup:
    voice: VoiceConfig
    tenants: Mapping[str, TenantSetup]
    data_dir: Path
    source: Path | None = None
    notes: tuple[str, ...] = field(default=())


def _fail(where: str, message: str) -> SetupError:
    return SetupError(f"{where}: {message}")


def _map(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected a mapping, got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got {type(value).__name__}")
    return value


def _unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(str(k) for k in set(data) - allowed)
    if extra:
        raise _fail(
            where, f"unknown field(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})"
        )


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {value!r}")
    return value


def _int(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, f"expected a whole number {low}-{high}, got {value!r}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"expected a non-empty string, got {value!r}")
    return value


def _read_yaml(path: Path, where: str) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(where, f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _fail(where, f"{path} is not valid YAML: {exc}") from None


def load_server_setup(path: str | Path, *, data_dir: str | Path | None = None) -> ServerSetup:
    """Read and check the setup at ``path`` (``data_dir`` overrides the file's)."""
    source = Path(path)
    base = source.parent
    data = _map(_read_yaml(source, str(source)), str(source))
    _unknown(data, {"voice", "data_dir", "tenants"}, str(source))
    voice_path = base / _text(data.get("voice"), f"{source}: voice")
    try:
        voice = load_voice_config(voice_path)
    except VoiceConfigError as exc:
        raise SetupError(f"{voice_path}: {exc}") from None
    if data_dir is None:
        # A data_dir in the file is relative to it; without one, to where the server runs (the
        # demo's file lives inside the installed package).
        data_dir = base / str(data["data_dir"]) if "data_dir" in data else Path("var/serve")
    tenants: dict[str, TenantSetup] = {}
    for i, raw in enumerate(_list(data.get("tenants", []), f"{source}: tenants")):
        where = f"{source}: tenants[{i}]"
        tenant = _tenant(raw, where, base)
        if tenant.tenant_id in tenants:
            raise _fail(f"{where}.id", f"tenant {tenant.tenant_id!r} is set up twice")
        tenants[tenant.tenant_id] = tenant
    _check_together(voice, tenants, str(source))
    return ServerSetup(voice, tenants, Path(data_dir), source)


def _tenant(raw: object, where: str, base: Path) -> TenantSetup:
    data = _map(raw, where)
    _unknown(
        data,
        {
            "id",
            "time_zone",
            "reason_codes",
            "queues",
            "agents",
            "flows",
            "media",
            "agent_phones",
            "callbacks",
        },
        where,
    )
    tenant_id = _text(data.get("id"), f"{where}.id")
    zone = str(data.get("time_zone", "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"{where}.time_zone", f"unknown time zone {zone!r}") from None
    reasons = tuple(
        _text(r, f"{where}.reason_codes[{k}]")
        for k, r in enumerate(_list(data.get("reason_codes", list(_DEFAULT_REASONS)), where))
    )
    queues: list[QueueSpec] = []
    for k, q in enumerate(_list(data.get("queues", []), f"{where}.queues")):
        try:
            queues.append(parse_queue(q, f"{where}.queues[{k}]"))
        except ScenarioError as exc:
            raise SetupError(str(exc)) from None
    ids = [q.queue_id for q in queues]
    if len(set(ids)) != len(ids):
        raise _fail(f"{where}.queues", "queue ids must be unique")
    agents: list[AgentSpec] = []
    for k, a in enumerate(_list(data.get("agents", []), f"{where}.agents")):
        at = f"{where}.agents[{k}]"
        item = _map(a, at)
        _unknown(item, {"id", "skills", "capacity"}, at)
        try:
            skills = parse_skills(item.get("skills", {}), f"{at}.skills")
            capacity = item.get("capacity", {"voice": 1})
            agents.append(AgentSpec(_text(item.get("id"), f"{at}.id"), skills, dict(capacity)))
        except (ScenarioError, ConfigError, TypeError, ValueError) as exc:
            raise SetupError(exc if isinstance(exc, ScenarioError) else f"{at}: {exc}") from None
    agent_ids = [a.agent_id for a in agents]
    if len(set(agent_ids)) != len(agent_ids):
        raise _fail(f"{where}.agents", "agent ids must be unique")
    flows: dict[str, Flow] = {}
    for k, name in enumerate(_list(data.get("flows", []), f"{where}.flows")):
        at = f"{where}.flows[{k}] ({name})"
        flow_path = base / _text(name, at)
        try:
            text = flow_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(at, f"cannot read {flow_path}: {exc.strerror or exc}") from None
        try:
            flow = load_flow_text(text, fmt="json" if flow_path.suffix == ".json" else "yaml")
        except FlowError as exc:
            raise _fail(at, str(exc)) from None
        if flow.id in flows:
            raise _fail(at, f"flow id {flow.id!r} is used by two files")
        for node in flow.nodes.values():
            if isinstance(node, QueueNode) and node.queue.is_literal:
                queue = node.queue.render({})
                if queue not in ids:
                    raise _fail(
                        at,
                        f'node "{node.id}", queue "{queue}" is not a queue of tenant "{tenant_id}"',
                    )
        flows[flow.id] = flow
    media = _media(data.get("media", {}), f"{where}.media")
    phones_raw = _map(data.get("agent_phones", {}), f"{where}.agent_phones")
    _unknown(phones_raw, {"ready_on_register", "colleague_ring_s"}, f"{where}.agent_phones")
    phones = PhoneSettings(
        _bool(phones_raw.get("ready_on_register", True), f"{where}.agent_phones.ready_on_register"),
        _int(
            phones_raw.get("colleague_ring_s", PhoneSettings().colleague_ring_s),
            f"{where}.agent_phones.colleague_ring_s",
            1,
            300,
        ),
    )
    callbacks = _callbacks(data.get("callbacks", {}), f"{where}.callbacks")
    return TenantSetup(
        tenant_id, zone, reasons, tuple(queues), tuple(agents), flows, media, phones, callbacks
    )


def _callbacks(raw: object, where: str) -> CallbackSettings:
    data = _map(raw, where)
    _unknown(data, {"customer_ring_s", "not_reached_prompt"}, where)
    default = CallbackSettings()
    return CallbackSettings(
        customer_ring_s=_int(
            data.get("customer_ring_s", int(default.customer_ring_s)),
            f"{where}.customer_ring_s",
            5,
            300,
        ),
        not_reached_prompt=_text(
            data.get("not_reached_prompt", default.not_reached_prompt),
            f"{where}.not_reached_prompt",
        ),
    )


def _media(raw: object, where: str) -> MediaSettings:
    data = _map(raw, where)
    _unknown(data, {"record", "announce_every_s", "moh", "voice"}, where)
    default = MediaSettings()
    return MediaSettings(
        record=_bool(data.get("record", default.record), f"{where}.record"),
        announce_every_s=_int(
            data.get("announce_every_s", default.announce_every_s),
            f"{where}.announce_every_s",
            0,
            3600,
        ),
        moh=_bool(data.get("moh", default.moh), f"{where}.moh"),
        voice=_text(data.get("voice", default.voice), f"{where}.voice"),
    )


def _check_together(voice: VoiceConfig, tenants: Mapping[str, TenantSetup], where: str) -> None:
    for vt in voice.tenants:
        setup = tenants.get(vt.tenant_id)
        if setup is None:
            raise _fail(
                where, f'tenant "{vt.tenant_id}" has voice settings but no entry under tenants'
            )
        agent_ids = {a.agent_id for a in setup.agents}
        for route in vt.numbers:
            if route.flow_id not in setup.flows:
                raise _fail(
                    where,
                    f'tenant "{vt.tenant_id}": number {route.number} goes to flow '
                    f'"{route.flow_id}", which is not among its flows '
                    f"({', '.join(sorted(setup.flows)) or 'none'})",
                )
        for account in vt.accounts:
            if account.agent_id not in agent_ids:
                raise _fail(
                    where,
                    f'tenant "{vt.tenant_id}": account "{account.username}" belongs to agent '
                    f'"{account.agent_id}", who is not among its agents',
                )
