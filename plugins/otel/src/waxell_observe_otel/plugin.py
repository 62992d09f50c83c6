"""The ``otel`` plugin: waxell-observe hooks → OpenTelemetry spans → OTLP.

Registered through the ``waxell_observe`` entry-point group. On the agent's thread the
hooks only decide whether the run is exported, compute its trace ids (so
``run.plugin_state["otel"]`` holds them from the start) and queue snapshots of the run and
its records; a background worker builds the spans (:mod:`waxell_observe_otel.builder`) and
the OpenTelemetry batch processor exports them. Importing this module does not import
OpenTelemetry: that happens when the first exported run starts.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from waxell_observe.config import ObserveConfig
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.plugins import hookimpl
from waxell_observe_otel.propagation import PLUGIN_STATE_KEY, run_trace, state_for
from waxell_observe_otel.remote_config import RemoteEndpoints
from waxell_observe_otel.settings import OtelSettings, settings_from_config
from waxell_observe_otel.snapshots import LLMContext, RunEnd, RunStart

if TYPE_CHECKING:
    from waxell_observe.delivery.worker import BackgroundWorker
    from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
    from waxell_observe.run import Run
    from waxell_observe_otel.builder import SpanBuilder

__all__ = [
    "NAME",
    "on_configure",
    "on_flush",
    "on_llm_call",
    "on_run_end",
    "on_run_start",
    "on_score",
    "on_shutdown",
    "on_span",
    "on_step",
    "reset",
]

logger = logging.getLogger("waxell_observe")

NAME = "otel"

_Item = tuple[str, str, Any]

_lock = threading.Lock()
_worker: BackgroundWorker[_Item] | None = None
_builder: SpanBuilder | None = None
_remote = RemoteEndpoints()
_OFF = object()
_ASK_CONTROL_PLANE = object()
_decision_cache: tuple[ObserveConfig, Any] | None = None


def _get_builder() -> SpanBuilder:
    """The span builder (imports OpenTelemetry: called on the worker thread, or to flush)."""
    global _builder
    if _builder is None:
        with _lock:
            if _builder is None:
                from waxell_observe_otel.builder import SpanBuilder

                _builder = SpanBuilder(_remote)
    return _builder


def _handle_batch(items: list[_Item]) -> None:
    _get_builder().handle(items)


def _get_worker(max_queue: int) -> BackgroundWorker[_Item]:
    global _worker
    worker = _worker
    if worker is None:
        with _lock:
            if _worker is None:
                from waxell_observe.delivery.worker import BackgroundWorker

                _worker = BackgroundWorker(NAME, _handle_batch, max_queue=max_queue)
            worker = _worker
    return worker


def _decide(config: ObserveConfig) -> Any:
    """Export settings for runs made with ``config``: :class:`OtelSettings`, ``_OFF``, or
    ``_ASK_CONTROL_PLANE`` (remote mode, endpoint not known yet)."""
    global _decision_cache
    cached = _decision_cache
    if cached is not None and cached[0] is config and cached[1] is not _ASK_CONTROL_PLANE:
        return cached[1]
    decision: Any = settings_from_config(config)
    if decision is None:
        decision = _OFF
        if config.mode == "remote":
            known = _remote.known(config)
            if known is None:
                decision = _ASK_CONTROL_PLANE
            elif known:
                decision = settings_from_config(config, endpoint=known) or _OFF
    _decision_cache = (config, decision)
    return decision


def waxell_active(config: ObserveConfig) -> bool:
    """Record hooks skip this plugin when nothing is exported for ``config``."""
    return _decide(config) is not _OFF


def _on_remote_answer() -> None:
    """The control plane answered (fetch thread): let the worker handle the runs waiting for it."""
    global _decision_cache
    _decision_cache = None
    from waxell_observe.plugins import plugin_manager

    plugin_manager().invalidate()  # waxell_active may answer differently now
    worker = _worker
    if worker is not None:
        worker.put(("replay", "", None))


def _traced(run: Run) -> bool:
    return PLUGIN_STATE_KEY in run.plugin_state


# -- hooks: the agent's thread ---------------------------------------------------------------


@hookimpl
def on_configure(config: ObserveConfig) -> None:
    """Check the settings early (a bad endpoint is logged now) and set the exporter up; in
    remote mode without an endpoint, start asking the control plane for one in the background."""
    if not config.enabled:
        return
    decision = _decide(config)
    if decision is _ASK_CONTROL_PLANE:
        _remote.request(config, _on_remote_answer)
    elif isinstance(decision, OtelSettings):
        # Set the exporter up now (imports, provider, processor; no network I/O) rather than
        # when the first spans are built, which may be as late as interpreter exit.
        _get_builder().pipeline_for(decision)


@hookimpl
def on_run_start(run: Run) -> None:
    decision = _decide(run.config)
    if decision is _OFF:
        return
    if decision is _ASK_CONTROL_PLANE:
        _remote.request(run.config, _on_remote_answer)
    trace_id, span_id, parent = run_trace(run)
    run.plugin_state[PLUGIN_STATE_KEY] = state_for(trace_id, span_id, parent)
    start = RunStart(
        run_id=run.run_id,
        agent_name=run.agent_name,
        workflow_name=run.workflow_name,
        session_id=run.session_id,
        user_id=run.user_id,
        user_group=run.user_group,
        parent_run_id=run.parent_run_id,
        root_run_id=run.root_run_id,
        interaction_mode=run.interaction_mode,
        started_at=run.started_at,
        trace_id=trace_id,
        span_id=span_id,
        parent=parent,
        capture_content=run.config.capture_content,
        settings=decision if isinstance(decision, OtelSettings) else None,
        config=run.config,
    )
    _get_worker(run.config.max_queue).put(("start", run.run_id, start))


@hookimpl
def on_llm_call(run: Run, call: LLMCallRecord) -> None:
    if not _traced(run):
        return
    if call.attributes.get("otel_native_span"):
        # The provider SDK already emitted its own GenAI span for this call (e.g. anthropic's
        # built-in tracing): exporting ours too would record the call twice.
        return
    conversation = run.conversation
    context = (
        LLMContext(conversation.message_count, conversation.user_turns)
        if conversation is not None
        else LLMContext()
    )
    _get_worker(run.config.max_queue).put(("llm", run.run_id, (call, context)))


@hookimpl
def on_step(run: Run, step: StepRecord) -> None:
    if _traced(run):
        _get_worker(run.config.max_queue).put(("step", run.run_id, step))


@hookimpl
def on_span(run: Run, span: SpanRecord) -> None:
    if _traced(run):
        _get_worker(run.config.max_queue).put(("span", run.run_id, span))


@hookimpl
def on_score(run: Run, score: ScoreRecord) -> None:
    if _traced(run):
        _get_worker(run.config.max_queue).put(("score", run.run_id, score))


@hookimpl
def on_run_end(run: Run) -> None:
    if not _traced(run):
        return
    end = RunEnd(
        run_id=run.run_id,
        ended_at=run.ended_at,
        status=run.status,
        error=run.error,
        error_type=run.error_type,
        traceback=run.traceback,
        tags=dict(run.tags),
        metadata=dict(run.metadata),
        tokens_in=run.tokens_in,
        tokens_out=run.tokens_out,
        total_cost=run.total_cost,
        llm_call_count=run.llm_call_count,
        step_count=run.step_count,
        span_count=run.span_count,
        conversation=run.conversation_state(),
        governance=run.governance.to_dict() if run.governance is not None else None,
        inputs=run.inputs,
        result=run.result,
    )
    _get_worker(run.config.max_queue).put(("end", run.run_id, end))


# -- hooks: flush and shutdown (may block, bounded by their timeout) --------------------------


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _report(pipelines_done: bool) -> DeliveryReport:
    worker, builder = _worker, _builder
    report = DeliveryReport(sink=NAME)
    if builder is not None:
        report.sent = builder.exported
        report.dropped = builder.failed + builder.dropped_waiting
        report.errors = list(builder.errors)
        report.pending += builder.waiting_count
        if not pipelines_done:
            report.pending += builder.unexported
    if worker is not None:
        report.dropped += worker.dropped
        report.pending += worker.pending
        report.errors.extend(worker.errors)
    return report


@hookimpl
def on_flush(timeout: float | None) -> DeliveryReport | None:
    """Build the spans of everything queued, then export what the processors hold."""
    worker = _worker
    if worker is None:
        return None
    deadline = None if timeout is None else time.monotonic() + timeout
    worker.flush(timeout)
    # Runs waiting for the control plane to name its OTLP endpoint are part of what this flush
    # must deliver: wait for the answer (it queues a replay), then build them.
    while _builder is not None and _builder.waiting_count and (deadline is None or time.monotonic() < deadline):
        time.sleep(0.02)
        worker.flush(_remaining(deadline))
    builder = _builder
    results = (
        [pipeline.flush(_remaining(deadline)) for pipeline in builder.all_pipelines()] if builder else []
    )
    done = False not in results  # every pipeline is flushed, even after one timed out
    return _report(done)


@hookimpl
def on_shutdown(timeout: float | None) -> DeliveryReport | None:
    """Flush, then stop the worker and our span processors (never the application's)."""
    worker = _worker
    if worker is None:
        return None
    deadline = None if timeout is None else time.monotonic() + timeout
    builder = _get_builder()
    builder.closing = True  # no new batching thread at interpreter exit
    try:
        worker.shutdown(timeout)
    finally:
        builder.closing = False
    if builder.drop_waiting():
        logger.warning(
            "waxell-observe: shutdown before the control plane named an OTLP endpoint; runs not exported"
        )
    pipelines = builder.forget_pipelines()
    results = [pipeline.shutdown(_remaining(deadline)) for pipeline in pipelines]
    done = False not in results
    builder.keep_counts(pipelines)
    return _report(done)


def reset() -> None:
    """Forget all export state (tests): shut down pipelines and the worker without waiting."""
    global _worker, _builder, _decision_cache
    _remote.clear()
    with _lock:
        worker, builder = _worker, _builder
        _worker = None
        _builder = None
        _decision_cache = None
    if worker is not None:
        worker.shutdown(0)
    if builder is not None:
        for pipeline in builder.forget_pipelines():
            pipeline.shutdown(0)
