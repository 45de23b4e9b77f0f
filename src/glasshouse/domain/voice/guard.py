"""The toll-fraud guard, sans-I/O: which sources may talk to the server at all, and which calls
may go out or come in. Time is always a parameter (seconds).

Sources are blocked for repeated authentication failures (a sliding window) or at once for a
scanner's User-Agent; a blocked source's requests are dropped without any response, so a
scanner learns nothing, and are counted. Outbound calls need an authenticated agent account or
a configured trunk of the tenant, a number the tenant's policy allows and is not blocked, and
room under the concurrency and per-minute limits; :meth:`TollFraudGuard.call_ended` frees the
room again.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from glasshouse.domain.voice.config import (
    GuardSettings,
    InvalidNumber,
    SipAccount,
    Trunk,
    VoiceConfig,
    normalise_number,
)

#: The window of the per-account calls-per-minute limit.
RATE_WINDOW_S: Final = 60.0

Principal = SipAccount | Trunk | None
"""Who places an outbound call: an authenticated agent account, a configured trunk, or None
when the request was not authenticated."""

_UA_WORDS: Final = re.compile(r"[\s/();,]+")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether to handle a request from a source. When not ``allowed`` the request is dropped
    without a response; ``blocked_until`` says until when the source stays blocked."""

    allowed: bool
    reason: str = ""
    blocked_until: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a call may proceed. When refused, ``status`` is the SIP status to answer with
    (403, 404, 484, 486, 503) and ``retry_after`` the seconds to put in Retry-After, if any.
    An allowed outbound call holds ``call_ref`` until :meth:`TollFraudGuard.call_ended`."""

    allowed: bool
    reason: str
    status: int | None = None
    tenant_id: str | None = None
    number: str | None = None
    flow_id: str | None = None
    call_ref: int | None = None
    retry_after: int | None = None


def _refuse(
    status: int,
    reason: str,
    tenant_id: str | None = None,
    *,
    number: str | None = None,
    retry_after: int | None = None,
) -> Decision:
    return Decision(False, reason, status, tenant_id, number=number, retry_after=retry_after)


def source_key(source_ip: str) -> str:
    """The canonical spelling of an IP address (IPv4-mapped IPv6 as IPv4), so that one host
    is counted once; text that is not an IP address is kept as it is."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return source_ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def scanner_word(user_agent: str, words: frozenset[str]) -> str | None:
    """The first word of ``user_agent`` (split at spaces, ``/``, parentheses, ``;`` and ``,``)
    that names a known scanner, compared case-insensitively; None if there is none."""
    for word in _UA_WORDS.split(user_agent):
        if word and word.lower() in words:
            return word
    return None


@dataclass(slots=True)
class _Source:
    failures: deque[float]
    blocked_until: float | None = None
    block_reason: str = ""
    dropped: int = 0


@dataclass(frozen=True, slots=True)
class _Call:
    tenant_id: str
    principal: tuple[str, str]  # ("account", username) or ("trunk", name)


class TollFraudGuard:
    """Source blocking and call admission for every tenant of ``config``."""

    def __init__(self, settings: GuardSettings, config: VoiceConfig) -> None:
        self.settings = settings
        self.config = config
        self._sources: dict[str, _Source] = {}
        self._calls: dict[int, _Call] = {}
        self._active_tenant: dict[str, int] = {}
        self._active_principal: dict[tuple[str, str], int] = {}
        self._placed: dict[tuple[str, str], deque[float]] = {}
        self._refs: Iterator[int] = itertools.count(1)

    # -----------------------------------------------------------------------------------------
    # Sources

    def _source(self, key: str) -> _Source:
        state = self._sources.get(key)
        if state is None:
            state = self._sources[key] = _Source(deque())
        return state

    def _block(self, key: str, until: float, reason: str) -> Verdict:
        state = self._source(key)
        state.blocked_until = until
        state.block_reason = reason
        state.failures.clear()
        return Verdict(False, reason, until)

    def is_blocked(self, source_ip: str, now: float) -> bool:
        """Whether requests from ``source_ip`` are being dropped at ``now``."""
        state = self._sources.get(source_key(source_ip))
        return state is not None and state.blocked_until is not None and now < state.blocked_until

    def dropped(self, source_ip: str) -> int:
        """How many requests from ``source_ip`` were dropped since it was last blocked."""
        state = self._sources.get(source_key(source_ip))
        return 0 if state is None else state.dropped

    def check_request(self, source_ip: str, user_agent: str | None, now: float) -> Verdict:
        """Whether to handle a request from ``source_ip`` at ``now``. A blocked source, or one
        whose User-Agent names a scanner (which blocks it), gets a refusal: drop the request."""
        key = source_key(source_ip)
        state = self._sources.get(key)
        if state is not None and state.blocked_until is not None:
            if now < state.blocked_until:
                state.dropped += 1
                return Verdict(False, state.block_reason, state.blocked_until)
            state.blocked_until = None
        if user_agent is not None:
            word = scanner_word(user_agent, self.settings.scanner_user_agents)
            if word is not None:
                verdict = self._block(
                    key,
                    now + self.settings.scanner_block_s,
                    f"scanner User-Agent {user_agent!r} ({word})",
                )
                self._sources[key].dropped = 1
                return verdict
        return Verdict(True)

    def record_auth_failure(self, source_ip: str, now: float) -> Verdict:
        """Count a failed authentication from ``source_ip``. The one that makes
        ``max_auth_failures`` within ``failure_window_s`` (a failure counts while
        ``now - t < failure_window_s``) blocks the source for ``block_s``."""
        settings = self.settings
        key = source_key(source_ip)
        state = self._source(key)
        if state.blocked_until is not None and now < state.blocked_until:
            return Verdict(False, state.block_reason, state.blocked_until)
        failures = state.failures
        while failures and now - failures[0] >= settings.failure_window_s:
            failures.popleft()
        failures.append(now)
        if len(failures) >= settings.max_auth_failures:
            state.dropped = 0
            return self._block(
                key,
                now + settings.block_s,
                f"{len(failures)} authentication failures within {settings.failure_window_s:g} s",
            )
        return Verdict(True)

    def unblock(self, source_ip: str) -> bool:
        """Lift a block and forget the failures of ``source_ip`` (an operator's decision);
        returns whether there was anything to forget."""
        return self._sources.pop(source_key(source_ip), None) is not None

    def advance(self, now: float) -> list[str]:
        """Forget failures older than the window and blocks that have ended; returns the
        sources whose block ended."""
        window = self.settings.failure_window_s
        ended: list[str] = []
        for key in list(self._sources):
            state = self._sources[key]
            if state.blocked_until is not None and now >= state.blocked_until:
                state.blocked_until = None
                ended.append(key)
            while state.failures and now - state.failures[0] >= window:
                state.failures.popleft()
            if state.blocked_until is None and not state.failures:
                del self._sources[key]
        for principal in list(self._placed):
            placed = self._placed[principal]
            while placed and now - placed[0] >= RATE_WINDOW_S:
                placed.popleft()
            if not placed:
                del self._placed[principal]
        return ended

    # -----------------------------------------------------------------------------------------
    # Calls

    def inbound_decision(self, source_ip: str, number: str) -> Decision:
        """Whether a call from ``source_ip`` to ``number`` may come in: the source must be a
        configured trunk (else 403) and the number one of that trunk's tenant (else 404)."""
        trunk = self.config.trunk_for_source(source_key(source_ip))
        if trunk is None:
            return _refuse(403, f"{source_ip} is not the address of a configured trunk")
        route = self.config.route_number(number)
        if route is None or route.tenant_id != trunk.tenant_id:
            return _refuse(404, f"number {number!r} is not served here", trunk.tenant_id)
        return Decision(
            True,
            f"number {route.number} of tenant {route.tenant_id!r}",
            tenant_id=route.tenant_id,
            number=route.number,
            flow_id=route.flow_id,
        )

    def outbound_decision(
        self, tenant_id: str, principal: Principal, number: str, now: float
    ) -> Decision:
        """Whether ``principal`` may call ``number`` out for tenant ``tenant_id`` at ``now``;
        if so the call counts against the limits until :meth:`call_ended`."""
        tenant = self.config.tenant(tenant_id)
        if tenant is None:
            return _refuse(403, f"unknown tenant {tenant_id!r}")
        if principal is None:
            return _refuse(
                403,
                "only authenticated agents and configured trunks may place outbound calls",
                tenant_id,
            )
        if isinstance(principal, SipAccount):
            if tenant.account(principal.username) != principal:
                return _refuse(
                    403, f"account {principal.username!r} is not one of this tenant", tenant_id
                )
            key = ("account", principal.username)
        else:
            if tenant.trunk(principal.name) != principal:
                return _refuse(
                    403, f"trunk {principal.name!r} is not one of this tenant", tenant_id
                )
            key = ("trunk", principal.name)
        policy = tenant.outbound
        try:
            dialled = normalise_number(number, international_prefix=policy.international_prefix)
        except InvalidNumber as exc:
            return _refuse(484, str(exc), tenant_id)
        for pattern in policy.blocked:
            if pattern.matches(dialled):
                return _refuse(
                    403, f"{dialled} is blocked ({pattern.text})", tenant_id, number=dialled
                )
        if not any(pattern.matches(dialled) for pattern in policy.allowed):
            return _refuse(
                403,
                f"{dialled} matches none of the allowed patterns of tenant {tenant_id!r}",
                tenant_id,
                number=dialled,
            )
        active = self._active_tenant.get(tenant_id, 0)
        if active >= policy.max_concurrent:
            return _refuse(
                503,
                f"tenant {tenant_id!r} has {active} outbound calls, the most it may have",
                tenant_id,
                number=dialled,
            )
        if key[0] == "account":
            own = self._active_principal.get(key, 0)
            if own >= policy.max_concurrent_per_account:
                return _refuse(
                    486,
                    f"account {key[1]!r} has {own} outbound calls, the most it may have",
                    tenant_id,
                    number=dialled,
                )
            placed = self._placed.setdefault(key, deque())
            while placed and now - placed[0] >= RATE_WINDOW_S:
                placed.popleft()
            if len(placed) >= policy.calls_per_minute:
                wait = RATE_WINDOW_S - (now - placed[0]) if placed else RATE_WINDOW_S
                return _refuse(
                    503,
                    f"account {key[1]!r} placed {len(placed)} calls in the last minute, "
                    "the most it may",
                    tenant_id,
                    number=dialled,
                    retry_after=max(1, math.ceil(wait)),
                )
            placed.append(now)
        ref = next(self._refs)
        self._calls[ref] = _Call(tenant_id, key)
        self._active_tenant[tenant_id] = active + 1
        self._active_principal[key] = self._active_principal.get(key, 0) + 1
        return Decision(
            True,
            f"{dialled} allowed for {key[0]} {key[1]!r}",
            tenant_id=tenant_id,
            number=dialled,
            call_ref=ref,
        )

    def call_ended(self, call_ref: int) -> bool:
        """Release the room an allowed outbound call held; False if ``call_ref`` is unknown or
        was released already."""
        call = self._calls.pop(call_ref, None)
        if call is None:
            return False
        self._active_tenant[call.tenant_id] -= 1
        if not self._active_tenant[call.tenant_id]:
            del self._active_tenant[call.tenant_id]
        self._active_principal[call.principal] -= 1
        if not self._active_principal[call.principal]:
            del self._active_principal[call.principal]
        return True

    def active_calls(self, tenant_id: str) -> int:
        """Outbound calls of a tenant now counted against its limit."""
        return self._active_tenant.get(tenant_id, 0)
