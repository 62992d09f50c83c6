"""The OpenTelemetry SDK side: resources, samplers, and living with the application's setup.

Our spans are not made by an OpenTelemetry tracer on the agent's thread: the OTLP destination
(:mod:`waxell_observe_otel.destination`) builds them from journal frames on the pipeline's
drainer thread. What remains of the SDK here:

- :func:`make_resource` and :func:`make_sampler`: the resource and sampler our spans get when
  we export them ourselves (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
  ``init(resource_attributes=...)``, ``OTEL_TRACES_SAMPLER[_ARG]``);
- :func:`application_provider`: the application's own SDK ``TracerProvider`` when it set one
  globally. Our spans then take its resource and sampler and, once exported, are handed to it
  (:class:`ApplicationHandOff`) so its own processors and exporters see them too — its setup is
  never modified;
- :func:`global_provider_for`: with ``init(otel_set_global=True)`` and no global provider yet,
  a provider of ours becomes the global one; the *application's* spans made on it are exported
  by a ``BatchSpanProcessor`` of OpenTelemetry (they are not waxell records and never reach the
  journal), ours never go through it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
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
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from waxell_observe_otel import __version__

__all__ = [
    "SCOPE_NAME",
    "ApplicationHandOff",
    "ForeignSpans",
    "PresetIdGenerator",
    "application_provider",
    "flush_global_providers",
    "forget_global_providers",
    "global_provider_for",
    "make_resource",
    "make_sampler",
    "run_bounded",
]

logger = logging.getLogger("waxell_observe")

SCOPE_NAME = "waxell_observe"
"""The instrumentation scope of every span we create."""


class PresetIdGenerator(IdGenerator):
    """Hands out preset ids for the next span started on this thread, else delegates.

    Installed on *our* tracer of the application's provider only (``tracer.id_generator``), so
    the application's tracers keep their own generator.
    """

    def __init__(self, fallback: IdGenerator) -> None:
        self.fallback = fallback
        self._local = threading.local()

    def preset(self, span_id: int, trace_id: int | None = None) -> None:
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


def run_bounded(name: str, function: Callable[[], Any], timeout: float | None) -> bool:
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


def make_resource(attributes: Mapping[str, Any]) -> Resource:
    """``Resource.create(attributes)``: the SDK's defaults, ``OTEL_RESOURCE_ATTRIBUTES`` and
    ``OTEL_SERVICE_NAME``, then ``attributes`` on top.

    While the interpreter exits, the SDK's resource detection (a thread pool) refuses work; the
    same resource is then assembled from the standard detector directly.
    """
    attributes = dict(attributes)
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


_SAMPLERS = {
    "always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off",
    "parentbased_traceidratio",
}  # fmt: skip


def make_sampler(name: str, argument: str) -> Any:
    """The SDK sampler named like ``OTEL_TRACES_SAMPLER`` (``None`` for the default,
    ``parentbased_always_on``, which needs no call: a run is sampled unless its parent is not)."""
    from opentelemetry.sdk.trace import sampling

    name = (name or "").strip().lower()
    if not name or name == "parentbased_always_on":
        return None
    if name not in _SAMPLERS:
        logger.warning("waxell-observe: unknown OTEL_TRACES_SAMPLER %r; using parentbased_always_on", name)
        return None
    ratio = 1.0
    if "traceidratio" in name:
        try:
            ratio = float(argument) if argument else 1.0
        except ValueError:
            ratio = 1.0
        if not 0.0 <= ratio <= 1.0:
            ratio = 1.0
    root = {
        "always_on": sampling.ALWAYS_ON,
        "always_off": sampling.ALWAYS_OFF,
        "traceidratio": sampling.TraceIdRatioBased(ratio),
    }[name.removeprefix("parentbased_")]
    return sampling.ParentBased(root) if name.startswith("parentbased_") else root


def sample(
    sampler: Any,
    trace_id: int,
    name: str,
    parent_span_id: int,
    parent_sampled: bool,
    parent_remote: bool,
    attributes: Mapping[str, Any],
) -> bool:
    """Whether ``sampler`` samples a run span with these ids (as the SDK's tracer would ask it)."""
    context = None
    if parent_span_id:
        flags = TraceFlags(TraceFlags.SAMPLED if parent_sampled else TraceFlags.DEFAULT)
        parent = SpanContext(trace_id, parent_span_id, is_remote=parent_remote, trace_flags=flags)
        context = trace_api.set_span_in_context(NonRecordingSpan(parent), Context())
    result = sampler.should_sample(context, trace_id, name, SpanKind.INTERNAL, attributes)
    return bool(result.decision.is_sampled())


# -- the application's provider -------------------------------------------------------------------

_ours: list[TracerProvider] = []
_ours_lock = threading.Lock()


def application_provider() -> TracerProvider | None:
    """The application's SDK tracer provider, when it set one globally (not one of ours)."""
    provider = trace_api.get_tracer_provider()
    if isinstance(provider, TracerProvider) and not any(provider is ours for ours in _ours):
        return provider
    return None


class ApplicationHandOff:
    """Hands exported spans to the application's provider: its sampler, processors and
    exporters see them as spans of our tracer (scope ``waxell_observe``), with our ids."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        tracer = provider.get_tracer(SCOPE_NAME, __version__)
        self.tracer: Tracer | None = tracer if isinstance(tracer, Tracer) else None
        self.ids: PresetIdGenerator | None = None
        if self.tracer is not None:
            current = self.tracer.id_generator
            self.ids = current if isinstance(current, PresetIdGenerator) else PresetIdGenerator(current)
            self.tracer.id_generator = self.ids

    def emit(self, spans: list[Any]) -> None:
        """Start and end each span (``SpanData``) on the application's tracer."""
        tracer, ids = self.tracer, self.ids
        if tracer is None or ids is None:
            return
        for data in spans:
            if data.parent_span_id:
                parent = SpanContext(
                    data.trace_id, data.parent_span_id, is_remote=data.parent_remote,
                    trace_flags=TraceFlags(TraceFlags.SAMPLED),
                )  # fmt: skip
                context = trace_api.set_span_in_context(NonRecordingSpan(parent), Context())
                ids.preset(data.span_id)
            else:
                context = Context()
                ids.preset(data.span_id, data.trace_id)
            try:
                span = tracer.start_span(
                    data.name,
                    context=context,
                    kind=SpanKind.CLIENT if data.kind == 3 else SpanKind.INTERNAL,
                    attributes=data.attributes,
                    start_time=data.start_ns,
                )
            finally:
                ids.clear()
            for name, at_ns, attributes in data.events:
                span.add_event(name, attributes, timestamp=at_ns)
            if data.error:
                span.set_status(Status(StatusCode.ERROR, data.status_message))
            span.end(end_time=data.end_ns)


# -- otel_set_global: our provider as the global one ------------------------------------------------


class ForeignSpans(SpanProcessor):
    """On our global provider: hands the application's spans (never ours) to a batch processor."""

    def __init__(self, delegate: SpanProcessor) -> None:
        self.delegate = delegate

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == SCOPE_NAME:
            return
        self.delegate.on_end(span)

    def shutdown(self) -> None:
        self.delegate.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.delegate.force_flush(timeout_millis)


_global: dict[tuple[Any, ...], tuple[TracerProvider, ForeignSpans]] = {}


def global_provider_for(
    key: tuple[Any, ...], resource: Mapping[str, Any], exporter_factory: Callable[[], Any]
) -> None:
    """With ``otel_set_global``: make a provider of ours the global one (once per ``key``), unless
    the application set one already (logged)."""
    with _ours_lock:
        if key in _global:
            return
        current = trace_api.get_tracer_provider()
        if not isinstance(current, trace_api.ProxyTracerProvider):
            if not any(current is ours for ours in _ours):
                logger.warning(
                    "waxell-observe: otel_set_global ignored: a global tracer provider (%s) is already set",
                    type(current).__name__,
                )
            return
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=make_resource(resource), shutdown_on_exit=False)
        processor = ForeignSpans(BatchSpanProcessor(exporter_factory()))
        provider.add_span_processor(processor)
        trace_api.set_tracer_provider(provider)
        _ours.append(provider)
        _global[key] = (provider, processor)


def flush_global_providers(timeout: float | None) -> bool:
    """Export the application's spans our global provider holds (bounded by ``timeout``)."""
    processors = [processor for _provider, processor in list(_global.values())]
    if not processors:
        return True
    millis = int(timeout * 1000) if timeout is not None else 30_000
    return run_bounded("flush", lambda: [p.force_flush(millis) for p in processors], timeout)


def forget_global_providers() -> None:
    """Tests: stop our global providers' processors and forget them."""
    with _ours_lock:
        entries = list(_global.values())
        _global.clear()
        _ours.clear()
    for _provider, processor in entries:
        run_bounded("shutdown", processor.shutdown, 0)
