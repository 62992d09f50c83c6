from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target, imported_factory
from waxell_observe.instrumentation.patching import WrapperFactory

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _wrapper(name: str, module: str = "wrappers") -> WrapperFactory:
    return imported_factory(f"waxell_observe_agno.{module}", name)


TARGETS: tuple[Target, ...] = (
    Target("agno.agent.agent", "Agent", "run", _wrapper("run_wrapper")),
    Target("agno.agent.agent", "Agent", "arun", _wrapper("arun_wrapper")),
    Target("agno.team.team", "Team", "run", _wrapper("run_wrapper")),
    Target("agno.team.team", "Team", "arun", _wrapper("arun_wrapper")),
    Target("agno.tools.function", "FunctionCall", "execute", _wrapper("execute_wrapper")),
    Target("agno.tools.function", "FunctionCall", "aexecute", _wrapper("aexecute_wrapper")),
    Target("agno.models.base", "Model", "_invoke_with_retry", _wrapper("invoke_wrapper", "models")),
    Target("agno.models.base", "Model", "_ainvoke_with_retry", _wrapper("ainvoke_wrapper", "models")),
    Target(
        "agno.models.base", "Model", "_invoke_stream_with_retry", _wrapper("invoke_stream_wrapper", "models")
    ),
    Target(
        "agno.models.base",
        "Model",
        "_ainvoke_stream_with_retry",
        _wrapper("ainvoke_stream_wrapper", "models"),
    ),
)

INSTRUMENTATION = Instrumentation("agno", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
