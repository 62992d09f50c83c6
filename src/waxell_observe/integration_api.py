"""The entry point integrations use to report what they capture.

Integrations (OpenAI, Anthropic, LangChain, LlamaIndex, third parties) call
:func:`record_llm_call` for every model call they see. Inside a run it is recorded on the
current :class:`~waxell_observe.WaxellContext`; outside any run it goes to the background
collector, which writes it as an automatic run ``auto:{model}``.
"""

from __future__ import annotations

import logging
from typing import Any

from waxell_observe.config import get_config
from waxell_observe.current import current_context

__all__ = ["record_llm_call"]

logger = logging.getLogger("waxell_observe")


def record_llm_call(**fields: Any) -> None:
    """Record one LLM call on the current run, or on the background collector.

    ``fields`` are the keyword arguments of :meth:`WaxellContext.record_llm_call`
    (``model``, ``tokens_in``, ``tokens_out`` required). Never raises.
    """
    try:
        if not get_config().enabled:
            return
        ctx = current_context.get()
        if ctx is not None and ctx.run is not None:
            ctx.record_llm_call(**fields)
            return
        from waxell_observe import collector

        collector.collect(fields)
    except Exception:  # noqa: BLE001 - integrations must never break the agent
        logger.exception("waxell-observe: failed to record an LLM call reported by an integration")
