"""What the MCP integration patches: the client session's tool, resource and prompt requests,
and every new lowlevel ``Server`` (which gets our middleware)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from waxell_observe.instrumentation import Instrumentation, Target

__all__ = ["INSTRUMENTATION", "TARGETS", "installed", "instrument", "is_instrumented", "uninstrument"]


def _client(operation: str) -> Callable[[Callable[[], bool]], Callable[..., Any]]:
    def make(active: Callable[[], bool]) -> Callable[..., Any]:
        from waxell_observe_mcp import client

        return client.client_wrapper(getattr(client, operation), active)

    return make


def _server(active: Callable[[], bool]) -> Callable[..., Any]:
    from waxell_observe_mcp.server import init_wrapper

    return init_wrapper(active)


_SESSION = "mcp.client.session"

TARGETS: tuple[Target, ...] = (
    Target(_SESSION, "ClientSession", "call_tool", _client("TOOL_CALL")),
    Target(_SESSION, "ClientSession", "read_resource", _client("READ_RESOURCE")),
    Target(_SESSION, "ClientSession", "get_prompt", _client("GET_PROMPT")),
    Target("mcp.server.lowlevel.server", "Server", "__init__", _server),
)

INSTRUMENTATION = Instrumentation("mcp", TARGETS, sdk="mcp")

installed = INSTRUMENTATION.installed
instrument = INSTRUMENTATION.instrument
uninstrument = INSTRUMENTATION.uninstrument
is_instrumented = INSTRUMENTATION.is_instrumented
