from __future__ import annotations

from waxell_observe.instrumentation import Instrumentation, Target, imported_factory
from waxell_observe.instrumentation.patching import WrapperFactory

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _from(module: str, name: str) -> WrapperFactory:
    """A wrapper factory imported from one of our modules only when the target is patched."""
    return imported_factory(f"waxell_observe_autogen.{module}", name)


_AGENTS = "autogen_agentchat.agents._base_chat_agent"
_TEAMS = "autogen_agentchat.teams._group_chat._base_group_chat"
_CONTAINER = "autogen_agentchat.teams._group_chat._chat_agent_container"
_OPENAI = "autogen_ext.models.openai._openai_client"

TARGETS: tuple[Target, ...] = (
    Target(_AGENTS, "BaseChatAgent", "run", _from("agents", "run_wrapper")),
    Target(_AGENTS, "BaseChatAgent", "run_stream", _from("agents", "run_stream_wrapper")),
    Target(_TEAMS, "BaseGroupChat", "run", _from("agents", "run_wrapper")),
    Target(_TEAMS, "BaseGroupChat", "run_stream", _from("agents", "run_stream_wrapper")),
    Target(_CONTAINER, "", "trace_invoke_agent_span", _from("agents", "invoke_span_wrapper")),
    Target("autogen_core.tools._base", "BaseTool", "run_json", _from("tools", "run_json_wrapper")),
    Target(_OPENAI, "BaseOpenAIChatCompletionClient", "create", _from("models", "create_wrapper")),
    Target(
        _OPENAI, "BaseOpenAIChatCompletionClient", "create_stream", _from("models", "create_stream_wrapper")
    ),
)

INSTRUMENTATION = Instrumentation("autogen", TARGETS, sdk="autogen_agentchat")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
