"""Fixtures: real Anthropic clients pointed at the stub server, instrumented through ``init()``.

``stub``, ``instrumented`` and ``configure`` come from ``tests/integrations/conftest.py``. The
clients have the SDK's own OpenTelemetry tracing off (``open_telemetry=False``) so that a global
tracer provider installed by another test cannot change what they do; the test of the SDK-native
span detection builds its own clients.
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.llm_stub import StubLLMServer
from waxell_observe.config import ObserveConfig


@pytest.fixture
def instrumented_library() -> str:
    return "anthropic"


@pytest.fixture
def client(stub: StubLLMServer, instrumented: ObserveConfig) -> Any:
    import anthropic

    return anthropic.Anthropic(
        base_url=stub.base_url, api_key="test-key", max_retries=0, open_telemetry=False
    )


@pytest.fixture
def aclient(stub: StubLLMServer, instrumented: ObserveConfig) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(
        base_url=stub.base_url, api_key="test-key", max_retries=0, open_telemetry=False
    )
