"""One evaluator per policy category; :data:`EVALUATORS` maps category names to them.

The categories of the reference's gate evaluators share :mod:`.gate` (name lists, the violation action,
tool/model scoping) and are grouped by theme: :mod:`.allowlists`, :mod:`.network`, :mod:`.limits`,
:mod:`.egress`, :mod:`.knowledge`, :mod:`.tool_arguments`, :mod:`.time_windows`, :mod:`.attribution`,
:mod:`.code_execution`, :mod:`.prompt_injection`.
"""

from __future__ import annotations

from .allowlists import McpServerAllowlistEvaluator, PromptAllowlistEvaluator, ToolAllowlistEvaluator
from .approval import ApprovalEvaluator
from .attribution import ChargebackAttributionEvaluator, DataResidencyEvaluator
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator
from .budget import BudgetEvaluator
from .code_execution import CodeExecutionEvaluator
from .content import ContentEvaluator
from .context_management import ContextManagementEvaluator
from .egress import InputValidationEvaluator, OutputEgressFormatEvaluator
from .kill_switch import KillSwitchEvaluator
from .knowledge import MemoryEvaluator, ProvenanceRequiredEvaluator, RetrievalEvaluator
from .limits import DelegationEvaluator, RecursionBoundEvaluator, ScopeEvaluator
from .llm import LlmEvaluator
from .network import DomainGovernanceEvaluator, NetworkEvaluator
from .prompt_injection import PromptInjectionGuardEvaluator
from .quality import QualityEvaluator
from .rate_limit import RateLimitEvaluator
from .safety import SafetyEvaluator
from .scheduling import SchedulingEvaluator
from .time_windows import OperationsEvaluator, TimeOfDayGatingEvaluator
from .tool_arguments import AgentServiceAccountScopeEvaluator, ToolArgumentSchemaEvaluator

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
        ToolAllowlistEvaluator,
        NetworkEvaluator,
        DomainGovernanceEvaluator,
        McpServerAllowlistEvaluator,
        PromptAllowlistEvaluator,
        ScopeEvaluator,
        RecursionBoundEvaluator,
        DelegationEvaluator,
        OutputEgressFormatEvaluator,
        InputValidationEvaluator,
        RetrievalEvaluator,
        MemoryEvaluator,
        ToolArgumentSchemaEvaluator,
        AgentServiceAccountScopeEvaluator,
        TimeOfDayGatingEvaluator,
        ChargebackAttributionEvaluator,
        OperationsEvaluator,
        DataResidencyEvaluator,
        CodeExecutionEvaluator,
        ProvenanceRequiredEvaluator,
        PromptInjectionGuardEvaluator,
        ApprovalEvaluator,
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
