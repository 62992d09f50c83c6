"""Every ``waxell.*`` OpenTelemetry attribute name: written by the exporter (``plugins/otel``), read back
by the OTLP receiver of the control plane. GenAI semantic-convention names (``gen_ai.*``) are used where a
convention exists and are not listed here.

Every span carries :data:`RECORD` (one of ``run``, ``llm_call``, ``step``, ``span``), :data:`RUN_ID` and
:data:`AGENT_NAME`; records also :data:`RECORD_ID`, :data:`RECORD_POSITION` and :data:`PARENT_RECORD_ID`.
Scores are :data:`SCORE_EVENT` events on the run span.
"""

from __future__ import annotations

NAMESPACE = "waxell."
"""The prefix of every name below."""

# -- every span ---------------------------------------------------------------------------------------
RECORD = "waxell.record"
RUN_ID = "waxell.run_id"
AGENT_NAME = "waxell.agent.name"

# -- the run span -------------------------------------------------------------------------------------
WORKFLOW_NAME = "waxell.workflow.name"
INTERACTION_MODE = "waxell.interaction_mode"
SESSION_ID = "waxell.session_id"
USER_ID = "waxell.user_id"
USER_GROUP = "waxell.user_group"
PARENT_RUN_ID = "waxell.parent_run_id"
ROOT_RUN_ID = "waxell.root_run_id"
RUN_STATUS = "waxell.run.status"
RUN_COST_USD = "waxell.run.cost_usd"
RUN_LLM_CALL_COUNT = "waxell.run.llm_call_count"
RUN_STEP_COUNT = "waxell.run.step_count"
RUN_SPAN_COUNT = "waxell.run.span_count"
RUN_INPUTS = "waxell.run.inputs"
RUN_RESULT = "waxell.run.result"
CONVERSATION = "waxell.conversation"
GOVERNANCE_ACTION = "waxell.governance.action"
GOVERNANCE_REASON = "waxell.governance.reason"
GOVERNANCE_OVERHEAD_MS = "waxell.governance.overhead_ms"
"""Milliseconds the run spent in surface gates (all surfaces)."""
GOVERNANCE_GATE_CALLS = "waxell.governance.gate_calls"
"""Surface gates of the run that consulted policies."""
GOVERNANCE_SURFACE_PREFIX = "waxell.governance.surface."
"""``waxell.governance.surface.<surface_with_underscores>.ms|calls``: the gate time of one surface
(:func:`governance_surface_attribute`)."""
TAG_PREFIX = "waxell.tag."
"""``waxell.tag.<key>``: one attribute per tag."""
META_PREFIX = "waxell.meta."
"""``waxell.meta.<key>``: one attribute per metadata entry."""

# -- records ------------------------------------------------------------------------------------------
RECORD_ID = "waxell.record.id"
RECORD_POSITION = "waxell.record.position"
PARENT_RECORD_ID = "waxell.parent_record_id"

# -- LLM calls ----------------------------------------------------------------------------------------
LLM_PREFIX = "waxell.llm."
"""``waxell.llm.<key>``: the call's extra attributes (besides the names below)."""
LLM_COST_USD = "waxell.llm.cost_usd"
LLM_TASK = "waxell.llm.task"
LLM_STATUS = "waxell.llm.status"
LLM_PROMPT = "waxell.llm.prompt"
LLM_RESPONSE = "waxell.llm.response"
CONTEXT_MESSAGE_COUNT = "waxell.context.message_count"
CONTEXT_USER_TURNS = "waxell.context.user_turns"
CONTEXT_TOKENS_USED = "waxell.context.tokens_used"
CONTEXT_UTILIZATION_PCT = "waxell.context.utilization_pct"

# -- steps --------------------------------------------------------------------------------------------
STEP_NAME = "waxell.step.name"
STEP_OUTPUT = "waxell.step.output"

# -- spans (behaviours and framework spans) -----------------------------------------------------------
SPAN_KIND = "waxell.span.kind"
SPAN_NAME = "waxell.span.name"
SPAN_INPUT = "waxell.span.input"
SPAN_OUTPUT = "waxell.span.output"
SPAN_ERROR = "waxell.span.error"
PHASE = "waxell.phase"
"""The phase name on the ``phase:<name>`` span of ``waxell_observe.phase()``."""

# -- governance warnings (stamped on the current OpenTelemetry span) ---------------------------------
GOVERNANCE_WARN = "waxell.governance.warn"
"""``true`` on the OpenTelemetry span that was current when a policy answered ``warn``."""
GOVERNANCE_SURFACE = "waxell.governance.surface"
"""The gate surface (``tool.before``, ...) whose policy warned."""
GOVERNANCE_POLICY = "waxell.governance.policy"
"""The name of the policy that warned (with :data:`GOVERNANCE_REASON` for its reason)."""

# -- approval rounds (``policy`` spans of category ``approval``) ----------------------------------------
APPROVAL_PREFIX = "waxell.approval."
"""``waxell.approval.<name>``: an approval span's ``approval.<name>`` attributes (``reason``,
``action_type``, ``phase``, ``approver``, ``elapsed_seconds``); its ``action`` and ``category`` are
``waxell.policy.action`` / ``waxell.policy.category`` like any policy span's."""
APPROVAL_REASON = "waxell.approval.reason"
APPROVAL_ACTION_TYPE = "waxell.approval.action_type"
APPROVAL_PHASE = "waxell.approval.phase"
APPROVAL_APPROVER = "waxell.approval.approver"
APPROVAL_ELAPSED_SECONDS = "waxell.approval.elapsed_seconds"


def governance_surface_attribute(surface: str, what: str) -> str:
    """``waxell.governance.surface.tool_before.ms`` for ``("tool.before", "ms")`` (``what``: ms, calls)."""
    return f"{GOVERNANCE_SURFACE_PREFIX}{surface.replace('.', '_')}.{what}"


def span_attribute_prefix(kind: str) -> str:
    """``waxell.<kind>.``: the prefix of a span's recorded attributes (``waxell.tool.tool_type``, ...)."""
    return f"{NAMESPACE}{kind}."


# -- scores -------------------------------------------------------------------------------------------
SCORE_EVENT = "waxell.score"
"""The name of the event a score becomes on the run span."""
SCORE_PREFIX = "waxell.score."
"""``waxell.score.<name>``: on the run span, the value of each score (the event has the details)."""
SCORE_ID = "waxell.score.id"
SCORE_NAME = "waxell.score.name"
SCORE_VALUE = "waxell.score.value"
SCORE_DATA_TYPE = "waxell.score.data_type"
SCORE_COMMENT = "waxell.score.comment"

# -- memory (attributes of ``memory`` spans: reads by ``record_memory_recall``, writes by
# ``remember_episodic`` / ``remember_semantic``) -------------------------------------------------------
MEMORY_OPERATION = "waxell.memory.operation"
"""``read`` or ``write``."""
MEMORY_TIER = "waxell.memory.tier"
"""``episodic``, ``semantic``, or the tier the caller names."""
MEMORY_STORE = "waxell.memory.store"
MEMORY_HIT = "waxell.memory.hit"
MEMORY_RECALL_RESULTS_COUNT = "waxell.memory.recall_results_count"
MEMORY_RECALL_TOP_SCORE = "waxell.memory.recall_top_score"
MEMORY_SLOT_NAME = "waxell.memory.slot_name"
MEMORY_SCOPE_KEY = "waxell.memory.scope_key"

# -- code execution (attributes of the ``tool`` span ``code_exec:<language>``) ------------------------
CODE_LANGUAGE = "waxell.code.language"
CODE_LENGTH = "waxell.code.length"
CODE_PREVIEW = "waxell.code.preview"
CODE_OUTPUT_PREVIEW = "waxell.code.output_preview"
CODE_ERROR = "waxell.code.error"
