"""``context-management``: conversation size and session length (mid-execution).

Reads the run's ``conversation_state`` (``user_turns``, ``message_count``, ``context_utilization_pct``)
and the session start. Going over a maximum answers ``action_on_exceed`` (``warn`` by default); reaching
``warning_threshold_percent`` of it warns.
"""

from __future__ import annotations

from typing import Any

from ..models import ContextManagementPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator, format_number, worst

__all__ = ["ContextManagementEvaluator"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class ContextManagementEvaluator(RuleEvaluator):
    category = "context-management"
    phases = frozenset({MID_EXECUTION})

    def __init__(self, policy: ContextManagementPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        # (rule, conversation key, label, limit, unit)
        self.limits = [
            (rule, key, label, limit, unit)
            for rule, key, label, limit, unit in (
                ("max_conversation_turns", "user_turns", "Conversation turns", r.max_conversation_turns, ""),
                ("max_message_count", "message_count", "Message count", r.max_message_count, ""),
                (
                    "max_context_utilization_percent",
                    "context_utilization_pct",
                    "Context utilization",
                    r.max_context_utilization_percent,
                    "%",
                ),
            )
            if limit is not None
        ]
        self.max_minutes = r.max_session_duration_minutes
        self.threshold = r.warning_threshold_percent / 100.0
        self.action = r.action_on_exceed

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        found: list[Outcome] = []
        conversation = request.conversation
        for rule, key, label, limit, unit in self.limits:
            value = _number(conversation.get(key)) if conversation else None
            if value is not None:
                self._check(found, rule, label, value, limit, unit)
        if self.max_minutes is not None and request.session_started_at is not None:
            minutes = max(0.0, (ctx.now - request.session_started_at) / 60.0)
            self._check(
                found, "max_session_duration_minutes", "Session duration", minutes, self.max_minutes, " min"
            )
        return worst(found) if found else ALLOW

    def _check(
        self, found: list[Outcome], rule: str, label: str, value: float, limit: float, unit: str
    ) -> None:
        shown = f"{format_number(value)}{unit} (max {format_number(limit)}{unit})"
        meta = {"rule": rule, "value": value, "limit": limit}
        if value > limit:
            found.append(Outcome(self.action, f"{label} exceeded: {shown}", meta))
        elif value >= limit * self.threshold:
            found.append(Outcome("warn", f"{label} at {value / limit:.0%} of limit: {shown}", meta))
