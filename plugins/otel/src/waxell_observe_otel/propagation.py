"""W3C trace context: which trace a run joins, and the ``traceparent`` it hands on.

A root run joins the trace of the OpenTelemetry span active when it starts, else the
trace named by a ``TRACEPARENT`` (or ``traceparent``) environment variable, else starts
its own trace (whose id is derived from the run id). A nested run is a child of its
parent run's span. The run's ids are stored in ``run.plugin_state["otel"]`` as
``{"trace_id": 32 hex, "span_id": 16 hex, "sampled": bool, "traceparent": str}`` so that
other plugins (the remote sink) can send ``traceparent`` with their requests:
:func:`traceparent_for` reads it.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING, Any, NamedTuple

from waxell_observe_otel.ids import span_id_for, trace_id_for, traceparent

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = [
    "PLUGIN_STATE_KEY",
    "ParentContext",
    "active_span_parent",
    "environment_parent",
    "parse_traceparent",
    "run_trace",
    "state_for",
    "traceparent_for",
]

PLUGIN_STATE_KEY = "otel"


@functools.cache
def _traceparent_pattern() -> re.Pattern[str]:
    """Compiled on first use, not when ``init()`` imports the plugin."""
    return re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


class ParentContext(NamedTuple):
    """The span a run's span is a child of."""

    trace_id: int
    span_id: int
    sampled: bool
    remote: bool


def traceparent_for(run: Run) -> str | None:
    """The W3C ``traceparent`` of ``run``'s span, or ``None`` when the run is not traced."""
    state = getattr(run, "plugin_state", {}).get(PLUGIN_STATE_KEY)
    if not isinstance(state, dict):
        return None
    value = state.get("traceparent")
    return value if isinstance(value, str) else None


def parse_traceparent(value: str) -> ParentContext | None:
    """A ``traceparent`` header value as a parent context (``None`` when invalid)."""
    match = _traceparent_pattern().match(value.strip().lower())
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    return ParentContext(trace_id, span_id, bool(int(flags_hex, 16) & 1), True)


def environment_parent() -> ParentContext | None:
    """The parent named by ``TRACEPARENT``/``traceparent`` in the environment, if valid."""
    # the lowercase name is the W3C header's own spelling, which some carriers keep
    value = os.environ.get("TRACEPARENT") or os.environ.get("traceparent")  # noqa: SIM112
    return parse_traceparent(value) if value else None


def active_span_parent() -> ParentContext | None:
    """The OpenTelemetry span active on this thread/task, if any."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return ParentContext(context.trace_id, context.span_id, context.trace_flags.sampled, context.is_remote)


def _parent_run_state(run: Run) -> dict[str, Any] | None:
    """The ``plugin_state["otel"]`` of ``run``'s parent run, found through the active context."""
    from waxell_observe.current import current_context

    context = current_context.get()
    while context is not None:
        if context.run is run:
            parent = context.parent
            parent_run = parent.run if parent is not None else None
            state = parent_run.plugin_state.get(PLUGIN_STATE_KEY) if parent_run is not None else None
            return state if isinstance(state, dict) else None
        context = context.parent
    return None


def run_trace(run: Run) -> tuple[int, int, ParentContext | None]:
    """``(trace id, span id, parent)`` of ``run``'s span; call on the agent's thread at run start."""
    span_id = span_id_for(run.run_id)
    if run.parent_run_id:
        state = _parent_run_state(run)
        if state is not None:
            trace_id = int(state["trace_id"], 16)
            parent = ParentContext(
                trace_id, int(state["span_id"], 16), bool(state.get("sampled", True)), False
            )
        else:  # parent not found through the context: its ids are derived all the same
            trace_id = trace_id_for(run.root_run_id or run.parent_run_id)
            parent = ParentContext(trace_id, span_id_for(run.parent_run_id), True, False)
        return trace_id, span_id, parent
    joined = active_span_parent() or environment_parent()
    if joined is not None:
        return joined.trace_id, span_id, joined
    return trace_id_for(run.run_id), span_id, None


def state_for(trace_id: int, span_id: int, parent: ParentContext | None) -> dict[str, Any]:
    """The ``plugin_state["otel"]`` dict of a run."""
    sampled = parent.sampled if parent is not None else True
    return {
        "trace_id": f"{trace_id:032x}",
        "span_id": f"{span_id:016x}",
        "sampled": sampled,
        "traceparent": traceparent(trace_id, span_id, sampled),
    }
