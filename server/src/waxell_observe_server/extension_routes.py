"""Wire endpoints beyond the base protocol: daily runs, live previews and the prompt guard.

* ``POST runs/daily/`` — get or create the agent's one run of a UTC day. It is an ordinary run
  (agent ``agent_slug``, workflow ``daily``) whose id is derived from the slug and the day, so
  every process of the agent, and every retry, lands on the same run; started through
  :func:`.ingest_store.start_run` like ``runs/start/``.
* ``POST runs/{run_id}/partial/`` — the latest preview of a streaming answer, kept in the run's
  ``metadata`` under ``partial_output`` (each preview replaces the previous one; a preview is
  not a record, so it adds no span and changes no total).
* ``POST prompt-guard/`` — the SDK's local prompt guard run on the server:
  :func:`waxell_observe.prompt_guard.scan_request` over ``text`` as one user message.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from sqlalchemy import update

from waxell_observe.governance.content_scan import Scanner
from waxell_observe.prompt_guard import scan_request
from waxell_observe.store.reader import iso
from waxell_observe.store.schema import runs
from waxell_observe_server import ingest_store
from waxell_observe_server.extension_models import (
    PARTIAL_MAX_CHARS,
    DailyRunBody,
    PartialOutputBody,
    PromptGuardBody,
)
from waxell_observe_server.limits import ID_PATTERN
from waxell_observe_server.sanitize import clean_text, cut
from waxell_observe_server.wire_models import RunStartBody

__all__ = ["router", "DAILY_WORKFLOW", "PARTIAL_KEY", "daily_run_id", "guard_reply"]

router = APIRouter(tags=["extensions"])

DAILY_WORKFLOW = "daily"
"""Workflow name of the runs ``runs/daily/`` creates."""
PARTIAL_KEY = "partial_output"
"""Key of the run ``metadata`` holding the latest ``runs/{run_id}/partial/`` preview."""

_RUN_ID = re.compile(ID_PATTERN)
_REDACTOR = Scanner()
"""The scanner the local guard applies to a user message (PII, credentials, injection)."""


def daily_run_id(agent_slug: str, day: str) -> str:
    """The id of the daily run of ``agent_slug`` on ``day`` (``YYYY-MM-DD``)."""
    return hashlib.sha256(f"daily/{agent_slug}/{day}".encode()).hexdigest()[:32]


@router.post("/runs/daily/", status_code=201)
def daily_run(body: DailyRunBody, request: Request, response: Response) -> dict[str, Any]:
    """Get or create the agent's run of ``date`` (default: today, UTC): ``run_id``,
    ``workflow_id`` (the same id), ``started_at``, ``date`` and ``created``. 201 when created,
    200 when the day's run already existed."""
    now = time.time()
    day = body.date or _dt.datetime.fromtimestamp(now, _dt.timezone.utc).date().isoformat()
    slug = cut(body.agent_slug, 256)
    metadata: dict[str, Any] = {"daily_date": day, "agent_type": cut(body.agent_type, 64) or "mcp"}
    if body.execution_region:
        metadata["execution_region"] = cut(body.execution_region, 64)
    start = RunStartBody(
        agent_name=slug,
        workflow_name=DAILY_WORKFLOW,
        run_id=daily_run_id(slug, day),
        metadata=metadata,
        agent_slug=slug,
        interaction_mode="autonomous",
    )
    with request.app.state.writer.write() as conn:
        run_id, started_at, created = ingest_store.start_run(conn, start, now)
    if not created:
        response.status_code = 200
    return {
        "run_id": run_id,
        "workflow_id": run_id,
        "started_at": iso(started_at),
        "date": day,
        "created": created,
    }


@router.post("/runs/{run_id}/partial/")
def partial_output(run_id: str, body: PartialOutputBody, request: Request) -> dict[str, Any]:
    """Keep the latest preview of the run's streaming answer (run ``metadata.partial_output``:
    ``text``, ``chunk_count``, ``model``, ``done``, ``updated_at``); reply ``{}``; 404 for an
    unknown run."""
    if not _RUN_ID.match(run_id):
        raise HTTPException(status_code=404, detail=f"unknown run {run_id[:80]!r}")
    preview = {
        "text": cut(body.partial, PARTIAL_MAX_CHARS),
        "chunk_count": body.chunk_count,
        "model": cut(body.model, 256),
        "done": bool(body.done),
        "updated_at": iso(time.time()),
    }
    with request.app.state.writer.write() as conn:
        run = ingest_store.lock_run(conn, run_id)
        if run is None:
            raise HTTPException(
                status_code=404, detail=f"unknown run {run_id!r}: start it with POST runs/start/ first"
            )
        metadata = {**run.metadata, PARTIAL_KEY: preview}
        conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(metadata=metadata))
    return {}


def guard_reply(text: str) -> dict[str, Any]:
    """What ``prompt-guard/`` answers for ``text``: the local guard's verdict on it as one user
    message (``action`` ``block`` with its ``violations`` when anything is found, else ``allow``),
    the copy the local guard sends in ``redact`` mode, and the scan's duration."""
    started = time.perf_counter()
    result = scan_request(text)
    redacted = _REDACTOR.redact(text) if result.violations else text
    return {
        "action": result.action,
        "violations": list(result.violations),
        "redacted_text": redacted,
        "scan_time_ms": round((time.perf_counter() - started) * 1000.0, 3),
    }


@router.post("/prompt-guard/")
def prompt_guard(body: PromptGuardBody) -> dict[str, Any]:
    """Scan ``text`` with the SDK's prompt guard: ``action`` (``allow``/``block``),
    ``violations`` (strings), ``redacted_text``, ``scan_time_ms``."""
    return guard_reply(clean_text(body.text))
