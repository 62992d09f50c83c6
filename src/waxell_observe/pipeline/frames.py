"""Journal frames: runs and records as compact MessagePack arrays.

A frame is what one hook call leaves in the journal: a run's start or end, an LLM call, a
step, a span or a score — or a *route* declaring where the frames that name it go. Frames
are encoded on the agent's thread (a tuple of plain values handed to msgspec, well under a
microsecond) and decoded by the drainers. Every frame is a list whose first three items are
``[kind, route id, run id]``; the positions of the other fields are the ``*_FIELDS`` tuples
below, the one place where a frame's layout is spelled out.

Run snapshots (start and end) carry the run's identity; the end frame is a full snapshot
(final tags, metadata, result, totals, conversation, governance), so a destination that
missed the start still stores the whole run.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from waxell_observe.records import LLMCallRecord, ScoreRecord, SpanRecord, StepRecord
    from waxell_observe.run import Run

__all__ = [
    "ROUTE",
    "START",
    "LLM",
    "STEP",
    "SPAN",
    "SCORE",
    "END",
    "KIND_NAMES",
    "RUN_FIELDS",
    "START_FIELDS",
    "END_FIELDS",
    "LLM_FIELDS",
    "STEP_FIELDS",
    "SPAN_FIELDS",
    "SCORE_FIELDS",
    "encode_route",
    "encode_start",
    "encode_end",
    "encode_refusal",
    "encode_llm",
    "encode_step",
    "encode_span",
    "encode_score",
    "decode",
    "as_dict",
]

ROUTE, START, LLM, STEP, SPAN, SCORE, END = range(7)
KIND_NAMES = ("route", "start", "llm", "step", "span", "score", "end")

RUN_FIELDS = (
    "kind", "route", "run_id", "agent_name", "workflow_name", "session_id", "user_id", "user_group",
    "parent_run_id", "root_run_id", "started_at", "inputs", "metadata", "tags", "auto_collected",
    "trace_id", "root_span_id", "pre_evaluations",
)  # fmt: skip
"""What start and end frames begin with (the run's snapshot when the frame was written)."""
START_FIELDS = RUN_FIELDS + ("interaction_mode",)
"""A start frame. ``interaction_mode`` comes last (frames written before it was added end one field
earlier: readers derive it from the session then)."""
END_FIELDS = RUN_FIELDS + (
    "status", "error", "error_type", "traceback", "ended_at", "result", "conversation", "governance",
    "tokens_in", "tokens_out", "total_cost", "llm_call_count", "step_count", "span_count", "interaction_mode",
)  # fmt: skip
LLM_FIELDS = (
    "kind", "route", "run_id", "id", "position", "model", "provider", "tokens_in", "tokens_out", "cost",
    "task", "prompt_preview", "response_preview", "duration_ms", "status", "error_type", "error_message",
    "started_at", "parent_span_id", "attributes",
)  # fmt: skip
STEP_FIELDS = ("kind", "route", "run_id", "id", "position", "seq", "name", "output", "started_at")
SPAN_FIELDS = (
    "kind", "route", "run_id", "id", "position", "span_kind", "name", "status", "duration_ms", "started_at",
    "parent_span_id", "attributes", "input", "output", "error", "agent_name", "workflow_name",
)  # fmt: skip
"""``agent_name``/``workflow_name`` are set on policy spans only (the audit trail names them)."""
SCORE_FIELDS = ("kind", "route", "run_id", "id", "name", "value", "data_type", "comment", "created_at")

_FIELDS_BY_KIND: dict[int, tuple[str, ...]] = {
    START: START_FIELDS,
    END: END_FIELDS,
    LLM: LLM_FIELDS,
    STEP: STEP_FIELDS,
    SPAN: SPAN_FIELDS,
    SCORE: SCORE_FIELDS,
}


def _fallback(value: Any) -> Any:
    """Values msgpack cannot carry (only reachable through plugin-built records): their text."""
    return str(value)


_encode = msgspec.msgpack.Encoder(enc_hook=_fallback).encode
_decode = msgspec.msgpack.Decoder().decode


_NO_TRACE = ("", "")


def _trace(run: Run) -> tuple[str, str]:
    state = run.plugin_state.get("otel")
    if not isinstance(state, dict):
        return "", ""
    trace_id = state.get("trace_id") or ""
    if isinstance(trace_id, int):
        trace_id = f"{trace_id:032x}"
    span_id = state.get("span_id") or ""
    if isinstance(span_id, int):
        span_id = f"{span_id:016x}"
    return str(trace_id), str(span_id)


def _run_head(kind: int, route: int, run: Run, pre_evaluations: Any) -> tuple[Any, ...]:
    trace_id, span_id = _trace(run) if run.plugin_state else ("", "")
    return (
        kind,
        route,
        run.run_id,
        run.agent_name,
        run.workflow_name,
        run.session_id,
        run.user_id,
        run.user_group,
        run.parent_run_id,
        run.root_run_id,
        run.started_at,
        run.inputs,
        run.metadata,
        run.tags,
        run.auto_collected,
        trace_id,
        span_id,
        pre_evaluations,
    )


def encode_route(route: int, destinations: dict[str, Any]) -> bytes:
    """A route: the destinations of the frames that name ``route`` (store URL, control plane, ...)."""
    return _encode((ROUTE, route, "", destinations))


def encode_start(route: int, run: Run, pre_evaluations: Any = None) -> bytes:
    # _run_head() written out: one tuple, no call (a frame is encoded on the agent's thread)
    trace_id, span_id = _trace(run) if run.plugin_state else _NO_TRACE
    return _encode(
        (
            START, route, run.run_id, run.agent_name, run.workflow_name, run.session_id, run.user_id,
            run.user_group, run.parent_run_id, run.root_run_id, run.started_at, run.inputs, run.metadata,
            run.tags, run.auto_collected, trace_id, span_id, pre_evaluations, run.interaction_mode,
        )
    )  # fmt: skip


_BARE_ALLOW = msgspec.Raw(
    msgspec.msgpack.encode({"action": "allow", "reason": "", "metadata": {}, "evaluations": []})
)
"""A bare ``allow`` outcome's ``to_dict()``, encoded once."""


def _governance(result: Any) -> Any:
    """``result.to_dict()``; a bare ``allow`` (a check nobody answered: the common case) already encoded."""
    if result.action == "allow" and not result.evaluations and not result.metadata and not result.reason:
        return _BARE_ALLOW
    return result.to_dict()


def encode_end(route: int, run: Run) -> bytes:
    # _run_head() written out, then the end fields: two tuple displays of at most 30 items (CPython
    # builds a longer display through a list, item by item) joined by one concatenation
    trace_id, span_id = _trace(run) if run.plugin_state else _NO_TRACE
    governance = run.governance
    conversation = run.conversation
    head = (
        END,
        route,
        run.run_id,
        run.agent_name,
        run.workflow_name,
        run.session_id,
        run.user_id,
        run.user_group,
        run.parent_run_id,
        run.root_run_id,
        run.started_at,
        run.inputs,
        run.metadata,
        run.tags,
        run.auto_collected,
        trace_id,
        span_id,
        None,
    )
    return _encode(
        head
        + (
            run.status, run.error, run.error_type, run.traceback, run.ended_at, run.result,
            {} if conversation is None else run.conversation_state(),
            None if governance is None else _governance(governance),
            run.tokens_in, run.tokens_out, run.total_cost, run.llm_call_count, run.step_count, run.span_count,
            run.interaction_mode,
        )
    )  # fmt: skip


def encode_llm(route: int, run_id: str, call: LLMCallRecord) -> bytes:
    return _encode(
        (
            LLM,
            route,
            run_id,
            call.id,
            call.position,
            call.model,
            call.provider,
            call.tokens_in,
            call.tokens_out,
            call.cost,
            call.task,
            call.prompt_preview,
            call.response_preview,
            call.duration_ms,
            call.status,
            call.error_type,
            call.error_message,
            call.started_at,
            call.parent_span_id,
            call.attributes,
        )
    )


def encode_step(route: int, run_id: str, step: StepRecord) -> bytes:
    return _encode(
        (STEP, route, run_id, step.id, step.position, step.seq, step.name, step.output, step.started_at)
    )


def encode_span(route: int, run: Run, span: SpanRecord) -> bytes:
    names = (run.agent_name, run.workflow_name) if span.kind == "policy" else ("", "")
    return _encode(
        (
            SPAN,
            route,
            run.run_id,
            span.id,
            span.position,
            span.kind,
            span.name,
            span.status,
            span.duration_ms,
            span.started_at,
            span.parent_span_id,
            span.attributes,
            span.input,
            span.output,
            span.error,
            *names,
        )
    )


class _RefusedRun:
    """What :func:`encode_span` reads of a run, for a run the policies refused: no id."""

    __slots__ = ("run_id", "agent_name", "workflow_name")

    def __init__(self, agent_name: str, workflow_name: str) -> None:
        self.run_id = ""
        self.agent_name = agent_name
        self.workflow_name = workflow_name


def encode_refusal(route: int, agent_name: str, workflow_name: str, span: SpanRecord) -> bytes:
    """A ``policy`` span of a run the policies refused before it started: no run id (the store
    keeps it as an audit row only; the refused run's id is in the span's metadata)."""
    return encode_span(route, _RefusedRun(agent_name, workflow_name), span)  # type: ignore[arg-type]


def encode_score(route: int, run_id: str, score: ScoreRecord) -> bytes:
    return _encode(
        (
            SCORE,
            route,
            run_id,
            score.id,
            score.name,
            score.value,
            score.data_type,
            score.comment,
            score.created_at,
        )
    )


def decode(data: bytes | memoryview) -> list[Any]:
    """One frame as a list (``frame[0]`` its kind); raises ``msgspec.DecodeError`` when torn."""
    frame = _decode(data)
    if not isinstance(frame, list) or len(frame) < 3 or not isinstance(frame[0], int):
        raise msgspec.DecodeError("not a journal frame")
    return frame


def as_dict(frame: list[Any]) -> dict[str, Any]:
    """A decoded frame as ``{field: value}`` (for tools and tests; drainers index directly)."""
    fields = _FIELDS_BY_KIND.get(frame[0])
    if fields is None:
        return {"kind": frame[0], "route": frame[1], "destinations": frame[3] if len(frame) > 3 else {}}
    # strict=False: a frame written by another version may have fewer or more trailing fields
    return dict(zip(fields, frame, strict=False))


def finite(value: Any) -> Any:
    """``value`` with non-finite floats (NaN, infinities) replaced by ``None`` (JSON cannot carry them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value
