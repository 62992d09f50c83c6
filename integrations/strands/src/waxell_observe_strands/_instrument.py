"""What the Strands Agents integration patches, and its switch."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target, imported_factory
from waxell_observe.instrumentation.patching import WrapperFactory

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _wrapper(module: str, name: str) -> WrapperFactory:
    return imported_factory(f"waxell_observe_strands.{module}", name)


TARGETS: tuple[Target, ...] = (
    Target("strands.agent.agent", "Agent", "stream_async", _wrapper("agents", "stream_async_wrapper")),
    # module-level functions, looked up in their module's globals by the code that calls them
    Target("strands.tools.executors._executor", "", "_run_tool", _wrapper("tools", "run_tool_wrapper")),
    Target(
        "strands.event_loop.event_loop", "", "stream_messages", _wrapper("models", "stream_messages_wrapper")
    ),
)

INSTRUMENTATION = Instrumentation("strands", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
