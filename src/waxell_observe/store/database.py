"""Opening a store: engine creation, SQLite tuning, schema creation, transactions."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool, StaticPool

from waxell_observe.process import current_pid, fork_safe, sqlite_gate
from waxell_observe.store import evaluation_schema as _evaluation_schema  # registers its tables
from waxell_observe.store import prompt_usage, rollups, schema

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
            self.engine: Engine = (
                create_engine(
                    url,
                    poolclass=StaticPool if database in ("", ":memory:") else QueuePool,
                    pool_size=4,
                    max_overflow=8,
                    connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                )
                if database not in ("", ":memory:")
                else create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
            )
            _tune_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        # A fork waits until no thread is inside a SQLite transaction (process.ForkGate says why).
        self._gate: contextlib.AbstractContextManager[None] = (
            sqlite_gate if self.is_sqlite else contextlib.nullcontext()
        )
        # PostgreSQL's day-keyed rollups are append-only: this folds them in after writes.
        self._compactor = rollups.Compactor(self) if self.dialect == "postgresql" else None
        if create:
            self.create_schema()

    def create_schema(self) -> None:
        """Create missing tables, indexes and the rollups' triggers (safe to call from several
        processes at once).

        A store made by an older version is brought up to date in the same transaction: the
        indexes added since are created, and the rollups are filled from the runs already stored
        (once: ``schema_info`` records the schema and rollups versions).
        """
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK})")
            schema.metadata.create_all(conn, checkfirst=True)
            _add_missing_columns(conn, _evaluation_schema.COLUMNS_ADDED)
            info: dict[str, str] = {
                str(k): str(v)
                for k, v in conn.execute(select(schema.schema_info.c.key, schema.schema_info.c.value)).all()
            }
            if info.get(prompt_usage.INDEXES_KEY) != prompt_usage.INDEXES_VERSION:
                for index in prompt_usage.INDEXES:  # partial indexes of the prompts' usage
                    index.create(conn, checkfirst=True)
                _set_info(conn, info, prompt_usage.INDEXES_KEY, prompt_usage.INDEXES_VERSION)
            if (
                info.get("rollups") == rollups.ROLLUPS_VERSION
                and _int(info.get("version")) >= schema.SCHEMA_VERSION
            ):
                return  # up to date: no triggers to create, nothing to fill
            # Before any DDL on the rollup tables: a compaction of another process holding the lock
            # while waiting for those tables would otherwise deadlock with the rebuild below.
            rollups.lock_compaction(conn)
            for table_name, names in schema.INDEXES_V2.items():
                table = schema.metadata.tables[table_name]
                for index in table.indexes:
                    if index.name in names:
                        index.create(conn, checkfirst=True)
            for name in schema.INDEXES_DROPPED_V2:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            rollups.install(conn)
            rollups.rebuild(conn)
            _set_info(conn, info, "rollups", rollups.ROLLUPS_VERSION)
            if _int(info.get("version")) < schema.SCHEMA_VERSION:
                _set_info(conn, info, "version", str(schema.SCHEMA_VERSION))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (committed on success, rolled back on error)."""
        with self._gate, self.engine.connect() as conn:
            conn = conn.execution_options(waxell_write=True)
            with conn.begin():
                yield conn
        if self._compactor is not None:
            self._compactor.notify()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self._gate, self.engine.connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        if self._compactor is not None:
            self._compactor.stop()
        self.engine.dispose()


def _int(value: str | None) -> int:
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _add_missing_columns(conn: Connection, added: Mapping[str, Sequence[str]]) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each column of ``added`` an older store's table lacks."""
    from sqlalchemy import inspect
    from sqlalchemy.schema import CreateColumn

    for table_name, names in added.items():
        present = {column["name"] for column in inspect(conn).get_columns(table_name)}
        table = schema.metadata.tables[table_name]
        for name in names:
            if name not in present:
                ddl = CreateColumn(table.c[name]).compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table_name} ADD COLUMN {ddl}")


def _set_info(conn: Connection, info: dict[str, str], key: str, value: str) -> None:
    table = schema.schema_info
    if key in info:
        conn.execute(update(table).where(table.c.key == key).values(value=value))
    else:
        conn.execute(insert(table).values(key=key, value=value))
    info[key] = value


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
_stores_lock = fork_safe(threading.Lock())


def get_store(url: str) -> Store:
    """The process's :class:`Store` for ``url`` (one per URL and process; re-opened after fork)."""
    key = (current_pid(), url)
    store = _stores.get(key)
    if store is None:
        with _stores_lock:
            store = _stores.get(key)
            if store is None:
                store = Store(url)
                _stores[key] = store
    return store
