"""Fixtures for the LangChain integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from waxell_observe.config import ObserveConfig
from waxell_observe.initialization import _reset_for_tests, init
from waxell_observe.plugins import plugin_manager


@pytest.fixture
def auto_langchain() -> Iterator[ObserveConfig]:
    """``init(instrument=["langchain"])`` for one test, undone afterwards."""
    _reset_for_tests()
    config = init(instrument=["langchain"])
    yield config
    plugin_manager().hook.on_uninstrument(libraries=frozenset({"langchain"}))
    _reset_for_tests()


@pytest.fixture(autouse=True)
def no_framework_mark_left() -> Iterator[None]:
    """Every model call's framework mark is removed when the call ends."""
    from waxell_observe import integration_api

    yield
    assert integration_api.framework_call_active() == ""
