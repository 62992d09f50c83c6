"""The store's governance counters on a SQLite file, through plain ``sqlite3`` connections.

Same decisions, same statements, same transactions and same answers as :class:`~.sql_usage.SqlUsage`
(which it is), with the statements compiled to SQLite SQL and run straight on a ``sqlite3`` connection
kept per thread (:class:`~.usage_database.SqliteDatabase`) instead of through a SQLAlchemy pool: a budget
read costs microseconds instead of a few hundred, which is what keeps a pre-execution check with
stateful policies near the 100 µs target on the agent's thread. Admission is still ONE
``BEGIN IMMEDIATE`` transaction (the same lock every writer of the file takes). PostgreSQL and
in-memory SQLite stores use :class:`~.sql_usage.SqlUsage` as it is.
"""

from __future__ import annotations

import os
from typing import Any

from waxell_observe.store.database import Store

from .sql_usage import SqlUsage
from .usage_database import SqliteDatabase

__all__ = ["SqliteUsage", "sqlite_file"]


def sqlite_file(store: Store) -> str | None:
    """The database file of a SQLite store, or None (PostgreSQL, in-memory)."""
    if not store.is_sqlite:
        return None
    database = store.engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.expanduser(database)


class SqliteUsage(SqlUsage):
    """:class:`SqlUsage` with its statements on per-thread ``sqlite3`` connections to ``path``."""

    def __init__(self, store: Store, path: str, **kwargs: Any) -> None:
        super().__init__(store, database=SqliteDatabase(store, path), **kwargs)
        self.path = path

    def __repr__(self) -> str:
        return f"SqliteUsage({self.path!r})"
