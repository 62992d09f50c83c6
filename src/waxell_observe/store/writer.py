"""Writing runs and records. Every function works inside one transaction (``Store.write()``).

Writes are idempotent: records carry client-chosen ids (and steps a per-run position), so
a batch delivered twice (a retry after a lost reply) stores each record once. Run totals
are recomputed from the stored LLM calls, so they are right however often a batch comes.
Strings longer than their column are cut, never rejected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy import String as _String
from sqlalchemy.dialects import postgresql, sqlite

from waxell_observe.store.schema import audit_events, llm_calls, runs, scores, spans, steps

__all__ = [
    "insert_ignore",
    "insert_new",
    "start_run",
    "complete_run",
    "add_llm_calls",
    "add_steps",
    "add_spans",
    "add_scores",
    "add_audit_events",
    "refresh_totals",
    "score_row",
]

_RUN_START_FIELDS = frozenset(c.name for c in runs.columns)


def _string_limits(table: Table) -> dict[str, int]:
    return {
        column.name: column.type.length
        for column in table.columns
        if isinstance(column.type, _String) and column.type.length
    }


_LIMITS = {
    table.name: _string_limits(table) for table in (runs, llm_calls, steps, spans, scores, audit_events)
}


def _fit(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    limits = _LIMITS.get(table.name) or _string_limits(table)
    fitted = dict(row)
    for name, limit in limits.items():
        value = fitted.get(name)
        if isinstance(value, str) and len(value) > limit:
            fitted[name] = value[:limit]
    return fitted


def insert_ignore(conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert ``rows``, skipping any that collide with an existing key."""
    batch = [_fit(table, row) for row in rows]
    if batch:
        conn.execute(_insert_skipping_conflicts(conn, table), batch)


def _insert_skipping_conflicts(conn: Connection, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table`` in the connection's dialect."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(dialect)  # pragma: no cover - only SQLite and PostgreSQL are supported


def insert_new(conn: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """Insert ``rows`` as :func:`insert_ignore` does; returns the ids (``id`` column) of the rows
    this statement inserted.

    What is new is decided by the insert itself (``ON CONFLICT DO NOTHING RETURNING id``), not by
    a look beforehand: of two transactions storing the same row at once, the second waits on the
    key, inserts nothing and is told so, where a ``SELECT`` before the insert would have shown
    both of them an empty table."""
    batch = [_fit(table, row) for row in rows]
    if not batch:
        return set()
    inserted = conn.execute(_insert_skipping_conflicts(conn, table).returning(table.c.id), batch)
    return {str(value) for value in inserted.scalars()}


def start_run(conn: Connection, row: Mapping[str, Any]) -> None:
    """Record a run's start (a repeated start of the same id is ignored)."""
    insert_ignore(conn, runs, [{k: v for k, v in row.items() if k in _RUN_START_FIELDS}])


def complete_run(conn: Connection, run_id: str, row: Mapping[str, Any]) -> bool:
    """Record a run's completion fields. Returns False when the run is unknown."""
    values = _fit(runs, {k: v for k, v in row.items() if k in _RUN_START_FIELDS and k != "run_id"})
    result = conn.execute(update(runs).where(runs.c.run_id == run_id).values(**values))
    return bool(result.rowcount)


def add_llm_calls(conn: Connection, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
    insert_ignore(conn, llm_calls, ({**row, "run_id": run_id} for row in rows))


def add_steps(conn: Connection, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
    insert_ignore(conn, steps, ({**row, "run_id": run_id} for row in rows))


def add_spans(conn: Connection, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
    insert_ignore(conn, spans, ({**row, "run_id": run_id} for row in rows))


def add_scores(conn: Connection, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
    insert_ignore(conn, scores, ({**row, "run_id": run_id} for row in rows))


def add_audit_events(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    batch = [_fit(audit_events, row) for row in rows]
    if batch:
        conn.execute(audit_events.insert(), batch)


def score_row(name: str, value: Any, data_type: str, comment: str = "", **extra: Any) -> dict[str, Any]:
    """A score as stored: booleans as 1.0/0.0 and "true"/"false", categoricals as strings."""
    numeric: float | None
    string: str | None
    if data_type == "boolean":
        flag = bool(value)
        numeric, string = (1.0 if flag else 0.0), ("true" if flag else "false")
    elif data_type == "categorical":
        numeric, string = None, str(value)
    else:
        numeric, string = float(value), None
    return {
        "name": name,
        "data_type": data_type,
        "numeric_value": numeric,
        "string_value": string,
        "comment": comment,
        **extra,
    }


def refresh_totals(conn: Connection, run_ids: Iterable[str]) -> None:
    """Recompute token, cost and count totals of ``run_ids`` from their stored records."""
    for run_id in set(run_ids):
        calls = conn.execute(
            select(
                func.coalesce(func.sum(llm_calls.c.tokens_in), 0),
                func.coalesce(func.sum(llm_calls.c.tokens_out), 0),
                func.coalesce(func.sum(llm_calls.c.cost), 0.0),
                func.count(),
            ).where(llm_calls.c.run_id == run_id)
        ).one()
        step_count = conn.execute(select(func.count()).where(steps.c.run_id == run_id)).scalar_one()
        span_count = conn.execute(select(func.count()).where(spans.c.run_id == run_id)).scalar_one()
        conn.execute(
            update(runs)
            .where(runs.c.run_id == run_id)
            .values(
                tokens_in=int(calls[0]),
                tokens_out=int(calls[1]),
                total_cost=round(float(calls[2]), 10),
                llm_call_count=int(calls[3]),
                step_count=int(step_count),
                span_count=int(span_count),
            )
        )
