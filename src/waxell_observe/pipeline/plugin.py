"""The record hooks of the pipeline: every run and record is journaled the moment it is made.

Registered as a built-in plugin. Its implementations run last (``trylast``), so the state
other plugins put on the run at the same hook (the OpenTelemetry exporter's trace ids) is in
the frame. On the agent's thread each hook encodes one frame and copies it into the
journal's memory map: no lock beyond the journal's own, no queue, no system call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.delivery.report import DeliveryReport
    from waxell_observe.pipeline import frames
    from waxell_observe.pipeline.journal import Journal
    from waxell_observe.pipeline.pipeline import Pipeline
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
    "journal_refusal",
    "on_flush",
    "on_shutdown",
]

NAME = "pipeline"
REMOTE_STATE_KEY = "remote"


class _FramesOnFirstUse:
    """Stands for :mod:`waxell_observe.pipeline.frames` (msgspec) until the first record needs it,
    then puts the module itself in its place: registering this plugin at ``init()`` imports neither
    the frames nor the pipeline, and the hooks run exactly as with a plain import afterwards."""

    def __getattr__(self, name: str) -> Any:
        from waxell_observe.pipeline import frames as module

        globals()["frames"] = module
        return getattr(module, name)


if not TYPE_CHECKING:
    frames = _FramesOnFirstUse()


def pipeline() -> Pipeline:
    """The process's pipeline (:func:`waxell_observe.pipeline.pipeline.pipeline`)."""
    from waxell_observe.pipeline.pipeline import pipeline as current

    return current()


def existing() -> Pipeline | None:
    """The process's pipeline if it was started (:func:`waxell_observe.pipeline.pipeline.existing`).
    A process that never imported the pipeline module has none: it is not imported to say so (an
    exit with nothing recorded stays cheap)."""
    import sys

    started = getattr(sys.modules.get("waxell_observe.pipeline.pipeline"), "existing", None)
    return started() if started is not None else None


def waxell_active(config: ObserveConfig) -> bool:
    """Every enabled configuration is journaled (embedded and remote alike)."""
    return bool(config.enabled)


_last: tuple[Any, Journal, int] | None = None
"""(config, journal, route id) of the run started last: the next run of the same configuration
starts without asking the pipeline (most processes record with one configuration)."""


def _sink(run: Run) -> tuple[Journal, int]:
    """The run's (journal, route id), kept on the run (``Run._sink``) and looked up again when
    its journal was closed (the pipeline was reset or shut down, or the process forked)."""
    global _last
    config = run.config
    journal, route = sink = run._sink = pipeline().route(config)
    _last = (config, journal, route)
    return sink


@hookimpl(trylast=True)
def on_run_start(run: Run) -> None:
    last = _last
    if last is not None and last[0] is run.config and not last[1].closed:
        journal, route = run._sink = last[1], last[2]
    else:
        journal, route = _sink(run)
    state = run.plugin_state.get(REMOTE_STATE_KEY) if run.plugin_state else None
    journal.append(
        frames.encode_start(route, run, state.get("pre_evaluations") if isinstance(state, dict) else None),
        route,
    )
    if run.config.mode == "remote":
        from waxell_observe.pipeline import live_runs

        live_runs.register(run)


@hookimpl(trylast=True)
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    sink = run._sink
    if sink is None or sink[0].closed:
        sink = _sink(run)
    journal, route = sink
    journal.append(frames.encode_llm(route, run.run_id, call), route)


@hookimpl(trylast=True)
def on_step(run: Run, step: StepRecord) -> None:
    sink = run._sink
    if sink is None or sink[0].closed:
        sink = _sink(run)
    journal, route = sink
    journal.append(frames.encode_step(route, run.run_id, step), route)


@hookimpl(trylast=True)
def on_span(run: Run, span: SpanRecord) -> None:
    sink = run._sink
    if sink is None or sink[0].closed:
        sink = _sink(run)
    journal, route = sink
    journal.append(frames.encode_span(route, run, span), route)


@hookimpl(trylast=True)
def on_score(run: Run, score: ScoreRecord) -> None:
    sink = run._sink
    if sink is None or sink[0].closed:
        sink = _sink(run)
    journal, route = sink
    journal.append(frames.encode_score(route, run.run_id, score), route)


@hookimpl(trylast=True)
def on_run_end(run: Run) -> None:
    sink = run._sink
    if sink is None or sink[0].closed:
        sink = _sink(run)
    journal, route = sink
    journal.append(frames.encode_end(route, run), route)


def journal_refusal(
    config: ObserveConfig, agent_name: str, workflow_name: str, spans: list[SpanRecord]
) -> None:
    """Journal the ``policy`` spans of a run refused before it started, for ``config``'s store
    (where they become audit rows): as durable as any record, delivered by the same drainer."""
    journal, route = pipeline().store_route(config)
    for span in spans:
        journal.append(frames.encode_refusal(route, agent_name, workflow_name, span), route)


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    """Deliver what was recorded so far (the calls made outside runs, buffered, first: they are recorded)."""
    from waxell_observe import calls_outside_runs

    if calls_outside_runs.pending():
        calls_outside_runs.write_pending()
    current = existing()
    return current.flush(timeout) if current is not None else None


@hookimpl(tryfirst=True)
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """Runs first at shutdown: what the other plugins take cannot eat the pipeline's budget."""
    from waxell_observe import calls_outside_runs

    if calls_outside_runs.pending():
        calls_outside_runs.write_pending()
    current = existing()
    return current.shutdown(timeout) if current is not None else None
