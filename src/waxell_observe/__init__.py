"""waxell-observe: observability and governance for AI agents.

Start with :func:`init` for zero-code capture, name runs with ``@observe``, and use
:class:`WaxellContext` for explicit control of a run's lifecycle. Runs go to an embedded
store (``~/.waxell/observe.db``) unless a control plane ``api_url`` is configured.
"""

from __future__ import annotations

import importlib
import sys
import types as _types

TYPE_CHECKING = False
"""``typing.TYPE_CHECKING`` without importing :mod:`typing` (~8 ms, most of what importing this
package would cost); type checkers read any ``TYPE_CHECKING`` as true."""
if TYPE_CHECKING:
    from typing import Any

# submodules the reference SDK makes attributes of the package (waxell_observe.reasoning is the
# module; waxell_observe.tool, .decision, ... are the functions)
if TYPE_CHECKING:  # the names as type checkers and IDEs see them; at run time see _EXPORTS
    from waxell_observe import approval as approval
    from waxell_observe import client as client
    from waxell_observe import config as config
    from waxell_observe import cost as cost
    from waxell_observe import decorator as decorator
    from waxell_observe import errors as errors
    from waxell_observe import instrumentors as instrumentors
    from waxell_observe import llm as llm
    from waxell_observe import reasoning as reasoning
    from waxell_observe import tracing as tracing
    from waxell_observe import types as types
    from waxell_observe import utils as utils
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
    from waxell_observe.decorators.behaviour import (
        decision,
        reasoning_dec,
        retrieval,
        retry_dec,
        step_dec,
        tool,
    )
    from waxell_observe.decorators.observe import observe, waxell_agent
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
        add_online_evaluator,
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

if TYPE_CHECKING:
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
    "add_online_evaluator",
    "ExperimentResult",
    "Score",
]


_EXPORTS: dict[str, tuple[str, str]] = {
    "approval": ("waxell_observe.approval", ""),
    "client": ("waxell_observe.client", ""),
    "config": ("waxell_observe.config", ""),
    "cost": ("waxell_observe.cost", ""),
    "decorator": ("waxell_observe.decorator", ""),
    "errors": ("waxell_observe.errors", ""),
    "instrumentors": ("waxell_observe.instrumentors", ""),
    "llm": ("waxell_observe.llm", ""),
    "reasoning": ("waxell_observe.reasoning", ""),
    "tracing": ("waxell_observe.tracing", ""),
    "types": ("waxell_observe.types", ""),
    "utils": ("waxell_observe.utils", ""),
    "auto_approve": ("waxell_observe.approval", "auto_approve"),
    "auto_deny": ("waxell_observe.approval", "auto_deny"),
    "extract_block_metadata": ("waxell_observe.approval", "extract_block_metadata"),
    "handle_policy_block": ("waxell_observe.approval", "handle_policy_block"),
    "prompt_approval": ("waxell_observe.approval", "prompt_approval"),
    "approval_from_control_plane": ("waxell_observe.approval_control_plane", "approval_from_control_plane"),
    "async_approval_from_control_plane": (
        "waxell_observe.approval_control_plane",
        "async_approval_from_control_plane",
    ),
    "WaxellObserveClient": ("waxell_observe.client", "WaxellObserveClient"),
    "ObserveConfig": ("waxell_observe.config", "ObserveConfig"),
    "WaxellContext": ("waxell_observe.context", "WaxellContext"),
    "agent_response": ("waxell_observe.convenience", "agent_response"),
    "decide": ("waxell_observe.convenience", "decide"),
    "metadata": ("waxell_observe.convenience", "metadata"),
    "prompt_use": ("waxell_observe.convenience", "prompt_use"),
    "reason": ("waxell_observe.convenience", "reason"),
    "retrieve": ("waxell_observe.convenience", "retrieve"),
    "retry": ("waxell_observe.convenience", "retry"),
    "score": ("waxell_observe.convenience", "score"),
    "step": ("waxell_observe.convenience", "step"),
    "tag": ("waxell_observe.convenience", "tag"),
    "user_message": ("waxell_observe.convenience", "user_message"),
    "communication": ("waxell_observe.convenience", "communication"),
    "phase": ("waxell_observe.convenience", "phase"),
    "get_context": ("waxell_observe.current", "get_context"),
    "get_current_context": ("waxell_observe.current", "get_current_context"),
    "decision": ("waxell_observe.decorators", "decision"),
    "observe": ("waxell_observe.decorators", "observe"),
    "reasoning_dec": ("waxell_observe.decorators", "reasoning_dec"),
    "retrieval": ("waxell_observe.decorators", "retrieval"),
    "retry_dec": ("waxell_observe.decorators", "retry_dec"),
    "step_dec": ("waxell_observe.decorators", "step_dec"),
    "tool": ("waxell_observe.decorators", "tool"),
    "waxell_agent": ("waxell_observe.decorators", "waxell_agent"),
    "DeliveryReport": ("waxell_observe.delivery.report", "DeliveryReport"),
    "diagnose": ("waxell_observe.diagnostics", "diagnose"),
    "ConfigurationError": ("waxell_observe.errors", "ConfigurationError"),
    "ObserveError": ("waxell_observe.errors", "ObserveError"),
    "PolicyViolationError": ("waxell_observe.errors", "PolicyViolationError"),
    "PromptGuardError": ("waxell_observe.errors", "PromptGuardError"),
    "PromptNotFoundError": ("waxell_observe.errors", "PromptNotFoundError"),
    "Dataset": ("waxell_observe.evaluation", "Dataset"),
    "DatasetItem": ("waxell_observe.evaluation", "DatasetItem"),
    "ExperimentResult": ("waxell_observe.evaluation", "ExperimentResult"),
    "Score": ("waxell_observe.evaluation", "Score"),
    "aevaluate": ("waxell_observe.evaluation", "aevaluate"),
    "add_online_evaluator": ("waxell_observe.evaluation", "add_online_evaluator"),
    "create_dataset": ("waxell_observe.evaluation", "create_dataset"),
    "evaluate": ("waxell_observe.evaluation", "evaluate"),
    "get_dataset": ("waxell_observe.evaluation", "get_dataset"),
    "list_datasets": ("waxell_observe.evaluation", "list_datasets"),
    "GateOutcome": ("waxell_observe.gating", "GateOutcome"),
    "gate_memory_delete": ("waxell_observe.gating", "gate_memory_delete"),
    "gate_tool": ("waxell_observe.gating", "gate_tool"),
    "PolicyCheckResult": ("waxell_observe.governance.results", "PolicyCheckResult"),
    "HumanTurn": ("waxell_observe.human", "HumanTurn"),
    "approval_request": ("waxell_observe.human_api", "approval_request"),
    "approval_response": ("waxell_observe.human_api", "approval_response"),
    "human_interaction": ("waxell_observe.human_api", "human_interaction"),
    "human_turn": ("waxell_observe.human_api", "human_turn"),
    "mark_resumed": ("waxell_observe.human_api", "mark_resumed"),
    "observed_input": ("waxell_observe.human_api", "observed_input"),
    "pause": ("waxell_observe.human_api", "pause"),
    "generate_session_id": ("waxell_observe.initialization", "generate_session_id"),
    "init": ("waxell_observe.initialization", "init"),
    "flush": ("waxell_observe.lifecycle", "flush"),
    "flush_sync": ("waxell_observe.lifecycle", "flush_sync"),
    "shutdown": ("waxell_observe.lifecycle", "shutdown"),
    "hookimpl": ("waxell_observe.plugins", "hookimpl"),
    "ContextThreadPoolExecutor": ("waxell_observe.propagation", "ContextThreadPoolExecutor"),
    "wrap_context": ("waxell_observe.propagation", "wrap_context"),
    "redact": ("waxell_observe.redaction", "redact"),
    "recall": ("waxell_observe.remember", "recall"),
    "remember_episodic": ("waxell_observe.remember", "remember_episodic"),
    "remember_semantic": ("waxell_observe.remember", "remember_semantic"),
    "session": ("waxell_observe.sessions", "session"),
    "flush_tracing": ("waxell_observe.tracing", "flush_tracing"),
    "init_tracing": ("waxell_observe.tracing", "init_tracing"),
    "is_tracing_enabled": ("waxell_observe.tracing", "is_tracing_enabled"),
    "shutdown_tracing": ("waxell_observe.tracing", "shutdown_tracing"),
    "ApprovalDecision": ("waxell_observe.types", "ApprovalDecision"),
    "LlmCallInfo": ("waxell_observe.types", "LlmCallInfo"),
    "PromptGuardResult": ("waxell_observe.types", "PromptGuardResult"),
    "PromptInfo": ("waxell_observe.types", "PromptInfo"),
    "RunCompleteResult": ("waxell_observe.types", "RunCompleteResult"),
    "RunInfo": ("waxell_observe.types", "RunInfo"),
    "input": ("waxell_observe.human_api", "observed_input"),
}
"""Public name -> (module, attribute; ``""`` for the module itself), imported on first use.

``import waxell_observe`` imports none of them: a program pays for what it touches (``init()``
for one, ``WaxellContext`` for another). To add a public name, import it in the ``TYPE_CHECKING``
block above AND add it here (``tests/unit/test_import_cost.py`` checks both agree)."""


def _load(name: str) -> Any:
    """The public name ``name``, imported now (module ``__getattr__``, PEP 562)."""
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = target
    module = importlib.import_module(module_name)
    value = getattr(module, attribute) if attribute else module
    globals()[name] = value
    return value


if not TYPE_CHECKING:  # type checkers read the imports above instead
    __getattr__ = _load


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"context"})


class _Package(_types.ModuleType):
    """The package's module type: ``waxell_observe.context`` stays the :class:`WaxellContext` class
    even after the ``waxell_observe.context`` subpackage is imported (the import system would
    otherwise set the attribute to the subpackage)."""

    @property
    def context(self) -> Any:
        override = self.__dict__.get("_context_override")
        return override if override is not None else _load("WaxellContext")

    @context.setter
    def context(self, value: Any) -> None:
        if not isinstance(value, _types.ModuleType):  # the subpackage's import sets it: ignored
            self.__dict__["_context_override"] = value


sys.modules[__name__].__class__ = _Package
