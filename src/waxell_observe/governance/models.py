"""Policy models: the validated form of a policy file (see ``docs/policy-format.md``).

A policy is ``name``, ``category``, ``scope``, ``priority``, ``enabled`` and ``rules``; each category
has its own rules model with the spec's names and defaults, and unknown rules are rejected
(``extra="forbid"``). :data:`AnyPolicy` is the union discriminated by ``category``; every member is a
subclass of :class:`Policy`. Use :func:`waxell_observe.governance.loader.load_policies` to read files.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from waxell_observe.vocabulary import POLICY_CATEGORY_NAMES

__all__ = [
    "CATEGORIES",
    "RULE_MODELS",
    "AllowedHours",
    "AnyPolicy",
    # categories
    "BudgetPolicy",
    # rules
    "BudgetRules",
    "ContentPolicy",
    "ContentRules",
    "ContextManagementPolicy",
    "ContextManagementRules",
    "CredentialDetection",
    "CustomPatternRule",
    "KillSwitchPolicy",
    "KillSwitchRules",
    "LlmPolicy",
    "LlmRules",
    "ModelBudget",
    "PiiDetection",
    "Policy",
    "PolicyScope",
    "PromptInjectionGuard",
    "QualityPolicy",
    "QualityRules",
    "RateLimitPolicy",
    "RateLimitRules",
    "RetryConfig",
    "Rules",
    "SafetyPolicy",
    "SafetyRules",
    "SchedulingPolicy",
    "SchedulingRules",
    "TemplateCheck",
]

PiiType = Literal["ssn", "email", "phone", "credit_card"]
PII_TYPE_NAMES: tuple[PiiType, ...] = ("ssn", "email", "phone", "credit_card")


def _reject_bool(value: Any) -> Any:
    # pydantic's lax mode turns True into 1; a boolean where a number is expected is a mistake.
    if isinstance(value, bool):
        # ValueError, not TypeError: pydantic turns only ValueError into a validation error
        raise ValueError(f"expected a number, got {str(value).lower()}")  # noqa: TRY004
    return value


Int = Annotated[int, BeforeValidator(_reject_bool)]
Float = Annotated[float, BeforeValidator(_reject_bool)]
PositiveInt = Annotated[int, BeforeValidator(_reject_bool), Field(gt=0)]
NonNegativeInt = Annotated[int, BeforeValidator(_reject_bool), Field(ge=0)]
PositiveFloat = Annotated[float, BeforeValidator(_reject_bool), Field(gt=0)]
NonNegativeFloat = Annotated[float, BeforeValidator(_reject_bool), Field(ge=0)]
Percent = Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, le=100)]


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from None
    return pattern


def _as_list(value: Any) -> Any:
    """Accept a single string where a list of strings is expected."""
    return [value] if isinstance(value, str) else value


StrList = Annotated[list[str], BeforeValidator(_as_list)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rules(_Strict):
    """Base of the per-category rules models."""


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


# --------------------------------------------------------------------------- content

ContentAction = Literal["warn", "redact", "block"]


def _toggle(value: Any) -> Any:
    """``pii_detection: true`` is shorthand for ``{enabled: true}``."""
    return {"enabled": value} if isinstance(value, bool) else value


class PiiDetection(_Strict):
    enabled: bool = True
    action: ContentAction = "warn"
    types: list[PiiType] = Field(default_factory=lambda: list(PII_TYPE_NAMES))


class CredentialDetection(_Strict):
    enabled: bool = True
    action: ContentAction = "block"


class PromptInjectionGuard(_Strict):
    enabled: bool = True
    action: ContentAction = "block"


class CustomPatternRule(_Strict):
    name: Annotated[str, Field(min_length=1)]
    regex: str
    action: ContentAction = "warn"

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        return _check_regex(value)


class ContentRules(Rules):
    """Content scanning. Every detector section is on by default (missing = defaults)."""

    scan_inputs: bool = True
    scan_outputs: bool = True
    pii_detection: Annotated[PiiDetection, BeforeValidator(_toggle)] = Field(default_factory=PiiDetection)
    credential_detection: Annotated[CredentialDetection, BeforeValidator(_toggle)] = Field(
        default_factory=CredentialDetection
    )
    prompt_injection_guard: Annotated[PromptInjectionGuard, BeforeValidator(_toggle)] = Field(
        default_factory=PromptInjectionGuard
    )
    custom_patterns: list[CustomPatternRule] = Field(default_factory=list)
    blocked_phrases: StrList = Field(default_factory=list)
    max_input_length: PositiveInt | None = None
    max_output_length: PositiveInt | None = None


# --------------------------------------------------------------------------- safety


class SafetyRules(Rules):
    max_steps: PositiveInt | None = 50
    max_tool_calls: PositiveInt | None = 100
    blocked_tools: StrList = Field(default_factory=list)
    max_retries: NonNegativeInt | None = 3


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


class SchedulingRules(Rules):
    allowed_hours: AllowedHours | None = None
    allowed_days: list[Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=6)]] | None = None
    timezone: str = "UTC"
    blackout_dates: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (expected an IANA name such as 'Europe/Paris')"
            ) from None
        return value


# --------------------------------------------------------------------------- quality


class TemplateCheck(_Strict):
    """One post-execution check on the run's result."""

    type: Literal["contains", "not_contains", "regex", "length", "json_schema"]
    value: str | None = None
    pattern: str | None = None
    min: NonNegativeInt | None = None
    max: NonNegativeInt | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    action: Literal["warn", "retry"] = "retry"
    message: str = ""

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


# --------------------------------------------------------------------------- policies


def _scope_list(value: Any) -> Any:
    if value is None:
        return ["*"]
    return _as_list(value)


ScopeList = Annotated[list[str], BeforeValidator(_scope_list)]


class PolicyScope(_Strict):
    """Glob lists on agent name, workflow name and user group; ``["*"]`` (the default) is everything."""

    agents: ScopeList = Field(default_factory=lambda: ["*"])
    workflows: ScopeList = Field(default_factory=lambda: ["*"])
    user_groups: ScopeList = Field(default_factory=lambda: ["*"])


def _scope(value: Any) -> Any:
    if value is None or value == "*":
        return {}
    return value


class Policy(_Strict):
    """Common fields of every policy. Concrete classes narrow ``category`` and ``rules``."""

    category_name: ClassVar[str] = ""

    name: Annotated[str, Field(min_length=1)]
    category: str
    scope: Annotated[PolicyScope, BeforeValidator(_scope)] = Field(default_factory=PolicyScope)
    priority: Int = 100
    enabled: bool = True
    rules: Rules = Field(default_factory=Rules)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _concrete(self) -> Policy:
        if type(self) is Policy:
            raise ValueError(
                "construct a policy of a category class (e.g. BudgetPolicy), or use Policy.from_dict()"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the form stored and served in manifests); loads back unchanged."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Validate one policy dict of any category (raises ``PolicyFileError``)."""
        from .loader import parse_policies

        return parse_policies([data])[0]


def _none_to_empty(value: Any) -> Any:
    """``rules:`` left empty in YAML means all defaults."""
    return {} if value is None else value


_NoneIsEmpty = BeforeValidator(_none_to_empty)


class BudgetPolicy(Policy):
    category: Literal["budget"] = "budget"
    rules: Annotated[BudgetRules, _NoneIsEmpty] = Field(default_factory=BudgetRules)


class RateLimitPolicy(Policy):
    category: Literal["rate-limit"] = "rate-limit"
    rules: Annotated[RateLimitRules, _NoneIsEmpty] = Field(default_factory=RateLimitRules)


class LlmPolicy(Policy):
    category: Literal["llm"] = "llm"
    rules: Annotated[LlmRules, _NoneIsEmpty] = Field(default_factory=LlmRules)


class ContentPolicy(Policy):
    category: Literal["content"] = "content"
    rules: Annotated[ContentRules, _NoneIsEmpty] = Field(default_factory=ContentRules)


class SafetyPolicy(Policy):
    category: Literal["safety"] = "safety"
    rules: Annotated[SafetyRules, _NoneIsEmpty] = Field(default_factory=SafetyRules)


class KillSwitchPolicy(Policy):
    category: Literal["kill-switch"] = "kill-switch"
    rules: Annotated[KillSwitchRules, _NoneIsEmpty] = Field(default_factory=KillSwitchRules)


class ContextManagementPolicy(Policy):
    category: Literal["context-management"] = "context-management"
    rules: Annotated[ContextManagementRules, _NoneIsEmpty] = Field(default_factory=ContextManagementRules)


class SchedulingPolicy(Policy):
    category: Literal["scheduling"] = "scheduling"
    rules: Annotated[SchedulingRules, _NoneIsEmpty] = Field(default_factory=SchedulingRules)


class QualityPolicy(Policy):
    category: Literal["quality"] = "quality"
    rules: Annotated[QualityRules, _NoneIsEmpty] = Field(default_factory=QualityRules)


POLICY_CLASSES: dict[str, type[Policy]] = {
    "budget": BudgetPolicy,
    "rate-limit": RateLimitPolicy,
    "llm": LlmPolicy,
    "content": ContentPolicy,
    "safety": SafetyPolicy,
    "kill-switch": KillSwitchPolicy,
    "context-management": ContextManagementPolicy,
    "scheduling": SchedulingPolicy,
    "quality": QualityPolicy,
}
#: The categories, in the order of the vocabulary's table (a test checks the classes above follow it).
CATEGORIES: tuple[str, ...] = POLICY_CATEGORY_NAMES
#: Category -> rules model.
RULE_MODELS: dict[str, type[Rules]] = {
    "budget": BudgetRules,
    "rate-limit": RateLimitRules,
    "llm": LlmRules,
    "content": ContentRules,
    "safety": SafetyRules,
    "kill-switch": KillSwitchRules,
    "context-management": ContextManagementRules,
    "scheduling": SchedulingRules,
    "quality": QualityRules,
}

AnyPolicy = Annotated[
    BudgetPolicy
    | RateLimitPolicy
    | LlmPolicy
    | ContentPolicy
    | SafetyPolicy
    | KillSwitchPolicy
    | ContextManagementPolicy
    | SchedulingPolicy
    | QualityPolicy,
    Field(discriminator="category"),
]
