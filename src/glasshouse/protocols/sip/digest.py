"""HTTP Digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 8760).

Server side, :class:`DigestAuthenticator` issues stateless nonces (the issue time signed with
an HMAC, so any process holding the secret can check a nonce, and an expired one is answered
with ``stale=true``), builds the WWW-Authenticate / Proxy-Authenticate challenges and verifies
credentials with a constant-time comparison. A caller-supplied hook rejects replayed nonce
counts. Client side, :func:`authorize` answers a challenge (outbound registration).
Algorithms: MD5, SHA-256 and SHA-512-256, each also as ``-sess``; qop ``auth`` and
``auth-int``. Time is always a parameter.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from glasshouse.protocols.sip.headers import AuthHeader
from glasshouse.protocols.sip.uri import SipParseError, check_text, is_token, show

ALGORITHMS: Final = (
    "MD5",
    "MD5-sess",
    "SHA-256",
    "SHA-256-sess",
    "SHA-512-256",
    "SHA-512-256-sess",
)
_CANONICAL_ALGORITHMS: Final = {name.lower(): name for name in ALGORITHMS}
_HASHES: Final = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}
_STRENGTH: Final = {"MD5": 1, "SHA-256": 2, "SHA-512-256": 3}
_MAX_NC: Final = 0xFFFFFFFF

NonceCountCheck = Callable[[str, int], bool]
"""``check(nonce, nc)`` returns False if that nonce count was seen before (a replay)."""


def canonical_algorithm(name: str) -> str | None:
    """The registered spelling of a digest algorithm name, or None if unsupported."""
    return _CANONICAL_ALGORITHMS.get(name.lower())


def _hex_digest(algorithm: str, data: bytes) -> str:
    base = algorithm.removesuffix("-sess")
    name = _HASHES[base]
    if name == "md5":
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    return hashlib.new(name, data).hexdigest()


def _h(algorithm: str, text: str) -> str:
    return _hex_digest(algorithm, text.encode("utf-8", "surrogateescape"))


def _supported(algorithm: str) -> str:
    canonical = canonical_algorithm(algorithm)
    if canonical is None:
        raise ValueError(f"unsupported digest algorithm {show(algorithm)}")
    return canonical


def digest_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """``H(username:realm:password)``: what a registrar may store instead of the password.
    For a ``-sess`` algorithm this is the hash before the nonces are mixed in."""
    return _h(_supported(algorithm), f"{username}:{realm}:{password}")


def digest_response(
    *,
    algorithm: str,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    cnonce: str | None = None,
    nc: int | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 3.4.1): ``ha1`` from :func:`digest_ha1`; with a qop,
    ``cnonce`` and ``nc`` are required; ``body`` counts only for ``auth-int``."""
    algorithm = _supported(algorithm)
    if algorithm.endswith("-sess"):
        if cnonce is None:
            raise ValueError(f"{algorithm} needs a cnonce")
        ha1 = _h(algorithm, f"{ha1}:{nonce}:{cnonce}")
    if qop == "auth-int":
        ha2 = _h(algorithm, f"{method}:{uri}:{_hex_digest(algorithm, body)}")
    elif qop in (None, "auth"):
        ha2 = _h(algorithm, f"{method}:{uri}")
    else:
        raise ValueError(f"unsupported qop {show(qop)}")
    if qop is None:
        return _h(algorithm, f"{ha1}:{nonce}:{ha2}")
    if cnonce is None or nc is None:
        raise ValueError("qop needs cnonce and nc")
    return _h(algorithm, f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


# ---------------------------------------------------------------------------------------------
# Header values


def _digest_params(value: str | AuthHeader, what: str) -> dict[str, str]:
    header = value if isinstance(value, AuthHeader) else AuthHeader.parse(value, what=what)
    if header.scheme.lower() != "digest":
        raise SipParseError(f"bad {what}: scheme {show(header.scheme)} is not Digest")
    params: dict[str, str] = {}
    for name, param, _ in header.params:
        key = name.lower()
        if key in params:
            raise SipParseError(f"bad {what}: {name} given twice")
        params[key] = param
    return params


def _need(params: dict[str, str], name: str, what: str) -> str:
    value = params.get(name)
    if value is None:
        raise SipParseError(f"bad {what}: no {name}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestChallenge:
    """A Digest challenge (WWW-Authenticate or Proxy-Authenticate value).

    ``qop`` lists the offered protection; empty means the RFC 2069 form without qop.
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ("auth",)
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    def __post_init__(self) -> None:
        for name in ("realm", "nonce", "opaque", "domain"):
            value = getattr(self, name)
            if value is not None:
                check_text(value, name)
        if not is_token(self.algorithm):
            raise ValueError(f"algorithm {show(self.algorithm)} is not a token")
        for option in self.qop:
            if not is_token(option):
                raise ValueError(f"qop {show(option)} is not a token")

    @classmethod
    def parse(cls, value: str | AuthHeader) -> DigestChallenge:
        what = "Digest challenge"
        params = _digest_params(value, what)
        algorithm = params.get("algorithm", "MD5")
        qop = tuple(q.strip(" \t") for q in params["qop"].split(",")) if "qop" in params else ()
        if any(not is_token(q) for q in qop):
            raise SipParseError(f"bad {what}: bad qop {show(params['qop'])}")
        stale = params.get("stale", "false").lower()
        if stale not in ("true", "false"):
            raise SipParseError(f"bad {what}: stale={show(stale)}")
        realm, nonce = _need(params, "realm", what), _need(params, "nonce", what)
        try:
            return cls(
                realm=realm,
                nonce=nonce,
                algorithm=canonical_algorithm(algorithm) or algorithm,
                qop=qop,
                opaque=params.get("opaque"),
                stale=stale == "true",
                domain=params.get("domain"),
            )
        except ValueError as exc:
            raise SipParseError(f"bad {what}: {exc}") from None

    def header(self) -> AuthHeader:
        params: list[tuple[str, str, bool]] = [
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
            ("algorithm", self.algorithm, False),
        ]
        if self.qop:
            params.append(("qop", ",".join(self.qop), True))
        if self.opaque is not None:
            params.append(("opaque", self.opaque, True))
        if self.domain is not None:
            params.append(("domain", self.domain, True))
        if self.stale:
            params.append(("stale", "true", False))
        return AuthHeader(scheme="Digest", params=tuple(params))

    def __str__(self) -> str:
        return str(self.header())


_CREDENTIAL_FIELDS: Final = ("username", "realm", "nonce", "uri", "response")


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestCredentials:
    """Digest credentials (Authorization or Proxy-Authorization value)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    cnonce: str | None = None
    opaque: str | None = None
    qop: str | None = None
    nc: int | None = None

    def __post_init__(self) -> None:
        for name in ("username", "realm", "nonce", "uri", "response", "cnonce", "opaque"):
            value = getattr(self, name)
            if value is not None:
                check_text(value, name)
        for name in ("algorithm", "qop"):
            value = getattr(self, name)
            if value is not None and not is_token(value):
                raise ValueError(f"{name} {show(value)} is not a token")
        if self.nc is not None and not 0 <= self.nc <= _MAX_NC:
            raise ValueError(f"nc {self.nc} out of range")
        if self.qop is not None and (self.cnonce is None or self.nc is None):
            raise ValueError("credentials with qop need cnonce and nc")

    @classmethod
    def parse(cls, value: str | AuthHeader) -> DigestCredentials:
        what = "Digest credentials"
        params = _digest_params(value, what)
        nc: int | None = None
        if "nc" in params:
            raw = params["nc"]
            if not 1 <= len(raw) <= 8 or not all(c in "0123456789abcdefABCDEF" for c in raw):
                raise SipParseError(f"bad {what}: nc={show(raw)} is not 8 hex digits")
            nc = int(raw, 16)
        algorithm = params.get("algorithm", "MD5")
        required = [_need(params, name, what) for name in _CREDENTIAL_FIELDS]
        username, realm, nonce, uri, response = required
        try:
            return cls(
                username=username,
                realm=realm,
                nonce=nonce,
                uri=uri,
                response=response,
                algorithm=canonical_algorithm(algorithm) or algorithm,
                cnonce=params.get("cnonce"),
                opaque=params.get("opaque"),
                qop=params.get("qop"),
                nc=nc,
            )
        except ValueError as exc:
            raise SipParseError(f"bad {what}: {exc}") from None

    def header(self) -> AuthHeader:
        params: list[tuple[str, str, bool]] = [
            ("username", self.username, True),
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
            ("uri", self.uri, True),
            ("response", self.response, True),
            ("algorithm", self.algorithm, False),
        ]
        if self.cnonce is not None:
            params.append(("cnonce", self.cnonce, True))
        if self.opaque is not None:
            params.append(("opaque", self.opaque, True))
        if self.qop is not None:
            params.append(("qop", self.qop, False))
        if self.nc is not None:
            params.append(("nc", f"{self.nc:08x}", False))
        return AuthHeader(scheme="Digest", params=tuple(params))

    def __str__(self) -> str:
        return str(self.header())


# ---------------------------------------------------------------------------------------------
# Server side


class NonceState(enum.Enum):
    VALID = "valid"
    STALE = "stale"
    INVALID = "invalid"


class DigestOutcome(enum.Enum):
    """The result of :meth:`DigestAuthenticator.verify`."""

    ACCEPTED = "accepted"
    STALE_NONCE = "the response is right but the nonce has expired: challenge with stale=true"
    INVALID_NONCE = "the nonce or opaque was not issued by this server"
    WRONG_RESPONSE = "the response does not match (wrong password)"
    WRONG_REALM = "the realm is not this server's"
    WRONG_URI = "the digest uri is not the Request-URI"
    UNSUPPORTED = "the algorithm or qop was not offered"
    REPLAYED = "the nonce count was used before"


_NONCE: Final = struct.Struct(">Q8s")
_MAC_BYTES: Final = 16


class DigestAuthenticator:
    """Challenges and verifies Digest credentials for one realm, keeping no per-nonce state.

    A nonce is ``base64url(issue time, 8 random bytes, HMAC-SHA256(secret, ...)[:16])``; it
    is valid for ``lifetime`` seconds. ``context`` binds a nonce to something of the
    caller's choosing (say the client's address): the same bytes must be given to check it.
    """

    def __init__(
        self,
        secret: bytes,
        realm: str,
        *,
        lifetime: float = 300.0,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        qop: Sequence[str] = ("auth",),
        opaque: str | None = None,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if lifetime <= 0:
            raise ValueError("the nonce lifetime must be positive")
        check_text(realm, "realm")
        if not algorithms:
            raise ValueError("offer at least one algorithm")
        self._secret = secret
        self.realm = realm
        self.lifetime = lifetime
        self.algorithms = tuple(_supported(a) for a in algorithms)
        for option in qop:
            if option not in ("auth", "auth-int"):
                raise ValueError(f"unsupported qop {show(option)}")
        self.qop = tuple(qop)
        self.opaque = opaque

    def _mac(self, payload: bytes, context: bytes) -> bytes:
        message = payload + b"\x00" + self.realm.encode("utf-8", "surrogateescape")
        message += b"\x00" + context
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def make_nonce(self, now: float, *, salt: bytes | None = None, context: bytes = b"") -> str:
        """A fresh nonce issued at ``now`` (seconds); ``salt`` (8 bytes) defaults to random."""
        if not 0 <= now < 2**63:
            raise ValueError(f"time {now} out of range")
        salt = secrets.token_bytes(8) if salt is None else salt
        if len(salt) != 8:
            raise ValueError("the nonce salt must be 8 bytes")
        payload = _NONCE.pack(int(now), salt)
        raw = payload + self._mac(payload, context)
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def nonce_state(self, nonce: str, now: float, *, context: bytes = b"") -> NonceState:
        """Whether ``nonce`` was issued by this authenticator and is still fresh at ``now``."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except ValueError:
            return NonceState.INVALID
        if len(raw) != _NONCE.size + _MAC_BYTES:
            return NonceState.INVALID
        # The decoder skips stray characters: accept only the canonical spelling.
        if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != nonce:
            return NonceState.INVALID
        payload, mac = raw[: _NONCE.size], raw[_NONCE.size :]
        if not hmac.compare_digest(mac, self._mac(payload, context)):
            return NonceState.INVALID
        issued, _ = _NONCE.unpack(payload)
        return NonceState.STALE if now - issued > self.lifetime else NonceState.VALID

    def challenges(
        self,
        now: float,
        *,
        stale: bool = False,
        context: bytes = b"",
        salt: bytes | None = None,
    ) -> list[DigestChallenge]:
        """One challenge per offered algorithm, strongest first, sharing one new nonce: the
        values of the WWW-Authenticate (or Proxy-Authenticate) headers of a 401 (407)."""
        nonce = self.make_nonce(now, salt=salt, context=context)
        return [
            DigestChallenge(
                realm=self.realm,
                nonce=nonce,
                algorithm=algorithm,
                qop=self.qop,
                opaque=self.opaque,
                stale=stale,
            )
            for algorithm in self.algorithms
        ]

    def verify(
        self,
        credentials: DigestCredentials,
        *,
        method: str,
        now: float,
        password: str | None = None,
        ha1: str | None = None,
        request_uri: str | None = None,
        context: bytes = b"",
        nonce_count_check: NonceCountCheck | None = None,
        body: bytes = b"",
    ) -> DigestOutcome:
        """Check credentials for a request with ``method``. Give the user's ``password`` or
        the stored ``ha1`` for the credentials' algorithm (:func:`digest_ha1`). With
        ``request_uri`` the digest uri must equal it. ``nonce_count_check(nonce, nc)`` is
        asked only once the response is right."""
        algorithm = canonical_algorithm(credentials.algorithm)
        if algorithm is None or algorithm not in self.algorithms:
            return DigestOutcome.UNSUPPORTED
        if credentials.realm != self.realm:
            return DigestOutcome.WRONG_REALM
        if self.qop and credentials.qop not in self.qop:
            return DigestOutcome.UNSUPPORTED
        if self.opaque is not None and credentials.opaque != self.opaque:
            return DigestOutcome.INVALID_NONCE
        state = self.nonce_state(credentials.nonce, now, context=context)
        if state is NonceState.INVALID:
            return DigestOutcome.INVALID_NONCE
        if request_uri is not None and credentials.uri != request_uri:
            return DigestOutcome.WRONG_URI
        if ha1 is None:
            if password is None:
                raise ValueError("verify needs the password or the stored ha1")
            ha1 = digest_ha1(algorithm, credentials.username, credentials.realm, password)
        if algorithm.endswith("-sess") and credentials.cnonce is None:
            return DigestOutcome.WRONG_RESPONSE
        expected = digest_response(
            algorithm=algorithm,
            ha1=ha1,
            nonce=credentials.nonce,
            method=method,
            uri=credentials.uri,
            qop=credentials.qop,
            cnonce=credentials.cnonce,
            nc=credentials.nc,
            body=body,
        )
        given = credentials.response.lower().encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            return DigestOutcome.WRONG_RESPONSE
        if state is NonceState.STALE:
            return DigestOutcome.STALE_NONCE
        if (
            credentials.nc is not None
            and nonce_count_check is not None
            and not nonce_count_check(credentials.nonce, credentials.nc)
        ):
            return DigestOutcome.REPLAYED
        return DigestOutcome.ACCEPTED


# ---------------------------------------------------------------------------------------------
# Client side


def choose_challenge(challenges: Iterable[DigestChallenge]) -> DigestChallenge | None:
    """The challenge with the strongest supported algorithm, or None."""
    best: DigestChallenge | None = None
    best_strength = 0
    for challenge in challenges:
        algorithm = canonical_algorithm(challenge.algorithm)
        if algorithm is None:
            continue
        strength = _STRENGTH[algorithm.removesuffix("-sess")]
        if strength > best_strength:
            best, best_strength = challenge, strength
    return best


def authorize(
    challenge: DigestChallenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> DigestCredentials:
    """Credentials answering ``challenge`` for a request (``str()`` is the Authorization or
    Proxy-Authorization value). Prefers qop ``auth``; ``cnonce`` defaults to random."""
    algorithm = _supported(challenge.algorithm)
    qop: str | None = None
    if challenge.qop:
        if "auth" in challenge.qop:
            qop = "auth"
        elif "auth-int" in challenge.qop:
            qop = "auth-int"
        else:
            raise ValueError(f"no supported qop in {challenge.qop}")
    if qop is not None or algorithm.endswith("-sess"):
        cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
    else:
        cnonce = None
    ha1 = digest_ha1(algorithm, username, challenge.realm, password)
    response = digest_response(
        algorithm=algorithm,
        ha1=ha1,
        nonce=challenge.nonce,
        method=method,
        uri=uri,
        qop=qop,
        cnonce=cnonce,
        nc=nc if qop is not None else None,
        body=body,
    )
    return DigestCredentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response=response,
        algorithm=algorithm,
        cnonce=cnonce,
        opaque=challenge.opaque,
        qop=qop,
        nc=nc if qop is not None else None,
    )
