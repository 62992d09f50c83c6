"""LLM calls of CrewAI, recorded once.

CrewAI 1.x sends a request through one of its own LLM classes: a native provider class
(``OpenAICompletion`` on the ``openai`` SDK, ``AnthropicCompletion``, ``GeminiCompletion``,
``BedrockCompletion``, ``AzureCompletion``) or ``LLM`` on LiteLLM. ``call`` / ``acall`` of each are
watched: when the request went through an instrumented SDK (the OpenAI, Anthropic, Gemini, Bedrock
or LiteLLM integration), that integration records it (served model, tokens, cost, time to first
token, the ``llm.before`` gate) and nothing more is recorded here. Otherwise (the provider
integration switched off or not installed, Azure's SDK) the call is recorded from CrewAI's own
numbers: the model CrewAI was given, the tokens its ``_track_token_usage_internal`` counted during
the call (prompt, completion, cached prompt tokens), the answer's text, or the error.

``llm.before`` is asked here too, for every call (model, messages, offered tools), before the request
leaves: a ``block`` raises :class:`~waxell_observe.errors.PolicyViolationError` out of ``call``, so a
model no provider integration sees (Azure's SDK, a provider integration switched off) is governed as
well; the answer is held for the request underneath, so a provider integration that sees it does
not ask again.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any

from waxell_observe import integration_api
from waxell_observe.instrumentation import positive_int, record_framework_llm_call, recording_enabled
from waxell_observe.instrumentation.gates import Hold, gate_framework_llm, release

__all__ = ["RECORDED_FROM", "acall_wrapper", "call_wrapper", "usage_wrapper"]

logger = logging.getLogger("waxell_observe")

RECORDED_FROM = "crewai_usage"
"""``recorded_from`` of a call no provider integration reported."""

_COUNTERS = ("prompt_tokens", "completion_tokens", "cached_prompt_tokens")


class _Usage:
    """The tokens CrewAI counted during one call."""

    __slots__ = ("tokens",)

    def __init__(self) -> None:
        self.tokens = dict.fromkeys(_COUNTERS, 0)


_call: contextvars.ContextVar[_Usage | None] = contextvars.ContextVar("waxell_crewai_llm_call", default=None)
"""The usage of the LLM call in progress in this context (None: none, or not ours)."""
_counting: contextvars.ContextVar[bool] = contextvars.ContextVar("waxell_crewai_counting", default=False)


def usage_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``BaseLLM._track_token_usage_internal``: what it adds to the LLM's counters during a call we
    watch is that call's usage (read as a difference, whatever shape the provider reported it in)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        usage = _call.get()
        if usage is None or _counting.get():
            return wrapped(*args, **kwargs)
        counters = getattr(instance, "_token_usage", None)
        before = (
            {key: positive_int(counters.get(key)) for key in _COUNTERS} if isinstance(counters, dict) else {}
        )
        token = _counting.set(True)
        try:
            return wrapped(*args, **kwargs)
        finally:
            _counting.reset(token)
            counters = getattr(instance, "_token_usage", None)
            if before and isinstance(counters, dict):
                for key in _COUNTERS:
                    usage.tokens[key] += max(positive_int(counters.get(key)) - before[key], 0)

    return wrapper


def _provider(llm: Any) -> str:
    provider = getattr(llm, "provider", None)
    return str(provider) if isinstance(provider, str) else ""


def _record(llm: Any, usage: _Usage, started: float, answer: Any, error: BaseException | None = None) -> None:
    def describe() -> tuple[dict[str, Any], Any]:
        fields = {
            "model": str(getattr(llm, "model", "") or type(llm).__name__),
            "tokens_in": usage.tokens["prompt_tokens"],
            "tokens_out": usage.tokens["completion_tokens"],
            "cached_tokens_in": usage.tokens["cached_prompt_tokens"],
            "provider": _provider(llm),
            "framework": "crewai",
        }
        return fields, answer

    record_framework_llm_call(
        describe,
        framework="crewai",
        recorded_from=RECORDED_FROM,
        started=started,
        error=error,
        what="a CrewAI LLM call",
    )


def _tool_names(tools: Any) -> list[str] | None:
    """The names of the tools a call offers (OpenAI-style schemas or objects with a ``name``)."""
    if not isinstance(tools, list) or not tools:
        return None
    names: list[str] = []
    for tool in tools:
        spec = tool.get("function", tool) if isinstance(tool, dict) else tool
        name = spec.get("name") if isinstance(spec, dict) else getattr(spec, "name", None)
        if isinstance(name, str) and name:
            names.append(name)
    return names or None


def _gate(llm: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hold | None:
    """``llm.before`` for the call (raises ``PolicyViolationError`` on block), its answer held."""
    messages = args[0] if args else kwargs.get("messages")
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return gate_framework_llm(
        provider=_provider(llm) or "crewai",
        model=str(getattr(llm, "model", "") or type(llm).__name__),
        messages=messages,
        max_tokens=getattr(llm, "max_tokens", None),
        tools=_tool_names(args[1] if len(args) > 1 else kwargs.get("tools")),
    )


class _Watch:
    """One ``call`` / ``acall`` being watched: whether a provider integration reported it."""

    __slots__ = ("provider_watch", "started", "token", "usage")

    def __init__(self) -> None:
        self.usage = _Usage()
        self.token = _call.set(self.usage)
        self.provider_watch = integration_api.begin_provider_watch()
        self.started = time.time()

    def end(self, llm: Any, answer: Any = None, error: BaseException | None = None) -> None:
        reported = integration_api.end_provider_watch(self.provider_watch)
        with contextlib.suppress(ValueError):
            _call.reset(self.token)
        if reported == 0 and (error is None or isinstance(error, Exception)):
            _record(llm, self.usage, self.started, answer, error)


def _watching(active: Callable[[], bool]) -> bool:
    return _call.get() is None and recording_enabled(active, "crewai")


def call_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``call`` of CrewAI's LLM classes: recorded from CrewAI's usage when no provider integration
    reported it (a call made inside another one we watch — a subclass calling ``super().call`` — is
    part of it)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not _watching(active):
            return wrapped(*args, **kwargs)
        hold = _gate(instance, args, kwargs)  # a refusal raises here: nothing is sent, nothing recorded
        try:
            watch = _Watch()
            try:
                answer = wrapped(*args, **kwargs)
            except BaseException as exc:
                watch.end(instance, error=exc)
                raise
            watch.end(instance, answer)
            return answer
        finally:
            release(hold)

    return wrapper


def acall_wrapper(active: Callable[[], bool]) -> Callable[..., Any]:
    """``acall``: the same, awaited (watched in the task that awaits it)."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async def run() -> Any:
            if not _watching(active):
                return await wrapped(*args, **kwargs)
            hold = _gate(instance, args, kwargs)
            try:
                watch = _Watch()
                try:
                    answer = await wrapped(*args, **kwargs)
                except BaseException as exc:
                    watch.end(instance, error=exc)
                    raise
                watch.end(instance, answer)
                return answer
            finally:
                release(hold)

        return run()

    return wrapper
