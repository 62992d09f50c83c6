"""Building OpenTelemetry spans from runs and records, on the exporter's worker thread.

The hooks (agent's thread) only queue snapshots; this module turns them into spans with
explicit start and end times. A run span is started when its run starts and ended when
it ends (with the final tags, metadata, totals and status); each record becomes a child
span, started and ended at once with the record's own times, under the span named by its
``parent_span_id`` (ids are derived, so a parent recorded later still matches) or else
under the run span. Scores are events on the run span.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from waxell_observe.pricing import context_window
from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
from waxell_observe_otel import attributes as attrs
from waxell_observe_otel.ids import span_id_for
from waxell_observe_otel.pipeline import Pipeline
from waxell_observe_otel.remote_config import RemoteEndpoints
from waxell_observe_otel.settings import OtelSettings, settings_from_config
from waxell_observe_otel.snapshots import LLMContext, RunEnd, RunStart

__all__ = ["MAX_LIVE_RUNS", "SpanBuilder"]

logger = logging.getLogger("waxell_observe")

MAX_LIVE_RUNS = 10_000
"""Runs whose span is open at once; beyond it the oldest is ended early (and logged)."""

MAX_WAITING_ITEMS = 100_000
"""Records kept while the control plane has not said where to export; newer ones are dropped."""


@dataclass
class _LiveRun:
    run_id: str
    span: Any
    pipeline: Pipeline
    trace_id: int
    span_id: int
    flags: TraceFlags
    agent_name: str
    capture_content: bool


def _ns(seconds: float) -> int:
    return round((seconds or time.time()) * 1_000_000_000)


def _end_ns(started_at: float, duration_ms: float | None) -> int:
    return _ns(started_at) + int((duration_ms or 0.0) * 1_000_000)


def _parent_context(trace_id: int, span_id: int, flags: TraceFlags, remote: bool = False) -> Context:
    span_context = SpanContext(trace_id, span_id, is_remote=remote, trace_flags=flags)
    return trace_api.set_span_in_context(NonRecordingSpan(span_context), Context())


def _exception_event(span: Any, error_type: str, message: str, stacktrace: str, at_ns: int) -> None:
    event: dict[str, Any] = {}
    if error_type:
        event["exception.type"] = error_type
    if message:
        event["exception.message"] = message
    if stacktrace:
        event["exception.stacktrace"] = stacktrace
    if event:
        span.add_event("exception", event, timestamp=at_ns)


class SpanBuilder:
    """Turns queued run/record snapshots into spans. Used by one worker thread only."""

    def __init__(self, remote: RemoteEndpoints) -> None:
        self.pipelines: dict[tuple[Any, ...], Pipeline] = {}
        self.retired: list[Pipeline] = []
        self.remote = remote
        self.live: OrderedDict[str, _LiveRun] = OrderedDict()
        self.evicted = 0
        self.waiting: dict[str, list[tuple[str, str, Any]]] = {}
        """Items of runs whose control plane has not named its OTLP endpoint yet, by run."""
        self.waiting_count = 0
        self.dropped_waiting = 0
        self.closing = False
        """Set during a shutdown: pipelines created now export synchronously."""
        self._pipelines_lock = threading.Lock()
        self._closed_exported = 0
        self._closed_failed = 0
        self._closed_errors: list[str] = []

    # -- pipelines ---------------------------------------------------------------------------

    def pipeline_for(self, settings: OtelSettings) -> Pipeline:
        """The pipeline for ``settings``, created on first use (thread-safe)."""
        key = settings.key
        with self._pipelines_lock:
            pipeline = self.pipelines.get(key)
            if pipeline is not None and not pipeline.is_current():
                # The application set up OpenTelemetry after we created our provider: join it.
                self.retired.append(pipeline)
                pipeline = None
            if pipeline is None:
                pipeline = Pipeline(settings, synchronous=self.closing)
                self.pipelines[key] = pipeline
            return pipeline

    def all_pipelines(self) -> list[Pipeline]:
        return [*self.pipelines.values(), *self.retired]

    @property
    def exported(self) -> int:
        """Spans exported successfully since the process started."""
        return self._closed_exported + sum(p.exporter.exported for p in self.all_pipelines())

    @property
    def failed(self) -> int:
        """Spans whose export failed (endpoint unreachable, rejected, ...)."""
        return self._closed_failed + sum(p.exporter.failed for p in self.all_pipelines())

    @property
    def unexported(self) -> int:
        """Spans waiting in the batch processors."""
        return sum(p.unexported for p in self.all_pipelines())

    @property
    def errors(self) -> list[str]:
        found = [p.exporter.last_error for p in self.all_pipelines() if p.exporter.last_error]
        return [*self._closed_errors, *found][-20:]

    def keep_counts(self, pipelines: list[Pipeline]) -> None:
        """Remember the counts of pipelines that were shut down and forgotten."""
        for pipeline in pipelines:
            self._closed_exported += pipeline.exporter.exported
            self._closed_failed += pipeline.exporter.failed
            if pipeline.exporter.last_error:
                self._closed_errors.append(pipeline.exporter.last_error)
        del self._closed_errors[:-20]

    def forget_pipelines(self) -> list[Pipeline]:
        """Detach every pipeline (for a shutdown); later runs create new ones."""
        with self._pipelines_lock:
            pipelines = self.all_pipelines()
            self.pipelines = {}
            self.retired = []
        return pipelines

    # -- items -------------------------------------------------------------------------------

    def handle(self, items: list[tuple[str, str, Any]]) -> None:
        """Build the spans of one batch of queued items (a failing item is logged and skipped)."""
        for item in items:
            operation, run_id, payload = item
            try:
                if operation == "replay":
                    self.replay()
                elif run_id in self.waiting:
                    self._wait(run_id, item)
                elif operation == "start":
                    if payload.settings is None and self.remote.known(payload.config) is None:
                        self._wait(run_id, item)  # the control plane has not said where yet
                    else:
                        self.start_run(payload)
                elif operation == "end":
                    self.end_run(payload)
                else:
                    live = self.live.get(run_id)
                    if live is None:
                        continue  # the run is not exported (off, or started before export was on)
                    if operation == "llm":
                        self.llm_call(live, *payload)
                    elif operation == "step":
                        self.step(live, payload)
                    elif operation == "span":
                        self.span(live, payload)
                    elif operation == "score":
                        self.score(live, payload)
            except Exception:
                logger.exception(
                    "waxell-observe: could not build the OpenTelemetry span of a %s record", operation
                )

    # -- runs waiting for the control plane's answer -------------------------------------------

    def _wait(self, run_id: str, item: tuple[str, str, Any]) -> None:
        if self.waiting_count >= MAX_WAITING_ITEMS:
            self.dropped_waiting += 1
            if self.dropped_waiting == 1:
                logger.warning(
                    "waxell-observe: more than %d records wait for the control plane's OTLP endpoint; "
                    "dropping the newest",
                    MAX_WAITING_ITEMS,
                )
            return
        self.waiting.setdefault(run_id, []).append(item)
        self.waiting_count += 1

    def replay(self) -> None:
        """Handle the runs whose control plane has answered since they were queued."""
        for run_id, items in list(self.waiting.items()):
            start = items[0][2]
            if self.remote.known(start.config) is None:
                continue
            del self.waiting[run_id]
            self.waiting_count -= len(items)
            self.handle(items)

    def drop_waiting(self) -> int:
        """Forget the runs still waiting (at shutdown); returns how many records that was."""
        count = self.waiting_count
        self.waiting.clear()
        self.waiting_count = 0
        self.dropped_waiting += count
        return count

    def _settings(self, start: RunStart) -> OtelSettings | None:
        if start.settings is not None:
            return start.settings
        endpoint = self.remote.known(start.config)
        return settings_from_config(start.config, endpoint=endpoint) if endpoint else None

    def start_run(self, start: RunStart) -> None:
        settings = self._settings(start)
        if settings is None:
            return
        pipeline = self.pipeline_for(settings)
        if pipeline.tracer is None or pipeline.ids is None:
            return
        name, attributes = attrs.run_start_attributes(
            run_id=start.run_id,
            agent_name=start.agent_name,
            workflow_name=start.workflow_name,
            session_id=start.session_id,
            user_id=start.user_id,
            user_group=start.user_group,
            parent_run_id=start.parent_run_id,
            root_run_id=start.root_run_id,
            interaction_mode=start.interaction_mode,
        )
        parent = start.parent
        if parent is not None:
            flags = TraceFlags(TraceFlags.SAMPLED if parent.sampled else TraceFlags.DEFAULT)
            context = _parent_context(parent.trace_id, parent.span_id, flags, parent.remote)
            pipeline.ids.preset(start.span_id)
        else:
            context = Context()
            pipeline.ids.preset(start.span_id, start.trace_id)
        try:
            span = pipeline.tracer.start_span(
                name,
                context=context,
                kind=SpanKind.INTERNAL,
                attributes=attributes,
                start_time=_ns(start.started_at),
            )
        finally:
            pipeline.ids.clear()
        span_context = span.get_span_context()
        if len(self.live) >= MAX_LIVE_RUNS:
            self._evict_oldest()
        self.live[start.run_id] = _LiveRun(
            run_id=start.run_id,
            span=span,
            pipeline=pipeline,
            trace_id=span_context.trace_id,
            span_id=span_context.span_id,
            flags=span_context.trace_flags,
            agent_name=start.agent_name,
            capture_content=start.capture_content,
        )

    def _evict_oldest(self) -> None:
        run_id, live = self.live.popitem(last=False)
        self.evicted += 1
        if self.evicted == 1:
            logger.warning(
                "waxell-observe: more than %d runs open at once; ending the span of run %s early",
                MAX_LIVE_RUNS,
                run_id,
            )
        live.span.set_attribute("waxell.run.status", "incomplete")
        live.span.end()

    def end_run(self, end: RunEnd) -> None:
        live = self.live.pop(end.run_id, None)
        if live is None:
            return
        span = live.span
        span.set_attributes(
            attrs.run_end_attributes(
                status=end.status,
                tags=end.tags,
                metadata=end.metadata,
                tokens_in=end.tokens_in,
                tokens_out=end.tokens_out,
                total_cost=end.total_cost,
                llm_call_count=end.llm_call_count,
                step_count=end.step_count,
                span_count=end.span_count,
                conversation=end.conversation,
                governance=end.governance,
                inputs=end.inputs,
                result=end.result,
                capture_content=live.capture_content,
            )
        )
        end_ns = _ns(end.ended_at)
        if end.status not in ("success", "running"):
            span.set_status(Status(StatusCode.ERROR, end.error or end.status))
            _exception_event(span, end.error_type, end.error, end.traceback, end_ns)
        span.end(end_time=end_ns)

    # -- records -----------------------------------------------------------------------------

    def _child(
        self,
        live: _LiveRun,
        record_id: str,
        parent_record_id: str,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any],
        start_ns: int,
    ) -> Any:
        pipeline = live.pipeline
        assert pipeline.tracer is not None and pipeline.ids is not None
        parent_span_id = span_id_for(parent_record_id) if parent_record_id else live.span_id
        context = _parent_context(live.trace_id, parent_span_id, live.flags)
        pipeline.ids.preset(span_id_for(record_id))
        try:
            return pipeline.tracer.start_span(
                name, context=context, kind=kind, attributes=attributes, start_time=start_ns
            )
        finally:
            pipeline.ids.clear()

    def llm_call(self, live: _LiveRun, call: LLMCallRecord, context: LLMContext) -> None:
        name, attributes = attrs.llm_call_span(
            call,
            run_id=live.run_id,
            agent_name=live.agent_name,
            context=attrs.context_attributes(
                context_window(call.model), call.tokens_in, context.message_count, context.user_turns
            ),
            capture_content=live.capture_content,
        )
        start_ns = _ns(call.started_at)
        span = self._child(live, call.id, call.parent_span_id, name, SpanKind.CLIENT, attributes, start_ns)
        end_ns = _end_ns(call.started_at, call.duration_ms)
        if call.status == "error":
            span.set_status(Status(StatusCode.ERROR, call.error_message or call.error_type or "error"))
            _exception_event(span, call.error_type, call.error_message, "", end_ns)
        span.end(end_time=end_ns)

    def step(self, live: _LiveRun, step: StepRecord) -> None:
        name, attributes = attrs.step_span(step, run_id=live.run_id, agent_name=live.agent_name)
        start_ns = _ns(step.started_at)
        span = self._child(live, step.id, "", name, SpanKind.INTERNAL, attributes, start_ns)
        span.end(end_time=start_ns)

    def span(self, live: _LiveRun, record: SpanRecord) -> None:
        name, attributes = attrs.behaviour_span(
            record, run_id=live.run_id, agent_name=live.agent_name, capture_content=live.capture_content
        )
        start_ns = _ns(record.started_at)
        kind = SpanKind.CLIENT if record.kind == "llm" else SpanKind.INTERNAL
        span = self._child(live, record.id, record.parent_span_id, name, kind, attributes, start_ns)
        end_ns = _end_ns(record.started_at, record.duration_ms)
        if record.status == "error":
            extra = record.attributes or {}
            error_type = extra.get("error_type")
            message = record.error or str(extra.get("reason") or "")
            span.set_status(Status(StatusCode.ERROR, message or "error"))
            _exception_event(span, error_type if isinstance(error_type, str) else "", message, "", end_ns)
        span.end(end_time=end_ns)

    def score(self, live: _LiveRun, score: ScoreRecord) -> None:
        name, attributes = attrs.score_event(score)
        live.span.add_event(name, attributes, timestamp=_ns(score.created_at))
        live.span.set_attribute(f"waxell.score.{score.name}", score.value)
