"""Rules of the categories about a run's usage and conduct: budget, rate limit, LLM, kill switch, context
management, scheduling, quality."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from .base import (
    GateAction,
    NonNegativeFloat,
    NonNegativeInt,
    Percent,
    PositiveFloat,
    PositiveInt,
    Rules,
    StrList,
    TimeZoneName,
    _check_regex,
    _lower_action,
    _reject_bool,
    _Strict,
)

# --------------------------------------------------------------------------- budget


class ModelBudget(_Strict):
    daily_cost_limit: NonNegativeFloat


class BudgetRules(Rules):
    daily_token_limit: NonNegativeInt | None = None
    daily_cost_limit: NonNegativeFloat | None = None
    per_workflow_token_limit: NonNegativeInt | None = None
    per_workflow_cost_limit: NonNegativeFloat | None = None
    model_limits: dict[str, ModelBudget] = Field(default_factory=dict)
    warning_threshold_percent: Percent = 80
    action_on_exceed: Literal["block", "warn", "throttle"] = "block"


# --------------------------------------------------------------------------- rate limit


class RateLimitRules(Rules):
    max_per_minute: PositiveInt | None = None
    max_per_hour: PositiveInt | None = None
    max_per_day: PositiveInt | None = None
    max_concurrent: PositiveInt | None = None
    action: Literal["throttle", "block", "warn"] = "throttle"


# --------------------------------------------------------------------------- llm


class LlmRules(Rules):
    allowed_models: StrList = Field(default_factory=list)
    blocked_models: StrList = Field(default_factory=list)
    max_tokens_per_call: PositiveInt | None = None
    action_on_violation: Literal["block", "warn", "throttle"] = "block"
    action_on_token_violation: Literal["warn", "block", "throttle"] = "warn"
    #: the reference's name for the violation action; wins over ``action_on_violation`` when given
    action: GateAction | None = None


# --------------------------------------------------------------------------- kill switch


class KillSwitchRules(Rules):
    enabled: bool = True
    killed: bool = False
    kill_on_error_rate: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, le=1)] | None = 0.5
    error_window_minutes: PositiveFloat = 5
    min_samples: PositiveInt = 10
    auto_recover_after_minutes: NonNegativeFloat | None = 30


# --------------------------------------------------------------------------- context management


class ContextManagementRules(Rules):
    max_conversation_turns: PositiveInt | None = None
    max_context_utilization_percent: Percent | None = None
    max_message_count: PositiveInt | None = None
    max_session_duration_minutes: PositiveFloat | None = None
    warning_threshold_percent: Percent = 80
    action_on_exceed: Literal["warn", "block", "throttle"] = "warn"


# --------------------------------------------------------------------------- scheduling


class AllowedHours(_Strict):
    """Half-open ``[start, end)`` in local hours; ``start > end`` wraps past midnight (22 -> 6)."""

    start: Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=23)]
    end: Annotated[int, BeforeValidator(_reject_bool), Field(ge=1, le=24)]

    @model_validator(mode="after")
    def _not_empty(self) -> AllowedHours:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start}: the window is empty")
        return self


Hour = Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=24)]


class HourWindow(_Strict):
    """A weekly maintenance window in whole local hours: ``day`` (0 = Monday), ``[start, end)``."""

    day: Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=6)]
    start: Hour
    end: Hour

    @model_validator(mode="after")
    def _ordered(self) -> HourWindow:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class SchedulingRules(Rules):
    allowed_hours: AllowedHours | None = None
    allowed_days: list[Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=6)]] | None = None
    timezone: TimeZoneName = "UTC"
    blackout_dates: list[date] = Field(default_factory=list)
    maintenance_windows: list[HourWindow] = Field(default_factory=list)
    action: GateAction | None = None
    action_on_violation: GateAction | None = None


# --------------------------------------------------------------------------- quality


class TemplateCheck(_Strict):
    """One post-execution check on the run's result."""

    type: Literal["contains", "not_contains", "regex", "length", "json_schema"]
    value: str | None = None
    pattern: str | None = None
    min: NonNegativeInt | None = None
    max: NonNegativeInt | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    #: ``retry`` (feedback for another attempt), ``warn``, or ``error``/``block``: the policy's action
    action: Annotated[Literal["warn", "retry", "error", "block"], BeforeValidator(_lower_action)] = "retry"
    message: str = ""
    #: a ``regex`` check that fails when the pattern IS found
    invert: bool = False
    #: ``contains`` / ``not_contains`` compare case-insensitively unless this is true
    case_sensitive: bool = False

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _fields_for_type(self) -> TemplateCheck:
        if self.type in ("contains", "not_contains") and self.value is None:
            raise ValueError(f"a {self.type} check needs 'value'")
        if self.type == "regex":
            pattern = self.pattern if self.pattern is not None else self.value
            if pattern is None:
                raise ValueError("a regex check needs 'pattern'")
            _check_regex(pattern)
        if self.type == "length":
            if self.min is None and self.max is None:
                raise ValueError("a length check needs 'min' and/or 'max'")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.type == "json_schema" and self.schema_ is None:
            raise ValueError("a json_schema check needs 'schema'")
        return self


class RetryConfig(_Strict):
    max_retries: NonNegativeInt = 3
    feedback_template: str = "The response did not pass the quality checks:\n{failures}\nPlease revise it."


class QualityRules(Rules):
    template_checks: list[TemplateCheck] = Field(default_factory=list)
    retry_config: RetryConfig = Field(default_factory=RetryConfig)
    #: the reference's simpler length checks (warn unless ``action`` says otherwise)
    min_response_chars: NonNegativeInt | None = None
    max_response_chars: NonNegativeInt | None = None
    action: GateAction | None = None
    action_on_violation: GateAction | None = None
