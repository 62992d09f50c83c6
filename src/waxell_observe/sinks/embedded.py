"""The embedded sink: runs go to the local store (SQLite by default) when no ``api_url`` is set.

A plugin like any other (entry point ``embedded``). On the agent's thread it only
appends to a bounded queue; a background worker converts records to rows and writes each
batch in one transaction. ``waxell_observe.flush()`` waits for the writes.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any, Callable

from waxell_observe.config import ObserveConfig
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.delivery.worker import BackgroundWorker, RetryLater
from waxell_observe.plugins import hookimpl
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
from waxell_observe.run import Run

logger = logging.getLogger("waxell_observe")

NAME = "embedded"

# Queue items: (operation, store url, run id, payload)
_Item = tuple[str, str, str, Any]

_worker: BackgroundWorker[_Item] | None = None
_worker_lock = threading.Lock()


def _get_worker(max_queue: int) -> BackgroundWorker[_Item]:
    global _worker
    worker = _worker
    if worker is None:
        with _worker_lock:
            if _worker is None:
                _worker = BackgroundWorker(NAME, _write_batch, max_queue=max_queue)
            worker = _worker
    return worker


def _active(run: Run) -> bool:
    return run.config.mode == "embedded"


def waxell_active(config: ObserveConfig) -> bool:
    """Record hooks skip this sink for runs sent to a control plane."""
    return config.mode == "embedded"


# -- hooks: the agent's thread -----------------------------------------------------------


@hookimpl
def on_run_start(run: Run) -> None:
    if _active(run):
        _get_worker(run.config.max_queue).put(("start", run.config.db_url, run.run_id, run))


@hookimpl
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    if _active(run):
        _get_worker(run.config.max_queue).put(("llm", run.config.db_url, run.run_id, call))


@hookimpl
def on_step(run: Run, step: StepRecord) -> None:
    if _active(run):
        _get_worker(run.config.max_queue).put(("step", run.config.db_url, run.run_id, step))


@hookimpl
def on_span(run: Run, span: SpanRecord) -> None:
    if _active(run):
        audit = None
        if span.kind == "policy":
            audit = {
                "agent_name": run.agent_name,
                "workflow_name": run.workflow_name,
            }
        _get_worker(run.config.max_queue).put(("span", run.config.db_url, run.run_id, (span, audit)))


@hookimpl
def on_score(run: Run, score: ScoreRecord) -> None:
    if _active(run):
        _get_worker(run.config.max_queue).put(("score", run.config.db_url, run.run_id, score))


@hookimpl
def on_run_end(run: Run) -> None:
    if _active(run):
        _get_worker(run.config.max_queue).put(("end", run.config.db_url, run.run_id, run))


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    return _worker.flush(timeout) if _worker is not None else None


@hookimpl
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    return _worker.shutdown(timeout) if _worker is not None else None


# -- the worker's side ------------------------------------------------------------------

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


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit]


def run_row(run: Run, encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    """The run's current state as a ``runs`` row (``RUN_COLUMNS`` order; totals included:
    the run counts them).

    Built on the worker from the live run: ``dict()`` copies of its dicts are atomic under
    the GIL, and a start row that already shows later state is harmless (the end row wins).
    """
    return (
        run.run_id,
        _cut(run.agent_name, 256),
        _cut(run.workflow_name, 256),
        run.status,
        run.error,
        _cut(run.error_type, 256),
        run.traceback,
        _cut(run.session_id, 256),
        _cut(run.user_id, 256),
        _cut(run.user_group, 256),
        run.parent_run_id,
        run.root_run_id,
        run.interaction_mode,
        run.started_at,
        run.ended_at or None,
        encode(run.inputs),
        encode(dict(run.metadata)),
        encode(dict(run.tags)),
        encode(run.result),
        encode(run.conversation_state()),
        encode(run.governance.to_dict() if run.governance is not None else {}),
        run.auto_collected,
        run.tokens_in,
        run.tokens_out,
        run.total_cost,
        run.llm_call_count,
        run.step_count,
        run.span_count,
        _trace_id(run),
        "sdk",
    )


def _trace_id(run: Run) -> str:
    """The run's OpenTelemetry trace id when an exporter traced it (32 hex characters), else ""."""
    state = run.plugin_state.get("otel")
    trace_id = state.get("trace_id") if isinstance(state, dict) else None
    if isinstance(trace_id, int):
        return f"{trace_id:032x}"
    return trace_id if isinstance(trace_id, str) else ""


def _llm_row(run_id: str, call: LLMCallRecord, encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        call.id,
        run_id,
        call.position,
        _cut(call.model, 256),
        _cut(call.provider, 64),
        call.tokens_in,
        call.tokens_out,
        call.cost,
        _cut(call.task, 256),
        call.prompt_preview,
        call.response_preview,
        _cut(str(call.attributes.get("prompt_hash", "")), 128),
        call.duration_ms,
        call.status,
        _cut(call.error_type, 256),
        call.error_message,
        call.started_at,
        call.parent_span_id,
        encode(call.attributes),
    )


def _step_row(run_id: str, step: StepRecord, encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (step.id, run_id, step.position, step.seq, _cut(step.name, 512), encode(step.output), step.started_at)


def _span_row(run_id: str, span: SpanRecord, encode: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        span.id,
        run_id,
        span.position,
        span.kind,
        _cut(span.name, 512),
        span.status,
        span.duration_ms,
        span.started_at,
        span.parent_span_id,
        encode(span.attributes),
        encode(span.input),
        encode(span.output),
        span.error,
    )


def _score_row(run_id: str, score: ScoreRecord) -> tuple[Any, ...]:
    from waxell_observe.store.writer import score_row

    row = score_row(score.name, score.value, score.data_type, score.comment)
    return (
        score.id,
        run_id,
        _cut(score.name, 256),
        score.data_type,
        row["numeric_value"],
        row["string_value"],
        score.comment,
        score.created_at,
    )


def _audit_row(run_id: str, span: SpanRecord, names: dict[str, str]) -> dict[str, Any]:
    attributes = span.attributes
    return {
        "ts": span.started_at,
        "run_id": run_id,
        "agent_name": names["agent_name"],
        "workflow_name": names["workflow_name"],
        "event": "policy_decision",
        "policy_name": str(attributes.get("policy_name", span.name)),
        "category": str(attributes.get("category", "")),
        "action": str(attributes.get("action", "")),
        "reason": str(attributes.get("reason", "")),
        "phase": str(attributes.get("phase", "")),
        "metadata": attributes.get("metadata") or {},
    }


def _write_batch(items: list[_Item]) -> None:
    by_store: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        by_store[item[1]].append(item)
    for url, store_items in by_store.items():
        _write_store_batch(url, store_items)


def _write_store_batch(url: str, items: list[_Item]) -> None:
    from sqlalchemy.exc import DBAPIError, OperationalError

    from waxell_observe.store import bulk, get_store, writer
    from waxell_observe.store.schema import llm_calls, runs, scores, spans, steps

    try:
        store = get_store(url)
        encode = bulk.json_encoder(store.dialect)
        starts: dict[str, Run] = {}
        ends: dict[str, Run] = {}
        llm_rows: list[tuple[Any, ...]] = []
        step_rows: list[tuple[Any, ...]] = []
        span_rows: list[tuple[Any, ...]] = []
        score_rows: list[tuple[Any, ...]] = []
        audits: list[dict[str, Any]] = []
        for operation, _url, run_id, payload in items:
            if operation == "llm":
                llm_rows.append(_llm_row(run_id, payload, encode))
            elif operation == "step":
                step_rows.append(_step_row(run_id, payload, encode))
            elif operation == "span":
                span, audit_names = payload
                span_rows.append(_span_row(run_id, span, encode))
                if audit_names is not None:
                    audits.append(_audit_row(run_id, span, audit_names))
            elif operation == "score":
                score_rows.append(_score_row(run_id, payload))
            elif operation == "start":
                starts[run_id] = payload
            elif operation == "end":
                # The end row is a full snapshot: a start in the same batch is not needed.
                starts.pop(run_id, None)
                ends[run_id] = payload
        with store.write() as conn:
            bulk.insert_rows(conn, runs, RUN_COLUMNS, [run_row(run, encode) for run in starts.values()])
            bulk.insert_rows(conn, llm_calls, LLM_COLUMNS, llm_rows)
            bulk.insert_rows(conn, steps, STEP_COLUMNS, step_rows)
            bulk.insert_rows(conn, spans, SPAN_COLUMNS, span_rows)
            bulk.insert_rows(conn, scores, SCORE_COLUMNS, score_rows)
            bulk.insert_rows(
                conn,
                runs,
                RUN_COLUMNS,
                [run_row(run, encode) for run in ends.values()],
                conflict="update",
                key=("run_id",),
            )
            writer.add_audit_events(conn, audits)
    except OperationalError as exc:
        raise RetryLater(str(exc).splitlines()[0]) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise RetryLater(str(exc).splitlines()[0]) from exc
        raise
