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
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.current import current_context

__all__ = ["record_llm_call", "begin_framework_call", "end_framework_call", "framework_call_active"]

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
            logger.debug("waxell-observe: LLM call already recorded by the %s integration; skipped", framework)
            return
        ctx = current_context.get()
        if ctx is not None and ctx.run is not None:
            ctx.record_llm_call(**fields)
            return
        from waxell_observe import collector

        collector.collect(fields)
    except Exception:  # noqa: BLE001 - integrations must never break the agent
        logger.exception("waxell-observe: failed to record an LLM call reported by an integration")
