"""What the agent's thread knows that a journal frame does not carry (yet).

Two facts a span needs are not in the journal's frames:

- the parent of a root run's span when the run joined another trace (the OpenTelemetry span
  active when it started, or a ``TRACEPARENT`` variable) and whether that parent was sampled
  (a nested run's parent is derived: its parent run's span);
- the conversation's size when an LLM call was recorded (``waxell.context.message_count`` and
  ``.user_turns``).

The hooks leave them here (a dict assignment on the agent's thread, only when there is
something to say); the OTLP destination of the same process reads them while it builds the
spans and forgets them once exported. A process that adopts the journal of a dead one has
no sidecar: its spans use the derived parent (a root run that joined a foreign trace keeps
the trace id, without the parent span) and no conversation counts. Both tables are bounded:
beyond :data:`MAX_ENTRIES` the oldest entry is forgotten.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple

__all__ = [
    "MAX_ENTRIES",
    "RunParent",
    "clear",
    "forget",
    "llm_context",
    "note_llm_context",
    "note_run_parent",
    "run_parent",
]

MAX_ENTRIES = 100_000


class RunParent(NamedTuple):
    """The span a run's span is a child of (ids as integers)."""

    span_id: int
    sampled: bool
    remote: bool


_run_parents: dict[str, RunParent] = {}
_llm_contexts: dict[str, tuple[int, int]] = {}


def _trim(table: dict[str, object]) -> None:
    with contextlib.suppress(StopIteration, RuntimeError):  # emptied or changed by another thread meanwhile
        table.pop(next(iter(table)), None)


def note_run_parent(run_id: str, parent: RunParent) -> None:
    if len(_run_parents) >= MAX_ENTRIES:
        _trim(_run_parents)  # type: ignore[arg-type]
    _run_parents[run_id] = parent


def note_llm_context(call_id: str, message_count: int, user_turns: int) -> None:
    if len(_llm_contexts) >= MAX_ENTRIES:
        _trim(_llm_contexts)  # type: ignore[arg-type]
    _llm_contexts[call_id] = (message_count, user_turns)


def run_parent(run_id: str) -> RunParent | None:
    return _run_parents.get(run_id)


def llm_context(call_id: str) -> tuple[int, int]:
    return _llm_contexts.get(call_id, (0, 0))


def forget(run_ids: list[str], call_ids: list[str]) -> None:
    """Entries whose spans were exported."""
    for run_id in run_ids:
        _run_parents.pop(run_id, None)
    for call_id in call_ids:
        _llm_contexts.pop(call_id, None)


def clear() -> None:
    _run_parents.clear()
    _llm_contexts.clear()
