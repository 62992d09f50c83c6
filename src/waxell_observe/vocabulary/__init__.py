"""The vocabulary of the contract: every name the SDK, the exporter, the receiver, the store, the CLI and
the dashboard must agree on, defined once.

* run statuses (:data:`RUN_STATUSES`), record kinds (:data:`RECORD_KINDS`), span kinds
  (:data:`SPAN_KINDS`), policy actions (:data:`POLICY_ACTIONS`) and phases (:data:`POLICY_PHASES`);
* the policy categories, one table (:data:`POLICY_CATEGORIES`): the policy models, the loader, the
  decider, the docs (a test checks them) and the dashboard (:func:`for_dashboard`) derive from it;
* :mod:`.attributes` — every ``waxell.*`` OpenTelemetry attribute name, written by the exporter
  (``plugins/otel``) and read back by the OTLP receiver;
* :mod:`.rows` — builders for the ``policy_decision`` audit row and the attributes of a policy span.

Plain constants and functions only: importing this package costs nothing and imports nothing.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, get_args

__all__ = [
    "AUDIT_POLICY_DECISION",
    "BEHAVIOUR_SPAN_KINDS",
    "FINAL_RUN_STATUSES",
    "FinalRunStatus",
    "GATE_SURFACES",
    "PREVENTIVE_SURFACES",
    "SURFACE_OF_PHASE",
    "INTEGRATION_SPAN_KINDS",
    "POLICY_ACTIONS",
    "POLICY_CATEGORIES",
    "POLICY_CATEGORY_NAMES",
    "POLICY_PHASES",
    "RECORD_KINDS",
    "RUN_STATUSES",
    "SPAN_KINDS",
    "STATEFUL_POLICY_CATEGORIES",
    "PolicyCategory",
    "for_dashboard",
]

# -- runs and records ---------------------------------------------------------------------------------

FinalRunStatus = Literal["success", "error", "blocked", "interrupted"]
"""The status of a completed run (what ``runs/{id}/complete/`` carries), as a type (the server's
request models use it)."""

FINAL_RUN_STATUSES: tuple[str, ...] = get_args(FinalRunStatus)
"""The statuses of a completed run."""

RUN_STATUSES: tuple[str, ...] = ("running", *FINAL_RUN_STATUSES)
"""Every status a run can have: ``running`` until it completes, then one of the others."""

RECORD_KINDS: tuple[str, ...] = ("run", "llm_call", "step", "span", "score")
"""What a run is made of: the run itself and its LLM calls, steps, spans and scores."""

BEHAVIOUR_SPAN_KINDS: tuple[str, ...] = (
    "tool",
    "retrieval",
    "decision",
    "reasoning",
    "retry",
    "policy",
    "io",
    "prompt",
    "memory",
)
"""Span kinds recorded by the API of record (``record_tool_call``, ..., ``record_policy_check``,
``user_message`` / ``agent_response``, ``record_prompt_use``, the memory reads and writes of
``record_memory_recall`` / ``remember_episodic`` / ``remember_semantic``)."""

INTEGRATION_SPAN_KINDS: tuple[str, ...] = ("llm", "chain", "agent", "custom")
"""Span kinds recorded by framework integrations (LangChain, LlamaIndex) and ``record_span``."""

SPAN_KINDS: tuple[str, ...] = BEHAVIOUR_SPAN_KINDS + INTEGRATION_SPAN_KINDS
"""Every span kind."""

# -- governance ---------------------------------------------------------------------------------------

POLICY_ACTIONS: tuple[str, ...] = ("allow", "skip", "warn", "redact", "retry", "throttle", "block")
"""Every action a policy can answer, in increasing severity: when several answer, the strictest wins."""

POLICY_PHASES: tuple[str, ...] = ("pre_execution", "mid_execution", "post_execution")
"""When policies are checked: on entry, during the run, on completion."""

GATE_SURFACES: tuple[str, ...] = (
    "run.start",
    "llm.before",
    "llm.after",
    "tool.before",
    "tool.after",
    "step.mid",
    "retrieval.after",
    "memory.read",
    "memory.write",
    "memory.delete",
    "network.before",
    "mcp.before",
    "spawn.before",
    "code.exec",
    "run.complete",
    "run.error",
)
"""The gate points (surfaces) where policies can be checked while an agent works, in the order an agent
meets them. Three of them are the phases: ``run.start`` = ``pre_execution``, ``step.mid`` =
``mid_execution``, ``run.complete`` = ``post_execution`` (:data:`SURFACE_OF_PHASE`)."""

PREVENTIVE_SURFACES: frozenset[str] = frozenset(
    {
        "run.start",
        "llm.before",
        "tool.before",
        "network.before",
        "mcp.before",
        "spawn.before",
        "memory.write",
        "memory.delete",
        "code.exec",
    }
)
"""Surfaces checked *before* the action happens: when governance cannot be reached and gates are
configured fail-closed, these refuse the action (the others always fail open)."""

SURFACE_OF_PHASE: dict[str, str] = {
    "pre_execution": "run.start",
    "mid_execution": "step.mid",
    "post_execution": "run.complete",
}
"""The surface that each policy phase is."""

AUDIT_POLICY_DECISION = "policy_decision"
"""The ``event`` of an audit row recording a policy's non-allow answer (see :mod:`.rows`)."""


class PolicyCategory(NamedTuple):
    """One category of policy: its name in policy files, the phases it is evaluated in, and whether
    evaluating it reads or writes usage counters kept in the store (budgets, rates, error rates)."""

    name: str
    phases: tuple[str, ...]
    stateful: bool
    summary: str


POLICY_CATEGORIES: tuple[PolicyCategory, ...] = (
    PolicyCategory("budget", POLICY_PHASES, True, "token and cost limits per day, per run and per model"),
    PolicyCategory("rate-limit", ("pre_execution",), True, "runs per minute, hour and day; runs in flight"),
    PolicyCategory("llm", ("mid_execution",), False, "allowed and blocked models, tokens per call"),
    PolicyCategory(
        "content", POLICY_PHASES, False, "PII, credentials, prompt injection, patterns and phrases, lengths"
    ),
    PolicyCategory("safety", ("mid_execution",), False, "steps, tool calls, blocked tools, retries"),
    PolicyCategory("kill-switch", ("pre_execution",), True, "a manual switch, or tripped by the error rate"),
    PolicyCategory(
        "context-management", ("mid_execution",), False, "conversation turns, context use, session length"
    ),
    PolicyCategory("scheduling", ("pre_execution",), False, "allowed hours and days, blackout dates"),
    PolicyCategory("quality", ("post_execution",), False, "checks on the result, with retry feedback"),
)
"""Every policy category, in the order of the policy format's documentation."""

POLICY_CATEGORY_NAMES: tuple[str, ...] = tuple(category.name for category in POLICY_CATEGORIES)
"""The category names, in table order."""

STATEFUL_POLICY_CATEGORIES: frozenset[str] = frozenset(c.name for c in POLICY_CATEGORIES if c.stateful)
"""Categories whose evaluation reads or writes usage counters in the store."""


def for_dashboard() -> dict[str, Any]:
    """What the dashboard needs from this vocabulary, as JSON-ready values (the server serves it,
    so the JavaScript keeps no copy of its own)."""
    return {
        "run_statuses": list(RUN_STATUSES),
        "span_kinds": list(SPAN_KINDS),
        "policy_actions": list(POLICY_ACTIONS),
        "policy_phases": list(POLICY_PHASES),
        "policy_categories": [
            {"name": c.name, "phases": list(c.phases), "stateful": c.stateful, "summary": c.summary}
            for c in POLICY_CATEGORIES
        ],
    }
