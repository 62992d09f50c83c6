"""Where the counters' statements (:mod:`.usage_statements`) run: the small interface
:class:`~.sql_usage.SqlUsage` decides over, implemented twice.

* :class:`CoreDatabase`: through SQLAlchemy on the store's engine (PostgreSQL, in-memory SQLite);
* :class:`SqliteDatabase`: the compiled ``qmark`` SQL on a plain ``sqlite3`` connection kept per thread
  (a SQLite file): a read costs microseconds instead of a pool checkout and a SQLAlchemy execution,
  which keeps a pre-execution check near the 100 µs target on the agent's thread.

Write transactions take turns within the process on SQLite (:func:`~.processes.sqlite_turns`) and are
``BEGIN IMMEDIATE`` there (the lock every writer of the file takes); on PostgreSQL :meth:`lock` takes a
transaction-scoped advisory lock per policy, which serialises the admissions of that policy.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import Connection, func, select

from waxell_observe.process import sqlite_gate
from waxell_observe.store.database import SQLITE_BUSY_TIMEOUT_MS, Store

from .processes import sqlite_turns
from .usage_statements import Statement

__all__ = ["CoreDatabase", "SqliteDatabase", "UsageDatabase", "UsageTransaction"]

Row = Sequence[Any]


class UsageTransaction(Protocol):
    """One write transaction: statements that read, write, and the policy lock."""

    def rows(self, statement: Statement, params: Sequence[Any] = ()) -> Sequence[Row]: ...

    def execute(self, statement: Statement, params: Sequence[Any] = ()) -> None: ...

    def execute_many(self, statement: Statement, params: Sequence[Sequence[Any]]) -> None: ...

    def lock(self, key: str) -> None:
        """Serialise with the other admissions of policy ``key`` until the end of the transaction."""
        ...


class UsageDatabase(Protocol):
    """Reads outside a transaction, and write transactions."""

    def rows(self, statement: Statement, params: Sequence[Any] = ()) -> Sequence[Row]: ...

    def transaction(self) -> Any:
        """A context manager of one :class:`UsageTransaction` (committed at exit, rolled back on error)."""
        ...

    def json_in(self, value: Mapping[str, Any]) -> Any:
        """A JSON value as the statements take it."""
        ...

    def json_out(self, value: Any) -> Any:
        """A JSON value as the statements return it, decoded."""
        ...


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory lock id for a rate-limit policy."""
    digest = hashlib.blake2b(f"waxell-rate:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# ---------------------------------------------------------------------- SQLAlchemy


class _CoreTransaction:
    __slots__ = ("_conn", "_dialect")

    def __init__(self, conn: Connection, dialect: str) -> None:
        self._conn = conn
        self._dialect = dialect

    def rows(self, statement: Statement, params: Sequence[Any] = ()) -> Sequence[Row]:
        return self._conn.execute(statement.core_for(self._dialect), statement.params(params)).all()

    def execute(self, statement: Statement, params: Sequence[Any] = ()) -> None:
        self._conn.execute(statement.core_for(self._dialect), statement.params(params))

    def execute_many(self, statement: Statement, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self._conn.execute(statement.core_for(self._dialect), [statement.params(p) for p in params])

    def lock(self, key: str) -> None:
        if self._dialect == "postgresql":
            self._conn.execute(select(func.pg_advisory_xact_lock(_lock_id(key))))


class CoreDatabase:
    """The statements through SQLAlchemy on ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dialect = store.dialect
        self._turns = sqlite_turns(store)

    def rows(self, statement: Statement, params: Sequence[Any] = ()) -> Sequence[Row]:
        with self.store.read() as conn:
            return conn.execute(statement.core_for(self.dialect), statement.params(params)).all()

    @contextmanager
    def transaction(self) -> Iterator[_CoreTransaction]:
        if self._turns is None:
            with self.store.write() as conn:
                yield _CoreTransaction(conn, self.dialect)
            return
        with self._turns, self.store.write() as conn:
            yield _CoreTransaction(conn, self.dialect)

    def json_in(self, value: Mapping[str, Any]) -> Any:
        return value  # the column's type encodes it

    def json_out(self, value: Any) -> Any:
        return value


# ---------------------------------------------------------------------- plain sqlite3


class _Connections(threading.local):
    conn: sqlite3.Connection | None = None
    pid: int = -1


class _SqliteTransaction:
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(self, statement: Statement, params: Sequence[Any] = ()) -> Sequence[Row]:
        compiled = statement.sqlite
        return self._conn.execute(compiled.sql, compiled.bind(params)).fetchall()

    def execute(self, statement: Statement, params: Sequence[Any] = ()) -> None:
        compiled = statement.sqlite
        self._conn.execute(compiled.sql, compiled.bind(params))

    def execute_many(self, statement: Statement, params: Sequence[Sequence[Any]]) -> None:
        compiled = statement.sqlite
        self._conn.executemany(compiled.sql, [compiled.bind(p) for p in params])

    def lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` holds the whole database."""


class SqliteDatabase:
    """The compiled statements on per-thread ``sqlite3`` connections to the SQLite file ``path`` of
    ``store``."""

    def __init__(self, store: Store, path: str) -> None:
        self.path = path
        self._local = _Connections()
        turns = sqlite_turns(store)
        assert turns is not None, "a SQLite store"
        self._turns = turns

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        conn = local.conn
        if conn is None or local.pid != os.getpid():  # a fork child opens its own
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn, local.pid = conn, os.getpid()
        return conn

    def rows(self, statement: Statement, params: Sequence[Any] = ()) -> Sequence[Row]:
        compiled = statement.sqlite
        with sqlite_gate:
            return self._conn().execute(compiled.sql, compiled.bind(params)).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTransaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error), taking turns within the process."""
        with self._turns, sqlite_gate:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def json_in(self, value: Mapping[str, Any]) -> Any:
        return json.dumps(value)

    def json_out(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value
