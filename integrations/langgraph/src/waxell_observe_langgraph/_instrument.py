"""What the LangGraph integration patches (a graph's ``invoke`` / ``ainvoke`` / ``stream`` /
``astream``) and its switch; the LangChain integration's handler records what runs inside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _factory(kind: str, is_async: bool) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_langgraph import graphs

        factory = graphs.invoke_wrapper if kind == "invoke" else graphs.stream_wrapper
        return factory(active, is_async)

    return make


_PREGEL = "langgraph.pregel.main"

TARGETS: tuple[Target, ...] = (
    Target(_PREGEL, "Pregel", "invoke", _factory("invoke", False)),
    Target(_PREGEL, "Pregel", "ainvoke", _factory("invoke", True)),
    Target(_PREGEL, "Pregel", "stream", _factory("stream", False)),
    Target(_PREGEL, "Pregel", "astream", _factory("stream", True)),
)


class _LangGraphInstrumentation(Instrumentation):
    """The Pregel patches, plus the LangChain handler (which records the nodes, models and tools)."""

    def instrument(self) -> bool:
        if not self.installed():
            return False
        from waxell_observe_langchain import auto

        auto.instrument()
        return self.patcher.apply()


INSTRUMENTATION = _LangGraphInstrumentation("langgraph", TARGETS, sdk="langgraph")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
