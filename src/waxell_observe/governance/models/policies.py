"""Policies: ``name``, ``category``, ``scope``, ``priority``, ``enabled`` and the category's rules; the
union discriminated by ``category`` and the tables by category name."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from waxell_observe.vocabulary import POLICY_CATEGORY_NAMES

from .base import (
    GateRules,
    Int,
    PositiveFloat,
    Rules,
    StrList,
    _as_list,
    _Strict,
)
from .content_rules import (
    ContentRules,
    SafetyRules,
)
from .gate_rules import (
    AgentServiceAccountScopeRules,
    ChargebackAttributionRules,
    CodeExecutionRules,
    DataResidencyRules,
    DelegationRules,
    DomainGovernanceRules,
    InputValidationRules,
    McpServerAllowlistRules,
    MemoryRules,
    NameList,
    NetworkRules,
    OperationsRules,
    OutputEgressFormatRules,
    PromptAllowlistRules,
    PromptInjectionGuardRules,
    ProvenanceRequiredRules,
    RecursionBoundRules,
    RetrievalRules,
    ScopeRules,
    TimeOfDayGatingRules,
    ToolAllowlistRules,
    ToolArgumentSchemaRules,
)
from .run_rules import (
    BudgetRules,
    ContextManagementRules,
    KillSwitchRules,
    LlmRules,
    QualityRules,
    RateLimitRules,
    SchedulingRules,
)

# --------------------------------------------------------------------------- policies


def _scope_list(value: Any) -> Any:
    if value is None:
        return ["*"]
    return _as_list(value)


ScopeList = Annotated[list[str], BeforeValidator(_scope_list)]


class PolicyScope(_Strict):
    """Glob lists on agent name, workflow name and user group; ``["*"]`` (the default) is everything."""

    agents: ScopeList = Field(default_factory=lambda: ["*"])
    workflows: ScopeList = Field(default_factory=lambda: ["*"])
    user_groups: ScopeList = Field(default_factory=lambda: ["*"])


def _scope(value: Any) -> Any:
    if value is None or value == "*":
        return {}
    return value


class Policy(_Strict):
    """Common fields of every policy. Concrete classes narrow ``category`` and ``rules``."""

    category_name: ClassVar[str] = ""

    name: Annotated[str, Field(min_length=1)]
    category: str
    scope: Annotated[PolicyScope, BeforeValidator(_scope)] = Field(default_factory=PolicyScope)
    priority: Int = 100
    enabled: bool = True
    rules: Rules = Field(default_factory=Rules)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _concrete(self) -> Policy:
        if type(self) is Policy:
            raise ValueError(
                "construct a policy of a category class (e.g. BudgetPolicy), or use Policy.from_dict()"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the form stored and served in manifests); loads back unchanged."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """Validate one policy dict of any category (raises ``PolicyFileError``)."""
        from ..loader import parse_policies

        return parse_policies([data])[0]


def _none_to_empty(value: Any) -> Any:
    """``rules:`` left empty in YAML means all defaults."""
    return {} if value is None else value


_NoneIsEmpty = BeforeValidator(_none_to_empty)


class BudgetPolicy(Policy):
    category: Literal["budget"] = "budget"
    rules: Annotated[BudgetRules, _NoneIsEmpty] = Field(default_factory=BudgetRules)


class RateLimitPolicy(Policy):
    category: Literal["rate-limit"] = "rate-limit"
    rules: Annotated[RateLimitRules, _NoneIsEmpty] = Field(default_factory=RateLimitRules)


class LlmPolicy(Policy):
    category: Literal["llm"] = "llm"
    rules: Annotated[LlmRules, _NoneIsEmpty] = Field(default_factory=LlmRules)


class ContentPolicy(Policy):
    category: Literal["content"] = "content"
    rules: Annotated[ContentRules, _NoneIsEmpty] = Field(default_factory=ContentRules)


class SafetyPolicy(Policy):
    category: Literal["safety"] = "safety"
    rules: Annotated[SafetyRules, _NoneIsEmpty] = Field(default_factory=SafetyRules)


class KillSwitchPolicy(Policy):
    category: Literal["kill-switch"] = "kill-switch"
    rules: Annotated[KillSwitchRules, _NoneIsEmpty] = Field(default_factory=KillSwitchRules)


class ContextManagementPolicy(Policy):
    category: Literal["context-management"] = "context-management"
    rules: Annotated[ContextManagementRules, _NoneIsEmpty] = Field(default_factory=ContextManagementRules)


class SchedulingPolicy(Policy):
    category: Literal["scheduling"] = "scheduling"
    rules: Annotated[SchedulingRules, _NoneIsEmpty] = Field(default_factory=SchedulingRules)


class QualityPolicy(Policy):
    category: Literal["quality"] = "quality"
    rules: Annotated[QualityRules, _NoneIsEmpty] = Field(default_factory=QualityRules)


class ToolAllowlistPolicy(Policy):
    category: Literal["tool-allowlist"] = "tool-allowlist"
    rules: Annotated[ToolAllowlistRules, _NoneIsEmpty] = Field(default_factory=ToolAllowlistRules)


class NetworkPolicy(Policy):
    category: Literal["network"] = "network"
    rules: Annotated[NetworkRules, _NoneIsEmpty] = Field(default_factory=NetworkRules)


class DomainGovernancePolicy(Policy):
    category: Literal["domain-governance"] = "domain-governance"
    rules: Annotated[DomainGovernanceRules, _NoneIsEmpty] = Field(default_factory=DomainGovernanceRules)


class McpServerAllowlistPolicy(Policy):
    category: Literal["mcp-server-allowlist"] = "mcp-server-allowlist"
    rules: Annotated[McpServerAllowlistRules, _NoneIsEmpty] = Field(default_factory=McpServerAllowlistRules)


class PromptAllowlistPolicy(Policy):
    category: Literal["prompt-allowlist"] = "prompt-allowlist"
    rules: Annotated[PromptAllowlistRules, _NoneIsEmpty] = Field(default_factory=PromptAllowlistRules)


class ScopePolicy(Policy):
    category: Literal["scope"] = "scope"
    rules: Annotated[ScopeRules, _NoneIsEmpty] = Field(default_factory=ScopeRules)


class RecursionBoundPolicy(Policy):
    category: Literal["recursion-bound"] = "recursion-bound"
    rules: Annotated[RecursionBoundRules, _NoneIsEmpty] = Field(default_factory=RecursionBoundRules)


class DelegationPolicy(Policy):
    category: Literal["delegation"] = "delegation"
    rules: Annotated[DelegationRules, _NoneIsEmpty] = Field(default_factory=DelegationRules)


class OutputEgressFormatPolicy(Policy):
    category: Literal["output-egress-format"] = "output-egress-format"
    rules: Annotated[OutputEgressFormatRules, _NoneIsEmpty] = Field(default_factory=OutputEgressFormatRules)


class InputValidationPolicy(Policy):
    category: Literal["input-validation"] = "input-validation"
    rules: Annotated[InputValidationRules, _NoneIsEmpty] = Field(default_factory=InputValidationRules)


class RetrievalPolicy(Policy):
    category: Literal["retrieval"] = "retrieval"
    rules: Annotated[RetrievalRules, _NoneIsEmpty] = Field(default_factory=RetrievalRules)


class MemoryPolicy(Policy):
    category: Literal["memory"] = "memory"
    rules: Annotated[MemoryRules, _NoneIsEmpty] = Field(default_factory=MemoryRules)


class ToolArgumentSchemaPolicy(Policy):
    category: Literal["tool-argument-schema"] = "tool-argument-schema"
    rules: Annotated[ToolArgumentSchemaRules, _NoneIsEmpty] = Field(default_factory=ToolArgumentSchemaRules)


class AgentServiceAccountScopePolicy(Policy):
    category: Literal["agent-service-account-scope"] = "agent-service-account-scope"
    rules: Annotated[AgentServiceAccountScopeRules, _NoneIsEmpty] = Field(
        default_factory=AgentServiceAccountScopeRules
    )


class TimeOfDayGatingPolicy(Policy):
    category: Literal["time-of-day-gating"] = "time-of-day-gating"
    rules: Annotated[TimeOfDayGatingRules, _NoneIsEmpty] = Field(default_factory=TimeOfDayGatingRules)


class ChargebackAttributionPolicy(Policy):
    category: Literal["chargeback-attribution"] = "chargeback-attribution"
    rules: Annotated[ChargebackAttributionRules, _NoneIsEmpty] = Field(
        default_factory=ChargebackAttributionRules
    )


class OperationsPolicy(Policy):
    category: Literal["operations"] = "operations"
    rules: Annotated[OperationsRules, _NoneIsEmpty] = Field(default_factory=OperationsRules)


class DataResidencyPolicy(Policy):
    category: Literal["data-residency"] = "data-residency"
    rules: Annotated[DataResidencyRules, _NoneIsEmpty] = Field(default_factory=DataResidencyRules)


class CodeExecutionPolicy(Policy):
    category: Literal["code-execution"] = "code-execution"
    rules: Annotated[CodeExecutionRules, _NoneIsEmpty] = Field(default_factory=CodeExecutionRules)


class ProvenanceRequiredPolicy(Policy):
    category: Literal["provenance-required"] = "provenance-required"
    rules: Annotated[ProvenanceRequiredRules, _NoneIsEmpty] = Field(default_factory=ProvenanceRequiredRules)


class PromptInjectionGuardPolicy(Policy):
    category: Literal["prompt-injection-guard"] = "prompt-injection-guard"
    rules: Annotated[PromptInjectionGuardRules, _NoneIsEmpty] = Field(
        default_factory=PromptInjectionGuardRules
    )


class ApprovalRules(GateRules):
    """What needs a person's approval: every run in the policy's scope, or with ``tools`` only calls of
    those tools; who may approve (``approvers``), how long to wait (``timeout_minutes``) and what the
    operation is called (``action_type``, default the workflow or tool name)."""

    tools: NameList = Field(default_factory=list)
    approvers: StrList = Field(default_factory=list)
    timeout_minutes: PositiveFloat | None = None
    action_type: str = ""


class ApprovalPolicy(Policy):
    category: Literal["approval"] = "approval"
    rules: Annotated[ApprovalRules, _NoneIsEmpty] = Field(default_factory=ApprovalRules)


POLICY_CLASSES: dict[str, type[Policy]] = {
    "budget": BudgetPolicy,
    "rate-limit": RateLimitPolicy,
    "llm": LlmPolicy,
    "content": ContentPolicy,
    "safety": SafetyPolicy,
    "kill-switch": KillSwitchPolicy,
    "context-management": ContextManagementPolicy,
    "scheduling": SchedulingPolicy,
    "quality": QualityPolicy,
    "tool-allowlist": ToolAllowlistPolicy,
    "network": NetworkPolicy,
    "domain-governance": DomainGovernancePolicy,
    "mcp-server-allowlist": McpServerAllowlistPolicy,
    "prompt-allowlist": PromptAllowlistPolicy,
    "scope": ScopePolicy,
    "recursion-bound": RecursionBoundPolicy,
    "delegation": DelegationPolicy,
    "output-egress-format": OutputEgressFormatPolicy,
    "input-validation": InputValidationPolicy,
    "retrieval": RetrievalPolicy,
    "memory": MemoryPolicy,
    "tool-argument-schema": ToolArgumentSchemaPolicy,
    "agent-service-account-scope": AgentServiceAccountScopePolicy,
    "time-of-day-gating": TimeOfDayGatingPolicy,
    "chargeback-attribution": ChargebackAttributionPolicy,
    "operations": OperationsPolicy,
    "data-residency": DataResidencyPolicy,
    "code-execution": CodeExecutionPolicy,
    "provenance-required": ProvenanceRequiredPolicy,
    "prompt-injection-guard": PromptInjectionGuardPolicy,
    "approval": ApprovalPolicy,
}
#: The categories, in the order of the vocabulary's table (a test checks the classes above follow it).
CATEGORIES: tuple[str, ...] = POLICY_CATEGORY_NAMES
#: Category -> rules model.
RULE_MODELS: dict[str, type[Rules]] = {
    "budget": BudgetRules,
    "rate-limit": RateLimitRules,
    "llm": LlmRules,
    "content": ContentRules,
    "safety": SafetyRules,
    "kill-switch": KillSwitchRules,
    "context-management": ContextManagementRules,
    "scheduling": SchedulingRules,
    "quality": QualityRules,
    "tool-allowlist": ToolAllowlistRules,
    "network": NetworkRules,
    "domain-governance": DomainGovernanceRules,
    "mcp-server-allowlist": McpServerAllowlistRules,
    "prompt-allowlist": PromptAllowlistRules,
    "scope": ScopeRules,
    "recursion-bound": RecursionBoundRules,
    "delegation": DelegationRules,
    "output-egress-format": OutputEgressFormatRules,
    "input-validation": InputValidationRules,
    "retrieval": RetrievalRules,
    "memory": MemoryRules,
    "tool-argument-schema": ToolArgumentSchemaRules,
    "agent-service-account-scope": AgentServiceAccountScopeRules,
    "time-of-day-gating": TimeOfDayGatingRules,
    "chargeback-attribution": ChargebackAttributionRules,
    "operations": OperationsRules,
    "data-residency": DataResidencyRules,
    "code-execution": CodeExecutionRules,
    "provenance-required": ProvenanceRequiredRules,
    "prompt-injection-guard": PromptInjectionGuardRules,
    "approval": ApprovalRules,
}

AnyPolicy = Annotated[
    BudgetPolicy
    | RateLimitPolicy
    | LlmPolicy
    | ContentPolicy
    | SafetyPolicy
    | KillSwitchPolicy
    | ContextManagementPolicy
    | SchedulingPolicy
    | QualityPolicy
    | ToolAllowlistPolicy
    | NetworkPolicy
    | DomainGovernancePolicy
    | McpServerAllowlistPolicy
    | PromptAllowlistPolicy
    | ScopePolicy
    | RecursionBoundPolicy
    | DelegationPolicy
    | OutputEgressFormatPolicy
    | InputValidationPolicy
    | RetrievalPolicy
    | MemoryPolicy
    | ToolArgumentSchemaPolicy
    | AgentServiceAccountScopePolicy
    | TimeOfDayGatingPolicy
    | ChargebackAttributionPolicy
    | OperationsPolicy
    | DataResidencyPolicy
    | CodeExecutionPolicy
    | ProvenanceRequiredPolicy
    | PromptInjectionGuardPolicy
    | ApprovalPolicy,
    Field(discriminator="category"),
]
