"""Decorators: ``@observe`` (one run per call) and the behaviour decorators that record
tool calls, decisions, retrievals, reasoning, retries and steps onto the current run."""

from __future__ import annotations

from waxell_observe.decorators.behaviour import decision, reasoning_dec, retrieval, retry_dec, step_dec, tool
from waxell_observe.decorators.observe import observe, waxell_agent

__all__ = [
    "observe",
    "waxell_agent",
    "tool",
    "decision",
    "retrieval",
    "reasoning_dec",
    "retry_dec",
    "step_dec",
]
