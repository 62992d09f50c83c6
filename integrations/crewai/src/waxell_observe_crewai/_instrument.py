"""What the CrewAI integration patches, and its switch."""

from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target, imported_factory
from waxell_observe.instrumentation.patching import WrapperFactory

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]

_PROVIDERS = "crewai.llms.providers"
_LLM_CLASSES = (
    ("crewai.llm", "LLM"),
    (f"{_PROVIDERS}.openai.completion", "OpenAICompletion"),
    (f"{_PROVIDERS}.anthropic.completion", "AnthropicCompletion"),
    (f"{_PROVIDERS}.azure.completion", "AzureCompletion"),
    (f"{_PROVIDERS}.bedrock.completion", "BedrockCompletion"),
    (f"{_PROVIDERS}.gemini.completion", "GeminiCompletion"),
)
"""CrewAI's LLM classes that define their own ``call`` / ``acall``: ``LLM`` (through LiteLLM) and the
native provider classes ``LLM(...)`` hands a model to (their subclasses, such as
``OpenAICompatibleCompletion``, inherit the patched methods). Each module is patched when CrewAI
imports it, which it does only for a provider in use."""


def _wrapper(module: str, name: str) -> WrapperFactory:
    return imported_factory(f"waxell_observe_crewai.{module}", name)


_PACKAGE = "crewai"
"""``Crew``, ``Task`` and ``Agent`` are patched through the package that exports them: CrewAI 1.15
copies the namespace of ``crewai.agents.agent_builder.base_agent`` (its ``__name__`` included) into
``crewai.crew``, ``crewai.task`` and ``crewai.agent.core`` when it is imported, and the patcher finds
a target's module by its ``__name__``."""

TARGETS: tuple[Target, ...] = (
    Target(_PACKAGE, "Crew", "kickoff", _wrapper("spans", "crew_wrapper")),
    Target(_PACKAGE, "Crew", "akickoff", _wrapper("spans", "acrew_wrapper")),
    Target(_PACKAGE, "Task", "_execute_core", _wrapper("spans", "task_wrapper")),
    Target(_PACKAGE, "Task", "_aexecute_core", _wrapper("spans", "atask_wrapper")),
    Target(_PACKAGE, "Agent", "execute_task", _wrapper("spans", "agent_wrapper")),
    Target(_PACKAGE, "Agent", "aexecute_task", _wrapper("spans", "aagent_wrapper")),
    Target(_PACKAGE, "Agent", "kickoff", _wrapper("spans", "agent_kickoff_wrapper")),
    Target(_PACKAGE, "Agent", "akickoff", _wrapper("spans", "aagent_kickoff_wrapper")),
    Target("crewai.tools.base_tool", "BaseTool", "run", _wrapper("tools", "run_wrapper")),
    Target("crewai.tools.base_tool", "BaseTool", "arun", _wrapper("tools", "arun_wrapper")),
    Target("crewai.tools.base_tool", "Tool", "run", _wrapper("tools", "run_wrapper")),
    Target("crewai.tools.base_tool", "Tool", "arun", _wrapper("tools", "arun_wrapper")),
    Target(
        "crewai.tools.structured_tool", "CrewStructuredTool", "invoke", _wrapper("tools", "invoke_wrapper")
    ),
    Target(
        "crewai.tools.structured_tool", "CrewStructuredTool", "ainvoke", _wrapper("tools", "ainvoke_wrapper")
    ),
    *(Target(module, cls, "call", _wrapper("llms", "call_wrapper")) for module, cls in _LLM_CLASSES),
    *(Target(module, cls, "acall", _wrapper("llms", "acall_wrapper")) for module, cls in _LLM_CLASSES),
    Target(
        "crewai.llms.base_llm", "BaseLLM", "_track_token_usage_internal", _wrapper("llms", "usage_wrapper")
    ),
    Target(
        f"{_PROVIDERS}.bedrock.completion",
        "BedrockCompletion",
        "_track_token_usage_internal",
        _wrapper("llms", "usage_wrapper"),
    ),
)

INSTRUMENTATION = Instrumentation("crewai", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
