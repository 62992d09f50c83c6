"""Statements sent straight to the database driver, for the ingest hot path.

SQLAlchemy renders an ``IN (...)`` of many ids anew for every call and processes every
parameter and result row in Python; for the few statements a batch of runs needs per table
that costs more than the database work. These helpers hand plain SQL and tuples to the
driver's cursor instead — inside the caller's SQLAlchemy transaction — and raise driver
errors as SQLAlchemy's ``DBAPIError`` family, so the app's error handlers answer them as they
answer any other database error (503 for a locked or unreachable database, 500 otherwise).

A list of values travels as ONE parameter whatever its length: a JSON array on SQLite, an array
literal on PostgreSQL (:func:`pg_array`, built with ``str.join``: psycopg's list adapter
formats text arrays element by element in Python, about 1 µs per element).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["translated_errors", "marker", "execute_many", "select_for_runs", "select_for_ids", "pg_array"]


@contextmanager
def translated_errors(conn: Connection) -> Iterator[None]:
    """Raise the driver's errors inside the block as SQLAlchemy ``DBAPIError`` subclasses."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi.Error) from exc


def marker(conn: Connection) -> str:
    """The driver's positional parameter marker (``%s`` for psycopg, ``?`` for sqlite3)."""
    return "%s" if conn.dialect.name == "postgresql" else "?"


def execute_many(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``executemany`` on the driver's cursor: each row is its own statement, in order."""
    if not rows:
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with translated_errors(conn):
            cursor.executemany(sql, rows)
    finally:
        cursor.close()


def pg_array(values: Sequence[Any]) -> str:
    """``values`` as a PostgreSQL array literal, to be cast in SQL (``%s::text[]``,
    ``%s::float8[]``, ...): strings quoted (``"`` and ``\\`` escaped), ``None`` as ``NULL``,
    booleans as ``t``/``f``, numbers as Python writes them (``repr`` of a float reads back as the
    same float). One kind of value per array, as in a column."""
    if not values:
        return "{}"
    kinds = set(map(type, values))
    if kinds == {str}:
        joined = "".join(values)
        if '"' in joined or "\\" in joined:
            values = [v.replace("\\", "\\\\").replace('"', '\\"') for v in values]
        return '{"' + '","'.join(values) + '"}'
    if kinds == {float}:
        return "{" + ",".join(map(repr, values)) + "}"
    if kinds == {int} or kinds == {bool}:  # True/False: PostgreSQL reads either case
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join(map(_pg_element, values)) + "}"


def _pg_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, str):
        return pg_array([value])[1:-1]
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def select_for_runs(conn: Connection, sql: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (none for a statement that returns none), whose ``{runs}`` stands for
    a condition on a column holding ids (``run_id {runs}``) matching ``run_ids`` — sent as one
    parameter whatever their number (an array on PostgreSQL, a JSON array read by ``json_each``
    on SQLite)."""
    return select_for_ids(conn, sql, runs=run_ids)


def select_for_ids(conn: Connection, sql: str, **ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """:func:`select_for_runs` with several lists of ids: each ``{name}`` of ``sql`` stands for
    ``IN`` the list given as ``name`` (a name may appear more than once)."""
    postgres = conn.dialect.name == "postgresql"
    condition = "= ANY(%s::text[])" if postgres else "IN (SELECT value FROM json_each(?))"
    encoded = {
        name: pg_array(values) if postgres else json.dumps(list(values)) for name, values in ids.items()
    }
    parameters = [encoded[name] for _, name, _, _ in string.Formatter().parse(sql) if name is not None]
    statement = sql.format(**dict.fromkeys(ids, condition))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with translated_errors(conn):
            cursor.execute(statement, parameters)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
    finally:
        cursor.close()
