"""How the mistralai SDK's endpoints are read: its chat and FIM completions speak the OpenAI format.

Differences from OpenAI handled here: ``chat.stream`` / ``fim.stream`` are separate methods (no
``stream=True``) returning an ``EventStream`` of ``CompletionEvent`` objects whose ``data`` is the
chunk, with the usage on the chunk that finishes; a message's ``content`` may be a list of chunks
(``text``, and ``thinking`` for reasoning models, which is not part of the answer text); embeddings
take ``inputs``; a FIM request's prompt is ``prompt``. Cached prompt tokens are read from
``usage.prompt_tokens_details.cached_tokens``.

Imported only when the SDK's resource modules are (from a post-import hook).
"""

from __future__ import annotations

from typing import Any

from waxell_observe.instrumentation import CallObservation, CallResult, Endpoint, get
from waxell_observe.instrumentation.chat_completions import (
    ChatChunkAccumulator,
    chat_result,
    embeddings_result,
    observe_chat,
)

try:  # mistralai >= 2: the SDK lives in mistralai.client
    from mistralai.client.utils.eventstreaming import EventStream, EventStreamAsync
except ImportError:  # mistralai 1.x
    from mistralai.utils.eventstreaming import EventStream, EventStreamAsync  # type: ignore[no-redef]

__all__ = ["CHAT", "CHAT_STREAM", "EMBEDDINGS", "FIM", "FIM_STREAM", "PROVIDER"]

PROVIDER = "mistral"
_STREAMS = (EventStream, EventStreamAsync)


def content_text(content: Any) -> str:
    """The answer text of a message's (or delta's) ``content``: a string, or the ``text`` chunks of a
    list (``thinking`` chunks left out)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, (list, tuple)):
        return ""
    texts = []
    for chunk in content:
        if isinstance(chunk, str):
            texts.append(chunk)
        elif get(chunk, "type") in ("text", None) and isinstance(get(chunk, "text"), str):
            texts.append(get(chunk, "text"))
    return "".join(texts)


def _thinking(content: Any) -> bool:
    return isinstance(content, (list, tuple)) and any(get(c, "type") == "thinking" for c in content)


def completion_result(completion: Any) -> CallResult:
    """A ``ChatCompletionResponse`` / ``FIMCompletionResponse`` (content as a string or chunks)."""
    result = chat_result(completion)
    choices = get(completion, "choices") or []
    content = get(choices[0], "message", "content") if choices else None
    if not isinstance(content, str) and content is not None:
        result.response_text = content_text(content)
        if _thinking(content):
            result.attributes["thinking"] = True
    return result


class MistralChunkAccumulator(ChatChunkAccumulator):
    """Accumulates the ``CompletionEvent`` items of an ``EventStream`` (their ``data`` is the chunk;
    the usage arrives on the chunk that finishes)."""

    def __init__(self) -> None:
        super().__init__(include_usage=True)
        self.thinking = False

    def add(self, chunk: Any) -> bool:
        data = get(chunk, "data")
        chunk = data if data is not None else chunk
        output = super().add(chunk)
        for choice in get(chunk, "choices") or ():
            content = get(choice, "delta", "content")
            if (get(choice, "index") or 0) != 0 or isinstance(content, str) or content is None:
                continue
            text = content_text(content)
            if text:
                self.text.append(text)
                output = True
            if _thinking(content):
                self.thinking = output = True
        return output

    def result(self) -> CallResult:
        result = super().result()
        if self.thinking:
            result.attributes["thinking"] = True
        return result


def _observe_stream(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any]) -> CallObservation:
    """``chat.stream`` / ``fim.stream``: a streamed call without ``stream=True`` in its arguments."""
    return observe_chat(endpoint, instance, {**kwargs, "stream": True})


CHAT = Endpoint(PROVIDER, observe_chat, completion_result, operation="chat")
"""``chat.complete`` / ``complete_async`` (and ``agents.complete``, ``chat.parse`` which calls it)."""

CHAT_STREAM = Endpoint(
    PROVIDER,
    _observe_stream,
    completion_result,
    operation="chat",
    accumulator=lambda kwargs: MistralChunkAccumulator(),
    stream_types=_STREAMS,
)
"""``chat.stream`` / ``stream_async`` (and ``agents.stream``)."""

FIM = Endpoint(PROVIDER, observe_chat, completion_result, operation="fim", messages_key="prompt")
"""``fim.complete`` / ``complete_async``: code completion of ``prompt`` (and ``suffix``)."""

FIM_STREAM = Endpoint(
    PROVIDER,
    _observe_stream,
    completion_result,
    operation="fim",
    messages_key="prompt",
    accumulator=lambda kwargs: MistralChunkAccumulator(),
    stream_types=_STREAMS,
)
"""``fim.stream`` / ``stream_async``."""

EMBEDDINGS = Endpoint(
    PROVIDER,
    observe_chat,
    embeddings_result,
    operation="embeddings",
    messages_key="inputs",
    conversational=False,
    injection_scan=False,
)
"""``embeddings.create`` / ``create_async``."""
