"""Fast bulk writes: rows as tuples straight to the driver's ``executemany``.

SQLAlchemy's per-row processing costs tens of microseconds per record, and the
embedded sink writes on a thread that shares the GIL with the agent: every microsecond
it spends is a microsecond the agent may wait. These helpers render one statement per
(table, columns, conflict rule) once, then hand plain tuples to the DBAPI cursor. JSON
columns are passed as values already serialised by :func:`json_param` (a JSON string on
SQLite, a ``Jsonb`` adapter on PostgreSQL).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import Connection, Table

__all__ = ["insert_rows", "json_encoder"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_encoder(dialect: str) -> Callable[[Any], Any]:
    """A function turning a JSON-safe value into a parameter for a JSON column."""
    if dialect == "postgresql":
        from psycopg.types.json import Jsonb

        def encode_pg(value: Any) -> Any:
            return None if value is None else Jsonb(value, dumps=_dumps)

        return encode_pg
    return lambda value: None if value is None else _dumps(value)


@functools.lru_cache(maxsize=128)
def _statement(dialect: str, table: str, columns: tuple[str, ...], conflict: str, key: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    marker = "%s" if dialect == "postgresql" else "?"
    values = ", ".join(marker for _ in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({values})'
    if conflict == "ignore":
        sql += " ON CONFLICT DO NOTHING"
    elif conflict == "update":
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in key)
        sql += f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    return sql


def insert_rows(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: str = "ignore",
    key: Sequence[str] = (),
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in one ``executemany``.

    ``conflict="ignore"`` skips rows colliding with an existing key; ``"update"`` (with
    ``key``, the conflict target) overwrites the other columns. Returns the number of rows
    sent. String values are expected to fit their columns (see ``writer._fit``).
    """
    batch = rows if isinstance(rows, list) else list(rows)
    if not batch:
        return 0
    dialect = conn.dialect.name
    sql = _statement(dialect, table.name, tuple(columns), conflict, tuple(key))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, batch)
    finally:
        cursor.close()
    return len(batch)
