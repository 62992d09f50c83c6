"""The Claude Agent SDK integration's switch: the SDK methods it patches (see
:mod:`waxell_observe_claude_agent_sdk.wrappers`), imported only when the SDK is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _wrappers(name: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_claude_agent_sdk import wrappers

        factory: Callable[[Callable[[], bool]], Callable[..., Any]] = getattr(wrappers, name)
        return factory(active)

    return make


TARGETS: tuple[Target, ...] = (
    Target(
        "claude_agent_sdk._internal.client",
        "InternalClient",
        "process_query",
        _wrappers("process_query_wrapper"),
    ),
    Target("claude_agent_sdk.client", "ClaudeSDKClient", "connect", _wrappers("connect_wrapper")),
    Target("claude_agent_sdk.client", "ClaudeSDKClient", "query", _wrappers("query_wrapper")),
    Target(
        "claude_agent_sdk.client",
        "ClaudeSDKClient",
        "receive_messages",
        _wrappers("receive_messages_wrapper"),
    ),
    Target("claude_agent_sdk.client", "ClaudeSDKClient", "disconnect", _wrappers("disconnect_wrapper")),
)

INSTRUMENTATION = Instrumentation("claude_agent_sdk", TARGETS)

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
