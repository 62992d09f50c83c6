"""How runs and records look as OpenTelemetry spans: names and attributes.

Pure functions from journal frames (``waxell_observe.pipeline.frames.as_dict(frame)``: the
fields of an LLM call, step, span or score) to ``(span name, attributes)``; they import
nothing from OpenTelemetry, so they are cheap to test and reuse (the OTLP receiver reads the
same attribute names back: both take them from :mod:`waxell_observe.vocabulary.attributes`).
GenAI semantic-convention names (``gen_ai.*``) are used where a convention exists; everything
else is under ``waxell.*``:

- every span: ``waxell.record`` (``run``, ``llm_call``, ``step``, ``span``),
  ``waxell.run_id``, ``waxell.agent.name``; records also ``waxell.record.id``,
  ``waxell.record.position`` and ``waxell.parent_record_id`` (their ``parent_span_id``);
- behaviour spans: ``waxell.span.kind``, ``waxell.span.name`` and each recorded attribute as
  ``waxell.<kind>.<key>``; inputs/outputs as ``waxell.span.input``/``waxell.span.output``.

Attribute values are OTel primitives or homogeneous lists of them; anything else is JSON
(cut at :data:`MAX_JSON_CHARS`). ``None`` values are left out. Message content (prompts,
responses, messages, tool arguments and results, retrieved documents, user/agent texts)
is only included with ``capture_content``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import attributes as names
from waxell_observe.vocabulary.human import APPROVAL_ATTRIBUTE_PREFIX
from waxell_observe_otel.code_attributes import CODE_EXECUTION, add_code_attributes

__all__ = [
    "CONTENT_SPAN_KINDS",
    "MAX_JSON_CHARS",
    "behaviour_span",
    "context_attributes",
    "json_attribute",
    "llm_call_span",
    "run_end_attributes",
    "run_start_attributes",
    "score_event",
    "step_span",
    "to_attribute",
]

MAX_JSON_CHARS = 16_384
"""JSON-encoded attribute values are cut to this many characters."""

CONTENT_SPAN_KINDS = frozenset({"tool", "retrieval", "io", "llm", "chain", "agent", "custom"})
"""Span kinds whose inputs and outputs are content (exported only with ``capture_content``)."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LLM_ATTRIBUTES_MAPPED = frozenset({"messages", "finish_reason", "cached_tokens_in", "response_model"})
_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})


def json_attribute(value: Any) -> str:
    """``value`` as compact JSON (cut at :data:`MAX_JSON_CHARS`)."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > MAX_JSON_CHARS:
        text = text[: MAX_JSON_CHARS - 1] + "…"
    return text


def _primitive(value: Any) -> bool:
    if isinstance(value, (bool, str, float)):
        return True
    return isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX


def to_attribute(value: Any) -> Any:
    """An OTel attribute value for ``value``: primitives and homogeneous lists of primitives
    as they are, ``None`` as ``None`` (left out by callers), anything else as JSON."""
    if value is None:
        return None
    if _primitive(value):
        return value
    if isinstance(value, (list, tuple)) and value:
        first = type(value[0])
        if all(_primitive(v) for v in value):
            if all(type(v) is first for v in value):
                return list(value)
            if all(type(v) in (int, float) for v in value):
                return [float(v) for v in value]
    return json_attribute(value)


def _meta_attribute(value: Any) -> Any:
    """Metadata values: primitives as they are, anything else JSON (as the seed page says)."""
    if value is None:
        return json_attribute(None)
    return value if _primitive(value) else json_attribute(value)


def _put(attributes: dict[str, Any], key: str, value: Any) -> None:
    converted = to_attribute(value)
    if converted is not None:
        attributes[key] = converted


def _identity(run_id: str, agent_name: str, record: str) -> dict[str, Any]:
    return {names.RECORD: record, names.RUN_ID: run_id, names.AGENT_NAME: agent_name}


# -- runs --------------------------------------------------------------------------------


def run_start_attributes(
    *,
    run_id: str,
    agent_name: str,
    workflow_name: str,
    session_id: str,
    user_id: str,
    user_group: str,
    parent_run_id: str,
    root_run_id: str,
    interaction_mode: str,
) -> tuple[str, dict[str, Any]]:
    """The run span's name and the attributes known when the run starts."""
    attributes = _identity(run_id, agent_name, "run")
    attributes["gen_ai.operation.name"] = "invoke_agent"
    attributes["gen_ai.agent.name"] = agent_name
    attributes[names.WORKFLOW_NAME] = workflow_name
    attributes[names.INTERACTION_MODE] = interaction_mode
    if session_id:
        attributes[names.SESSION_ID] = session_id
        attributes["gen_ai.conversation.id"] = session_id
    if user_id:
        attributes[names.USER_ID] = user_id
    if user_group:
        attributes[names.USER_GROUP] = user_group
    if parent_run_id:
        attributes[names.PARENT_RUN_ID] = parent_run_id
        attributes[names.ROOT_RUN_ID] = root_run_id or parent_run_id
    return f"invoke_agent {agent_name}", attributes


def run_end_attributes(
    *,
    status: str,
    tags: Mapping[str, str],
    metadata: Mapping[str, Any],
    tokens_in: int,
    tokens_out: int,
    total_cost: float,
    llm_call_count: int,
    step_count: int,
    span_count: int,
    conversation: Mapping[str, Any],
    governance: Mapping[str, Any] | None,
    inputs: Any,
    result: Any,
    capture_content: bool,
) -> dict[str, Any]:
    """Attributes set on the run span when the run completes (final tags and metadata)."""
    attributes: dict[str, Any] = {
        names.RUN_STATUS: status,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        names.RUN_COST_USD: total_cost,
        names.RUN_LLM_CALL_COUNT: llm_call_count,
        names.RUN_STEP_COUNT: step_count,
        names.RUN_SPAN_COUNT: span_count,
    }
    for key, value in tags.items():
        attributes[names.TAG_PREFIX + key] = str(value)
    for key, value in metadata.items():
        attributes[names.META_PREFIX + key] = _meta_attribute(value)
    if conversation:
        attributes[names.CONVERSATION] = json_attribute(dict(conversation))
    if governance:
        _put(attributes, names.GOVERNANCE_ACTION, governance.get("action"))
        _put(attributes, names.GOVERNANCE_REASON, governance.get("reason") or None)
    if capture_content:
        if inputs:
            attributes[names.RUN_INPUTS] = json_attribute(inputs)
        if result:
            attributes[names.RUN_RESULT] = json_attribute(result)
    return attributes


# -- records -----------------------------------------------------------------------------


def context_attributes(
    model_window: int | None, tokens_in: int, message_count: int, user_turns: int
) -> dict[str, Any]:
    """``waxell.context.*``: the conversation's size and this call's context-window use."""
    utilization = round(tokens_in / model_window * 100, 1) if model_window else 0.0
    return {
        names.CONTEXT_MESSAGE_COUNT: message_count,
        names.CONTEXT_USER_TURNS: user_turns,
        names.CONTEXT_TOKENS_USED: tokens_in,
        names.CONTEXT_UTILIZATION_PCT: utilization,
    }


def _record_identity(
    run_id: str, agent_name: str, record: str, record_id: str, position: int
) -> dict[str, Any]:
    attributes = _identity(run_id, agent_name, record)
    attributes[names.RECORD_ID] = record_id
    attributes[names.RECORD_POSITION] = position
    return attributes


def llm_call_span(
    call: Mapping[str, Any],
    *,
    run_id: str,
    agent_name: str,
    context: Mapping[str, Any],
    capture_content: bool,
) -> tuple[str, dict[str, Any]]:
    """An LLM call (an ``llm`` frame) as a GenAI ``chat <model>`` span (``context``: see
    :func:`context_attributes`)."""
    extra = call["attributes"] or {}
    model = call["model"]
    provider = call["provider"]
    operation = extra.get("operation")
    if operation not in _LLM_OPERATIONS:
        operation = "chat"
    attributes = _record_identity(run_id, agent_name, "llm_call", call["id"], call["position"])
    attributes["gen_ai.operation.name"] = operation
    if provider:
        attributes["gen_ai.provider.name"] = provider
        attributes["gen_ai.system"] = provider
    attributes["gen_ai.request.model"] = model
    response_model = extra.get("response_model")
    attributes["gen_ai.response.model"] = response_model if isinstance(response_model, str) else model
    attributes["gen_ai.usage.input_tokens"] = call["tokens_in"]
    attributes["gen_ai.usage.output_tokens"] = call["tokens_out"]
    cached = extra.get("cached_tokens_in")
    if isinstance(cached, int) and not isinstance(cached, bool) and cached:
        attributes["gen_ai.usage.cache_read.input_tokens"] = cached
    finish_reason = extra.get("finish_reason")
    if isinstance(finish_reason, str) and finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [finish_reason]
    attributes[names.LLM_COST_USD] = call["cost"]
    if call["task"]:
        attributes[names.LLM_TASK] = call["task"]
    if call["status"] != "ok":
        attributes[names.LLM_STATUS] = call["status"]
    if call["error_type"]:
        attributes["error.type"] = call["error_type"]
    if call["parent_span_id"]:
        attributes[names.PARENT_RECORD_ID] = call["parent_span_id"]
    attributes.update(context)
    for key, value in extra.items():
        if key in _LLM_ATTRIBUTES_MAPPED or key == "operation":
            continue
        _put(attributes, names.LLM_PREFIX + key, value)
    if capture_content:
        messages = extra.get("messages")
        if messages is not None:
            attributes["gen_ai.input.messages"] = json_attribute(messages)
        if call["prompt_preview"]:
            attributes[names.LLM_PROMPT] = call["prompt_preview"]
        if call["response_preview"]:
            attributes[names.LLM_RESPONSE] = call["response_preview"]
    return f"{operation} {model}", attributes


def step_span(step: Mapping[str, Any], *, run_id: str, agent_name: str) -> tuple[str, dict[str, Any]]:
    """A step (a ``step`` frame) as a ``step <name>`` span."""
    attributes = _record_identity(run_id, agent_name, "step", step["id"], step["position"])
    name = step["name"]
    attributes[names.STEP_NAME] = name
    if step["output"] is not None:
        attributes[names.STEP_OUTPUT] = json_attribute(step["output"])
    return f"step {name}", attributes


_SPAN_NAMES = {
    "tool": "execute_tool {}",
    "agent": "invoke_agent {}",
    "retrieval": "retrieval {}",
    "decision": "decision {}",
    "reasoning": "reasoning {}",
    "retry": "retry {}",
    "policy": "policy {}",
}


def _tool_attributes(
    attributes: dict[str, Any], span: Mapping[str, Any], recorded: Mapping[str, Any], *, capture_content: bool
) -> None:
    """The GenAI ``execute_tool`` attributes of a tool span (and ``waxell.code.*`` for code executions)."""
    span_input, span_output = span["input"], span["output"]
    attributes["gen_ai.operation.name"] = "execute_tool"
    attributes["gen_ai.tool.name"] = span["name"]
    tool_type = recorded.get("tool_type")
    if isinstance(tool_type, str) and tool_type:
        attributes["gen_ai.tool.type"] = tool_type
    if tool_type == CODE_EXECUTION:
        add_code_attributes(
            attributes, recorded, span_input, span_output, span["error"], capture_content=capture_content
        )
    if capture_content:
        if span_input not in (None, ""):
            attributes["gen_ai.tool.call.arguments"] = json_attribute(span_input)
        if span_output not in (None, ""):
            attributes["gen_ai.tool.call.result"] = json_attribute(span_output)


def behaviour_span(
    span: Mapping[str, Any], *, run_id: str, agent_name: str, capture_content: bool
) -> tuple[str, dict[str, Any]]:
    """A behaviour or framework span (a ``span`` frame: tool, retrieval, decision, ..., io,
    chain, custom)."""
    kind = span["span_kind"]
    name = span["name"]
    recorded = span["attributes"] or {}
    span_input, span_output = span["input"], span["output"]
    attributes = _record_identity(run_id, agent_name, "span", span["id"], span["position"])
    attributes[names.SPAN_KIND] = kind
    attributes[names.SPAN_NAME] = name
    if span["parent_span_id"]:
        attributes[names.PARENT_RECORD_ID] = span["parent_span_id"]
    content_kind = kind in CONTENT_SPAN_KINDS
    prefix = names.span_attribute_prefix(kind)
    for key, value in recorded.items():
        if kind == "io" and key == "preview" and not capture_content:
            continue
        if kind == "policy" and key.startswith(APPROVAL_ATTRIBUTE_PREFIX):  # waxell.approval.<name>
            _put(attributes, names.APPROVAL_PREFIX + key[len(APPROVAL_ATTRIBUTE_PREFIX) :], value)
            continue
        _put(attributes, prefix + key, value)
    if span["error"]:
        attributes[names.SPAN_ERROR] = span["error"]
    if capture_content or not content_kind:
        if span_input is not None and span_input != "":
            attributes[names.SPAN_INPUT] = json_attribute(span_input)
        if span_output is not None and span_output != "":
            attributes[names.SPAN_OUTPUT] = json_attribute(span_output)
    if kind == "tool":
        _tool_attributes(attributes, span, recorded, capture_content=capture_content)
    elif kind == "agent":
        attributes["gen_ai.operation.name"] = "invoke_agent"
        attributes["gen_ai.agent.name"] = name
    template = _SPAN_NAMES.get(kind)
    return (template.format(name) if template else name), attributes


def score_event(score: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """A score (a ``score`` frame) as a ``waxell.score`` event on the run span."""
    attributes: dict[str, Any] = {
        names.SCORE_ID: score["id"],
        names.SCORE_NAME: score["name"],
        names.SCORE_VALUE: score["value"],
        names.SCORE_DATA_TYPE: score["data_type"],
    }
    if score["comment"]:
        attributes[names.SCORE_COMMENT] = score["comment"]
    return names.SCORE_EVENT, attributes
