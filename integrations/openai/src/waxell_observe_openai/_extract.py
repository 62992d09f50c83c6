"""Reading OpenAI responses and stream chunks into :class:`CallResult` objects.

Works on the SDK's pydantic objects and on plain dicts alike (``get``), so it holds up across SDK
versions and OpenAI-compatible servers that leave fields out.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import CallResult, ToolRequest, get, positive_int
from waxell_observe.instrumentation.chat_completions import (
    ChatChunkAccumulator,
    chat_result,
    embeddings_result,
)

__all__ = [
    "ChatChunkAccumulator",
    "ResponsesEventAccumulator",
    "chat_result",
    "embeddings_result",
    "responses_result",
]


# ----------------------------------------------------------------------------- responses


def _responses_usage(result: CallResult, usage: Any) -> None:
    if usage is None:
        result.usage_reported = False
        return
    result.tokens_in = positive_int(get(usage, "input_tokens"))
    result.tokens_out = positive_int(get(usage, "output_tokens"))
    result.cached_tokens_in = positive_int(get(usage, "input_tokens_details", "cached_tokens"))
    result.reasoning_tokens = positive_int(get(usage, "output_tokens_details", "reasoning_tokens")) or None


_TOOL_ITEM_TYPES = frozenset({"function_call", "custom_tool_call"})


def responses_result(response: Any) -> CallResult:
    """A ``Response`` of the Responses API."""
    result = CallResult(model=str(get(response, "model") or ""), response_id=str(get(response, "id") or ""))
    _responses_usage(result, get(response, "usage"))
    texts: list[str] = []
    for item in get(response, "output") or ():
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content") or ():
                part_type = get(part, "type")
                if part_type == "output_text" and isinstance(get(part, "text"), str):
                    texts.append(get(part, "text"))
                elif part_type == "refusal" and isinstance(get(part, "refusal"), str):
                    texts.append(get(part, "refusal"))
                    result.attributes["refusal"] = True
        elif kind in _TOOL_ITEM_TYPES:
            name = get(item, "name")
            if isinstance(name, str) and name:
                arguments = get(item, "arguments") if kind == "function_call" else get(item, "input")
                result.tool_calls.append(ToolRequest(name, str(get(item, "call_id") or ""), arguments or ""))
    result.response_text = "".join(texts)
    status = get(response, "status")
    if isinstance(status, str):
        result.attributes["response_status"] = status
    if status == "incomplete":
        result.finish_reason = str(get(response, "incomplete_details", "reason") or "incomplete")
    elif status == "completed":
        result.finish_reason = "tool_calls" if result.tool_calls else None  # None: a final answer
    elif isinstance(status, str):
        result.finish_reason = status
    if status == "failed":
        code = get(response, "error", "code")
        message = get(response, "error", "message")
        result.error = (str(code or "response_failed"), str(message or "the response failed"))
    return result


_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesEventAccumulator:
    """Accumulates Responses-API stream events; the terminal event carries the whole response."""

    def __init__(self) -> None:
        self.model = ""
        self.response_id = ""
        self.text: list[str] = []
        self.tools: list[ToolRequest] = []
        self.final: Any = None

    @property
    def finished(self) -> bool:
        return self.final is not None

    def add(self, event: Any) -> bool:
        kind = get(event, "type")
        response = get(event, "response")
        if response is not None:
            self.model = str(get(response, "model") or self.model)
            self.response_id = str(get(response, "id") or self.response_id)
        if kind in _TERMINAL_EVENTS:
            self.final = response
            return False
        if kind == "response.output_text.delta":
            delta = get(event, "delta")
            if isinstance(delta, str) and delta:
                self.text.append(delta)
                return True
            return False
        if kind == "response.output_item.done":
            item = get(event, "item")
            if get(item, "type") in _TOOL_ITEM_TYPES and get(item, "name"):
                arguments = (
                    get(item, "arguments") if get(item, "type") == "function_call" else get(item, "input")
                )
                self.tools.append(
                    ToolRequest(str(get(item, "name")), str(get(item, "call_id") or ""), arguments or "")
                )
            return False
        return kind in (
            "response.function_call_arguments.delta",
            "response.refusal.delta",
            "response.output_item.added",
        )

    def result(self) -> CallResult:
        if self.final is not None:
            result = responses_result(self.final)
        else:
            result = CallResult(model=self.model, response_id=self.response_id, usage_reported=False)
            result.response_text = "".join(self.text)
            result.tool_calls = list(self.tools)
        return result
