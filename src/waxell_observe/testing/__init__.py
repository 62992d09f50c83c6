"""Testing agents: capture the runs a test records and assert on them.

* :func:`capture_runs` — a context manager capturing the runs recorded inside it;
* :class:`RecordedRuns` / :class:`RecordedRun` — what was captured, with ``assert_*`` helpers;
* the ``waxell_runs`` pytest fixture (:mod:`waxell_observe.testing.pytest_plugin`), installed
  with the SDK through the ``pytest11`` entry point.
"""

from __future__ import annotations

from waxell_observe.testing.capture import capture_runs
from waxell_observe.testing.recorded import RecordedRun, RecordedRuns

__all__ = ["capture_runs", "RecordedRun", "RecordedRuns"]
