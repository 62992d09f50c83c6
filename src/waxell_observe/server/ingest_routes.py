"""Ingest endpoints of the wire protocol: runs, their records, completion, and the audit trail.

Every request is stored in one transaction. Records for an unknown run answer 404 (an
empty run id, ``runs//llm-calls/``, also 404). Governance (``{"governance": ...}`` in the
replies) comes from :mod:`waxell_observe.server.policy_routes`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import Connection

from waxell_observe.server import ingest_store, policy_routes
from waxell_observe.server.ingest_store import RunRef
from waxell_observe.server.limits import ID_PATTERN
from waxell_observe.server.wire_models import (
    CompleteBody,
    EventsBody,
    GovernanceDecisionBody,
    LLMCallsBody,
    RunStartBody,
    ScoresBody,
    SpansBody,
    StepsBody,
)
from waxell_observe.store.reader import iso

__all__ = ["router"]

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
    verdict = policy_routes.ingest_governance(request, run, kind, body)
    return {"governance": verdict} if verdict is not None else {}


@router.post("/runs/start/", status_code=201)
def start_run(body: RunStartBody, request: Request, response: Response) -> dict[str, Any]:
    """Start a run: 201 with ``run_id``, ``workflow_id`` (the same id) and ``started_at``; 200 when
    the start repeats an existing run's (a retry)."""
    with request.app.state.writer.write() as conn:
        run_id, started_at, created = ingest_store.start_run(conn, body, time.time())
    if not created:
        response.status_code = 200
    return {"run_id": run_id, "workflow_id": run_id, "started_at": iso(started_at)}


def _records_endpoint(
    kind: str, store: Callable[[Connection, RunRef, Any, float], None], governed: bool
) -> Callable[..., dict[str, Any]]:
    def handle(request: Request, run_id: str, body: Any) -> dict[str, Any]:
        with _run_transaction(request, run_id) as (conn, run):
            store(conn, run, body, time.time())
        return _governance_reply(request, run, kind, body) if governed else {}

    return handle


_llm = _records_endpoint(
    "llm-calls", lambda conn, run, b, now: ingest_store.add_llm_calls(conn, run, b.calls, b.conversation_state, now), True
)
_steps = _records_endpoint(
    "steps", lambda conn, run, b, now: ingest_store.add_steps(conn, run, b.steps, b.conversation_state, now), True
)
_spans = _records_endpoint("spans", lambda conn, run, b, now: ingest_store.add_spans(conn, run, b.spans, now), False)
_scores = _records_endpoint("scores", lambda conn, run, b, now: ingest_store.add_scores(conn, run, b.scores, now), False)


@router.post("/runs/{run_id}/llm-calls/")
def add_llm_calls(run_id: str, body: LLMCallsBody, request: Request) -> dict[str, Any]:
    """Add LLM calls (and the latest ``conversation_state``); reply ``{}`` or ``{"governance": ...}``."""
    return _llm(request, run_id, body)


@router.post("/runs/{run_id}/steps/")
def add_steps(run_id: str, body: StepsBody, request: Request) -> dict[str, Any]:
    """Add steps; behaviour steps (``output._kind``) are stored as spans. Reply as for llm-calls."""
    return _steps(request, run_id, body)


@router.post("/runs/{run_id}/spans/")
def add_spans(run_id: str, body: SpansBody, request: Request) -> dict[str, Any]:
    """Add spans; reply ``{}``."""
    return _spans(request, run_id, body)


@router.post("/runs/{run_id}/scores/")
def add_scores(run_id: str, body: ScoresBody, request: Request) -> dict[str, Any]:
    """Add scores; reply ``{}``."""
    return _scores(request, run_id, body)


@router.post("/runs/{run_id}/complete/")
def complete_run(run_id: str, body: CompleteBody, request: Request) -> dict[str, Any]:
    """Complete a run: ``run_id``, ``duration`` (seconds) and the post-execution ``governance``."""
    with _run_transaction(request, run_id) as (conn, run):
        duration = ingest_store.complete_run(conn, run, body, time.time())
    verdict = policy_routes.completion_governance(request, run, body)
    if verdict is not None:
        with request.app.state.writer.write() as conn:
            ingest_store.store_governance(conn, run.run_id, verdict)
    return {"run_id": run.run_id, "duration": duration, "governance": verdict or dict(_NO_GOVERNANCE_COMPLETE)}


@router.api_route("/runs//{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def empty_run_id(rest: str) -> None:
    """``runs//llm-calls/``: a client whose run start failed. Always 404."""
    raise HTTPException(status_code=404, detail="empty run id: the run was not started (POST runs/start/ first)")


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
