"""Reading OpenAI-format chat completions and their stream chunks into :class:`CallResult` objects.

The chat-completions shape (``choices[0].message``, ``usage.prompt_tokens`` /
``completion_tokens``, ``prompt_tokens_details.cached_tokens``,
``completion_tokens_details.reasoning_tokens``; chunks with ``choices[0].delta`` and usage in a
final chunk) is spoken by OpenAI and by many others: Groq, Together, LiteLLM's ``ModelResponse``,
Azure OpenAI, OpenAI-compatible servers. Works on pydantic objects and plain dicts alike (``get``),
so it holds up across SDK versions and servers that leave fields out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.conversation import message_text
from waxell_observe.instrumentation.reading import get, positive_int
from waxell_observe.instrumentation.recording import CallObservation, CallResult, ToolRequest
from waxell_observe.instrumentation.request import offered_tool_names, request_attributes, requested_model
from waxell_observe.instrumentation.wrappers import Endpoint

__all__ = [
    "CHAT_REQUEST_PARAMS",
    "ChatChunkAccumulator",
    "chat_accumulator",
    "chat_endpoint",
    "chat_result",
    "chat_usage",
    "embeddings_endpoint",
    "embeddings_result",
    "observe_chat",
]


def chat_usage(result: CallResult, usage: Any) -> None:
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
    chat_usage(result, get(completion, "usage"))
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
        chat_usage(result, self.usage)
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


# ----------------------------------------------------------------------------- endpoints

CHAT_REQUEST_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "reasoning_effort",
    "service_tier",
    "tool_choice",
    "parallel_tool_calls",
)
"""The scalar request parameters kept in ``attributes["request"]``."""


def _prompt_preview(messages: Any, embeddings: bool) -> str:
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, (list, tuple)) or not messages:
        return ""
    if embeddings:
        return "\n".join(m for m in messages if isinstance(m, str))
    return message_text(messages[-1])


def observe_chat(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any]) -> CallObservation:
    """The observation of an OpenAI-format request (``messages``, ``tools``, ``stream``, ``model``)."""
    messages = kwargs.get(endpoint.messages_key)
    tools = list(kwargs.get("tools") or ()) + list(kwargs.get("functions") or ())
    return CallObservation(
        provider=endpoint.provider_for(instance),
        operation=endpoint.operation,
        request_model=requested_model(kwargs),
        messages=messages if isinstance(messages, (str, list, tuple)) else None,
        tools_offered=offered_tool_names(tools, ("function", "name"), ("name",)),
        prompt_preview=_prompt_preview(messages, not endpoint.conversational),
        stream=kwargs.get("stream") is True,
        attributes=request_attributes(kwargs, CHAT_REQUEST_PARAMS),
        conversational=endpoint.conversational,
    )


def chat_accumulator(kwargs: dict[str, Any]) -> ChatChunkAccumulator:
    """A chunk accumulator expecting a usage chunk when ``stream_options.include_usage`` asks for it."""
    options = kwargs.get("stream_options")
    include_usage = bool(get(options, "include_usage")) if isinstance(options, dict) else False
    return ChatChunkAccumulator(include_usage=include_usage)


def chat_endpoint(
    provider: str,
    stream_types: tuple[type, type] | None,
    *,
    provider_of: Callable[[Any], str] | None = None,
    accumulator: Callable[[dict[str, Any]], ChatChunkAccumulator] = chat_accumulator,
) -> Endpoint:
    """The :class:`Endpoint` of an OpenAI-format ``chat.completions.create`` of an SDK whose streams
    are ``stream_types`` (``(Stream, AsyncStream)``); ``accumulator`` for SDKs whose chunks carry
    the usage elsewhere."""
    return Endpoint(
        provider,
        observe_chat,
        chat_result,
        operation="chat",
        provider_of=provider_of,
        accumulator=accumulator if stream_types is not None else None,
        stream_types=stream_types,
    )


def embeddings_endpoint(provider: str) -> Endpoint:
    """The :class:`Endpoint` of an OpenAI-format ``embeddings.create`` (no conversation, no streams)."""
    return Endpoint(
        provider,
        observe_chat,
        embeddings_result,
        operation="embeddings",
        messages_key="input",
        conversational=False,
        injection_scan=False,
    )
