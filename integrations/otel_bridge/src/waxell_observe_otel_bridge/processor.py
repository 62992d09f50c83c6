"""The bridge itself: an OpenTelemetry ``SpanProcessor`` that records, in-process, the AI spans a
framework emits onto the current run.

The spans are read as the OTLP receiver reads them (:mod:`waxell_observe.genai_conventions`):

* a **model call** (``gen_ai.operation.name`` ``chat``/``embeddings``/..., OpenInference ``LLM``)
  is left to the provider integration that sees the same request (tokens, cost, time to first
  token, the ``llm.before`` gate): the processor watches while the span is open, and records the
  call from the span's attributes only when no provider integration reported one — never twice;
* an **agent**, **tool**, **retrieval** or **chain** span (``invoke_agent``, ``execute_tool``,
  OpenInference ``AGENT``/``TOOL``/``RETRIEVER``/``CHAIN``, OpenLLMetry workflows) becomes a
  container span of ours, opened when the framework's span starts, so everything recorded while it
  is open (a provider's LLM call, a nested tool) names it as its parent, as in the framework;
* any other span (HTTP clients, databases, the application's own) is not ours to record.

Spans outside any run are ignored, except model calls no provider integration saw, which go where
every LLM call outside a run goes (an automatic run). Every callback is guarded: a failure is
logged, never raised into the framework.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from waxell_observe import genai_conventions as conventions
from waxell_observe import integration_api
from waxell_observe.context import WaxellContext
from waxell_observe.current import current_context
from waxell_observe.vocabulary import attributes as wax

__all__ = ["KEPT_PREFIXES", "MAX_KEPT_ATTRIBUTES", "PATCHED_SCOPES", "WaxellBridgeProcessor"]

logger = logging.getLogger("waxell_observe")

KEPT_PREFIXES = ("gen_ai.", "llm.", "openinference.", "tool.", "agent.", "session.", "user.")
"""The attributes of a framework's span kept on the span we record (the AI conventions' own)."""
MAX_KEPT_ATTRIBUTES = 64
PATCHED_SCOPES: dict[str, str] = {
    "autogen-core": "waxell_observe_autogen",
    "strands.telemetry.tracer": "waxell_observe_strands",
    "gcp.vertex.agent": "waxell_observe_google_adk",
}
"""Instrumentation scopes whose spans an integration of ours records by patch (scope -> its package):
skipped while that package is instrumented, so nothing is recorded twice."""
RECORDED_FROM = "otel_bridge"
"""``recorded_from`` of an LLM call recorded from a span (no provider integration saw it)."""


class _Open:
    """A framework span being recorded: the run, and a container handle or a provider watch."""

    __slots__ = ("ctx", "handle", "kind", "watch")

    def __init__(self, ctx: WaxellContext | None, *, handle: Any = None, kind: str = "", watch: Any = None):
        self.ctx = ctx
        self.handle = handle
        self.kind = kind
        self.watch = watch


def _patched(span: Span) -> bool:
    """True when a patch integration of ours records the spans of this span's scope itself."""
    scope = span.instrumentation_scope
    package = PATCHED_SCOPES.get(scope.name) if scope is not None else None
    module = sys.modules.get(package) if package else None
    is_instrumented = getattr(module, "is_instrumented", None)
    return bool(callable(is_instrumented) and is_instrumented())


def _kept(a: Mapping[str, Any], span: ReadableSpan) -> dict[str, Any]:
    """The span's AI attributes, its OpenTelemetry name and instrumentation scope."""
    kept: dict[str, Any] = {}
    for key, value in a.items():
        if len(kept) >= MAX_KEPT_ATTRIBUTES:
            break
        if key.startswith(KEPT_PREFIXES):
            kept[key] = list(value) if isinstance(value, tuple) else value
    kept["otel.span_name"] = span.name
    scope = span.instrumentation_scope
    if scope is not None and scope.name:
        kept["otel.scope"] = scope.name
    return kept


def _io(a: Mapping[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    input_text, output_text = conventions.span_input_output(a)
    return (
        {"input": conventions.decoded(input_text)} if input_text else None,
        {"output": conventions.decoded(output_text)} if output_text else None,
    )


def _error_of(span: ReadableSpan) -> str:
    """The span's error, ``""`` when it did not fail: its exception event as ``Type: message`` (the
    same however the instrumentation set its status), else its status description."""
    if span.status.status_code is not StatusCode.ERROR:
        return ""
    for event in span.events:
        if event.name == "exception":
            attributes = event.attributes or {}
            kind, message = attributes.get("exception.type"), attributes.get("exception.message")
            if isinstance(message, str) and message:
                return f"{kind}: {message}" if isinstance(kind, str) and kind else message
    return span.status.description or "error"


def _exception_type(span: ReadableSpan) -> str:
    """The type named by the span's first exception event, or ``""``."""
    for event in span.events:
        if event.name == "exception":
            value = (event.attributes or {}).get("exception.type")
            return value if isinstance(value, str) else ""
    return ""


class WaxellBridgeProcessor(SpanProcessor):
    """Added to a ``TracerProvider``; records while ``active()`` answers True."""

    def __init__(self, active: Callable[[], bool]) -> None:
        self._active = active
        self._lock = threading.Lock()
        self._open: dict[int, _Open] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        try:
            if not self._active():
                return
            a = span.attributes or {}
            if wax.RUN_ID in a or not conventions.is_ai_span(a) or _patched(span):
                return
            ctx = current_context.get()
            if ctx is not None and ctx.run is None:
                ctx = None
            if conventions.is_llm_call(a):
                # run-wide: a framework may send the request from another task than its span's
                opened = _Open(ctx, watch=integration_api.begin_provider_watch(run_wide=True))
            elif ctx is None:
                return
            else:
                kind, name = conventions.span_kind(a)
                input_data, _output = _io(a)
                handle = ctx.enter_span(
                    name or span.name, kind=kind, attributes=_kept(a, span), input_data=input_data
                )
                opened = _Open(ctx, handle=handle, kind=kind)
            with self._lock:
                self._open[span.context.span_id] = opened
        except Exception:
            logger.exception("waxell-observe: could not record the start of OpenTelemetry span %r", span.name)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        with self._lock:
            opened = self._open.pop(context.span_id, None)
        if opened is None:
            return
        try:
            if opened.watch is not None:
                if integration_api.end_provider_watch(opened.watch) == 0:
                    self._record_llm_call(span)
            elif opened.ctx is not None and opened.handle:
                self._close_container(opened, span)
        except Exception:
            logger.exception("waxell-observe: could not record OpenTelemetry span %r", span.name)

    @staticmethod
    def _close_container(opened: _Open, span: ReadableSpan) -> None:
        """Bring the container up to the span's final attributes (results are set late), close it."""
        a = span.attributes or {}
        record = opened.handle.get("span")
        _kind, name = conventions.span_kind(a)
        input_data, output_data = _io(a)
        if isinstance(record, dict):
            record["name"] = name or span.name
            record["attributes"].update(_kept(a, span))
            error_type = _exception_type(span)
            if error_type:
                record["attributes"]["error.type"] = error_type
            if input_data is not None and record.get("input_data") is None:
                record["input_data"] = input_data
        error = _error_of(span)
        assert opened.ctx is not None
        opened.ctx.exit_span(
            opened.handle, output_data=output_data, status="error" if error else "ok", error=error
        )

    @staticmethod
    def _record_llm_call(span: ReadableSpan) -> None:
        """A model call no provider integration reported: from the span's own attributes."""
        a = span.attributes or {}
        call = conventions.llm_call_fields(a)
        error = _error_of(span)
        start, end = span.start_time, span.end_time
        fields: dict[str, Any] = {
            "model": call.model,
            "tokens_in": call.tokens_in,
            "tokens_out": call.tokens_out,
            "cost": call.cost,
            "provider": call.provider,
            "task": call.task,
            "prompt_preview": call.prompt,
            "response_preview": call.response,
            "cached_tokens_in": call.cached_tokens_in,
            "attributes": {**call.extra, **_kept(a, span), "recorded_from": RECORDED_FROM},
        }
        if call.reasoning_tokens:
            fields["attributes"]["reasoning_tokens"] = call.reasoning_tokens
        if call.extra.get("finish_reason"):
            fields["finish_reason"] = call.extra["finish_reason"]
        if start is not None:
            fields["started_at"] = start / 1e9
            if end is not None:
                fields["duration_ms"] = round((end - start) / 1e6, 3)
        if error:
            fields["status"] = "error"
            fields["error_type"] = call.error_type
            fields["error_message"] = error
        integration_api.record_llm_call(**fields)

    def shutdown(self) -> None:
        """Nothing to flush: records are already on their way."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Nothing to flush: records are already on their way."""
        return True
