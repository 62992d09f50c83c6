"""Fast bulk writes: rows as tuples straight to the driver.

SQLAlchemy's per-row processing costs tens of microseconds per record, and the
embedded sink writes on a thread that shares the GIL with the agent: every microsecond
it spends is a microsecond the agent may wait. These helpers render one statement per
(table, columns, conflict rule) once, then hand plain tuples to the DBAPI cursor. JSON
columns are passed as values already serialised by :func:`json_encoder` (a JSON string on
SQLite, a ``Jsonb`` adapter on PostgreSQL).

* :func:`insert_rows`: ``executemany`` — on SQLite the fastest way in; on PostgreSQL one
  statement per row (psycopg pipelines them, but each is parsed, planned and run on its own);
* :func:`insert_staged`: the rows into a temporary staging table (PostgreSQL: ``COPY``), then
  one ``INSERT ... SELECT`` with the conflict rule — one statement per table: what a table with
  triggers needs (see there), and on PostgreSQL about three times the rows per second of
  ``executemany``. With ``binary=True`` (PostgreSQL) the ``COPY`` is in the binary format, JSON
  columns given in ``jsonb``'s binary form: no value is formatted as text (a float's shortest decimal form
  alone costs about 4 µs to write, and as much again for the server to read back).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Connection, Float, Integer, String, Table
from sqlalchemy.exc import DBAPIError

from waxell_observe.store import rollup_rows
from waxell_observe.vocabulary import PROVISIONAL_RUN_SOURCES

__all__ = [
    "insert_rows",
    "insert_staged",
    "create_staging",
    "clear_staged",
    "driver_cursor",
    "json_encoder",
    "JSONB_BINARY_VERSION",
    "TRIGGERED_TABLES",
]

TRIGGERED_TABLES = frozenset(rollup_rows.SOURCES)
"""Tables with the rollups' per-row triggers (``store/rollup_rows.py``)."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_encoder(dialect: str) -> Callable[[Any], Any]:
    """A function turning a JSON-safe value into a parameter for a JSON column."""
    if dialect == "postgresql":
        from psycopg.types.json import Jsonb

        def encode_pg(value: Any) -> Any:
            return None if value is None else Jsonb(value, dumps=_dumps)

        return encode_pg
    return lambda value: None if value is None else _dumps(value)


def _conflict_clause(table: str, columns: tuple[str, ...], conflict: str, key: tuple[str, ...]) -> str:
    if conflict == "none":
        return ""
    if conflict == "ignore":
        return " ON CONFLICT DO NOTHING"
    if conflict in ("update", "supersede"):
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in key)
        clause = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        if conflict == "supersede":
            sources = ", ".join(f"'{source}'" for source in PROVISIONAL_RUN_SOURCES)
            clause += f' WHERE "{table}"."source" IN ({sources})'
        return clause
    raise ValueError(f"unknown conflict rule {conflict!r}")


@functools.lru_cache(maxsize=128)
def _statement(
    dialect: str, table: str, columns: tuple[str, ...], conflict: str, key: tuple[str, ...]
) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    marker = "%s" if dialect == "postgresql" else "?"
    values = ", ".join(marker for _ in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({values})' + _conflict_clause(
        table, columns, conflict, key
    )


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: str = "ignore",
    key: Sequence[str] = (),
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in one ``executemany`` — on SQLite, into a
    table with per-row rollup triggers (:data:`TRIGGERED_TABLES`), by :func:`insert_staged`.

    ``conflict="ignore"`` skips rows colliding with an existing key; ``"update"`` (with
    ``key``, the conflict target) overwrites the other columns; ``"supersede"`` (``runs``)
    overwrites them only where the stored run was made from spans (its ``source`` one of
    ``vocabulary.PROVISIONAL_RUN_SOURCES``) and skips the row otherwise; ``"none"`` fails on a
    collision. Returns the number of rows sent. String values are expected to fit their
    columns (see ``writer._fit``).
    """
    batch = rows if isinstance(rows, list) else list(rows)
    if not batch:
        return 0
    dialect = conn.dialect.name
    if dialect == "sqlite" and len(batch) > 1 and table.name in TRIGGERED_TABLES:
        # Same rows, same triggers, same order; one statement instead of one per row (see
        # insert_staged): about four times faster for a table whose rollup triggers fire.
        create_staging(conn, (table,))
        return insert_staged(conn, table, columns, batch, conflict=conflict, key=key)
    sql = _statement(dialect, table.name, tuple(columns), conflict, tuple(key))
    with driver_cursor(conn, sql) as cursor:
        cursor.executemany(sql, batch)
    return len(batch)


@contextmanager
def driver_cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """The driver's cursor (no SQLAlchemy in between: tens of microseconds less per statement), its
    errors raised as SQLAlchemy's (``OperationalError``, ``IntegrityError``, ... with
    ``connection_invalidated`` when the connection is gone), as every other statement of the
    transaction raises them: callers tell what to retry by those. ``statement`` names the work in
    the error."""
    dbapi_connection = conn.connection.driver_connection
    cursor = dbapi_connection.cursor()  # type: ignore[union-attr]
    error = conn.dialect.loaded_dbapi.Error
    try:
        yield cursor
    except error as exc:
        gone = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
        raise DBAPIError.instance(statement, None, exc, error, connection_invalidated=gone) from exc
    finally:
        cursor.close()


def _staging(table: str, binary: bool = False) -> str:
    return f"wx_stage{'b' if binary else ''}_{table}"


def create_staging(conn: Connection, tables: Iterable[Table], *, binary: bool = False) -> None:
    """Create this connection's staging tables for ``tables`` unless they exist: temporary (never
    in the store's file or WAL), with the target's columns and defaults (a column a writer leaves
    out, such as ``scores.source``, gets its default) and no index, trigger or key.

    They vanish with the session — and with the transaction that created them if it rolls back.
    On SQLite this is cheap enough to call before every use; on PostgreSQL each call sends a
    statement (and a notice when the table exists), so callers remember that a connection has them
    once the creating transaction committed.

    ``binary`` (PostgreSQL): the tables :func:`insert_staged` fills with a binary ``COPY``, whose
    ``integer`` columns are ``bigint``: a binary integer goes in as it is, where text would be
    range-checked, so the check happens when the row is copied into the table (an out-of-range
    value fails the statement as it always did)."""
    postgres = conn.dialect.name == "postgresql"
    with driver_cursor(conn, "create staging tables") as cursor:
        for table in tables:
            if postgres:
                name = _staging(table.name, binary)
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} "
                    f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
                )
                widened = [
                    f'ALTER COLUMN "{c.name}" TYPE bigint'
                    for c in table.columns
                    if binary and isinstance(c.type, Integer) and not isinstance(c.type, BigInteger)
                ]
                if widened:
                    cursor.execute(f"ALTER TABLE {name} {', '.join(widened)}")
            else:  # untyped columns: values keep their type until the target's columns convert them
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_staging(table.name)} ({columns})")


def _copy_type(column_type: Any) -> str:
    """The PostgreSQL type a binary ``COPY`` writes a column of ``column_type`` as (integers as
    ``int8``: see :func:`create_staging`)."""
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, Integer):
        return "int8"
    if isinstance(column_type, Float):
        return "float8"
    if isinstance(column_type, JSON):
        return "text"  # the caller gives jsonb's binary form (a binary COPY has no type per field)
    if isinstance(column_type, String):
        return "text"
    raise TypeError(f"no binary COPY type for {column_type!r}")


JSONB_BINARY_VERSION = "\x01"
"""The first character of a ``jsonb`` value in PostgreSQL's binary format (the JSON text follows;
given as a ``str``, the value goes out as UTF-8 like any text)."""


@functools.lru_cache(maxsize=128)
def _copy_types(table: Table, columns: tuple[str, ...]) -> list[str]:
    return [_copy_type(table.c[name].type) for name in columns]


@functools.lru_cache(maxsize=128)
def _staged_statements(
    dialect: str, table: str, columns: tuple[str, ...], conflict: str, key: tuple[str, ...], binary: bool
) -> tuple[str, str, str]:
    names = ", ".join(f'"{c}"' for c in columns)
    staging = _staging(table, binary)
    if dialect == "postgresql":
        fill = f"COPY {staging} ({names}) FROM STDIN" + (" (FORMAT BINARY)" if binary else "")
        source = f"FROM {staging}"
    else:
        fill = f"INSERT INTO temp.{staging} ({names}) VALUES ({', '.join('?' for _ in columns)})"
        source = f"FROM temp.{staging} WHERE true"  # "WHERE": an upsert after a bare FROM is ambiguous
    insert = f'INSERT INTO "{table}" ({names}) SELECT {names} {source}' + _conflict_clause(
        table, columns, conflict, key
    )
    return fill, insert, f"DELETE FROM {'' if dialect == 'postgresql' else 'temp.'}{staging}"


def insert_staged(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: str = "ignore",
    key: Sequence[str] = (),
    binary: bool = False,
    keep: bool = False,
) -> int:
    """Insert ``rows`` as :func:`insert_rows` does, but with ONE statement: the rows go to the
    staging table (see :func:`create_staging`) — by ``COPY`` on PostgreSQL, ``executemany`` on
    SQLite — and from there into ``table`` with one ``INSERT ... SELECT``.

    For a table with triggers: on PostgreSQL a statement-level trigger then runs once, not once per
    row; on SQLite each row trigger's program is set up once for the statement instead of once
    per row (which costs several microseconds per trigger and row, even when the trigger's
    ``WHEN`` is false). On PostgreSQL ``COPY`` is also about three times as fast as
    ``executemany``.

    Rows repeating a key within ``rows`` are allowed with ``conflict="ignore"`` (the first is
    kept), not with ``"update"`` (PostgreSQL refuses to update a row twice in one statement). The
    staging table is left empty, so it can be filled again in the same transaction.

    ``binary`` (PostgreSQL; ignored on SQLite): through the staging tables
    ``create_staging(..., binary=True)`` made, by a binary ``COPY``; the values of JSON columns
    are then ``jsonb`` in its binary form: :data:`JSONB_BINARY_VERSION` followed by the JSON text
    (a ``str``), not JSON-safe values or ``Jsonb`` adapters.

    ``keep`` (PostgreSQL; ignored on SQLite): leave the rows in the staging table, one statement
    less — PostgreSQL empties it when the transaction ends (``ON COMMIT DELETE ROWS``). Before
    the table is filled again in the same transaction, :func:`clear_staged` must empty it.
    """
    if not rows:
        return 0
    dialect = conn.dialect.name
    binary = binary and dialect == "postgresql"
    columns = tuple(columns)
    fill, insert, clear = _staged_statements(dialect, table.name, columns, conflict, tuple(key), binary)
    with driver_cursor(conn, insert) as cursor:
        if dialect == "postgresql":
            with cursor.copy(fill) as copier:
                if binary:
                    copier.set_types(_copy_types(table, columns))
                for row in rows:
                    copier.write_row(row)
        else:
            cursor.executemany(fill, rows)
        cursor.execute(insert)
        if not (keep and dialect == "postgresql"):
            cursor.execute(clear)
    return len(rows)


def clear_staged(conn: Connection, table: Table, *, binary: bool = False) -> None:
    """Empty ``table``'s staging table (the binary one with ``binary``), which
    :func:`insert_staged` left filled (``keep=True``)."""
    binary = binary and conn.dialect.name == "postgresql"
    clear = _staged_statements(conn.dialect.name, table.name, (), "none", (), binary)[2]
    with driver_cursor(conn, clear) as cursor:
        cursor.execute(clear)
