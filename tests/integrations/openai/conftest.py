"""Fixtures: real OpenAI clients pointed at the stub server, instrumented through ``init()``.

``stub``, ``instrumented`` and ``configure`` come from ``tests/integrations/conftest.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from integrations.llm_stub import StubLLMServer
from waxell_observe.config import ObserveConfig


@pytest.fixture
def instrumented_library() -> str:
    return "openai"


@pytest.fixture
def client(stub: StubLLMServer, instrumented: ObserveConfig) -> Any:
    import openai

    return openai.OpenAI(base_url=stub.base_url + "/v1", api_key="test-key", max_retries=0)


@pytest.fixture
def aclient(stub: StubLLMServer, instrumented: ObserveConfig) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=stub.base_url + "/v1", api_key="test-key", max_retries=0)
