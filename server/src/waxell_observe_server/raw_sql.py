"""Statements sent straight to the database driver, for the ingest hot path.

SQLAlchemy renders an ``IN (...)`` of many ids anew for every call and processes every
parameter and result row in Python; for the few statements a batch of runs needs per table
that costs more than the database work. These helpers hand plain SQL and tuples to the
driver's cursor instead — inside the caller's SQLAlchemy transaction — and raise driver
errors as SQLAlchemy's ``DBAPIError`` family, so the app's error handlers answer them as they
answer any other database error (503 for a locked or unreachable database, 500 otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

__all__ = ["translated_errors", "marker", "execute_many", "select_for_runs"]


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


def select_for_runs(conn: Connection, sql: str, run_ids: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (none for a statement that returns none), whose ``{runs}`` stands for
    a condition on a column holding ids (``run_id {runs}``) matching ``run_ids`` — sent as one
    parameter whatever their number (an array on PostgreSQL, a JSON array read by ``json_each``
    on SQLite)."""
    parameter: Any
    if conn.dialect.name == "postgresql":
        statement, parameter = sql.format(runs="= ANY(%s)"), list(run_ids)
    else:
        statement, parameter = (
            sql.format(runs="IN (SELECT value FROM json_each(?))"),
            json.dumps(list(run_ids)),
        )
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with translated_errors(conn):
            cursor.execute(statement, (parameter,))
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
    finally:
        cursor.close()
