"""Writing a batch of runs and records in one transaction: the embedded store's ingest path.

The pipeline's store destination turns journal frames into rows (tuples in the column
orders below) and hands a :class:`RowBatch` to :func:`write_batch`. Every write is
idempotent (client-chosen ids; run rows upserted), so a batch written twice — a retry
after a crash between the write and its acknowledgement — stores each record once.

The rollups of the read side are maintained per batch, not per row (``store/rollups.py``): the
per-row triggers stand aside for the batch's transaction (``rollups.batch_mode``) and

* on SQLite, the batch's runs are snapshotted before they are written, and the rollups moved
  from the snapshot to the written runs, then by the LLM calls the batch really inserted, in a
  few set-based statements (``rollup_sets``);
* on PostgreSQL, each table's rows go in with ``COPY`` and one ``INSERT ... SELECT`` (see
  ``bulk.insert_staged``), and the statement-level triggers fold each statement's transition
  tables.

When the store's triggers are another version's (they would not stand aside), the rows are
written the same way and those triggers follow them row by row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from waxell_observe.store import bulk, rollup_sets, rollups, writer
from waxell_observe.store.database import Store
from waxell_observe.store.schema import llm_calls, runs, scores, spans, steps

__all__ = [
    "RUN_COLUMNS",
    "LLM_COLUMNS",
    "STEP_COLUMNS",
    "SPAN_COLUMNS",
    "SCORE_COLUMNS",
    "RowBatch",
    "write_batch",
]

RUN_COLUMNS = (
    "run_id", "agent_name", "workflow_name", "status", "error", "error_type", "traceback",
    "session_id", "user_id", "user_group", "parent_run_id", "root_run_id", "interaction_mode",
    "started_at", "ended_at", "inputs", "metadata", "tags", "result", "conversation", "governance",
    "auto_collected", "tokens_in", "tokens_out", "total_cost", "llm_call_count", "step_count", "span_count",
    "trace_id", "source",
)  # fmt: skip
LLM_COLUMNS = (
    "id", "run_id", "position", "model", "provider", "tokens_in", "tokens_out", "cost", "task",
    "prompt_preview", "response_preview", "prompt_hash", "duration_ms", "status", "error_type",
    "error_message", "started_at", "parent_span_id", "attributes",
)  # fmt: skip
STEP_COLUMNS = ("id", "run_id", "position", "seq", "name", "output", "started_at")
SPAN_COLUMNS = (
    "id", "run_id", "position", "kind", "name", "status", "duration_ms", "started_at",
    "parent_span_id", "attributes", "input", "output", "error",
)  # fmt: skip
SCORE_COLUMNS = (
    "id",
    "run_id",
    "name",
    "data_type",
    "numeric_value",
    "string_value",
    "comment",
    "created_at",
)


@dataclass
class RowBatch:
    """Rows to write together. ``started``: runs seen starting (inserted, never overwriting);
    ``ended``: final run rows (upserted: the end row is a full snapshot and wins)."""

    started: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    ended: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    llm_calls: list[tuple[Any, ...]] = field(default_factory=list)
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    spans: list[tuple[Any, ...]] = field(default_factory=list)
    scores: list[tuple[Any, ...]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def records(self) -> int:
        """How many rows the batch carries (runs counted once however they appear)."""
        run_ids = set(self.started) | set(self.ended)
        return len(run_ids) + len(self.llm_calls) + len(self.steps) + len(self.spans) + len(self.scores)

    def __bool__(self) -> bool:
        return bool(
            self.started
            or self.ended
            or self.llm_calls
            or self.steps
            or self.spans
            or self.scores
            or self.audits
        )


def write_batch(store: Store, batch: RowBatch) -> None:
    """Write ``batch`` in one transaction (raises the database's error: the caller retries)."""
    started = [row for run_id, row in batch.started.items() if run_id not in batch.ended]
    ended = list(batch.ended.values())
    with store.write() as conn:
        if store.dialect == "postgresql":
            info = conn.connection.info
            created = not info.get(_STAGED)
            if created:
                bulk.create_staging(conn, _STAGED_TABLES)
            with rollups.batch_mode(conn):  # whether it switched or not, every statement is followed
                _write_postgres(conn, batch, started, ended)
        else:
            created = False
            bulk.create_staging(conn, _STAGED_TABLES)
            with rollups.batch_mode(conn) as fold:
                _write_sqlite(conn, batch, started, ended, fold=fold)
        writer.add_audit_events(conn, batch.audits)
    if created:  # committed: the connection's staging tables outlive this transaction
        info[_STAGED] = True


_STAGED = "waxell_staging"  # key in a pooled PostgreSQL connection's info: its staging tables exist
_STAGED_TABLES = (runs, llm_calls, steps, spans, scores)


def _write_postgres(
    conn: Connection, batch: RowBatch, started: list[tuple[Any, ...]], ended: list[tuple[Any, ...]]
) -> None:
    """One statement per table: the statement-level triggers fold each one's rows."""
    bulk.insert_staged(conn, runs, RUN_COLUMNS, started)
    bulk.insert_staged(conn, runs, RUN_COLUMNS, ended, conflict="update", key=("run_id",))
    bulk.insert_staged(conn, llm_calls, LLM_COLUMNS, batch.llm_calls)
    bulk.insert_staged(conn, steps, STEP_COLUMNS, batch.steps)
    bulk.insert_staged(conn, spans, SPAN_COLUMNS, batch.spans)
    bulk.insert_staged(conn, scores, SCORE_COLUMNS, batch.scores)


def _write_sqlite(
    conn: Connection,
    batch: RowBatch,
    started: list[tuple[Any, ...]],
    ended: list[tuple[Any, ...]],
    *,
    fold: bool,
) -> None:
    """Runs first, then the rollups moved from their snapshot to them; then the records, then the
    rollups of the LLM calls that were not stored yet (noted before inserting: an insert does not
    say which rows it skipped). Tables with (stood-aside) triggers are written by one statement
    each; the others by ``executemany``. Without ``fold`` (the triggers did not stand aside: see
    ``rollups.batch_mode``) only the rows are written, and the triggers follow them."""
    if not fold:
        bulk.insert_staged(conn, runs, RUN_COLUMNS, started)
        bulk.insert_staged(conn, runs, RUN_COLUMNS, ended, conflict="update", key=("run_id",))
        bulk.insert_staged(conn, llm_calls, LLM_COLUMNS, batch.llm_calls)
        bulk.insert_rows(conn, steps, STEP_COLUMNS, batch.steps)
        bulk.insert_rows(conn, spans, SPAN_COLUMNS, batch.spans)
        bulk.insert_rows(conn, scores, SCORE_COLUMNS, batch.scores)
        return
    with bulk.driver_cursor(conn, "write_batch") as cursor:  # ~30 statements: the driver's own, directly
        for statement in _SQLITE_TEMP_TABLES:
            cursor.execute(statement)
        run_ids = [row[0] for row in (*started, *ended)]  # the rows' own ids: what is really written
        if run_ids:
            cursor.execute(_NOTE_RUNS, (json.dumps(run_ids),))
            stored_before = cursor.execute(_SNAPSHOT).rowcount
            bulk.insert_staged(conn, runs, RUN_COLUMNS, started)
            bulk.insert_staged(conn, runs, RUN_COLUMNS, ended, conflict="update", key=("run_id",))
            for statement in _RUN_CHANGES if stored_before else _NEW_RUNS:
                cursor.execute(statement)
        if batch.llm_calls:
            cursor.execute(_NOTE_NEW_CALLS, (json.dumps([row[0] for row in batch.llm_calls]),))
            bulk.insert_staged(conn, llm_calls, LLM_COLUMNS, batch.llm_calls)
            for statement in _CALL_CHANGES:
                cursor.execute(statement)
        bulk.insert_rows(conn, steps, STEP_COLUMNS, batch.steps)
        bulk.insert_rows(conn, spans, SPAN_COLUMNS, batch.spans)
        bulk.insert_rows(conn, scores, SCORE_COLUMNS, batch.scores)
        for table in (_TOUCHED, _OLD_RUNS, _NEW_CALLS):
            cursor.execute(f"DELETE FROM {table}")


# SQLite: per-connection temporary tables (never written to the store's file) holding the
# batch's run ids, the old versions of those already stored, and the ids of the new LLM calls.
_TOUCHED, _OLD_RUNS, _NEW_CALLS = "temp.wx_batch_runs", "temp.wx_batch_old_runs", "temp.wx_batch_calls"
_SQLITE_TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS wx_batch_runs (run_id TEXT PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS wx_batch_old_runs "
    f"({', '.join(rollup_sets.RUN_FOLD_COLUMNS)}, PRIMARY KEY (run_id))",
    "CREATE TEMP TABLE IF NOT EXISTS wx_batch_calls (id TEXT PRIMARY KEY)",
)
_NOTE_RUNS = f"INSERT OR IGNORE INTO {_TOUCHED} (run_id) SELECT value FROM json_each(?)"
_SNAPSHOT = (
    f"INSERT INTO {_OLD_RUNS} SELECT {', '.join(rollup_sets.RUN_FOLD_COLUMNS)} FROM runs "
    f"WHERE run_id IN (SELECT run_id FROM {_TOUCHED})"
)
_WRITTEN_RUNS = f"(SELECT * FROM runs WHERE run_id IN (SELECT run_id FROM {_TOUCHED}))"
_RUN_CHANGES = tuple(rollup_sets.run_changes("sqlite", _OLD_RUNS, _WRITTEN_RUNS, partner="runs"))
_NEW_RUNS = tuple(rollup_sets.run_changes("sqlite", None, _WRITTEN_RUNS))  # when none was stored before
_NOTE_NEW_CALLS = (
    f"INSERT OR IGNORE INTO {_NEW_CALLS} (id) SELECT j.value FROM json_each(?) AS j "
    f"WHERE NOT EXISTS (SELECT 1 FROM llm_calls AS c WHERE c.id = j.value)"
)
_CALL_CHANGES = tuple(
    rollup_sets.call_changes(
        "sqlite", None, f"(SELECT * FROM llm_calls WHERE id IN (SELECT id FROM {_NEW_CALLS}))"
    )
)
