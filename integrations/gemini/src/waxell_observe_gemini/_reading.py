"""Reading google-genai requests and responses: contents, config, usage metadata, stream chunks.

Works on the SDK's pydantic objects and on the plain dicts it also accepts (``get``). Imports no SDK.

Token accounting (``usage_metadata``): input = ``prompt_token_count`` + ``tool_use_prompt_token_count``
(the results of built-in tools are billed as input); output = ``candidates_token_count`` +
``thoughts_token_count`` (thinking is billed as output, like OpenAI's reasoning tokens, which its
completion tokens include); cached input = ``cached_content_token_count`` (part of the prompt);
reasoning = ``thoughts_token_count``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from waxell_observe.instrumentation import CallResult, ToolRequest, get, positive_int

__all__ = [
    "GeminiChunkAccumulator",
    "as_content_list",
    "chat_messages",
    "embeddings_result",
    "generate_result",
    "model_name",
    "offered_tools",
    "request_params",
    "system_text",
]

_ROLES = {"model": "assistant", "user": "user", "function": "tool", "tool": "tool"}
_REQUEST_PARAMS = (
    "temperature",
    "top_p",
    "top_k",
    "max_output_tokens",
    "candidate_count",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_mime_type",
)


def model_name(model: Any) -> str:
    """The bare model id of a request's ``model`` (``models/gemini-2.5-flash`` and Vertex resource
    names ``projects/p/locations/l/publishers/google/models/gemini-2.5-flash`` -> ``gemini-2.5-flash``);
    ``""`` when it is not a string."""
    if not isinstance(model, str):
        return ""
    return model.rsplit("models/", 1)[-1] if "models/" in model else model


# ----------------------------------------------------------------------------- request side


def as_content_list(contents: Any) -> list[Any] | str | None:
    """``contents`` as the prompt guard scans it: a string stays a string, a list stays a list, one
    ``Content`` / ``Part`` / dict becomes a one-item list (the SDK reads all three the same way)."""
    if contents is None or isinstance(contents, (str, list)):
        return contents
    if isinstance(contents, tuple):
        return list(contents)
    return [contents]


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if get(part, "thought") is True:
        return ""  # a thought summary is not part of the conversation
    text = get(part, "text")
    if isinstance(text, str):
        return text
    response = get(part, "function_response", "response")
    if response is not None:
        return _json(response)
    return ""


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _parts_text(parts: Any) -> str:
    if isinstance(parts, (str, bytes)) or not isinstance(parts, Iterable):
        return _part_text(parts)
    return "\n".join(t for t in (_part_text(p) for p in parts) if t)


def _is_content(item: Any) -> bool:
    return get(item, "parts") is not None or get(item, "role") is not None


def _content_role(content: Any) -> str:
    parts = get(content, "parts") or []
    if parts and all(get(p, "function_response") is not None for p in parts):
        return "tool"
    role = get(content, "role")
    return _ROLES.get(str(role), "user") if role else "user"


def chat_messages(contents: Any) -> list[dict[str, Any]]:
    """A request's ``contents`` as chat messages (``{"role", "content"}``; ``model`` -> ``assistant``,
    function responses -> ``tool``): consecutive bare strings / parts form one user message, as the
    SDK sends them."""
    items = as_content_list(contents)
    if items is None:
        return []
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    loose: list[str] = []
    for item in items:
        if _is_content(item):
            if loose:
                messages.append({"role": "user", "content": "\n".join(loose)})
                loose = []
            messages.append({"role": _content_role(item), "content": _parts_text(get(item, "parts") or [])})
        else:
            text = _part_text(item)
            if text:
                loose.append(text)
    if loose:
        messages.append({"role": "user", "content": "\n".join(loose)})
    return messages


def system_text(config: Any) -> str | None:
    """The text of ``config.system_instruction`` (a string, a ``Content``, a ``Part`` or a list), or None."""
    instruction = get(config, "system_instruction")
    if instruction is None:
        return None
    if isinstance(instruction, str):
        return instruction
    if _is_content(instruction):
        return _parts_text(get(instruction, "parts") or [])
    return _parts_text(instruction)


def offered_tools(config: Any) -> list[str]:
    """Names of the functions ``config.tools`` offers: function declarations and the Python callables of
    automatic function calling."""
    names: list[str] = []
    for tool in get(config, "tools") or ():
        if callable(tool) and not isinstance(tool, Mapping):
            found = [getattr(tool, "__name__", "")]
        else:
            found = [get(d, "name") for d in get(tool, "function_declarations") or ()]
        names.extend(n for n in found if isinstance(n, str) and n and n not in names)
    return names


def request_params(config: Any) -> dict[str, Any]:
    """The scalar generation parameters of ``config`` (temperature, max_output_tokens, thinking budget…)."""
    params: dict[str, Any] = {}
    for key in _REQUEST_PARAMS:
        value = get(config, key)
        if isinstance(value, (str, int, float, bool)):
            params[key] = value
    budget = get(config, "thinking_config", "thinking_budget")
    if isinstance(budget, int):
        params["thinking_budget"] = budget
    level = get(config, "thinking_config", "thinking_level")
    if level is not None:
        params["thinking_level"] = str(getattr(level, "value", level))
    return params


# ----------------------------------------------------------------------------- response side


def _usage(result: CallResult, usage: Any) -> None:
    if usage is None:
        result.usage_reported = False
        return
    thoughts = positive_int(get(usage, "thoughts_token_count"))
    result.tokens_in = positive_int(get(usage, "prompt_token_count")) + positive_int(
        get(usage, "tool_use_prompt_token_count")
    )
    result.tokens_out = positive_int(get(usage, "candidates_token_count")) + thoughts
    result.cached_tokens_in = positive_int(get(usage, "cached_content_token_count"))
    result.reasoning_tokens = thoughts or None
    tool_use = positive_int(get(usage, "tool_use_prompt_token_count"))
    if tool_use:
        result.attributes["tool_use_prompt_tokens"] = tool_use


def _enum(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _function_calls(parts: Iterable[Any]) -> list[ToolRequest]:
    calls: list[ToolRequest] = []
    for part in parts:
        call = get(part, "function_call")
        name = get(call, "name")
        if isinstance(name, str) and name:
            calls.append(ToolRequest(name, str(get(call, "id") or ""), get(call, "args") or {}))
    return calls


def generate_result(response: Any) -> CallResult:
    """A ``GenerateContentResponse``: model, usage, the first candidate's text, finish reason and function
    calls; a prompt the API refused (``prompt_feedback.block_reason``) is the call's error."""
    result = CallResult(
        model=str(get(response, "model_version") or ""), response_id=str(get(response, "response_id") or "")
    )
    _usage(result, get(response, "usage_metadata"))
    candidates = get(response, "candidates") or []
    if candidates:
        candidate = candidates[0]
        parts = get(candidate, "content", "parts") or []
        result.response_text = _parts_text(parts)
        result.finish_reason = _enum(get(candidate, "finish_reason"))
        result.tool_calls = _function_calls(parts)
    if len(candidates) > 1:
        result.attributes["candidates"] = len(candidates)
    blocked = _enum(get(response, "prompt_feedback", "block_reason"))
    if blocked:
        message = get(response, "prompt_feedback", "block_reason_message") or f"prompt blocked: {blocked}"
        result.error = ("PromptBlocked", str(message))
        result.attributes["block_reason"] = blocked
    return result


class GeminiChunkAccumulator:
    """Accumulates the ``GenerateContentResponse`` chunks of ``generate_content_stream`` (candidate 0).

    Every chunk carries the usage so far; the last one's is the call's."""

    def __init__(self) -> None:
        self.model = ""
        self.response_id = ""
        self.text: list[str] = []
        self.calls: list[ToolRequest] = []
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.blocked: tuple[str, str] | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None and self.usage is not None

    def add(self, chunk: Any) -> bool:
        self.model = str(get(chunk, "model_version") or self.model)
        self.response_id = str(get(chunk, "response_id") or self.response_id)
        usage = get(chunk, "usage_metadata")
        if usage is not None:
            self.usage = usage
        blocked = _enum(get(chunk, "prompt_feedback", "block_reason"))
        if blocked:
            message = get(chunk, "prompt_feedback", "block_reason_message") or f"prompt blocked: {blocked}"
            self.blocked = (blocked, str(message))
        output = False
        candidates = get(chunk, "candidates") or []
        if candidates:
            candidate = candidates[0]
            parts = get(candidate, "content", "parts") or []
            text = _parts_text(parts)
            if text:
                self.text.append(text)
                output = True
            calls = _function_calls(parts)
            if calls:
                self.calls.extend(calls)
                output = True
            reason = _enum(get(candidate, "finish_reason"))
            if reason:
                self.finish_reason = reason
        return output

    def result(self) -> CallResult:
        result = CallResult(model=self.model, response_id=self.response_id)
        _usage(result, self.usage)
        result.response_text = "".join(self.text)
        result.finish_reason = self.finish_reason
        result.tool_calls = list(self.calls)
        if self.blocked is not None:
            result.error = ("PromptBlocked", self.blocked[1])
            result.attributes["block_reason"] = self.blocked[0]
        return result


def embeddings_result(response: Any) -> CallResult:
    """An ``EmbedContentResponse``: input tokens from ``usage_metadata.prompt_token_count`` or, on Vertex
    AI, the sum of the embeddings' ``statistics.token_count``; count and dimensions of the vectors."""
    embeddings = get(response, "embeddings") or []
    result = CallResult()
    usage = get(response, "usage_metadata")
    counts = [get(e, "statistics", "token_count") for e in embeddings]
    if usage is not None:
        result.tokens_in = positive_int(get(usage, "prompt_token_count"))
    elif any(isinstance(c, (int, float)) for c in counts):
        result.tokens_in = int(sum(c for c in counts if isinstance(c, (int, float))))
    else:
        result.usage_reported = False
    billable = get(response, "metadata", "billable_character_count")
    if isinstance(billable, int):
        result.attributes["billable_characters"] = billable
    result.attributes["embeddings"] = len(embeddings)
    if embeddings:
        values = get(embeddings[0], "values")
        if isinstance(values, list):
            result.attributes["dimensions"] = len(values)
    return result
