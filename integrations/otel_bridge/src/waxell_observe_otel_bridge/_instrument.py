"""The bridge's switch: our processor on the program's global ``TracerProvider`` (the one it has,
and any it sets later), and private providers for framework integrations that pick their own."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

__all__ = [
    "NAME",
    "attach",
    "installed",
    "instrument",
    "is_instrumented",
    "private_tracer_provider",
    "uninstrument",
]

logger = logging.getLogger("waxell_observe")

NAME = "otel_bridge"

_lock = threading.Lock()
_on = False
_processor: Any = None
_attached: weakref.WeakSet[Any] = weakref.WeakSet()
_setter_wrapped = False


def installed() -> bool:
    """True when the OpenTelemetry SDK can be imported."""
    try:
        return find_spec("opentelemetry.sdk.trace") is not None
    except (ImportError, ValueError):
        return False


def _active() -> bool:
    return _on


def _global_processor() -> Any:
    global _processor
    if _processor is None:
        from waxell_observe_otel_bridge.processor import WaxellBridgeProcessor

        _processor = WaxellBridgeProcessor(_active)
    return _processor


def attach(provider: Any) -> bool:
    """Add our processor to ``provider`` when it is an SDK ``TracerProvider`` (once per provider).
    True when it has ours afterwards. The API's default (proxy, no-op) provider records nothing,
    so there is nothing to attach to."""
    from opentelemetry.sdk.trace import TracerProvider

    if not isinstance(provider, TracerProvider):
        return False
    with _lock:
        if provider in _attached:
            return True
        provider.add_span_processor(_global_processor())
        _attached.add(provider)
    return True


def _wrap_setter() -> None:
    """``opentelemetry.trace.set_tracer_provider`` attaches our processor to the provider set."""
    global _setter_wrapped
    from opentelemetry import trace

    with _lock:
        if _setter_wrapped:
            return
        original = trace.set_tracer_provider

        def set_tracer_provider(tracer_provider: Any) -> None:
            original(tracer_provider)
            if _on:
                try:
                    attach(trace.get_tracer_provider())
                except Exception:
                    logger.exception("waxell-observe: could not attach the OpenTelemetry bridge")

        set_tracer_provider.__doc__ = original.__doc__
        set_tracer_provider.__wrapped__ = original  # type: ignore[attr-defined]
        trace.set_tracer_provider = set_tracer_provider
        _setter_wrapped = True


def instrument() -> bool:
    """Record the AI spans of the global provider (now, and of one set later). False when the
    OpenTelemetry SDK is missing."""
    global _on
    if not installed():
        return False
    from opentelemetry import trace

    _on = True
    _wrap_setter()
    attach(trace.get_tracer_provider())
    return True


def uninstrument() -> bool:
    """Stop recording (OpenTelemetry cannot remove a processor; ours goes quiet). True when it was on."""
    global _on
    with _lock:
        was_on, _on = _on, False
    return was_on


def is_instrumented() -> bool:
    """True while the global provider's AI spans are recorded."""
    return _on


def private_tracer_provider(active: Callable[[], bool]) -> Any:
    """A ``TracerProvider`` of our own whose only processor is the bridge, recording while
    ``active()``: for a framework integration that hands its framework a provider (Pydantic AI's
    ``InstrumentationSettings(tracer_provider=...)``), so the framework's spans reach the run
    without touching the program's own OpenTelemetry setup. Samples every span (a parent the
    program does not sample must not hide a run's agents and tools)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    from waxell_observe_otel_bridge.processor import WaxellBridgeProcessor

    provider = TracerProvider(sampler=ALWAYS_ON, shutdown_on_exit=False)
    provider.add_span_processor(WaxellBridgeProcessor(active))
    return provider
