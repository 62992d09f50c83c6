"""What every category evaluator shares: the outcome type, the per-check context, the base class."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ..models import Policy
from ..request import PolicyRequest
from ..results import ACTION_SEVERITY
from ..usage import UsageScope, UsageSource

__all__ = ["ALLOW", "EvalContext", "Outcome", "RuleEvaluator", "format_number", "worst"]


class Outcome:
    """What one policy answered: action, reason and details for the evaluation's metadata."""

    __slots__ = ("action", "metadata", "reason")

    def __init__(self, action: str, reason: str = "", metadata: dict[str, Any] | None = None) -> None:
        self.action = action
        self.reason = reason
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"Outcome({self.action!r}, {self.reason!r}, {self.metadata!r})"


#: The shared "nothing to say" outcome.
ALLOW = Outcome("allow")


class EvalContext:
    """State of one :meth:`PolicyEngine.evaluate` call, shared by the policies it runs."""

    __slots__ = ("_holder", "admissions", "dry_run", "now", "redacted", "request", "usage")

    def __init__(
        self, now: float, usage: UsageSource | None, request: PolicyRequest, dry_run: bool = False
    ) -> None:
        self.now = now
        self.usage = usage
        self.request = request
        self.dry_run = dry_run
        #: (scope, holder) admitted by rate-limit policies during this check (revoked if the check refuses).
        self.admissions: list[tuple[UsageScope, str]] = []
        #: Cumulative redactions by content policies: "inputs" / "result" -> redacted copy.
        self.redacted: dict[str, Any] = {}
        self._holder: str | None = None

    @property
    def holder(self) -> str:
        """Who holds rate-limit admissions: the run id, or a fresh token when there is none."""
        if self._holder is None:
            self._holder = self.request.run_id or os.urandom(16).hex()
        return self._holder


class RuleEvaluator:
    """Evaluates one policy of one category. Subclasses precompile their rules in ``__init__``."""

    category: ClassVar[str] = ""
    #: Phases in which this category is evaluated.
    phases: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.name = policy.name
        self.scope = UsageScope.for_policy(policy)

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:  # pragma: no cover
        raise NotImplementedError


def worst(outcomes: list[Outcome]) -> Outcome:
    """The strictest of several outcomes of one policy (first wins among equals); ALLOW if none.

    Reasons of the other non-allow outcomes of the same action are joined with ``"; "``.
    """
    if not outcomes:
        return ALLOW
    top = max(outcomes, key=lambda o: ACTION_SEVERITY.get(o.action, 2))
    same = [o for o in outcomes if o.action == top.action]
    if len(same) == 1:
        return top
    metadata: dict[str, Any] = {}
    for o in same:
        for key, value in (o.metadata or {}).items():
            metadata.setdefault(key, value)
    return Outcome(top.action, "; ".join(o.reason for o in same if o.reason), metadata)


def format_number(value: float, *, money: bool = False) -> str:
    """``1234`` -> ``1,234``; money -> ``$1.23`` (4 decimals below one cent)."""
    if money:
        return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"
