"""Rules of the gate categories (the reference's gate evaluators): allowlists, network, limits, egress,
knowledge, tool arguments, time windows, attribution, code execution, prompt injection."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    field_serializer,
    model_validator,
)

from .base import (
    Float,
    GateAction,
    GateRules,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StrList,
    TimeZoneName,
    _as_list,
    _lower_action,
    _reject_bool,
    _Strict,
)

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
    from ..json_schema import schema_problems

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
