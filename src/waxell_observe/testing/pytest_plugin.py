"""The pytest plugin (entry point ``pytest11``): the ``waxell_runs`` fixture.

Installed with the SDK, active in every pytest session, costing nothing until a test asks for
the fixture (the SDK is imported only then)::

    def test_agent_answers_with_the_search_tool(waxell_runs):
        answer = my_agent("capital of France?")
        run = waxell_runs.one("my-agent").assert_succeeded()
        run.assert_tool_called("search", query="capital of France")
        run.assert_cost_at_most(0.01)

The fixture captures, in memory, every run started during the test (from any thread), and
records offline: to an embedded store private to the test session (one per pytest-xdist
worker), never to the user's store or a control plane.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from waxell_observe.testing.recorded import RecordedRuns

__all__ = ["waxell_runs", "waxell_store_dir"]


@pytest.fixture(scope="session")
def waxell_store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of the session's private store and journal (one per xdist worker)."""
    return tmp_path_factory.mktemp("waxell-observe")


@pytest.fixture
def waxell_runs(waxell_store_dir: Path) -> Iterator[RecordedRuns]:
    """The runs recorded during this test (:class:`waxell_observe.testing.RecordedRuns`)."""
    from waxell_observe.testing.capture import capture_runs

    with capture_runs(offline=True, directory=waxell_store_dir) as runs:
        yield runs
