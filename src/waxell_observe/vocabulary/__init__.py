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
    "INTERRUPTED_ERROR_TYPE",
    "PREVENTIVE_SURFACES",
    "PROVISIONAL_RUN_SOURCES",
    "RUN_SOURCE_OTEL",
    "RUN_SOURCE_OTLP",
    "RUN_SOURCE_SDK",
    "SURFACE_OF_PHASE",
    "INTEGRATION_SPAN_KINDS",
    "POLICY_ACTIONS",
    "POLICY_CATEGORIES",
    "POLICY_CATEGORY_ALIASES",
    "POLICY_CATEGORY_NAMES",
    "POLICY_CATEGORY_PHASES",
    "POLICY_PHASES",
    "RECORD_KINDS",
    "RUN_STATUSES",
    "SPAN_KINDS",
    "SPAN_KINDS_KEPT_OVER_CAP",
    "STATEFUL_POLICY_CATEGORIES",
    "PolicyCategory",
    "canonical_category",
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

RUN_SOURCE_SDK = "sdk"
"""A run's ``source`` when the SDK delivered it itself (its start and completion: the store's default)."""
RUN_SOURCE_OTLP = "otlp"
"""A run the OTLP receiver made from the SDK's run span (the SDK's own delivery had not arrived)."""
RUN_SOURCE_OTEL = "otel"
"""A run the OTLP receiver made from another application's trace (one run per trace)."""
PROVISIONAL_RUN_SOURCES: tuple[str, ...] = (RUN_SOURCE_OTLP, RUN_SOURCE_OTEL)
"""Sources of a run made from spans: the SDK's own start, when it arrives later, takes such a run over
(its inputs, session, user and the rest of the start) rather than being taken for a repeated start."""

INTERRUPTED_ERROR_TYPE = "Interrupted"
"""The ``error_type`` of a run the process's end interrupted: ``KeyboardInterrupt`` (Ctrl-C) through its
context, ``SIGTERM``, or interpreter exit with the run still open (status ``interrupted``)."""

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

SPAN_KINDS_KEPT_OVER_CAP: frozenset[str] = frozenset({"agent", "llm", "policy", "memory", "prompt"})
"""Span kinds a run keeps beyond its span cap (``WAXELL_MAX_SPANS_PER_RUN``), like error spans of any kind:
the reference's agent, llm, governance (our ``policy``), memory and prompt kinds."""

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
    """One category of policy: its name in policy files, where it is evaluated (phases, and gate
    surfaces of :data:`GATE_SURFACES` other than the three that are phases), whether evaluating it
    reads or writes usage counters kept in the store (budgets, rates, error rates), and a summary."""

    name: str
    phases: tuple[str, ...]
    stateful: bool
    summary: str


_PRE, _MID, _POST = POLICY_PHASES

POLICY_CATEGORIES: tuple[PolicyCategory, ...] = (
    PolicyCategory("budget", POLICY_PHASES, True, "token and cost limits per day, per run and per model"),
    PolicyCategory("rate-limit", (_PRE,), True, "runs per minute, hour and day; runs in flight"),
    PolicyCategory(
        "llm", ("llm.before", "llm.after", _MID), False, "allowed and blocked models, tokens per call"
    ),
    PolicyCategory(
        "content",
        (
            _PRE,
            "llm.before",
            "llm.after",
            "tool.before",
            "tool.after",
            _MID,
            "retrieval.after",
            "memory.write",
            "network.before",
            _POST,
            "run.error",
        ),
        False,
        "PII, credentials, prompt injection, patterns and phrases, lengths",
    ),
    PolicyCategory(
        "safety",
        ("llm.after", "tool.before", "tool.after", _MID, "run.error"),
        False,
        "steps, tool calls, blocked tools, retries, output length, content filters",
    ),
    PolicyCategory("kill-switch", (_PRE,), True, "a manual switch, or tripped by the error rate"),
    PolicyCategory("context-management", (_MID,), False, "conversation turns, context use, session length"),
    PolicyCategory(
        "scheduling", (_PRE,), False, "allowed hours and days, blackout dates, maintenance windows"
    ),
    PolicyCategory("quality", ("llm.after", _POST), False, "checks on the result, with retry feedback"),
    PolicyCategory("tool-allowlist", ("tool.before", _MID), False, "which tools may be called"),
    PolicyCategory("network", ("network.before",), False, "which hosts and protocols may be reached"),
    PolicyCategory(
        "domain-governance",
        ("tool.before", _MID, "network.before"),
        False,
        "hosts, business domains and their actions",
    ),
    PolicyCategory(
        "mcp-server-allowlist", ("tool.before", "mcp.before"), False, "which MCP servers may be used"
    ),
    PolicyCategory("prompt-allowlist", ("llm.before", _MID), False, "which managed prompts may be used"),
    PolicyCategory(
        "scope", ("tool.before", _MID), False, "tools, transaction amounts and records an agent may touch"
    ),
    PolicyCategory(
        "recursion-bound",
        ("llm.before", "tool.before", _MID, "spawn.before"),
        False,
        "reasoning depth, tool calls, delegation depth",
    ),
    PolicyCategory(
        "delegation", ("spawn.before",), False, "which sub-agents may be spawned, how many and how deep"
    ),
    PolicyCategory(
        "output-egress-format",
        ("llm.after", "tool.after", _MID, _POST, "run.error"),
        False,
        "data URIs, base64 blobs and external links in outputs",
    ),
    PolicyCategory("input-validation", (_PRE, "llm.before", "tool.before"), False, "size of the input"),
    PolicyCategory("retrieval", ("retrieval.after",), False, "relevance and number of retrieved chunks"),
    PolicyCategory(
        "memory",
        ("memory.read", "memory.write", "memory.delete"),
        False,
        "forbidden memory types, PII in memory, protected deletes",
    ),
    PolicyCategory(
        "tool-argument-schema", ("tool.before",), False, "tool arguments checked against JSON Schemas"
    ),
    PolicyCategory(
        "agent-service-account-scope",
        (_PRE, "tool.before"),
        False,
        "scopes a service account must hold",
    ),
    PolicyCategory(
        "time-of-day-gating",
        (_PRE, "llm.before", "tool.before"),
        False,
        "weekly time windows in a time zone",
    ),
    PolicyCategory("chargeback-attribution", (_PRE,), False, "billing tags a run must carry"),
    PolicyCategory("operations", (_PRE, _MID, _POST), False, "run timeouts, maintenance windows"),
    PolicyCategory(
        "data-residency",
        (_PRE, "llm.before", "tool.before", "memory.write", "network.before"),
        False,
        "the regions an agent may run in",
    ),
    PolicyCategory(
        "code-execution",
        (_PRE, "code.exec"),
        False,
        "languages, commands, paths and packages of executed code",
    ),
    PolicyCategory(
        "provenance-required",
        ("llm.after", "retrieval.after", _POST),
        False,
        "sources and citations behind answers",
    ),
    PolicyCategory(
        "prompt-injection-guard",
        (_PRE, "llm.before", "tool.before", "tool.after", _MID, "retrieval.after"),
        False,
        "jailbreak phrases, hidden payloads, oversized inputs",
    ),
    PolicyCategory(
        "approval",
        (_PRE, "tool.before"),
        False,
        "runs and tools a person must approve first (who, how long to wait)",
    ),
)
"""Every policy category, in the order of the policy format's documentation."""

POLICY_CATEGORY_NAMES: tuple[str, ...] = tuple(category.name for category in POLICY_CATEGORIES)
"""The category names, in table order."""

POLICY_CATEGORY_ALIASES: dict[str, str] = {
    "net": "network",
    "domain": "domain-governance",
    "rag": "retrieval",
}
"""Other names a policy file may give a category (the reference SDK's aliases)."""

POLICY_CATEGORY_PHASES: dict[str, frozenset[str]] = {c.name: frozenset(c.phases) for c in POLICY_CATEGORIES}
"""Where each category is evaluated (phases and gate surfaces); the evaluators take theirs from here."""


def canonical_category(name: str) -> str:
    """The category a policy file means: trimmed, lowercased, ``_`` read as ``-``, aliases resolved
    (``net`` -> ``network``). An unknown name comes back normalised, for the caller to reject."""
    key = name.strip().lower().replace("_", "-")
    return POLICY_CATEGORY_ALIASES.get(key, key)


STATEFUL_POLICY_CATEGORIES: frozenset[str] = frozenset(c.name for c in POLICY_CATEGORIES if c.stateful)
"""Categories whose evaluation reads or writes usage counters in the store."""


from waxell_observe.vocabulary.approvals import APPROVAL_STATUSES  # noqa: E402 - after the constants it extends


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
        "approval_statuses": list(APPROVAL_STATUSES),
    }
