"""What the recording methods accept: the checks of their arguments and the values they allow.

The recording methods test the common case inline (an exact type, a value in range) and call
these only when that test fails, so the error message is built only for a real mistake.
"""

from __future__ import annotations

import math
import re
from typing import Any

from waxell_observe.records import SPAN_KINDS

__all__ = [
    "SCORE_DATA_TYPES",
    "TAG_KEY_PATTERN",
    "SPAN_ID_PATTERN",
    "TOOL_STATUSES",
    "RETRY_STRATEGIES",
    "DECISION_SOURCES",
    "SPAN_KINDS_SORTED",
    "check_name",
    "check_llm_call",
    "check_cost",
    "check_tokens",
    "check_duration",
    "check_choice",
    "validate_tag",
    "reference_llm_extras",
    "check_count",
    "check_interaction_mode",
    "END_USER_METADATA_KEY",
    "INTERACTION_MODES",
]

END_USER_METADATA_KEY = "tenant_sub_user_id"
"""The run metadata key an ``end_user_id`` is recorded under (as the reference SDK does)."""

INTERACTION_MODES = ("interactive", "autonomous", "auto")
"""What ``interaction_mode`` may be: a person in the loop, none, or ``auto`` (``interactive`` when the
run has a session, else ``autonomous``)."""


def check_interaction_mode(mode: Any) -> str | None:
    """``mode`` lower-cased when it is an interaction mode, ``None`` for ``None``; else ``ValueError``."""
    if mode is None:
        return None
    normalized = mode.strip().lower() if isinstance(mode, str) else mode
    if normalized not in INTERACTION_MODES:
        raise ValueError(
            f"interaction_mode must be one of {', '.join(INTERACTION_MODES)} or None, got {mode!r}"
        )
    return str(normalized)


SCORE_DATA_TYPES = ("numeric", "categorical", "boolean")
TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
SPAN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
TOOL_STATUSES = ("ok", "error")
RETRY_STRATEGIES = ("retry", "fallback", "circuit_break")
DECISION_SOURCES = ("manual", "decorator", "auto")
SPAN_KINDS_SORTED = tuple(sorted(SPAN_KINDS))
_INF = math.inf


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def check_llm_call(
    model: Any,
    tokens_in: Any,
    tokens_out: Any,
    cached_tokens_in: Any,
    cost: Any,
    duration_ms: Any,
    status: Any,
) -> tuple[float, float | None]:
    """Check :meth:`WaxellContext.record_llm_call`'s arguments; return the cost and duration."""
    if model.__class__ is not str or not model.strip():
        check_name(model, "model")
    if tokens_in.__class__ is not int or tokens_in < 0:
        check_tokens(tokens_in, "tokens_in")
    if tokens_out.__class__ is not int or tokens_out < 0:
        check_tokens(tokens_out, "tokens_out")
    if cached_tokens_in.__class__ is not int or cached_tokens_in < 0:
        check_tokens(cached_tokens_in, "cached_tokens_in")
    if cost.__class__ is not float or not 0.0 <= cost < _INF:
        cost = check_cost(cost)
    duration = None if duration_ms is None else check_duration(duration_ms)
    if status != "ok" and status != "error":
        check_choice(status, TOOL_STATUSES, "status")
    return cost, duration


def check_cost(cost: Any) -> float:
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not math.isfinite(cost) or cost < 0:
        raise ValueError(f"cost must be a non-negative number of USD, got {cost!r}")
    return float(cost)


def check_tokens(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


def check_duration(value: Any, what: str = "duration_ms") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a number of milliseconds or None, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return float(value)


def check_choice(value: Any, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


def validate_tag(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not TAG_KEY_PATTERN.match(key):
        raise ValueError(f"tag key {key!r} is invalid: use letters, digits, underscores and hyphens only")
    if not isinstance(value, str):
        raise ValueError(f"tag {key!r} needs a string value, got {type(value).__name__}: {value!r}")


def check_count(value: Any, what: str) -> int:
    """A non-negative integer (``bool`` refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def reference_llm_extras(
    attributes: dict[str, Any] | None,
    prompt_hash: Any,
    full_response: Any,
    config: Any,
    prompt_variables: Any,
    is_streaming: Any,
    ttft_ms: Any,
    chunk_count: Any,
    auto_instrumented: Any,
    framework: Any = "",
) -> dict[str, Any]:
    """The call attributes for the reference SDK's optional ``record_llm_call`` parameters (checked),
    over the caller's ``attributes``: ``framework``, ``prompt_hash``, ``full_response``, ``config``,
    ``prompt_variables``, ``stream`` (``is_streaming``), ``ttft_ms``, ``chunk_count`` and
    ``auto_instrumented`` (the names the integrations use)."""
    extra = dict(attributes) if attributes else {}
    if framework:
        if not isinstance(framework, str):
            raise ValueError(f"framework must be a string, got {framework!r}")
        extra["framework"] = framework
    if prompt_hash:
        if not isinstance(prompt_hash, str):
            raise ValueError(f"prompt_hash must be a string, got {prompt_hash!r}")
        extra["prompt_hash"] = prompt_hash
    if full_response is not None:
        extra["full_response"] = full_response
    for value, what in ((config, "config"), (prompt_variables, "prompt_variables")):
        if value is not None:
            if not isinstance(value, dict):
                raise ValueError(f"{what} must be a dict or None, got {type(value).__name__}")
            extra[what] = value
    if is_streaming:
        extra["stream"] = True
    if ttft_ms is not None:
        extra["ttft_ms"] = check_duration(ttft_ms, "ttft_ms")
    if chunk_count is not None:
        extra["chunk_count"] = check_count(chunk_count, "chunk_count")
    if auto_instrumented:
        extra["auto_instrumented"] = True
    return extra
