"""``budget``: token and cost limits per day (in scope) and per run.

* pre-execution: today's totals (UTC day) in the policy's scope, per model for ``model_limits``;
* mid-execution: the run's own totals against ``per_workflow_*``, and today's totals plus the run's;
* post-execution: the same as mid, but only ever ``warn`` (the run is over).

A limit is exceeded when usage reaches it (nothing is left); at ``warning_threshold_percent`` of a limit
the policy warns. ``throttle`` on a daily limit carries ``retry_after_seconds`` until the next UTC midnight.
"""

from __future__ import annotations

from typing import Any

from ..matching import model_matches
from ..models import BudgetPolicy
from ..request import MID_EXECUTION, POST_EXECUTION, PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator, format_number, worst

__all__ = ["BudgetEvaluator"]

DAY = 86400.0


class BudgetEvaluator(RuleEvaluator):
    category = "budget"
    phases = frozenset({PRE_EXECUTION, MID_EXECUTION, POST_EXECUTION})

    def __init__(self, policy: BudgetPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.daily_tokens = r.daily_token_limit
        self.daily_cost = r.daily_cost_limit
        self.run_tokens = r.per_workflow_token_limit
        self.run_cost = r.per_workflow_cost_limit
        self.model_limits = [(model, limit.daily_cost_limit) for model, limit in r.model_limits.items()]
        self.threshold = r.warning_threshold_percent / 100.0
        self.action = r.action_on_exceed
        self.has_daily = (
            self.daily_tokens is not None or self.daily_cost is not None or bool(self.model_limits)
        )

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        in_run = phase != PRE_EXECUTION
        if not self.has_daily and not (in_run and (self.run_tokens is not None or self.run_cost is not None)):
            return ALLOW
        action = "warn" if phase == POST_EXECUTION else self.action
        day_start = ctx.now - (ctx.now % DAY)
        found: list[Outcome] = []

        run_tokens = run_cost = 0.0
        if in_run:
            run_tokens = request.total_tokens
            run_cost = request.total_cost
            self._check(
                found,
                "per_workflow_token_limit",
                "Run token budget",
                run_tokens,
                self.run_tokens,
                action,
                False,
            )
            self._check(
                found, "per_workflow_cost_limit", "Run cost budget", run_cost, self.run_cost, action, True
            )

        if self.has_daily and ctx.usage is not None:
            exclude = (request.run_id or None) if in_run else None
            if self.daily_tokens is not None or self.daily_cost is not None:
                tokens, cost = ctx.usage.usage_since(self.scope, day_start, exclude_run_id=exclude)
                self._check(
                    found,
                    "daily_token_limit",
                    "Daily token budget",
                    tokens + run_tokens,
                    self.daily_tokens,
                    action,
                    False,
                )
                self._check(
                    found,
                    "daily_cost_limit",
                    "Daily cost budget",
                    cost + run_cost,
                    self.daily_cost,
                    action,
                    True,
                )
            for model, limit in self.model_limits:
                _, cost = ctx.usage.usage_since(self.scope, day_start, model=model, exclude_run_id=exclude)
                if in_run:
                    cost += sum(c.cost for c in request.llm_calls if model_matches(c.model, model))
                self._check(
                    found,
                    f"model_limits.{model}.daily_cost_limit",
                    f"Daily cost budget for {model}",
                    cost,
                    limit,
                    action,
                    True,
                )

        outcome = worst(found)
        if (
            outcome.action == "throttle"
            and outcome.metadata
            and not outcome.metadata["rule"].startswith("per_workflow")
        ):
            # a daily budget frees up at the next UTC midnight
            outcome.metadata["retry_after_seconds"] = round(day_start + DAY - ctx.now, 3)
        return outcome

    def _check(
        self,
        found: list[Outcome],
        rule: str,
        label: str,
        used: float,
        limit: float | None,
        action: str,
        money: bool,
    ) -> None:
        if limit is None:
            return
        if used < limit * self.threshold and used < limit:
            return  # the common case: nothing to say, nothing to format
        meta: dict[str, Any] = {"rule": rule, "used": round(used, 6) if money else int(used), "limit": limit}
        unit = "" if money else " tokens"
        shown = f"{format_number(used, money=money)} of {format_number(limit, money=money)}{unit}"
        if used >= limit:
            found.append(Outcome(action, f"{label} exceeded: {shown} used", meta))
        else:
            found.append(Outcome("warn", f"{label} at {used / limit * 100:.0f}%: {shown} used", meta))
