"""Personal data kept out of the event log: per-tenant values behind random references, erasable
without rewriting the log (see ``docs/privacy.md``)."""

from glasshouse.adapters.personal.base import (
    PHONE,
    PersonalStore,
    PersonalStoreError,
    is_ref,
    new_ref,
)
from glasshouse.adapters.personal.sqlite import SqlitePersonalStore

__all__ = [
    "PHONE",
    "PersonalStore",
    "PersonalStoreError",
    "SqlitePersonalStore",
    "is_ref",
    "new_ref",
]
