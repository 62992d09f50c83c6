"""Model calls of smolagents' model classes, recorded once.

``generate`` / ``generate_stream`` of the model classes are watched: when the request went through
an instrumented provider SDK (``OpenAIServerModel`` → the OpenAI integration, ``LiteLLMModel`` →
LiteLLM's, ``AmazonBedrockModel`` → Bedrock's), that integration records it (tokens, cost, time
to first token, the ``llm.before`` gate) and nothing more is recorded here; otherwise
(``InferenceClientModel``, ``TransformersModel``, ``VLLMModel``, ``MLXModel``, or the provider
integration switched off) the call is recorded from smolagents' own ``TokenUsage``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation import positive_int, record_framework_llm_call, recording_enabled

__all__ = ["RECORDED_FROM", "generate_stream_wrapper", "generate_wrapper"]

RECORDED_FROM = "smolagents_usage"
"""``recorded_from`` of a call no provider integration reported."""


def _model_id(model: Any) -> str:
    value = getattr(model, "model_id", None)
    return str(value) if value else type(model).__name__


def _record(model: Any, usage: Any, started: float, text: Any, error: BaseException | None = None) -> None:
    def describe() -> tuple[dict[str, Any], Any]:
        fields = {
            "model": _model_id(model),
            "tokens_in": positive_int(getattr(usage, "input_tokens", None)),
            "tokens_out": positive_int(getattr(usage, "output_tokens", None)),
        }
        return fields, text

    record_framework_llm_call(
        describe,
        framework="smolagents",
        recorded_from=RECORDED_FROM,
        started=started,
        error=error,
        what="a smolagents model call",
    )


def generate_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Model.generate``: recorded from its ``TokenUsage`` when no provider integration reported it."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "smolagents"):
            return wrapped(*args, **kwargs)
        watch = integration_api.begin_provider_watch()
        started = time.time()
        try:
            message = wrapped(*args, **kwargs)
        except BaseException as exc:
            if integration_api.end_provider_watch(watch) == 0 and isinstance(exc, Exception):
                _record(instance, None, started, None, exc)
            raise
        if integration_api.end_provider_watch(watch) == 0:
            _record(
                instance, getattr(message, "token_usage", None), started, getattr(message, "content", None)
            )
        return message

    return wrapper


class _Usage:
    __slots__ = ("input_tokens", "output_tokens")

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0


def _watched_stream(instance: Any, deltas: Iterator[Any]) -> Iterator[Any]:
    watch = integration_api.begin_provider_watch()
    started = time.time()
    usage = _Usage()
    pieces: list[str] = []
    try:
        for delta in deltas:
            step_usage = getattr(delta, "token_usage", None)
            if step_usage is not None:
                usage.input_tokens += positive_int(getattr(step_usage, "input_tokens", None))
                usage.output_tokens += positive_int(getattr(step_usage, "output_tokens", None))
            content = getattr(delta, "content", None)
            if isinstance(content, str):
                pieces.append(content)
            yield delta
    except Exception as exc:
        if integration_api.end_provider_watch(watch) == 0:
            _record(instance, usage, started, "".join(pieces), exc)
        raise
    if integration_api.end_provider_watch(watch) == 0:
        _record(instance, usage, started, "".join(pieces))


def generate_stream_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Model.generate_stream``: the same, summing the usage its deltas report."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "smolagents"):
            return wrapped(*args, **kwargs)
        return _watched_stream(instance, wrapped(*args, **kwargs))

    return wrapper
