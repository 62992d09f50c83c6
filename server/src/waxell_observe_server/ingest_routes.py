"""Ingest endpoints of the wire protocol: runs, their records, completion, and the audit trail.

Every request is stored in one transaction. Records for an unknown run answer 404 (an
empty run id, ``runs//llm-calls/``, also 404). Governance (``{"governance": ...}`` in the
replies) comes from :mod:`waxell_observe_server.run_governance`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import Connection

from waxell_observe.store.reader import iso
from waxell_observe_server import ingest_store, run_governance
from waxell_observe_server.limits import ID_PATTERN
from waxell_observe_server.run_refs import RunRef
from waxell_observe_server.wire_models import (
    CompleteBody,
    EventsBody,
    GovernanceDecisionBody,
    LLMCallsBody,
    RunStartBody,
    ScoresBody,
    SpansBody,
    StepsBody,
)

__all__ = ["router", "deliver_start", "deliver_records", "deliver_completion", "no_governance_complete"]

router = APIRouter(tags=["ingest"])

_RUN_ID = re.compile(ID_PATTERN)
_NO_GOVERNANCE_COMPLETE = {"action": "allow", "reason": "", "retry_feedback": "", "max_retries": 0}


@contextmanager
def _run_transaction(request: Request, run_id: str) -> Iterator[tuple[Connection, RunRef]]:
    """A write transaction holding the run ``run_id`` (404 when it is unknown)."""
    if not _RUN_ID.match(run_id):
        raise HTTPException(status_code=404, detail=f"unknown run {run_id[:80]!r}")
    with request.app.state.writer.write() as conn:
        run = ingest_store.lock_run(conn, run_id)
        if run is None:
            raise HTTPException(
                status_code=404, detail=f"unknown run {run_id!r}: start it with POST runs/start/ first"
            )
        yield conn, run


def _governance_reply(request: Request, run: RunRef, kind: str, body: Any = None) -> dict[str, Any]:
    verdict = run_governance.ingest_governance(request, run, kind, body)
    return {"governance": verdict} if verdict is not None else {}


# -- what each endpoint does, callable without HTTP (the batch endpoint delivers runs that
# policies evaluate through these, so they are answered exactly as over the per-run endpoints)


def deliver_start(request: Request, body: RunStartBody) -> tuple[dict[str, Any], bool]:
    """Store a run start: the reply (``run_id``, ``workflow_id``, ``started_at``) and whether the
    run was created (False: the start repeats an existing run's)."""
    with request.app.state.writer.write() as conn:
        run_id, started_at, created = ingest_store.start_run(conn, body, time.time())
    return {"run_id": run_id, "workflow_id": run_id, "started_at": iso(started_at)}, created


_STORE: dict[str, Callable[[Connection, RunRef, Any, float], None]] = {
    "llm-calls": lambda conn, run, b, now: ingest_store.add_llm_calls(
        conn, run, b.calls, b.conversation_state, now
    ),
    "steps": lambda conn, run, b, now: ingest_store.add_steps(conn, run, b.steps, b.conversation_state, now),
    "spans": lambda conn, run, b, now: ingest_store.add_spans(conn, run, b.spans, now),
    "scores": lambda conn, run, b, now: ingest_store.add_scores(conn, run, b.scores, now),
}
_GOVERNED = frozenset({"llm-calls", "steps"})


def deliver_records(request: Request, kind: str, run_id: str, body: Any) -> dict[str, Any]:
    """Store a records body of ``kind`` (``llm-calls``, ``steps``, ``spans``, ``scores``) for run
    ``run_id`` (404 ``HTTPException`` when unknown); the reply: ``{}`` or ``{"governance": ...}``."""
    with _run_transaction(request, run_id) as (conn, run):
        _STORE[kind](conn, run, body, time.time())
    return _governance_reply(request, run, kind, body) if kind in _GOVERNED else {}


def deliver_completion(request: Request, run_id: str, body: CompleteBody) -> dict[str, Any]:
    """Store a run's completion (404 ``HTTPException`` when unknown) and answer its post-execution
    governance: ``{"run_id", "duration", "governance"}``."""
    with _run_transaction(request, run_id) as (conn, run):
        duration = ingest_store.complete_run(conn, run, body, time.time())
    verdict = run_governance.completion_governance(request, run, body)
    if verdict is not None:
        with request.app.state.writer.write() as conn:
            ingest_store.store_governance(conn, run.run_id, verdict)
    return {"run_id": run.run_id, "duration": duration, "governance": verdict or no_governance_complete()}


def no_governance_complete() -> dict[str, Any]:
    """The ``governance`` of a ``complete/`` reply when no policy answered: ``allow``."""
    return dict(_NO_GOVERNANCE_COMPLETE)


# -- the endpoints


@router.post("/runs/start/", status_code=201)
def start_run(body: RunStartBody, request: Request, response: Response) -> dict[str, Any]:
    """Start a run: 201 with ``run_id``, ``workflow_id`` (the same id) and ``started_at``; 200 when
    the start repeats an existing run's (a retry)."""
    reply, created = deliver_start(request, body)
    if not created:
        response.status_code = 200
    return reply


@router.post("/runs/{run_id}/llm-calls/")
def add_llm_calls(run_id: str, body: LLMCallsBody, request: Request) -> dict[str, Any]:
    """Add LLM calls (and the latest ``conversation_state``); reply ``{}`` or ``{"governance": ...}``."""
    return deliver_records(request, "llm-calls", run_id, body)


@router.post("/runs/{run_id}/steps/")
def add_steps(run_id: str, body: StepsBody, request: Request) -> dict[str, Any]:
    """Add steps; behaviour steps (``output._kind``) are stored as spans. Reply as for llm-calls."""
    return deliver_records(request, "steps", run_id, body)


@router.post("/runs/{run_id}/spans/")
def add_spans(run_id: str, body: SpansBody, request: Request) -> dict[str, Any]:
    """Add spans; reply ``{}``."""
    return deliver_records(request, "spans", run_id, body)


@router.post("/runs/{run_id}/scores/")
def add_scores(run_id: str, body: ScoresBody, request: Request) -> dict[str, Any]:
    """Add scores; reply ``{}``."""
    return deliver_records(request, "scores", run_id, body)


@router.post("/runs/{run_id}/complete/")
def complete_run(run_id: str, body: CompleteBody, request: Request) -> dict[str, Any]:
    """Complete a run: ``run_id``, ``duration`` (seconds) and the post-execution ``governance``."""
    return deliver_completion(request, run_id, body)


@router.api_route(
    "/runs//{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
def empty_run_id(rest: str) -> None:
    """``runs//llm-calls/``: a client whose run start failed. Always 404."""
    raise HTTPException(
        status_code=404, detail="empty run id: the run was not started (POST runs/start/ first)"
    )


@router.post("/events/")
def add_events(body: EventsBody, request: Request) -> dict[str, Any]:
    """Append events to the audit trail; reply ``{}``."""
    with request.app.state.writer.write() as conn:
        ingest_store.add_events(conn, body.events, time.time())
    return {}


@router.post("/governance-decision/")
def governance_decision(body: GovernanceDecisionBody, request: Request) -> dict[str, Any]:
    """Record governance decisions taken by a client; reply ``{"run_found": bool}``."""
    with request.app.state.writer.write() as conn:
        found = ingest_store.add_governance_decisions(conn, body, time.time())
    return {"run_found": found}
