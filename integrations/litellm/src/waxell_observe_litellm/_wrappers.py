"""How LiteLLM's calls are read and recorded: once per call, as the provider LiteLLM routes to.

LiteLLM answers in the OpenAI format (``ModelResponse``, ``ModelResponseStream`` chunks,
``EmbeddingResponse``), read by the shared chat-completions reader. While LiteLLM runs a call the
context carries the framework mark ``litellm`` (:func:`waxell_observe.integration_api.begin_framework_call`):
a provider SDK it calls underneath (the OpenAI SDK for ``azure/...`` models) is not recorded a
second time, and a LiteLLM call nested in another (fallbacks calling ``litellm.completion``) passes
through. The call's own record is made after the mark is lifted. The ``llm.before`` gate is asked once,
for the model as the provider will see it (unless a framework calling LiteLLM asked about that model
already); its answer is held for the provider SDK's wrapper underneath, which does not ask again.

Imported only when ``litellm`` is being patched.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import litellm
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper

from waxell_observe.instrumentation import (
    CallObservation,
    Endpoint,
    finish_call,
    recording_enabled,
    start_observation,
)
from waxell_observe.instrumentation.chat_completions import (
    chat_accumulator,
    chat_result,
    embeddings_result,
    observe_chat,
)
from waxell_observe.instrumentation.gates import Hold, gate_framework_llm, max_tokens_of, release
from waxell_observe.integration_api import begin_framework_call, end_framework_call, framework_call_active

__all__ = [
    "ASYNC_CHAT",
    "CHAT",
    "EMBEDDINGS",
    "FRAMEWORK",
    "async_call_wrapper",
    "call_wrapper",
    "route_of",
]

logger = logging.getLogger("waxell_observe")

FRAMEWORK = "litellm"
"""The framework mark set while LiteLLM runs a call; also the provider of a model LiteLLM cannot place."""

_PROVIDER_ALIASES = {"ollama_chat": "ollama"}
"""LiteLLM provider names recorded under another name (one provider, one name in the records)."""

Kwargs = dict[str, Any]


class _NoStream:
    """Nothing is an instance of this: the stream class a sync (or async) call never returns."""


def route_of(kwargs: Kwargs) -> tuple[str, str]:
    """``(model, provider)``: the model as the provider will be asked for it (``openai/gpt-4o`` ->
    ``gpt-4o``) and the provider LiteLLM routes to (``custom_llm_provider``, the model's prefix, the
    model's known provider), else the model as given and ``litellm``."""
    model = kwargs.get("model")
    if not isinstance(model, str) or not model:
        return "", FRAMEWORK
    try:
        routed, provider, _, _ = litellm.get_llm_provider(
            model=model,
            custom_llm_provider=kwargs.get("custom_llm_provider"),
            api_base=kwargs.get("api_base"),
        )
    except Exception:  # LiteLLM raises for a model it cannot place: the call will fail the same way
        logger.debug("waxell-observe: litellm could not name the provider of %r", model, exc_info=True)
        provider, _, routed = model.rpartition("/")
    provider = str(provider or "") or FRAMEWORK
    return str(routed or model), _PROVIDER_ALIASES.get(provider, provider)


def _observe(endpoint: Endpoint, instance: Any, kwargs: Kwargs) -> CallObservation:
    observation = observe_chat(endpoint, instance, kwargs)
    observation.attributes["via"] = FRAMEWORK
    return observation


def _chat(stream_types: tuple[type, type]) -> Endpoint:
    return Endpoint(
        FRAMEWORK,
        _observe,
        chat_result,
        operation="chat",
        accumulator=chat_accumulator,
        stream_types=stream_types,
    )


CHAT = _chat((CustomStreamWrapper, _NoStream))
"""``litellm.completion``."""

ASYNC_CHAT = _chat((_NoStream, CustomStreamWrapper))
"""``litellm.acompletion``: its ``CustomStreamWrapper`` is iterated with ``async for``."""

EMBEDDINGS = Endpoint(
    FRAMEWORK,
    _observe,
    embeddings_result,
    operation="embeddings",
    messages_key="input",
    conversational=False,
    injection_scan=False,
)
"""``litellm.embedding`` / ``aembedding``."""


def _begin(
    endpoint: Endpoint, active: Callable[[], bool], args: tuple[Any, ...], kwargs: Kwargs
) -> tuple[Endpoint, CallObservation | None, Kwargs, Hold | None] | None:
    """Before LiteLLM is called: the call's endpoint (its provider resolved), its observation (None:
    do not record), its arguments as keywords, and the ``llm.before`` hold to release once LiteLLM
    returned, after the prompt guard and the gate (asked about the model as the provider will see it).
    None to pass the call through untouched: a LiteLLM call nested in one being recorded,
    ``completion(acompletion=True)`` (which returns a coroutine), or more than ``model`` and the messages
    given by position."""
    if framework_call_active() == FRAMEWORK or kwargs.get("acompletion") is True or len(args) > 2:
        return None
    if args:
        kwargs = {**dict(zip(("model", endpoint.messages_key), args, strict=False)), **kwargs}
    if not recording_enabled(active, FRAMEWORK):
        return endpoint, None, kwargs, None
    model, provider = route_of(kwargs)
    endpoint = dataclasses.replace(endpoint, provider=provider)
    kwargs = endpoint.guard(None, kwargs)
    made = gate_framework_llm(
        provider=provider,
        model=model,
        messages=kwargs.get(endpoint.messages_key),
        max_tokens=max_tokens_of(kwargs),
        inner=True,  # under a framework that asked about this model already, its answer is taken
    )
    return endpoint, start_observation(endpoint, None, kwargs), kwargs, made


def call_wrapper(endpoint: Endpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """The wrapper of a synchronous LiteLLM function."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        begun = _begin(endpoint, active, args, kwargs)
        if begun is None:
            return wrapped(*args, **kwargs)
        call_endpoint, observation, kwargs, made = begun
        try:  # made: the llm.before hold, so the provider SDK underneath does not ask again
            if observation is None:
                return wrapped(**kwargs)
            previous = begin_framework_call(FRAMEWORK)
            try:
                result = wrapped(**kwargs)
            except BaseException as exc:
                end_framework_call(previous)
                observation.fail(exc)
                raise
            end_framework_call(previous)
        finally:
            release(made)
        return finish_call(call_endpoint, observation, kwargs, result)

    return wrapper


def async_call_wrapper(endpoint: Endpoint, active: Callable[[], bool]) -> Callable[..., Any]:
    """The wrapper of an asynchronous LiteLLM function."""

    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: Kwargs) -> Any:
        begun = _begin(endpoint, active, args, kwargs)
        if begun is None:
            return await wrapped(*args, **kwargs)
        call_endpoint, observation, kwargs, made = begun
        try:  # made: the llm.before hold, so the provider SDK underneath does not ask again
            if observation is None:
                return await wrapped(**kwargs)
            previous = begin_framework_call(FRAMEWORK)
            try:
                result = await wrapped(**kwargs)
            except BaseException as exc:
                end_framework_call(previous)
                observation.fail(exc)
                raise
            end_framework_call(previous)
        finally:
            release(made)
        return finish_call(call_endpoint, observation, kwargs, result)

    return wrapper
