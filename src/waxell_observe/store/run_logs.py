"""Log records of runs (the ``run_logs`` table): what an application logged while a run was active,
received over OTLP ``/v1/logs`` by the control plane, read back per run.

A record whose run is not known (no ``waxell_run_id`` attribute) is kept with an empty ``run_id``
and its trace id, so the records of a trace can still be listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Connection, Float, Index, Integer, String, Table, Text, insert, select

from waxell_observe.store.schema import Id, Json, metadata

__all__ = ["MAX_LOGS_PER_READ", "add_logs", "logs_of_run", "run_logs"]

run_logs = Table(
    "run_logs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Id, nullable=False, default=""),
    Column("time", Float, nullable=False),
    Column("severity_number", Integer, nullable=False, default=0),
    Column("severity_text", String(32), nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("logger", String(256), nullable=False, default=""),
    Column("trace_id", String(32), nullable=False, default=""),
    Column("span_id", String(16), nullable=False, default=""),
    Column("attributes", Json, nullable=False, default=dict),
    Index("ix_run_logs_run_time", "run_id", "time"),
    Index("ix_run_logs_trace", "trace_id"),
)
"""One row per log record."""

MAX_LOGS_PER_READ = 5_000
"""At most this many records of one run are read back at a time."""

_FIELDS = ("run_id", "time", "severity_number", "severity_text", "body", "logger", "trace_id", "span_id")


def add_logs(conn: Connection, records: Iterable[Mapping[str, Any]]) -> int:
    """Insert ``records`` (mappings with the table's columns; ``attributes`` a JSON object); returns
    how many were inserted."""
    rows = [
        {**{name: record.get(name) for name in _FIELDS}, "attributes": dict(record.get("attributes") or {})}
        for record in records
    ]
    if rows:
        conn.execute(insert(run_logs), rows)
    return len(rows)


def logs_of_run(
    conn: Connection, run_id: str, *, min_severity: int = 0, limit: int = MAX_LOGS_PER_READ
) -> list[dict[str, Any]]:
    """The log records of ``run_id`` in time order (at most ``limit``, at least ``min_severity``:
    OpenTelemetry severity numbers, 9 = INFO, 13 = WARN, 17 = ERROR)."""
    query = (
        select(run_logs)
        .where(run_logs.c.run_id == run_id, run_logs.c.severity_number >= min_severity)
        .order_by(run_logs.c.time, run_logs.c.id)
        .limit(max(1, min(limit, MAX_LOGS_PER_READ)))
    )
    return [
        {
            "time": row["time"],
            "severity_number": row["severity_number"],
            "severity_text": row["severity_text"],
            "body": row["body"],
            "logger": row["logger"],
            "trace_id": row["trace_id"],
            "span_id": row["span_id"],
            "attributes": row["attributes"] or {},
        }
        for row in (r._mapping for r in conn.execute(query))
    ]
