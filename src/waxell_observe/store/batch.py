"""Writing a batch of runs and records in one transaction: the embedded store's ingest path.

The pipeline's store destination turns journal frames into rows (tuples in the column
orders below) and hands a :class:`RowBatch` to :func:`write_batch`. Every write is
idempotent (client-chosen ids; run rows upserted), so a batch written twice — a retry
after a crash between the write and its acknowledgement — stores each record once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from waxell_observe.store import bulk, writer
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
SCORE_COLUMNS = ("id", "run_id", "name", "data_type", "numeric_value", "string_value", "comment", "created_at")


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
        return bool(self.started or self.ended or self.llm_calls or self.steps or self.spans or self.scores)


def write_batch(store: Store, batch: RowBatch) -> None:
    """Write ``batch`` in one transaction (raises the database's error: the caller retries)."""
    started = [row for run_id, row in batch.started.items() if run_id not in batch.ended]
    with store.write() as conn:
        bulk.insert_rows(conn, runs, RUN_COLUMNS, started)
        bulk.insert_rows(conn, llm_calls, LLM_COLUMNS, batch.llm_calls)
        bulk.insert_rows(conn, steps, STEP_COLUMNS, batch.steps)
        bulk.insert_rows(conn, spans, SPAN_COLUMNS, batch.spans)
        bulk.insert_rows(conn, scores, SCORE_COLUMNS, batch.scores)
        bulk.insert_rows(conn, runs, RUN_COLUMNS, list(batch.ended.values()), conflict="update", key=("run_id",))
        writer.add_audit_events(conn, batch.audits)
