"""Storing what the wire protocol delivers: one function per endpoint, each inside the caller's
write transaction (so a batch is stored whole or not at all).

Records become rows of the same shape the embedded sink writes. Retries are idempotent:
records are keyed by their ``id`` when the client sends one, else by an id derived from the
run and the record's ``position``; only records that carry neither are stored again when a
batch is delivered twice. Run totals are recomputed from the stored records after every batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, func, select, update

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.records import SPAN_KINDS, new_id
from waxell_observe.server.behaviours import behaviour_span
from waxell_observe.server.limits import TEXT_LIMIT, TRACEBACK_LIMIT
from waxell_observe.server.sanitize import clean_json, clean_text, cut, cut_tail
from waxell_observe.server.values import as_str
from waxell_observe.server.wire_models import (
    CompleteBody,
    EventIn,
    GovernanceDecisionBody,
    LLMCallIn,
    RunStartBody,
    ScoreIn,
    SpanIn,
    StepIn,
)
from waxell_observe.store import writer
from waxell_observe.store.schema import llm_calls, runs, spans, steps

__all__ = [
    "RunRef",
    "derived_id",
    "lock_run",
    "run_exists",
    "start_run",
    "add_llm_calls",
    "add_steps",
    "add_spans",
    "add_scores",
    "complete_run",
    "store_governance",
    "add_events",
    "add_governance_decisions",
    "SPAN_KINDS_FROM_WIRE",
]

SPAN_KINDS_FROM_WIRE = {
    "agent": "agent",
    "llm": "llm",
    "chain": "chain",
    "tool": "tool",
    "retriever": "retrieval",
    "retrieval": "retrieval",
    "decision": "decision",
    "reasoning": "reasoning",
    "retry": "retry",
    "io": "io",
    "governance": "policy",
    "policy": "policy",
    "custom": "custom",
}
"""Wire span kinds → stored span kinds (any other kind is stored as ``custom``)."""


@dataclass(frozen=True)
class RunRef:
    """What the ingest functions need to know about the run they add records to."""

    run_id: str
    agent_name: str
    workflow_name: str
    started_at: float
    metadata: dict[str, Any]
    tags: dict[str, Any]


def derived_id(run_id: str, namespace: str, position: int) -> str:
    """A stable record id from the run and the record's position (makes retries idempotent)."""
    return hashlib.sha256(f"{run_id}/{namespace}/{position}".encode()).hexdigest()[:32]


def run_exists(conn: Connection, run_id: str) -> bool:
    return conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is not None


def lock_run(conn: Connection, run_id: str) -> RunRef | None:
    """The run, locked for this transaction (PostgreSQL ``FOR UPDATE``; SQLite writes are
    serialised anyway), or ``None`` when unknown."""
    query = select(
        runs.c.run_id, runs.c.agent_name, runs.c.workflow_name, runs.c.started_at, runs.c.metadata, runs.c.tags
    ).where(runs.c.run_id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return RunRef(row.run_id, row.agent_name, row.workflow_name, row.started_at, row.metadata or {}, row.tags or {})


class _Positions:
    """Hands out positions to records that arrive without one: after every stored and given one."""

    def __init__(self, conn: Connection, table: Table, run_id: str, given: Iterable[int | None]) -> None:
        self._conn, self._table, self._run_id = conn, table, run_id
        self._given_max = max((p for p in given if p is not None), default=0)
        self._next: int | None = None

    def take(self, given: int | None) -> int:
        if given is not None:
            return given
        if self._next is None:
            table = self._table
            stored = self._conn.execute(
                select(func.coalesce(func.max(table.c.position), 0)).where(table.c.run_id == self._run_id)
            ).scalar_one()
            self._next = max(int(stored), self._given_max) + 1
        position = self._next
        self._next += 1
        return position


def _tags(value: dict[str, Any] | None) -> dict[str, str]:
    if not value:
        return {}
    return {clean_text(str(k))[:256]: as_str(v, limit=1024) for k, v in value.items()}


def _conversation(state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Split a wire ``conversation_state`` into the stored conversation and the metadata copy."""
    if state is None:
        return None, None
    cleaned = clean_json(state)
    metadata = cleaned.pop("metadata", None)
    return cleaned, metadata if isinstance(metadata, dict) else None


def _apply_conversation(conn: Connection, run: RunRef, state: dict[str, Any] | None) -> None:
    conversation, metadata = _conversation(state)
    if conversation is None:
        return
    values: dict[str, Any] = {"conversation": conversation}
    if metadata:
        values["metadata"] = {**run.metadata, **metadata}
    conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(**values))


# -- runs/start ------------------------------------------------------------------------------


def start_run(conn: Connection, body: RunStartBody, now: float) -> tuple[str, float, bool]:
    """Store a run start; returns ``(run_id, started_at, created)``.

    The client's ``run_id`` is used when free. When a run with that id exists for the same
    agent and workflow, the start is a retry: that run is returned (``created`` False).
    Otherwise (no id, or an id taken by another run) a new id is generated.
    """
    agent_name = cut(body.agent_name, 256)
    workflow_name = cut(body.workflow_name, 256) or "default"
    if body.run_id:
        existing = conn.execute(
            select(runs.c.agent_name, runs.c.workflow_name, runs.c.started_at).where(runs.c.run_id == body.run_id)
        ).first()
        if existing is None:
            run_id = body.run_id
        elif existing.agent_name == agent_name and existing.workflow_name == workflow_name:
            return body.run_id, float(existing.started_at), False
        else:
            run_id = new_id()
    else:
        run_id = new_id()
    session_id = cut(body.session_id, 256)
    parent = cut(body.parent_workflow_id, 64)
    mode = body.interaction_mode if body.interaction_mode in ("interactive", "autonomous") else None
    governance: dict[str, Any] = {}
    if body.pre_execution_evaluations:
        governance["pre_execution_evaluations"] = clean_json(body.pre_execution_evaluations)
    started_at = body.started_at if body.started_at is not None else now
    writer.start_run(
        conn,
        {
            "run_id": run_id,
            "agent_name": agent_name,
            "workflow_name": workflow_name,
            "status": "running",
            "session_id": session_id,
            "user_id": cut(body.user_id, 256),
            "user_group": cut(body.user_group, 256),
            "parent_run_id": parent,
            "root_run_id": cut(body.root_workflow_id, 64) or parent,
            "trace_id": cut(body.trace_id, 64),
            "interaction_mode": mode or ("interactive" if session_id else "autonomous"),
            "started_at": started_at,
            "ended_at": None,
            "inputs": clean_json(body.inputs or {}),
            "metadata": clean_json(body.metadata or {}),
            "tags": _tags(body.tags),
            "result": {},
            "conversation": {},
            "governance": governance,
            "auto_collected": bool(body.auto_collected),
        },
    )
    row = conn.execute(select(runs.c.started_at).where(runs.c.run_id == run_id)).first()
    return run_id, float(row.started_at) if row is not None else started_at, True


# -- records ----------------------------------------------------------------------------------


def add_llm_calls(
    conn: Connection, run: RunRef, calls: Sequence[LLMCallIn], conversation_state: dict[str, Any] | None, now: float
) -> None:
    positions = _Positions(conn, llm_calls, run.run_id, (c.position for c in calls))
    rows = []
    for call in calls:
        model = cut(call.model, 256)
        tokens_in, tokens_out = call.tokens_in or 0, call.tokens_out or 0
        attributes = clean_json(call.attributes) if call.attributes else {}
        cost = call.cost
        if not cost:
            cached = attributes.get("cached_tokens_in")
            cached = cached if isinstance(cached, int) and not isinstance(cached, bool) else 0
            cost = estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached)
        position = positions.take(call.position)
        started_at = call.started_at if call.started_at is not None else now - (call.duration_ms or 0.0) / 1000.0
        rows.append(
            {
                "id": call.id or (derived_id(run.run_id, "llm", call.position) if call.position is not None else new_id()),
                "position": position,
                "model": model,
                "provider": cut(call.provider, 64) or infer_provider(model),
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "cost": float(cost),
                "task": cut(call.task, 256),
                "prompt_preview": cut(call.prompt_preview),
                "response_preview": cut(call.response_preview),
                "prompt_hash": cut(call.prompt_hash, 128) or as_str(attributes.get("prompt_hash"), limit=128),
                "duration_ms": call.duration_ms,
                "status": call.status or "ok",
                "error_type": cut(call.error_type, 256),
                "error_message": cut(call.error_message),
                "started_at": max(started_at, 0.0),
                "parent_span_id": cut(call.parent_span_id, 64),
                "attributes": attributes,
            }
        )
    writer.add_llm_calls(conn, run.run_id, rows)
    _apply_conversation(conn, run, conversation_state)
    writer.refresh_totals(conn, [run.run_id])


def _step_rows(
    conn: Connection, run: RunRef, batch: Sequence[StepIn], now: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split steps into plain step rows and behaviour span rows."""
    step_positions = _Positions(conn, steps, run.run_id, (s.position for s in batch))
    span_positions: _Positions | None = None
    step_rows: list[dict[str, Any]] = []
    span_rows: list[dict[str, Any]] = []
    for step in batch:
        name = cut(step.step_name, 512)
        span = behaviour_span(name, step.output)
        if span is None:
            position = step_positions.take(step.position)
            step_rows.append(
                {
                    "id": step.id or derived_id(run.run_id, "step", position),
                    "position": position,
                    "name": name,
                    "seq": step.seq or 0,
                    "output": clean_json(step.output) if step.output is not None else None,
                    "started_at": step.started_at if step.started_at is not None else now,
                }
            )
            continue
        given = step.seq if step.seq else step.position
        if given is None and span_positions is None:
            span_positions = _Positions(conn, spans, run.run_id, ())
        position = given if given is not None else span_positions.take(None)  # type: ignore[union-attr]
        duration = span["duration_ms"]
        started = step.started_at if step.started_at is not None else now - (duration or 0.0) / 1000.0
        span_rows.append(
            {
                **span,
                "id": step.id or (derived_id(run.run_id, "step", given) if given is not None else new_id()),
                "position": position,
                "started_at": max(started, 0.0),
                "parent_span_id": "",
            }
        )
    return step_rows, span_rows


def add_steps(
    conn: Connection, run: RunRef, batch: Sequence[StepIn], conversation_state: dict[str, Any] | None, now: float
) -> None:
    step_rows, span_rows = _step_rows(conn, run, batch, now)
    writer.add_steps(conn, run.run_id, step_rows)
    _insert_spans(conn, run, span_rows)
    _apply_conversation(conn, run, conversation_state)
    writer.refresh_totals(conn, [run.run_id])


def _span_error(span: SpanIn) -> str:
    if span.error:
        return cut(span.error)
    if span.status != "error" or not span.events:
        return ""
    for event in span.events:
        if isinstance(event, dict):
            nested = event.get("attributes")
            attributes: dict[str, Any] = nested if isinstance(nested, dict) else event
            for key in ("exception.message", "message", "error"):
                if key in attributes:
                    return as_str(attributes[key])
    return ""


def add_spans(conn: Connection, run: RunRef, batch: Sequence[SpanIn], now: float) -> None:
    positions = _Positions(conn, spans, run.run_id, (s.position for s in batch))
    ids_by_position = {s.position: s.id for s in batch if s.position is not None and s.id}
    rows = []
    for span in batch:
        wire_kind = span.kind or "custom"
        if span.waxell_kind in SPAN_KINDS:
            kind = span.waxell_kind
        else:
            kind = SPAN_KINDS_FROM_WIRE.get(wire_kind, "custom")
        attributes = clean_json(span.attributes) if span.attributes else {}
        if kind == "custom" and wire_kind != "custom":
            attributes.setdefault("wire_kind", cut(wire_kind, 64))
        if span.events:
            attributes["events"] = clean_json(span.events)
        if span.started_at is not None:
            started = span.started_at
        elif span.start_offset_ms is not None:
            started = run.started_at + span.start_offset_ms / 1000.0
        else:
            started = now - (span.duration_ms or 0.0) / 1000.0
        parent = cut(span.parent_span_id, 64)
        if not parent and span.parent_position is not None:
            parent = ids_by_position.get(span.parent_position) or derived_id(run.run_id, "span", span.parent_position)
        position = positions.take(span.position)
        rows.append(
            {
                "id": span.id or (derived_id(run.run_id, "span", span.position) if span.position is not None else new_id()),
                "position": position,
                "kind": kind,
                "name": cut(span.name, 512),
                "status": span.status or "ok",
                "duration_ms": span.duration_ms,
                "started_at": max(started, 0.0),
                "parent_span_id": parent,
                "attributes": attributes,
                "input": clean_json(span.input_data),
                "output": clean_json(span.output_data),
                "error": _span_error(span),
            }
        )
    _insert_spans(conn, run, rows)
    writer.refresh_totals(conn, [run.run_id])


def _insert_spans(conn: Connection, run: RunRef, rows: list[dict[str, Any]]) -> None:
    """Insert span rows; policy spans stored for the first time also go to the audit trail
    (as the embedded sink does)."""
    if not rows:
        return
    policy_rows = [r for r in rows if r["kind"] == "policy"]
    fresh: list[dict[str, Any]] = []
    if policy_rows:
        known = set(
            conn.execute(select(spans.c.id).where(spans.c.id.in_([r["id"] for r in policy_rows]))).scalars()
        )
        fresh = [r for r in policy_rows if r["id"] not in known]
    writer.add_spans(conn, run.run_id, rows)
    writer.add_audit_events(conn, [_policy_audit_row(run, r) for r in fresh])


def _policy_audit_row(run: RunRef, span: dict[str, Any]) -> dict[str, Any]:
    attributes = span["attributes"]
    metadata = attributes.get("metadata")
    return {
        "ts": span["started_at"],
        "run_id": run.run_id,
        "agent_name": run.agent_name,
        "workflow_name": run.workflow_name,
        "event": "policy_decision",
        "policy_name": as_str(attributes.get("policy_name", span["name"]), limit=256),
        "category": as_str(attributes.get("category"), limit=64),
        "action": as_str(attributes.get("action"), limit=16),
        "reason": as_str(attributes.get("reason")),
        "phase": as_str(attributes.get("phase"), limit=32),
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def add_scores(conn: Connection, run: RunRef, batch: Sequence[ScoreIn], now: float) -> None:
    rows = [
        writer.score_row(
            cut(score.name, 256),
            clean_text(score.value) if isinstance(score.value, str) else score.value,
            score.data_type or "numeric",
            cut(score.comment),
            id=score.id or new_id(),
            run_id=run.run_id,
            created_at=score.created_at if score.created_at is not None else now,
        )
        for score in batch
    ]
    writer.add_scores(conn, run.run_id, rows)


# -- runs/{id}/complete -------------------------------------------------------------------------


def complete_run(conn: Connection, run: RunRef, body: CompleteBody, now: float) -> float:
    """Store a run's completion; returns its duration in seconds."""
    if body.steps:
        add_steps(conn, run, body.steps, None, now)
    ended_at = body.ended_at if body.ended_at is not None else now
    ended_at = max(ended_at, run.started_at)
    result = body.result
    if result is None:
        result = {}
    elif not isinstance(result, dict):
        result = {"output": result}
    error = cut(body.error)
    values: dict[str, Any] = {
        "status": body.status or ("error" if error else "success"),
        "error": error,
        "error_type": cut(body.error_type, 256),
        "traceback": cut_tail(body.traceback, TRACEBACK_LIMIT),
        "result": clean_json(result),
        "ended_at": ended_at,
    }
    if body.trace_id:
        values["trace_id"] = cut(body.trace_id, 64)
    if body.tags:
        values["tags"] = {**run.tags, **_tags(body.tags)}
    metadata = dict(run.metadata)
    if body.metadata:
        metadata.update(clean_json(body.metadata))
    conversation, conversation_metadata = _conversation(body.conversation_state)
    if conversation is not None:
        values["conversation"] = conversation
        if conversation_metadata and not body.metadata:
            metadata.update(conversation_metadata)
    if metadata != run.metadata:
        values["metadata"] = metadata
    if body.governance:
        values["governance"] = clean_json(body.governance)
    writer.complete_run(conn, run.run_id, values)
    writer.refresh_totals(conn, [run.run_id])
    return round(ended_at - run.started_at, 6)


def store_governance(conn: Connection, run_id: str, governance: dict[str, Any]) -> None:
    """Keep the post-execution policy outcome on the run (``governance`` column)."""
    conn.execute(update(runs).where(runs.c.run_id == run_id).values(governance=clean_json(governance)))


# -- audit trail ----------------------------------------------------------------------------------


def add_events(conn: Connection, batch: Sequence[EventIn], now: float) -> None:
    rows = []
    for event in batch:
        metadata = clean_json(event.metadata) if event.metadata else {}
        rows.append(
            {
                "ts": now,
                "run_id": cut(event.workflow_id, 64),
                "agent_name": cut(event.agent_name, 256),
                "workflow_name": cut(event.workflow_name, 256),
                "event": cut(event.event, 64) or "event",
                "policy_name": as_str(metadata.get("policy_name", metadata.get("policy")), limit=256),
                "category": as_str(metadata.get("category"), limit=64),
                "action": as_str(metadata.get("action"), limit=16),
                "reason": as_str(metadata.get("reason"), limit=TEXT_LIMIT),
                "phase": as_str(metadata.get("phase"), limit=32),
                "metadata": metadata,
            }
        )
    writer.add_audit_events(conn, rows)


_PHASE_OF_SURFACE = {"run.start": "pre_execution", "run.complete": "post_execution"}


def add_governance_decisions(conn: Connection, body: GovernanceDecisionBody, now: float) -> bool:
    """Store each decision in the audit trail; returns whether the run is known."""
    run_id = cut(body.workflow_id, 64)
    found = bool(run_id) and len(body.workflow_id or "") <= 64 and run_exists(conn, run_id)
    surface = cut(body.surface, 64)
    workflow_name = ""
    if found:
        workflow_name = conn.execute(select(runs.c.workflow_name).where(runs.c.run_id == run_id)).scalar_one()
    rows = [
        {
            "ts": now,
            "run_id": run_id,
            "agent_name": cut(body.agent_name, 256),
            "workflow_name": workflow_name,
            "event": "governance_decision",
            "policy_name": cut(decision.policy, 256),
            "category": cut(decision.category, 64),
            "action": cut(decision.action, 16),
            "reason": cut(decision.reason),
            "phase": _PHASE_OF_SURFACE.get(surface, "mid_execution" if surface else ""),
            "metadata": {"surface": surface, "span_only": bool(body.span_only)},
        }
        for decision in body.decisions or ()
    ]
    writer.add_audit_events(conn, rows)
    return found
