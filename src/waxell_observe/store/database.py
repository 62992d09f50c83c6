"""Opening a store: engine creation, SQLite tuning, schema creation, transactions."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Connection, Engine, create_engine, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool, StaticPool

from waxell_observe.store import schema

__all__ = ["Store", "get_store", "SQLITE_BUSY_TIMEOUT_MS"]

SQLITE_BUSY_TIMEOUT_MS = 60_000
_PG_SCHEMA_LOCK = 0x5741_5845  # advisory lock id serialising schema creation on PostgreSQL


class Store:
    """A database holding runs and their records.

    ``url`` is a SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
    Write with :meth:`write` (one transaction; on SQLite ``BEGIN IMMEDIATE`` so that several
    processes can write one file without "database is locked" upgrades), read with
    :meth:`read`.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # A pool keeps connections open: closing the last connection of a WAL database
            # checkpoints it, which would make every transaction pay for a checkpoint.
            self.engine: Engine = create_engine(
                url,
                poolclass=StaticPool if database in ("", ":memory:") else QueuePool,
                pool_size=4,
                max_overflow=8,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            ) if database not in ("", ":memory:") else create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
            _tune_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        if create:
            self.create_schema()

    def create_schema(self) -> None:
        """Create missing tables (safe to call from several processes at once)."""
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK})")
            schema.metadata.create_all(conn, checkfirst=True)
            version = conn.execute(
                select(schema.schema_info.c.value).where(schema.schema_info.c.key == "version")
            ).scalar()
            if version is None:
                conn.execute(insert(schema.schema_info).values(key="version", value=str(schema.SCHEMA_VERSION)))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (committed on success, rolled back on error)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(waxell_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("waxell_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


_stores: dict[tuple[int, str], Store] = {}
_stores_lock = threading.Lock()


def get_store(url: str) -> Store:
    """The process's :class:`Store` for ``url`` (one per URL and process; re-opened after fork)."""
    key = (os.getpid(), url)
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = Store(url)
                _stores[key] = store
    return store
