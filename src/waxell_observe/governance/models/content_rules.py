"""Rules of the content categories: content (PII, credentials, prompt injection, custom patterns) and
safety."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from .base import (
    PII_TYPE_NAMES,
    GateAction,
    GateRules,
    NonNegativeInt,
    PiiType,
    PositiveInt,
    Rules,
    StrList,
    _as_list,
    _check_regex,
    _lower_action,
    _pii_types,
    _Strict,
)

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
