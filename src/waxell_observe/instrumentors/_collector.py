"""``waxell_observe.instrumentors._collector``: LLM calls made outside any run (the reference SDK's path).

``_collector.record_call({"model": ..., "tokens_in": ..., "tokens_out": ..., ...})`` files the call
under the automatic run ``auto:<model>`` of :mod:`waxell_observe.calls_outside_runs` (workflow
``auto``, metadata ``{"auto_collected": true, "call_count": n}``); ``flush()`` ends the open
automatic runs now; ``shutdown()`` ends them and stops the timer thread. The call is journaled
before ``record_call`` returns, so nothing is kept in a memory buffer and nothing is re-buffered.
"""

from __future__ import annotations

import logging
from typing import Any

from waxell_observe import calls_outside_runs

__all__ = ["BackgroundCollector", "_collector"]

logger = logging.getLogger("waxell_observe")


class BackgroundCollector:
    """Takes LLM calls made while no run is active (one per process: ``_collector``)."""

    def __init__(self, flush_interval: float = 5.0) -> None:
        self.flush_interval = flush_interval
        """Seconds an automatic run stays open (the process-wide interval,
        ``calls_outside_runs.INTERVAL_SECONDS``, is what applies)."""

    def record_call(self, call_data: dict[str, Any]) -> None:
        """Record one call (keys of ``WaxellContext.record_llm_call``: ``model``, ``tokens_in``,
        ``tokens_out``, ``cost``, ``task``, ``prompt_preview``, ``response_preview``,
        ``prompt_hash``, ...). Never raises: a call without a model or token counts is logged."""
        try:
            calls_outside_runs.collect(call_data)
        except (TypeError, ValueError) as exc:
            logger.warning("waxell-observe: LLM call outside a run not recorded: %s", exc)

    def flush(self) -> None:
        """End the open automatic runs now (the pipeline delivers them)."""
        calls_outside_runs.write_pending()

    def shutdown(self) -> None:
        """End the open automatic runs and stop the timer thread (waits at most 5 s)."""
        calls_outside_runs.on_shutdown(timeout=5.0)


_collector = BackgroundCollector()
