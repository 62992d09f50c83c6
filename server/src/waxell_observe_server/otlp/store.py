"""The receiver's SQL: reading the run a trace or run id already has, updating it, finding the next record
position, and inserting records idempotently (a re-delivered span changes nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from waxell_observe.store import writer
from waxell_observe.store.schema import llm_calls, runs, scores, spans, steps

__all__ = ["create_run", "existing_run", "insert_records", "next_position", "refresh_totals", "update_run"]


def existing_run(conn: Connection, run_id: str) -> Any:
    """What merging needs of a stored run, as a row (``None``: the store does not have it)."""
    return conn.execute(
        select(runs.c.run_id, runs.c.source, runs.c.status, runs.c.tags, runs.c.metadata, runs.c.trace_id,
               runs.c.started_at, runs.c.ended_at, runs.c.session_id, runs.c.user_id)
        .where(runs.c.run_id == run_id)
    ).first()  # fmt: skip


def create_run(conn: Connection, row: Mapping[str, Any]) -> None:
    """Store a new run (a run id the store already has is left as it is)."""
    writer.start_run(conn, row)


def update_run(conn: Connection, run_id: str, values: Mapping[str, Any]) -> None:
    """Set ``values`` on the run (nothing to do when empty)."""
    if values:
        writer.complete_run(conn, run_id, values)


def next_position(conn: Connection, run_id: str) -> int:
    """The position after the run's last LLM call or span record."""
    highest = 0
    for table in (llm_calls, spans):
        stored = conn.execute(
            select(func.coalesce(func.max(table.c.position), 0)).where(table.c.run_id == run_id)
        ).scalar_one()
        highest = max(highest, int(stored))
    return highest + 1


def insert_records(
    conn: Connection,
    *,
    calls: Sequence[dict[str, Any]] = (),
    step_rows: Sequence[dict[str, Any]] = (),
    span_rows: Sequence[dict[str, Any]] = (),
    score_rows: Sequence[dict[str, Any]] = (),
) -> None:
    """Insert the rows, skipping any whose id the store already has. A ``policy`` span stored here
    for the first time goes to the audit trail too, as the wire protocol's ingest does: the SDK sends
    a run's records both ways, and whichever arrives first stores (and audits) them."""
    writer.insert_ignore(conn, llm_calls, list(calls))
    writer.insert_ignore(conn, steps, list(step_rows))
    policies = [row for row in span_rows if row.get("kind") == "policy"]
    writer.insert_ignore(conn, spans, [row for row in span_rows if row.get("kind") != "policy"])
    inserted = writer.insert_new(conn, spans, policies)  # the insert says which ones are new here
    writer.insert_ignore(conn, scores, list(score_rows))
    fresh = [row for row in policies if row["id"] in inserted]
    if fresh:
        _audit(conn, fresh)


def _audit(conn: Connection, fresh: Sequence[dict[str, Any]]) -> None:
    from waxell_observe_server.record_rows import policy_span_audit_row

    run_ids = sorted({row["run_id"] for row in fresh})
    names = {
        run_id: (agent, workflow)
        for run_id, agent, workflow in conn.execute(
            select(runs.c.run_id, runs.c.agent_name, runs.c.workflow_name).where(runs.c.run_id.in_(run_ids))
        ).all()
    }
    writer.add_audit_events(
        conn,
        [policy_span_audit_row(row["run_id"], *names.get(row["run_id"], ("", "")), row) for row in fresh],
    )


def refresh_totals(conn: Connection, run_ids: Sequence[str]) -> None:
    """Recount the runs' totals (tokens, cost, record counts) from their records."""
    writer.refresh_totals(conn, list(run_ids))
