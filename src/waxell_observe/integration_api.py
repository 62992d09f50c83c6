"""The entry point integrations use to report what they capture.

Integrations (OpenAI, Anthropic, LangChain, LlamaIndex, third parties) call
:func:`record_llm_call` for every model call they see. Inside a run it is recorded on the
current :class:`~waxell_observe.WaxellContext`; outside any run it goes to the background
collector, which writes it as an automatic run ``auto:{model}``.

Framework integrations (LangChain, LlamaIndex) record the model calls their framework
makes, and those calls usually go through a provider SDK (OpenAI, Anthropic) that is
instrumented too. To record each call once, a framework integration marks the context
while its framework's model call runs (:func:`begin_framework_call` /
:func:`end_framework_call`); :func:`record_llm_call` ignores reports made under that mark,
and provider integrations that record by other means check :func:`framework_call_active`.
Where the provider knows more than the framework (LlamaIndex embeddings carry no token
usage), the framework integration watches instead (:func:`begin_provider_watch` /
:func:`end_provider_watch`) and records the call only when no provider reported it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.current import current_context

__all__ = [
    "record_llm_call",
    "begin_framework_call",
    "end_framework_call",
    "framework_call_active",
    "begin_provider_watch",
    "end_provider_watch",
]

logger = logging.getLogger("waxell_observe")

_framework_call: ContextVar[str] = ContextVar("waxell_observe_framework_call", default="")


def framework_call_active() -> str:
    """The framework integration recording the model call running in this context, or ``""``."""
    return _framework_call.get()


def begin_framework_call(framework: str) -> str:
    """Mark this context: ``framework`` records the model call that is about to run.

    Returns the previous mark, to hand back to :func:`end_framework_call`.
    """
    previous = _framework_call.get()
    _framework_call.set(framework)
    return previous


def end_framework_call(previous: str = "") -> None:
    """Remove the mark set by :func:`begin_framework_call` (restoring ``previous``)."""
    _framework_call.set(previous)


class _Watch:
    __slots__ = ("reports",)

    def __init__(self) -> None:
        self.reports = 0


_watch: ContextVar[_Watch | None] = ContextVar("waxell_observe_provider_watch", default=None)


def begin_provider_watch() -> Any:
    """Start counting the LLM calls reported through :func:`record_llm_call` in this context.

    Returns a handle for :func:`end_provider_watch`.
    """
    watch = _Watch()
    return watch, _watch.set(watch)


def end_provider_watch(handle: Any) -> int:
    """Stop the watch started by :func:`begin_provider_watch`; return how many calls were reported."""
    watch: _Watch
    watch, token = handle
    try:
        _watch.reset(token)
    except ValueError:  # ended in another context: the watch there is ours only if still set
        if _watch.get() is watch:
            _watch.set(None)
    return watch.reports


def record_llm_call(**fields: Any) -> None:
    """Record one LLM call on the current run, or on the background collector.

    ``fields`` are the keyword arguments of :meth:`WaxellContext.record_llm_call`
    (``model``, ``tokens_in``, ``tokens_out`` required). Never raises. Ignored while a
    framework integration records the call (see :func:`begin_framework_call`).
    """
    try:
        if not get_config().enabled:
            return
        framework = _framework_call.get()
        if framework:
            logger.debug(
                "waxell-observe: LLM call already recorded by the %s integration; skipped", framework
            )
            return
        watch = _watch.get()
        if watch is not None:
            watch.reports += 1
        ctx = current_context.get()
        if ctx is not None and ctx.run is not None:
            ctx.record_llm_call(**fields)
            return
        from waxell_observe import calls_outside_runs

        calls_outside_runs.collect(fields)
    except Exception:  # noqa: BLE001 - integrations must never break the agent
        logger.exception("waxell-observe: failed to record an LLM call reported by an integration")
