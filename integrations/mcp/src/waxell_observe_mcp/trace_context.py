"""W3C trace context across an MCP session (``params._meta.traceparent``, MCP's SEP-414).

The client side names the span of the call it records: the run's trace id (the one the
OpenTelemetry exporter gives the run, else the id it derives from the root run's id) and the
span's id as the exporter derives it from our record id (its low 64 bits). The value is put in the
request's ``_meta`` and made the current OpenTelemetry span while the request is sent, so MCP's
own instrumentation (which injects the current context) carries the same parent, and a client
span MCP records itself nests under ours. The server side reads it back; its run joins the trace
through the span MCP's server middleware makes current.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from waxell_observe.run import Run

__all__ = ["TRACEPARENT", "activate", "deactivate", "received_traceparent", "traceparent_for_span"]

TRACEPARENT = "traceparent"
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_VALID = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def _trace_id(run: Run) -> str:
    state = run.plugin_state.get("otel") if run.plugin_state else None
    if isinstance(state, dict) and isinstance(state.get("trace_id"), str) and _HEX32.match(state["trace_id"]):
        return str(state["trace_id"])
    root = (run.root_run_id or run.run_id).replace("-", "").lower()
    return root if _HEX32.match(root) else ""


def traceparent_for_span(run: Run, span_id: str) -> str:
    """The ``traceparent`` naming the span ``span_id`` (32 hex) of ``run`` ("" when the run's
    trace id cannot be told)."""
    trace_id = _trace_id(run)
    if not trace_id or not _HEX32.match(span_id) or int(trace_id, 16) == 0:
        return ""
    span = span_id[-16:]
    if int(span, 16) == 0:
        return ""
    return f"00-{trace_id}-{span}-01"


def received_traceparent(meta: Mapping[str, Any] | None) -> str:
    """The valid ``traceparent`` of a request's ``_meta``, or ""."""
    value = meta.get(TRACEPARENT) if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) and _VALID.match(value) else ""


def activate(traceparent: str) -> Any:
    """Make the span ``traceparent`` names the current OpenTelemetry span; a token for
    :func:`deactivate` (None when OpenTelemetry is not importable or the value is empty)."""
    match = _VALID.match(traceparent)
    if match is None:
        return None
    try:
        from opentelemetry import context, trace
    except ImportError:
        return None
    span_context = trace.SpanContext(
        int(match.group(1), 16), int(match.group(2), 16), is_remote=False, trace_flags=trace.TraceFlags(1)
    )
    return context.attach(trace.set_span_in_context(trace.NonRecordingSpan(span_context)))


def deactivate(token: Any) -> None:
    """Undo :func:`activate`."""
    if token is None:
        return
    from opentelemetry import context

    context.detach(token)
