"""Fixtures of the MCP integration tests: ``init(instrument=["mcp"])`` and the ``weather`` server."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.mcp.weather import build_server


@pytest.fixture
def instrumented_library() -> str:
    return "mcp"


@pytest.fixture
def weather_server(instrumented: Any) -> Any:
    """The ``weather`` server in process, created after instrumentation."""
    return build_server()
