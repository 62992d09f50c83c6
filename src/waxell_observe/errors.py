"""Exceptions the SDK raises on purpose.

Telemetry never breaks the agent: the only exceptions that reach user code are
:class:`PolicyViolationError` (a policy said no), :class:`PromptGuardError` (the prompt
guard stopped a request) and ``ValueError`` subclasses for misuse of the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe.governance.results import PolicyCheckResult

__all__ = ["WaxellObserveError", "PolicyViolationError", "PromptGuardError", "ConfigurationError"]


class WaxellObserveError(Exception):
    """Base class of every exception raised by waxell-observe."""


class PolicyViolationError(WaxellObserveError):
    """A policy answered ``block`` or ``throttle``; ``policy_result`` holds the full answer."""

    def __init__(self, message: str, policy_result: PolicyCheckResult) -> None:
        super().__init__(message)
        self.policy_result = policy_result


class PromptGuardError(WaxellObserveError):
    """The prompt guard found violations in an outgoing LLM request and blocked it.

    ``result`` holds the guard's findings (``result.violations`` is a list of strings such as
    ``"PII detected: ssn"``).
    """

    def __init__(self, message: str, result: Any) -> None:
        super().__init__(message)
        self.result = result


class ConfigurationError(WaxellObserveError, ValueError):
    """A configuration value is invalid (bad URL, bad boolean, unreadable config file, ...)."""
