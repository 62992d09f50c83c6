"""The embedded sink: runs go to the local store (SQLite by default) when no ``api_url`` is set.

A plugin like any other (entry point ``embedded``). On the agent's thread it only
appends to a bounded queue; a background worker converts records to rows and writes each
batch in one transaction. ``waxell_observe.flush()`` waits for the writes.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

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


def run_row(run: Run) -> dict[str, Any]:
    """The run's current state as a ``runs`` row."""
    return {
        "run_id": run.run_id,
        "agent_name": run.agent_name,
        "workflow_name": run.workflow_name,
        "status": run.status,
        "error": run.error,
        "error_type": run.error_type,
        "traceback": run.traceback,
        "session_id": run.session_id,
        "user_id": run.user_id,
        "user_group": run.user_group,
        "parent_run_id": run.parent_run_id,
        "root_run_id": run.root_run_id,
        "interaction_mode": run.interaction_mode,
        "started_at": run.started_at,
        "ended_at": run.ended_at or None,
        "inputs": run.inputs,
        "metadata": dict(run.metadata),
        "tags": dict(run.tags),
        "result": run.result,
        "conversation": run.conversation_state(),
        "governance": run.governance.to_dict() if run.governance is not None else {},
        "auto_collected": run.auto_collected,
    }


# -- hooks: the agent's thread -----------------------------------------------------------


@hookimpl
def on_run_start(run: Run) -> None:
    if _active(run):
        _get_worker(run.config.max_queue).put(("start", run.config.db_url, run.run_id, run_row(run)))


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
        _get_worker(run.config.max_queue).put(("end", run.config.db_url, run.run_id, run_row(run)))


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    return _worker.flush(timeout) if _worker is not None else None


@hookimpl
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    return _worker.shutdown(timeout) if _worker is not None else None


# -- the worker's side ------------------------------------------------------------------


def _llm_row(call: LLMCallRecord) -> dict[str, Any]:
    return {
        "id": call.id,
        "position": call.position,
        "model": call.model,
        "provider": call.provider,
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "cost": call.cost,
        "task": call.task,
        "prompt_preview": call.prompt_preview,
        "response_preview": call.response_preview,
        "prompt_hash": call.attributes.get("prompt_hash", ""),
        "duration_ms": call.duration_ms,
        "status": call.status,
        "error_type": call.error_type,
        "error_message": call.error_message,
        "started_at": call.started_at,
        "parent_span_id": call.parent_span_id,
        "attributes": call.attributes,
    }


def _step_row(step: StepRecord) -> dict[str, Any]:
    return {
        "id": step.id,
        "position": step.position,
        "seq": step.seq,
        "name": step.name,
        "output": step.output,
        "started_at": step.started_at,
    }


def _span_row(span: SpanRecord) -> dict[str, Any]:
    return {
        "id": span.id,
        "position": span.position,
        "kind": span.kind,
        "name": span.name,
        "status": span.status,
        "duration_ms": span.duration_ms,
        "started_at": span.started_at,
        "parent_span_id": span.parent_span_id,
        "attributes": span.attributes,
        "input": span.input,
        "output": span.output,
        "error": span.error,
    }


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

    from waxell_observe.store import get_store, writer
    from waxell_observe.store.schema import llm_calls, runs, scores, spans, steps

    starts: list[dict[str, Any]] = []
    ends: list[tuple[str, dict[str, Any]]] = []
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    audits: list[dict[str, Any]] = []
    touched: set[str] = set()
    for operation, _url, run_id, payload in items:
        if operation == "start":
            starts.append(payload)
        elif operation == "end":
            ends.append((run_id, payload))
            touched.add(run_id)
        elif operation == "llm":
            rows["llm"].append({**_llm_row(payload), "run_id": run_id})
            touched.add(run_id)
        elif operation == "step":
            rows["step"].append({**_step_row(payload), "run_id": run_id})
            touched.add(run_id)
        elif operation == "span":
            span, audit_names = payload
            rows["span"].append({**_span_row(span), "run_id": run_id})
            if audit_names is not None:
                audits.append(_audit_row(run_id, span, audit_names))
            touched.add(run_id)
        elif operation == "score":
            score: ScoreRecord = payload
            rows["score"].append(
                writer.score_row(
                    score.name,
                    score.value,
                    score.data_type,
                    score.comment,
                    id=score.id,
                    run_id=run_id,
                    created_at=score.created_at,
                )
            )
    try:
        store = get_store(url)
        with store.write() as conn:
            writer.insert_ignore(conn, runs, starts)
            writer.insert_ignore(conn, llm_calls, rows["llm"])
            writer.insert_ignore(conn, steps, rows["step"])
            writer.insert_ignore(conn, spans, rows["span"])
            writer.insert_ignore(conn, scores, rows["score"])
            for run_id, row in ends:
                if not writer.complete_run(conn, run_id, row):
                    writer.start_run(conn, row)
            writer.refresh_totals(conn, touched)
            writer.add_audit_events(conn, audits)
    except OperationalError as exc:
        raise RetryLater(str(exc).splitlines()[0]) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise RetryLater(str(exc).splitlines()[0]) from exc
        raise
