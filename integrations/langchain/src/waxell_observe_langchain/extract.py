"""Reading model names, token usage and documents out of LangChain callback payloads.

LangChain reports the same facts in several places depending on the model class and on
streaming: the requested model in ``invocation_params`` or the ``ls_model_name``
metadata, the served model in the message's ``response_metadata`` or in
``llm_output``, token usage in ``AIMessage.usage_metadata`` (chat models, also when
streamed with usage) or ``llm_output["token_usage"]`` / ``llm_output["usage"]``. These
functions look in each place in turn; none of them raises on odd shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Usage",
    "requested_model",
    "served_model",
    "usage_of",
    "first_generation",
    "finish_reason_of",
    "tool_calls_of",
    "offered_tool_names",
    "document_score",
    "request_params",
]

_MODEL_KEYS = ("model", "model_name", "model_id", "deployment_name", "azure_deployment", "repo_id")
_PARAM_KEYS = (
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "n",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "reasoning_effort",
    "stream",
)
_SCORE_KEYS = ("score", "relevance_score", "similarity_score", "_score")


@dataclass(slots=True)
class Usage:
    """Token usage of one call (zeros when the model did not report any)."""

    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens_in: int = 0
    reported: bool = False


def _str(value: Any) -> str:
    return value if isinstance(value, str) and value else ""


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value >= 0:
        return int(value)
    return 0


def requested_model(invocation_params: dict[str, Any], metadata: dict[str, Any]) -> str:
    """The model the call asked for, or ``""``."""
    for key in _MODEL_KEYS:
        name = _str(invocation_params.get(key))
        if name:
            return name
    return _str(metadata.get("ls_model_name"))


def first_generation(result: Any) -> Any:
    """The first generation of an ``LLMResult`` (``None`` when there is none)."""
    generations = getattr(result, "generations", None) or []
    for batch in generations:
        for generation in batch or []:
            return generation
    return None


def _message(generation: Any) -> Any:
    return getattr(generation, "message", None)


_FIRST: Any = object()
"""Default of the ``generation`` parameters: look the first generation up in ``result``."""


def served_model(result: Any, generation: Any = _FIRST) -> str:
    """The model named by the response (the provider's answer), or ``""``.

    ``generation``: ``first_generation(result)`` when the caller has it already.
    """
    message = _message(first_generation(result) if generation is _FIRST else generation)
    metadata = getattr(message, "response_metadata", None) or {}
    for key in ("model_name", "model", "model_id"):
        name = _str(metadata.get(key))
        if name:
            return name
    llm_output = getattr(result, "llm_output", None) or {}
    for key in ("model_name", "model", "model_id"):
        name = _str(llm_output.get(key))
        if name:
            return name
    return ""


def _usage_from_metadata(usage: Any) -> Usage | None:
    if not isinstance(usage, dict) or not usage:
        return None
    details = usage.get("input_token_details") or {}
    return Usage(
        tokens_in=_int(usage.get("input_tokens")),
        tokens_out=_int(usage.get("output_tokens")),
        cached_tokens_in=_int(details.get("cache_read")) if isinstance(details, dict) else 0,
        reported=True,
    )


def _usage_from_llm_output(llm_output: dict[str, Any]) -> Usage | None:
    usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(usage, dict) or not usage:
        return None
    tokens_in = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    tokens_out = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    details = usage.get("prompt_tokens_details") or {}
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    cached = cached or _int(usage.get("cache_read_input_tokens"))
    return Usage(tokens_in, tokens_out, cached, reported=True)


def usage_of(result: Any, generation: Any = _FIRST) -> Usage:
    """Token usage of one call: from the message's ``usage_metadata``, else ``llm_output``.

    For a call that produced several generations (``n > 1``) LangChain repeats the call's
    usage on each message, so only the first is read (``generation``:
    ``first_generation(result)`` when the caller has it already).
    """
    message = _message(first_generation(result) if generation is _FIRST else generation)
    usage = _usage_from_metadata(getattr(message, "usage_metadata", None))
    if usage is not None:
        return usage
    llm_output = getattr(result, "llm_output", None)
    if isinstance(llm_output, dict):
        usage = _usage_from_llm_output(llm_output)
        if usage is not None:
            return usage
    return Usage()


def finish_reason_of(generation: Any) -> str | None:
    """Why the model stopped (``stop``, ``length``, ``tool_calls``, ``end_turn``...), or ``None``."""
    info = getattr(generation, "generation_info", None) or {}
    reason = info.get("finish_reason") if isinstance(info, dict) else None
    if not reason:
        metadata = getattr(_message(generation), "response_metadata", None) or {}
        reason = metadata.get("finish_reason") or metadata.get("stop_reason")
    return str(reason) if reason else None


def tool_calls_of(generation: Any) -> list[dict[str, Any]]:
    """The tool calls a chat model asked for, as ``{"name", "args", "id"}`` dicts."""
    calls = getattr(_message(generation), "tool_calls", None) or []
    out = []
    for call in calls:
        if isinstance(call, dict):
            out.append({"name": call.get("name", ""), "args": call.get("args", {}), "id": call.get("id", "")})
    return out


def offered_tool_names(invocation_params: dict[str, Any]) -> list[str]:
    """Names of the tools bound to a chat model call (OpenAI or Anthropic tool format)."""
    names = []
    for tool in invocation_params.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else tool.get("name")
        if isinstance(name, str) and name:
            names.append(name)
    return names


def document_score(metadata: Any) -> float | None:
    """A retrieved document's relevance score, when the retriever put one in its metadata."""
    if not isinstance(metadata, dict):
        return None
    for key in _SCORE_KEYS:
        value = metadata.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def request_params(invocation_params: dict[str, Any]) -> dict[str, Any]:
    """The sampling parameters of a call worth keeping (never credentials)."""
    out = {}
    for key in _PARAM_KEYS:
        value = invocation_params.get(key)
        if value is not None and isinstance(value, (str, int, float, bool, list)):
            out[key] = value
    return out
