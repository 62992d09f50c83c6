"""Model calls of Strands Agents, recorded once.

Every model call of an agent goes through ``stream_messages`` (``strands.event_loop.event_loop``),
which streams the model's ``stream()`` (every Strands model provider implements it) and ends with
a ``ModelStopReason`` carrying the call's usage. It is watched: when the request went through an
instrumented SDK (``OpenAIModel`` → the OpenAI integration, ``LiteLLMModel`` → LiteLLM's,
``BedrockModel`` → Bedrock's, ``AnthropicModel`` → Anthropic's, ``GeminiModel`` → Gemini's), that
integration records it (served model, tokens, cost, time to first token, the ``llm.before`` gate)
and nothing more is recorded here; otherwise the call is recorded from Strands' usage (input,
output and cache-read tokens; the model id the model was configured with; the answer's text) or
its error.

``llm.before`` is asked here for every call (model id, system prompt, messages, the tools offered)
before the model's stream starts: a ``block`` raises :class:`~waxell_observe.errors.PolicyViolationError`
out of the agent's call, nothing is sent, nothing recorded, whichever model provider the agent uses;
the answer is held for the request underneath, so a provider integration that sees it does not ask
again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation import positive_int, record_framework_llm_call, recording_enabled
from waxell_observe.instrumentation.gates import Hold, gate_framework_llm, release

__all__ = ["RECORDED_FROM", "stream_messages_wrapper"]

RECORDED_FROM = "strands_usage"
"""``recorded_from`` of a call no provider integration reported."""


def _model_id(model: Any) -> str:
    config = getattr(model, "config", None)
    model_id = config.get("model_id") if isinstance(config, dict) else None
    return str(model_id) if model_id else type(model).__name__


def _answer(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return ""
    return "".join(
        block["text"] for block in content if isinstance(block, dict) and isinstance(block.get("text"), str)
    )


def _record(model: Any, stop: Any, started: float, error: BaseException | None = None) -> None:
    def describe() -> tuple[dict[str, Any], str]:
        usage = getattr(stop, "usage", None) or {}
        fields = {
            "model": _model_id(model),
            "tokens_in": positive_int(usage.get("inputTokens")),
            "tokens_out": positive_int(usage.get("outputTokens")),
            "cached_tokens_in": positive_int(usage.get("cacheReadInputTokens")),
            "framework": "strands",
        }
        return fields, _answer(getattr(stop, "message", None))

    record_framework_llm_call(
        describe,
        framework="strands",
        recorded_from=RECORDED_FROM,
        started=started,
        error=error,
        what="a Strands model call",
    )


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str) -> Any:
    return kwargs[name] if name in kwargs else args[position] if len(args) > position else None


def _gate(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hold | None:
    """``llm.before`` for ``stream_messages(model, system_prompt, messages, tool_specs, ...)`` (raises
    ``PolicyViolationError`` on block), its answer held for the request underneath."""
    specs = _argument(args, kwargs, 3, "tool_specs")
    tools = (
        [spec["name"] for spec in specs if isinstance(spec, dict) and isinstance(spec.get("name"), str)]
        if (isinstance(specs, list))
        else []
    )
    config = getattr(model, "config", None)
    params = config.get("params") if isinstance(config, dict) else None
    provider = type(model).__name__.lower().removesuffix("model") or "strands"
    return gate_framework_llm(
        provider=provider,
        model=_model_id(model),
        messages=_argument(args, kwargs, 2, "messages"),
        system=_argument(args, kwargs, 1, "system_prompt"),
        max_tokens=params.get("max_tokens") if isinstance(params, dict) else None,
        tools=tools or None,
    )


async def _watched(
    model: Any, events: Callable[[], AsyncIterator[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> AsyncIterator[Any]:
    hold = _gate(model, args, kwargs)  # before the model's stream starts: a refusal sends nothing
    try:
        async for event in _recorded(model, events):
            yield event
    finally:
        release(hold)


async def _recorded(model: Any, events: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[Any]:
    watch = integration_api.begin_provider_watch()
    started = time.time()
    stop: Any = None
    try:
        async for event in events():
            if isinstance(event, dict) and "stop" in event:
                stop = event
            yield event
    except GeneratorExit:
        integration_api.end_provider_watch(watch)
        raise
    except BaseException as exc:
        if integration_api.end_provider_watch(watch) == 0 and isinstance(exc, Exception):
            _record(model, stop, started, exc)
        raise
    if integration_api.end_provider_watch(watch) == 0:
        _record(model, stop, started)


def stream_messages_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``stream_messages(model, ...)``: recorded from Strands' usage when no provider integration
    reported the call."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "strands"):
            return wrapped(*args, **kwargs)
        model = kwargs.get("model", args[0] if args else None)
        return _watched(model, lambda: wrapped(*args, **kwargs), args, kwargs)

    return wrapper
