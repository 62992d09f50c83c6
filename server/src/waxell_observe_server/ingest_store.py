"""Storing what the wire protocol delivers, inside the caller's write transaction (so a request,
or a batch of runs, is stored whole or not at all).

Records become rows of the same shape the embedded sink writes. Retries are idempotent:
records are keyed by their ``id`` when the client sends one, else by an id derived from the
run and the record's ``position``; only records that carry neither are stored again when a
batch is delivered twice. Run totals are recomputed from the stored records.

Two layers:

* pure functions turning wire bodies into rows and column values (:func:`run_start_row`,
  :func:`conversation_values`, :func:`completion_values`, here) and *staging* functions that turn a
  run's records into rows and queue them on a :class:`~.staged_rows.StagedRows`
  (:mod:`.record_rows`: ``stage_llm_calls``, ``stage_steps``, ``stage_spans``, ``stage_scores``);
* one function per per-run endpoint (``start_run``, ``add_llm_calls``, ... ``complete_run``, here)
  built from them. The batch endpoint (:mod:`waxell_observe_server.batch_ingest`) uses the same
  staging functions for many runs at once, so both store identical rows.

Staged rows go to the database as one ``executemany`` per table (:mod:`.staged_rows` over
``store.bulk``), which costs a fraction of SQLAlchemy's per-row processing. The run a request
adds to is looked up by :mod:`.run_refs`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select, update

from waxell_observe.records import new_id
from waxell_observe.store import writer
from waxell_observe.store.schema import runs
from waxell_observe.vocabulary import PROVISIONAL_RUN_SOURCES
from waxell_observe_server.limits import TEXT_LIMIT, TRACEBACK_LIMIT
from waxell_observe_server.record_rows import (
    SPAN_KINDS_FROM_WIRE,
    stage_llm_calls,
    stage_scores,
    stage_spans,
    stage_steps,
)
from waxell_observe_server.run_refs import RunRef, derived_id, lock_run, run_exists, run_ref
from waxell_observe_server.sanitize import clean_json, clean_text, cut, cut_tail
from waxell_observe_server.staged_rows import REPLACED_RUNS, SPEC_OF, STAGING_TABLES, StagedRows, json_encoder
from waxell_observe_server.values import as_str
from waxell_observe_server.wire_models import (
    CompleteBody,
    EventIn,
    GovernanceDecisionBody,
    LLMCallIn,
    RunStartBody,
    ScoreIn,
    SpanIn,
    StepIn,
)

__all__ = [
    "RunRef",
    "StagedRows",
    "derived_id",
    "lock_run",
    "run_exists",
    "run_ref",
    "run_start_row",
    "start_decision",
    "start_run",
    "stage_llm_calls",
    "stage_steps",
    "stage_spans",
    "stage_scores",
    "conversation_values",
    "completion_values",
    "add_llm_calls",
    "add_steps",
    "add_spans",
    "add_scores",
    "complete_run",
    "store_governance",
    "add_events",
    "add_governance_decisions",
    "json_encoder",
    "REPLACED_RUNS",
    "STAGING_TABLES",
    "SPAN_KINDS_FROM_WIRE",
]


def _tags(value: dict[str, Any] | None) -> dict[str, str]:
    if not value:
        return {}
    return {clean_text(str(k))[:256]: as_str(v, limit=1024) for k, v in value.items()}


def _conversation(state: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Split a wire ``conversation_state`` into the stored conversation and the metadata copy."""
    if state is None:
        return None, None
    cleaned = clean_json(state)
    metadata = cleaned.pop("metadata", None)
    return cleaned, metadata if isinstance(metadata, dict) else None


def conversation_values(run: RunRef, state: dict[str, Any] | None) -> tuple[RunRef, dict[str, Any]]:
    """The run columns a ``conversation_state`` sets (``conversation``, and ``metadata`` merged
    with its copy of the metadata), and the run as it is afterwards. No state: no columns."""
    conversation, metadata = _conversation(state)
    if conversation is None:
        return run, {}
    values: dict[str, Any] = {"conversation": conversation}
    if metadata:
        values["metadata"] = {**run.metadata, **metadata}
        run = replace(run, metadata=values["metadata"])
    return run, values


def _apply_conversation(conn: Connection, run: RunRef, state: dict[str, Any] | None) -> None:
    _, values = conversation_values(run, state)
    if values:
        conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(**values))


# -- runs/start ------------------------------------------------------------------------------


def start_decision(
    requested: str | None, existing: tuple[str, str, float] | None, agent_name: str, workflow_name: str
) -> tuple[str, bool]:
    """Which run a start stores: ``(run_id, created)``.

    ``requested`` is the client's run id and ``existing`` the ``(agent_name, workflow_name,
    started_at)`` of a stored run with that id. The client's id is used when free; a stored run
    of the same agent and workflow makes the start a retry of it (``created`` False); otherwise
    (no id, or an id taken by another run) a new id is generated."""
    if not requested:
        return new_id(), True
    if existing is None:
        return requested, True
    if existing[0] == agent_name and existing[1] == workflow_name:
        return requested, False
    return new_id(), True


_RUN_TOTALS_AND_OUTCOME = {
    name: SPEC_OF["runs"].default(name)
    for name in ("error", "error_type", "traceback", "tokens_in", "tokens_out", "total_cost",
                 "llm_call_count", "step_count", "span_count", "source")
}  # fmt: skip
"""The columns a start leaves at the schema's defaults (a complete row is cheaper to write)."""


def run_start_row(body: RunStartBody, run_id: str, now: float) -> dict[str, Any]:
    """The ``runs`` row a start stores (every column of ``runs``)."""
    session_id = cut(body.session_id, 256)
    parent = cut(body.parent_workflow_id, 64)
    mode = body.interaction_mode if body.interaction_mode in ("interactive", "autonomous") else None
    governance: dict[str, Any] = {}
    if body.pre_execution_evaluations:
        governance["pre_execution_evaluations"] = clean_json(body.pre_execution_evaluations)
    return {
        **_RUN_TOTALS_AND_OUTCOME,
        "run_id": run_id,
        "agent_name": cut(body.agent_name, 256),
        "workflow_name": cut(body.workflow_name, 256) or "default",
        "status": "running",
        "session_id": session_id,
        "user_id": cut(body.user_id, 256),
        "user_group": cut(body.user_group, 256),
        "parent_run_id": parent,
        "root_run_id": cut(body.root_workflow_id, 64) or parent,
        "trace_id": cut(body.trace_id, 64),
        "interaction_mode": mode or ("interactive" if session_id else "autonomous"),
        "started_at": body.started_at if body.started_at is not None else now,
        "ended_at": None,
        "inputs": clean_json(body.inputs or {}),
        "metadata": clean_json(body.metadata or {}),
        "tags": _tags(body.tags),
        "result": {},
        "conversation": {},
        "governance": governance,
        "auto_collected": bool(body.auto_collected),
    }


def made_from_spans(source: str | None) -> bool:
    """A run the OTLP receiver made from spans: the SDK's start, when it comes, takes it over."""
    return source in PROVISIONAL_RUN_SOURCES


def taken_over(row: dict[str, Any], provisional: RunRef) -> dict[str, Any]:
    """The start ``row`` of a run the OTLP receiver made from spans before the SDK's start arrived
    (``source`` one of ``PROVISIONAL_RUN_SOURCES``): the start's values, over the tags and metadata
    the spans gave."""
    return {
        **row,
        "tags": {**provisional.tags, **row["tags"]},
        "metadata": {**provisional.metadata, **row["metadata"]},
    }


def start_run(conn: Connection, body: RunStartBody, now: float) -> tuple[str, float, bool]:
    """Store a run start; returns ``(run_id, started_at, created)`` (see :func:`start_decision`).

    A run made from spans (the OTLP receiver got the run span first) is taken over by the start:
    ``created`` is then True, the run's records stay and its totals are counted again."""
    agent_name = cut(body.agent_name, 256)
    workflow_name = cut(body.workflow_name, 256) or "default"
    existing = None
    provisional = None
    if body.run_id:
        c = runs.c
        found = conn.execute(
            select(c.run_id, c.agent_name, c.workflow_name, c.started_at, c.metadata, c.tags, c.source).where(
                c.run_id == body.run_id
            )
        ).first()
        if found is not None and made_from_spans(found.source):
            provisional = run_ref(found)
        elif found is not None:
            existing = (found.agent_name, found.workflow_name, float(found.started_at))
    run_id, created = start_decision(body.run_id, existing, agent_name, workflow_name)
    if not created:
        assert existing is not None
        return run_id, existing[2], False
    row_values = run_start_row(body, run_id, now)
    if provisional is not None:
        row_values = taken_over(row_values, provisional)
    # the "supersede" insert: also takes over a run the receiver makes from spans meanwhile
    _stored(conn, lambda staged: staged.add(runs, [row_values]))
    if provisional is not None:
        writer.refresh_totals(conn, [run_id])
    stored = conn.execute(select(runs.c.started_at).where(runs.c.run_id == run_id)).first()
    return run_id, float(stored.started_at) if stored is not None else row_values["started_at"], True


def _stored(conn: Connection, stage: Callable[[StagedRows], None]) -> None:
    staged = StagedRows(conn)
    stage(staged)
    staged.flush()


def add_llm_calls(
    conn: Connection,
    run: RunRef,
    calls: Sequence[LLMCallIn],
    conversation_state: dict[str, Any] | None,
    now: float,
) -> None:
    """``POST runs/{id}/llm-calls/``: the calls, the conversation state, the run's totals."""
    _stored(conn, lambda staged: stage_llm_calls(staged, run, calls, now))
    _apply_conversation(conn, run, conversation_state)
    writer.refresh_totals(conn, [run.run_id])


def add_steps(
    conn: Connection,
    run: RunRef,
    batch: Sequence[StepIn],
    conversation_state: dict[str, Any] | None,
    now: float,
) -> None:
    """``POST runs/{id}/steps/``: the steps (and behaviour spans), the conversation state, totals."""
    _stored(conn, lambda staged: stage_steps(staged, run, batch, now))
    _apply_conversation(conn, run, conversation_state)
    writer.refresh_totals(conn, [run.run_id])


def add_spans(conn: Connection, run: RunRef, batch: Sequence[SpanIn], now: float) -> None:
    """``POST runs/{id}/spans/``: the spans, the run's totals."""
    _stored(conn, lambda staged: stage_spans(staged, run, batch, now))
    writer.refresh_totals(conn, [run.run_id])


def add_scores(conn: Connection, run: RunRef, batch: Sequence[ScoreIn], now: float) -> None:
    """``POST runs/{id}/scores/``."""
    _stored(conn, lambda staged: stage_scores(staged, run, batch, now))


# -- runs/{id}/complete -------------------------------------------------------------------------


def completion_values(run: RunRef, body: CompleteBody, now: float) -> tuple[dict[str, Any], float]:
    """The run columns a completion sets, and the run's duration in seconds (``body.steps`` are
    not included: store them first)."""
    ended_at = body.ended_at if body.ended_at is not None else now
    ended_at = max(ended_at, run.started_at)
    result = body.result
    if result is None:
        result = {}
    elif not isinstance(result, dict):
        result = {"output": result}
    error = cut(body.error)
    values: dict[str, Any] = {
        "status": body.status or ("error" if error else "success"),
        "error": error,
        "error_type": cut(body.error_type, 256),
        "traceback": cut_tail(body.traceback, TRACEBACK_LIMIT),
        "result": clean_json(result),
        "ended_at": ended_at,
    }
    if body.trace_id:
        values["trace_id"] = cut(body.trace_id, 64)
    if body.tags:
        values["tags"] = {**run.tags, **_tags(body.tags)}
    metadata = dict(run.metadata)
    if body.metadata:
        metadata.update(clean_json(body.metadata))
    conversation, conversation_metadata = _conversation(body.conversation_state)
    if conversation is not None:
        values["conversation"] = conversation
        if conversation_metadata and not body.metadata:
            metadata.update(conversation_metadata)
    if metadata != run.metadata:
        values["metadata"] = metadata
    if body.governance:
        values["governance"] = clean_json(body.governance)
    return values, round(ended_at - run.started_at, 6)


def complete_run(conn: Connection, run: RunRef, body: CompleteBody, now: float) -> float:
    """Store a run's completion; returns its duration in seconds."""
    if body.steps:
        add_steps(conn, run, body.steps, None, now)
    values, duration = completion_values(run, body, now)
    writer.complete_run(conn, run.run_id, values)
    writer.refresh_totals(conn, [run.run_id])
    return duration


def store_governance(conn: Connection, run_id: str, governance: dict[str, Any]) -> None:
    """Keep the post-execution policy outcome on the run (``governance`` column)."""
    conn.execute(update(runs).where(runs.c.run_id == run_id).values(governance=clean_json(governance)))


# -- audit trail ----------------------------------------------------------------------------------


def add_events(conn: Connection, batch: Sequence[EventIn], now: float) -> None:
    rows = []
    for event in batch:
        metadata = clean_json(event.metadata) if event.metadata else {}
        rows.append(
            {
                "ts": now,
                "run_id": cut(event.workflow_id, 64),
                "agent_name": cut(event.agent_name, 256),
                "workflow_name": cut(event.workflow_name, 256),
                "event": cut(event.event, 64) or "event",
                "policy_name": as_str(metadata.get("policy_name", metadata.get("policy")), limit=256),
                "category": as_str(metadata.get("category"), limit=64),
                "action": as_str(metadata.get("action"), limit=16),
                "reason": as_str(metadata.get("reason"), limit=TEXT_LIMIT),
                "phase": as_str(metadata.get("phase"), limit=32),
                "metadata": metadata,
            }
        )
    writer.add_audit_events(conn, rows)


_PHASE_OF_SURFACE = {"run.start": "pre_execution", "run.complete": "post_execution"}


def add_governance_decisions(conn: Connection, body: GovernanceDecisionBody, now: float) -> bool:
    """Store each decision in the audit trail; returns whether the run is known."""
    run_id = cut(body.workflow_id, 64)
    found = bool(run_id) and len(body.workflow_id or "") <= 64 and run_exists(conn, run_id)
    surface = cut(body.surface, 64)
    workflow_name = ""
    if found:
        workflow_name = conn.execute(select(runs.c.workflow_name).where(runs.c.run_id == run_id)).scalar_one()
    rows = [
        {
            "ts": now,
            "run_id": run_id,
            "agent_name": cut(body.agent_name, 256),
            "workflow_name": workflow_name,
            "event": "governance_decision",
            "policy_name": cut(decision.policy, 256),
            "category": cut(decision.category, 64),
            "action": cut(decision.action, 16),
            "reason": cut(decision.reason),
            "phase": _PHASE_OF_SURFACE.get(surface, "mid_execution" if surface else ""),
            "metadata": {"surface": surface, "span_only": bool(body.span_only)},
        }
        for decision in body.decisions or ()
    ]
    writer.add_audit_events(conn, rows)
    return found
