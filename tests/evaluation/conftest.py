"""Fixtures of the evaluation tests: the stub LLM provider answering from the request, a real
``openai`` client pointed at it (instrumented through ``init()``), and the store the runs go to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from calculator_agent import RoutedChat
from integrations.llm_stub import StubLLMServer

from waxell_observe.config import db_url_from
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager


@pytest.fixture
def llm() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        server.chat = RoutedChat()  # type: ignore[assignment]
        yield server


@pytest.fixture
def openai_client(llm: StubLLMServer) -> Iterator[Any]:
    import openai

    _reset_for_tests()
    init(instrument=["openai"])
    yield openai.OpenAI(base_url=llm.openai_base_url, api_key="test-key", max_retries=0)
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"openai"}))
    _reset_for_tests()


@pytest.fixture
def store_url(waxell_db: Path) -> str:
    """The URL of the test's embedded store (``WAXELL_DB``)."""
    return db_url_from(str(waxell_db))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of its own: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return db_url_from(str(tmp_path / "evaluations.db"))
    return db_url_from(request.getfixturevalue("postgres_url"))
