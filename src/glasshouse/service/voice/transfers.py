"""Transfers and agents' own calls: what a REFER's target names, whom an agent's dial string
reaches, and how a transfer's progress is reported (RFC 3515 NOTIFY with a sipfrag body).

These are the switch's decisions without its sockets: the switch asks, then acts on the legs.

A name in a Refer-To user part or in a dial string is looked up in this order: an agent id of
the tenant, an agent's SIP username, a queue id of the tenant, then a telephone number (digits,
an optional leading ``+``, visual separators ignored). Agent ids, usernames and queue ids of a
tenant must therefore not collide, and none should look like a number."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from glasshouse.domain.acd import AcdError
from glasshouse.domain.acd.errors import InvalidTransition, UnknownAgent, UnknownQueue
from glasshouse.domain.voice.config import SipAccount
from glasshouse.protocols.sip.dialog import Dialog
from glasshouse.protocols.sip.headers import NameAddr, Replaces
from glasshouse.protocols.sip.message import reason_phrase
from glasshouse.protocols.sip.uri import SipParseError, SipUri, TelUri
from glasshouse.service.voice.setup import TenantSetup

__all__ = [
    "Directory",
    "TransferError",
    "TransferTarget",
    "is_number",
    "names_dialog",
    "refer_target",
    "refusal",
    "sipfrag",
]

_SEPARATORS: Final = str.maketrans("", "", " -.()")
_NUMBER: Final = re.compile(r"\+?[0-9]{2,32}")
#: The phases of an ACD contact in which its agent is on the phone (not in after-call work).
_ON_THE_PHONE: Final = frozenset({"offered", "dialing", "talking", "held"})


class TransferError(Exception):
    """A transfer or an agent's call cannot go ahead: ``status`` and ``reason`` are the SIP
    answer to give (a final response, or the status line of a NOTIFY's sipfrag)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TransferTarget:
    """Where a REFER sends the call: ``kind`` is ``agent``, ``queue`` or ``external`` (``name``
    is the agent id, queue id or number), or ``replaces`` for an attended transfer (``name`` is
    the Refer-To's user part, which phones fill in differently, and is not relied on)."""

    kind: str
    name: str
    replaces: Replaces | None = None

    @property
    def logged(self) -> str:
        """The target as ``contact.transferred`` names it: ``queue:<id>``, ``agent:<id>``..."""
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class Directory:
    """What a tenant's dial strings and transfer targets can name: its agents (by id and by SIP
    username) and its queues."""

    agents: frozenset[str]
    usernames: Mapping[str, str] = field(default_factory=dict)  # SIP username -> agent id
    queues: frozenset[str] = frozenset()

    @classmethod
    def of(cls, setup: TenantSetup, accounts: Iterable[SipAccount]) -> Directory:
        """The directory of ``setup``'s tenant; ``accounts`` of other tenants are ignored."""
        return cls(
            agents=frozenset(a.agent_id for a in setup.agents),
            usernames={a.username: a.agent_id for a in accounts if a.tenant_id == setup.tenant_id},
            queues=frozenset(q.queue_id for q in setup.queues),
        )

    def agent_for(self, name: str) -> str | None:
        """The agent id that ``name`` (an agent id or SIP username) designates, or None."""
        if name in self.agents:
            return name
        return self.usernames.get(name)

    def resolve(self, name: str) -> TransferTarget:
        """The agent, queue or number ``name`` designates; raises :class:`TransferError` 404
        when it is none of them."""
        agent = self.agent_for(name)
        if agent is not None:
            return TransferTarget("agent", agent)
        if name in self.queues:
            return TransferTarget("queue", name)
        if is_number(name):
            return TransferTarget("external", name.translate(_SEPARATORS))
        raise TransferError(404, f"No agent, queue or number {name[:40]!r}")


def is_number(text: str) -> bool:
    """A telephone number as dialled: digits, maybe a leading ``+``, separators ignored."""
    return _NUMBER.fullmatch(text.translate(_SEPARATORS)) is not None


def refer_target(refer_to: NameAddr | None, directory: Directory) -> TransferTarget:
    """The target of a REFER's Refer-To. Raises :class:`TransferError`: 400 when there is no
    Refer-To or its Replaces is malformed, 416 for a scheme other than sip, sips or tel, 404 when
    the user part names nothing of the tenant."""
    if refer_to is None:
        raise TransferError(400, "Missing Refer-To")
    uri = refer_to.uri
    if isinstance(uri, TelUri):
        return directory.resolve(uri.number)
    if not isinstance(uri, SipUri):
        raise TransferError(416, "Refer-To must be a sip, sips or tel URI")
    raw = next((v for n, v in uri.headers if n.lower() == "replaces"), None)
    if raw is not None:
        try:
            replaces = Replaces.parse(raw, what="Refer-To Replaces")
        except SipParseError as exc:
            raise TransferError(400, f"Bad Replaces in Refer-To ({exc})"[:80]) from None
        return TransferTarget("replaces", uri.user or "", replaces)
    if not uri.user:
        raise TransferError(404, "Refer-To names no user")
    return directory.resolve(uri.user)


def names_dialog(replaces: Replaces, dialog: Dialog) -> bool:
    """Whether ``replaces`` names ``dialog``. RFC 3891 reads the tags from the side of the UA
    that receives the Replaces; transferors differ on whose side that is, so either order of
    the two tags is taken (they are random, so no other dialog matches both)."""
    if replaces.call_id != dialog.call_id:
        return False
    return {replaces.to_tag, replaces.from_tag} == {dialog.local_tag, dialog.remote_tag}


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """The ``message/sipfrag`` body of a REFER's NOTIFY: the status line of the progress."""
    return f"SIP/2.0 {status} {reason or reason_phrase(status) or 'Unknown'}\r\n".encode()


def refusal(exc: AcdError, contact_phases: Iterable[str] = ()) -> TransferError:
    """The SIP answer for a command the ACD refused: 404 for an unknown agent or queue, 486
    when the agent concerned is on the phone (``contact_phases`` of its contacts), 480 for an
    agent who cannot take the call otherwise (not ready, logged out), 403 for the rest."""
    text = str(exc)[:80]
    if isinstance(exc, UnknownAgent | UnknownQueue):
        return TransferError(404, text)
    if isinstance(exc, InvalidTransition):
        if _ON_THE_PHONE.intersection(contact_phases):
            return TransferError(486, text)
        return TransferError(480, text)
    return TransferError(403, text)
