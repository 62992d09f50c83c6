"""Governance: policies as data, evaluated by one pure engine in embedded and server mode.

* :mod:`.models` / :mod:`.loader` — the policy file format (``docs/policy-format.md``);
* :mod:`.engine` — :class:`PolicyEngine`, with one evaluator per category in :mod:`.rules`;
* :mod:`.usage` — the :class:`UsageSource` protocol; :class:`InMemoryUsage` (in process) and
  :class:`~.sql_usage.SqlUsage` (the store's transactional counters) implement it;
* :mod:`.results` — :class:`PolicyCheckResult` and :func:`strictest`;
* :mod:`.content_scan` — PII / credential / prompt-injection detectors, shared with the prompt guard;
* :mod:`.policy_store` — policies stored in the store; :mod:`.decider` — the cached engine over them;
  :mod:`.embedded_decider` — the embedded decider plugin (built in, named ``governance``);
  :mod:`.remote_decider` — the control plane as decider, for remote runs (built in, named ``remote``).

Names are imported lazily: ``import waxell_observe`` needs only :mod:`.results`, and the policy models
(pydantic) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .content_scan import Finding, Scanner, redact_text, redact_value, scan_text
    from .engine import PolicyEngine
    from .loader import PolicyFileError, load_policies, parse_policies
    from .memory_usage import InMemoryUsage
    from .models import CATEGORIES, AnyPolicy, Policy
    from .request import PHASES, LLMCallInfo, PolicyRequest, ToolCallInfo, normalize_phase
    from .results import ACTION_SEVERITY, ACTIONS, PolicyCheckResult, PolicyEvaluation, strictest
    from .usage import Admission, BreakerState, RateWindow, UsageScope, UsageSource

_EXPORTS: dict[str, str] = {
    "ACTIONS": "results",
    "ACTION_SEVERITY": "results",
    "CATEGORIES": "models",
    "PHASES": "request",
    "Admission": "usage",
    "AnyPolicy": "models",
    "BreakerState": "usage",
    "Finding": "content_scan",
    "InMemoryUsage": "memory_usage",
    "LLMCallInfo": "request",
    "Policy": "models",
    "PolicyCheckResult": "results",
    "PolicyEngine": "engine",
    "PolicyEvaluation": "results",
    "PolicyFileError": "loader",
    "PolicyRequest": "request",
    "RateWindow": "usage",
    "Scanner": "content_scan",
    "ToolCallInfo": "request",
    "UsageScope": "usage",
    "UsageSource": "usage",
    "load_policies": "loader",
    "normalize_phase": "request",
    "parse_policies": "loader",
    "redact_text": "content_scan",
    "redact_value": "content_scan",
    "scan_text": "content_scan",
    "strictest": "results",
}

__all__ = [
    "ACTIONS",
    "ACTION_SEVERITY",
    "CATEGORIES",
    "PHASES",
    "Admission",
    "AnyPolicy",
    "BreakerState",
    "Finding",
    "InMemoryUsage",
    "LLMCallInfo",
    "Policy",
    "PolicyCheckResult",
    "PolicyEngine",
    "PolicyEvaluation",
    "PolicyFileError",
    "PolicyRequest",
    "RateWindow",
    "Scanner",
    "ToolCallInfo",
    "UsageScope",
    "UsageSource",
    "load_policies",
    "normalize_phase",
    "parse_policies",
    "redact_text",
    "redact_value",
    "scan_text",
    "strictest",
]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
