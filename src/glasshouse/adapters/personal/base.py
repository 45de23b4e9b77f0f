"""The personal data store contract: per-tenant values (phone numbers, names, free text) that
events reference by an opaque id instead of holding them.

The event log is immutable; personal data must be erasable (GDPR). So an event names a
reference (``pd-`` and 16 hex digits) and the value lives here, where erasing it leaves the
log intact and every reference to it pointing at nothing. Every implementation keeps the same
promises, which the shared contract tests check:

* Every operation names its tenant first; a reference of one tenant is not readable, nor
  erasable, as another tenant.
* ``put`` is durable when it returns, so a value is stored before the event that refers to it
  is appended: a crash in between leaves a value without a reference (harmless, and still
  found by an erasure by value), never a reference without its value.
* After an erasure the value is gone: ``get`` answers None for each of its references.
"""

from __future__ import annotations

import re
import secrets
from typing import Final, Protocol

__all__ = [
    "MAX_VALUE_CHARS",
    "PHONE",
    "PersonalStore",
    "PersonalStoreError",
    "check_kind",
    "check_ref",
    "check_tenant",
    "check_value",
    "is_ref",
    "new_ref",
]

#: A reference: a prefix that says what it is, then 64 random bits (collisions are negligible
#: for the values a tenant holds, and the store refuses a duplicate anyway).
_REF: Final = re.compile(r"pd-[0-9a-f]{16}")
_KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: The kind of a telephone number (a callback's, an outside transfer target's).
PHONE: Final = "phone"
#: Personal values are short (numbers, names, a note); a bigger one is a mistake upstream.
MAX_VALUE_CHARS: Final = 4096


class PersonalStoreError(Exception):
    """The store refused an operation or could not perform it; the message says which and why."""


class PersonalStore(Protocol):
    """Per-tenant personal values, each behind a random reference."""

    def put(self, tenant: str, kind: str, value: str) -> str:
        """Store ``value`` (of ``kind``, e.g. ``phone``) for ``tenant``; return its new
        reference. Durable on return. The same value stored twice gets two references."""
        ...

    def get(self, tenant: str, ref: str) -> str | None:
        """The value behind ``ref`` for ``tenant``, or None when erased or never stored."""
        ...

    def erase_value(self, tenant: str, value: str) -> int:
        """Erase every reference of ``tenant`` to ``value``; return how many were erased."""
        ...

    def erase_ref(self, tenant: str, ref: str) -> bool:
        """Erase the value behind ``ref``; False when there was none."""
        ...

    def close(self) -> None:
        """Release the store's resources; further calls raise :class:`PersonalStoreError`."""
        ...


def new_ref() -> str:
    """A fresh random reference."""
    return f"pd-{secrets.token_hex(8)}"


def is_ref(text: str) -> bool:
    """Whether ``text`` has the form of a reference (it may still name nothing)."""
    return _REF.fullmatch(text) is not None


def check_tenant(tenant: object) -> str:
    """Return ``tenant`` if it is a valid tenant name, else raise :class:`PersonalStoreError`."""
    if not isinstance(tenant, str) or not tenant:
        raise PersonalStoreError(f"tenant must be a non-empty string, got {tenant!r}")
    return tenant


def check_kind(kind: object) -> str:
    """Return ``kind`` if it is a lower-case word (``phone``, ``name``...), else raise."""
    if not isinstance(kind, str) or _KIND.fullmatch(kind) is None:
        raise PersonalStoreError(
            f"kind must be a lower-case word of letters, digits and '_', got {kind!r}"
        )
    return kind


def check_value(value: object) -> str:
    """Return ``value`` if it can be stored (non-empty text, at most :data:`MAX_VALUE_CHARS`
    characters, valid UTF-8), else raise; the message never repeats the value."""
    if not isinstance(value, str):
        raise PersonalStoreError(f"value must be a string, got {type(value).__name__}")
    if not value:
        raise PersonalStoreError("value must not be empty")
    if len(value) > MAX_VALUE_CHARS:
        raise PersonalStoreError(
            f"value has {len(value)} characters, more than the {MAX_VALUE_CHARS} allowed"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PersonalStoreError("value is not valid text (it holds a lone surrogate)") from None
    return value


def check_ref(ref: object) -> str:
    """Return ``ref`` if it has the form of a reference, else raise :class:`PersonalStoreError`
    (without repeating it: a number passed by mistake must not reach the logs)."""
    if not isinstance(ref, str) or not is_ref(ref):
        raise PersonalStoreError(
            "ref is not a personal data reference (expected pd- and 16 hex digits)"
        )
    return ref
