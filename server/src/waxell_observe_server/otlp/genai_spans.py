"""Rows from spans of any other OpenTelemetry application: one run per trace (``run_id`` = the trace
id, ``source = "otel"``), LLM calls from spans with GenAI attributes, span records from the others.

Reads the OTel GenAI semantic conventions, OpenLLMetry (``gen_ai.*``, ``llm.usage.*``,
``traceloop.*``) and OpenInference (``llm.*``, ``openinference.span.kind``); cost is estimated from
the price table when a span carries none.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.vocabulary import attributes as wax
from waxell_observe_server.otlp.decode import MAX_ATTRIBUTES, ReceivedSpan
from waxell_observe_server.otlp.readers import (
    decoded,
    exception_of,
    integer,
    number,
    preview,
    service_name,
    string,
)
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

_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})
_USAGE_IN = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_USAGE_OUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_USAGE_CACHED = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "llm.usage.cache_read_input_tokens",
)
_MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "embedding.model_name",
    "llm.request.model",
)


def is_llm_call(a: Mapping[str, Any]) -> bool:
    if string(a, "gen_ai.operation.name") in _LLM_OPERATIONS:
        return True
    if string(a, "openinference.span.kind").upper() in _LLM_KINDS:
        return True
    if string(a, "llm.request.type") in ("chat", "completion", "embedding", "rerank"):
        return True
    has_model = any(string(a, key) for key in _MODEL_KEYS)
    has_usage = any(a.get(key) is not None for key in (*_USAGE_IN, *_USAGE_OUT))
    return has_model and has_usage


def _indexed_messages(
    a: Mapping[str, Any], prefix: str, role_suffix: str, content_suffix: str
) -> list[tuple[str, str]]:
    """Messages flattened as ``<prefix>.<i><role_suffix>`` / ``<prefix>.<i><content_suffix>``."""
    found: dict[int, list[str]] = defaultdict(lambda: ["", ""])
    for key, value in a.items():
        if not key.startswith(prefix) or not isinstance(value, str):
            continue
        index, _, rest = key[len(prefix) :].partition(".")
        if not index.isdigit():
            continue
        if "." + rest == role_suffix:
            found[int(index)][0] = value
        elif "." + rest == content_suffix:
            found[int(index)][1] = value
    return [(role, content) for _i, (role, content) in sorted(found.items())]


def _semconv_messages(value: Any) -> list[tuple[str, str]]:
    """``gen_ai.input.messages``/``gen_ai.output.messages`` (JSON) as ``(role, text)``."""
    messages = decoded(value)
    result: list[tuple[str, str]] = []
    if not isinstance(messages, list):
        return result
    for message in messages:
        if not isinstance(message, dict):
            continue
        texts = []
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for part in message.get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("content"), str):
                texts.append(part["content"])
        result.append((str(message.get("role") or ""), "\n".join(texts)))
    return result


def _prompt_and_response(a: Mapping[str, Any]) -> tuple[str, str]:
    inputs = (
        _semconv_messages(a.get("gen_ai.input.messages"))
        or _indexed_messages(a, "gen_ai.prompt.", ".role", ".content")
        or _indexed_messages(a, "llm.input_messages.", ".message.role", ".message.content")
    )
    outputs = (
        _semconv_messages(a.get("gen_ai.output.messages"))
        or _indexed_messages(a, "gen_ai.completion.", ".role", ".content")
        or _indexed_messages(a, "llm.output_messages.", ".message.role", ".message.content")
    )
    user = [content for role, content in inputs if role == "user" and content]
    prompt = user[-1] if user else (inputs[-1][1] if inputs else string(a, "gen_ai.prompt", "input.value"))
    response = next((content for _role, content in outputs if content), "") or string(
        a, "gen_ai.completion", "output.value"
    )
    return preview(prompt), preview(response)


def record_id(trace_id: str, span_id: str) -> str:
    return trace_id[:16] + span_id


def llm_call_row(run_id: str, span: ReceivedSpan, position: int, parent_id: str) -> dict[str, Any]:
    a = span.attributes
    model = string(a, *_MODEL_KEYS)[:256] or "unknown"
    tokens_in = integer(a, *_USAGE_IN)
    tokens_out = integer(a, *_USAGE_OUT)
    if tokens_in is None and tokens_out is None:
        tokens_in = integer(a, "llm.usage.total_tokens", "llm.token_count.total", "gen_ai.usage.total_tokens")
    tokens_in, tokens_out = tokens_in or 0, tokens_out or 0
    cached = integer(a, *_USAGE_CACHED) or 0
    cost = number(a, wax.LLM_COST_USD, "gen_ai.usage.cost", "llm.cost.total")
    provider = string(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system").lower()[:64]
    prompt, response = _prompt_and_response(a)
    error_type, message, _stack = exception_of(span)
    extra: dict[str, Any] = {"otel.span_name": span.name}
    reasons = a.get("gen_ai.response.finish_reasons") or a.get("llm.response.finish_reason")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        extra["finish_reason"] = reasons[0]
    elif isinstance(reasons, str):
        extra["finish_reason"] = reasons
    if cached:
        extra["cached_tokens_in"] = cached
    if string(a, "gen_ai.request.model") and string(a, "gen_ai.response.model"):
        extra["request_model"] = string(a, "gen_ai.request.model")
    return {
        "id": record_id(span.trace_id, span.span_id),
        "run_id": run_id,
        "position": position,
        "model": model,
        "provider": provider or infer_provider(model),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": cost
        if cost is not None
        else estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached),
        "task": string(a, "gen_ai.operation.name", "llm.request.type")[:256],
        "prompt_preview": prompt,
        "response_preview": response,
        "duration_ms": span.duration_ms,
        "status": "error" if span.error else "ok",
        "error_type": (string(a, "error.type") or error_type)[:256],
        "error_message": (span.status_message or message) if span.error else "",
        "started_at": span.start,
        "parent_span_id": parent_id,
        "attributes": clean_json(extra),
    }


def _foreign_kind(a: Mapping[str, Any]) -> tuple[str, str]:
    """``(stored span kind, name override)`` of a non-LLM span."""
    operation = string(a, "gen_ai.operation.name")
    openinference = string(a, "openinference.span.kind").upper()
    traceloop = string(a, "traceloop.span.kind").lower()
    if operation == "execute_tool" or openinference == "TOOL" or traceloop == "tool":
        return "tool", string(a, "gen_ai.tool.name", "tool.name")
    if operation in ("invoke_agent", "create_agent") or openinference == "AGENT" or traceloop == "agent":
        return "agent", string(a, "gen_ai.agent.name")
    if openinference in ("RETRIEVER", "RERANKER") or operation == "retrieval":
        return "retrieval", ""
    if openinference == "CHAIN" or traceloop in ("workflow", "task"):
        return "chain", ""
    if is_llm_call(a):
        return "llm", ""
    return "custom", ""


def span_row(run_id: str, span: ReceivedSpan, position: int, parent_id: str) -> dict[str, Any]:
    a = span.attributes
    kind, name = _foreign_kind(a)
    _error_type, message, _stack = exception_of(span)
    kept = dict(list(a.items())[:MAX_ATTRIBUTES])
    kept["otel.span_name"] = span.name
    if span.scope:
        kept["otel.scope"] = span.scope
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
        "input": preview(string(a, "input.value", "gen_ai.tool.call.arguments")) or None,
        "output": preview(string(a, "output.value", "gen_ai.tool.call.result")) or None,
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
    row = provisional_run_row(run_id, group, "otel")
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
