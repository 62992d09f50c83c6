"""Capturing the runs a block of code records, in memory: :func:`capture_runs`.

A capture is a plugin registered for the duration of the block; its record hooks copy what
every run started inside the block records (from any thread) into :class:`RecordedRun` views.
Runs started before the block, or by another capture's code after it, are not included.
With ``offline=True`` (the default) the block also records to a private embedded store and
journal instead of the user's, and nothing goes to a control plane.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from waxell_observe.plugins import hookimpl, plugin_manager
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
from waxell_observe.run import Run
from waxell_observe.testing.recorded import RecordedRun, RecordedRuns

__all__ = ["capture_runs", "RunCapture", "OFFLINE_ENVIRONMENT"]

OFFLINE_ENVIRONMENT = (
    "WAXELL_API_URL",
    "WAXELL_API_KEY",
    "WAXELL_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
"""Variables a capture clears so that nothing leaves the machine."""


class RunCapture:
    """The capturing plugin (one per capture). Thread-safe: runs may record from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, RecordedRun] = {}
        self.runs: list[RecordedRun] = []

    def _recorded(self, run: Run) -> RecordedRun | None:
        return self._by_id.get(run.run_id)

    @hookimpl
    def on_run_start(self, run: Run) -> None:
        recorded = RecordedRun(
            run_id=run.run_id,
            agent_name=run.agent_name,
            workflow_name=run.workflow_name,
            parent_run_id=run.parent_run_id or "",
            session_id=run.session_id,
            user_id=run.user_id,
            inputs=dict(run.inputs or {}),
            tags=dict(run.tags or {}),
            metadata=dict(run.metadata or {}),
            started_at=run.started_at,
        )
        with self._lock:
            self._by_id[run.run_id] = recorded
            self.runs.append(recorded)

    @hookimpl
    def on_llm_call(self, run: Run, call: LLMCallRecord) -> None:
        recorded = self._recorded(run)
        if recorded is not None:
            with self._lock:
                recorded.llm_calls.append(call)
                self._totals(recorded, run)

    @hookimpl
    def on_step(self, run: Run, step: StepRecord) -> None:
        recorded = self._recorded(run)
        if recorded is not None:
            with self._lock:
                recorded.steps.append(step)

    @hookimpl
    def on_span(self, run: Run, span: SpanRecord) -> None:
        recorded = self._recorded(run)
        if recorded is not None:
            with self._lock:
                recorded.spans.append(span)

    @hookimpl
    def on_score(self, run: Run, score: ScoreRecord) -> None:
        recorded = self._recorded(run)
        if recorded is not None:
            with self._lock:
                recorded.scores.append(score)

    @hookimpl
    def on_run_end(self, run: Run) -> None:
        recorded = self._recorded(run)
        if recorded is None:
            return
        with self._lock:
            recorded.status = run.status
            recorded.error = run.error or ""
            recorded.error_type = run.error_type or ""
            recorded.result = run.result
            recorded.tags = dict(run.tags or {})
            recorded.metadata = dict(run.metadata or {})
            recorded.ended_at = run.ended_at
            recorded.governance = run.governance
            self._totals(recorded, run)

    @staticmethod
    def _totals(recorded: RecordedRun, run: Run) -> None:
        recorded.tokens_in = run.tokens_in
        recorded.tokens_out = run.tokens_out
        recorded.total_cost = run.total_cost


@contextlib.contextmanager
def capture_runs(
    *, offline: bool = True, directory: str | os.PathLike[str] | None = None
) -> Iterator[RecordedRuns]:
    """Capture the runs recorded inside the block::

        with capture_runs() as runs:
            my_agent("question")
        runs.one("my-agent").assert_succeeded().assert_tool_called("search")

    ``offline``: record to a private embedded store and journal (under ``directory``, or a
    temporary directory removed afterwards) with no control plane and no OTLP export, restoring
    the configuration afterwards. Everything recorded inside the block is delivered before it
    ends, so the private store holds it too.
    """
    from waxell_observe.config import current_config, set_config
    from waxell_observe.lifecycle import flush_sync

    capture = RunCapture()
    with contextlib.ExitStack() as stack:
        store_url = ""
        if offline:
            root = (
                Path(directory)
                if directory is not None
                else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            )
            saved_config = current_config()
            saved_env = {
                name: os.environ.get(name)
                for name in (*OFFLINE_ENVIRONMENT, "WAXELL_DB", "WAXELL_JOURNAL_DIR")
            }
            stack.callback(_restore, saved_env, saved_config)
            for name in OFFLINE_ENVIRONMENT:
                os.environ.pop(name, None)
            os.environ["WAXELL_DB"] = str(root / "waxell.db")
            os.environ["WAXELL_JOURNAL_DIR"] = str(root / "journal")
            set_config(None)
            store_url = f"sqlite:///{root / 'waxell.db'}"
        manager = plugin_manager()
        manager.register(capture)
        stack.callback(_unregister, capture)
        runs = RecordedRuns(capture.runs, store_url)
        stack.callback(runs._remove_policies)  # after the delivery: the test's policies end with it
        stack.callback(flush_sync, 30)  # runs first: deliver before the configuration is restored
        yield runs


def _unregister(capture: RunCapture) -> None:
    manager = plugin_manager()
    if manager.is_registered(capture):
        manager.unregister(capture)


def _restore(saved_env: dict[str, str | None], saved_config: Any) -> None:
    from waxell_observe.config import set_config

    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    set_config(saved_config)
