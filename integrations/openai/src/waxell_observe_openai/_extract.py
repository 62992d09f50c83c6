"""Reading OpenAI responses and stream chunks into :class:`CallResult` objects.

Works on the SDK's pydantic objects and on plain dicts alike (``get``), so it holds up across SDK
versions and OpenAI-compatible servers that leave fields out.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import CallResult, ToolRequest, get, positive_int

__all__ = [
    "ChatChunkAccumulator",
    "ResponsesEventAccumulator",
    "chat_result",
    "embeddings_result",
    "responses_result",
]


# ----------------------------------------------------------------------------- chat completions


def _chat_usage(result: CallResult, usage: Any) -> None:
    if usage is None:
        result.usage_reported = False
        return
    result.tokens_in = positive_int(get(usage, "prompt_tokens"))
    result.tokens_out = positive_int(get(usage, "completion_tokens"))
    result.cached_tokens_in = positive_int(get(usage, "prompt_tokens_details", "cached_tokens"))
    reasoning = get(usage, "completion_tokens_details", "reasoning_tokens")
    result.reasoning_tokens = positive_int(reasoning) or None


def _chat_tool_calls(calls: Any) -> list[ToolRequest]:
    found: list[ToolRequest] = []
    for call in calls or ():
        function = get(call, "function")
        name = get(function, "name") if function is not None else get(call, "name")
        if isinstance(name, str) and name:
            found.append(ToolRequest(name, str(get(call, "id") or ""), get(function, "arguments") or ""))
    return found


def chat_result(completion: Any) -> CallResult:
    """A ``ChatCompletion`` (or ``ParsedChatCompletion``)."""
    result = CallResult(
        model=str(get(completion, "model") or ""), response_id=str(get(completion, "id") or "")
    )
    _chat_usage(result, get(completion, "usage"))
    choices = get(completion, "choices") or []
    if choices:
        choice = choices[0]
        message = get(choice, "message")
        content = get(message, "content")
        refusal = get(message, "refusal")
        result.response_text = (
            content if isinstance(content, str) else (refusal if isinstance(refusal, str) else "")
        )
        result.finish_reason = get(choice, "finish_reason")
        result.tool_calls = _chat_tool_calls(get(message, "tool_calls"))
        legacy = get(message, "function_call")
        if legacy is not None and get(legacy, "name"):
            result.tool_calls.append(
                ToolRequest(str(get(legacy, "name")), "", get(legacy, "arguments") or "")
            )
        if isinstance(refusal, str) and refusal:
            result.attributes["refusal"] = True
    if len(choices) > 1:
        result.attributes["choices"] = len(choices)
    return result


class ChatChunkAccumulator:
    """Accumulates ``ChatCompletionChunk`` objects (choice 0; usage from the final chunk)."""

    def __init__(self, *, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.model = ""
        self.response_id = ""
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self.finish_reason: str | None = None
        self.usage: Any = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None and (self.usage is not None or not self.include_usage)

    def add(self, chunk: Any) -> bool:
        self.model = str(get(chunk, "model") or self.model)
        self.response_id = str(get(chunk, "id") or self.response_id)
        usage = get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        output = False
        for choice in get(chunk, "choices") or ():
            if (get(choice, "index") or 0) != 0:
                continue
            delta = get(choice, "delta")
            content = get(delta, "content")
            if isinstance(content, str) and content:
                self.text.append(content)
                output = True
            refusal = get(delta, "refusal")
            if isinstance(refusal, str) and refusal:
                self.refusal.append(refusal)
                output = True
            for call in get(delta, "tool_calls") or ():
                slot = self.tools.setdefault(get(call, "index") or 0, ["", "", ""])
                slot[0] = str(get(call, "id") or slot[0])
                slot[1] += str(get(call, "function", "name") or "")
                slot[2] += str(get(call, "function", "arguments") or "")
                output = True
            reason = get(choice, "finish_reason")
            if reason:
                self.finish_reason = str(reason)
        return output

    def result(self) -> CallResult:
        result = CallResult(model=self.model, response_id=self.response_id)
        _chat_usage(result, self.usage)
        text = "".join(self.text)
        refusal = "".join(self.refusal)
        result.response_text = text or refusal
        if refusal:
            result.attributes["refusal"] = True
        result.finish_reason = self.finish_reason
        result.tool_calls = [
            ToolRequest(name, call_id, arguments)
            for _, (call_id, name, arguments) in sorted(self.tools.items())
            if name
        ]
        return result


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


# ----------------------------------------------------------------------------- embeddings


def embeddings_result(response: Any) -> CallResult:
    """A ``CreateEmbeddingResponse``."""
    usage = get(response, "usage")
    data = get(response, "data") or []
    result = CallResult(model=str(get(response, "model") or ""), usage_reported=usage is not None)
    result.tokens_in = positive_int(get(usage, "prompt_tokens")) if usage is not None else 0
    result.attributes["embeddings"] = len(data)
    if data:
        vector = get(data[0], "embedding")
        if isinstance(vector, list):
            result.attributes["dimensions"] = len(vector)
    return result
