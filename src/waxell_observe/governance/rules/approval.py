"""``approval``: what a person must approve before it happens.

At entry (pre-execution) every run in the policy's scope needs approval, unless the rules name
``tools``; then only a call of one of those tools does (``tool.before``). The refusal (``block``, or the
rules' ``action``) carries what an approval round needs in its metadata — ``action_type`` (the rules',
else the workflow or tool name), ``approvers`` and ``timeout_minutes`` — which
``waxell_observe.extract_block_metadata`` reads (it looks for the evaluation of category ``approval``),
so ``on_policy_block`` (``prompt_approval``, ``approval_from_control_plane``, ...) asks the right people
for the right time. Once approved, the run goes on (or runs again) without policy checks.
"""

from __future__ import annotations

from typing import Any

from ..models import ApprovalPolicy
from ..request import PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator, Names, signal_name

__all__ = ["ApprovalEvaluator"]


class ApprovalEvaluator(GateEvaluator):
    category = "approval"

    def __init__(self, policy: ApprovalPolicy) -> None:
        super().__init__(policy)
        rules = policy.rules
        self.tools = Names(rules.tools)
        self.approvers = [a.strip() for a in rules.approvers if a.strip()]
        self.timeout_minutes = rules.timeout_minutes
        self.action_type = rules.action_type.strip()

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if phase == PRE_EXECUTION:
            if self.tools:
                return ALLOW
            operation = self.action_type or request.workflow_name or request.agent_name
            return self._needs(f"{operation!r} needs approval", operation)
        tool = signal_name(request.signal, "tool_name") if request.signal else ""
        if not tool or not self.tools or self.tools.match(tool) is None:
            return ALLOW
        return self._needs(f"Tool {tool!r} needs approval", self.action_type or tool, tool_name=tool)

    def _needs(self, reason: str, operation: str, **details: Any) -> Outcome:
        metadata: dict[str, Any] = {"action_type": operation, "approvers": list(self.approvers)}
        if self.timeout_minutes is not None:
            metadata["timeout_minutes"] = self.timeout_minutes
        return self.violation(reason, "approval", **metadata, **details)
