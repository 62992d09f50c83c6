"""Reading Anthropic messages and stream events into :class:`CallResult` objects.

Token accounting follows the API: ``input_tokens`` counts only the uncached part of the prompt, so
the recorded ``tokens_in`` is ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``
(the whole prompt) and ``cached_tokens_in`` is ``cache_read_input_tokens``. In a stream the usage of
``message_start`` is replaced field by field by each ``message_delta`` (whose usage is cumulative).
Works on the SDK's pydantic objects and on plain dicts alike.
"""

from __future__ import annotations

import json
from typing import Any

from waxell_observe.instrumentation import CallResult, ToolRequest, get, positive_int

__all__ = ["MessageEventAccumulator", "message_result"]

_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _usage_values(usage: Any) -> dict[str, int]:
    values = {name: positive_int(get(usage, name)) for name in _USAGE_FIELDS if get(usage, name) is not None}
    thinking = get(usage, "output_tokens_details", "thinking_tokens")
    if thinking is not None:
        values["thinking_tokens"] = positive_int(thinking)
    return values


def _apply_usage(result: CallResult, usage: dict[str, int] | None) -> None:
    if not usage:
        result.usage_reported = False
        return
    cache_read = usage.get("cache_read_input_tokens", 0)
    cache_creation = usage.get("cache_creation_input_tokens", 0)
    result.tokens_in = usage.get("input_tokens", 0) + cache_read + cache_creation
    result.tokens_out = usage.get("output_tokens", 0)
    result.cached_tokens_in = cache_read
    if cache_creation:
        result.attributes["cache_creation_input_tokens"] = cache_creation
    result.reasoning_tokens = usage.get("thinking_tokens") or None


def _tool_request(block: Any) -> ToolRequest | None:
    name = get(block, "name")
    if not isinstance(name, str) or not name:
        return None
    return ToolRequest(name, str(get(block, "id") or ""), get(block, "input") or {})


def message_result(message: Any) -> CallResult:
    """A ``Message``."""
    result = CallResult(model=str(get(message, "model") or ""), response_id=str(get(message, "id") or ""))
    usage = get(message, "usage")
    _apply_usage(result, _usage_values(usage) if usage is not None else None)
    texts: list[str] = []
    for block in get(message, "content") or ():
        kind = get(block, "type")
        if kind == "text" and isinstance(get(block, "text"), str):
            texts.append(get(block, "text"))
        elif kind in _TOOL_BLOCKS:
            request = _tool_request(block)
            if request is not None:
                result.tool_calls.append(request)
    result.response_text = "".join(texts)
    stop_reason = get(message, "stop_reason")
    result.finish_reason = str(stop_reason) if stop_reason else None
    return result


def _json_or_text(text: str) -> Any:
    """Streamed tool input arrives as JSON text; decode it like the non-streamed ``input`` dict."""
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text  # cut short (a partial stream)


class MessageEventAccumulator:
    """Accumulates raw ``messages`` stream events (``message_start`` ... ``message_stop``)."""

    def __init__(self) -> None:
        self.model = ""
        self.message_id = ""
        self.usage: dict[str, int] = {}
        self.text: list[str] = []
        self.blocks: dict[int, list[Any]] = {}  # index -> [type, id, name, input json text]
        self.stop_reason: str | None = None
        self.finished = False

    def add(self, event: Any) -> bool:
        kind = get(event, "type")
        if kind == "message_start":
            message = get(event, "message")
            self.model = str(get(message, "model") or self.model)
            self.message_id = str(get(message, "id") or self.message_id)
            usage = get(message, "usage")
            if usage is not None:
                self.usage = _usage_values(usage)
            return False
        if kind == "content_block_start":
            block = get(event, "content_block")
            block_type = get(block, "type")
            index = get(event, "index") or 0
            self.blocks[index] = [block_type, str(get(block, "id") or ""), str(get(block, "name") or ""), ""]
            text = get(block, "text")
            if block_type == "text" and isinstance(text, str) and text:
                self.text.append(text)
                return True
            return block_type in _TOOL_BLOCKS
        if kind == "content_block_delta":
            delta = get(event, "delta")
            delta_type = get(delta, "type")
            if delta_type == "text_delta":
                text = get(delta, "text")
                if isinstance(text, str):
                    self.text.append(text)
                return True
            if delta_type == "input_json_delta":
                slot = self.blocks.get(get(event, "index") or 0)
                if slot is not None:
                    slot[3] += str(get(delta, "partial_json") or "")
                return True
            return bool(delta_type == "thinking_delta")
        if kind == "message_delta":
            reason = get(event, "delta", "stop_reason")
            if reason:
                self.stop_reason = str(reason)
            usage = get(event, "usage")
            if usage is not None:
                self.usage.update(_usage_values(usage))  # cumulative: replaces, never adds
            return False
        if kind == "message_stop":
            self.finished = True
        return False

    def result(self) -> CallResult:
        result = CallResult(model=self.model, response_id=self.message_id)
        _apply_usage(result, self.usage or None)
        result.response_text = "".join(self.text)
        result.finish_reason = self.stop_reason
        for _, (block_type, call_id, name, arguments) in sorted(self.blocks.items()):
            if block_type in _TOOL_BLOCKS and name:
                result.tool_calls.append(ToolRequest(name, call_id, _json_or_text(arguments)))
        return result
