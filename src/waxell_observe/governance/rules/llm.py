"""``llm``: model allow/block lists and token limits.

A model matches a pattern when equal to it or when it starts with the pattern followed by ``-`` or
``:`` (see :func:`~..matching.model_matches`); ``blocked_models`` is checked first; an empty
``allowed_models`` allows any model. A violation answers ``action``, else ``action_on_violation`` (block).

* ``llm.before`` / ``llm.after``: the signal's ``model``, and its ``projected_tokens`` (else ``tokens``)
  against ``max_tokens_per_call`` — one call — answering ``action_on_token_violation`` when given, else the
  violation action;
* mid-execution: every model the run has called, and the run's cumulative tokens (in + out over all its
  calls) against ``max_tokens_per_call``, answering ``action_on_token_violation`` (warn).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import POLICY_CATEGORY_PHASES

from ..matching import compile_model_patterns
from ..models import LlmPolicy
from ..request import MID_EXECUTION, PolicyRequest
from .base import EvalContext, Outcome, RuleEvaluator, format_number, worst
from .gate import number

__all__ = ["LlmEvaluator"]


class LlmEvaluator(RuleEvaluator):
    category = "llm"
    phases = POLICY_CATEGORY_PHASES["llm"]

    def __init__(self, policy: LlmPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.allowed = list(r.allowed_models)
        self.blocked_match = compile_model_patterns(r.blocked_models) if r.blocked_models else None
        self.allowed_match = compile_model_patterns(r.allowed_models) if r.allowed_models else None
        self.max_tokens = r.max_tokens_per_call
        self.action = r.action or r.action_on_violation
        self.token_action = r.action_on_token_violation
        explicit = "action_on_token_violation" in r.model_fields_set
        self.call_token_action = r.action_on_token_violation if explicit else self.action

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        signal = request.signal
        found: list[Outcome] = []
        if signal:
            self._signal(signal, found)
        if phase != MID_EXECUTION:
            return worst(found)
        if not request.llm_calls:
            return worst(found)
        seen: set[str] = set()
        for call in request.llm_calls:
            model = call.model
            if model in seen:
                continue
            seen.add(model)
            self._model(model, found)
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

    def _signal(self, signal: Mapping[str, Any], found: list[Outcome]) -> None:
        """One call about to be made (``llm.before``) or just made (``llm.after``)."""
        model = signal.get("model")
        if isinstance(model, str) and model.strip():
            self._model(model.strip(), found)
        if self.max_tokens is None:
            return
        tokens = number(signal.get("projected_tokens"))
        if tokens is None:
            tokens = number(signal.get("tokens"))
        if tokens is not None and tokens > self.max_tokens:
            found.append(
                Outcome(
                    self.call_token_action,
                    f"Token limit exceeded: {format_number(tokens)} tokens in one call "
                    f"(max_tokens_per_call {format_number(self.max_tokens)})",
                    {"rule": "max_tokens_per_call", "used": tokens, "limit": self.max_tokens},
                )
            )

    def _model(self, model: str, found: list[Outcome]) -> None:
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
                return
        if self.allowed_match is not None and self.allowed_match(model) is None:
            found.append(
                Outcome(
                    self.action,
                    f"Model {model!r} is not allowed (allowed: {', '.join(self.allowed)})",
                    {"model": model, "rule": "allowed_models"},
                )
            )
