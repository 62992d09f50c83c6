"""``safety``: caps on steps, tool calls and retries, and forbidden tools (mid-execution; violation = block).

A count is a violation when it goes over its maximum (``max_steps: 50`` allows 50 steps).
``blocked_tools`` entries are tool names or globs.
"""

from __future__ import annotations

from ..matching import compile_globs
from ..models import SafetyPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator, worst

__all__ = ["SafetyEvaluator"]


class SafetyEvaluator(RuleEvaluator):
    category = "safety"
    phases = frozenset({MID_EXECUTION})

    def __init__(self, policy: SafetyPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.max_steps = r.max_steps
        self.max_tool_calls = r.max_tool_calls
        self.max_retries = r.max_retries
        self.blocked = compile_globs(r.blocked_tools) if r.blocked_tools else None

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        found: list[Outcome] = []
        if self.max_steps is not None and request.step_count > self.max_steps:
            found.append(self._over("max_steps", "steps", request.step_count, self.max_steps))
        n_tools = len(request.tool_calls)
        if self.max_tool_calls is not None and n_tools > self.max_tool_calls:
            found.append(self._over("max_tool_calls", "tool calls", n_tools, self.max_tool_calls))
        if self.max_retries is not None and request.retries > self.max_retries:
            found.append(self._over("max_retries", "retries", request.retries, self.max_retries))
        if self.blocked is not None:
            used = [t.name for t in request.tool_calls if self.blocked(t.name)]
            if used:
                names = list(dict.fromkeys(used))
                found.append(
                    Outcome(
                        "block",
                        f"Blocked tool used: {', '.join(names)}",
                        {"rule": "blocked_tools", "tools": names},
                    )
                )
        return worst(found) if found else ALLOW

    @staticmethod
    def _over(rule: str, what: str, count: int, limit: int) -> Outcome:
        return Outcome(
            "block", f"Too many {what}: {count} (max {limit})", {"rule": rule, "count": count, "limit": limit}
        )
