"""The OpenTelemetry side: a tracer, a batch span processor and an exporter.

We never take over the application's OpenTelemetry setup:

- if the global tracer provider is an SDK ``TracerProvider`` (the application configured
  OpenTelemetry), our spans are created on it — so its own processors and exporters see
  them too — and our ``BatchSpanProcessor`` is added to it, restricted to our spans (the
  application's spans are not sent to our endpoint);
- otherwise we create our own provider (resource from ``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES`` and ``init(resource_attributes=...)``, sampler from
  ``OTEL_TRACES_SAMPLER``), which becomes global only with ``init(otel_set_global=True)``.

Export is batched on the processor's thread. ``flush``/``shutdown`` are bounded by their
timeout even when the endpoint hangs (the SDK's own ``force_flush`` ignores its timeout,
so it runs on a helper thread we stop waiting for).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.sdk.resources import (
    SERVICE_NAME,
    TELEMETRY_SDK_LANGUAGE,
    TELEMETRY_SDK_NAME,
    TELEMETRY_SDK_VERSION,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator

from waxell_observe_otel import __version__
from waxell_observe_otel.settings import OtelSettings

__all__ = ["SCOPE_NAME", "CountingExporter", "OurSpans", "Pipeline", "PresetIdGenerator", "run_bounded"]

logger = logging.getLogger("waxell_observe")

SCOPE_NAME = "waxell_observe"
"""The instrumentation scope of every span we create."""


class PresetIdGenerator(IdGenerator):
    """Hands out preset ids for the next span started on this thread, else delegates.

    Installed on *our* tracer only (``tracer.id_generator``), so the application's tracers
    keep their own generator.
    """

    def __init__(self, fallback: IdGenerator) -> None:
        self.fallback = fallback
        self._local = threading.local()

    def preset(self, span_id: int, trace_id: int | None = None) -> None:
        """Use ``span_id`` (and ``trace_id`` for a root span) for the next span on this thread."""
        self._local.span_id = span_id
        self._local.trace_id = trace_id

    def clear(self) -> None:
        self._local.span_id = None
        self._local.trace_id = None

    def generate_span_id(self) -> int:
        span_id = getattr(self._local, "span_id", None)
        if span_id is None:
            return self.fallback.generate_span_id()
        self._local.span_id = None
        return int(span_id)

    def generate_trace_id(self) -> int:
        trace_id = getattr(self._local, "trace_id", None)
        if trace_id is None:
            return self.fallback.generate_trace_id()
        self._local.trace_id = None
        return int(trace_id)

    def is_trace_id_random(self) -> bool:
        checker = getattr(self.fallback, "is_trace_id_random", None)
        return bool(checker()) if callable(checker) else False


class CountingExporter(SpanExporter):
    """Wraps the real exporter and counts what it exported and what it failed to export."""

    def __init__(self, delegate: SpanExporter) -> None:
        self.delegate = delegate
        self.exported = 0
        self.failed = 0
        self.last_error = ""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.delegate.export(spans)
        except Exception as exc:
            logger.exception("waxell-observe: exporting %d span(s) failed", len(spans))
            self.failed += len(spans)
            self.last_error = f"{type(exc).__name__}: {exc}"
            return SpanExportResult.FAILURE
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            if self.failed == 0:
                logger.warning("waxell-observe: could not export %d span(s) to OpenTelemetry", len(spans))
            self.failed += len(spans)
            self.last_error = "export failed"
        return result

    def shutdown(self) -> None:
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flush = getattr(self.delegate, "force_flush", None)
        return bool(flush(timeout_millis)) if callable(flush) else True


class OurSpans(SpanProcessor):
    """Our processor as registered on a provider: counts the sampled spans it passes to the
    batch processor and, on the application's provider, passes only our own spans."""

    def __init__(self, delegate: SpanProcessor, *, only_ours: bool) -> None:
        self.delegate = delegate
        self.only_ours = only_ours
        self.active = True
        self.handed = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if not self.active:
            return
        if self.only_ours:
            scope = span.instrumentation_scope
            if scope is None or scope.name != SCOPE_NAME:
                return
        context = span.context
        if context is not None and context.trace_flags.sampled:
            self.handed += 1
        self.delegate.on_end(span)

    def shutdown(self) -> None:
        self.active = False
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


def run_bounded(name: str, function: Any, timeout: float | None) -> bool:
    """Run ``function`` on a daemon thread and wait at most ``timeout`` seconds for it.

    Returns True when it finished in time. A call still running is left to finish on its own.
    """
    done = threading.Event()

    def target() -> None:
        try:
            function()
        except Exception:
            logger.exception("waxell-observe: OpenTelemetry %s failed", name)
        finally:
            done.set()

    thread = threading.Thread(target=target, name=f"waxell-otel-{name}", daemon=True)
    thread.start()
    return done.wait(timeout)


def _make_exporter(settings: OtelSettings) -> SpanExporter:
    if settings.span_exporter is not None:
        return settings.span_exporter  # type: ignore[no-any-return]
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # Headers (OTEL_EXPORTER_OTLP[_TRACES]_HEADERS), compression, certificates and, when no
    # explicit timeout is given, the timeout come from the standard variables.
    return OTLPSpanExporter(endpoint=settings.traces_url, timeout=settings.export_timeout)


def make_resource(attributes: dict[str, Any]) -> Resource:
    """``Resource.create(attributes)``: the SDK's defaults, ``OTEL_RESOURCE_ATTRIBUTES`` and
    ``OTEL_SERVICE_NAME``, then ``attributes`` on top.

    While the interpreter exits, the SDK's resource detection (a thread pool) refuses work; the
    same resource is then assembled from the standard detector directly.
    """
    try:
        return Resource.create(attributes)
    except RuntimeError:
        from opentelemetry.sdk import version

        resource = (
            Resource(
                {
                    TELEMETRY_SDK_LANGUAGE: "python",
                    TELEMETRY_SDK_NAME: "opentelemetry",
                    TELEMETRY_SDK_VERSION: version.__version__,
                }
            )
            .merge(OTELResourceDetector().detect())
            .merge(Resource(attributes))
        )
        if not resource.attributes.get(SERVICE_NAME):
            executable = os.path.basename(sys.executable) if sys.executable else ""
            name = f"unknown_service:{executable}" if executable else "unknown_service"
            resource = resource.merge(Resource({SERVICE_NAME: name}))
        return resource


class Pipeline:
    """One destination: the tracer our spans are made with, and the processor exporting them.

    ``synchronous``: export each span as it ends, on the caller's thread (used when a pipeline
    is first needed while the process shuts down, when no new batching thread may start).
    """

    def __init__(self, settings: OtelSettings, *, synchronous: bool = False) -> None:
        self.settings = settings
        global_provider = trace_api.get_tracer_provider()
        self.exporter = CountingExporter(_make_exporter(settings))
        self.processor: SpanProcessor = (
            SimpleSpanProcessor(self.exporter) if synchronous else BatchSpanProcessor(self.exporter)
        )
        if isinstance(global_provider, TracerProvider):
            self.provider = global_provider
            self.owns_provider = False
            self.attached = OurSpans(self.processor, only_ours=True)
            global_provider.add_span_processor(self.attached)
        else:
            resource = make_resource(dict(settings.resource_attributes))
            self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
            self.owns_provider = True
            self.attached = OurSpans(self.processor, only_ours=False)
            self.provider.add_span_processor(self.attached)
            if settings.set_global:
                if isinstance(global_provider, trace_api.ProxyTracerProvider):
                    trace_api.set_tracer_provider(self.provider)
                else:
                    logger.warning(
                        "waxell-observe: otel_set_global ignored: a global tracer provider (%s) is already set",
                        type(global_provider).__name__,
                    )
        tracer = self.provider.get_tracer(SCOPE_NAME, __version__)
        self.tracer: Tracer | None = tracer if isinstance(tracer, Tracer) else None
        self.ids: PresetIdGenerator | None = None
        if self.tracer is not None:
            current = self.tracer.id_generator
            if isinstance(current, PresetIdGenerator):  # a pipeline before us on the same provider
                self.ids = current
            else:
                self.ids = PresetIdGenerator(current)
                self.tracer.id_generator = self.ids
        else:
            logger.warning(
                "waxell-observe: the OpenTelemetry SDK is disabled (OTEL_SDK_DISABLED); no spans exported"
            )
        self.closed = False

    @property
    def unexported(self) -> int:
        """Spans handed to the batch processor and not yet exported (or failed)."""
        return max(0, self.attached.handed - self.exporter.exported - self.exporter.failed)

    def is_current(self) -> bool:
        """False when the application installed an SDK provider after we created our own."""
        if not self.owns_provider:
            return True
        global_provider = trace_api.get_tracer_provider()
        return global_provider is self.provider or not isinstance(global_provider, TracerProvider)

    def flush(self, timeout: float | None) -> bool:
        """Export what the processor holds; wait at most ``timeout`` seconds."""
        if self.closed:
            return True
        millis = int(timeout * 1000) if timeout is not None else 30_000
        return run_bounded("flush", lambda: self.attached.force_flush(millis), timeout)

    def shutdown(self, timeout: float | None) -> bool:
        """Flush, then stop our processor; bounded by ``timeout``.

        Only our processor is stopped, never a provider: ours may have been made global
        (``otel_set_global``) and be in use by the application.
        """
        if self.closed:
            return True
        self.closed = True
        return run_bounded("shutdown", self.attached.shutdown, timeout)
