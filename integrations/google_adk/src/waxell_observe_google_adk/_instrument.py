"""What the Google ADK integration patches, and its switch."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target, imported_factory
from waxell_observe.instrumentation.patching import WrapperFactory

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _wrapper(module: str, name: str) -> WrapperFactory:
    return imported_factory(f"waxell_observe_google_adk.{module}", name)


_TOOLS = "google.adk.flows.llm_flows.tools"

TARGETS: tuple[Target, ...] = (
    Target("google.adk.runners", "Runner", "run_async", _wrapper("agents", "runner_wrapper")),
    Target("google.adk.agents.base_agent", "BaseAgent", "run_async", _wrapper("agents", "run_async_wrapper")),
    Target("google.adk.workflow._workflow", "Workflow", "_run_impl", _wrapper("agents", "workflow_wrapper")),
    # module-level functions, looked up in their module's globals by the code that calls them (the
    # live caller imports its own binding of the function)
    Target(f"{_TOOLS}._caller", "", "_execute_single_prepared_call", _wrapper("tools", "execute_wrapper")),
    Target(
        f"{_TOOLS}._live_caller", "", "_execute_single_prepared_call", _wrapper("tools", "execute_wrapper")
    ),
    Target(
        "google.adk.flows.llm_flows.base_llm_flow",
        "BaseLlmFlow",
        "_run_and_handle_error",
        _wrapper("models", "run_and_handle_error_wrapper"),
    ),
)

INSTRUMENTATION = Instrumentation("google_adk", TARGETS, sdk="google.adk")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
