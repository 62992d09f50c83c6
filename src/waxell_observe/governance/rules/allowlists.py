"""``tool-allowlist``, ``mcp-server-allowlist`` and ``prompt-allowlist``: a name against a block list
(checked first) and an allow list (empty: any name).

* tool-allowlist: the signal's ``tool_name`` (``tool.before``); mid-execution, every tool the run has
  recorded so far;
* mcp-server-allowlist: the signal's ``server_name`` (or ``server``) at ``mcp.before`` and ``tool.before``;
* prompt-allowlist: the signal's ``prompt_name`` (``llm.before``); mid-execution, the run's prompt name
  (``conversation_state.prompt_name``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import McpServerAllowlistPolicy, PromptAllowlistPolicy, ToolAllowlistPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator, Names, norm, signal_name

__all__ = ["McpServerAllowlistEvaluator", "PromptAllowlistEvaluator", "ToolAllowlistEvaluator"]


class _AllowlistEvaluator(GateEvaluator):
    """A name checked against ``blocked`` then ``allowed``; ``noun`` names the thing in reasons."""

    noun = ""
    blocked_rule = ""
    allowed_rule = ""

    def __init__(self, policy: object, blocked: Iterable[str], allowed: Iterable[str]) -> None:
        super().__init__(policy)  # type: ignore[arg-type]
        self.blocked = Names(blocked)
        self.allowed = Names(allowed)

    def judge(self, name: str) -> Outcome:
        if not name:
            return ALLOW
        if self.blocked:
            entry = self.blocked.match(name)
            if entry is not None:
                shown = "" if entry == name else f" (matches {entry!r})"
                return self.violation(
                    f"{self.noun} {name!r} is blocked{shown}", self.blocked_rule, **{self.key: name}
                )
        if self.allowed and self.allowed.match(name) is None:
            return self.violation(
                f"{self.noun} {name!r} is not allowed (allowed: {self.allowed.shown()})",
                self.allowed_rule,
                **{self.key: name},
            )
        return ALLOW

    key = "name"


class ToolAllowlistEvaluator(_AllowlistEvaluator):
    category = "tool-allowlist"
    noun, key, blocked_rule, allowed_rule = "Tool", "tool_name", "blocked_tools", "allowed_tools"

    def __init__(self, policy: ToolAllowlistPolicy) -> None:
        super().__init__(policy, policy.rules.blocked_tools, policy.rules.allowed_tools)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        outcome = self.judge(signal_name(request.signal, "tool_name"))
        if outcome is not ALLOW or phase != MID_EXECUTION:
            return outcome
        for name in dict.fromkeys(norm(t.name) for t in request.tool_calls):
            outcome = self.judge(name)
            if outcome is not ALLOW:
                return outcome
        return ALLOW


class McpServerAllowlistEvaluator(_AllowlistEvaluator):
    category = "mcp-server-allowlist"
    noun, key, blocked_rule, allowed_rule = "MCP server", "server_name", "blocked_servers", "allowed_servers"

    def __init__(self, policy: McpServerAllowlistPolicy) -> None:
        super().__init__(policy, policy.rules.blocked_servers, policy.rules.allowed_servers)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        return self.judge(signal_name(request.signal, "server_name", "server"))


class PromptAllowlistEvaluator(_AllowlistEvaluator):
    category = "prompt-allowlist"
    noun, key, blocked_rule, allowed_rule = "Prompt", "prompt_name", "blocked_prompts", "allowed_prompts"

    def __init__(self, policy: PromptAllowlistPolicy) -> None:
        super().__init__(policy, policy.rules.blocked_prompts, policy.rules.allowed_prompts)

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        name = signal_name(request.signal, "prompt_name")
        if not name and phase == MID_EXECUTION and request.conversation:
            name = norm(request.conversation.get("prompt_name"))
        return self.judge(name)
