"""Governance in the replies of the ingest endpoints: mid-execution after ``llm-calls/`` and ``steps/``,
post-execution (and the run's usage counted) at ``complete/``.

* ``runs/{id}/llm-calls/`` and ``steps/`` — mid-execution evaluation over the run's stored records and the
  texts of the batch just received; the reply carries ``governance`` when the answer is not ``allow``.
* ``runs/{id}/complete/`` — counts the run's usage and outcome, frees its concurrency slots (its run id
  and any ``admission_id`` of its ``pre_execution_evaluations``), and evaluates post-execution policies
  on the result: ``{action, reason, retry_feedback, max_retries, evaluations}``. Non-allow post-execution
  evaluations are stored on the run as ``policy`` spans and in the audit log; a ``redact`` replaces the
  stored result with the masked copy.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request

from waxell_observe.governance.content_scan import iter_strings
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.governance.stored_run import load_stored_run, request_for_stored_run
from waxell_observe.vocabulary.rows import policy_audit_row, policy_span_attributes, policy_span_status
from waxell_observe_server import governance_store
from waxell_observe_server.behaviours import behaviour_span
from waxell_observe_server.decider import decider
from waxell_observe_server.run_refs import RunRef, derived_id
from waxell_observe_server.wire_models import CompleteBody

__all__ = ["admission_ids", "completion_governance", "ingest_governance"]


def _batch_texts(kind: str, body: Any) -> tuple[list[str], list[str]]:
    """Texts of a received batch that content policies scan (inputs, outputs)."""
    inputs: list[str] = []
    outputs: list[str] = []
    if body is None:
        return inputs, outputs
    if kind == "llm-calls":
        for call in getattr(body, "calls", None) or ():
            if call.prompt_preview:
                inputs.append(call.prompt_preview)
            if call.response_preview:
                outputs.append(call.response_preview)
    elif kind == "steps":
        for step in getattr(body, "steps", None) or ():
            span = behaviour_span(step.step_name or "", step.output)
            if span is None:
                continue
            if span["kind"] == "io":
                inputs.extend(iter_strings(span.get("input")))
                outputs.extend(iter_strings(span.get("output")))
            elif span["kind"] in ("tool", "retrieval"):
                outputs.extend(iter_strings(span.get("output")))
    return inputs, outputs


def ingest_governance(request: Request, run: RunRef, kind: str, body: Any = None) -> dict[str, Any] | None:
    """Mid-execution governance after a batch of ``kind`` (``llm-calls``/``steps``) was stored for ``run``:
    ``{"action", "reason", "evaluations"}``, or ``None`` when the answer is ``allow`` (reply ``{}``)."""
    found = decider(request)
    if found.empty:
        return None
    store = request.app.state.store
    with store.read() as conn:
        stored = load_stored_run(conn, run.run_id)
        if stored is None:
            return None
        facts = found.facts(stored.agent_name, stored.workflow_name, stored.user_group)
        if "mid_execution" not in facts.phases:
            return None
        inputs, outputs = _batch_texts(kind, body)
        policy_request = request_for_stored_run(conn, stored, input_texts=inputs, output_texts=outputs)
    result = found.evaluate(policy_request, "mid_execution")
    if result.action == "allow":
        return None
    reply: dict[str, Any] = result.to_governance_dict()
    return reply


def admission_ids(governance: Any) -> list[str]:
    """``admission_id``s the run was given at pre-execution (from ``pre_execution_evaluations``)."""
    ids = []
    for evaluation in (governance or {}).get("pre_execution_evaluations") or ():
        metadata = evaluation.get("metadata") if isinstance(evaluation, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("admission_id"), str):
            ids.append(metadata["admission_id"])
    return ids


def completion_governance(request: Request, run: RunRef, body: CompleteBody) -> dict[str, Any] | None:
    """Post-execution outcome of a completed run (``action, reason, retry_feedback, max_retries``,
    ``evaluations``), or ``None`` for a plain ``allow`` (the reply then says ``allow``; nothing is stored).

    Also counts the run's usage and outcome (once per run) and frees its concurrency slots."""
    found = decider(request)
    store = request.app.state.store
    with store.read() as conn:
        stored = load_stored_run(conn, run.run_id)
        if stored is None:
            return None
        status, governance, result = governance_store.run_outcome(conn, run.run_id)
        facts = found.facts(stored.agent_name, stored.workflow_name, stored.user_group)
        policy_request = None
        if "post_execution" in facts.phases:
            policy_request = request_for_stored_run(conn, stored, result=result or None)
    models = {
        c.model: (c.tokens_in + c.tokens_out, c.cost)
        for c in (policy_request.llm_calls if policy_request else ())
    }
    if policy_request is None:
        with store.read() as conn:
            models = governance_store.models_of(conn, run.run_id)
    found.finish_run(
        run.run_id,
        stored.agent_name,
        stored.workflow_name,
        stored.user_group,
        models=models,
        error=status == "error",
        holds_slot=True,
        extra_holders=admission_ids(governance),
        always_count=True,
    )
    if policy_request is None:
        return None
    verdict = found.evaluate(policy_request, "post_execution")
    _record_post_evaluations(request, run, verdict)
    if verdict.action == "allow":
        return None
    reply: dict[str, Any] = verdict.to_governance_dict()
    reply.setdefault("retry_feedback", "")
    reply.setdefault("max_retries", 0)
    return reply


def _policy_spans(run: RunRef, verdict: PolicyCheckResult, now: float) -> list[dict[str, Any]]:
    """A ``policy`` span row per non-allow post-execution evaluation (ids derived: stored once)."""
    rows: list[dict[str, Any]] = []
    evaluations = [e for e in verdict.evaluations if e.action != "allow"]
    for index, e in enumerate(evaluations):
        rows.append(
            {
                "id": derived_id(run.run_id, "post-policy", index),
                "position": 0,
                "kind": "policy",
                "name": e.policy_name,
                "status": policy_span_status(e.action),
                "duration_ms": round(e.duration_ms, 4),
                "started_at": now,
                "parent_span_id": "",
                "attributes": policy_span_attributes(
                    policy_name=e.policy_name,
                    action=e.action,
                    category=e.category,
                    reason=e.reason,
                    phase="post_execution",
                    priority=100,
                    metadata=e.metadata,
                ),
                "input": None,
                "output": None,
                "error": "",
            }
        )
    return rows


def _record_post_evaluations(request: Request, run: RunRef, verdict: PolicyCheckResult) -> None:
    """Store non-allow post-execution evaluations as policy spans + audit events (once per run), and a
    redacted result in place of the original."""
    now = time.time()
    rows = _policy_spans(run, verdict, now)
    redacted = verdict.metadata.get("redacted_result")
    if not rows and not isinstance(redacted, dict):
        return
    with request.app.state.writer.write() as conn:
        if isinstance(redacted, dict):
            governance_store.set_result(conn, run.run_id, redacted)
        if not rows:
            return
        fresh = governance_store.add_new_spans(conn, run.run_id, rows)
        if not fresh:
            return
        governance_store.add_audit_rows(
            conn,
            [
                policy_audit_row(
                    ts=now,
                    run_id=run.run_id,
                    agent_name=run.agent_name,
                    workflow_name=run.workflow_name,
                    policy_name=r["attributes"]["policy_name"],
                    category=r["attributes"]["category"],
                    action=r["attributes"]["action"],
                    reason=r["attributes"]["reason"],
                    phase="post_execution",
                    metadata=r["attributes"].get("metadata", {}),
                )
                for r in fresh
            ],
        )
        governance_store.refresh_totals(conn, [run.run_id])
