"""Runs and records in the JSON shapes of the control-plane wire protocol.

Each function returns the body (or one record of a body) of an endpoint of
``spec/control-plane-api.md``. Fields marked *ours* in the spec, and a few more extension
fields (``id``, ``seq``, ``started_at``, ``parent_span_id``, ``attributes``, ...), carry what
the embedded store keeps, so a run delivered to our server reads back exactly as the same
run recorded embedded; other servers ignore them. Times in extension fields are UNIX epoch
seconds (JSON numbers, exact); the spec's own fields keep their documented formats.

``start_body`` and ``complete_body`` run on the agent's thread (they snapshot the run's
mutable state: cheap copies only); the record converters run on the delivery worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
    from waxell_observe.run import Run

__all__ = [
    "BEHAVIOUR_STEP_KINDS",
    "WIRE_SPAN_KINDS",
    "behaviour_step",
    "complete_body",
    "evaluation",
    "llm_call",
    "score",
    "span",
    "start_body",
    "step",
]

WIRE_SPAN_KINDS: dict[str, str] = {
    "tool": "tool",
    "retrieval": "retriever",
    "decision": "decision",
    "reasoning": "reasoning",
    "retry": "retry",
    "policy": "governance",
    "io": "io",
    "llm": "llm",
    "chain": "chain",
    "agent": "agent",
    "custom": "custom",
}
"""Our span kinds -> the protocol's span kinds (``retrieval`` is ``retriever``, ``policy`` is
``governance``); the original kind also travels as ``waxell_kind``."""

BEHAVIOUR_STEP_KINDS: dict[str, str] = {
    "tool": "tool_call",
    "retrieval": "retrieval",
    "decision": "decision",
    "reasoning": "reasoning",
    "retry": "retry",
}
"""Span kinds that the protocol also carries as ``_kind`` steps (``io`` messages map to
``user_message`` / ``agent_response``; delegation steps are recorded as steps already)."""


def _nonempty(body: dict[str, Any], **fields: Any) -> None:
    for key, value in fields.items():
        if value:
            body[key] = value


# -- run lifecycle (agent's thread) ----------------------------------------------------------


def trace_context(run: Run) -> tuple[str, str, str]:
    """``(trace_id, span_id, traceparent)`` of ``run`` when an OpenTelemetry exporter traces it
    (``run.plugin_state["otel"]``), else empty strings."""
    state = run.plugin_state.get("otel")
    if not isinstance(state, dict):
        return "", "", ""
    return str(state.get("trace_id") or ""), str(state.get("span_id") or ""), str(state.get("traceparent") or "")


def start_body(run: Run, pre_execution_evaluations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``runs/start/`` body for ``run``; ``parent_workflow_id``/``root_workflow_id`` hold our
    run ids (the delivery worker maps them to the server's ids)."""
    body: dict[str, Any] = {
        "agent_name": run.agent_name,
        "workflow_name": run.workflow_name or "default",
        "inputs": run.inputs,
        "metadata": dict(run.metadata),
        "trace_id": "",
        "interaction_mode": run.interaction_mode,
        "run_id": run.run_id,
        "tags": dict(run.tags),
        "started_at": run.started_at,
    }
    _nonempty(
        body,
        session_id=run.session_id,
        user_id=run.user_id,
        user_group=run.user_group,
        parent_workflow_id=run.parent_run_id,
        root_workflow_id=run.root_run_id,
        pre_execution_evaluations=pre_execution_evaluations,
    )
    if run.auto_collected:
        body["auto_collected"] = True
    return body


def complete_body(run: Run) -> dict[str, Any]:
    """The ``runs/{id}/complete/`` body for a finished ``run``."""
    body: dict[str, Any] = {
        "result": run.result if isinstance(run.result, dict) else {"output": run.result},
        "status": run.status if run.status != "running" else "success",
        "error": run.error or "",
        "steps": [],
        "tags": dict(run.tags),
        "metadata": dict(run.metadata),
        "ended_at": run.ended_at,
    }
    trace_id, span_id, _ = trace_context(run)
    _nonempty(body, error_type=run.error_type, traceback=run.traceback, trace_id=trace_id, root_span_id=span_id)
    conversation = run.conversation_state()
    if conversation:
        body["conversation_state"] = conversation
    if run.governance is not None:
        body["governance"] = run.governance.to_dict()
    return body


def conversation_state(run: Run) -> dict[str, Any]:
    """The wire ``conversation_state``: the run's state plus a copy of its metadata ({} when empty)."""
    state = run.conversation_state()
    if not state:
        return {}
    state = dict(state)
    if run.metadata:
        state["metadata"] = dict(run.metadata)
    return state


def evaluation(evaluation_: Any) -> dict[str, Any]:
    """One ``PolicyEvaluation`` as a wire dict."""
    return evaluation_.to_dict()


# -- records (delivery worker) ------------------------------------------------------------------


def llm_call(call: LLMCallRecord) -> dict[str, Any]:
    """One record of ``runs/{id}/llm-calls/``."""
    record: dict[str, Any] = {
        "model": call.model,
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "cost": call.cost,
        "task": call.task,
        "prompt_preview": call.prompt_preview,
        "response_preview": call.response_preview,
        "status": call.status,
        "error_type": call.error_type,
        "error_message": call.error_message,
        "prompt_hash": str(call.attributes.get("prompt_hash", "") or ""),
        "id": call.id,
        "provider": call.provider,
        "duration_ms": call.duration_ms,
        "started_at": call.started_at,
        "position": call.position,
        "parent_span_id": call.parent_span_id,
        "attributes": call.attributes,
    }
    return record


def step(step_: StepRecord) -> dict[str, Any]:
    """One record of ``runs/{id}/steps/`` for a recorded step (``record_step``, delegation)."""
    return {
        "step_name": step_.name,
        "output": step_.output,
        "position": step_.position,
        "id": step_.id,
        "seq": getattr(step_, "seq", 0),
        "started_at": step_.started_at,
    }


def span(span_: SpanRecord, run_started_at: float, parent_position: int | None = None) -> dict[str, Any]:
    """One record of ``runs/{id}/spans/``."""
    record: dict[str, Any] = {
        "name": span_.name,
        "kind": WIRE_SPAN_KINDS.get(span_.kind, "custom"),
        "waxell_kind": span_.kind,
        "status": span_.status,
        "duration_ms": span_.duration_ms,
        "position": span_.position,
        "start_offset_ms": round((span_.started_at - run_started_at) * 1000.0, 3) if run_started_at else 0.0,
        "attributes": span_.attributes,
        "input_data": span_.input,
        "output_data": span_.output,
        "id": span_.id,
        "started_at": span_.started_at,
        "parent_span_id": span_.parent_span_id,
        "error": span_.error,
    }
    if parent_position is not None:
        record["parent_position"] = parent_position
    return record


def behaviour_step(span_: SpanRecord) -> dict[str, Any] | None:
    """A behaviour span as a ``_kind`` step of ``runs/{id}/steps/`` (``None`` for kinds that
    the protocol carries only as spans).

    ``output`` holds ``_kind`` and the parameters of the matching ``record_*`` method (a
    message carries its recorded text as ``preview``). The step carries the span's ``id`` (so
    a server that stores behaviour steps as spans keeps one row for both forms) and its place
    in the run's ordering as ``seq``; it has no ``position``, which numbers plain steps only.
    """
    kind, a = span_.kind, span_.attributes
    inp = span_.input if isinstance(span_.input, dict) else {}
    out = span_.output if isinstance(span_.output, dict) else {}
    output: dict[str, Any]
    if kind == "tool":
        name = f"tool:{span_.name}"
        output = {"_kind": "tool_call", "name": span_.name, "input": span_.input, "output": span_.output,
                  "duration_ms": span_.duration_ms, "status": span_.status,
                  "tool_type": a.get("tool_type", "function"), "error": a.get("error", span_.error)}  # fmt: skip
    elif kind == "retrieval":
        source = str(a.get("source", "") or "")
        name = f"retrieval:{source or span_.name}"
        output = {"_kind": "retrieval", "query": inp.get("query", ""), "documents": out.get("documents", []),
                  "source": source, "duration_ms": span_.duration_ms, "top_k": a.get("top_k"),
                  "scores": a.get("scores")}  # fmt: skip
    elif kind == "decision":
        name = f"decision:{span_.name}"
        output = {"_kind": "decision", "name": span_.name, "options": inp.get("options", []),
                  "chosen": out.get("chosen"), "reasoning": a.get("reasoning", ""), "confidence": a.get("confidence"),
                  "metadata": a.get("metadata"), "instrumentation_type": a.get("instrumentation_type", "manual")}  # fmt: skip
    elif kind == "reasoning":
        name = f"reasoning:{span_.name}"
        output = {"_kind": "reasoning", "step": span_.name, "thought": a.get("thought", ""),
                  "evidence": a.get("evidence", []), "conclusion": a.get("conclusion", "")}  # fmt: skip
    elif kind == "retry":
        strategy = str(a.get("strategy") or span_.name)
        name = f"retry:{strategy}"
        output = {"_kind": "retry", "attempt": a.get("attempt"), "reason": a.get("reason", ""), "strategy": strategy,
                  "original_error": a.get("original_error", ""), "fallback_to": a.get("fallback_to", ""),
                  "max_attempts": a.get("max_attempts")}  # fmt: skip
    elif kind == "io" and span_.name in ("user_message", "agent_response"):
        name = f"io:{span_.name}"
        text = span_.input if span_.name == "user_message" else span_.output
        output = {"_kind": span_.name, "preview": text if isinstance(text, str) else a.get("preview", ""),
                  "source": a.get("source", ""), "length": a.get("length")}  # fmt: skip
    else:
        return None
    return {"step_name": name, "output": output, "id": span_.id, "seq": span_.position, "started_at": span_.started_at}


def score(score_: ScoreRecord) -> dict[str, Any]:
    """One record of ``runs/{id}/scores/`` (booleans as 1.0/0.0 and "true"/"false")."""
    record: dict[str, Any] = {
        "name": score_.name,
        "data_type": score_.data_type,
        "comment": score_.comment,
        "id": score_.id,
        "created_at": score_.created_at,
    }
    value = score_.value
    if score_.data_type == "boolean":
        record["numeric_value"] = 1.0 if value else 0.0
        record["string_value"] = "true" if value else "false"
    elif score_.data_type == "categorical":
        record["string_value"] = str(value)
    else:
        record["numeric_value"] = float(value)  # type: ignore[arg-type]
    return record
