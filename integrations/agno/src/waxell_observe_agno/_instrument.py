from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _wrapper(name: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_agno import wrappers

        factory: Callable[[Callable[[], bool]], Callable[..., Any]] = getattr(wrappers, name)
        return factory(active)

    return make


TARGETS: tuple[Target, ...] = (
    Target("agno.agent.agent", "Agent", "run", _wrapper("run_wrapper")),
    Target("agno.agent.agent", "Agent", "arun", _wrapper("arun_wrapper")),
    Target("agno.team.team", "Team", "run", _wrapper("run_wrapper")),
    Target("agno.team.team", "Team", "arun", _wrapper("arun_wrapper")),
    Target("agno.tools.function", "FunctionCall", "execute", _wrapper("execute_wrapper")),
    Target("agno.tools.function", "FunctionCall", "aexecute", _wrapper("aexecute_wrapper")),
)

INSTRUMENTATION = Instrumentation("agno", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
