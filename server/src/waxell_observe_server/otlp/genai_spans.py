"""Rows from spans of any other OpenTelemetry application: one run per trace (``run_id`` = the trace
id, ``source = "otel"``), LLM calls from spans with GenAI attributes, span records from the others.

Reads the OTel GenAI semantic conventions, OpenLLMetry (``gen_ai.*``, ``llm.usage.*``,
``traceloop.*``) and OpenInference (``llm.*``, ``openinference.span.kind``); cost is estimated from
the price table when a span carries none.
"""

from __future__ import annotations

from typing import Any

from waxell_observe import genai_conventions as conventions
from waxell_observe.genai_conventions import is_llm_call
from waxell_observe.vocabulary import RUN_SOURCE_OTEL
from waxell_observe.vocabulary import attributes as wax
from waxell_observe_server.otlp.decode import MAX_ATTRIBUTES, ReceivedSpan
from waxell_observe_server.otlp.readers import exception_of, service_name, string
from waxell_observe_server.sanitize import clean_json

__all__ = [
    "is_llm_call",
    "llm_call_row",
    "provisional_run_row",
    "record_id",
    "root_span",
    "run_row",
    "span_row",
]


def record_id(trace_id: str, span_id: str) -> str:
    return trace_id[:16] + span_id


def llm_call_row(run_id: str, span: ReceivedSpan, position: int, parent_id: str) -> dict[str, Any]:
    call = conventions.llm_call_fields(span.attributes)
    error_type, message, _stack = exception_of(span)
    extra: dict[str, Any] = {"otel.span_name": span.name, **call.extra}
    return {
        "id": record_id(span.trace_id, span.span_id),
        "run_id": run_id,
        "position": position,
        "model": call.model,
        "provider": call.provider,
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "cost": call.cost,
        "task": call.task,
        "prompt_preview": call.prompt,
        "response_preview": call.response,
        "duration_ms": span.duration_ms,
        "status": "error" if span.error else "ok",
        "error_type": call.error_type or error_type,
        "error_message": (span.status_message or message) if span.error else "",
        "started_at": span.start,
        "parent_span_id": parent_id,
        "attributes": clean_json(extra),
    }


def span_row(run_id: str, span: ReceivedSpan, position: int, parent_id: str) -> dict[str, Any]:
    a = span.attributes
    kind, name = conventions.span_kind(a)
    _error_type, message, _stack = exception_of(span)
    kept = dict(list(a.items())[:MAX_ATTRIBUTES])
    kept["otel.span_name"] = span.name
    if span.scope:
        kept["otel.scope"] = span.scope
    input_text, output_text = conventions.span_input_output(a)
    return {
        "id": record_id(span.trace_id, span.span_id),
        "run_id": run_id,
        "position": position,
        "kind": kind,
        "name": (name or span.name)[:512],
        "status": "error" if span.error else "ok",
        "duration_ms": span.duration_ms,
        "started_at": span.start,
        "parent_span_id": parent_id,
        "attributes": clean_json(kept),
        "input": input_text or None,
        "output": output_text or None,
        "error": (span.status_message or message) if span.error else "",
    }


def root_span(group: list[ReceivedSpan]) -> ReceivedSpan | None:
    """The trace's root among ``group``: no parent (preferred) or a remote parent."""
    roots = [s for s in group if not s.parent_span_id]
    if not roots:
        roots = [s for s in group if s.parent_remote]
    return min(roots, key=lambda s: s.start) if roots else None


def _first(group: list[ReceivedSpan], *keys: str) -> str:
    for span in sorted(group, key=lambda s: s.start):
        value = string(span.attributes, *keys)
        if value:
            return value[:256]
    return ""


def run_row(run_id: str, group: list[ReceivedSpan], root: ReceivedSpan | None) -> dict[str, Any]:
    row = provisional_run_row(run_id, group, RUN_SOURCE_OTEL)
    session = _first(
        group, "gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id"
    )
    user = _first(group, "user.id", "enduser.id", "traceloop.association.properties.user_id")
    service = next((name for name in (service_name(s) for s in group) if name), "")
    row.update(
        session_id=session,
        user_id=user,
        interaction_mode="interactive" if session else "autonomous",
        tags={"service": service[:1024]} if service else {},
        metadata={"otel_resource": clean_json(dict(list(group[0].resource.items())[:MAX_ATTRIBUTES]))},
    )
    if root is not None:
        error_type, message, stacktrace = exception_of(root)
        row.update(
            agent_name=(string(root.attributes, "gen_ai.agent.name") or service or root.name)[:256],
            workflow_name=root.name[:256],
            status="error" if root.error else "success",
            error=(root.status_message or message or "error") if root.error else "",
            error_type=error_type,
            traceback=stacktrace,
            started_at=root.start,
            ended_at=root.end,
        )
    return row


def provisional_run_row(run_id: str, group: list[ReceivedSpan], source: str) -> dict[str, Any]:
    """A run whose root span has not arrived yet (it is still running)."""
    first = min(group, key=lambda s: s.start)
    agent = ""
    for span in group:
        agent = string(span.attributes, wax.AGENT_NAME, "gen_ai.agent.name")
        if agent:
            break
    return {
        "run_id": run_id,
        "agent_name": (agent or service_name(first) or first.name)[:256],
        "workflow_name": "default",
        "status": "running",
        "started_at": first.start,
        "ended_at": None,
        "trace_id": first.trace_id,
        "source": source,
    }
