"""What a span of another instrumentation says about an AI call, read from its attributes.

One reading, shared by the control plane's OTLP receiver (spans exported by any OpenTelemetry
application) and the in-process OpenTelemetry bridge (spans a framework emits inside a run): the OTel
GenAI semantic conventions, OpenLLMetry (``gen_ai.*``, ``llm.usage.*``, ``traceloop.*``) and
OpenInference (``llm.*``, ``openinference.span.kind``).

* :func:`is_llm_call` — does the span describe one model call?
* :func:`llm_call_fields` — its model, provider, tokens, cost (estimated from the price table when
  the span carries none), prompt and response previews;
* :func:`span_kind` — what any other span is (``tool``, ``agent``, ``retrieval``, ``chain``,
  ``custom``) and the name it should carry;
* :func:`span_input_output` — a tool's arguments and result, a chain's input and output.

Every reader tolerates anything an exporter may send: a value of the wrong type is skipped, never
an error. Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.pricing import estimate_cost, infer_provider
from waxell_observe.vocabulary import attributes as wax

__all__ = [
    "PREVIEW_CHARS",
    "LlmCallFields",
    "decoded",
    "integer",
    "is_ai_span",
    "is_llm_call",
    "llm_call_fields",
    "number",
    "preview",
    "span_input_output",
    "span_kind",
    "string",
]

PREVIEW_CHARS = 500
"""Prompt, response, input and output previews are cut to this many characters."""

LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "completion"})
LLM_KINDS = frozenset({"LLM", "EMBEDDING"})
USAGE_IN = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
USAGE_OUT = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
USAGE_CACHED = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "llm.usage.cache_read_input_tokens",
)
USAGE_REASONING = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.details.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "embedding.model_name",
    "llm.request.model",
)
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")


# -- typed readers ------------------------------------------------------------------------


def string(attributes: Mapping[str, Any], *keys: str) -> str:
    """The first non-empty string among ``keys`` (``""``: none)."""
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def integer(attributes: Mapping[str, Any], *keys: str) -> int | None:
    """The first non-negative 32-bit integer among ``keys`` (whole floats and digit strings count)."""
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and math.isfinite(value) and value == int(value):
            value = int(value)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and 0 <= value <= 2**31 - 1:
            return value
    return None


def number(attributes: Mapping[str, Any], *keys: str) -> float | None:
    """The first finite, non-negative number among ``keys``."""
    for key in keys:
        value = attributes.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            return float(value)
    return None


def decoded(value: Any) -> Any:
    """A JSON-encoded attribute value decoded back (other values, and bad JSON, as they are)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def preview(text: str) -> str:
    """``text`` cut to :data:`PREVIEW_CHARS` characters (an ellipsis marks the cut)."""
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


# -- model calls ----------------------------------------------------------------------------


def is_llm_call(a: Mapping[str, Any]) -> bool:
    """True when the attributes describe one model call (chat, completion, embeddings)."""
    if string(a, "gen_ai.operation.name") in LLM_OPERATIONS:
        return True
    if string(a, "openinference.span.kind").upper() in LLM_KINDS:
        return True
    if string(a, "llm.request.type") in ("chat", "completion", "embedding", "rerank"):
        return True
    has_model = any(string(a, key) for key in MODEL_KEYS)
    has_usage = any(a.get(key) is not None for key in (*USAGE_IN, *USAGE_OUT))
    return has_model and has_usage


@dataclass
class LlmCallFields:
    """One model call as a span describes it."""

    model: str
    provider: str
    tokens_in: int
    tokens_out: int
    cost: float
    task: str
    prompt: str
    response: str
    cached_tokens_in: int = 0
    reasoning_tokens: int = 0
    error_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    """``finish_reason``, ``cached_tokens_in``, ``request_model`` when the span names them."""


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


def llm_call_fields(a: Mapping[str, Any]) -> LlmCallFields:
    """The model call a span describes (check :func:`is_llm_call` first)."""
    model = string(a, *MODEL_KEYS)[:256] or "unknown"
    tokens_in = integer(a, *USAGE_IN)
    tokens_out = integer(a, *USAGE_OUT)
    if tokens_in is None and tokens_out is None:
        tokens_in = integer(a, "llm.usage.total_tokens", "llm.token_count.total", "gen_ai.usage.total_tokens")
    tokens_in, tokens_out = tokens_in or 0, tokens_out or 0
    cached = integer(a, *USAGE_CACHED) or 0
    reasoning = integer(a, *USAGE_REASONING) or 0
    cost = number(a, wax.LLM_COST_USD, "gen_ai.usage.cost", "llm.cost.total")
    provider = string(a, *PROVIDER_KEYS).lower()[:64]
    prompt, response = _prompt_and_response(a)
    extra: dict[str, Any] = {}
    reasons = a.get("gen_ai.response.finish_reasons") or a.get("llm.response.finish_reason")
    if isinstance(reasons, (list, tuple)) and reasons and isinstance(reasons[0], str):
        extra["finish_reason"] = reasons[0]
    elif isinstance(reasons, str):
        extra["finish_reason"] = reasons
    if cached:
        extra["cached_tokens_in"] = cached
    if string(a, "gen_ai.request.model") and string(a, "gen_ai.response.model"):
        extra["request_model"] = string(a, "gen_ai.request.model")
    return LlmCallFields(
        model=model,
        provider=provider or infer_provider(model),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=cost
        if cost is not None
        else estimate_cost(model, tokens_in, tokens_out, cached_tokens_in=cached),
        task=string(a, "gen_ai.operation.name", "llm.request.type")[:256],
        prompt=prompt,
        response=response,
        cached_tokens_in=cached,
        reasoning_tokens=reasoning,
        error_type=string(a, "error.type")[:256],
        extra=extra,
    )


# -- other spans ------------------------------------------------------------------------------


def span_kind(a: Mapping[str, Any]) -> tuple[str, str]:
    """``(span kind, name override)`` of a span that is not a model call.

    ``tool`` (``execute_tool``, OpenInference ``TOOL``), ``agent`` (``invoke_agent``/
    ``create_agent``, ``AGENT``), ``retrieval``, ``chain`` (OpenInference ``CHAIN``, OpenLLMetry
    workflows and tasks), ``llm`` for a model call, else ``custom``; the name override is the
    tool's or the agent's name when the span carries it (``""``: keep the span's name).
    """
    operation = string(a, "gen_ai.operation.name")
    openinference = string(a, "openinference.span.kind").upper()
    traceloop = string(a, "traceloop.span.kind").lower()
    if operation == "execute_tool" or openinference == "TOOL" or traceloop == "tool":
        return "tool", string(a, "gen_ai.tool.name", "tool.name")
    if operation in ("invoke_agent", "create_agent") or openinference == "AGENT" or traceloop == "agent":
        return "agent", string(a, "gen_ai.agent.name", "agent.name")
    if openinference in ("RETRIEVER", "RERANKER") or operation == "retrieval":
        return "retrieval", ""
    if openinference == "CHAIN" or traceloop in ("workflow", "task"):
        return "chain", ""
    if is_llm_call(a):
        return "llm", ""
    return "custom", ""


def is_ai_span(a: Mapping[str, Any]) -> bool:
    """True when the attributes follow one of the AI conventions (any ``gen_ai.*`` attribute, an
    OpenInference span kind, an OpenLLMetry span kind): the spans the bridge maps."""
    if "openinference.span.kind" in a or "traceloop.span.kind" in a:
        return True
    return any(key.startswith("gen_ai.") for key in a)


def span_input_output(a: Mapping[str, Any]) -> tuple[str, str]:
    """``(input, output)`` previews: a tool's arguments and result, a chain's input and output, an
    agent run's first user message and final result (Pydantic AI's ``final_result`` and
    ``pydantic_ai.all_messages``)."""
    input_text = string(a, "input.value", "gen_ai.tool.call.arguments")
    if not input_text:
        messages = _semconv_messages(a.get("gen_ai.input.messages") or a.get("pydantic_ai.all_messages"))
        input_text = next((text for role, text in messages if role == "user" and text), "")
    return (
        preview(input_text),
        preview(string(a, "output.value", "gen_ai.tool.call.result", "final_result")),
    )
