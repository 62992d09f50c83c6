"""One evaluator per policy category; :data:`EVALUATORS` maps category names to them."""

from __future__ import annotations

from .base import ALLOW, EvalContext, Outcome, RuleEvaluator
from .budget import BudgetEvaluator
from .content import ContentEvaluator
from .context_management import ContextManagementEvaluator
from .kill_switch import KillSwitchEvaluator
from .llm import LlmEvaluator
from .quality import QualityEvaluator
from .rate_limit import RateLimitEvaluator
from .safety import SafetyEvaluator
from .scheduling import SchedulingEvaluator

__all__ = ["ALLOW", "EVALUATORS", "EvalContext", "Outcome", "RuleEvaluator", "evaluator_for"]

EVALUATORS: dict[str, type[RuleEvaluator]] = {
    cls.category: cls
    for cls in (
        BudgetEvaluator,
        RateLimitEvaluator,
        LlmEvaluator,
        ContentEvaluator,
        SafetyEvaluator,
        KillSwitchEvaluator,
        ContextManagementEvaluator,
        SchedulingEvaluator,
        QualityEvaluator,
    )
}


def evaluator_for(policy: object) -> RuleEvaluator:
    """Compile ``policy`` into the evaluator of its category."""
    category = getattr(policy, "category", None)
    try:
        cls = EVALUATORS[str(category)]
    except KeyError:
        raise ValueError(f"no evaluator for category {category!r}") from None
    return cls(policy)  # type: ignore[arg-type]
