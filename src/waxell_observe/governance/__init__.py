"""Governance: policies as data, evaluated by one pure engine in embedded and server mode.

* :mod:`.models` / :mod:`.loader` — the policy file format (``spec/policies.md``);
* :mod:`.engine` — :class:`PolicyEngine`, with one evaluator per category in :mod:`.rules`;
* :mod:`.usage` — the :class:`UsageSource` protocol the store implements (:class:`InMemoryUsage` here);
* :mod:`.results` — :class:`PolicyCheckResult` and :func:`strictest`;
* :mod:`.content_scan` — PII / credential / prompt-injection detectors, shared with the prompt guard.
"""

from __future__ import annotations

from .content_scan import Finding, Scanner, redact_text, redact_value, scan_text
from .engine import PolicyEngine
from .loader import PolicyFileError, load_policies, parse_policies
from .memory_usage import InMemoryUsage
from .models import CATEGORIES, AnyPolicy, Policy
from .request import PHASES, LLMCallInfo, PolicyRequest, ToolCallInfo, normalize_phase
from .results import ACTION_SEVERITY, ACTIONS, PolicyCheckResult, PolicyEvaluation, strictest
from .usage import Admission, BreakerState, RateWindow, UsageScope, UsageSource

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
