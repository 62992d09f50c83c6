"""Aggregates over stored runs for the read API and the dashboard: run totals, sessions,
users, costs, the audit trail and the agents list.

Times in the results are ISO 8601 UTC strings (``reader.iso``), money is USD floats, runs are
``reader.run_summary`` dicts. Only portable SQL (SQLite and PostgreSQL), except the UTC day
of a timestamp, which has one expression per dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, distinct, func, select, true

from waxell_observe.store.reader import RunFilter, iso, list_runs
from waxell_observe.store.schema import audit_events, llm_calls, runs, spans

__all__ = [
    "run_totals",
    "list_sessions",
    "get_session",
    "list_users",
    "get_user",
    "costs",
    "list_audit",
    "list_agents",
]

_TOKENS = runs.c.tokens_in + runs.c.tokens_out
_LAST_SEEN = func.coalesce(runs.c.ended_at, runs.c.started_at)


def run_totals(conn: Connection, run_filter: RunFilter | None = None) -> dict[str, Any]:
    """``{"runs", "tokens", "cost", "errors", "error_rate"}`` over the runs matching ``run_filter``."""
    errors = func.coalesce(func.sum(case((runs.c.status == "error", 1), else_=0)), 0)
    query = select(
        func.count(),
        func.coalesce(func.sum(_TOKENS), 0),
        func.coalesce(func.sum(runs.c.total_cost), 0.0),
        errors,
    ).select_from(runs)
    count, tokens, cost, error_count = conn.execute((run_filter or RunFilter()).apply(query)).one()
    count, error_count = int(count), int(error_count)
    return {
        "runs": count,
        "tokens": int(tokens),
        "cost": round(float(cost), 10),
        "errors": error_count,
        "error_rate": round(error_count / count, 6) if count else 0.0,
    }


def _group_fields(key: ColumnElement[Any]) -> list[Any]:
    return [
        key,
        func.count().label("run_count"),
        func.coalesce(func.sum(_TOKENS), 0).label("total_tokens"),
        func.coalesce(func.sum(runs.c.total_cost), 0.0).label("total_cost"),
        func.min(runs.c.started_at).label("first_seen"),
        func.max(_LAST_SEEN).label("last_seen"),
    ]


def _group_dict(name: str, row: Any) -> dict[str, Any]:
    return {
        name: row[0],
        "run_count": int(row.run_count),
        "total_tokens": int(row.total_tokens),
        "total_cost": round(float(row.total_cost), 10),
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
    }


def _distinct_by(conn: Connection, key: Any, value: Any, keys: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {k: [] for k in keys}
    if not keys:
        return found
    query = (
        select(key, value).where(key.in_(keys), value != "").group_by(key, value).order_by(key, value)
    )
    for k, v in conn.execute(query):
        found[k].append(v)
    return found


def _session_scope(agent_name: str, user_id: str) -> list[ColumnElement[bool]]:
    """Sessions with at least one run of ``agent_name`` / ``user_id`` (all their runs count)."""
    conditions: list[ColumnElement[bool]] = [runs.c.session_id != ""]
    for column, value in ((runs.c.agent_name, agent_name), (runs.c.user_id, user_id)):
        if value:
            inner = runs.alias("matching")
            conditions.append(
                runs.c.session_id.in_(select(inner.c.session_id).where(inner.c[column.name] == value))
            )
    return conditions


def list_sessions(
    conn: Connection, *, limit: int = 50, offset: int = 0, agent_name: str = "", user_id: str = ""
) -> tuple[list[dict[str, Any]], int]:
    """Sessions, newest ``last_seen`` first, and how many there are in all."""
    conditions = _session_scope(agent_name, user_id)
    total = conn.execute(select(func.count(distinct(runs.c.session_id))).where(and_(*conditions))).scalar_one()
    query = (
        select(*_group_fields(runs.c.session_id))
        .where(and_(*conditions))
        .group_by(runs.c.session_id)
        .order_by(func.max(_LAST_SEEN).desc(), runs.c.session_id)
        .limit(limit)
        .offset(offset)
    )
    sessions = [_group_dict("session_id", row) for row in conn.execute(query)]
    ids = [s["session_id"] for s in sessions]
    agents = _distinct_by(conn, runs.c.session_id, runs.c.agent_name, ids)
    users = _distinct_by(conn, runs.c.session_id, runs.c.user_id, ids)
    for session in sessions:
        session["agents"] = agents[session["session_id"]]
        session["user_ids"] = users[session["session_id"]]
    return sessions, int(total)


def _io_text(row: Any) -> str:
    value = row.input if row.name == "user_message" else row.output
    if isinstance(value, str) and value:
        return value
    attributes = row.attributes or {}
    text = attributes.get("preview", "")
    return text if isinstance(text, str) else ""


def get_session(conn: Connection, session_id: str) -> dict[str, Any] | None:
    """One session: its aggregates, its runs (oldest first) and its conversation, or ``None``."""
    if not session_id:
        return None
    row = conn.execute(
        select(*_group_fields(runs.c.session_id)).where(runs.c.session_id == session_id).group_by(runs.c.session_id)
    ).first()
    if row is None:
        return None
    session = _group_dict("session_id", row)
    session["agents"] = _distinct_by(conn, runs.c.session_id, runs.c.agent_name, [session_id])[session_id]
    session["user_ids"] = _distinct_by(conn, runs.c.session_id, runs.c.user_id, [session_id])[session_id]
    session["runs"] = list_runs(conn, RunFilter(session_id=session_id), limit=100_000, descending=False)
    io_query = (
        select(spans.c.run_id, spans.c.name, spans.c.input, spans.c.output, spans.c.attributes, spans.c.started_at)
        .join(runs, runs.c.run_id == spans.c.run_id)
        .where(runs.c.session_id == session_id, spans.c.kind == "io")
        .where(spans.c.name.in_(("user_message", "agent_response")))
        .order_by(spans.c.started_at, runs.c.started_at, spans.c.position)
    )
    session["conversation"] = [
        {"run_id": r.run_id, "kind": r.name, "text": _io_text(r), "at": iso(r.started_at)}
        for r in conn.execute(io_query)
    ]
    return session


def list_users(conn: Connection, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """End users, newest ``last_seen`` first, and how many there are in all."""
    condition = runs.c.user_id != ""
    total = conn.execute(select(func.count(distinct(runs.c.user_id))).where(condition)).scalar_one()
    query = (
        select(*_group_fields(runs.c.user_id))
        .where(condition)
        .group_by(runs.c.user_id)
        .order_by(func.max(_LAST_SEEN).desc(), runs.c.user_id)
        .limit(limit)
        .offset(offset)
    )
    return [_group_dict("user_id", row) for row in conn.execute(query)], int(total)


def _by_model(conn: Connection, conditions: list[ColumnElement[bool]], *, with_provider: bool) -> list[dict[str, Any]]:
    keys = [llm_calls.c.model, llm_calls.c.provider] if with_provider else [llm_calls.c.model]
    cost = func.coalesce(func.sum(llm_calls.c.cost), 0.0)
    query = (
        select(
            *keys,
            func.count().label("calls"),
            func.coalesce(func.sum(llm_calls.c.tokens_in), 0).label("tokens_in"),
            func.coalesce(func.sum(llm_calls.c.tokens_out), 0).label("tokens_out"),
            cost.label("cost"),
        )
        .select_from(llm_calls.join(runs, runs.c.run_id == llm_calls.c.run_id))
        .where(and_(*conditions) if conditions else true())
        .group_by(*keys)
        .order_by(cost.desc(), *keys)
    )
    result = []
    for row in conn.execute(query):
        item: dict[str, Any] = {"model": row.model}
        if with_provider:
            item["provider"] = row.provider
        item.update(
            calls=int(row.calls),
            tokens_in=int(row.tokens_in),
            tokens_out=int(row.tokens_out),
            cost=round(float(row.cost), 10),
        )
        result.append(item)
    return result


def get_user(conn: Connection, user_id: str) -> dict[str, Any] | None:
    """One end user: aggregates, usage by model, and their newest 100 runs; ``None`` when unknown."""
    if not user_id:
        return None
    row = conn.execute(
        select(*_group_fields(runs.c.user_id)).where(runs.c.user_id == user_id).group_by(runs.c.user_id)
    ).first()
    if row is None:
        return None
    user = _group_dict("user_id", row)
    user["by_model"] = _by_model(conn, [runs.c.user_id == user_id], with_provider=False)
    user["runs"] = list_runs(conn, RunFilter(user_id=user_id), limit=100)
    return user


def _utc_day(conn: Connection) -> ColumnElement[str]:
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", func.to_timestamp(runs.c.started_at)), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", runs.c.started_at, "unixepoch")


def costs(
    conn: Connection, *, since: float | None = None, until: float | None = None, agent_name: str = ""
) -> dict[str, Any]:
    """Cost by model, by agent and by UTC day of the runs started in ``[since, until)``."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(runs.c.started_at >= since)
    if until is not None:
        conditions.append(runs.c.started_at < until)
    if agent_name:
        conditions.append(runs.c.agent_name == agent_name)
    where = and_(*conditions) if conditions else true()
    run_cost = func.coalesce(func.sum(runs.c.total_cost), 0.0)
    by_agent = [
        {"agent_name": r.agent_name, "runs": int(r.runs), "tokens": int(r.tokens), "cost": round(float(r.cost), 10)}
        for r in conn.execute(
            select(
                runs.c.agent_name,
                func.count().label("runs"),
                func.coalesce(func.sum(_TOKENS), 0).label("tokens"),
                run_cost.label("cost"),
            )
            .where(where)
            .group_by(runs.c.agent_name)
            .order_by(run_cost.desc(), runs.c.agent_name)
        )
    ]
    day = _utc_day(conn).label("day")
    by_day = [
        {"day": r.day, "runs": int(r.runs), "tokens": int(r.tokens), "cost": round(float(r.cost), 10)}
        for r in conn.execute(
            select(
                day,
                func.count().label("runs"),
                func.coalesce(func.sum(_TOKENS), 0).label("tokens"),
                run_cost.label("cost"),
            )
            .where(where)
            .group_by(day)
            .order_by(day)
        )
    ]
    total = conn.execute(select(run_cost).where(where)).scalar_one()
    return {
        "by_model": _by_model(conn, conditions, with_provider=True),
        "by_agent": by_agent,
        "by_day": by_day,
        "total_cost": round(float(total), 10),
    }


def list_audit(
    conn: Connection, *, limit: int = 50, offset: int = 0, run_id: str = "", action: str = ""
) -> tuple[list[dict[str, Any]], int]:
    """Audit events, newest first, and how many match in all."""
    conditions = []
    if run_id:
        conditions.append(audit_events.c.run_id == run_id)
    if action:
        conditions.append(audit_events.c.action == action)
    where = and_(*conditions) if conditions else true()
    total = conn.execute(select(func.count()).select_from(audit_events).where(where)).scalar_one()
    query = (
        select(audit_events)
        .where(where)
        .order_by(audit_events.c.ts.desc(), audit_events.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    events = [
        {
            "ts": iso(r.ts),
            "run_id": r.run_id,
            "agent_name": r.agent_name,
            "workflow_name": r.workflow_name,
            "event": r.event,
            "policy_name": r.policy_name,
            "category": r.category,
            "action": r.action,
            "reason": r.reason,
            "phase": r.phase,
            "metadata": r.metadata or {},
        }
        for r in conn.execute(query)
    ]
    return events, int(total)


def list_agents(conn: Connection) -> list[dict[str, Any]]:
    """Every agent with its run count and when it last started a run, by name."""
    query = (
        select(runs.c.agent_name, func.count().label("runs"), func.max(runs.c.started_at).label("last_seen"))
        .group_by(runs.c.agent_name)
        .order_by(runs.c.agent_name)
    )
    return [{"agent_name": r.agent_name, "runs": int(r.runs), "last_seen": iso(r.last_seen)} for r in conn.execute(query)]
