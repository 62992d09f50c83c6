"""The SQL of server-side governance: a completed run's outcome and per-model usage, the policy spans and
audit rows a post-execution verdict leaves, a redacted result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update

from waxell_observe.store import writer
from waxell_observe.store.schema import llm_calls, runs, spans

__all__ = [
    "add_audit_rows",
    "add_new_spans",
    "models_of",
    "refresh_totals",
    "run_outcome",
    "set_result",
]


def run_outcome(conn: Connection, run_id: str) -> tuple[Any, Any, Any]:
    """``(status, governance, result)`` of a stored run (``("success", {}, {})`` when it is unknown)."""
    row = conn.execute(
        select(runs.c.status, runs.c.governance, runs.c.result).where(runs.c.run_id == run_id)
    ).first()
    return (row[0], row[1], row[2]) if row is not None else ("success", {}, {})


def models_of(conn: Connection, run_id: str) -> dict[str, tuple[int, float]]:
    """The run's tokens and cost, per model."""
    c = llm_calls.c
    rows = conn.execute(
        select(c.model, func.sum(c.tokens_in + c.tokens_out), func.sum(c.cost))
        .where(c.run_id == run_id)
        .group_by(c.model)
    ).all()
    return {model: (int(tokens or 0), float(cost or 0.0)) for model, tokens, cost in rows}


def set_result(conn: Connection, run_id: str, result: dict[str, Any]) -> None:
    """Replace the run's stored result (with its redacted copy)."""
    conn.execute(update(runs).where(runs.c.run_id == run_id).values(result=result))


def add_new_spans(conn: Connection, run_id: str, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the span rows whose ids the store does not have yet, after the run's last span; returns them
    (their ``position`` set)."""
    known = set(conn.execute(select(spans.c.id).where(spans.c.id.in_([r["id"] for r in rows]))).scalars())
    fresh = [r for r in rows if r["id"] not in known]
    if not fresh:
        return fresh
    top = conn.execute(
        select(spans.c.position).where(spans.c.run_id == run_id).order_by(spans.c.position.desc()).limit(1)
    ).scalar()
    for offset, r in enumerate(fresh, start=1):
        r["position"] = int(top or 0) + offset
    writer.add_spans(conn, run_id, fresh)
    return fresh


def add_audit_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append rows to the audit log."""
    writer.add_audit_events(conn, list(rows))


def refresh_totals(conn: Connection, run_ids: Sequence[str]) -> None:
    """Recount the runs' totals from their records."""
    writer.refresh_totals(conn, list(run_ids))
