"""Runs and records in the JSON shapes of the control-plane wire protocol.

Each function returns the body (or one record of a body) of an endpoint of
``docs/wire-protocol.md``. Fields marked *ours* in the protocol, and a few more extension
fields (``id``, ``seq``, ``started_at``, ``parent_span_id``, ``attributes``, ...), carry what
the embedded store keeps, so a run delivered to our server reads back exactly as the same
run recorded embedded; other servers ignore them. Times in extension fields are UNIX epoch
seconds (JSON numbers, exact); the spec's own fields keep their documented formats.

Every body is built on the drainer's thread from journal frames (decoded to dicts with
:func:`waxell_observe.pipeline.frames.as_dict`): the run snapshot of a start or end frame, or
one record's frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    "interaction_mode",
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
    "prompt": "prompt",
    "memory": "memory",
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


# -- runs (from journal frames, see waxell_observe.pipeline.frames) ------------------------------


def trace_context(run: Run) -> tuple[str, str, str]:
    """``(trace_id, span_id, traceparent)`` of ``run`` when an OpenTelemetry exporter traces it
    (``run.plugin_state["otel"]``), else empty strings."""
    state = run.plugin_state.get("otel")
    if not isinstance(state, dict):
        return "", "", ""
    return (
        str(state.get("trace_id") or ""),
        str(state.get("span_id") or ""),
        str(state.get("traceparent") or ""),
    )


def traceparent(run: Mapping[str, Any]) -> str:
    """The W3C ``traceparent`` of a run snapshot that an exporter traced ("" otherwise)."""
    trace_id, span_id = run.get("trace_id") or "", run.get("root_span_id") or ""
    if len(trace_id) == 32 and len(span_id) == 16:
        return f"00-{trace_id}-{span_id}-01"
    return ""


def interaction_mode(mode: Any, session_id: str) -> str:
    """The run's interaction mode as its frame carries it; derived from the session for frames
    written before the mode travelled with them."""
    if mode == "interactive" or mode == "autonomous":
        return str(mode)
    return "interactive" if session_id else "autonomous"


def start_body(run: Mapping[str, Any]) -> dict[str, Any]:
    """The ``runs/start/`` body for a run snapshot (a start or end frame as a dict);
    ``parent_workflow_id``/``root_workflow_id`` hold our run ids (delivery maps them to the
    server's ids)."""
    session_id = run.get("session_id") or ""
    body: dict[str, Any] = {
        "agent_name": run["agent_name"],
        "workflow_name": run.get("workflow_name") or "default",
        "inputs": run.get("inputs") or {},
        "metadata": run.get("metadata") or {},
        "trace_id": run.get("trace_id") or "",
        "interaction_mode": interaction_mode(run.get("interaction_mode"), session_id),
        "run_id": run["run_id"],
        "tags": run.get("tags") or {},
        "started_at": run.get("started_at"),
    }
    _nonempty(
        body,
        session_id=session_id,
        user_id=run.get("user_id"),
        user_group=run.get("user_group"),
        parent_workflow_id=run.get("parent_run_id"),
        root_workflow_id=run.get("root_run_id"),
        pre_execution_evaluations=run.get("pre_evaluations"),
    )
    if run.get("auto_collected"):
        body["auto_collected"] = True
    return body


def complete_body(run: Mapping[str, Any]) -> dict[str, Any]:
    """The ``runs/{id}/complete/`` body for an end frame (as a dict)."""
    result = run.get("result")
    status = run.get("status") or "success"
    body: dict[str, Any] = {
        "result": result if isinstance(result, dict) else {"output": result},
        "status": status if status != "running" else "success",
        "error": run.get("error") or "",
        "steps": [],
        "tags": run.get("tags") or {},
        "metadata": run.get("metadata") or {},
        "ended_at": run.get("ended_at"),
    }
    _nonempty(
        body,
        error_type=run.get("error_type"),
        traceback=run.get("traceback"),
        trace_id=run.get("trace_id"),
        root_span_id=run.get("root_span_id"),
    )
    conversation = run.get("conversation")
    if conversation:
        body["conversation_state"] = conversation_with_metadata(conversation, run.get("metadata"))
    if run.get("governance"):
        body["governance"] = run["governance"]
    return body


def conversation_with_metadata(
    state: Mapping[str, Any], metadata: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The wire ``conversation_state``: the run's state plus a copy of its metadata."""
    wire_state = dict(state)
    if metadata:
        wire_state["metadata"] = dict(metadata)
    return wire_state


def conversation_state(run: Run) -> dict[str, Any]:
    """The wire ``conversation_state`` of a live run ({} when nothing was observed)."""
    state = run.conversation_state()
    if not state:
        return {}
    return conversation_with_metadata(state, run.metadata)


def evaluation(evaluation_: Any) -> dict[str, Any]:
    """One ``PolicyEvaluation`` as a wire dict."""
    as_dict: dict[str, Any] = evaluation_.to_dict()
    return as_dict


# -- records (from journal frames, on the drainer's thread) --------------------------------------


def llm_call(call: Mapping[str, Any]) -> dict[str, Any]:
    """One record of ``runs/{id}/llm-calls/`` from an LLM-call frame (as a dict)."""
    attributes = call.get("attributes") or {}
    return {
        "model": call["model"],
        "tokens_in": call["tokens_in"],
        "tokens_out": call["tokens_out"],
        "cost": call["cost"],
        "task": call["task"],
        "prompt_preview": call["prompt_preview"],
        "response_preview": call["response_preview"],
        "status": call["status"],
        "error_type": call["error_type"],
        "error_message": call["error_message"],
        "prompt_hash": str(attributes.get("prompt_hash", "") or "") if isinstance(attributes, dict) else "",
        "id": call["id"],
        "provider": call["provider"],
        "duration_ms": call["duration_ms"],
        "started_at": call["started_at"],
        "position": call["position"],
        "parent_span_id": call["parent_span_id"],
        "attributes": attributes,
    }


def step(step_: Mapping[str, Any]) -> dict[str, Any]:
    """One record of ``runs/{id}/steps/`` for a recorded step (``record_step``, delegation)."""
    return {
        "step_name": step_["name"],
        "output": step_["output"],
        "position": step_["position"],
        "id": step_["id"],
        "seq": step_.get("seq", 0),
        "started_at": step_["started_at"],
    }


def span(
    span_: Mapping[str, Any], run_started_at: float, parent_position: int | None = None
) -> dict[str, Any]:
    """One record of ``runs/{id}/spans/`` from a span frame (as a dict)."""
    kind = span_["span_kind"]
    record: dict[str, Any] = {
        "name": span_["name"],
        "kind": WIRE_SPAN_KINDS.get(kind, "custom"),
        "waxell_kind": kind,
        "status": span_["status"],
        "duration_ms": span_["duration_ms"],
        "position": span_["position"],
        "start_offset_ms": round((span_["started_at"] - run_started_at) * 1000.0, 3)
        if run_started_at
        else 0.0,
        "attributes": span_["attributes"],
        "input_data": span_["input"],
        "output_data": span_["output"],
        "id": span_["id"],
        "started_at": span_["started_at"],
        "parent_span_id": span_["parent_span_id"],
        "error": span_["error"],
    }
    if parent_position is not None:
        record["parent_position"] = parent_position
    return record


def behaviour_step(span_: Mapping[str, Any]) -> dict[str, Any] | None:
    """A behaviour span as a ``_kind`` step of ``runs/{id}/steps/`` (``None`` for kinds that
    the protocol carries only as spans).

    ``output`` holds ``_kind`` and the parameters of the matching ``record_*`` method (a
    message carries its recorded text as ``preview``). The step carries the span's ``id`` (so
    a server that stores behaviour steps as spans keeps one row for both forms) and its place
    in the run's ordering as ``seq``; it has no ``position``, which numbers plain steps only.
    """
    kind, a = span_["span_kind"], span_["attributes"] or {}
    name_, status, duration = span_["name"], span_["status"], span_["duration_ms"]
    inp_raw, out_raw, error = span_["input"], span_["output"], span_["error"]
    inp = inp_raw if isinstance(inp_raw, dict) else {}
    out = out_raw if isinstance(out_raw, dict) else {}
    output: dict[str, Any]
    if kind == "tool":
        name = f"tool:{name_}"
        output = {"_kind": "tool_call", "name": name_, "input": inp_raw, "output": out_raw,
                  "duration_ms": duration, "status": status,
                  "tool_type": a.get("tool_type", "function"), "error": a.get("error", error)}  # fmt: skip
    elif kind == "retrieval":
        source = str(a.get("source", "") or "")
        name = f"retrieval:{source or name_}"
        output = {"_kind": "retrieval", "query": inp.get("query", ""), "documents": out.get("documents", []),
                  "source": source, "duration_ms": duration, "top_k": a.get("top_k"),
                  "scores": a.get("scores")}  # fmt: skip
    elif kind == "decision":
        name = f"decision:{name_}"
        output = {
            "_kind": "decision",
            "name": name_,
            "options": inp.get("options", []),
            "chosen": out.get("chosen"),
            "reasoning": a.get("reasoning", ""),
            "confidence": a.get("confidence"),
            "metadata": a.get("metadata"),
            "instrumentation_type": a.get("instrumentation_type", "manual"),
        }
    elif kind == "reasoning":
        name = f"reasoning:{name_}"
        output = {"_kind": "reasoning", "step": name_, "thought": a.get("thought", ""),
                  "evidence": a.get("evidence", []), "conclusion": a.get("conclusion", "")}  # fmt: skip
    elif kind == "retry":
        strategy = str(a.get("strategy") or name_)
        name = f"retry:{strategy}"
        output = {
            "_kind": "retry",
            "attempt": a.get("attempt"),
            "reason": a.get("reason", ""),
            "strategy": strategy,
            "original_error": a.get("original_error", ""),
            "fallback_to": a.get("fallback_to", ""),
            "max_attempts": a.get("max_attempts"),
        }
    elif kind == "io" and name_ in ("user_message", "agent_response"):
        name = f"io:{name_}"
        text = inp_raw if name_ == "user_message" else out_raw
        output = {"_kind": name_, "preview": text if isinstance(text, str) else a.get("preview", ""),
                  "source": a.get("source", ""), "length": a.get("length")}  # fmt: skip
    else:
        return None
    return {
        "step_name": name,
        "output": output,
        "id": span_["id"],
        "seq": span_["position"],
        "started_at": span_["started_at"],
    }


def score(score_: Mapping[str, Any]) -> dict[str, Any]:
    """One record of ``runs/{id}/scores/`` (booleans as 1.0/0.0 and "true"/"false")."""
    data_type = score_["data_type"]
    record: dict[str, Any] = {
        "name": score_["name"],
        "data_type": data_type,
        "comment": score_["comment"],
        "id": score_["id"],
        "created_at": score_["created_at"],
    }
    value = score_["value"]
    if data_type == "boolean":
        record["numeric_value"] = 1.0 if value else 0.0
        record["string_value"] = "true" if value else "false"
    elif data_type == "categorical":
        record["string_value"] = str(value)
    else:
        record["numeric_value"] = float(value)
    return record
