"""A SIP registrar (RFC 3261 section 10.3), sans-I/O: a REGISTER and the address it came from
go in with the time, the response to send and what happened come out.

Agents authenticate with Digest (SHA-256 and MD5 challenges are both offered, RFC 8760) against
the HA1 values of their account; the account's username is the address of record. An unknown
username is answered exactly like a wrong password, so the registrar never tells which
usernames exist. Bindings record the address the request actually came from, which is where
requests to an agent behind NAT must be sent.
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace

from glasshouse.domain.voice.config import STORED_ALGORITHMS, SipAccount, VoiceConfig
from glasshouse.protocols.sip.digest import (
    DigestAuthenticator,
    DigestCredentials,
    DigestOutcome,
    canonical_algorithm,
    digest_ha1,
)
from glasshouse.protocols.sip.headers import AuthHeader, NameAddr, SipWarning
from glasshouse.protocols.sip.message import (
    BadExtension,
    SipRequest,
    SipResponse,
    check_extensions,
    make_response,
)
from glasshouse.protocols.sip.uri import SipParseError, SipUri, parse_uri

#: The warn-agent of the Warning header on refusals.
WARN_AGENT = "glasshouse"


class RegisterResult(enum.Enum):
    """What a REGISTER did."""

    REGISTERED = "registered"  # at least one new binding
    REFRESHED = "refreshed"  # existing bindings renewed, none new
    UNREGISTERED = "unregistered"  # bindings removed, none added or renewed
    QUERIED = "queried"  # no Contact: the bindings were only listed
    CHALLENGED = "challenged"  # 401 asking for (fresh) credentials; not a failed attempt
    AUTH_FAILED = "auth_failed"  # credentials were given and are wrong (or replayed)
    FORBIDDEN = "forbidden"  # authenticated, but not allowed to change this record
    REJECTED = "rejected"  # the request is malformed or out of order (400, 416, 420, 423)


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an account. ``source`` is the address the REGISTER came from
    and where requests for this contact go; ``contact`` is what the phone wrote."""

    username: str
    tenant_id: str
    agent_id: str
    contact: NameAddr
    source: tuple[str, int]
    transport: str
    call_id: str
    cseq: int
    registered_at: float
    refreshed_at: float
    expires_at: float

    @property
    def contact_uri(self) -> SipUri:
        assert isinstance(self.contact.uri, SipUri)
        return self.contact.uri

    @property
    def behind_nat(self) -> bool:
        """True when the Contact names another address than the one the request came from."""
        uri = self.contact_uri
        port = uri.port if uri.port is not None else 5060
        return (uri.host, port) != self.source

    def expires_in(self, now: float) -> int:
        """Whole seconds left at ``now`` (rounded up, never negative)."""
        return max(0, math.ceil(self.expires_at - now))


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """The response to send and what happened. ``username`` is the one the credentials named
    (also when they were wrong or the account does not exist)."""

    response: SipResponse
    result: RegisterResult
    reason: str
    username: str | None = None
    tenant_id: str | None = None
    added: tuple[Binding, ...] = ()
    refreshed: tuple[Binding, ...] = ()
    removed: tuple[Binding, ...] = ()

    @property
    def auth_failed(self) -> bool:
        return self.result is RegisterResult.AUTH_FAILED


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """The authenticated ``account``, or the ``response`` that refuses the request;
    ``failed`` when credentials were given and wrong (count it against the source)."""

    account: SipAccount | None
    response: SipResponse | None
    failed: bool = False


class _Refusal(Exception):
    """Stops handling a REGISTER: answer with ``status``."""

    def __init__(
        self,
        status: int,
        reason: str,
        result: RegisterResult = RegisterResult.REJECTED,
        headers: Iterable[tuple[str, str]] = (),
        account: SipAccount | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.result = result
        self.headers = tuple(headers)
        self.account = account


@dataclass(frozen=True, slots=True)
class _Change:
    contact: SipUri
    stored: NameAddr
    expires: int


class Registrar:
    """Bindings of every account of a :class:`VoiceConfig`, changed by REGISTER requests.

    ``authenticator`` must use the server realm and only algorithms whose HA1 the accounts
    store (MD5, SHA-256 and their ``-sess`` forms). Time is in seconds.
    """

    def __init__(self, config: VoiceConfig, authenticator: DigestAuthenticator) -> None:
        if authenticator.realm != config.server.realm:
            raise ValueError(
                f"the authenticator realm {authenticator.realm!r} is not the server realm "
                f"{config.server.realm!r}"
            )
        for algorithm in authenticator.algorithms:
            if algorithm.removesuffix("-sess") not in STORED_ALGORITHMS:
                raise ValueError(
                    f"accounts store no HA1 for {algorithm}; offer only "
                    f"{', '.join(STORED_ALGORITHMS)} (or their -sess forms)"
                )
        self.config = config
        self.authenticator = authenticator
        self._bindings: dict[str, list[Binding]] = {}
        self._nonce_counts: dict[str, tuple[int, float]] = {}
        # Unknown usernames are checked against the HA1 of a password nobody knows, made in
        # advance, so that they cost the same work as a wrong password and come out the same.
        decoy = secrets.token_hex(16)
        self._decoy_ha1 = {
            a: digest_ha1(a, "", authenticator.realm, decoy) for a in STORED_ALGORITHMS
        }

    # -----------------------------------------------------------------------------------------
    # Queries

    def contacts(self, username: str, now: float) -> list[Binding]:
        """The bindings of ``username`` still valid at ``now``, oldest registration first."""
        return [b for b in self._bindings.get(username, ()) if b.expires_at > now]

    def advance(self, now: float) -> list[Binding]:
        """Drop the bindings expired by ``now`` (and nonce counts no longer needed); returns
        the dropped bindings."""
        expired: list[Binding] = []
        for username in list(self._bindings):
            kept: list[Binding] = []
            for binding in self._bindings[username]:
                (kept if binding.expires_at > now else expired).append(binding)
            if kept:
                self._bindings[username] = kept
            else:
                del self._bindings[username]
        lifetime = self.authenticator.lifetime
        for nonce, (_, first_seen) in list(self._nonce_counts.items()):
            # A nonce first seen longer than its lifetime ago is stale, and a stale nonce is
            # refused before its count is looked at.
            if now - first_seen > lifetime:
                del self._nonce_counts[nonce]
        return expired

    # -----------------------------------------------------------------------------------------
    # REGISTER

    def handle_register(
        self, request: SipRequest, source: tuple[str, int], now: float
    ) -> RegisterOutcome:
        """Handle one REGISTER that arrived from ``source`` (the packet's IP and port): check
        the credentials, then add, renew or remove bindings; never raises for bad input."""
        if request.method != "REGISTER":
            raise ValueError(f"the registrar handles REGISTER, not {request.method}")
        to_tag = self._to_tag(request)
        account: SipAccount | None = None
        username: str | None = None
        try:
            header = self._precheck(request)
            if header is None:
                raise self._challenge(source, now, "no credentials for this realm")
            credentials = DigestCredentials.parse(header)
            username = credentials.username
            account = self._authenticate(request, credentials, source, now)
            return self._update(request, source, now, account, to_tag)
        except _Refusal as refusal:
            headers = list(refusal.headers)
            if refusal.status not in (401, 423):
                headers.append(("Warning", str(SipWarning(399, WARN_AGENT, refusal.reason))))
            account = refusal.account or account
            return RegisterOutcome(
                response=make_response(request, refusal.status, to_tag=to_tag, headers=headers),
                result=refusal.result,
                reason=refusal.reason,
                username=username,
                tenant_id=account.tenant_id if account is not None else None,
            )
        except SipParseError as exc:
            warning = str(SipWarning(399, WARN_AGENT, exc.reason))
            return RegisterOutcome(
                response=make_response(request, 400, to_tag=to_tag, headers=[("Warning", warning)]),
                result=RegisterResult.REJECTED,
                reason=exc.reason,
                username=username,
                tenant_id=account.tenant_id if account is not None else None,
            )

    def authenticate(self, request: SipRequest, source: tuple[str, int], now: float) -> AuthOutcome:
        """Digest authentication of any request from an account (an agent's INVITE to an
        outside number): the account, or the response to send (401 with challenges, 400 for a
        malformed header). Unknown users and wrong passwords get the same response."""
        to_tag = self._to_tag(request)
        try:
            header = self._precheck(request)
            if header is None:
                raise self._challenge(source, now, "no credentials for this realm")
            credentials = DigestCredentials.parse(header)
            return AuthOutcome(self._authenticate(request, credentials, source, now), None)
        except _Refusal as refusal:
            headers = list(refusal.headers)
            if refusal.status != 401:
                headers.append(("Warning", str(SipWarning(399, WARN_AGENT, refusal.reason))))
            response = make_response(request, refusal.status, to_tag=to_tag, headers=headers)
            return AuthOutcome(None, response, refusal.result is RegisterResult.AUTH_FAILED)
        except SipParseError as exc:
            warning = str(SipWarning(399, WARN_AGENT, exc.reason))
            response = make_response(request, 400, to_tag=to_tag, headers=[("Warning", warning)])
            return AuthOutcome(None, response, False)

    @staticmethod
    def _to_tag(request: SipRequest) -> str | None:
        # Derived from the request, so that a retransmission gets the same tag, and so does
        # a request that differs only in its credentials.
        try:
            seed = f"{request.call_id}\x00{request.from_.tag or ''}\x00{request.cseq.number}"
            _ = request.to  # make_response reads it to add the tag
        except SipParseError:
            return None
        return hashlib.sha256(seed.encode("utf-8", "surrogateescape")).hexdigest()[:16]

    @staticmethod
    def _context(source: tuple[str, int]) -> bytes:
        # Nonces are bound to the client's IP, not to its port, which a NAT may change.
        return source[0].encode("utf-8", "surrogateescape")

    def _challenge(
        self, source: tuple[str, int], now: float, reason: str, *, stale: bool = False
    ) -> _Refusal:
        challenges = self.authenticator.challenges(now, stale=stale, context=self._context(source))
        return _Refusal(
            401,
            reason,
            RegisterResult.CHALLENGED,
            [("WWW-Authenticate", str(c)) for c in challenges],
        )

    def _precheck(self, request: SipRequest) -> AuthHeader | None:
        """Checks made before authentication; returns the Authorization for our realm."""
        if not isinstance(request.uri, SipUri):
            raise _Refusal(416, f"the Request-URI {request.uri} is not a sip or sips URI")
        try:
            check_extensions(request, ())
        except BadExtension as exc:
            extra = exc.response_hint.extra_headers if exc.response_hint else ()
            raise _Refusal(420, exc.reason, headers=extra) from None
        realm = self.authenticator.realm
        for header in request.authorization:
            if header.scheme.lower() == "digest" and header.get("realm") == realm:
                return header
        return None

    def _authenticate(
        self,
        request: SipRequest,
        credentials: DigestCredentials,
        source: tuple[str, int],
        now: float,
    ) -> SipAccount:
        try:
            digest_uri: object = parse_uri(credentials.uri)
        except SipParseError:
            digest_uri = None
        if not isinstance(digest_uri, SipUri) or not request.uri.equivalent(digest_uri):
            raise _Refusal(
                400, f"the digest uri {credentials.uri!r} is not the Request-URI {request.uri}"
            )
        username = credentials.username
        account = self.config.account(username)
        algorithm = canonical_algorithm(credentials.algorithm) or "MD5"
        ha1 = account.ha1_for(algorithm) if account is not None else None
        if ha1 is None:
            ha1 = self._decoy_ha1.get(algorithm.removesuffix("-sess"), self._decoy_ha1["MD5"])
        try:
            outcome = self.authenticator.verify(
                credentials,
                method=request.method,
                now=now,
                ha1=ha1,
                context=self._context(source),
                nonce_count_check=lambda nonce, nc: self._count(nonce, nc, now),
            )
        except ValueError as exc:
            raise _Refusal(400, f"bad credentials: {exc}") from None
        if outcome is DigestOutcome.ACCEPTED and account is not None:
            return account
        if outcome is DigestOutcome.STALE_NONCE and account is not None:
            stale = self._challenge(source, now, "the nonce has expired", stale=True)
            stale.account = account
            raise stale
        if outcome in (
            DigestOutcome.WRONG_RESPONSE,
            DigestOutcome.REPLAYED,
            DigestOutcome.ACCEPTED,
            DigestOutcome.STALE_NONCE,
        ):
            refusal = self._challenge(source, now, f"wrong credentials for {username!r}")
            refusal.result = RegisterResult.AUTH_FAILED
            refusal.account = account
            raise refusal
        raise self._challenge(source, now, outcome.value)

    def _count(self, nonce: str, nc: int, now: float) -> bool:
        last, first_seen = self._nonce_counts.get(nonce, (0, now))
        if nc <= last:
            return False
        self._nonce_counts[nonce] = (nc, first_seen)
        return True

    def _changes(self, request: SipRequest) -> list[_Change]:
        settings = self.config.registrar
        default = request.expires
        changes: list[_Change] = []
        for contact in request.contact:
            uri = contact.uri
            if not isinstance(uri, SipUri):
                raise _Refusal(400, f"Contact {uri} is not a sip or sips URI")
            expires = contact.expires
            if expires is None:
                expires = default if default is not None else settings.default_expires
            if 0 < expires < settings.min_expires:
                raise _Refusal(
                    423,
                    f"expires {expires} is below the minimum {settings.min_expires}",
                    headers=[("Min-Expires", str(settings.min_expires))],
                )
            stored = replace(contact, params=contact.params.remove("expires"))
            # A contact listed twice counts once, with its last expiry.
            changes = [c for c in changes if not c.contact.equivalent(uri)]
            changes.append(_Change(uri, stored, min(expires, settings.max_expires)))
        if len(changes) > settings.max_contacts:
            raise _Refusal(
                403, f"{len(changes)} contacts; an account may bind at most {settings.max_contacts}"
            )
        return changes

    def _update(
        self,
        request: SipRequest,
        source: tuple[str, int],
        now: float,
        account: SipAccount,
        to_tag: str | None,
    ) -> RegisterOutcome:
        to = request.to.uri
        if not isinstance(to, SipUri) or to.user != account.username:
            raise _Refusal(
                403,
                f"To {to} is not the authenticated user {account.username!r}",
                RegisterResult.FORBIDDEN,
                account=account,
            )
        call_id, cseq = request.call_id, request.cseq.number
        current = self.contacts(account.username, now)
        expired = [b for b in self._bindings.get(account.username, ()) if b.expires_at <= now]
        added: list[Binding] = []
        refreshed: list[Binding] = []
        removed: list[Binding] = []
        if request.contact_wildcard:
            if request.contact:
                raise _Refusal(400, "Contact * must be the only Contact")
            if request.expires != 0:
                raise _Refusal(400, "Contact * needs Expires: 0")
            for binding in current:
                self._check_order(binding, call_id, cseq)
            removed, current = current, []
            deleting = True
        else:
            changes = self._changes(request)
            deleting = any(c.expires == 0 for c in changes)
            matches = [self._match(current, c.contact) for c in changes]
            for index in matches:
                if index is not None:
                    self._check_order(current[index], call_id, cseq)
            transport = request.top_via.transport.lower()
            touched: set[int] = set()
            for change, index in zip(changes, matches, strict=True):
                old = current[index] if index is not None else None
                if change.expires == 0:
                    if old is not None:
                        removed.append(old)
                    continue
                binding = Binding(
                    username=account.username,
                    tenant_id=account.tenant_id,
                    agent_id=account.agent_id,
                    contact=change.stored,
                    source=source,
                    transport=transport,
                    call_id=call_id,
                    cseq=cseq,
                    registered_at=old.registered_at if old is not None else now,
                    refreshed_at=now,
                    expires_at=now + change.expires,
                )
                (refreshed if old is not None else added).append(binding)
                touched.add(id(binding))
            kept = [b for b in current if not any(b is r for r in removed)]
            for binding in refreshed:
                old_index = self._match(kept, binding.contact_uri)
                assert old_index is not None
                kept[old_index] = binding
            kept.extend(added)
            # Over the limit, the contacts this request did not mention and that were
            # refreshed longest ago make room: a phone that rebooted behind a NAT comes back
            # with a new address, and must not be locked out until its old binding expires.
            limit = self.config.registrar.max_contacts
            while len(kept) > limit:
                victim = min(
                    (b for b in kept if id(b) not in touched), key=lambda b: b.refreshed_at
                )
                kept.remove(victim)
                removed.append(victim)
            current = kept
        if current or expired:
            self._bindings[account.username] = expired + current
        else:
            self._bindings.pop(account.username, None)
        if added:
            result = RegisterResult.REGISTERED
        elif refreshed:
            result = RegisterResult.REFRESHED
        elif removed or deleting:
            result = RegisterResult.UNREGISTERED
        else:
            result = RegisterResult.QUERIED
        headers = [
            (
                "Contact",
                str(
                    replace(
                        b.contact, params=b.contact.params.set("expires", str(b.expires_in(now)))
                    )
                ),
            )
            for b in current
        ]
        return RegisterOutcome(
            response=make_response(request, 200, to_tag=to_tag, headers=headers),
            result=result,
            reason=f"{len(current)} binding(s) for {account.username!r}",
            username=account.username,
            tenant_id=account.tenant_id,
            added=tuple(added),
            refreshed=tuple(refreshed),
            removed=tuple(removed),
        )

    @staticmethod
    def _match(bindings: list[Binding], uri: SipUri) -> int | None:
        for index, binding in enumerate(bindings):
            if binding.contact_uri.equivalent(uri):
                return index
        return None

    @staticmethod
    def _check_order(binding: Binding, call_id: str, cseq: int) -> None:
        # RFC 3261 10.3 step 7: within one Call-ID, only a higher CSeq may change a binding.
        if binding.call_id == call_id and cseq <= binding.cseq:
            raise _Refusal(
                400,
                f"out of order: CSeq {cseq} is not above {binding.cseq} for Call-ID {call_id}",
            )
