"""The parts every policy model is made of: strict models, the checked number and list types, the PII
type names, the rules every gate category accepts."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

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


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {value!r} (expected an IANA name such as 'Europe/Paris')"
        ) from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
"""An IANA time zone name (checked)."""


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
