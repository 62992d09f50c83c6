"""How the Ollama client's model calls are read: the request body it is about to send, its
responses (``prompt_eval_count`` / ``eval_count`` as tokens) and its streams (a generator of partial
responses, the last one ``done`` with the counts).

Imported only when ``ollama._client`` is being patched.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from waxell_observe.conversation import message_text
from waxell_observe.instrumentation import (
    CallObservation,
    CallResult,
    Endpoint,
    ToolRequest,
    begin_call,
    finish_call,
    get,
    offered_tool_names,
    positive_int,
    request_attributes,
    requested_model,
)

__all__ = ["ENDPOINTS", "PROVIDER", "OllamaAccumulator", "async_request_wrapper", "request_wrapper"]

PROVIDER = "ollama"

_OPTIONS = ("temperature", "top_p", "top_k", "num_predict", "num_ctx", "seed", "repeat_penalty")
"""The scalar model options kept in ``attributes["request"]``."""

Body = dict[str, Any]


# ----------------------------------------------------------------------------- requests


def _observe(endpoint: Endpoint, instance: Any, body: Body) -> CallObservation:
    messages = body.get(endpoint.messages_key)
    extra: dict[str, Any] = {}
    for key in ("think", "format", "keep_alive"):
        if isinstance(value := body.get(key), (str, bool, int, float)):
            extra[key] = value
    options = body.get("options")
    if endpoint.operation == "chat":
        preview = message_text(messages[-1]) if isinstance(messages, list) and messages else ""
    elif isinstance(messages, list):
        preview = "\n".join(m for m in messages if isinstance(m, str))
    else:
        preview = messages if isinstance(messages, str) else ""
    return CallObservation(
        provider=PROVIDER,
        operation=endpoint.operation,
        request_model=requested_model(body),
        messages=messages if isinstance(messages, (str, list)) else None,
        system=body.get("system") if isinstance(body.get("system"), str) else None,
        tools_offered=offered_tool_names(body.get("tools") or (), ("function", "name"), ("name",)),
        prompt_preview=preview,
        stream=body.get("stream") is True,
        attributes=request_attributes(options if isinstance(options, dict) else {}, _OPTIONS, extra),
        conversational=endpoint.conversational,
    )


# ----------------------------------------------------------------------------- responses


def _usage(result: CallResult, response: Any) -> None:
    prompt = get(response, "prompt_eval_count")
    generated = get(response, "eval_count")
    result.usage_reported = prompt is not None or generated is not None
    result.tokens_in = positive_int(prompt)
    result.tokens_out = positive_int(generated)


def _tool_calls(message: Any) -> list[ToolRequest]:
    found = []
    for call in get(message, "tool_calls") or ():
        name = get(call, "function", "name")
        if isinstance(name, str) and name:
            found.append(ToolRequest(name, "", get(call, "function", "arguments") or {}))
    return found


def _text(response: Any, operation: str) -> str:
    content = get(response, "message", "content") if operation == "chat" else get(response, "response")
    return content if isinstance(content, str) else ""


def _generation_result(response: Any, operation: str) -> CallResult:
    result = CallResult(model=str(get(response, "model") or ""))
    _usage(result, response)
    result.response_text = _text(response, operation)
    reason = get(response, "done_reason")
    result.finish_reason = reason if isinstance(reason, str) and reason else None
    if operation == "chat":
        result.tool_calls = _tool_calls(get(response, "message"))
    thinking = get(response, "message", "thinking") if operation == "chat" else get(response, "thinking")
    if isinstance(thinking, str) and thinking:
        result.attributes["thinking_chars"] = len(thinking)
    return result


def _embed_result(response: Any) -> CallResult:
    result = CallResult(model=str(get(response, "model") or ""))
    _usage(result, response)
    vectors = get(response, "embeddings")
    single = get(response, "embedding")  # the legacy /api/embeddings answer: one vector, no counts
    if single is not None:
        vectors = [single]
    vectors = list(vectors or ())
    result.attributes["embeddings"] = len(vectors)
    if vectors and isinstance(vectors[0], (list, tuple)):
        result.attributes["dimensions"] = len(vectors[0])
    return result


class OllamaAccumulator:
    """Accumulates the partial responses of a stream (the last one, ``done``, carries the counts)."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.model = ""
        self.text: list[str] = []
        self.thinking = 0
        self.tool_calls: list[ToolRequest] = []
        self.last: Any = None

    @property
    def finished(self) -> bool:
        return bool(get(self.last, "done"))

    def add(self, part: Any) -> bool:
        self.last = part
        self.model = str(get(part, "model") or self.model)
        text = _text(part, self.operation)
        if text:
            self.text.append(text)
        thinking = get(part, "message", "thinking") if self.operation == "chat" else get(part, "thinking")
        if isinstance(thinking, str):
            self.thinking += len(thinking)
        calls = _tool_calls(get(part, "message")) if self.operation == "chat" else []
        self.tool_calls.extend(calls)
        return bool(text or thinking or calls)

    def result(self) -> CallResult:
        result = CallResult(model=self.model)
        if self.finished:
            _usage(result, self.last)
            reason = get(self.last, "done_reason")
            result.finish_reason = reason if isinstance(reason, str) and reason else None
        else:
            result.usage_reported = False
        result.response_text = "".join(self.text)
        result.tool_calls = list(self.tool_calls)
        if self.thinking:
            result.attributes["thinking_chars"] = self.thinking
        return result


def _generation_endpoint(operation: str, messages_key: str, system_key: str | None) -> Endpoint:
    return Endpoint(
        PROVIDER,
        _observe,
        lambda response: _generation_result(response, operation),
        operation=operation,
        messages_key=messages_key,
        system_key=system_key,
        accumulator=lambda body: OllamaAccumulator(operation),
        stream_types=(types.GeneratorType, types.AsyncGeneratorType),
    )


def _embedding_endpoint(input_key: str) -> Endpoint:
    return Endpoint(
        PROVIDER,
        _observe,
        _embed_result,
        operation="embeddings",
        conversational=False,
        messages_key=input_key,
        injection_scan=False,
    )


ENDPOINTS: dict[str, Endpoint] = {
    "/api/chat": _generation_endpoint("chat", "messages", None),
    "/api/generate": _generation_endpoint("generate", "prompt", "system"),
    "/api/embed": _embedding_endpoint("input"),
    "/api/embeddings": _embedding_endpoint("prompt"),
}
"""The recorded endpoints by request path (every other request passes through)."""


# ----------------------------------------------------------------------------- the wrappers


def _endpoint(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Endpoint | None, Body]:
    """The endpoint of ``_request(cls, method, path, json=..., stream=...)`` and its JSON body."""
    path = args[2] if len(args) > 2 else kwargs.get("url")
    body = kwargs.get("json")
    endpoint = ENDPOINTS.get(path) if isinstance(path, str) else None
    if endpoint is None or not isinstance(body, dict):
        return None, {}
    return endpoint, body


def _send(kwargs: dict[str, Any], body: Body, guarded: Body) -> dict[str, Any]:
    return kwargs if guarded is body else {**kwargs, "json": guarded}


def request_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """The wrapper of ``Client._request``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        endpoint, body = _endpoint(args, kwargs)
        if endpoint is None:
            return wrapped(*args, **kwargs)
        observation, guarded = begin_call(endpoint, active, instance, body)
        kwargs = _send(kwargs, body, guarded)
        if observation is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return finish_call(endpoint, observation, guarded, result)

    return wrapper


def async_request_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """The wrapper of ``AsyncClient._request``."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        endpoint, body = _endpoint(args, kwargs)
        if endpoint is None:
            return await wrapped(*args, **kwargs)
        observation, guarded = begin_call(endpoint, active, instance, body)
        kwargs = _send(kwargs, body, guarded)
        if observation is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            observation.fail(exc)
            raise
        return finish_call(endpoint, observation, guarded, result)

    return wrapper
