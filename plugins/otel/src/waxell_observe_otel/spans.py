"""Journal frames → OpenTelemetry spans (plain values), on the pipeline's drainer thread.

The OTLP destination hands each batch of frames to a :class:`SpanAssembler`, which returns
the spans the batch makes (:class:`SpanData`: plain values, no OpenTelemetry object) and what
to remember once they are exported (:meth:`SpanAssembler.commit`; nothing changes before, so
a batch that must be retried is assembled again the same way):

- a ``start`` frame registers the run (its trace id, span id, parent, agent name); no span yet;
- ``llm``, ``step`` and ``span`` frames become child spans at once (a receiver takes children
  before their parent), under the span named by their ``parent_span_id`` (ids are derived
  from waxell ids, so a parent recorded later still matches) or else under the run span;
- ``score`` frames are kept with the run and become events (and ``waxell.score.<name>``
  attributes) of the run span;
- the ``end`` frame (a full snapshot: final tags, metadata, totals, status) makes the run span.

A run's frames may arrive over several batches. A record whose run's start was never seen
(the journal of a dead process adopted in the middle of a run) is exported under ids derived
from its run id (a root run's own trace), logged once.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from waxell_observe.pipeline import frames as fr
from waxell_observe.pricing import context_window
from waxell_observe.transport.wire import interaction_mode as wire_mode
from waxell_observe.vocabulary import attributes as names
from waxell_observe_otel import attributes as attrs
from waxell_observe_otel import sidecar
from waxell_observe_otel.gate_attributes import gate_time_attributes
from waxell_observe_otel.ids import span_id_for, trace_id_for

__all__ = ["CLIENT", "INTERNAL", "MAX_OPEN_RUNS", "Assembly", "RunInfo", "SpanAssembler", "SpanData"]

logger = logging.getLogger("waxell_observe")

INTERNAL = 1
CLIENT = 3
"""OTLP ``SpanKind`` numbers."""
STATUS_ERROR = 2

MAX_OPEN_RUNS = 100_000
"""Runs started and not ended whose ids are kept; beyond it the oldest is forgotten (its later
records are exported under derived ids)."""
_RECENTLY_ENDED = 10_000

RootSampler = Callable[[int, str, "RunInfo", dict[str, Any]], bool]
"""``(trace id, span name, run, attributes) -> sampled`` for a run's span (None: parent-based,
always on)."""


class SpanData:
    """One span as plain values (times in nanoseconds, ids as integers)."""

    __slots__ = (
        "attributes",
        "end_ns",
        "error",
        "events",
        "kind",
        "name",
        "parent_remote",
        "parent_span_id",
        "span_id",
        "start_ns",
        "status_message",
        "trace_id",
    )  # fmt: skip

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_span_id: int,
        parent_remote: bool,
        name: str,
        kind: int,
        start_ns: int,
        end_ns: int,
        attributes: dict[str, Any],
        events: list[tuple[str, int, dict[str, Any]]] | None = None,
        error: bool = False,
        status_message: str = "",
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.parent_remote = parent_remote
        self.name = name
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.attributes = attributes
        self.events = events or []
        self.error = error
        self.status_message = status_message

    def __repr__(self) -> str:
        return f"SpanData({self.name!r}, trace={self.trace_id:032x}, span={self.span_id:016x})"


class RunInfo:
    """What a run's spans need from its start: ids, parent, agent name; its scores so far."""

    __slots__ = (
        "agent_name",
        "derived",
        "parent_remote",
        "parent_span_id",
        "sampled",
        "scores",
        "span_id",
        "trace_id",
    )

    def __init__(
        self,
        trace_id: int,
        span_id: int,
        parent_span_id: int = 0,
        parent_remote: bool = False,
        sampled: bool = True,
        agent_name: str = "",
        derived: bool = False,
    ) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_span_id = parent_span_id
        self.parent_remote = parent_remote
        self.sampled = sampled
        self.agent_name = agent_name
        self.scores: list[dict[str, Any]] = []
        self.derived = derived


class Assembly:
    """The spans of one batch and what to remember once they are exported."""

    __slots__ = ("call_ids", "ended", "orphans", "refused", "scores", "spans", "started")

    def __init__(self) -> None:
        self.spans: list[SpanData] = []
        self.started: dict[str, RunInfo] = {}
        self.ended: list[str] = []
        self.scores: dict[str, list[dict[str, Any]]] = {}
        self.call_ids: list[str] = []
        self.refused: dict[str, int] = {}
        self.orphans = 0


def _ns(seconds: float | None) -> int:
    """Nanoseconds of a timestamp in seconds, at the microsecond the store keeps: the fraction is
    rounded on its own (as ``datetime`` rounds it), not the whole product, whose float error near
    1.8e18 ns (about 128 ns) could round a timestamp to the neighbouring microsecond."""
    value = seconds or time.time()
    whole = math.floor(value)
    return (whole * 1_000_000 + round((value - whole) * 1_000_000)) * 1000


def _end_ns(started_at: float | None, duration_ms: float | None) -> int:
    return _ns(started_at) + int((duration_ms or 0.0) * 1_000_000)


def _hex(value: Any, size: int) -> int:
    if isinstance(value, str) and len(value) == size:
        try:
            return int(value, 16)
        except ValueError:
            return 0
    return 0


def _exception_event(
    error_type: str, message: str, stacktrace: str, at_ns: int
) -> tuple[str, int, dict[str, Any]] | None:
    event: dict[str, Any] = {}
    if error_type:
        event["exception.type"] = error_type
    if message:
        event["exception.message"] = message
    if stacktrace:
        event["exception.stacktrace"] = stacktrace
    return ("exception", at_ns, event) if event else None


class SpanAssembler:
    """Turns batches of frames into spans, remembering open runs between batches (one per
    destination; used by the drainer's thread only)."""

    def __init__(self, capture_content: bool) -> None:
        self.capture_content = capture_content
        self.runs: OrderedDict[str, RunInfo] = OrderedDict()
        self.ended: OrderedDict[str, None] = OrderedDict()
        self.sample_root: RootSampler | None = None
        self._logged: set[str] = set()

    # -- runs ------------------------------------------------------------------------------------

    def _run_info(self, run: dict[str, Any]) -> RunInfo:
        """A run's ids from its start (or end) frame."""
        run_id = run["run_id"]
        trace_id = _hex(run.get("trace_id"), 32) or trace_id_for(run.get("root_run_id") or run_id)
        span_id = _hex(run.get("root_span_id"), 16) or span_id_for(run_id)
        info = RunInfo(trace_id, span_id, agent_name=run.get("agent_name") or "")
        noted = sidecar.run_parent(run_id)
        parent_run_id = run.get("parent_run_id") or ""
        if noted is not None:
            info.parent_span_id, info.sampled, info.parent_remote = noted.span_id, noted.sampled, noted.remote
        elif parent_run_id:
            info.parent_span_id = span_id_for(parent_run_id)
            parent = self.runs.get(parent_run_id)
            info.sampled = parent.sampled if parent is not None else True
        if self.sample_root is not None:
            name, attributes = self._start_attributes(run)
            info.sampled = self.sample_root(trace_id, name, info, attributes)
        return info

    @staticmethod
    def _start_attributes(run: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        session_id = run.get("session_id") or ""
        return attrs.run_start_attributes(
            run_id=run["run_id"],
            agent_name=run.get("agent_name") or "",
            workflow_name=run.get("workflow_name") or "",
            session_id=session_id,
            user_id=run.get("user_id") or "",
            user_group=run.get("user_group") or "",
            parent_run_id=run.get("parent_run_id") or "",
            root_run_id=run.get("root_run_id") or "",
            interaction_mode=wire_mode(run.get("interaction_mode"), session_id),
        )

    def _orphan(self, run_id: str) -> RunInfo:
        if "orphan" not in self._logged:
            self._logged.add("orphan")
            logger.info(
                "waxell-observe: records of run %s reached the OTLP destination without the run's start "
                "(a journal adopted mid-run); exported under ids derived from the run id",
                run_id,
            )
        return RunInfo(trace_id_for(run_id), span_id_for(run_id), derived=True)

    def _lookup(
        self, run_id: str, local: dict[str, RunInfo], ends: dict[str, list[Any]], assembly: Assembly
    ) -> RunInfo:
        info = local.get(run_id) or self.runs.get(run_id)
        if info is not None:
            return info
        end = ends.get(run_id)
        if end is not None:
            info = self._run_info(fr.as_dict(end))
        else:
            info = self._orphan(run_id)
            assembly.orphans += 1
        local[run_id] = info
        return info

    # -- a batch ---------------------------------------------------------------------------------

    def assemble(self, frames: list[list[Any]]) -> Assembly:
        """The spans of ``frames`` (nothing is remembered until :meth:`commit`)."""
        assembly = Assembly()
        ends = {frame[2]: frame for frame in frames if frame[0] == fr.END}
        local: dict[str, RunInfo] = {}
        scores: dict[str, list[dict[str, Any]]] = {}
        for frame in frames:
            kind = frame[0]
            run_id = frame[2]
            try:
                if kind == fr.START:
                    local[run_id] = self._run_info(fr.as_dict(frame))
                elif kind == fr.SCORE:
                    scores.setdefault(run_id, []).append(fr.as_dict(frame))
                elif kind == fr.END:
                    self._end(fr.as_dict(frame), local, scores, assembly)
                elif kind in (fr.LLM, fr.STEP, fr.SPAN):
                    info = self._lookup(run_id, local, ends, assembly)
                    if info.sampled:
                        self._record(kind, fr.as_dict(frame), run_id, info, assembly)
            except Exception as exc:
                name = (
                    fr.KIND_NAMES[kind] if isinstance(kind, int) and 0 <= kind < len(fr.KIND_NAMES) else kind
                )
                reason = f"malformed {name} frame ({type(exc).__name__}: {exc})"
                if reason not in self._logged:
                    self._logged.add(reason)
                    logger.warning(
                        "waxell-observe: the OTLP destination cannot make a span: %s", reason, exc_info=exc
                    )
                assembly.refused[reason] = assembly.refused.get(reason, 0) + 1
        for run_id in assembly.ended:
            local.pop(run_id, None)
        assembly.started = local
        assembly.scores = scores
        return assembly

    def commit(self, assembly: Assembly) -> None:
        """Remember what an exported batch started, scored and ended."""
        runs = self.runs
        for run_id, info in assembly.started.items():
            runs[run_id] = info
            runs.move_to_end(run_id)
        for run_id, scores in assembly.scores.items():
            kept = runs.get(run_id)
            if kept is None:
                if run_id in self.ended:
                    continue  # a score recorded after its run ended: the run span is gone
                kept = runs[run_id] = self._orphan(run_id)
            kept.scores.extend(scores)
        for run_id in assembly.ended:
            runs.pop(run_id, None)
            self.ended[run_id] = None
        while len(self.ended) > _RECENTLY_ENDED:
            self.ended.popitem(last=False)
        while len(runs) > MAX_OPEN_RUNS:
            run_id, _info = runs.popitem(last=False)
            if "evicted" not in self._logged:
                self._logged.add("evicted")
                logger.warning(
                    "waxell-observe: more than %d runs open at "
                    "once; forgetting run %s (its later records are "
                    "exported under ids derived from its run id)",
                    MAX_OPEN_RUNS, run_id,
                )  # fmt: skip
        sidecar.forget(assembly.ended, assembly.call_ids)

    # -- spans -----------------------------------------------------------------------------------

    def _record(
        self, kind: int, record: dict[str, Any], run_id: str, info: RunInfo, assembly: Assembly
    ) -> None:
        extra = record.get("attributes")
        if "attributes" in record and not isinstance(extra, dict):
            record["attributes"] = extra = {}
        capture = self.capture_content
        if kind == fr.LLM:
            call_id = record["id"]
            assembly.call_ids.append(call_id)
            if extra and extra.get("otel_native_span"):
                # The provider SDK emitted its own GenAI span for this call (e.g. anthropic's
                # built-in tracing): exporting ours too would record the call twice.
                return
            message_count, user_turns = sidecar.llm_context(call_id)
            model = record["model"]
            context = attrs.context_attributes(
                context_window(model) if isinstance(model, str) else None,
                record["tokens_in"],
                message_count,
                user_turns,
            )
            name, attributes = attrs.llm_call_span(
                record, run_id=run_id, agent_name=info.agent_name, context=context, capture_content=capture
            )
            span = self._child(
                info, record, name, CLIENT, attributes, _end_ns(record["started_at"], record["duration_ms"])
            )
            if record["status"] == "error":
                message = record["error_message"] or record["error_type"] or "error"
                span.error, span.status_message = True, message
                event = _exception_event(record["error_type"], record["error_message"], "", span.end_ns)
                if event is not None:
                    span.events.append(event)
        elif kind == fr.STEP:
            name, attributes = attrs.step_span(record, run_id=run_id, agent_name=info.agent_name)
            span = self._child(info, record, name, INTERNAL, attributes, _ns(record["started_at"]))
        else:
            name, attributes = attrs.behaviour_span(
                record, run_id=run_id, agent_name=info.agent_name, capture_content=capture
            )
            span_kind = CLIENT if record["span_kind"] == "llm" else INTERNAL
            span = self._child(
                info,
                record,
                name,
                span_kind,
                attributes,
                _end_ns(record["started_at"], record["duration_ms"]),
            )
            if record["status"] == "error":
                error_type = (extra or {}).get("error_type")
                message = record["error"] or str((extra or {}).get("reason") or "")
                span.error, span.status_message = True, message or "error"
                event = _exception_event(
                    error_type if isinstance(error_type, str) else "", message, "", span.end_ns
                )
                if event is not None:
                    span.events.append(event)
        assembly.spans.append(span)

    @staticmethod
    def _child(
        info: RunInfo, record: dict[str, Any], name: str, kind: int, attributes: dict[str, Any], end_ns: int
    ) -> SpanData:
        parent_record = record.get("parent_span_id") or ""
        return SpanData(
            info.trace_id,
            span_id_for(record["id"]),
            span_id_for(parent_record) if parent_record else info.span_id,
            False,
            name,
            kind,
            _ns(record["started_at"]),
            end_ns,
            attributes,
        )

    def _end(
        self,
        run: dict[str, Any],
        local: dict[str, RunInfo],
        scores: dict[str, list[dict[str, Any]]],
        assembly: Assembly,
    ) -> None:
        run_id = run["run_id"]
        assembly.ended.append(run_id)
        info = local.get(run_id) or self.runs.get(run_id)
        if info is None or info.derived:
            info = self._run_info(run)
        run_scores = [*self._kept_scores(run_id), *scores.pop(run_id, [])]
        if not info.sampled:
            return
        name, attributes = self._start_attributes(run)
        attributes.update(
            attrs.run_end_attributes(
                status=run["status"],
                tags=run["tags"] if isinstance(run["tags"], dict) else {},
                metadata=run["metadata"] if isinstance(run["metadata"], dict) else {},
                tokens_in=run["tokens_in"],
                tokens_out=run["tokens_out"],
                total_cost=run["total_cost"],
                llm_call_count=run["llm_call_count"],
                step_count=run["step_count"],
                span_count=run["span_count"],
                conversation=run["conversation"] if isinstance(run["conversation"], dict) else {},
                governance=run["governance"] if isinstance(run["governance"], dict) else None,
                inputs=run["inputs"],
                result=run["result"],
                capture_content=self.capture_content,
            )
        )
        if isinstance(run["metadata"], dict):
            attributes.update(gate_time_attributes(run["metadata"]))
        events: list[tuple[str, int, dict[str, Any]]] = []
        for score in run_scores:
            event_name, event_attributes = attrs.score_event(score)
            events.append((event_name, _ns(score["created_at"]), event_attributes))
            value = attrs.to_attribute(score["value"])
            if value is not None:
                attributes[names.SCORE_PREFIX + score["name"]] = value
        end_ns = _ns(run["ended_at"])
        span = SpanData(
            info.trace_id,
            info.span_id,
            info.parent_span_id,
            info.parent_remote,
            name,
            INTERNAL,
            _ns(run["started_at"]),
            end_ns,
            attributes,
            events,
        )
        status = run["status"]
        if status not in ("success", "running"):
            span.error, span.status_message = True, run["error"] or status
            event = _exception_event(run["error_type"], run["error"], run["traceback"], end_ns)
            if event is not None:
                span.events.append(event)
        assembly.spans.append(span)

    def _kept_scores(self, run_id: str) -> list[dict[str, Any]]:
        info = self.runs.get(run_id)
        return list(info.scores) if info is not None else []
