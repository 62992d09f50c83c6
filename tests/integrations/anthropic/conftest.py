"""Fixtures: a stub Anthropic server, instrumentation through ``init()``, real Anthropic clients.

The clients have the SDK's own OpenTelemetry tracing off (``open_telemetry=False``) so that a
global tracer provider installed by another test cannot change what they do; the test of the
SDK-native span detection builds its own clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from integrations.llm_stub import StubLLMServer
from waxell_observe.client import WaxellObserveClient
from waxell_observe.config import ObserveConfig
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


@pytest.fixture
def instrumented() -> Iterator[ObserveConfig]:
    """``init(instrument=["anthropic"])`` for one test, undone afterwards."""
    _reset_for_tests()
    config = init(instrument=["anthropic"])
    yield config
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"anthropic"}))
    _reset_for_tests()


@pytest.fixture
def configure() -> Any:
    """Change the global configuration for one test (e.g. ``configure(capture_content=True)``)."""
    return WaxellObserveClient.configure


@pytest.fixture
def client(stub: StubLLMServer, instrumented: ObserveConfig) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=stub.base_url, api_key="test-key", max_retries=0, open_telemetry=False)


@pytest.fixture
def aclient(stub: StubLLMServer, instrumented: ObserveConfig) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(
        base_url=stub.base_url, api_key="test-key", max_retries=0, open_telemetry=False
    )
