"""Staging a run's records: wire LLM calls, steps, spans and scores into rows queued on a
:class:`~waxell_observe_server.staged_rows.StagedRows` (ids derived from positions so retries are
idempotent; behaviour steps also become spans; policy spans also become audit rows). Used by the
per-run endpoints and the batch endpoint alike, so both store identical rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.records import SPAN_KINDS, new_id
from waxell_observe.store import writer
from waxell_observe.store.schema import audit_events, llm_calls, scores, spans, steps
from waxell_observe.vocabulary.rows import policy_audit_row
from waxell_observe_server.behaviours import behaviour_span
from waxell_observe_server.run_refs import RunRef, derived_id
from waxell_observe_server.sanitize import clean_json, clean_text, cut
from waxell_observe_server.staged_rows import Positions, StagedRows
from waxell_observe_server.values import as_str
from waxell_observe_server.wire_models import LLMCallIn, ScoreIn, SpanIn, StepIn

__all__ = [
    "SPAN_KINDS_FROM_WIRE",
    "policy_span_audit_row",
    "stage_llm_calls",
    "stage_scores",
    "stage_spans",
    "stage_steps",
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
    "memory": "memory",
    "prompt": "prompt",
    "governance": "policy",
    "policy": "policy",
    "custom": "custom",
}
"""Wire span kinds → stored span kinds (any other kind is stored as ``custom``)."""


def stage_llm_calls(staged: StagedRows, run: RunRef, calls: Sequence[LLMCallIn], now: float) -> None:
    """Queue the rows of LLM calls (missing cost estimated, missing provider inferred)."""
    if not calls:
        return
    positions = Positions(staged, llm_calls, run.run_id, calls)
    rows = []
    run_id = run.run_id
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
        started_at = (
            call.started_at if call.started_at is not None else now - (call.duration_ms or 0.0) / 1000.0
        )
        rows.append(
            {
                "id": call.id
                or (derived_id(run_id, "llm", call.position) if call.position is not None else new_id()),
                "run_id": run_id,
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
    staged.add(llm_calls, rows)


def stage_steps(staged: StagedRows, run: RunRef, batch: Sequence[StepIn], now: float) -> None:
    """Queue steps; behaviour steps (``output._kind``) become span rows (policy audit included)."""
    if not batch:
        return
    run_id = run.run_id
    step_positions = Positions(staged, steps, run_id, batch)
    span_positions: Positions | None = None
    step_rows: list[dict[str, Any]] = []
    span_rows: list[dict[str, Any]] = []
    for step in batch:
        name = cut(step.step_name, 512)
        span = behaviour_span(name, step.output)
        if span is None:
            position = step_positions.take(step.position)
            step_rows.append(
                {
                    "id": step.id or derived_id(run_id, "step", position),
                    "run_id": run_id,
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
            span_positions = Positions(staged, spans, run_id, ())
        position = given if given is not None else span_positions.take(None)  # type: ignore[union-attr]
        duration = span["duration_ms"]
        started = step.started_at if step.started_at is not None else now - (duration or 0.0) / 1000.0
        span_rows.append(
            {
                **span,
                "id": step.id or (derived_id(run_id, "step", given) if given is not None else new_id()),
                "run_id": run_id,
                "position": position,
                "started_at": max(started, 0.0),
                "parent_span_id": "",
            }
        )
    staged.add(steps, step_rows)
    _stage_span_rows(staged, run, span_rows)


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


def stage_spans(staged: StagedRows, run: RunRef, batch: Sequence[SpanIn], now: float) -> None:
    """Queue spans (wire kinds mapped to stored kinds; policy spans also audited)."""
    if not batch:
        return
    run_id = run.run_id
    positions = Positions(staged, spans, run_id, batch)
    ids_by_position: dict[int, str] | None = None  # made when a span names its parent by position
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
            if ids_by_position is None:
                ids_by_position = {s.position: s.id for s in batch if s.position is not None and s.id}
            parent = ids_by_position.get(span.parent_position) or derived_id(
                run_id, "span", span.parent_position
            )
        position = positions.take(span.position)
        rows.append(
            {
                "id": span.id
                or (derived_id(run_id, "span", span.position) if span.position is not None else new_id()),
                "run_id": run_id,
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
    _stage_span_rows(staged, run, rows)


def _stage_span_rows(staged: StagedRows, run: RunRef, rows: list[dict[str, Any]]) -> None:
    """Queue span rows; policy spans stored for the first time also go to the audit trail
    (as the embedded sink does)."""
    if not rows:
        return
    policy_rows = [r for r in rows if r["kind"] == "policy"]
    if not policy_rows:
        staged.add(spans, rows)
        return
    # The policy spans go in now, in order after everything queued before them: the insert says
    # which ones this request stored first (writer.insert_new), and only those are audited.
    staged.add(spans, [r for r in rows if r["kind"] != "policy"])
    staged.flush()
    inserted = writer.insert_new(staged.conn, spans, policy_rows)
    fresh = [r for r in policy_rows if r["id"] in inserted]
    if fresh:
        staged.add(audit_events, [_policy_audit_row(run, r) for r in fresh])


def _policy_audit_row(run: RunRef, span: dict[str, Any]) -> dict[str, Any]:
    return policy_span_audit_row(run.run_id, run.agent_name, run.workflow_name, span)


def policy_span_audit_row(
    run_id: str, agent_name: str, workflow_name: str, span: dict[str, Any]
) -> dict[str, Any]:
    """The audit row of a stored ``policy`` span row (whichever path stores the span first writes it:
    the wire protocol here, the OTLP receiver in ``otlp.store``)."""
    attributes = span["attributes"]
    metadata = attributes.get("metadata")
    return policy_audit_row(
        ts=span["started_at"],
        run_id=run_id,
        agent_name=agent_name,
        workflow_name=workflow_name,
        policy_name=as_str(attributes.get("policy_name", span["name"]), limit=256),
        category=as_str(attributes.get("category"), limit=64),
        action=as_str(attributes.get("action")),  # policy_audit_row keeps what the column holds
        reason=as_str(attributes.get("reason")),
        phase=as_str(attributes.get("phase"), limit=32),
        metadata=metadata if isinstance(metadata, dict) else None,
    )


def stage_scores(staged: StagedRows, run: RunRef, batch: Sequence[ScoreIn], now: float) -> None:
    """Queue scores (booleans as 1.0/0.0 and "true"/"false", categoricals as strings)."""
    if not batch:
        return
    staged.add(
        scores,
        [
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
        ],
    )
