"""Reading the Converse API (``converse`` / ``converse_stream``): the request, the answer and the
events of a stream.

Requests carry ``messages`` (``{"role", "content": [{"text": ...}, {"toolUse": ...}, ...]}``),
``system`` (``[{"text": ...}]``), ``inferenceConfig`` and ``toolConfig``; answers carry no model id
(the requested ``modelId`` is recorded) and ``usage`` with ``inputTokens`` (the prompt minus what
was read from or written to the prompt cache), ``outputTokens``, ``cacheReadInputTokens`` and
``cacheWriteInputTokens``.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.conversation import message_text
from waxell_observe.instrumentation import CallResult, ToolRequest, get, positive_int

__all__ = ["ConverseAccumulator", "converse_result", "converse_usage", "offered_tools", "prompt_preview"]


def converse_usage(result: CallResult, usage: Any) -> None:
    """``usage`` (a ``TokenUsage``) into ``result``: input is the whole prompt, cache included."""
    if not isinstance(usage, dict):
        result.usage_reported = False
        return
    cache_read = positive_int(usage.get("cacheReadInputTokens"))
    cache_write = positive_int(usage.get("cacheWriteInputTokens"))
    result.tokens_in = positive_int(usage.get("inputTokens")) + cache_read + cache_write
    result.tokens_out = positive_int(usage.get("outputTokens"))
    result.cached_tokens_in = cache_read
    if cache_write:
        result.attributes["cache_write_tokens"] = cache_write


def _text_and_tools(content: Any) -> tuple[str, list[ToolRequest], int]:
    """The text, the tool uses and the length of the reasoning text of a message's content blocks."""
    texts: list[str] = []
    tools: list[ToolRequest] = []
    reasoning = 0
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        use = block.get("toolUse")
        if isinstance(use, dict) and isinstance(use.get("name"), str):
            tools.append(ToolRequest(use["name"], str(use.get("toolUseId") or ""), use.get("input") or {}))
        thought = get(block, "reasoningContent", "reasoningText", "text")
        if isinstance(thought, str):
            reasoning += len(thought)
    return "".join(texts), tools, reasoning


def converse_result(response: Any) -> CallResult:
    """A ``converse`` answer."""
    result = CallResult()
    converse_usage(result, get(response, "usage"))
    text, tools, reasoning = _text_and_tools(get(response, "output", "message", "content"))
    result.response_text = text
    result.tool_calls = tools
    reason = get(response, "stopReason")
    result.finish_reason = reason if isinstance(reason, str) else None
    if reasoning:
        result.attributes["reasoning_chars"] = reasoning
    latency = get(response, "metrics", "latencyMs")
    if isinstance(latency, int):
        result.attributes["server_latency_ms"] = latency
    return result


class ConverseAccumulator:
    """Accumulates ``converse_stream`` events: text and tool-use deltas by content block, the stop
    reason from ``messageStop`` and the usage from ``metadata`` (the last event)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: dict[int, list[str]] = {}  # block index -> [id, name, input JSON]
        self.reasoning = 0
        self.stop_reason: str | None = None
        self.metadata: Any = None

    @property
    def finished(self) -> bool:
        return self.metadata is not None

    def add(self, event: Any) -> bool:
        if not isinstance(event, dict):
            return False
        if "contentBlockStart" in event:
            start = get(event, "contentBlockStart", "start", "toolUse")
            if isinstance(start, dict):
                index = get(event, "contentBlockStart", "contentBlockIndex") or 0
                self.tools[index] = [str(start.get("toolUseId") or ""), str(start.get("name") or ""), ""]
                return True
        delta = get(event, "contentBlockDelta", "delta")
        if isinstance(delta, dict):
            return self._delta(get(event, "contentBlockDelta", "contentBlockIndex") or 0, delta)
        reason = get(event, "messageStop", "stopReason")
        if isinstance(reason, str):
            self.stop_reason = reason
        if "metadata" in event:
            self.metadata = event["metadata"]
        return False

    def _delta(self, index: int, delta: dict[str, Any]) -> bool:
        if isinstance(delta.get("text"), str):
            self.text.append(delta["text"])
            return True
        tool_input = get(delta, "toolUse", "input")
        if isinstance(tool_input, str):
            self.tools.setdefault(index, ["", "", ""])[2] += tool_input
            return True
        thought = get(delta, "reasoningContent", "text")
        if isinstance(thought, str):
            self.reasoning += len(thought)
            return True
        return False

    def result(self) -> CallResult:
        result = CallResult()
        converse_usage(result, get(self.metadata, "usage"))
        result.response_text = "".join(self.text)
        result.finish_reason = self.stop_reason
        result.tool_calls = [
            ToolRequest(name, call_id, arguments)
            for _, (call_id, name, arguments) in sorted(self.tools.items())
            if name
        ]
        if self.reasoning:
            result.attributes["reasoning_chars"] = self.reasoning
        return result


def offered_tools(params: dict[str, Any]) -> list[str]:
    """Names of the tools a request's ``toolConfig`` offers."""
    names = [get(tool, "toolSpec", "name") for tool in get(params, "toolConfig", "tools") or ()]
    return [name for name in names if isinstance(name, str) and name]


def prompt_preview(messages: Any) -> str:
    """The text of the last message."""
    return message_text(messages[-1]) if isinstance(messages, list) and messages else ""
