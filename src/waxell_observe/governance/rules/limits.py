"""``scope``, ``recursion-bound`` and ``delegation``: how far an agent may reach.

* scope (``tool.before``; mid-execution on the run's recorded scope impacts): ``tool_name`` in
  ``denied_tools`` or, with ``allowed_tools``, not in it; the amount — the signal's ``amount``, else the
  first number among its ``tool_args`` ``amount`` / ``value`` / ``total`` / ``dollars`` / ``usd`` (mid: the
  run's ``transaction_total``) — over ``max_transaction_amount`` (also named ``max_amount``,
  ``max_dollar_amount``); the signal's ``record_count`` (mid: records modified and deleted) over
  ``max_records_modified`` (not for deletes), ``max_records_deleted`` (deletes, or when the signal names
  no ``operation``) and ``max_records``.
* recursion-bound: ``depth`` over ``max_reasoning_depth`` (also ``max_depth``), ``tool_call_count`` (mid:
  the run's tool calls) over ``max_tool_calls``, ``delegation_depth`` (mid: the run's) over
  ``max_delegation_depth``.
* delegation (``spawn.before``): ``concurrent_spawns`` over ``max_concurrent_delegates``, ``depth`` over
  ``max_delegation_depth``, the ``delegate`` (or ``tool_name``) in ``blocked_delegates`` or not in
  ``allowed_delegates``, and ``require_approval`` without ``approved``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import DelegationPolicy, RecursionBoundPolicy, ScopePolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, format_number
from .gate import GateEvaluator, Names, norm, number, signal_name

__all__ = ["DelegationEvaluator", "RecursionBoundEvaluator", "ScopeEvaluator"]

_AMOUNT_KEYS = ("amount", "value", "total", "dollars", "usd")


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


class ScopeEvaluator(GateEvaluator):
    category = "scope"

    def __init__(self, policy: ScopePolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.denied = Names(r.denied_tools)
        self.allowed = Names(r.allowed_tools)
        self.max_amount = _first(r.max_transaction_amount, r.max_amount, r.max_dollar_amount)
        self.amount_rule = next(
            (
                name
                for name in ("max_transaction_amount", "max_amount", "max_dollar_amount")
                if getattr(r, name) is not None
            ),
            "max_transaction_amount",
        )
        self.max_modified = r.max_records_modified
        self.max_deleted = r.max_records_deleted
        self.max_records = r.max_records

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        if signal:
            found = self._signal(signal)
            if found is not None:
                return found
        if phase == MID_EXECUTION and request.conversation:
            impacts = request.conversation.get("scope_impacts")
            if isinstance(impacts, Mapping):
                return self._impacts(impacts)
        return ALLOW

    def _signal(self, signal: Mapping[str, Any]) -> Outcome | None:
        tool = signal_name(signal, "tool_name")
        if tool:
            if self.denied and self.denied.match(tool) is not None:
                return self.violation(f"Tool {tool!r} is denied by scope", "denied_tools", tool_name=tool)
            if self.allowed and self.allowed.match(tool) is None:
                return self.violation(
                    f"Tool {tool!r} is outside the allowed scope (allowed: {self.allowed.shown()})",
                    "allowed_tools",
                    tool_name=tool,
                )
        if self.max_amount is not None:
            amount = _amount(signal)
            if amount is not None and amount > self.max_amount:
                return self._over_amount(amount)
        count = number(signal.get("record_count"))
        if count is not None:
            deleting = "delete" in norm(signal.get("operation"))
            unnamed = not norm(signal.get("operation"))
            for rule, limit, applies in (
                ("max_records_modified", self.max_modified, not deleting),
                ("max_records_deleted", self.max_deleted, deleting or unnamed),
                ("max_records", self.max_records, True),
            ):
                if applies and limit is not None and count > limit:
                    return self._over_records(rule, count, limit)
        return None

    def _impacts(self, impacts: Mapping[str, Any]) -> Outcome:
        total = number(impacts.get("transaction_total"))
        if self.max_amount is not None and total is not None and total > self.max_amount:
            return self._over_amount(total)
        modified = number(impacts.get("records_modified")) or 0.0
        deleted = number(impacts.get("records_deleted")) or 0.0
        for rule, value, limit in (
            ("max_records_modified", modified, self.max_modified),
            ("max_records_deleted", deleted, self.max_deleted),
            ("max_records", modified + deleted, self.max_records),
        ):
            if limit is not None and value > limit:
                return self._over_records(rule, value, limit)
        return ALLOW

    def _over_amount(self, amount: float) -> Outcome:
        assert self.max_amount is not None
        return self.violation(
            f"Transaction amount {format_number(amount)} exceeds {self.amount_rule} "
            f"{format_number(self.max_amount)}",
            self.amount_rule,
            amount=amount,
            limit=self.max_amount,
        )

    def _over_records(self, rule: str, count: float, limit: int) -> Outcome:
        return self.violation(
            f"Too many records: {format_number(count)} ({rule} {format_number(limit)})",
            rule,
            count=count,
            limit=limit,
        )


def _amount(signal: Mapping[str, Any]) -> float | None:
    amount = number(signal.get("amount"))
    if amount is not None:
        return amount
    args = signal.get("tool_args")
    if isinstance(args, Mapping):
        for key in _AMOUNT_KEYS:
            amount = number(args.get(key))
            if amount is not None:
                return amount
    return None


class RecursionBoundEvaluator(GateEvaluator):
    category = "recursion-bound"

    def __init__(self, policy: RecursionBoundPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.max_depth = r.max_reasoning_depth if r.max_reasoning_depth is not None else r.max_depth
        self.depth_rule = "max_reasoning_depth" if r.max_reasoning_depth is not None else "max_depth"
        self.max_tool_calls = r.max_tool_calls
        self.max_delegation = r.max_delegation_depth

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        depth = number(signal.get("depth")) if signal else None
        tools = number(signal.get("tool_call_count")) if signal else None
        delegation = number(signal.get("delegation_depth")) if signal else None
        if phase == MID_EXECUTION:
            if tools is None:
                tools = float(len(request.tool_calls))
            if delegation is None and request.conversation:
                delegation = number(request.conversation.get("delegation_depth"))
        for rule, what, value, limit in (
            (self.depth_rule, "Reasoning depth", depth, self.max_depth),
            ("max_tool_calls", "Tool calls", tools, self.max_tool_calls),
            ("max_delegation_depth", "Delegation depth", delegation, self.max_delegation),
        ):
            if limit is not None and value is not None and value > limit:
                return self.violation(
                    f"{what} {format_number(value)} exceeds {rule} {limit}", rule, value=value, limit=limit
                )
        return ALLOW


class DelegationEvaluator(GateEvaluator):
    category = "delegation"

    def __init__(self, policy: DelegationPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.max_concurrent = r.max_concurrent_delegates
        self.max_depth = r.max_delegation_depth
        self.blocked = Names(r.blocked_delegates)
        self.allowed = Names(r.allowed_delegates)
        self.require_approval = r.require_approval

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        if not signal:
            return ALLOW
        concurrent = number(signal.get("concurrent_spawns"))
        if self.max_concurrent is not None and concurrent is not None and concurrent > self.max_concurrent:
            return self.violation(
                f"Too many concurrent delegates: {format_number(concurrent)} "
                f"(max_concurrent_delegates {self.max_concurrent})",
                "max_concurrent_delegates",
                value=concurrent,
                limit=self.max_concurrent,
            )
        depth = number(signal.get("depth"))
        if self.max_depth is not None and depth is not None and depth > self.max_depth:
            return self.violation(
                f"Delegation depth {format_number(depth)} exceeds max_delegation_depth {self.max_depth}",
                "max_delegation_depth",
                value=depth,
                limit=self.max_depth,
            )
        delegate = signal_name(signal, "delegate", "tool_name")
        if delegate:
            if self.blocked and self.blocked.match(delegate) is not None:
                return self.violation(
                    f"Delegate {delegate!r} is blocked", "blocked_delegates", delegate=delegate
                )
            if self.allowed and self.allowed.match(delegate) is None:
                return self.violation(
                    f"Delegate {delegate!r} is not allowed (allowed: {self.allowed.shown()})",
                    "allowed_delegates",
                    delegate=delegate,
                )
        if self.require_approval and signal.get("approved") is not True:
            shown = f" to {delegate!r}" if delegate else ""
            return self.violation(
                f"Delegation{shown} requires approval", "require_approval", delegate=delegate
            )
        return ALLOW
