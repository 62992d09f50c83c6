"""Rows from the spans the waxell-observe OTel exporter writes (every one carries ``waxell.run_id``).

The exporter (``plugins/otel``) and this module agree through :mod:`waxell_observe.vocabulary.attributes`:
a run span (``waxell.record = "run"``) with the run's fields and its scores as events, and one span per
LLM call, step and span record under the record's own id, so a run delivered both by the SDK and over
OTLP is stored once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.store import writer
from waxell_observe.vocabulary import RUN_SOURCE_OTLP, RUN_STATUSES
from waxell_observe.vocabulary import attributes as wax
from waxell_observe.vocabulary.human import APPROVAL_ATTRIBUTE_PREFIX
from waxell_observe_server.limits import TEXT_LIMIT
from waxell_observe_server.otlp.decode import ReceivedSpan
from waxell_observe_server.otlp.readers import decoded, exception_of, integer, number, prefixed, string
from waxell_observe_server.sanitize import clean_json

__all__ = [
    "RUN_FIELDS_FROM_SPAN",
    "llm_call_row",
    "record_of",
    "run_row",
    "score_rows",
    "span_row",
    "step_row",
]

RUN_FIELDS_FROM_SPAN = (
    "agent_name",
    "workflow_name",
    "status",
    "error",
    "error_type",
    "traceback",
    "session_id",
    "user_id",
    "user_group",
    "parent_run_id",
    "root_run_id",
    "interaction_mode",
    "started_at",
    "ended_at",
    "inputs",
    "result",
    "conversation",
    "governance",
    "trace_id",
    "source",
)
"""Columns of a run a run span sets (besides ``metadata`` and ``tags``, which are merged)."""

# What ``waxell.llm.*`` holds besides the call's extra attributes.
_LLM_FIELDS = frozenset(
    name.removeprefix(wax.LLM_PREFIX)
    for name in (wax.LLM_COST_USD, wax.LLM_TASK, wax.LLM_STATUS, wax.LLM_PROMPT, wax.LLM_RESPONSE)
)


def record_of(span: ReceivedSpan) -> Any:
    """What the span records: ``run``, ``llm_call``, ``step`` or ``span`` (anything else: ignored)."""
    return span.attributes.get(wax.RECORD)


def run_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    """The run a run span describes (``source = "otlp"``)."""
    a = span.attributes
    error_type, message, stacktrace = exception_of(span)
    status = string(a, wax.RUN_STATUS) or ("error" if span.error else "success")
    governance: dict[str, Any] = {}
    if string(a, wax.GOVERNANCE_ACTION):
        governance = {
            "action": string(a, wax.GOVERNANCE_ACTION),
            "reason": string(a, wax.GOVERNANCE_REASON),
        }
    inputs, result, conversation = (
        decoded(a.get(k)) for k in (wax.RUN_INPUTS, wax.RUN_RESULT, wax.CONVERSATION)
    )
    return {
        "run_id": run_id,
        "agent_name": string(a, wax.AGENT_NAME, "gen_ai.agent.name")[:256] or span.name,
        "workflow_name": string(a, wax.WORKFLOW_NAME)[:256] or "default",
        "status": status if status in RUN_STATUSES else "success",
        "error": (span.status_message or message) if status != "success" else "",
        "error_type": error_type,
        "traceback": stacktrace,
        "session_id": string(a, wax.SESSION_ID, "gen_ai.conversation.id"),
        "user_id": string(a, wax.USER_ID),
        "user_group": string(a, wax.USER_GROUP),
        "parent_run_id": string(a, wax.PARENT_RUN_ID),
        "root_run_id": string(a, wax.ROOT_RUN_ID),
        "interaction_mode": string(a, wax.INTERACTION_MODE) or "autonomous",
        "started_at": span.start,
        "ended_at": span.end,
        "inputs": inputs if isinstance(inputs, dict) else {},
        "metadata": prefixed(a, wax.META_PREFIX),
        "tags": {key: str(value) for key, value in prefixed(a, wax.TAG_PREFIX).items()},
        "result": result if isinstance(result, dict) else {},
        "conversation": conversation if isinstance(conversation, dict) else {},
        "governance": governance,
        "trace_id": span.trace_id,
        "source": RUN_SOURCE_OTLP,
    }


def _record_fields(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    """The columns every record row starts with: its id, run and position."""
    a = span.attributes
    return {
        "id": string(a, wax.RECORD_ID)[:64],
        "run_id": run_id,
        "position": integer(a, wax.RECORD_POSITION) or 0,
    }


def _llm_extra(a: dict[str, Any], cached: int | None) -> dict[str, Any]:
    """The attributes column of an LLM call: ``waxell.llm.*`` extras, cached tokens, finish reason,
    messages."""
    extra = {k: v for k, v in prefixed(a, wax.LLM_PREFIX).items() if k not in _LLM_FIELDS}
    if cached:
        extra["cached_tokens_in"] = cached
    reasons = a.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        extra["finish_reason"] = reasons[0]
    messages = decoded(a.get("gen_ai.input.messages"))
    if isinstance(messages, list):
        extra["messages"] = messages
    return extra


def llm_call_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    """The LLM call an ``llm_call`` span records (GenAI names for model, provider and usage)."""
    a = span.attributes
    model = string(a, "gen_ai.request.model", "gen_ai.response.model")[:256] or "unknown"
    tokens_in = integer(a, "gen_ai.usage.input_tokens") or 0
    tokens_out = integer(a, "gen_ai.usage.output_tokens") or 0
    cost = number(a, wax.LLM_COST_USD)
    cached = integer(a, "gen_ai.usage.cache_read.input_tokens")
    extra = _llm_extra(a, cached)
    return {
        **_record_fields(run_id, span),
        "model": model,
        "provider": string(a, "gen_ai.provider.name", "gen_ai.system")[:64] or infer_provider(model),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": cost
        if cost is not None
        else estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached or 0),
        "task": string(a, wax.LLM_TASK)[:256],
        "prompt_preview": string(a, wax.LLM_PROMPT)[:TEXT_LIMIT],
        "response_preview": string(a, wax.LLM_RESPONSE)[:TEXT_LIMIT],
        "duration_ms": span.duration_ms,
        "status": "error" if span.error else "ok",
        "error_type": string(a, "error.type")[:256],
        "error_message": span.status_message if span.error else "",
        "started_at": span.start,
        "parent_span_id": string(a, wax.PARENT_RECORD_ID)[:64],
        "attributes": clean_json(extra),
    }


def step_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    """The step a ``step`` span records."""
    a = span.attributes
    output = decoded(a.get(wax.STEP_OUTPUT))
    return {
        **_record_fields(run_id, span),
        "name": string(a, wax.STEP_NAME)[:512] or span.name,
        "output": output if isinstance(output, dict) else None,
        "started_at": span.start,
    }


def _span_attributes(a: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A span's recorded attributes (``waxell.<kind>.<key>``; a policy span's approval attributes are
    ``waxell.approval.<name>``, kept as ``approval.<name>``)."""
    attributes = prefixed(a, wax.span_attribute_prefix(kind))
    if kind == "policy":
        for key, value in prefixed(a, wax.APPROVAL_PREFIX).items():
            attributes[APPROVAL_ATTRIBUTE_PREFIX + key] = value
    return attributes


def span_row(run_id: str, span: ReceivedSpan) -> dict[str, Any]:
    """The span record (tool call, retrieval, ...) a ``span`` span records."""
    a = span.attributes
    kind = string(a, wax.SPAN_KIND)[:32] or "custom"
    return {
        **_record_fields(run_id, span),
        "kind": kind,
        "name": string(a, wax.SPAN_NAME)[:512] or span.name,
        "status": "error" if span.error else "ok",
        "duration_ms": span.duration_ms,
        "started_at": span.start,
        "parent_span_id": string(a, wax.PARENT_RECORD_ID)[:64],
        "attributes": clean_json(_span_attributes(a, kind)),
        "input": decoded(a.get(wax.SPAN_INPUT)),
        "output": decoded(a.get(wax.SPAN_OUTPUT)),
        "error": string(a, wax.SPAN_ERROR)[:TEXT_LIMIT],
    }


def _valid_score(data_type: str, value: Any) -> bool:
    if data_type == "numeric":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if data_type == "boolean":
        return isinstance(value, bool)
    return data_type == "categorical" and isinstance(value, str)


def score_rows(run_id: str, span: ReceivedSpan) -> list[dict[str, Any]]:
    """The scores carried as ``waxell.score`` events of a run span (invalid ones skipped)."""
    rows: list[dict[str, Any]] = []
    for name, at, attributes in span.events:
        if name != wax.SCORE_EVENT:
            continue
        score_name = string(attributes, wax.SCORE_NAME)[:256]
        data_type = string(attributes, wax.SCORE_DATA_TYPE) or "numeric"
        value = attributes.get(wax.SCORE_VALUE)
        if not score_name or not _valid_score(data_type, value):
            continue
        rows.append(
            writer.score_row(
                score_name,
                value,
                data_type,
                string(attributes, wax.SCORE_COMMENT)[:TEXT_LIMIT],
                id=string(attributes, wax.SCORE_ID)[:64] or f"{span.span_id}{len(rows):016x}",
                run_id=run_id,
                created_at=at,
            )
        )
    return rows
