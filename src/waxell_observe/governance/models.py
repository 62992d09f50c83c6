"""Policy models: the validated form of a policy file (see ``docs/policy-format.md``).

A policy is ``name``, ``category``, ``scope``, ``priority``, ``enabled`` and ``rules``; each category
has its own rules model with the spec's names and defaults, and unknown rules are rejected
(``extra="forbid"``). :data:`AnyPolicy` is the union discriminated by ``category``; every member is a
subclass of :class:`Policy`. Use :func:`waxell_observe.governance.loader.load_policies` to read files.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from waxell_observe.vocabulary import POLICY_CATEGORY_NAMES

__all__ = [
    "ToolAllowlistPolicy",
    "ToolAllowlistRules",
    "NetworkPolicy",
    "NetworkRules",
    "DomainGovernancePolicy",
    "DomainGovernanceRules",
    "McpServerAllowlistPolicy",
    "McpServerAllowlistRules",
    "PromptAllowlistPolicy",
    "PromptAllowlistRules",
    "ScopePolicy",
    "ScopeRules",
    "RecursionBoundPolicy",
    "RecursionBoundRules",
    "DelegationPolicy",
    "DelegationRules",
    "OutputEgressFormatPolicy",
    "OutputEgressFormatRules",
    "InputValidationPolicy",
    "InputValidationRules",
    "RetrievalPolicy",
    "RetrievalRules",
    "MemoryPolicy",
    "MemoryRules",
    "ToolArgumentSchemaPolicy",
    "ToolArgumentSchemaRules",
    "AgentServiceAccountScopePolicy",
    "AgentServiceAccountScopeRules",
    "TimeOfDayGatingPolicy",
    "TimeOfDayGatingRules",
    "ChargebackAttributionPolicy",
    "ChargebackAttributionRules",
    "OperationsPolicy",
    "OperationsRules",
    "DataResidencyPolicy",
    "DataResidencyRules",
    "CodeExecutionPolicy",
    "CodeExecutionRules",
    "ProvenanceRequiredPolicy",
    "ProvenanceRequiredRules",
    "PromptInjectionGuardPolicy",
    "PromptInjectionGuardRules",
    "ApprovalPolicy",
    "ApprovalRules",
    "GateAction",
    "GateRules",
    "HourWindow",
    "IsoWindow",
    "TimeWindow",
    "ALL_PII_TYPE_NAMES",
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

PiiType = Literal["ssn", "email", "phone", "credit_card", "iban", "ip", "national_id"]
PII_TYPE_NAMES: tuple[PiiType, ...] = ("ssn", "email", "phone", "credit_card")
"""The PII types a content policy detects when ``types`` is not given."""
ALL_PII_TYPE_NAMES: tuple[PiiType, ...] = get_args(PiiType)
"""Every PII type (``types: []`` means all of them)."""


def _pii_types(value: Any) -> Any:
    """``card`` is ``credit_card``; names are trimmed and lowercased; an empty list means every type."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        if not value:
            return list(ALL_PII_TYPE_NAMES)
        names = [v.strip().lower() if isinstance(v, str) else v for v in value]
        return list(dict.fromkeys("credit_card" if v == "card" else v for v in names))
    return value


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


def _lower_action(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


GateAction = Annotated[Literal["warn", "redact", "throttle", "block"], BeforeValidator(_lower_action)]
"""What a violation answers (``rules.action``, else ``rules.action_on_violation``, else the category's
default)."""


class GateRules(Rules):
    """Rules every gate category accepts besides its own: the violation action, and which tools or
    models the policy is about (globs on the signal's ``tool_name`` / ``model``; a signal without the
    name is always in scope)."""

    action: GateAction | None = None
    action_on_violation: GateAction | None = None
    scope_tools: StrList = Field(default_factory=list)
    exclude_tools: StrList = Field(default_factory=list)
    scope_models: StrList = Field(default_factory=list)
    exclude_models: StrList = Field(default_factory=list)


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


# --------------------------------------------------------------------------- content

ContentAction = Literal["warn", "redact", "block"]


def _toggle(value: Any) -> Any:
    """``pii_detection: true`` is shorthand for ``{enabled: true}``."""
    return {"enabled": value} if isinstance(value, bool) else value


class PiiDetection(_Strict):
    enabled: bool = True
    action: Annotated[ContentAction, BeforeValidator(_lower_action)] = "warn"
    types: Annotated[list[PiiType], BeforeValidator(_pii_types)] = Field(
        default_factory=lambda: list(PII_TYPE_NAMES)
    )


class CredentialDetection(_Strict):
    enabled: bool = True
    action: Annotated[ContentAction, BeforeValidator(_lower_action)] = "block"


class PromptInjectionGuard(_Strict):
    enabled: bool = True
    action: Annotated[ContentAction, BeforeValidator(_lower_action)] = "block"


def _pattern_entry(value: Any) -> Any:
    """``pattern`` is accepted for ``regex``; an entry without a name is named after its regex."""
    if isinstance(value, dict):
        value = dict(value)
        if "pattern" in value and "regex" not in value:
            value["regex"] = value.pop("pattern")
        if not value.get("name") and isinstance(value.get("regex"), str):
            value["name"] = value["regex"]
    return value


class CustomPatternRule(_Strict):
    name: Annotated[str, Field(min_length=1)]
    regex: str
    action: Annotated[ContentAction, BeforeValidator(_lower_action)] = "warn"

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        return _check_regex(value)


CustomPatternEntry = Annotated[CustomPatternRule, BeforeValidator(_pattern_entry)]


def _custom_patterns(value: Any) -> Any:
    """``custom_patterns`` as a list of ``{name, regex|pattern, action}``, or a ``{name: regex}`` mapping."""
    if isinstance(value, dict):
        return [{"name": str(k), "regex": v} for k, v in value.items()]
    return value


RegexList = Annotated[list[Annotated[str, AfterValidator(_check_regex)]], BeforeValidator(_as_list)]


class ContentRules(Rules):
    """Content scanning. Every detector section is on by default (missing = defaults).

    The reference's older shape is accepted too: ``block_pii`` (PII blocks; false turns PII detection
    off) and ``redact`` (PII is masked), used when ``pii_detection`` is not given; ``patterns`` (regexes
    answering the policy's ``action``, default block)."""

    scan_inputs: bool = True
    scan_outputs: bool = True
    pii_detection: Annotated[PiiDetection, BeforeValidator(_toggle)] = Field(default_factory=PiiDetection)
    credential_detection: Annotated[CredentialDetection, BeforeValidator(_toggle)] = Field(
        default_factory=CredentialDetection
    )
    prompt_injection_guard: Annotated[PromptInjectionGuard, BeforeValidator(_toggle)] = Field(
        default_factory=PromptInjectionGuard
    )
    custom_patterns: Annotated[list[CustomPatternEntry], BeforeValidator(_custom_patterns)] = Field(
        default_factory=list
    )
    patterns: RegexList = Field(default_factory=list)
    blocked_phrases: StrList = Field(default_factory=list)
    max_input_length: PositiveInt | None = None
    max_output_length: PositiveInt | None = None
    block_pii: bool | None = None
    redact: bool | None = None
    action: GateAction | None = None
    action_on_violation: GateAction | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_custom_patterns(cls, data: Any) -> Any:
        """Plain regex strings among ``custom_patterns`` join ``patterns`` (they answer ``action``)."""
        if isinstance(data, dict) and isinstance(data.get("custom_patterns"), list):
            plain = [e for e in data["custom_patterns"] if isinstance(e, str)]
            if plain:
                data = dict(data)
                data["custom_patterns"] = [e for e in data["custom_patterns"] if not isinstance(e, str)]
                data["patterns"] = [*_as_list(data.get("patterns") or []), *plain]
        return data

    @model_validator(mode="after")
    def _legacy_pii_shape(self) -> ContentRules:
        if "pii_detection" in self.model_fields_set:
            return self
        if self.block_pii is None and not self.redact:
            return self
        enabled = self.block_pii is not False
        action: ContentAction = "redact" if self.redact else "block"
        object.__setattr__(
            self, "pii_detection", PiiDetection(enabled=enabled, action=action, types=list(PII_TYPE_NAMES))
        )
        return self


# --------------------------------------------------------------------------- safety


class SafetyRules(GateRules):
    """Run caps (mid-execution: going over blocks) and the reference's checks of one signal at a gate
    (default action warn): ``position`` >= ``max_steps``, ``tool_call_count`` >= ``max_tool_calls``,
    a blocked tool, an output longer than ``max_output_length``, ``content_filters`` (warn) and
    ``blocked_patterns`` (block) over the text and the tool arguments."""

    max_steps: PositiveInt | None = 50
    max_tool_calls: PositiveInt | None = 100
    blocked_tools: StrList = Field(default_factory=list)
    max_retries: NonNegativeInt | None = 3
    max_output_length: PositiveInt | None = None
    content_filters: RegexList = Field(default_factory=list)
    blocked_patterns: RegexList = Field(default_factory=list)


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


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {value!r} (expected an IANA name such as 'Europe/Paris')"
        ) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
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


# --------------------------------------------------------------------------- gate categories
# The categories of the reference's gate evaluators. Names and defaults are the reference's; each
# accepts ``action`` / ``action_on_violation`` and the tool/model scoping of :class:`GateRules`.


def _lower_list(value: Any) -> Any:
    value = _as_list(value)
    if isinstance(value, list):
        return [v.strip().lower() if isinstance(v, str) else v for v in value]
    return value


#: a list of names compared trimmed and lowercased; entries holding ``* ? [`` are globs
NameList = Annotated[list[str], BeforeValidator(_lower_list)]


class ToolAllowlistRules(GateRules):
    allowed_tools: NameList = Field(default_factory=list)
    blocked_tools: NameList = Field(default_factory=list)


class NetworkRules(GateRules):
    allowed_domains: NameList = Field(default_factory=list)
    blocked_domains: NameList = Field(default_factory=list)
    allowed_protocols: NameList = Field(default_factory=list)


class DomainGovernanceRules(GateRules):
    """Host-shaped entries (holding ``.`` or ``*``) of the domain lists govern hosts; the other entries
    are business domains (``record_domain_intent``), with their actions and a per-run call cap."""

    allowed_domains: NameList = Field(default_factory=list)
    blocked_domains: NameList = Field(default_factory=list)
    allowed_actions: NameList = Field(default_factory=list)
    blocked_actions: NameList = Field(default_factory=list)
    max_calls_per_run: PositiveInt | None = None


class McpServerAllowlistRules(GateRules):
    allowed_servers: NameList = Field(default_factory=list)
    blocked_servers: NameList = Field(default_factory=list)


class PromptAllowlistRules(GateRules):
    allowed_prompts: NameList = Field(default_factory=list)
    blocked_prompts: NameList = Field(default_factory=list)


class ScopeRules(GateRules):
    """``max_amount`` and ``max_dollar_amount`` are other names of ``max_transaction_amount``."""

    denied_tools: NameList = Field(default_factory=list)
    allowed_tools: NameList = Field(default_factory=list)
    max_transaction_amount: NonNegativeFloat | None = None
    max_amount: NonNegativeFloat | None = None
    max_dollar_amount: NonNegativeFloat | None = None
    max_records_modified: NonNegativeInt | None = None
    max_records_deleted: NonNegativeInt | None = None
    max_records: NonNegativeInt | None = None


class RecursionBoundRules(GateRules):
    """``max_depth`` is another name of ``max_reasoning_depth``."""

    max_reasoning_depth: NonNegativeInt | None = None
    max_depth: NonNegativeInt | None = None
    max_tool_calls: NonNegativeInt | None = None
    max_delegation_depth: NonNegativeInt | None = None


class DelegationRules(GateRules):
    max_concurrent_delegates: NonNegativeInt | None = None
    max_delegation_depth: NonNegativeInt | None = None
    allowed_delegates: NameList = Field(default_factory=list)
    blocked_delegates: NameList = Field(default_factory=list)
    require_approval: bool = False


class OutputEgressFormatRules(GateRules):
    """``block_urls`` is another name of ``block_external_urls``; ``block_data_uri`` defaults to
    ``block_base64``."""

    block_base64: bool = True
    block_data_uri: bool | None = None
    min_base64_length: Annotated[int, BeforeValidator(_reject_bool), Field(ge=8)] = 40
    block_external_urls: bool = False
    block_urls: bool | None = None
    allowed_url_domains: NameList = Field(default_factory=list)


class InputValidationRules(GateRules):
    max_input_size_kb: PositiveFloat | None = None


class RetrievalRules(GateRules):
    min_relevance_score: Float | None = None
    action_on_low_relevance: GateAction = "warn"
    max_chunks: NonNegativeInt | None = None
    min_chunks: NonNegativeInt | None = None


class MemoryRules(GateRules):
    forbidden_memory_types: NameList = Field(default_factory=list)
    block_pii_in_memory: bool = False
    #: at ``memory.delete``: every delete refused; deletes in these stores (globs) refused; more ids than
    #: this in one delete refused
    block_deletes: bool = False
    protected_stores: NameList = Field(default_factory=list)
    max_deletes_per_call: PositiveInt | None = None


def _check_schema(value: dict[str, Any]) -> dict[str, Any]:
    from .json_schema import schema_problems

    problems = schema_problems(value)
    if problems:
        raise ValueError("invalid JSON Schema: " + "; ".join(problems))
    return value


JsonSchema = Annotated[dict[str, Any], AfterValidator(_check_schema)]


class ToolArgumentSchemaRules(GateRules):
    """``schemas``: tool name (any case) -> JSON Schema of its arguments. The older shape: ``schema``
    for every tool, ``required`` / ``required_keys`` and ``forbidden_keys``."""

    schemas: dict[str, JsonSchema] = Field(default_factory=dict)
    require_schema_for_all_tools: bool = False
    schema_: JsonSchema | None = Field(default=None, alias="schema")
    required: StrList = Field(default_factory=list)
    required_keys: StrList = Field(default_factory=list)
    forbidden_keys: StrList = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AgentServiceAccountScopeRules(GateRules):
    required_scopes: NameList = Field(default_factory=list)
    restricted_operations: NameList = Field(default_factory=list)
    restricted_workflow_types: NameList = Field(default_factory=list)


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _day(value: Any) -> Any:
    """``mon``..``sun`` (any case, or the full name), or 0..6 (0 = Monday)."""
    if isinstance(value, str):
        key = value.strip().lower()[:3]
        if key in _DAY_NAMES and value.strip().lower() in (key, _full_day(key)):
            return _DAY_NAMES.index(key)
        raise ValueError(f"unknown day {value!r} (expected mon, tue, wed, thu, fri, sat or sun)")
    return _reject_bool(value)


def _full_day(key: str) -> str:
    return {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday",
            "sat": "saturday", "sun": "sunday"}[key]  # fmt: skip


Day = Annotated[int, BeforeValidator(_day), Field(ge=0, le=6)]


def _clock_time(value: Any) -> Any:
    """``"HH:MM"`` -> minutes since midnight (``"24:00"`` is the end of the day)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)
        if (
            m is None
            or int(m.group(2)) > 59
            or int(m.group(1)) > 24
            or (int(m.group(1)) == 24 and m.group(2) != "00")
        ):
            raise ValueError(f"expected a time 'HH:MM', got {value!r}")
        return int(m.group(1)) * 60 + int(m.group(2))
    raise ValueError(f"expected a time 'HH:MM', got {value!r}")


class TimeWindow(_Strict):
    """A weekly window: ``days`` (default every day), ``start``/``end`` as ``"HH:MM"`` local time,
    ``end`` excluded; ``start`` after ``end`` runs past midnight into the next day."""

    days: list[Day] = Field(default_factory=lambda: list(range(7)))
    start: Annotated[int, BeforeValidator(_clock_time)]
    end: Annotated[int, BeforeValidator(_clock_time)]

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindow:
        if self.start == self.end:
            raise ValueError("start and end are the same time: the window is empty")
        return self

    @field_serializer("start", "end")
    def _as_clock_time(self, minutes: int) -> str:
        return _hhmm(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class TimeOfDayGatingRules(GateRules):
    allowed_windows: list[TimeWindow] = Field(default_factory=list)
    timezone: TimeZoneName = "UTC"
    exempt_workflow_types: NameList = Field(default_factory=list)
    allowed_hours_utc: list[Annotated[int, BeforeValidator(_reject_bool), Field(ge=0, le=23)]] | None = None


class ChargebackAttributionRules(GateRules):
    """``required_keys`` is another name of ``required_tags``; a run lacking every one of them warns
    (default tags ``cost_center``, ``chargeback_code``, ``billing_tag``), and so does a tag whose value is
    not among its ``valid_values``."""

    required_tags: StrList | None = None
    required_keys: StrList | None = None
    valid_values: dict[str, StrList] = Field(default_factory=dict)


class IsoWindow(_Strict):
    """A one-off maintenance window between two ISO 8601 date-times (UTC when no offset is given)."""

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> IsoWindow:
        if _as_utc(self.start) >= _as_utc(self.end):
            raise ValueError("start must be before end")
        return self


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


class OperationsRules(GateRules):
    timeout_seconds: PositiveFloat | None = None
    maintenance_windows: list[IsoWindow] = Field(default_factory=list)


class DataResidencyRules(GateRules):
    """``allowed_regions``: country codes (``DE``), region classes (``EU``, ``EEA``, ``APAC``, ...) or
    cloud regions (``eu-west-1``)."""

    allowed_regions: StrList = Field(default_factory=list)
    require_region_declaration: bool = True


class CodeExecutionRules(GateRules):
    allowed_languages: NameList = Field(default_factory=list)
    blocked_languages: NameList = Field(default_factory=list)
    blocked_commands: StrList = Field(default_factory=list)
    allowed_paths: StrList = Field(default_factory=list)
    blocked_paths: StrList = Field(default_factory=list)
    allow_package_install: bool = True
    allowed_packages: NameList = Field(default_factory=list)
    max_execution_time_seconds: PositiveFloat | None = None
    max_output_size_kb: PositiveFloat | None = None
    #: code must be reviewed by a person before it runs (the approval flow, when a handler is set)
    require_review: bool = False


class ProvenanceRequiredRules(GateRules):
    required_keys: StrList = Field(
        default_factory=lambda: ["source", "source_uri", "provenance", "citations"]
    )
    require_citations_per_claim: bool = True
    min_citations: NonNegativeInt = 0


class PromptInjectionGuardRules(GateRules):
    """``detection_mode``: ``pattern`` (default), ``hybrid`` or ``classifier`` (the local checks are
    skipped: a classifier decides elsewhere)."""

    detection_mode: Annotated[
        Literal["pattern", "heuristic", "hybrid", "classifier"], BeforeValidator(_lower_action)
    ] = "pattern"
    scan_indirect: bool = True
    max_payload_kb: PositiveFloat = 64
    blocked_patterns: StrList | None = None


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


class ToolAllowlistPolicy(Policy):
    category: Literal["tool-allowlist"] = "tool-allowlist"
    rules: Annotated[ToolAllowlistRules, _NoneIsEmpty] = Field(default_factory=ToolAllowlistRules)


class NetworkPolicy(Policy):
    category: Literal["network"] = "network"
    rules: Annotated[NetworkRules, _NoneIsEmpty] = Field(default_factory=NetworkRules)


class DomainGovernancePolicy(Policy):
    category: Literal["domain-governance"] = "domain-governance"
    rules: Annotated[DomainGovernanceRules, _NoneIsEmpty] = Field(default_factory=DomainGovernanceRules)


class McpServerAllowlistPolicy(Policy):
    category: Literal["mcp-server-allowlist"] = "mcp-server-allowlist"
    rules: Annotated[McpServerAllowlistRules, _NoneIsEmpty] = Field(default_factory=McpServerAllowlistRules)


class PromptAllowlistPolicy(Policy):
    category: Literal["prompt-allowlist"] = "prompt-allowlist"
    rules: Annotated[PromptAllowlistRules, _NoneIsEmpty] = Field(default_factory=PromptAllowlistRules)


class ScopePolicy(Policy):
    category: Literal["scope"] = "scope"
    rules: Annotated[ScopeRules, _NoneIsEmpty] = Field(default_factory=ScopeRules)


class RecursionBoundPolicy(Policy):
    category: Literal["recursion-bound"] = "recursion-bound"
    rules: Annotated[RecursionBoundRules, _NoneIsEmpty] = Field(default_factory=RecursionBoundRules)


class DelegationPolicy(Policy):
    category: Literal["delegation"] = "delegation"
    rules: Annotated[DelegationRules, _NoneIsEmpty] = Field(default_factory=DelegationRules)


class OutputEgressFormatPolicy(Policy):
    category: Literal["output-egress-format"] = "output-egress-format"
    rules: Annotated[OutputEgressFormatRules, _NoneIsEmpty] = Field(default_factory=OutputEgressFormatRules)


class InputValidationPolicy(Policy):
    category: Literal["input-validation"] = "input-validation"
    rules: Annotated[InputValidationRules, _NoneIsEmpty] = Field(default_factory=InputValidationRules)


class RetrievalPolicy(Policy):
    category: Literal["retrieval"] = "retrieval"
    rules: Annotated[RetrievalRules, _NoneIsEmpty] = Field(default_factory=RetrievalRules)


class MemoryPolicy(Policy):
    category: Literal["memory"] = "memory"
    rules: Annotated[MemoryRules, _NoneIsEmpty] = Field(default_factory=MemoryRules)


class ToolArgumentSchemaPolicy(Policy):
    category: Literal["tool-argument-schema"] = "tool-argument-schema"
    rules: Annotated[ToolArgumentSchemaRules, _NoneIsEmpty] = Field(default_factory=ToolArgumentSchemaRules)


class AgentServiceAccountScopePolicy(Policy):
    category: Literal["agent-service-account-scope"] = "agent-service-account-scope"
    rules: Annotated[AgentServiceAccountScopeRules, _NoneIsEmpty] = Field(
        default_factory=AgentServiceAccountScopeRules
    )


class TimeOfDayGatingPolicy(Policy):
    category: Literal["time-of-day-gating"] = "time-of-day-gating"
    rules: Annotated[TimeOfDayGatingRules, _NoneIsEmpty] = Field(default_factory=TimeOfDayGatingRules)


class ChargebackAttributionPolicy(Policy):
    category: Literal["chargeback-attribution"] = "chargeback-attribution"
    rules: Annotated[ChargebackAttributionRules, _NoneIsEmpty] = Field(
        default_factory=ChargebackAttributionRules
    )


class OperationsPolicy(Policy):
    category: Literal["operations"] = "operations"
    rules: Annotated[OperationsRules, _NoneIsEmpty] = Field(default_factory=OperationsRules)


class DataResidencyPolicy(Policy):
    category: Literal["data-residency"] = "data-residency"
    rules: Annotated[DataResidencyRules, _NoneIsEmpty] = Field(default_factory=DataResidencyRules)


class CodeExecutionPolicy(Policy):
    category: Literal["code-execution"] = "code-execution"
    rules: Annotated[CodeExecutionRules, _NoneIsEmpty] = Field(default_factory=CodeExecutionRules)


class ProvenanceRequiredPolicy(Policy):
    category: Literal["provenance-required"] = "provenance-required"
    rules: Annotated[ProvenanceRequiredRules, _NoneIsEmpty] = Field(default_factory=ProvenanceRequiredRules)


class PromptInjectionGuardPolicy(Policy):
    category: Literal["prompt-injection-guard"] = "prompt-injection-guard"
    rules: Annotated[PromptInjectionGuardRules, _NoneIsEmpty] = Field(
        default_factory=PromptInjectionGuardRules
    )


class ApprovalRules(GateRules):
    """What needs a person's approval: every run in the policy's scope, or with ``tools`` only calls of
    those tools; who may approve (``approvers``), how long to wait (``timeout_minutes``) and what the
    operation is called (``action_type``, default the workflow or tool name)."""

    tools: NameList = Field(default_factory=list)
    approvers: StrList = Field(default_factory=list)
    timeout_minutes: PositiveFloat | None = None
    action_type: str = ""


class ApprovalPolicy(Policy):
    category: Literal["approval"] = "approval"
    rules: Annotated[ApprovalRules, _NoneIsEmpty] = Field(default_factory=ApprovalRules)


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
    "tool-allowlist": ToolAllowlistPolicy,
    "network": NetworkPolicy,
    "domain-governance": DomainGovernancePolicy,
    "mcp-server-allowlist": McpServerAllowlistPolicy,
    "prompt-allowlist": PromptAllowlistPolicy,
    "scope": ScopePolicy,
    "recursion-bound": RecursionBoundPolicy,
    "delegation": DelegationPolicy,
    "output-egress-format": OutputEgressFormatPolicy,
    "input-validation": InputValidationPolicy,
    "retrieval": RetrievalPolicy,
    "memory": MemoryPolicy,
    "tool-argument-schema": ToolArgumentSchemaPolicy,
    "agent-service-account-scope": AgentServiceAccountScopePolicy,
    "time-of-day-gating": TimeOfDayGatingPolicy,
    "chargeback-attribution": ChargebackAttributionPolicy,
    "operations": OperationsPolicy,
    "data-residency": DataResidencyPolicy,
    "code-execution": CodeExecutionPolicy,
    "provenance-required": ProvenanceRequiredPolicy,
    "prompt-injection-guard": PromptInjectionGuardPolicy,
    "approval": ApprovalPolicy,
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
    "tool-allowlist": ToolAllowlistRules,
    "network": NetworkRules,
    "domain-governance": DomainGovernanceRules,
    "mcp-server-allowlist": McpServerAllowlistRules,
    "prompt-allowlist": PromptAllowlistRules,
    "scope": ScopeRules,
    "recursion-bound": RecursionBoundRules,
    "delegation": DelegationRules,
    "output-egress-format": OutputEgressFormatRules,
    "input-validation": InputValidationRules,
    "retrieval": RetrievalRules,
    "memory": MemoryRules,
    "tool-argument-schema": ToolArgumentSchemaRules,
    "agent-service-account-scope": AgentServiceAccountScopeRules,
    "time-of-day-gating": TimeOfDayGatingRules,
    "chargeback-attribution": ChargebackAttributionRules,
    "operations": OperationsRules,
    "data-residency": DataResidencyRules,
    "code-execution": CodeExecutionRules,
    "provenance-required": ProvenanceRequiredRules,
    "prompt-injection-guard": PromptInjectionGuardRules,
    "approval": ApprovalRules,
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
    | QualityPolicy
    | ToolAllowlistPolicy
    | NetworkPolicy
    | DomainGovernancePolicy
    | McpServerAllowlistPolicy
    | PromptAllowlistPolicy
    | ScopePolicy
    | RecursionBoundPolicy
    | DelegationPolicy
    | OutputEgressFormatPolicy
    | InputValidationPolicy
    | RetrievalPolicy
    | MemoryPolicy
    | ToolArgumentSchemaPolicy
    | AgentServiceAccountScopePolicy
    | TimeOfDayGatingPolicy
    | ChargebackAttributionPolicy
    | OperationsPolicy
    | DataResidencyPolicy
    | CodeExecutionPolicy
    | ProvenanceRequiredPolicy
    | PromptInjectionGuardPolicy
    | ApprovalPolicy,
    Field(discriminator="category"),
]
