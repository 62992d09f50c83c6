"""The read API (``/api/v1/read/``, see ``docs/read-api.md``): runs, sessions, users, costs,
policies, the audit trail and agents, for the CLI and the dashboard."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError

from waxell_observe.store import aggregates
from waxell_observe.store.reader import SORTABLE_COLUMNS, RunFilter, get_run, iso, list_runs
from waxell_observe_server.policy_admin_routes import list_policies
from waxell_observe_server.sanitize import clean_text
from waxell_observe_server.wire_models import parse_timestamp

__all__ = ["router"]

router = APIRouter(tags=["read"])

OrderBy = Literal[
    "started_at", "ended_at", "agent_name", "status", "total_cost", "tokens_in", "llm_call_count"
]
assert set(OrderBy.__args__) == set(SORTABLE_COLUMNS)  # type: ignore[attr-defined]
_MAX_OFFSET = 1_000_000_000


def _time(value: str | None, name: str) -> float | None:
    """A query time (ISO 8601 or epoch seconds); 422 naming the parameter when malformed."""
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": str(exc), "type": "value_error"}]
        ) from None


def _text(value: str | None) -> str:
    return clean_text(value) if value else ""


def _store(request: Request) -> Any:
    return request.app.state.store


@router.get("/runs/")
def runs_list(
    request: Request,
    agent_name: str = "",
    workflow_name: str = "",
    status: str = "",
    session_id: str = "",
    user_id: str = "",
    user_group: str = "",
    tag: str = Query(default="", description="`key:value` or `key`"),
    since: str | None = Query(default=None, description="ISO 8601 or epoch seconds"),
    until: str | None = Query(default=None, description="ISO 8601 or epoch seconds"),
    roots_only: bool = False,
    order_by: OrderBy = "started_at",
    order: Literal["asc", "desc"] = "desc",
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
) -> dict[str, Any]:
    """Runs matching the filters, a page of them, and totals over all that match."""
    tag_key, _, tag_value = _text(tag).partition(":")
    run_filter = RunFilter(
        agent_name=_text(agent_name),
        workflow_name=_text(workflow_name),
        status=_text(status),
        session_id=_text(session_id),
        user_id=_text(user_id),
        user_group=_text(user_group),
        tag_key=tag_key,
        tag_value=tag_value,
        since=_time(since, "since"),
        until=_time(until, "until"),
        roots_only=roots_only,
    )
    with _store(request).read() as conn:
        page = list_runs(
            conn, run_filter, limit=limit, offset=offset, order_by=order_by, descending=order == "desc"
        )
        totals = aggregates.run_totals(conn, run_filter)
    return {"runs": page, "total": totals["runs"], "limit": limit, "offset": offset, "totals": totals}


@router.get("/runs/{run_id}/")
def run_detail(run_id: str, request: Request) -> dict[str, Any]:
    """One run with all its records; 404 when unknown."""
    with _store(request).read() as conn:
        run = get_run(conn, clean_text(run_id))
    if run is None:
        raise HTTPException(status_code=404, detail=f"unknown run {run_id[:80]!r}")
    return run


@router.get("/runs/{run_id}/logs/")
def run_logs(
    run_id: str,
    request: Request,
    min_severity: int = Query(0, ge=0, le=24),
    limit: int = Query(1000, ge=1, le=5000),
) -> dict[str, Any]:
    """What the application logged while the run was active (OTLP ``/v1/logs``), in time order:
    ``{"run_id", "logs": [{time (ISO 8601), severity_number, severity_text, body, logger, trace_id,
    span_id, attributes}]}``; 404 when the run is unknown."""
    from sqlalchemy import select

    from waxell_observe.store.run_logs import logs_of_run
    from waxell_observe.store.schema import runs

    run_id = clean_text(run_id)
    with _store(request).read() as conn:
        if conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is None:
            raise HTTPException(status_code=404, detail=f"unknown run {run_id[:80]!r}")
        records = logs_of_run(conn, run_id, min_severity=min_severity, limit=limit)
    return {"run_id": run_id, "logs": [{**record, "time": iso(record["time"])} for record in records]}


@router.get("/sessions/")
def sessions_list(
    request: Request,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
    agent_name: str = "",
    user_id: str = "",
) -> dict[str, Any]:
    """Sessions, newest activity first (filters keep sessions with a run of that agent/user)."""
    with _store(request).read() as conn:
        sessions, total = aggregates.list_sessions(
            conn, limit=limit, offset=offset, agent_name=_text(agent_name), user_id=_text(user_id)
        )
    return {"sessions": sessions, "total": total}


@router.get("/sessions/{session_id}/")
def session_detail(session_id: str, request: Request) -> dict[str, Any]:
    """One session with its runs (oldest first) and its conversation; 404 when unknown."""
    with _store(request).read() as conn:
        session = aggregates.get_session(conn, clean_text(session_id))
    if session is None:
        raise HTTPException(status_code=404, detail=f"unknown session {session_id[:80]!r}")
    return session


@router.get("/users/")
def users_list(
    request: Request,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
) -> dict[str, Any]:
    """End users, newest activity first."""
    with _store(request).read() as conn:
        users, total = aggregates.list_users(conn, limit=limit, offset=offset)
    return {"users": users, "total": total}


@router.get("/users/{user_id}/")
def user_detail(user_id: str, request: Request) -> dict[str, Any]:
    """One end user: aggregates, usage by model, newest 100 runs; 404 when unknown."""
    with _store(request).read() as conn:
        user = aggregates.get_user(conn, clean_text(user_id))
    if user is None:
        raise HTTPException(status_code=404, detail=f"unknown user {user_id[:80]!r}")
    return user


@router.get("/costs/")
def costs(
    request: Request,
    since: str | None = Query(default=None, description="ISO 8601 or epoch seconds"),
    until: str | None = Query(default=None, description="ISO 8601 or epoch seconds"),
    agent_name: str = "",
) -> dict[str, Any]:
    """Cost by model, agent and UTC day of the runs started in ``[since, until)``."""
    with _store(request).read() as conn:
        return aggregates.costs(
            conn, since=_time(since, "since"), until=_time(until, "until"), agent_name=_text(agent_name)
        )


@router.get("/policies/")
def policies(request: Request) -> dict[str, Any]:
    """The policies as stored (by the governance engine)."""
    return {"policies": list_policies(request)}


@router.get("/audit/")
def audit(
    request: Request,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
    run_id: str = "",
    action: str = "",
) -> dict[str, Any]:
    """Audit events (policy decisions, approvals, ...), newest first."""
    with _store(request).read() as conn:
        events, total = aggregates.list_audit(
            conn, limit=limit, offset=offset, run_id=_text(run_id), action=_text(action)
        )
    return {"events": events, "total": total}


@router.get("/agents/")
def agents(request: Request) -> dict[str, Any]:
    """Every agent with its run count and last start (for filter drop-downs)."""
    with _store(request).read() as conn:
        return {"agents": aggregates.list_agents(conn)}
