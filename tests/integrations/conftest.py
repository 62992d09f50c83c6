"""Fixtures shared by the provider integration tests (OpenAI, Anthropic).

``stub`` starts the stub LLM server, ``configure`` changes the global configuration for one test,
and ``instrumented`` runs ``init(instrument=[library])`` for one test, where a test directory's
conftest names its ``library`` by overriding the ``instrumented_library`` fixture.
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
def instrumented_library() -> str:
    """The integration ``instrumented`` turns on; overridden per test directory."""
    raise pytest.UsageError("override the instrumented_library fixture to use instrumented")


@pytest.fixture
def instrumented(instrumented_library: str) -> Iterator[ObserveConfig]:
    """``init(instrument=[instrumented_library])`` for one test, undone afterwards."""
    _reset_for_tests()
    config = init(instrument=[instrumented_library])
    yield config
    plugin_manager().hook.on_uninstrument(libraries=frozenset({instrumented_library}))
    _reset_for_tests()


@pytest.fixture
def configure() -> Any:
    """Change the global configuration for one test (e.g. ``configure(capture_content=True)``)."""
    return WaxellObserveClient.configure
