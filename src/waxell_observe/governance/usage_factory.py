"""The usage source for a store: which implementation of the store's counters serves it."""

from __future__ import annotations

from typing import Any

from waxell_observe.store.database import Store

from .sql_usage import SqlUsage
from .sqlite_usage import SqliteUsage, sqlite_file

__all__ = ["usage_for_store"]


def usage_for_store(store: Store, **kwargs: Any) -> SqlUsage:
    """The usage source for ``store``: :class:`~.sqlite_usage.SqliteUsage` (plain ``sqlite3``, fast) for a
    SQLite file, :class:`~.sql_usage.SqlUsage` otherwise. ``kwargs`` as for :class:`~.sql_usage.SqlUsage`."""
    path = sqlite_file(store)
    return SqliteUsage(store, path, **kwargs) if path else SqlUsage(store, **kwargs)
