"""``llm``: model allow/block lists and the run's token allowance, on recorded LLM calls (mid-execution).

A model matches a pattern when equal to it or when it starts with the pattern followed by ``-`` or
``:`` (see :func:`~..matching.model_matches`); ``blocked_models`` is checked first; an empty
``allowed_models`` allows any model. ``max_tokens_per_call`` is compared with the run's cumulative tokens
(in + out over all its calls).
"""

from __future__ import annotations

from ..matching import compile_model_patterns
from ..models import LlmPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator, format_number, worst

__all__ = ["LlmEvaluator"]


class LlmEvaluator(RuleEvaluator):
    category = "llm"
    phases = frozenset({MID_EXECUTION})

    def __init__(self, policy: LlmPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.allowed = list(r.allowed_models)
        self.blocked_match = compile_model_patterns(r.blocked_models) if r.blocked_models else None
        self.allowed_match = compile_model_patterns(r.allowed_models) if r.allowed_models else None
        self.max_tokens = r.max_tokens_per_call
        self.action = r.action_on_violation
        self.token_action = r.action_on_token_violation

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if not request.llm_calls:
            return ALLOW
        found: list[Outcome] = []
        seen: set[str] = set()
        for call in request.llm_calls:
            model = call.model
            if model in seen:
                continue
            seen.add(model)
            if self.blocked_match is not None:
                pattern = self.blocked_match(model)
                if pattern is not None:
                    found.append(
                        Outcome(
                            self.action,
                            f"Model {model!r} is blocked (matches {pattern!r})",
                            {"model": model, "rule": "blocked_models"},
                        )
                    )
                    continue
            if self.allowed_match is not None and self.allowed_match(model) is None:
                found.append(
                    Outcome(
                        self.action,
                        f"Model {model!r} is not allowed (allowed: {', '.join(self.allowed)})",
                        {"model": model, "rule": "allowed_models"},
                    )
                )
        if self.max_tokens is not None:
            tokens = request.total_tokens
            if tokens > self.max_tokens:
                found.append(
                    Outcome(
                        self.token_action,
                        f"Token limit exceeded: {format_number(tokens)} tokens used in this run "
                        f"(max_tokens_per_call {format_number(self.max_tokens)})",
                        {"rule": "max_tokens_per_call", "used": tokens, "limit": self.max_tokens},
                    )
                )
        return worst(found)
