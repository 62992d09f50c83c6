"""waxell-observe: observability and governance for AI agents.

Start with :func:`init` for zero-code capture, name runs with ``@observe``, and use
:class:`WaxellContext` for explicit control of a run's lifecycle. Runs go to an embedded
store (``~/.waxell/observe.db``) unless a control plane ``api_url`` is configured.
"""

from __future__ import annotations

# submodules the reference SDK makes attributes of the package (waxell_observe.reasoning is the
# module; waxell_observe.tool, .decision, ... are the functions)
from waxell_observe import approval as approval
from waxell_observe import cost as cost
from waxell_observe import decorator as decorator
from waxell_observe import instrumentors as instrumentors
from waxell_observe import reasoning as reasoning
from waxell_observe.approval import (
    auto_approve,
    auto_deny,
    extract_block_metadata,
    handle_policy_block,
    prompt_approval,
)
from waxell_observe.approval_control_plane import (
    approval_from_control_plane,
    async_approval_from_control_plane,
)
from waxell_observe.client import WaxellObserveClient
from waxell_observe.config import ObserveConfig
from waxell_observe.context import WaxellContext
from waxell_observe.convenience import (
    agent_response,
    decide,
    metadata,
    prompt_use,
    reason,
    retrieve,
    retry,
    score,
    step,
    tag,
    user_message,
)

# public but not in __all__, as in the reference SDK (its §1.10 names):
from waxell_observe.convenience import communication as communication
from waxell_observe.convenience import phase as phase
from waxell_observe.current import get_context, get_current_context
from waxell_observe.decorators import (
    decision,
    observe,
    reasoning_dec,
    retrieval,
    retry_dec,
    step_dec,
    tool,
    waxell_agent,
)
from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.diagnostics import diagnose
from waxell_observe.errors import (
    ConfigurationError,
    ObserveError,
    PolicyViolationError,
    PromptGuardError,
    PromptNotFoundError,
)
from waxell_observe.evaluation import (
    Dataset,
    DatasetItem,
    ExperimentResult,
    Score,
    aevaluate,
    create_dataset,
    evaluate,
    get_dataset,
    list_datasets,
)
from waxell_observe.gating import GateOutcome, gate_memory_delete, gate_tool
from waxell_observe.governance.results import PolicyCheckResult
from waxell_observe.human import HumanTurn
from waxell_observe.human_api import (
    approval_request,
    approval_response,
    human_interaction,
    human_turn,
    mark_resumed,
    observed_input,
    pause,
)
from waxell_observe.initialization import generate_session_id, init
from waxell_observe.lifecycle import flush, flush_sync, shutdown
from waxell_observe.plugins import hookimpl
from waxell_observe.propagation import ContextThreadPoolExecutor, wrap_context
from waxell_observe.redaction import redact
from waxell_observe.remember import recall, remember_episodic, remember_semantic
from waxell_observe.sessions import session
from waxell_observe.tracing import flush_tracing, init_tracing, is_tracing_enabled, shutdown_tracing
from waxell_observe.types import (
    ApprovalDecision,
    LlmCallInfo,
    PromptGuardResult,
    PromptInfo,
    RunCompleteResult,
    RunInfo,
)

__version__ = "0.1.0"

context = WaxellContext
"""The reference SDK's short name of :class:`WaxellContext` (the same class)."""

input = observed_input  # noqa: A001 - the reference SDK's name: waxell_observe.input(prompt)
"""The builtin ``input``, recorded as a timed human turn inside a run (:func:`observed_input`)."""

__all__ = [
    "__version__",
    "WaxellContext",
    "context",
    "session",
    "redact",
    "prompt_use",
    "diagnose",
    "init_tracing",
    "flush_tracing",
    "shutdown_tracing",
    "is_tracing_enabled",
    "WaxellObserveClient",
    "ObserveConfig",
    "PolicyCheckResult",
    "PolicyViolationError",
    "PromptGuardError",
    # types and errors (reference §1.9; the types also live in waxell_observe.types)
    "ObserveError",
    "ConfigurationError",
    "PromptNotFoundError",
    "RunInfo",
    "LlmCallInfo",
    "RunCompleteResult",
    "PromptGuardResult",
    "PromptInfo",
    "ApprovalDecision",
    # approvals and people in the loop (reference §1.5)
    "extract_block_metadata",
    "prompt_approval",
    "auto_approve",
    "auto_deny",
    "handle_policy_block",
    "approval_request",
    "approval_response",
    "pause",
    "mark_resumed",
    "human_turn",
    "human_interaction",
    "input",
    "approval_from_control_plane",
    "async_approval_from_control_plane",
    "HumanTurn",
    "DeliveryReport",
    "hookimpl",
    "flush",
    "flush_sync",
    "shutdown",
    "get_context",
    "get_current_context",
    # the top-level API: init(), @observe, behaviour decorators, convenience functions
    "init",
    "generate_session_id",
    "observe",
    "waxell_agent",
    "tool",
    "decision",
    "retrieval",
    "reasoning_dec",
    "retry_dec",
    "step_dec",
    "tag",
    "metadata",
    "score",
    "step",
    "decide",
    "reason",
    "retrieve",
    "retry",
    "user_message",
    "agent_response",
    # memory (reference §1.6)
    "remember_episodic",
    "remember_semantic",
    "recall",
    "gate_tool",
    "gate_memory_delete",
    "GateOutcome",
    "wrap_context",
    "ContextThreadPoolExecutor",
    # evaluations (docs/evaluations.md): datasets, experiments and their scores
    "Dataset",
    "DatasetItem",
    "create_dataset",
    "get_dataset",
    "list_datasets",
    "evaluate",
    "aevaluate",
    "ExperimentResult",
    "Score",
]
