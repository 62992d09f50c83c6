"""The MCP server the tests talk to: ``weather``, with a tool, a failing tool, a resource and a prompt."""

from __future__ import annotations

from typing import Any


def build_server() -> Any:
    """A new ``MCPServer`` (create it after ``init()``: the instrumentation adds its middleware
    to servers created afterwards)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("weather")

    @server.tool()
    def forecast(city: str) -> str:
        """Tomorrow's weather in a city."""
        return f"Sunny in {city}"

    @server.tool()
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError("no data")

    @server.resource("cities://list")
    def cities() -> str:
        return "Paris, Lyon"

    @server.prompt()
    def ask(city: str) -> str:
        return f"What is the weather in {city}?"

    return server
