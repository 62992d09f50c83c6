"""Snapshots of runs and records, taken on the agent's thread and queued for the worker.

Plain frozen dataclasses: building them costs a few attribute reads, and importing this
module does not import OpenTelemetry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe_otel.propagation import ParentContext
    from waxell_observe_otel.settings import OtelSettings

__all__ = ["LLMContext", "RunEnd", "RunStart"]


@dataclass(slots=True)
class RunStart:
    """A run's start, as snapshotted on the agent's thread."""

    run_id: str
    agent_name: str
    workflow_name: str
    session_id: str
    user_id: str
    user_group: str
    parent_run_id: str
    root_run_id: str
    interaction_mode: str
    started_at: float
    trace_id: int
    span_id: int
    parent: ParentContext | None
    capture_content: bool
    settings: OtelSettings | None
    """``None``: ask the control plane of ``config`` for its endpoint first."""
    config: ObserveConfig


@dataclass(slots=True)
class RunEnd:
    """A run's completion, as snapshotted on the agent's thread."""

    run_id: str
    ended_at: float
    status: str
    error: str
    error_type: str
    traceback: str
    tags: dict[str, str]
    metadata: dict[str, Any]
    tokens_in: int
    tokens_out: int
    total_cost: float
    llm_call_count: int
    step_count: int
    span_count: int
    conversation: dict[str, Any]
    governance: dict[str, Any] | None
    inputs: Any
    result: Any


@dataclass(slots=True)
class LLMContext:
    """The conversation's size when an LLM call was recorded."""

    message_count: int = 0
    user_turns: int = 0
