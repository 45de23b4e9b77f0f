"""An in-memory personal data store for tests, with the same contract as the SQLite store."""

from __future__ import annotations

import threading
from types import TracebackType

from glasshouse.adapters.personal.base import (
    PersonalStoreError,
    check_kind,
    check_ref,
    check_tenant,
    check_value,
    new_ref,
)

__all__ = ["MemoryPersonalStore"]


class MemoryPersonalStore:
    """A fake :class:`~glasshouse.adapters.personal.base.PersonalStore` that keeps values in a
    dict. It validates and isolates tenants exactly like ``SqlitePersonalStore`` (the shared
    contract tests run against both); only durability differs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], tuple[str, str]] = {}  # (tenant, ref) -> (kind, value)
        self._closed = False

    def __enter__(self) -> MemoryPersonalStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise PersonalStoreError("memory personal data store is closed")

    def put(self, tenant: str, kind: str, value: str) -> str:
        check_tenant(tenant)
        check_kind(kind)
        check_value(value)
        with self._lock:
            self._check_open()
            ref = new_ref()
            while (tenant, ref) in self._values:
                ref = new_ref()
            self._values[(tenant, ref)] = (kind, value)
        return ref

    def get(self, tenant: str, ref: str) -> str | None:
        check_tenant(tenant)
        check_ref(ref)
        with self._lock:
            self._check_open()
            found = self._values.get((tenant, ref))
        return None if found is None else found[1]

    def erase_value(self, tenant: str, value: str) -> int:
        check_tenant(tenant)
        check_value(value)
        with self._lock:
            self._check_open()
            keys = [k for k, (_, v) in self._values.items() if k[0] == tenant and v == value]
            for key in keys:
                del self._values[key]
        return len(keys)

    def erase_ref(self, tenant: str, ref: str) -> bool:
        check_tenant(tenant)
        check_ref(ref)
        with self._lock:
            self._check_open()
            return self._values.pop((tenant, ref), None) is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
