"""Reading Cohere v2 chat responses, stream events and embed responses into :class:`CallResult` objects.

Token counts are ``usage.billed_units`` (what Cohere bills, and what the price table prices), else
``usage.tokens`` when a response has no billed units; ``usage.tokens`` (everything the model processed,
the prompt template included) is kept as ``attributes.usage_tokens``. Cohere reports counts as floats.
A response names no model: the requested one is recorded. Imports no SDK.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import CallResult, ToolRequest, get

__all__ = ["CohereEventAccumulator", "chat_result", "count", "embed_result"]


def count(value: Any) -> int:
    """A token count as Cohere reports it (a float, often): a non-negative ``int``, 0 when absent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return 0
    return int(value)


def _usage(result: CallResult, usage: Any) -> None:
    if usage is None:
        result.usage_reported = False
        return
    billed = get(usage, "billed_units")
    tokens = get(usage, "tokens")
    source = (
        billed
        if get(billed, "input_tokens") is not None or get(billed, "output_tokens") is not None
        else tokens
    )
    result.tokens_in = count(get(source, "input_tokens"))
    result.tokens_out = count(get(source, "output_tokens"))
    result.cached_tokens_in = count(get(usage, "cached_tokens"))
    if tokens is not None:
        result.attributes["usage_tokens"] = {
            "input": count(get(tokens, "input_tokens")),
            "output": count(get(tokens, "output_tokens")),
        }
    if source is tokens and tokens is not None:
        result.attributes["billed_units_reported"] = False


def _content(items: Any) -> tuple[str, bool]:
    """The text of a message's content items, and whether it had thinking items."""
    texts: list[str] = []
    thinking = False
    for item in items or ():
        kind = get(item, "type")
        if kind == "thinking":
            thinking = True
        elif isinstance(get(item, "text"), str):
            texts.append(get(item, "text"))
    return "".join(texts), thinking


def _tool_calls(calls: Any) -> list[ToolRequest]:
    found: list[ToolRequest] = []
    for call in calls or ():
        name = get(call, "function", "name")
        if isinstance(name, str) and name:
            found.append(
                ToolRequest(name, str(get(call, "id") or ""), get(call, "function", "arguments") or "")
            )
    return found


def _finish_reason(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def chat_result(response: Any) -> CallResult:
    """A ``V2ChatResponse``: text (thinking left out), finish reason, tool calls, usage."""
    result = CallResult(response_id=str(get(response, "id") or ""))
    _usage(result, get(response, "usage"))
    message = get(response, "message")
    text, thinking = _content(get(message, "content"))
    result.response_text = text
    if thinking:
        result.attributes["thinking"] = True
    result.finish_reason = _finish_reason(get(response, "finish_reason"))
    result.tool_calls = _tool_calls(get(message, "tool_calls"))
    plan = get(message, "tool_plan")
    if isinstance(plan, str) and plan:
        result.attributes["tool_plan"] = plan
    citations = get(message, "citations")
    if citations:
        result.attributes["citations"] = len(citations)
    return result


class CohereEventAccumulator:
    """Accumulates the events of ``chat_stream``: ``message-start`` (id), ``content-delta`` (text or
    thinking), ``tool-plan-delta``, ``tool-call-start`` / ``tool-call-delta``, ``message-end`` (finish
    reason, usage, error)."""

    def __init__(self) -> None:
        self.response_id = ""
        self.text: list[str] = []
        self.plan: list[str] = []
        self.thinking = False
        self.tools: dict[int, list[str]] = {}  # index -> [id, name, arguments]
        self.finish_reason: str | None = None
        self.usage: Any = None
        self.error: str | None = None
        self.ended = False

    @property
    def finished(self) -> bool:
        return self.ended

    def add(self, event: Any) -> bool:
        kind = get(event, "type")
        delta = get(event, "delta")
        if kind == "message-start":
            self.response_id = str(get(event, "id") or self.response_id)
        elif kind == "content-delta":
            text = get(delta, "message", "content", "text")
            if isinstance(text, str) and text:
                self.text.append(text)
                return True
            if get(delta, "message", "content", "thinking"):
                self.thinking = True
                return True
        elif kind == "tool-plan-delta":
            plan = get(delta, "message", "tool_plan")
            if isinstance(plan, str) and plan:
                self.plan.append(plan)
                return True
        elif kind in ("tool-call-start", "tool-call-delta"):
            call = get(delta, "message", "tool_calls")
            slot = self.tools.setdefault(get(event, "index") or 0, ["", "", ""])
            slot[0] = str(get(call, "id") or slot[0])
            slot[1] += str(get(call, "function", "name") or "")
            slot[2] += str(get(call, "function", "arguments") or "")
            return True
        elif kind == "message-end":
            self.ended = True
            self.finish_reason = _finish_reason(get(delta, "finish_reason"))
            self.usage = get(delta, "usage")
            error = get(delta, "error")
            self.error = str(error) if error else None
        return False

    def result(self) -> CallResult:
        result = CallResult(response_id=self.response_id)
        _usage(result, self.usage)
        result.response_text = "".join(self.text)
        result.finish_reason = self.finish_reason
        result.tool_calls = [
            ToolRequest(name, call_id, arguments)
            for _, (call_id, name, arguments) in sorted(self.tools.items())
            if name
        ]
        if self.thinking:
            result.attributes["thinking"] = True
        if self.plan:
            result.attributes["tool_plan"] = "".join(self.plan)
        if self.error:
            result.error = ("StreamError", self.error)
        return result


def embed_result(response: Any) -> CallResult:
    """An ``EmbedByTypeResponse`` (v2 ``embed``): input tokens from ``meta.billed_units``; how many
    vectors of which dimension, of the first embedding type returned."""
    billed = get(response, "meta", "billed_units")
    result = CallResult(usage_reported=billed is not None)
    result.tokens_in = count(get(billed, "input_tokens")) + count(get(billed, "image_tokens"))
    embeddings = get(response, "embeddings")
    for kind in ("float_", "int8", "uint8", "binary", "ubinary", "base64"):
        vectors = get(embeddings, kind)
        if vectors:
            result.attributes["embeddings"] = len(vectors)
            if isinstance(vectors[0], list):
                result.attributes["dimensions"] = len(vectors[0])
            break
    return result
