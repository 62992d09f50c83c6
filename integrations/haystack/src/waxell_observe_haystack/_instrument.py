from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _from(module: str, name: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    """A wrapper factory imported from one of our modules only when the target is patched."""

    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        import importlib

        factory: Callable[[Callable[[], bool]], Callable[..., Any]] = getattr(
            importlib.import_module(f"waxell_observe_haystack.{module}"), name
        )
        return factory(active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("haystack.tracing.tracer", "ProxyTracer", "trace", _from("spans", "trace_wrapper")),
    Target("haystack.tools.tool", "Tool", "invoke", _from("tools", "invoke_wrapper")),
    Target("haystack.tools.tool", "Tool", "invoke_async", _from("tools", "invoke_async_wrapper")),
)

INSTRUMENTATION = Instrumentation("haystack", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
