"""Exceptions the SDK raises on purpose.

Telemetry never breaks the agent: the exceptions that reach user code are
:class:`PolicyViolationError` (a policy said no), :class:`PromptGuardError` (the prompt
guard stopped a request), :class:`PromptNotFoundError` (``client.get_prompt`` found no such
prompt) and ``ValueError`` subclasses for misuse of the API.

:class:`ObserveError` is the base of every error of ours except :class:`PromptGuardError`,
which (as in the reference SDK) derives from ``Exception`` directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe.governance.results import PolicyCheckResult
    from waxell_observe.types import ApprovalDecision

__all__ = [
    "ObserveError",
    "WaxellObserveError",
    "PolicyViolationError",
    "PromptGuardError",
    "PromptNotFoundError",
    "ConfigurationError",
]

_GUARD_MESSAGE_VIOLATIONS = 5


class ObserveError(Exception):
    """Base class of the exceptions raised by waxell-observe (except :class:`PromptGuardError`)."""


WaxellObserveError = ObserveError
"""The former name of :class:`ObserveError` (the same class)."""


class PolicyViolationError(ObserveError):
    """A policy answered ``block`` or ``throttle``; ``policy_result`` holds the full answer (or None).

    ``run_id``, ``agent_name`` and ``workflow_name`` name the run the policy stopped, when the error
    comes from a :class:`~waxell_observe.WaxellContext` (``""`` otherwise): what an ``on_policy_block``
    handler shows a person who is asked to approve it.

    ``approval_decision`` is the :class:`~waxell_observe.types.ApprovalDecision` of the ``on_policy_block``
    handler once one was asked about this error (``None`` before): an outer ``@observe`` or context does
    not ask again about a block a nested one already put to a person."""

    run_id: str = ""
    agent_name: str = ""
    workflow_name: str = ""
    approval_decision: ApprovalDecision | None = None

    def __init__(self, message: str, policy_result: PolicyCheckResult | None = None) -> None:
        super().__init__(message)
        self.policy_result = policy_result


class ConfigurationError(ObserveError, ValueError):
    """A configuration value is invalid (bad URL, bad boolean, unreadable config file, ...)."""


class PromptNotFoundError(ObserveError):
    """The control plane has no prompt ``name`` at the requested ``version`` / ``label``.

    ``status_code`` is the HTTP status of the answer (``None`` when none came: unconfigured
    client, unreachable server); ``detail`` is the start of the server's explanation.
    """

    def __init__(
        self,
        name: str,
        label: str = "",
        version: int = 0,
        status_code: int | None = None,
        detail: str = "",
    ) -> None:
        if version:
            what = f"version {version}"
        elif label:
            what = f"label '{label}'"
        else:
            what = "any version"
        message = f"Prompt '{name}' / {what} not found"
        if detail:
            message += f": {detail}"
        super().__init__(message)
        self.name = name
        self.label = label
        self.version = version
        self.status_code = status_code
        self.detail = detail


class PromptGuardError(Exception):
    """The prompt guard found violations in an outgoing LLM request and blocked it.

    ``result`` holds the guard's findings (``result.violations`` is a list of strings such as
    ``"PII detected: ssn"``). The message lists the first five violations (``+N more`` after).
    ``PromptGuardError(message, result)`` (a message of your own) is accepted too.
    """

    def __init__(self, result: Any, *args: Any) -> None:
        if isinstance(result, str) and args:
            message, result = result, args[0]
        else:
            violations = [str(v) for v in (getattr(result, "violations", None) or [])]
            message = "Prompt blocked by guard: " + "; ".join(violations[:_GUARD_MESSAGE_VIOLATIONS])
            if len(violations) > _GUARD_MESSAGE_VIOLATIONS:
                message += f" (+{len(violations) - _GUARD_MESSAGE_VIOLATIONS} more)"
        super().__init__(message)
        self.result = result
