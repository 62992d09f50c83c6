"""Model calls of AutoGen's OpenAI model clients, recorded once.

``create`` / ``create_stream`` of ``OpenAIChatCompletionClient`` and ``AzureOpenAIChatCompletionClient``
are watched: the OpenAI integration records the request it sees (tokens, cost, time to first token,
``llm.before`` before it leaves, ``tool.before`` for the tool calls of the response); only when no
provider integration reported the call (the OpenAI integration switched off) is it recorded here from
AutoGen's ``CreateResult`` (``recorded_from``: ``autogen_usage``; not gated).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation import positive_int, record_framework_llm_call, recording_enabled
from waxell_observe_autogen.agents import FRAMEWORK

__all__ = ["RECORDED_FROM", "create_stream_wrapper", "create_wrapper"]

RECORDED_FROM = "autogen_usage"
"""``recorded_from`` of a call no provider integration reported."""


def _record(client: Any, result: Any, started: float, error: BaseException | None = None) -> None:
    def describe() -> tuple[dict[str, Any], Any]:
        usage = getattr(result, "usage", None)
        model = getattr(client, "_create_args", {}).get("model") or type(client).__name__
        fields: dict[str, Any] = {
            "model": str(model),
            "tokens_in": positive_int(getattr(usage, "prompt_tokens", None)),
            "tokens_out": positive_int(getattr(usage, "completion_tokens", None)),
        }
        finish = getattr(result, "finish_reason", None)
        if isinstance(finish, str) and finish:
            fields["finish_reason"] = finish
        return fields, getattr(result, "content", None)

    record_framework_llm_call(
        describe,
        framework=FRAMEWORK,
        recorded_from=RECORDED_FROM,
        started=started,
        error=error,
        what="an AutoGen model call",
    )


def create_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``create``: recorded from the ``CreateResult`` when no provider integration reported it."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)

        async def watched() -> Any:
            watch = integration_api.begin_provider_watch()
            started = time.time()
            try:
                result = await wrapped(*args, **kwargs)
            except Exception as exc:
                if integration_api.end_provider_watch(watch) == 0:
                    _record(instance, None, started, exc)
                raise
            if integration_api.end_provider_watch(watch) == 0:
                _record(instance, result, started)
            return result

        return watched()

    return wrapper


def create_stream_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``create_stream``: the same; the stream's last item is its ``CreateResult``."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not recording_enabled(active, FRAMEWORK):
            return wrapped(*args, **kwargs)

        async def watched() -> AsyncIterator[Any]:
            watch = integration_api.begin_provider_watch()
            started = time.time()
            last: Any = None
            try:
                async for item in wrapped(*args, **kwargs):
                    last = item
                    yield item
            except Exception as exc:
                if integration_api.end_provider_watch(watch) == 0:
                    _record(instance, None, started, exc)
                raise
            if integration_api.end_provider_watch(watch) == 0:
                _record(instance, last if not isinstance(last, str) else None, started)

        return watched()

    return wrapper
