"""Request bodies of the wire protocol (``docs/wire-protocol.md``), validated with pydantic.

Every model ignores unknown fields and accepts ``null`` for every optional one (clients send
sparse records). Only the identifying fields are required: ``agent_name`` (run start and
policy check), ``model`` (LLM calls) and ``name`` (spans, scores). Fields marked *ours* are
extensions our SDK sends; other clients may omit them.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from waxell_observe.vocabulary import FinalRunStatus
from waxell_observe_server.limits import ID_PATTERN, MAX_INT, MAX_TIMESTAMP

__all__ = [
    "parse_timestamp",
    "RunStartBody",
    "LLMCallIn",
    "LLMCallsBody",
    "StepIn",
    "StepsBody",
    "SpanIn",
    "SpansBody",
    "ScoreIn",
    "ScoresBody",
    "CompleteBody",
    "EventIn",
    "EventsBody",
    "DecisionIn",
    "GovernanceDecisionBody",
    "PolicyCheckBody",
    "BatchRunIn",
]


def parse_timestamp(value: Any) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string (naive times are UTC); ``None`` passes.

    Raises ``ValueError`` naming the accepted forms when the value is neither, or outside
    0 .. 9999-12-31.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("expected epoch seconds or an ISO 8601 time, got a boolean")
    if isinstance(value, (int, float)):
        ts = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = float(text)
        except ValueError:
            try:
                parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(f"expected epoch seconds or an ISO 8601 time, got {value[:64]!r}") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=_dt.timezone.utc)
            try:
                ts = parsed.timestamp()
            except (OverflowError, OSError, ValueError):
                raise ValueError(f"time out of range: {value[:64]!r}") from None
    else:
        raise ValueError(f"expected epoch seconds or an ISO 8601 time, got {type(value).__name__}")
    if not math.isfinite(ts) or not 0.0 <= ts <= MAX_TIMESTAMP:
        raise ValueError("time must be between 1970-01-01 and 9999-12-31")
    return ts


Timestamp = Annotated[float | None, BeforeValidator(parse_timestamp)]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Millis = Annotated[float, Field(ge=0, le=1e13, allow_inf_nan=False)]
Offset = Annotated[float, Field(ge=-1e13, le=1e13, allow_inf_nan=False)]
Money = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
Number = Annotated[float, Field(allow_inf_nan=False)]
WireId = Annotated[str, Field(pattern=ID_PATTERN)]
Obj = dict[str, Any]


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


Name = Annotated[str, AfterValidator(_non_empty)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class RunStartBody(_Body):
    """``POST runs/start/``."""

    agent_name: Name
    workflow_name: str | None = "default"
    inputs: Obj | None = None
    metadata: Obj | None = None
    trace_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    user_group: str | None = None
    interaction_mode: str | None = None
    parent_workflow_id: str | None = None
    root_workflow_id: str | None = None
    pre_execution_evaluations: list[Any] | None = None
    agent_slug: str | None = None
    agent_id: str | None = None
    run_id: WireId | None = None
    """*ours*: the client-chosen run id, honoured when free (so retries are idempotent)."""
    tags: Obj | None = None
    """*ours*: initial tags (values are stored as strings)."""
    started_at: Timestamp = None
    """*ours*: when the run started (delivered late from a spool); default: now."""
    auto_collected: bool | None = None
    """*ours*: the run was created by the background collector (no explicit run)."""


class LLMCallIn(_Body):
    """One LLM record of ``POST runs/{run_id}/llm-calls/``."""

    model: Name
    tokens_in: Count | None = None
    tokens_out: Count | None = None
    cost: Money | None = None
    task: str | None = None
    prompt_preview: str | None = None
    response_preview: str | None = None
    status: Literal["ok", "error"] | None = None
    error_type: str | None = None
    error_message: str | None = None
    prompt_hash: str | None = None
    id: WireId | None = None
    provider: str | None = None
    duration_ms: Millis | None = None
    started_at: Timestamp = None
    position: Count | None = None
    parent_span_id: str | None = None
    """*ours*: the span this call happened in."""
    attributes: Obj | None = None
    """*ours*: extras (cached tokens, finish reason, messages when content capture is on, ...)."""


class LLMCallsBody(_Body):
    calls: list[LLMCallIn]
    conversation_state: Obj | None = None
    hardware_uuid: str | None = None


class StepIn(_Body):
    """One step; behaviour records carry a ``_kind`` in ``output``."""

    step_name: str | None = None
    output: Obj | None = None
    position: Count | None = None
    id: WireId | None = None
    """*ours*: the record id (a span id for behaviour steps)."""
    seq: Count | None = None
    """*ours*: the step's place in the run's single ordering of records."""
    started_at: Timestamp = None
    """*ours*: when the step (or behaviour) happened; default: when it arrived."""


class StepsBody(_Body):
    steps: list[StepIn]
    conversation_state: Obj | None = None


class SpanIn(_Body):
    """One span of ``POST runs/{run_id}/spans/``."""

    name: Name
    kind: str | None = None
    status: Literal["ok", "error"] | None = None
    duration_ms: Millis | None = None
    position: Count | None = None
    parent_position: Count | None = None
    start_offset_ms: Offset | None = None
    attributes: Obj | None = None
    input_data: Any = None
    output_data: Any = None
    events: list[Any] | None = None
    id: WireId | None = None
    """*ours*: the span id."""
    parent_span_id: str | None = None
    """*ours*: the parent span's id (instead of ``parent_position``)."""
    started_at: Timestamp = None
    """*ours*: absolute start time (instead of ``start_offset_ms``)."""
    error: str | None = None
    """*ours*: the error message of an error span."""
    waxell_kind: str | None = None
    """*ours*: the span kind as our SDK stores it (``retrieval``, ``policy``, ...)."""


class SpansBody(_Body):
    spans: list[SpanIn]


class ScoreIn(_Body):
    """One score: ``numeric_value`` for numeric (and boolean 1.0/0.0), ``string_value`` for
    categorical (and boolean ``"true"``/``"false"``)."""

    name: Name
    data_type: Literal["numeric", "categorical", "boolean"] | None = None
    comment: str | None = None
    numeric_value: Number | None = None
    string_value: str | None = None
    id: WireId | None = None
    created_at: Timestamp = None

    @model_validator(mode="after")
    def _check(self) -> ScoreIn:
        data_type = self.data_type or "numeric"
        if data_type == "numeric" and self.numeric_value is None:
            raise ValueError("a numeric score needs numeric_value")
        if data_type == "categorical" and self.string_value is None:
            raise ValueError("a categorical score needs string_value")
        if data_type == "boolean":
            if self.string_value is not None and self.string_value.lower() not in ("true", "false"):
                raise ValueError('a boolean score needs string_value "true" or "false"')
            if self.string_value is None and self.numeric_value not in (0.0, 1.0):
                raise ValueError("a boolean score needs string_value true/false or numeric_value 1.0/0.0")
        return self

    @property
    def value(self) -> float | str | bool:
        data_type = self.data_type or "numeric"
        if data_type == "boolean":
            if self.string_value is not None:
                return self.string_value.lower() == "true"
            return self.numeric_value == 1.0
        if data_type == "categorical":
            return self.string_value or ""
        return float(self.numeric_value or 0.0)


class ScoresBody(_Body):
    scores: list[ScoreIn]


class CompleteBody(_Body):
    """``POST runs/{run_id}/complete/``."""

    result: Any = None
    status: FinalRunStatus | None = None
    error: str | None = None
    steps: list[StepIn] | None = None
    error_type: str | None = None
    traceback: str | None = None
    trace_id: str | None = None
    root_span_id: str | None = None
    conversation_state: Obj | None = None
    tags: Obj | None = None
    metadata: Obj | None = None
    ended_at: Timestamp = None
    """*ours*: when the run ended; default: when the completion arrived."""
    governance: Obj | None = None
    """*ours*: the post-execution outcome the client decided locally (kept on the run unless
    this server's own governance answers)."""


class BatchRunIn(_Body):
    """One run of ``POST runs/batch/``: what ``runs/start/``, ``llm-calls/``, ``steps/``, ``spans/``,
    ``scores/`` and ``complete/`` would carry for it, each part optional.

    ``start`` is a :class:`RunStartBody` whose ``run_id``, when given, must be this entry's
    ``run_id``. ``conversation_state`` is the run's latest conversation state (as the llm-calls
    and steps bodies carry it)."""

    run_id: WireId
    start: RunStartBody | None = None
    llm_calls: list[LLMCallIn] | None = None
    steps: list[StepIn] | None = None
    spans: list[SpanIn] | None = None
    scores: list[ScoreIn] | None = None
    conversation_state: Obj | None = None
    complete: CompleteBody | None = None

    @model_validator(mode="after")
    def _same_run(self) -> BatchRunIn:
        if self.start is not None and self.start.run_id is not None and self.start.run_id != self.run_id:
            raise ValueError(
                f"start.run_id {self.start.run_id!r} differs from the entry's run_id {self.run_id!r} "
                "(omit it or repeat it)"
            )
        return self


class EventIn(_Body):
    workflow_id: str | None = None
    agent_name: str | None = None
    workflow_name: str | None = None
    event: str | None = None
    metadata: Obj | None = None


class EventsBody(_Body):
    events: list[EventIn]


class DecisionIn(_Body):
    category: str | None = None
    policy: str | None = None
    action: str | None = None
    reason: str | None = None


class GovernanceDecisionBody(_Body):
    agent_name: str | None = None
    workflow_id: str | None = None
    surface: str | None = None
    decisions: list[DecisionIn] | None = None
    span_only: bool | None = None


class PolicyCheckBody(_Body):
    """``POST policy-check/`` (unknown fields are kept in ``model_extra`` for the policy engine)."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    agent_name: Name
    workflow_name: str | None = None
    agent_id: str | None = None
    agent_type: str | None = None
    inputs: Obj | None = None
    user_id: str | None = None
    user_group: str | None = None
    metadata: Obj | None = None
    signal: Obj | None = None
    surface: str | None = None
    categories: list[Any] | None = None
    policies: list[Any] | None = None
    workflow_id: str | None = None
