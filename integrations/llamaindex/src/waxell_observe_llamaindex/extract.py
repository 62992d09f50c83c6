"""Reading models, token usage and nodes out of LlamaIndex events.

LlamaIndex events carry the model's description (``model_dict``: ``model_name``,
``class_name``, ...) and the provider's raw response (``ChatResponse.raw`` /
``CompletionResponse.raw``: an SDK object or a dict). Usage is read from ``raw.usage``
(OpenAI ``prompt_tokens``/``completion_tokens``, Anthropic ``input_tokens``/
``output_tokens``, with cached tokens), else from the token counts some LLM classes copy
into ``additional_kwargs``. Nothing here raises on odd shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Usage", "model_of", "served_model", "usage_of", "node_entry", "finish_reason_of", "tool_calls_of"]

_UNKNOWN = frozenset({"", "unknown"})


@dataclass(slots=True)
class Usage:
    """Token usage of one call (zeros when the response carried none)."""

    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens_in: int = 0
    reported: bool = False


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    try:
        return getattr(obj, key, None)
    except Exception:  # noqa: BLE001 - properties of SDK objects may raise
        return None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return 0
    return int(value)


def model_of(model_dict: Any) -> str:
    """The model a call or embedding asked for (``model_name``, else ``model``, else the class)."""
    if not isinstance(model_dict, dict):
        return "llm"
    for key in ("model_name", "model"):
        value = model_dict.get(key)
        if isinstance(value, str) and value.strip().lower() not in _UNKNOWN:
            return value
    name = model_dict.get("class_name")
    return name if isinstance(name, str) and name else "llm"


def served_model(response: Any) -> str:
    """The model named in the provider's raw response, or ``""``."""
    model = _get(_get(response, "raw"), "model")
    return model if isinstance(model, str) else ""


def usage_of(response: Any) -> Usage:
    """Token usage from ``response.raw.usage``, else ``response.additional_kwargs``."""
    usage = _get(_get(response, "raw"), "usage")
    if usage is not None:
        tokens_in = _get(usage, "prompt_tokens")
        tokens_out = _get(usage, "completion_tokens")
        if tokens_in is None and tokens_out is None:
            tokens_in, tokens_out = _get(usage, "input_tokens"), _get(usage, "output_tokens")
        cached = _int(_get(_get(usage, "prompt_tokens_details"), "cached_tokens"))
        cached = cached or _int(_get(usage, "cache_read_input_tokens"))
        if tokens_in is not None or tokens_out is not None:
            return Usage(_int(tokens_in), _int(tokens_out), cached, reported=True)
    extra = _get(response, "additional_kwargs")
    if isinstance(extra, dict) and ("prompt_tokens" in extra or "completion_tokens" in extra):
        return Usage(_int(extra.get("prompt_tokens")), _int(extra.get("completion_tokens")), 0, reported=True)
    return Usage()


def finish_reason_of(response: Any) -> str | None:
    """Why the model stopped, when the raw response says."""
    raw = _get(response, "raw")
    choices = _get(raw, "choices")
    if isinstance(choices, list) and choices:
        reason = _get(choices[0], "finish_reason")
        if isinstance(reason, str) and reason:
            return reason
    reason = _get(raw, "stop_reason")
    return reason if isinstance(reason, str) and reason else None


def tool_calls_of(response: Any) -> list[dict[str, Any]]:
    """Tool calls in a chat response (``ToolCallBlock`` blocks or OpenAI ``tool_calls``)."""
    message = _get(response, "message")
    calls: list[dict[str, Any]] = []
    for block in _get(message, "blocks") or []:
        if type(block).__name__ == "ToolCallBlock":
            calls.append(
                {
                    "name": _get(block, "tool_name") or "",
                    "args": _get(block, "tool_kwargs"),
                    "id": _get(block, "tool_call_id") or "",
                }
            )
    if calls:
        return calls
    extra = _get(message, "additional_kwargs")
    for call in (extra.get("tool_calls") if isinstance(extra, dict) else None) or []:
        function = _get(call, "function")
        calls.append(
            {
                "name": _get(function, "name") or "",
                "args": _get(function, "arguments"),
                "id": _get(call, "id") or "",
            }
        )
    return calls


def node_entry(node_with_score: Any) -> tuple[dict[str, Any], float | None, str]:
    """``(entry, score, text)`` for one retrieved ``NodeWithScore``."""
    node = _get(node_with_score, "node") or node_with_score
    score = _get(node_with_score, "score")
    score = float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
    text = ""
    get_content = _get(node, "get_content")
    if callable(get_content):
        try:
            text = get_content()
        except Exception:  # noqa: BLE001 - a node that cannot render its content
            text = ""
    entry: dict[str, Any] = {
        "id": _get(node, "node_id") or _get(node, "id_") or "",
        "metadata": _get(node, "metadata") or {},
    }
    if score is not None:
        entry["score"] = score
    return entry, score, text if isinstance(text, str) else ""
