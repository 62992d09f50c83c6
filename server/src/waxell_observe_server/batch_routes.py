"""``POST runs/batch/``: many runs, each with its start, records and completion, in one request.

Body: ``{"runs": [entry, ...]}``; an entry is a :class:`~waxell_observe_server.wire_models.BatchRunIn`
(``run_id``, and optionally ``start``, ``llm_calls``, ``steps``, ``spans``, ``scores``,
``conversation_state``, ``complete``). Each entry is stored exactly as the per-run endpoints
would store the same data sent as ``runs/start/``, ``llm-calls/`` (with the conversation
state), ``steps/``, ``spans/``, ``scores/`` and ``complete/``, in that order.

Entries are validated one by one: an invalid entry gets a 422 result naming the field, an
entry for an unknown run without a ``start`` a 404 result, and neither stores anything of it
nor stops the others. Only a body that is not ``{"runs": [...]}`` is refused whole (422), and
one with more than :data:`BATCH_MAX_RUNS` entries (413).

Speed comes from storing runs together: consecutive entries that no stored policy evaluates
are written in one transaction (:func:`waxell_observe_server.batch_ingest.store_runs`). An entry
whose run a policy evaluates mid-execution (and that carries records) or post-execution (and
that carries a completion) is delivered through the per-run code path instead
(``ingest_routes.deliver_*``), so its governance answers, counters and audit rows are those of
the per-run endpoints.

Reply 200: ``{"runs": [result, ...]}``, one result per entry in request order:
``run_id``, ``status`` (201 started now, 200 stored, 404, 422, 500), ``error`` (when
``status`` >= 400), ``workflow_id`` (the id the run is stored under, when stored),
``governance`` (when an ``llm-calls/`` or ``steps/`` reply would have carried one: the stricter
of the two) and ``complete`` (the ``complete/`` reply, when the entry completed the run).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from email.message import Message
from typing import Any

import anyio
import msgspec
import pydantic_core
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from waxell_observe.governance.results import ACTION_SEVERITY
from waxell_observe.governance.sql_usage import PRUNE_EVERY
from waxell_observe.store.schema import runs
from waxell_observe_server import batch_ingest, fast_wire, ingest_routes
from waxell_observe_server.batch_ingest import EntryOutcome
from waxell_observe_server.decider import decider
from waxell_observe_server.errors import validation_message
from waxell_observe_server.gc_pause import gc_paused
from waxell_observe_server.raw_sql import select_for_runs
from waxell_observe_server.sanitize import cut
from waxell_observe_server.wire_models import BatchRunIn, LLMCallsBody, ScoresBody, SpansBody, StepsBody

__all__ = ["router", "BATCH_INGEST_PATH", "BATCH_MAX_RUNS"]

logger = logging.getLogger("waxell_observe_server")

router = APIRouter(tags=["ingest"])

BATCH_INGEST_PATH = "runs/batch/"
"""Where the endpoint is, relative to the wire protocol's base (``/api/v1/observe/``)."""

BATCH_MAX_RUNS = 1000
"""Most entries accepted in one request (more: 413). ``GET config/`` tells clients."""


def _body_schema() -> dict[str, Any]:
    """The OpenAPI schema of the body (entries refer to the record models the per-run endpoints
    publish under ``components/schemas``)."""
    entry = BatchRunIn.model_json_schema(ref_template="#/components/schemas/{model}")
    entry.pop("$defs", None)
    return {
        "type": "object",
        "required": ["runs"],
        "properties": {"runs": {"type": "array", "maxItems": BATCH_MAX_RUNS, "items": entry}},
    }


@router.post(
    "/runs/batch/",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _body_schema()}}}
    },
)
async def ingest_batch(request: Request) -> Response:
    """Store many runs (start, records, conversation state, completion of each) in one request;
    reply ``{"runs": [{"run_id", "status", "error"?, "workflow_id"?, "governance"?, "complete"?}]}``."""
    raw = await request.body()
    return await anyio.to_thread.run_sync(_handle, request, raw)


def _handle(request: Request, raw: bytes) -> Response:
    with gc_paused():
        return _handle_batch(request, raw)


def _handle_batch(request: Request, raw: bytes) -> Response:
    results, valid = _validated(request, raw)
    now = time.time()
    governed = _governed(request, [entry for _, entry in valid])
    segment: list[tuple[int, BatchRunIn]] = []
    for (index, entry), per_run in zip(valid, governed, strict=False):
        if not per_run:
            segment.append((index, entry))
            continue
        _store_segment(request, segment, now, results)
        segment = []
        results[index] = _deliver_per_run(request, entry)
    _store_segment(request, segment, now, results)
    # msgspec writes the reply (one result per run) several times faster than the json module
    return Response(msgspec.json.encode({"runs": results}), media_type="application/json")


# -- the body ------------------------------------------------------------------------------------


class _WholeBody(BaseModel):
    """A body whose every entry is valid, validated in one pass from the JSON text."""

    model_config = ConfigDict(extra="ignore")

    runs: list[BatchRunIn] = Field(max_length=BATCH_MAX_RUNS)


def _validated(
    request: Request, raw: bytes
) -> tuple[list[dict[str, Any] | None], list[tuple[int, BatchRunIn]]]:
    """The results so far (a 422 for each invalid entry, ``None`` for the others) and the valid
    entries with their places.

    A body in the form our SDK sends, while no policy is stored (the entries are then stored
    with the batch, never through the per-run code), is decoded by msgspec
    (:mod:`.fast_wire`). Another body of valid entries is parsed and validated in one pass by
    pydantic's JSON validator (a quarter less work than parsing, then validating entry by entry).
    Any other body — an invalid entry, too many entries, JSON pydantic's parser refuses — goes
    the way that names each problem: parsed, then validated entry by entry."""
    if not _is_json(request.headers.get("content-type")):
        _entries(request, raw)  # raises the answer for a body that is not JSON
    if decider(request).empty:
        decoded = fast_wire.decode_batch(raw, BATCH_MAX_RUNS)
        if decoded is not None:
            return [None] * len(decoded), list(enumerate(decoded))
    try:
        body = _WholeBody.model_validate_json(raw)
    except ValidationError:
        pass
    else:
        return [None] * len(body.runs), list(enumerate(body.runs))
    items = _entries(request, raw)
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, BatchRunIn]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, BatchRunIn.model_validate(item)))
        except ValidationError as exc:
            results[index] = {"run_id": _given_run_id(item), "status": 422, "error": _entry_problem(exc)}
    return results, valid


def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides for JSON bodies: no content type, ``application/json`` or ``*+json``."""
    if not content_type:
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _body_problem(msg: str, kind: str, loc: tuple[str, ...] = ("body",)) -> RequestValidationError:
    return RequestValidationError([{"loc": loc, "msg": msg, "type": kind}])


def _parse(raw: bytes) -> Any:
    """The JSON of ``raw``: parsed by pydantic's (several times faster) parser, else by the
    standard library — which the per-run endpoints use, and which also reads what pydantic's
    refuses (lone UTF-16 surrogates, UTF-16/32 bodies) and names the problem of invalid JSON."""
    try:
        return pydantic_core.from_json(raw)
    except ValueError:
        return json.loads(raw)


def _entries(request: Request, raw: bytes) -> list[Any]:
    """The ``runs`` list of the body (422 when the body is not ``{"runs": [...]}``, 413 when the
    list is longer than :data:`BATCH_MAX_RUNS`)."""
    if not _is_json(request.headers.get("content-type")):
        raise _body_problem(
            "send the batch as JSON (Content-Type: application/json)", "model_attributes_type"
        )
    try:
        data = _parse(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "type": "json_invalid",
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
    except (UnicodeDecodeError, RecursionError):
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from None
    if not isinstance(data, dict):
        raise _body_problem('expected an object {"runs": [...]}', "model_type")
    entries = data.get("runs")
    if not isinstance(entries, list):
        missing = "runs" not in data
        raise _body_problem(
            "Field required" if missing else "expected a list of runs", "missing" if missing else "list_type",
            ("body", "runs"),
        )  # fmt: skip
    if len(entries) > BATCH_MAX_RUNS:
        raise HTTPException(
            status_code=413,
            detail=f"too many runs in one batch: {len(entries)}, "
            f"the limit is {BATCH_MAX_RUNS} (send smaller batches)",
        )
    return entries


def _given_run_id(item: Any) -> str | None:
    run_id = item.get("run_id") if isinstance(item, dict) else None
    return cut(run_id, 256) if isinstance(run_id, str) else None


def _entry_problem(exc: ValidationError) -> str:
    """``"llm_calls.0.model: Field required; ..."`` (``entry`` when the entry itself is wrong)."""
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())] or ["entry"], "msg": e.get("msg", "invalid")}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return validation_message(errors)


# -- governance: which entries go through the per-run code path ------------------------------------


def _governed(request: Request, entries: Sequence[BatchRunIn]) -> list[bool]:
    """For each entry: True when a stored policy evaluates its run on the way the entry takes
    (mid-execution, for records or conversation state; post-execution, for a completion)."""
    found = decider(request)
    if found.empty or not entries:
        return [False] * len(entries)
    identities = _stored_identities(request, {e.run_id for e in entries})
    governed = []
    for entry in entries:
        identity = identities.get(entry.run_id)
        if entry.start is not None:
            start = entry.start
            own = (
                cut(start.agent_name, 256),
                cut(start.workflow_name, 256) or "default",
                cut(start.user_group, 256),
            )
            if identity is None:
                identities[entry.run_id] = identity = own
            elif identity[:2] != own[:2]:
                identity = own  # the id is another agent's run: this start makes a new run
        if identity is None:  # unknown run: a 404 either way
            governed.append(False)
            continue
        phases = found.facts(*identity).phases
        mid = "mid_execution" in phases and bool(
            entry.llm_calls or entry.steps or entry.conversation_state is not None
        )
        post = "post_execution" in phases and entry.complete is not None
        governed.append(mid or post)
    return governed


def _stored_identities(request: Request, run_ids: set[str]) -> dict[str, tuple[str, str, str]]:
    """``(agent_name, workflow_name, user_group)`` of the stored runs among ``run_ids``."""
    sql = "SELECT run_id, agent_name, workflow_name, user_group FROM runs WHERE run_id {runs}"
    rows = _select_stored(request, sql, sorted(run_ids))
    return {run_id: (agent, workflow, group or "") for run_id, agent, workflow, group in rows}


def _select_stored(request: Request, sql: str, run_ids: list[str]) -> list[tuple[Any, ...]]:
    """:func:`~waxell_observe_server.raw_sql.select_for_runs` in a read transaction."""
    with request.app.state.store.read() as conn:
        return select_for_runs(conn, sql, run_ids)


# -- storing ------------------------------------------------------------------------------------------


def _store_segment(
    request: Request, segment: list[tuple[int, BatchRunIn]], now: float, results: list[dict[str, Any] | None]
) -> None:
    """Store consecutive entries that no policy evaluates: in one transaction, or — when the
    database refuses something — each in its own, so one entry's failure loses no other."""
    if not segment:
        return
    found = decider(request)
    entries = [entry for _, entry in segment]
    try:
        outcomes = _write(request, entries, now, found.now())
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise  # the database is unavailable: 503 for the whole request (clients retry)
        if len(segment) > 1:
            for one in segment:
                _store_segment(request, [one], now, results)
            return
        results[segment[0][0]] = _refused(entries[0].run_id, exc)
        return
    for (index, _), outcome in zip(segment, outcomes, strict=False):
        results[index] = _result(outcome)
    _note_completions(request, sum(1 for e in entries if e.complete is not None), found)


def _refused(run_id: str, exc: DBAPIError) -> dict[str, Any]:
    """The result of an entry whose rows the database refused (logged with the traceback)."""
    logger.error("waxell-observe server: could not store run %r of a batch", run_id, exc_info=exc)
    problem = str(exc.orig if exc.orig is not None else exc).splitlines()[0][:500]
    return {"run_id": run_id, "status": 500, "error": f"the database refused this run: {problem}"}


def _write(request: Request, entries: list[BatchRunIn], now: float, counted_at: float) -> list[EntryOutcome]:
    return batch_ingest.write_runs(request.app.state.writer, entries, now, counted_at=counted_at)


def _result(outcome: EntryOutcome) -> dict[str, Any]:
    result: dict[str, Any] = {"run_id": outcome.run_id, "status": outcome.status}
    if outcome.status >= 400:
        result["error"] = outcome.error
        return result
    result["workflow_id"] = outcome.workflow_id
    if outcome.duration is not None:
        result["complete"] = {
            "run_id": outcome.workflow_id,
            "duration": outcome.duration,
            "governance": ingest_routes.no_governance_complete(),
        }
    return result


_prune_lock = threading.Lock()


def _note_completions(request: Request, completed: int, found: Any) -> None:
    """Prune the governance counters as often as one finish per run would (every
    ``PRUNE_EVERY`` runs finished through batches)."""
    if not completed:
        return
    state = request.app.state
    with _prune_lock:
        before = getattr(state, "batch_completions", 0)
        state.batch_completions = before + completed
        due = before // PRUNE_EVERY != (before + completed) // PRUNE_EVERY
    if due:
        found.usage.prune(found.now())


def _deliver_per_run(request: Request, entry: BatchRunIn) -> dict[str, Any]:
    """Deliver one entry through the per-run endpoints' code (a policy evaluates its run)."""
    entry = fast_wire.as_model(entry)  # a policy was stored since the body was decoded
    run_id = entry.run_id
    result: dict[str, Any] = {"run_id": run_id, "status": 200}
    verdicts: list[dict[str, Any] | None] = []
    try:
        if entry.start is not None:
            reply, created = ingest_routes.deliver_start(
                request, entry.start.model_copy(update={"run_id": run_id})
            )
            run_id = reply["run_id"]
            result["status"] = 201 if created else 200
        result["workflow_id"] = run_id
        if entry.llm_calls or entry.conversation_state is not None:
            body: Any = LLMCallsBody.model_construct(
                calls=entry.llm_calls or [], conversation_state=entry.conversation_state, hardware_uuid=None
            )
            verdicts.append(
                ingest_routes.deliver_records(request, "llm-calls", run_id, body).get("governance")
            )
        if entry.steps:
            body = StepsBody.model_construct(steps=entry.steps, conversation_state=None)
            verdicts.append(ingest_routes.deliver_records(request, "steps", run_id, body).get("governance"))
        if entry.spans:
            ingest_routes.deliver_records(
                request, "spans", run_id, SpansBody.model_construct(spans=entry.spans)
            )
        if entry.scores:
            ingest_routes.deliver_records(
                request, "scores", run_id, ScoresBody.model_construct(scores=entry.scores)
            )
        if not (entry.start or verdicts or entry.spans or entry.scores or entry.complete):
            _check_known(request, run_id)
        if entry.complete is not None:
            result["complete"] = ingest_routes.deliver_completion(request, run_id, entry.complete)
    except HTTPException as exc:
        if exc.status_code != 404:
            raise
        return {
            "run_id": entry.run_id,
            "status": 404,
            "error": batch_ingest.unknown_run_message(entry.run_id),
        }
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            raise  # the database is unavailable: 503 for the whole request (clients retry)
        return _refused(entry.run_id, exc)
    governance = _stricter(verdicts)
    if governance is not None:
        result["governance"] = governance
    return result


def _check_known(request: Request, run_id: str) -> None:
    with request.app.state.store.read() as conn:
        if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is None:
            raise HTTPException(status_code=404)


def _stricter(verdicts: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The strictest of the verdicts (the later one on a tie), ``None`` when there is none."""
    chosen: dict[str, Any] | None = None
    for verdict in verdicts:
        if verdict is None:
            continue
        rank = ACTION_SEVERITY.get(str(verdict.get("action")), ACTION_SEVERITY["warn"])
        if chosen is None or rank >= ACTION_SEVERITY.get(str(chosen.get("action")), ACTION_SEVERITY["warn"]):
            chosen = verdict
    return chosen
