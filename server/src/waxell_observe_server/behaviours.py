"""Behaviour records that travel as steps (``output._kind``) become spans, laid out as the SDK stores them.

The wire protocol carries tool calls, retrievals, decisions, reasoning, retries and messages
as steps named ``tool:<name>``, ``retrieval:<source>``, ... with a ``_kind`` discriminator in
``output``, whose other keys are the parameters of the matching ``WaxellContext.record_*``
method. :func:`behaviour_span` turns such a step into the span row ``WaxellContext`` records
in embedded mode (same kind, name, attributes, input and output), so a run looks the same
in the store however it was delivered. Delegation steps (``delegate:<child>``) and plain
steps stay steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.serialize import preview
from waxell_observe_server.sanitize import clean_json
from waxell_observe_server.values import as_dict, as_int, as_list, as_millis, as_number, as_str

__all__ = ["SPAN_KIND_OF", "behaviour_span"]

SPAN_KIND_OF = {
    "tool_call": "tool",
    "tool": "tool",
    "retrieval": "retrieval",
    "decision": "decision",
    "reasoning": "reasoning",
    "retry": "retry",
    "user_message": "io",
    "agent_response": "io",
}
"""``_kind`` of a step output → kind of the span it is stored as."""

_Layout = Callable[[dict[str, Any], str], dict[str, Any]]


def _suffix(step_name: str) -> str:
    """``"tool:web_search"`` → ``"web_search"``."""
    return step_name.partition(":")[2] if ":" in step_name else step_name


def _tool(out: dict[str, Any], step_name: str) -> dict[str, Any]:
    error = as_str(out.get("error"))
    attributes: dict[str, Any] = {"tool_type": as_str(out.get("tool_type")) or "function"}
    if error:
        attributes["error"] = error
    return {
        "name": as_str(out.get("name")) or _suffix(step_name) or "tool",
        "status": "error" if out.get("status") == "error" else "ok",
        "attributes": attributes,
        "input": clean_json(out.get("input", "")),
        "output": clean_json(out.get("output", "")),
        "error": error,
    }


def _nested(out: dict[str, Any], key: str, inner: str) -> Any:
    """``out[inner]``, else ``out[key][inner]`` (clients send record parameters flat, or as the
    span's ``input``/``output`` objects)."""
    if inner in out:
        return out[inner]
    holder = out.get(key)
    return holder.get(inner) if isinstance(holder, dict) else None


def _retrieval(out: dict[str, Any], step_name: str) -> dict[str, Any]:
    source = as_str(out["source"]) if "source" in out else _suffix(step_name)
    documents = as_list(_nested(out, "output", "documents")) or []
    attributes: dict[str, Any] = {"source": source, "document_count": len(documents)}
    top_k = as_int(out.get("top_k"))
    if top_k is not None:
        attributes["top_k"] = top_k
    scores = as_list(out.get("scores"))
    if scores is not None:
        attributes["scores"] = scores
    return {
        "name": source or "retrieval",
        "attributes": attributes,
        "input": {"query": as_str(_nested(out, "input", "query"))},
        "output": {"documents": documents},
    }


def _decision(out: dict[str, Any], step_name: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "reasoning": as_str(out.get("reasoning")),
        "confidence": as_number(out.get("confidence")),
        "instrumentation_type": as_str(out.get("instrumentation_type")) or "manual",
    }
    metadata = as_dict(out.get("metadata"))
    if metadata:
        attributes["metadata"] = metadata
    return {
        "name": as_str(out.get("name")) or _suffix(step_name) or "decision",
        "attributes": attributes,
        "input": {"options": as_list(_nested(out, "input", "options")) or []},
        "output": {"chosen": clean_json(_nested(out, "output", "chosen"))},
    }


def _reasoning(out: dict[str, Any], step_name: str) -> dict[str, Any]:
    return {
        "name": as_str(out.get("step")) or _suffix(step_name) or "reasoning",
        "attributes": {
            "thought": as_str(out.get("thought")),
            "evidence": as_list(out.get("evidence")) or [],
            "conclusion": as_str(out.get("conclusion")),
        },
    }


def _retry(out: dict[str, Any], step_name: str) -> dict[str, Any]:
    strategy = as_str(out.get("strategy")) or _suffix(step_name) or "retry"
    return {
        "name": strategy,
        "attributes": {
            "attempt": as_int(out.get("attempt")),
            "reason": as_str(out.get("reason")),
            "strategy": strategy,
            "original_error": as_str(out.get("original_error")),
            "fallback_to": as_str(out.get("fallback_to")),
            "max_attempts": as_int(out.get("max_attempts")),
        },
    }


def _io(kind: str) -> _Layout:
    def layout(out: dict[str, Any], step_name: str) -> dict[str, Any]:
        text = ""
        for key in ("text", "content", "preview"):
            if isinstance(out.get(key), str):
                text = as_str(out[key])
                break
        length = as_int(out.get("length"))
        return {
            "name": kind,
            "attributes": {
                "preview": preview(text, 200),
                "source": as_str(out.get("source")) or "manual",
                "length": length if length is not None and length >= 0 else len(text),
            },
            "input": text if kind == "user_message" else None,
            "output": text if kind == "agent_response" else None,
        }

    return layout


_LAYOUTS: dict[str, _Layout] = {
    "tool_call": _tool,
    "tool": _tool,
    "retrieval": _retrieval,
    "decision": _decision,
    "reasoning": _reasoning,
    "retry": _retry,
    "user_message": _io("user_message"),
    "agent_response": _io("agent_response"),
}


def behaviour_span(step_name: str, output: dict[str, Any] | None) -> dict[str, Any] | None:
    """The span fields (``kind, name, status, duration_ms, attributes, input, output, error``)
    for a behaviour step, or ``None`` when the step is a plain (or delegation) step."""
    if not output:
        return None
    kind = output.get("_kind")
    layout = _LAYOUTS.get(kind) if isinstance(kind, str) else None
    if layout is None:
        return None
    fields = {"status": "ok", "input": None, "output": None, "error": "", **layout(output, step_name)}
    fields["kind"] = SPAN_KIND_OF[kind]  # type: ignore[index]
    fields["duration_ms"] = as_millis(output.get("duration_ms"))
    return fields
