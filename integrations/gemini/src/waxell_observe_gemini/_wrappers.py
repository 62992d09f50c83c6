"""The wrappers put around google-genai's ``Models`` / ``AsyncModels`` methods.

Each request the SDK sends is wrapped where it is sent: ``_generate_content`` and
``_generate_content_stream`` (what ``generate_content``, ``generate_content_stream``, chats and automatic
function calling all go through, once per HTTP request), and ``embed_content``. So every request is one
LLM record with its own usage, and the function calls a response asks for pass the ``tool.before`` gate
before automatic function calling runs them.

Before a request leaves: the prompt guard over ``contents`` and ``config.system_instruction``, then the
``llm.before`` gate (model, prompt text, ``max_output_tokens``); a block raises and nothing is sent.
A streamed call is gated when its first chunk is asked for (the SDK sends the request then).

Imported only when the SDK's ``models`` module is (from a post-import hook).
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waxell_observe.instrumentation import (
    CallObservation,
    CallResult,
    Endpoint,
    gate_llm_request,
    recording_enabled,
    start_observation,
)
from waxell_observe.instrumentation.wrappers import async_wrapper as core_async_wrapper
from waxell_observe.instrumentation.wrappers import sync_wrapper as core_sync_wrapper
from waxell_observe.prompt_guard import guard_request
from waxell_observe_gemini._reading import (
    GeminiChunkAccumulator,
    as_content_list,
    chat_messages,
    embeddings_result,
    generate_result,
    model_name,
    offered_tools,
    request_params,
    system_text,
)

__all__ = ["EMBED", "GENERATE", "PROVIDER", "VERTEX_PROVIDER", "async_wrapper", "sync_wrapper"]

PROVIDER = "gemini"
VERTEX_PROVIDER = "vertex_ai"

Kwargs = dict[str, Any]


def provider_of(instance: Any) -> str:
    """``vertex_ai`` for a client made with ``vertexai=True``, else ``gemini``."""
    return VERTEX_PROVIDER if getattr(getattr(instance, "_api_client", None), "vertexai", False) else PROVIDER


@dataclass(frozen=True)
class GeminiEndpoint(Endpoint):
    """An endpoint whose prompt lives in ``contents`` and ``config.system_instruction``."""

    def guard(self, instance: Any, kwargs: Kwargs) -> Kwargs:
        """The prompt guard over ``contents`` (and the system instruction): the arguments to send."""
        config = kwargs.get("config")
        instruction = _get(config, "system_instruction")
        system = instruction if isinstance(instruction, (str, list)) else None
        guarded = guard_request(
            as_content_list(kwargs.get("contents")),
            system,
            provider=self.provider_for(instance),
            model=model_name(kwargs.get("model")),
            injection=self.injection_scan,
        )
        if guarded is None or not guarded.changed:
            return kwargs
        kwargs = dict(kwargs)
        kwargs["contents"] = guarded.messages
        if system is not None:
            kwargs["config"] = _with_system(config, guarded.system)
        return kwargs


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _with_system(config: Any, system: Any) -> Any:
    if isinstance(config, dict):
        return {**config, "system_instruction": system}
    return config.model_copy(update={"system_instruction": system})


class GeminiObservation(CallObservation):
    """A call whose errors name their HTTP status in ``code`` (``google.genai.errors.APIError``)."""

    __slots__ = ()

    def fail(self, error: BaseException, result: CallResult | None = None) -> None:
        code = getattr(error, "code", None)
        if isinstance(code, int) and not isinstance(code, bool):
            self.attributes["http_status"] = code
        super().fail(error, result)


def _observe_generate(endpoint: Endpoint, instance: Any, kwargs: Kwargs) -> CallObservation:
    config = kwargs.get("config")
    messages = chat_messages(kwargs.get("contents"))
    return GeminiObservation(
        provider=endpoint.provider_for(instance),
        operation=endpoint.operation,
        request_model=model_name(kwargs.get("model")),
        messages=messages,
        system=system_text(config),
        tools_offered=offered_tools(config),
        prompt_preview=messages[-1]["content"] if messages else "",
        stream=endpoint.stream_types is not None,
        attributes=_request_attributes(config),
    )


def _observe_embed(endpoint: Endpoint, instance: Any, kwargs: Kwargs) -> CallObservation:
    texts = [m["content"] for m in chat_messages(kwargs.get("contents"))]
    return GeminiObservation(
        provider=endpoint.provider_for(instance),
        operation=endpoint.operation,
        request_model=model_name(kwargs.get("model")),
        prompt_preview="\n".join(texts),
        attributes=_request_attributes(kwargs.get("config")),
        conversational=False,
    )


def _request_attributes(config: Any) -> dict[str, Any]:
    params = request_params(config)
    dimensionality = _get(config, "output_dimensionality")
    if isinstance(dimensionality, int):
        params["output_dimensionality"] = dimensionality
    task = _get(config, "task_type")
    if isinstance(task, str):
        params["task_type"] = task
    return {"request": params} if params else {}


GENERATE = GeminiEndpoint(
    PROVIDER, _observe_generate, generate_result, operation="chat", provider_of=provider_of
)
"""``_generate_content``: one ``generateContent`` request."""

GENERATE_STREAM = GeminiEndpoint(
    PROVIDER,
    _observe_generate,
    generate_result,
    operation="chat",
    provider_of=provider_of,
    accumulator=lambda kwargs: GeminiChunkAccumulator(),
    stream_types=(types.GeneratorType, types.AsyncGeneratorType),
)
"""``_generate_content_stream``: one ``streamGenerateContent`` request (a generator of chunks)."""

EMBED = GeminiEndpoint(
    PROVIDER,
    _observe_embed,
    embeddings_result,
    operation="embeddings",
    provider_of=provider_of,
    injection_scan=False,
    conversational=False,
)
"""``embed_content``."""


def _begin(
    endpoint: Endpoint, active: Callable[[], bool], instance: Any, kwargs: Kwargs
) -> tuple[CallObservation | None, Kwargs]:
    """Before the request leaves: the guard and the ``llm.before`` gate (both may raise on purpose)."""
    if not recording_enabled(active, endpoint.provider):
        return None, kwargs
    kwargs = endpoint.guard(instance, kwargs)
    config = kwargs.get("config")
    gate_llm_request(
        provider=endpoint.provider_for(instance),
        model=model_name(kwargs.get("model")),
        messages=chat_messages(kwargs.get("contents")),
        system=system_text(config),
        max_tokens=_get(config, "max_output_tokens"),
        tools=offered_tools(config) or None,
    )
    return start_observation(endpoint, instance, kwargs), kwargs


def sync_wrapper(endpoint: Endpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for a synchronous ``Models`` method (the core wrapper with Gemini's guard and gate)."""
    return core_sync_wrapper(endpoint, active, _begin)


def async_wrapper(endpoint: Endpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """A wrapt wrapper for an ``AsyncModels`` coroutine method."""
    return core_async_wrapper(endpoint, active, _begin)
