"""The record hooks of the pipeline: every run and record is journaled the moment it is made.

Registered as a built-in plugin. Its implementations run last (``trylast``), so the state
other plugins put on the run at the same hook (the OpenTelemetry exporter's trace ids) is in
the frame. On the agent's thread each hook encodes one frame and copies it into the
journal's memory map: no lock beyond the journal's own, no queue, no system call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.pipeline import frames, live_runs
from waxell_observe.pipeline.pipeline import existing, pipeline
from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
    from waxell_observe.run import Run

__all__ = [
    "NAME",
    "on_run_start",
    "on_llm_call",
    "on_step",
    "on_span",
    "on_score",
    "on_run_end",
    "on_flush",
    "on_shutdown",
]

NAME = "pipeline"
REMOTE_STATE_KEY = "remote"


def waxell_active(config: ObserveConfig) -> bool:
    """Every enabled configuration is journaled (embedded and remote alike)."""
    return bool(config.enabled)


def _pre_evaluations(run: Run) -> Any:
    state = run.plugin_state.get(REMOTE_STATE_KEY) if run.plugin_state else None
    return state.get("pre_evaluations") if isinstance(state, dict) else None


@hookimpl(trylast=True)
def on_run_start(run: Run) -> None:
    journal, route = pipeline().route(run.config)
    journal.append(frames.encode_start(route, run, _pre_evaluations(run)), route)
    if run.config.mode == "remote":
        live_runs.register(run)


@hookimpl(trylast=True)
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    journal, route = pipeline().route(run.config)
    journal.append(frames.encode_llm(route, run.run_id, call), route)


@hookimpl(trylast=True)
def on_step(run: Run, step: StepRecord) -> None:
    journal, route = pipeline().route(run.config)
    journal.append(frames.encode_step(route, run.run_id, step), route)


@hookimpl(trylast=True)
def on_span(run: Run, span: SpanRecord) -> None:
    journal, route = pipeline().route(run.config)
    journal.append(frames.encode_span(route, run, span), route)


@hookimpl(trylast=True)
def on_score(run: Run, score: ScoreRecord) -> None:
    journal, route = pipeline().route(run.config)
    journal.append(frames.encode_score(route, run.run_id, score), route)


@hookimpl(trylast=True)
def on_run_end(run: Run) -> None:
    journal, route = pipeline().route(run.config)
    journal.append(frames.encode_end(route, run), route)


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    """Deliver what was recorded so far (the collector's buffered calls first: they are recorded)."""
    from waxell_observe import collector

    if collector.pending():
        collector.write_pending()
    current = existing()
    return current.flush(timeout) if current is not None else None


@hookimpl(tryfirst=True)
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """Runs first at shutdown: what the other plugins take cannot eat the pipeline's budget."""
    from waxell_observe import collector

    if collector.pending():
        collector.write_pending()
    current = existing()
    return current.shutdown(timeout) if current is not None else None
