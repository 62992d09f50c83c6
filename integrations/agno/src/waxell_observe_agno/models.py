"""Model calls of Agno's model classes, recorded once.

``Model._invoke_with_retry`` / ``_ainvoke_with_retry`` (one model call, retries included) and their
streaming twins are watched: when the request went through an instrumented provider SDK
(``OpenAIChat`` → the OpenAI integration, ``Claude`` → Anthropic's, ``Gemini``, ``Groq``, ...), that
integration records it (tokens, cost, time to first token, ``llm.before``) and nothing more is
recorded here; otherwise the call is recorded from Agno's ``ModelResponse.response_usage`` (summed
over a stream's deltas; ``recorded_from``: ``agno_usage``; not gated).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation import positive_int, record_framework_llm_call, recording_enabled

__all__ = [
    "RECORDED_FROM",
    "ainvoke_stream_wrapper",
    "ainvoke_wrapper",
    "invoke_stream_wrapper",
    "invoke_wrapper",
]

RECORDED_FROM = "agno_usage"
"""``recorded_from`` of a call no provider integration reported."""
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens")


class _Usage:
    """Tokens and text gathered from one call's ``ModelResponse`` (or a stream's deltas)."""

    __slots__ = ("input_tokens", "output_tokens", "cache_read_tokens", "text")

    def __init__(self) -> None:
        self.input_tokens = self.output_tokens = self.cache_read_tokens = 0
        self.text: list[str] = []

    def add(self, response: Any) -> None:
        usage = getattr(response, "response_usage", None)
        if usage is not None:
            for field in _TOKENS:
                setattr(self, field, getattr(self, field) + positive_int(getattr(usage, field, None)))
        content = getattr(response, "content", None)
        if isinstance(content, str):
            self.text.append(content)


def _record(model: Any, usage: _Usage, started: float, error: BaseException | None = None) -> None:
    def describe() -> tuple[dict[str, Any], str]:
        fields = {
            "model": str(getattr(model, "id", "") or type(model).__name__),
            "tokens_in": usage.input_tokens,
            "tokens_out": usage.output_tokens,
            "cached_tokens_in": usage.cache_read_tokens,
        }
        return fields, "".join(usage.text)

    record_framework_llm_call(
        describe,
        framework="agno",
        recorded_from=RECORDED_FROM,
        started=started,
        error=error,
        what="an Agno model call",
    )


def invoke_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Model._invoke_with_retry``: recorded from the response when no provider integration did."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "agno"):
            return wrapped(*args, **kwargs)
        watch = integration_api.begin_provider_watch()
        started = time.time()
        usage = _Usage()
        try:
            response = wrapped(*args, **kwargs)
        except Exception as exc:
            if integration_api.end_provider_watch(watch) == 0:
                _record(instance, usage, started, exc)
            raise
        if integration_api.end_provider_watch(watch) == 0:
            usage.add(response)
            _record(instance, usage, started)
        return response

    return wrapper


def ainvoke_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Model._ainvoke_with_retry``: the same, awaited."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "agno"):
            return wrapped(*args, **kwargs)

        async def watched() -> Any:
            watch = integration_api.begin_provider_watch()
            started = time.time()
            usage = _Usage()
            try:
                response = await wrapped(*args, **kwargs)
            except Exception as exc:
                if integration_api.end_provider_watch(watch) == 0:
                    _record(instance, usage, started, exc)
                raise
            if integration_api.end_provider_watch(watch) == 0:
                usage.add(response)
                _record(instance, usage, started)
            return response

        return watched()

    return wrapper


def _watched_stream(instance: Any, deltas: Iterator[Any]) -> Iterator[Any]:
    watch = integration_api.begin_provider_watch()
    started = time.time()
    usage = _Usage()
    try:
        for delta in deltas:
            usage.add(delta)
            yield delta
    except Exception as exc:
        if integration_api.end_provider_watch(watch) == 0:
            _record(instance, usage, started, exc)
        raise
    if integration_api.end_provider_watch(watch) == 0:
        _record(instance, usage, started)


async def _awatched_stream(instance: Any, deltas: AsyncIterator[Any]) -> AsyncIterator[Any]:
    watch = integration_api.begin_provider_watch()
    started = time.time()
    usage = _Usage()
    try:
        async for delta in deltas:
            usage.add(delta)
            yield delta
    except Exception as exc:
        if integration_api.end_provider_watch(watch) == 0:
            _record(instance, usage, started, exc)
        raise
    if integration_api.end_provider_watch(watch) == 0:
        _record(instance, usage, started)


def invoke_stream_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Model._invoke_stream_with_retry``: the same, summing the deltas' usage."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "agno"):
            return wrapped(*args, **kwargs)
        return _watched_stream(instance, wrapped(*args, **kwargs))

    return wrapper


def ainvoke_stream_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``Model._ainvoke_stream_with_retry``: the same for an async stream."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, "agno"):
            return wrapped(*args, **kwargs)
        return _awatched_stream(instance, wrapped(*args, **kwargs))

    return wrapper
