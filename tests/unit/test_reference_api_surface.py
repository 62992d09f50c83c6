"""The reference SDK's public surface (``/work/shared/spec/reference-api.md``, waxell-observe 0.1.10),
encoded as data and compared with ours name by name and parameter by parameter (issue 14).

Each entry gives the reference signature as Python text (without annotations) and the kind of the
object. For every parameter of the reference: ours has the same name; a positional parameter sits at
the same position (so positional calls written for the reference bind the same way); a keyword-only
one may be keyword-only or positional-or-keyword in ours; the default is equal (a required one stays
required). Parameters we add must come after the reference's positional ones and have a default, so
no call written for the reference changes meaning. ``*_sync`` client twins take keyword arguments only.

Where the seed pages (``/work/shared/seeds``, the contract of record) or the project's design say
otherwise, the entry says so in ``DEVIATIONS``; the test checks the deviation is exactly the one
described (it fails when it disappears, too).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import subprocess
import sys
import types as _types
from collections.abc import Callable
from typing import Any

import pytest

import waxell_observe
from waxell_observe import WaxellContext, WaxellObserveClient

FUNCTION, COROUTINE, CLASS, CONTEXT_MANAGER, EXCEPTION, DATACLASS = (
    "function",
    "coroutine",
    "class",
    "context manager",
    "exception",
    "dataclass",
)

# -- §1: the 67 names of the reference's __all__, and §1.10's public attributes ----------------------

TOP_LEVEL: dict[str, tuple[str, str | None]] = {
    # §1.1
    "init": (
        FUNCTION,
        "(api_key='', api_url='', agent_name='', workflow_name='', capture_content=None, instrument=None,"
        " exclude=None, instrument_infra=True, infra_libraries=None, infra_exclude=None,"
        " resource_attributes=None, debug=False, prompt_guard=False, prompt_guard_server=False,"
        " prompt_guard_action='block', interaction_mode=None, on_policy_block=None)",
    ),
    "shutdown": (FUNCTION, "()"),
    "flush": (COROUTINE, "()"),
    "flush_sync": (FUNCTION, "()"),
    "diagnose": (FUNCTION, "()"),
    "get_context": (FUNCTION, "()"),
    "WaxellObserveClient": (CLASS, "(api_url=None, api_key=None, prompt_cache_ttl=None)"),
    "ObserveConfig": (DATACLASS, None),
    # §1.2
    "WaxellContext": (CLASS, None),  # constructor checked below (seed order)
    "context": (CLASS, None),
    # The spec names HumanTurn's parameters in order without defaults; ctx.human_turn's defaults (§2.5).
    "HumanTurn": (CLASS, "(ctx, prompt='', channel='terminal', action='', metadata=None)"),
    "session": (CONTEXT_MANAGER, "(session_id='', user_id='')"),
    "generate_session_id": (FUNCTION, "()"),
    # §1.3
    "waxell_agent": (FUNCTION, None),  # = observe, §5.2 below
    "observe": (
        FUNCTION,
        "(agent_name=None, workflow_name='default', enforce_policy=True, capture_io=True, session_id='',"
        " user_id='', user_group='', end_user_id='', client=None, mid_execution_governance=False,"
        " auto_grounding=False, on_policy_block=None)",
    ),
    "tool": (FUNCTION, "(name=None, tool_type='function')"),
    "decision": (FUNCTION, "(name=None, options=None)"),
    "retrieval": (FUNCTION, "(source='', name=None)"),
    "reasoning_dec": (FUNCTION, "(step=None)"),
    "retry_dec": (FUNCTION, "(max_attempts=3, strategy='retry', fallback_to='')"),
    "step_dec": (FUNCTION, "(name=None)"),
    # §1.4
    "score": (FUNCTION, "(name, value, data_type='numeric', comment='')"),
    "tag": (FUNCTION, "(key, value)"),
    "metadata": (FUNCTION, "(key, value)"),
    "step": (FUNCTION, "(name, output=None)"),
    "decide": (FUNCTION, "(name, chosen, options=None, reasoning='', confidence=None)"),
    "reason": (FUNCTION, "(step, thought, evidence=None, conclusion='')"),
    "retrieve": (FUNCTION, "(query, documents, source='', scores=None)"),
    "retry": (FUNCTION, "(attempt, reason, strategy='retry', original_error='', fallback_to='')"),
    "user_message": (FUNCTION, "(content, *, metadata=None)"),
    "agent_response": (FUNCTION, "(content, *, metadata=None)"),
    "redact": (FUNCTION, "(value)"),
    # §1.5
    "ApprovalDecision": (DATACLASS, "(approved, approver='', timed_out=False, elapsed_seconds=None)"),
    "extract_block_metadata": (FUNCTION, "(error)"),
    "prompt_approval": (FUNCTION, "(error)"),
    "auto_approve": (FUNCTION, "(error)"),
    "auto_deny": (FUNCTION, "(error)"),
    "handle_policy_block": (COROUTINE, "(handler, error)"),
    "approval_request": (
        FUNCTION,
        "(action_type, approvers=None, timeout_minutes=None, reason='', metadata=None)",
    ),
    "approval_response": (
        FUNCTION,
        "(action_type, decision, approver='', elapsed_seconds=None, metadata=None)",
    ),
    "pause": (CONTEXT_MANAGER, "(reason='awaiting_user', **metadata)"),
    "mark_resumed": (FUNCTION, "(from_run_id='', payload=None)"),
    "human_turn": (FUNCTION, "(prompt='', channel='terminal', action='', metadata=None)"),
    "human_interaction": (
        FUNCTION,
        "(prompt='', response='', channel='terminal', action='', elapsed_seconds=None, metadata=None)",
    ),
    "input": (FUNCTION, "(prompt='', *, action='input')"),
    "gate_tool": (FUNCTION, "(tool_name, tool_args=None)"),
    "gate_memory_delete": (FUNCTION, "(*, ids=None, query='', store='')"),
    # §1.6
    "remember_episodic": (FUNCTION, "(slot_name, data, **kwargs)"),
    "remember_semantic": (FUNCTION, "(slot_name, content, **kwargs)"),
    "recall": (
        FUNCTION,
        "(query='', *, tier='episodic', store='', results_count=0, top_score=None, slot_name='',"
        " results=None)",
    ),
    # §1.7
    "PromptInfo": (
        DATACLASS,
        "(name, version, prompt_type, content, config={}, labels=[], content_hash='')",
    ),
    "prompt_use": (FUNCTION, "(name, version=0, label='', content_hash='')"),
    "PromptNotFoundError": (EXCEPTION, "(name, label='', version=0, status_code=None, detail='')"),
    # §1.8
    "init_tracing": (
        FUNCTION,
        "(api_url=None, api_key=None, otel_endpoint=None, tenant_id=None, debug=None, capture_content=None,"
        " shutdown_on_exit=True, resource_attributes=None)",
    ),
    "flush_tracing": (FUNCTION, "(timeout_millis=30000)"),
    "shutdown_tracing": (FUNCTION, "()"),
    "is_tracing_enabled": (FUNCTION, "()"),
    # §1.9
    "RunInfo": (DATACLASS, "(run_id, workflow_id, started_at)"),
    "LlmCallInfo": (
        DATACLASS,
        "(model, tokens_in, tokens_out, cost=0.0, task='', prompt_preview='', response_preview='')",
    ),
    "RunCompleteResult": (
        DATACLASS,
        "(run_id, duration=None, governance_action='allow', governance_reason='', retry_feedback='',"
        " max_retries=0)",
    ),
    "PolicyCheckResult": (
        DATACLASS,
        "(action, reason='', metadata={}, evaluations=[], redacted_inputs=None)",
    ),
    "PromptGuardResult": (
        DATACLASS,
        "(passed, action='allow', violations=[], source='local', redacted_messages=None)",
    ),
    "ObserveError": (EXCEPTION, None),
    "PolicyViolationError": (EXCEPTION, "(message, policy_result=None)"),
    "ConfigurationError": (EXCEPTION, None),
    "PromptGuardError": (EXCEPTION, "(result)"),
}

PUBLIC_ATTRIBUTES: dict[str, tuple[str, str | None]] = {  # §1.10, not in __all__
    "get_current_context": (FUNCTION, "()"),
    "communication": (FUNCTION, "(*, channel, recipient='', body='', subject='', metadata=None)"),
    "observed_input": (FUNCTION, "(prompt='', *, action='input')"),
    "phase": (CONTEXT_MANAGER, "(name, **attributes)"),
}

SUBMODULES = (
    "approval",
    "client",
    "config",
    "cost",
    "decorator",
    "errors",
    "instrumentors",
    "reasoning",
    "tracing",
    "types",
    "utils",
    "llm",
)

# -- §2: WaxellContext ---------------------------------------------------------------------------------

CONTEXT_METHODS: dict[str, tuple[str, str]] = {
    "record_llm_call": (
        FUNCTION,
        "(self, *, model, tokens_in, tokens_out, cost=0.0, task='', prompt_preview='', response_preview='',"
        " duration_ms=None, provider='', framework='', prompt_hash='', full_messages=None,"
        " full_response=None, config=None, prompt_variables=None, is_streaming=False, ttft_ms=None,"
        " chunk_count=None, status='ok', error_type='', error_message='', _auto_instrumented=False)",
    ),
    "record_step": (FUNCTION, "(self, step_name, output=None, *, kind='chain', attributes=None)"),
    "record_score": (FUNCTION, "(self, name, value, data_type='numeric', comment='')"),
    "set_tag": (FUNCTION, "(self, key, value)"),
    "set_metadata": (FUNCTION, "(self, key, value)"),
    "set_result": (FUNCTION, "(self, result)"),
    "check_policy": (COROUTINE, "(self)"),
    "check_policy_sync": (FUNCTION, "(self)"),
    "record_tool_call": (
        FUNCTION,
        "(self, *, name, input='', output='', duration_ms=None, status='ok', tool_type='function', error='',"
        " _skip_otel=False, _skip_step=False, _skip_gate=False, _skip_flush=False)",
    ),
    "record_retrieval": (
        FUNCTION,
        "(self, *, query, documents, source='', duration_ms=None, top_k=None, scores=None)",
    ),
    "record_decision": (
        FUNCTION,
        "(self, *, name, options, chosen, reasoning='', confidence=None, metadata=None,"
        " instrumentation_type='manual')",
    ),
    "record_reasoning": (FUNCTION, "(self, *, step, thought, evidence=None, conclusion='')"),
    "record_retry": (
        FUNCTION,
        "(self, *, attempt, reason, strategy='retry', original_error='', fallback_to='', max_attempts=None)",
    ),
    "record_policy_check": (
        FUNCTION,
        "(self, *, policy_name, action, category='', reason='', duration_ms=0.0, phase='pre_execution',"
        " priority=100)",
    ),
    "record_user_message": (FUNCTION, "(self, content='', *, message='', metadata=None)"),
    "record_agent_response": (FUNCTION, "(self, content, *, metadata=None)"),
    "update_conversation_state": (
        FUNCTION,
        "(self, *, user_turns, message_count, assistant_turns=0, tool_results=0, tokens_in_context=0,"
        " context_utilization_pct=0.0, system_prompt_hash='')",
    ),
    "aflush_governance": (COROUTINE, "(self)"),
    "check_governance": (COROUTINE, "(self)"),
    "check_tool_before_execution": (FUNCTION, "(self, tool_name)"),
    "enter_span": (FUNCTION, "(self, name, *, kind='custom', attributes=None, input_data=None)"),
    "exit_span": (FUNCTION, "(self, handle, *, output_data=None, status='ok', error='', exc=None)"),
    "take_feedback": (FUNCTION, "(self)"),
    "feedback_text": (FUNCTION, "(self)"),
    "should_stop": (FUNCTION, "(self)"),
    "request_stop": (FUNCTION, "(self, reason='')"),
    "flush": (COROUTINE, "(self)"),
    "flush_sync": (FUNCTION, "(self)"),
    "human_turn": (FUNCTION, "(self, prompt='', channel='terminal', action='', metadata=None)"),
    "input": (FUNCTION, "(self, prompt='', *, action='input')"),
    "pause": (CONTEXT_MANAGER, "(self, reason='awaiting_user', **metadata)"),
    "mark_resumed": (FUNCTION, "(self, *, from_run_id='', payload=None)"),
    "record_human_interaction": (
        FUNCTION,
        "(self, prompt='', response='', channel='terminal', action='', elapsed_ms=None, metadata=None)",
    ),
    "record_approval_request": (
        FUNCTION,
        "(self, *, action_type, approvers=None, timeout_minutes=None, reason='', metadata=None)",
    ),
    "record_approval_response": (
        FUNCTION,
        "(self, *, action_type, decision, approver='', elapsed_seconds=None, metadata=None)",
    ),
    "record_code_execution": (
        FUNCTION,
        "(self, *, language, code, execution_time=0.0, output_size_kb=0, output='', error='', paths=None,"
        " packages=None, _skip_otel=False)",
    ),
    "record_communication": (
        FUNCTION,
        "(self, *, channel, recipient='', body='', subject='', metadata=None, _skip_otel=False)",
    ),
    "record_data_access": (FUNCTION, "(self, *, source, operation='read', records=0)"),
    "record_network_request": (FUNCTION, "(self, *, url)"),
    "record_scope_impact": (
        FUNCTION,
        "(self, *, records_modified=0, records_deleted=0, files_changed=0, transaction_total=0.0,"
        " api_writes=0)",
    ),
    "record_grounding": (
        FUNCTION,
        "(self, *, grounding_scores=None, citations=None, unsupported_claims=None, output_confidence=None)",
    ),
    "record_retrieval_result": (
        FUNCTION,
        "(self, *, relevance_score=0.0, source='', collection='', age_days=0)",
    ),
    "record_bias_flag": (FUNCTION, "(self, *, flag)"),
    "record_delegation": (
        FUNCTION,
        "(self, *, delegate, depth=1, approved=True, policies_inherited=True)",
    ),
    "set_privacy_context": (FUNCTION, "(self, *, consent_token='', execution_region='', data_purpose='')"),
    "record_intermediate_output": (FUNCTION, "(self, *, output)"),
    "set_output_text": (FUNCTION, "(self, *, text)"),
    "set_memory_state": (
        FUNCTION,
        "(self, *, memory_items=None, cross_session_loaded=False, memory_item_count=0)",
    ),
    "record_memory_write": (
        FUNCTION,
        "(self, *, memory_type, content='', slot_name='', scope_key='', data=None)",
    ),
    "record_memory_recall": (
        FUNCTION,
        "(self, *, query='', tier='episodic', store='', results_count=0, top_score=None, slot_name='',"
        " results=None)",
    ),
    "remember_episodic": (
        FUNCTION,
        "(self, *, slot_name, data, scope_key=None, ttl_seconds=86400, max_items=None, memory_type=None)",
    ),
    "remember_semantic": (
        FUNCTION,
        "(self, *, slot_name, content, scope_key=None, importance=0.7, tags=None, fact_key=None,"
        " source_tool='', content_embedding=None)",
    ),
    "record_prompt_use": (FUNCTION, "(self, *, name, version=0, label='', content_hash='')"),
    "set_prompt_name": (FUNCTION, "(self, name)"),
    "record_breach_signal": (FUNCTION, "(self, *, signal, event_at='')"),
    "record_erasure_request": (FUNCTION, "(self, *, subject_id, requested_at='')"),
    "record_domain_intent": (FUNCTION, "(self, *, domain_name, action_name)"),
    "record_emitted_signal": (FUNCTION, "(self, *, signal_name)"),
    "record_pending_action": (FUNCTION, "(self, *, kind, tool, args=None)"),
}

CONTEXT_PROPERTIES = ("run_id", "conversation_turns", "message_count", "context_utilization", "stop_reason")
CONTEXT_ATTRIBUTES = (
    "agent_name",
    "workflow_name",
    "inputs",
    "metadata",
    "client",
    "enforce_policy",
    "session_id",
    "user_id",
    "user_group",
    "agent_type",
    "interaction_mode",
)

# The seed's constructor table (context-manager.txt) orders the first ten parameters and puts
# mid_execution_governance (default False) right after user_group: the seed wins over the spec's
# order (end_user_id, agent_type, mid_execution_governance=None, ...), so the spec's later parameters
# are keyword arguments here.
CONTEXT_CONSTRUCTOR = (
    "(self, agent_name, workflow_name='default', inputs=None, metadata=None, client=None,"
    " enforce_policy=True, session_id='', user_id='', user_group='', mid_execution_governance=False, *,"
    " end_user_id='', agent_type='', auto_grounding=False, interaction_mode=None, on_policy_block=None)"
)

# -- §3: WaxellObserveClient ------------------------------------------------------------------------------

# Un-suffixed coroutines; every one has a blocking ``<name>_sync(**kwargs)`` twin.
CLIENT_COROUTINES: dict[str, str] = {
    "start_run": (
        "(self, agent_name, workflow_name='default', inputs=None, metadata=None, trace_id='', user_id='',"
        " user_group='', session_id='', parent_workflow_id='', root_workflow_id='',"
        " pre_execution_evaluations=None, agent_slug='', agent_id='', interaction_mode='')"
    ),
    "complete_run": (
        "(self, run_id, result=None, status='success', error='', error_type='', traceback='', steps=None,"
        " trace_id='', root_span_id='', conversation_state=None)"
    ),
    "record_llm_calls": "(self, run_id, calls, conversation_state=None)",
    "record_steps": "(self, run_id, steps, conversation_state=None)",
    "record_scores": "(self, run_id, scores)",
    "record_spans": "(self, run_id, spans)",
    "check_policy": (
        "(self, agent_name, workflow_name='', agent_id='', inputs=None, user_id='', user_group='',"
        " agent_type='', delegation=None)"
    ),
    "get_policy_manifest": "(self, agent_name, workflow_name='', agent_id='', user_group='')",
    "record_governance_decisions": "(self, agent_name, surface, decisions, workflow_id='', span_only=False)",
    "record_events": "(self, events)",
    "prompt_guard": "(self, text, agent_name='', model='')",
    "get_prompt": "(self, name, *, label='', version=0, use_cache=True)",
    "start_daily_run": "(self, agent_slug, agent_type='mcp', date=None)",
    "write_episodic_memory": (
        "(self, *, run_id, slot_name, scope_key, data, memory_type=None, ttl_seconds=None, max_items=None)"
    ),
    "write_semantic_fact": (
        "(self, *, run_id, slot_name, scope_key, content, content_embedding, importance=0.7, tags=None,"
        " fact_key=None, source_tool='', metadata=None)"
    ),
}

CLIENT_OTHER: dict[str, tuple[str, str]] = {
    "check_policy_surface_sync": (
        FUNCTION,
        "(self, agent_name, workflow_name='', user_group='', *, surface, signal=None, categories=None,"
        " policies=None, workflow_id='')",
    ),
    "prompt_guard_gate_sync": (FUNCTION, "(self, text, model='')"),
    "invalidate_prompt_cache": (FUNCTION, "(self, name='')"),
    "publish_partial_output": (
        FUNCTION,
        "(self, *, run_id, partial, chunk_count=None, model='', done=False)",
    ),
    "close": (COROUTINE, "(self)"),
}

CLIENT_CLASSMETHODS: dict[str, str] = {
    "configure": "(api_url, api_key)",
    "get_config": "()",
    "is_configured": "()",
    "reset_connection_breaker": "()",
}

# -- §5.3 and §6 ---------------------------------------------------------------------------------------------

OBSERVE_CONFIG_FIELDS = {
    "api_url": "",
    "api_key": "",
    "agent_slug": "",
    "agent_external_id": "",
    "otel_endpoint": "",
    "debug": False,
    "capture_content": True,
    "prompt_guard": False,
    "prompt_guard_server": False,
    "prompt_guard_action": "block",
    "instrument_infra": True,
    "infra_exclude": "",
    "interaction_mode": "auto",
}

SEMI_PUBLIC: dict[str, dict[str, tuple[str, str | None]]] = {
    "waxell_observe.instrumentors._guard": {
        "configure": (FUNCTION, "(enabled=False, server=False, action='block')"),
        "check_prompt": (FUNCTION, "(messages, model='', system='')"),
        "PromptGuardError": (EXCEPTION, "(result)"),
        "fold_confusables": (FUNCTION, "(text)"),
    },
    "waxell_observe.instrumentors._collector": {},  # the singleton, checked below
    "waxell_observe.types": {
        "RunInfo": (DATACLASS, "(run_id, workflow_id, started_at)"),
        "DailyRunInfo": (DATACLASS, "(run_id, workflow_id, started_at, date, created)"),
        "PolicyCheckResult": (DATACLASS, None),
        "RunCompleteResult": (DATACLASS, None),
        "LlmCallInfo": (DATACLASS, None),
        "PromptInfo": (DATACLASS, None),
        "ApprovalDecision": (DATACLASS, None),
        "PromptGuardResult": (DATACLASS, None),
        "CompiledPromptText": (CLASS, "(value, template_hash='')"),
        "CompiledPromptList": (CLASS, None),
    },
    "waxell_observe.errors": {
        "ObserveError": (EXCEPTION, None),
        "PolicyViolationError": (EXCEPTION, None),
        "ConfigurationError": (EXCEPTION, None),
        "PromptNotFoundError": (EXCEPTION, None),
        "PromptGuardError": (EXCEPTION, None),
    },
    "waxell_observe.instrumentors": {
        "instrument_all": (FUNCTION, "(libraries=None, exclude=None)"),
        "uninstrument_all": (FUNCTION, "()"),
        "detect_installed_libraries": (FUNCTION, "()"),
        "BaseInstrumentor": (CLASS, None),  # methods below
    },
    # The spec gives WaxellPolicyDenied's signature and only the names of the rest (ours: docs/observe.md).
    "waxell_observe.decisions": {
        "WaxellPolicyDenied": (EXCEPTION, "(reason='', *, category='', policy='', surface='')"),
        "evaluate_decision": (FUNCTION, None),
        "UnifiedDecisionResult": (DATACLASS, None),
        "is_unified_decisions_enabled": (FUNCTION, "()"),
    },
    "waxell_observe.mcp": {
        "GovernanceMiddleware": (CLASS, None),
        "governance": (FUNCTION, None),
        "ToolGovernanceConfig": (DATACLASS, None),
        "MiddlewareConfig": (DATACLASS, None),
    },
    "waxell_observe.approval": {
        "handle_policy_block_sync": (FUNCTION, "(handler, error)"),
    },
    "waxell_observe.cost": {
        "estimate_cost": (FUNCTION, "(model, tokens_in, tokens_out, provider='')"),
        "estimate_embedding_cost": (FUNCTION, "(model, tokens, provider='')"),
    },
}

# Where ours differs from the spec on purpose. Key: "<owner>.<name>"; value: (what differs, why).
DEVIATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "WaxellObserveClient.configure": (
        (
            "WaxellObserveClient.configure: api_url: required in the reference, default None",
            "WaxellObserveClient.configure: api_key: required in the reference, default None",
        ),
        "ours sets the whole process configuration (otlp_endpoint, db, ...) through configure(**options);"
        " a call written for the reference (both arguments) means the same.",
    ),
    "PolicyCheckResult.action": (
        ("waxell_observe.PolicyCheckResult: action: required in the reference, default 'allow'",),
        "an empty answer (no policy) is an allow; PolicyCheckResult(action=...) means the same.",
    ),
    "ObserveConfig.capture_content": (
        ("ObserveConfig.capture_content: default False in ours, True in the reference",),
        "project design (DESIGN.md § Style: content is private by default; previews only unless"
        " capture_content is on). The reference captures content unless WAXELL_CAPTURE_CONTENT is off.",
    ),
}
_EXPLAINED = {line for lines, _why in DEVIATIONS.values() for line in lines}


def _unexplained(problems: list[str]) -> list[str]:
    return [p for p in problems if p not in _EXPLAINED]


# -- comparison ---------------------------------------------------------------------------------


def _spec_signature(text: str) -> inspect.Signature:
    namespace: dict[str, Any] = {}
    exec(f"def spec{text}: pass", namespace)  # noqa: S102 - the spec's own signature text, above
    return inspect.signature(namespace["spec"])


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def signature_mismatches(ours: inspect.Signature, spec_text: str) -> list[str]:
    """Every way ``ours`` fails to accept the calls the reference's signature accepts, as it means them."""
    spec_params = list(_spec_signature(spec_text).parameters.values())
    ours_params = list(ours.parameters.values())
    problems: list[str] = []
    for index, want in enumerate(spec_params):
        problems += _parameter_mismatches(index, want, ours_params)
    spec_names = {p.name for p in spec_params}
    spec_positional = sum(p.kind in _POSITIONAL for p in spec_params)
    for index, extra in enumerate(ours_params):
        if extra.name in spec_names or extra.kind in _VARIADIC:
            continue
        if extra.default is inspect.Parameter.empty:
            problems.append(f"{extra.name}: ours requires a parameter the reference does not have")
        if extra.kind in _POSITIONAL and index < spec_positional:
            problems.append(f"{extra.name}: ours puts an extra positional parameter at {index}")
    return problems


_VARIADIC = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)


def _parameter_mismatches(index: int, want: inspect.Parameter, ours: list[inspect.Parameter]) -> list[str]:
    if want.kind in _VARIADIC:
        if any(p.kind is want.kind for p in ours):
            return []
        return [f"{want}: ours has no {want.kind.description} parameter"]
    have = next((p for p in ours if p.name == want.name), None)
    if have is None:
        return [f"{want.name}: missing"]
    problems = []
    if want.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
        if have.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            problems.append(f"{want.name}: positional-or-keyword in the reference, {have.kind.description}")
        elif ours.index(have) != index:
            problems.append(f"{want.name}: position {index} in the reference, {ours.index(have)}")
    elif have.kind not in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        problems.append(f"{want.name}: keyword-only in the reference, {have.kind.description}")
    empty = inspect.Parameter.empty
    if want.default is empty and have.default is not empty:
        problems.append(f"{want.name}: required in the reference, default {have.default!r}")
    elif want.default is not empty and have.default is empty:
        problems.append(f"{want.name}: default {want.default!r} in the reference, required")
    elif want.default is not empty and not _same_default(want.default, have.default):
        problems.append(f"{want.name}: default {want.default!r} in the reference, {have.default!r}")
    return problems


def _same_default(want: Any, have: Any) -> bool:
    if isinstance(want, float) and isinstance(have, int) and not isinstance(have, bool):
        return bool(have == want)  # 0 for 0.0
    return type(want) is type(have) and bool(want == have)


def _kind_of(obj: Any) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return EXCEPTION
        return DATACLASS if dataclasses.is_dataclass(obj) else CLASS
    if inspect.iscoroutinefunction(obj):
        return COROUTINE
    wrapped = inspect.unwrap(obj)
    if hasattr(obj, "__wrapped__") and inspect.isgeneratorfunction(wrapped):
        return CONTEXT_MANAGER  # @contextlib.contextmanager
    return FUNCTION


def _kind_matches(want: str, obj: Any) -> bool:
    have = _kind_of(obj)
    if want == CLASS:
        return have in (CLASS, DATACLASS)
    return have == want


def _check(owner: str, name: str, obj: Any, kind: str, text: str | None) -> list[str]:
    problems = []
    if not _kind_matches(kind, obj):
        problems.append(f"{owner}.{name}: a {kind} in the reference, ours is a {_kind_of(obj)}")
    if text is not None:
        ours = _dataclass_signature(obj) if dataclasses.is_dataclass(obj) else inspect.signature(obj)
        problems += [f"{owner}.{name}: {p}" for p in signature_mismatches(ours, text)]
    return problems


def _dataclass_signature(cls: Any) -> inspect.Signature:
    """The constructor's signature with each ``default_factory`` shown as the value it makes."""
    signature = inspect.signature(cls)
    factories = {
        f.name: f.default_factory()
        for f in dataclasses.fields(cls)
        if f.default_factory is not dataclasses.MISSING
    }
    return signature.replace(
        parameters=[
            p.replace(default=factories[p.name]) if p.name in factories else p
            for p in signature.parameters.values()
        ]
    )


# -- tests --------------------------------------------------------------------------------------


def test_the_comparison_catches_each_kind_of_mismatch() -> None:
    def ours(a: int, b: int = 2, *, c: str = "") -> None: ...

    assert signature_mismatches(inspect.signature(ours), "(a, b=2, *, c='')") == []
    assert signature_mismatches(inspect.signature(ours), "(a, c='', b=2)") == [
        "c: positional-or-keyword in the reference, keyword-only",
        "b: position 2 in the reference, 1",
    ]
    assert signature_mismatches(inspect.signature(ours), "(a, b=3, *, c='', d=None)") == [
        "b: default 3 in the reference, 2",
        "d: missing",
    ]
    assert signature_mismatches(inspect.signature(ours), "(a=1, b=2)") == [
        "a: default 1 in the reference, required"
    ]
    assert signature_mismatches(inspect.signature(ours), "(b=2)") == [
        "b: position 0 in the reference, 1",
        "a: ours requires a parameter the reference does not have",
        "a: ours puts an extra positional parameter at 0",
    ]
    assert signature_mismatches(inspect.signature(ours), "(a, b=2, **kw)") == [
        "**kw: ours has no variadic keyword parameter"
    ]


def _top_level_problems() -> list[str]:
    problems: list[str] = []
    for name, (kind, text) in {**TOP_LEVEL, **PUBLIC_ATTRIBUTES}.items():
        problems += _check("waxell_observe", name, getattr(waxell_observe, name), kind, text)
    return problems


def _context_problems() -> list[str]:
    problems = [
        f"WaxellContext.__init__: {p}"
        for p in signature_mismatches(inspect.signature(WaxellContext.__init__), CONTEXT_CONSTRUCTOR)
    ]
    for name, (kind, text) in CONTEXT_METHODS.items():
        if inspect.getattr_static(WaxellContext, name, None) is None:
            problems.append(f"WaxellContext.{name}: missing")
            continue
        problems += _check("WaxellContext", name, getattr(WaxellContext, name), kind, text)
    return problems


def _client_problems() -> list[str]:
    problems: list[str] = []
    for name, text in CLIENT_COROUTINES.items():
        problems += _check("WaxellObserveClient", name, getattr(WaxellObserveClient, name), COROUTINE, text)
        twin = getattr(WaxellObserveClient, f"{name}_sync", None)
        if twin is None or inspect.iscoroutinefunction(twin):
            problems.append(f"WaxellObserveClient.{name}_sync: missing or not blocking")
            continue
        kinds = [p.kind for p in inspect.signature(twin).parameters.values()]
        if kinds != [inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_KEYWORD]:
            problems.append(f"WaxellObserveClient.{name}_sync: not (self, **kwargs)")
    for name, (kind, text) in CLIENT_OTHER.items():
        problems += _check("WaxellObserveClient", name, getattr(WaxellObserveClient, name), kind, text)
    for name, text in CLIENT_CLASSMETHODS.items():
        if not isinstance(inspect.getattr_static(WaxellObserveClient, name), classmethod):
            problems.append(f"WaxellObserveClient.{name}: not a classmethod")
        problems += _check("WaxellObserveClient", name, getattr(WaxellObserveClient, name), FUNCTION, text)
    return problems


def _config_problems() -> list[str]:
    fields = {f.name: f for f in dataclasses.fields(waxell_observe.ObserveConfig)}
    problems = []
    for name, default in OBSERVE_CONFIG_FIELDS.items():
        if name not in fields:
            problems.append(f"ObserveConfig.{name}: missing")
        elif fields[name].default != default:
            ours = fields[name].default
            problems.append(f"ObserveConfig.{name}: default {ours!r} in ours, {default!r} in the reference")
    for name, text in {"from_env": "()", "from_cli_config": "(config_path=None, profile=None)"}.items():
        method = getattr(waxell_observe.ObserveConfig, name)
        problems += [
            f"ObserveConfig.{name}: {p}" for p in signature_mismatches(inspect.signature(method), text)
        ]
    return problems


def _semi_public_problems() -> list[str]:
    problems: list[str] = []
    for module_name, names in SEMI_PUBLIC.items():
        module = importlib.import_module(module_name)
        for name, (kind, text) in names.items():
            obj = getattr(module, name, None)
            if obj is None:
                problems.append(f"{module_name}.{name}: missing")
                continue
            problems += _check(module_name, name, obj, kind, text)
    return problems


def test_every_name_of_the_references_all_is_exported_with_its_kind_and_signature() -> None:
    assert len(TOP_LEVEL) + 1 == 67  # + __version__
    assert sorted(set(TOP_LEVEL) - set(waxell_observe.__all__)) == []
    assert "__version__" in waxell_observe.__all__ and isinstance(waxell_observe.__version__, str)
    assert _unexplained(_top_level_problems()) == []


def test_the_references_aliases_are_the_same_objects() -> None:
    assert waxell_observe.observe is waxell_observe.waxell_agent
    assert waxell_observe.context is waxell_observe.WaxellContext
    assert waxell_observe.input is waxell_observe.observed_input  # type: ignore[attr-defined]


def test_the_submodules_are_modules() -> None:
    for name in SUBMODULES:
        module = importlib.import_module(f"waxell_observe.{name}")
        assert getattr(waxell_observe, name) is module, name
    # Right after ``import waxell_observe`` too (the package imports them on first use).
    program = (
        "import types, waxell_observe\n"
        f"for name in {SUBMODULES!r}:\n"
        "    assert isinstance(getattr(waxell_observe, name), types.ModuleType), name\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_context_constructor_methods_and_properties() -> None:
    assert _unexplained(_context_problems()) == []
    for name in CONTEXT_PROPERTIES:
        assert isinstance(inspect.getattr_static(WaxellContext, name), property), name
    ctx = WaxellContext("surface-agent")
    for name in CONTEXT_ATTRIBUTES:
        assert hasattr(ctx, name), name
    assert (ctx.agent_name, ctx.workflow_name, ctx.enforce_policy, ctx.agent_type) == (
        "surface-agent",
        "default",
        True,
        "",
    )


def test_client_coroutines_are_unsuffixed_with_keyword_only_sync_twins() -> None:
    assert _unexplained(_client_problems()) == []
    assert WaxellObserveClient.DEFAULT_PROMPT_CACHE_TTL == 60.0
    # The reference has no a-prefixed methods; the subset's old names are gone.
    old = [n for n in dir(WaxellObserveClient) if n in ("send_events", "governance_decision", "astart_run")]
    assert old == []
    with pytest.raises(TypeError):
        WaxellObserveClient(api_url="http://127.0.0.1:9", api_key="k").start_run_sync("positional")  # type: ignore[call-arg]


def test_observe_config_fields_and_classmethods() -> None:
    assert _unexplained(_config_problems()) == []
    assert waxell_observe.ObserveConfig(api_url="http://x", api_key="k").is_configured is True
    assert waxell_observe.ObserveConfig().is_configured is False


def test_semi_public_modules_hold_the_same_classes() -> None:
    assert _unexplained(_semi_public_problems()) == []
    from waxell_observe.instrumentors._collector import BackgroundCollector, _collector

    assert isinstance(_collector, BackgroundCollector)
    collector_methods = {
        "__init__": "(self, flush_interval=5.0)",
        "record_call": "(self, call_data)",
        "flush": "(self)",
        "shutdown": "(self)",
    }
    for name, text in collector_methods.items():
        assert signature_mismatches(inspect.signature(getattr(BackgroundCollector, name)), text) == [], name
    # Real classes, not aliases that break isinstance: one class whichever path imports it.
    from waxell_observe import errors, types
    from waxell_observe.instrumentors import _guard

    assert types.PromptInfo is waxell_observe.PromptInfo and types.RunInfo is waxell_observe.RunInfo
    assert types.PolicyCheckResult is waxell_observe.PolicyCheckResult
    assert _guard.PromptGuardError is errors.PromptGuardError is waxell_observe.PromptGuardError
    for error in (errors.PolicyViolationError, errors.ConfigurationError, errors.PromptNotFoundError):
        assert issubclass(error, errors.ObserveError) and error is getattr(waxell_observe, error.__name__)
    assert not issubclass(errors.PromptGuardError, errors.ObserveError)
    assert issubclass(types.CompiledPromptText, str) and issubclass(types.CompiledPromptList, list)


def test_base_instrumentor_is_what_an_instrumentor_offers() -> None:
    from waxell_observe.instrumentation import Instrumentation
    from waxell_observe.instrumentors import BaseInstrumentor

    methods = {"instrument": "(self)", "uninstrument": "(self)", "is_instrumented": "(self)"}
    for name, text in methods.items():
        assert signature_mismatches(inspect.signature(getattr(BaseInstrumentor, name)), text) == [], name
    with pytest.raises(TypeError, match="abstract"):
        BaseInstrumentor()  # type: ignore[abstract]

    target = _types.SimpleNamespace(greet=lambda: "hello")

    class GreetingInstrumentor(BaseInstrumentor):  # a reference-style instrumentor
        def instrument(self) -> bool:
            if self._instrumented:
                return False
            self._original = target.greet
            target.greet = lambda: self._original() + " (observed)"
            self._instrumented = True
            return True

        def uninstrument(self) -> None:
            if self._instrumented:
                target.greet = self._original
                self._instrumented = False

    greeting = GreetingInstrumentor()
    assert (greeting.is_instrumented(), greeting.instrument(), greeting.instrument()) == (False, True, False)
    assert (target.greet(), greeting.is_instrumented()) == ("hello (observed)", True)
    greeting.uninstrument()
    assert (target.greet(), greeting.is_instrumented()) == ("hello", False)
    # our integrations' switches are instrumentors too (the subclass hook); other objects are not
    assert isinstance(Instrumentation("surface-demo", []), BaseInstrumentor)
    assert not isinstance(object(), BaseInstrumentor) and not issubclass(dict, BaseInstrumentor)


def test_every_deviation_is_still_exactly_what_it_says() -> None:
    everything = set(
        _top_level_problems() + _context_problems() + _client_problems() + _config_problems()
        + _semi_public_problems()
    )  # fmt: skip
    assert sorted(_EXPLAINED - everything) == []


# -- calls written for the reference bind as the reference means them (the fixes this test found) ---------


def test_positional_calls_bind_like_the_references(read_run: Callable[[str], dict[str, Any]]) -> None:
    run_ids: list[str] = []

    @waxell_observe.observe("surface-positional", "intake", False)  # agent, workflow, enforce_policy
    def agent(question: str) -> str:
        waxell_observe.retrieve(question, [{"id": "d1"}, {"id": "d2"}], "kb", [0.9, 0.4])
        run_ids.append(waxell_observe.get_context().run_id)  # type: ignore[union-attr]
        return "ok"

    @waxell_observe.observe
    def bare() -> int:
        run_ids.append(waxell_observe.get_context().run_id)  # type: ignore[union-attr]
        return 7

    assert agent("refund?") == "ok" and bare() == 7
    run = read_run(run_ids[0])
    assert (run["agent_name"], run["workflow_name"]) == ("surface-positional", "intake")
    (retrieval,) = [s for s in run["spans"] if s["kind"] == "retrieval"]
    assert (retrieval["name"], retrieval["input"], retrieval["duration_ms"]) == (
        "kb",
        {"query": "refund?"},
        None,
    )
    assert retrieval["attributes"] == {"source": "kb", "document_count": 2, "scores": [0.9, 0.4]}
    assert read_run(run_ids[1])["agent_name"] == "bare"


def test_policy_check_result_is_a_dataclass_with_the_references_fields() -> None:
    result = waxell_observe.PolicyCheckResult("block", "too costly", {"k": 1})
    assert dataclasses.asdict(result) == {
        "action": "block",
        "reason": "too costly",
        "metadata": {"k": 1},
        "evaluations": [],
        "redacted_inputs": None,
    }
    retried = dataclasses.replace(result, action="retry")
    assert (retried.should_retry, retried.blocked, result.blocked) == (True, False, True)
    assert waxell_observe.PolicyCheckResult("allow", None, None).metadata == {}  # type: ignore[arg-type]
