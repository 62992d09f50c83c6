"""What one run of the task did: :class:`RunTrace`, collected by the :class:`TraceCollector` plugin.

A task runs inside a run the evaluation opens (the *item run*); whatever the task records there,
or in runs it starts below it (an ``@observe`` agent becomes a child run), belongs to the item:
their LLM calls, tool calls, steps, cost and tokens. Runs outside that tree (an LLM judge's own
runs) are not counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from waxell_observe.plugins import hookimpl, plugin_manager
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
from waxell_observe.run import Run

__all__ = ["RunTrace", "TraceCollector", "collector"]


@dataclass
class RunTrace:
    """The records of an item run and the runs below it, and its measures.

    ``cost``, ``tokens_in`` and ``tokens_out`` sum every run of the tree; ``latency_ms`` is the
    task's wall time; ``status``/``error`` are the item run's."""

    run_id: str = ""
    status: str = "running"
    error: str = ""
    error_type: str = ""
    latency_ms: float = 0.0
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0
    run_ids: list[str] = field(default_factory=list)
    llm_calls: list[LLMCallRecord] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(call.model for call in self.llm_calls))

    @property
    def tool_calls(self) -> list[SpanRecord]:
        return [span for span in self.spans if span.kind == "tool"]

    @property
    def tool_names(self) -> list[str]:
        return [span.name for span in self.tool_calls]


class TraceCollector:
    """A plugin keeping a :class:`RunTrace` for each watched item run (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._traces: dict[str, RunTrace] = {}

    def watch(self, run_id: str) -> RunTrace:
        trace = RunTrace(run_id=run_id, run_ids=[run_id])
        with self._lock:
            self._traces[run_id] = trace
        return trace

    def release(self, run_id: str) -> RunTrace | None:
        with self._lock:
            return self._traces.pop(run_id, None)

    def _trace(self, run: Run) -> RunTrace | None:
        return self._traces.get(run.root_run_id or run.run_id)

    @hookimpl
    def on_run_start(self, run: Run) -> None:
        trace = self._trace(run)
        if trace is not None and run.run_id != trace.run_id:
            with self._lock:
                trace.run_ids.append(run.run_id)

    @hookimpl
    def on_llm_call(self, run: Run, call: LLMCallRecord) -> None:
        trace = self._trace(run)
        if trace is not None:
            with self._lock:
                trace.llm_calls.append(call)

    @hookimpl
    def on_step(self, run: Run, step: StepRecord) -> None:
        trace = self._trace(run)
        if trace is not None:
            with self._lock:
                trace.steps.append(step)

    @hookimpl
    def on_span(self, run: Run, span: SpanRecord) -> None:
        trace = self._trace(run)
        if trace is not None:
            with self._lock:
                trace.spans.append(span)

    @hookimpl
    def on_score(self, run: Run, score: ScoreRecord) -> None:
        trace = self._trace(run)
        if trace is not None:
            with self._lock:
                trace.scores.append(score)

    @hookimpl
    def on_run_end(self, run: Run) -> None:
        trace = self._trace(run)
        if trace is None:
            return
        with self._lock:
            trace.cost += run.total_cost
            trace.tokens_in += run.tokens_in
            trace.tokens_out += run.tokens_out
            if run.run_id == trace.run_id:
                trace.status = run.status
                trace.error = run.error or ""
                trace.error_type = run.error_type or ""


_collector: TraceCollector | None = None
_collector_lock = threading.Lock()


def collector() -> TraceCollector:
    """The process's collector, registered with the plugin manager on first use."""
    global _collector
    with _collector_lock:
        manager = plugin_manager()
        if _collector is None:
            _collector = TraceCollector()
        if not manager.is_registered(_collector):
            manager.register(_collector, name="waxell-evaluation-traces")
    return _collector
