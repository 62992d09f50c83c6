"""Aggregates over stored runs for the read API and the dashboard: run totals, sessions,
users, costs, the audit trail and the agents list.

Times in the results are ISO 8601 UTC strings (``reader.iso``), money is USD floats, runs are
``reader.run_summary`` dicts. Only portable SQL (SQLite and PostgreSQL), except the UTC day
of a timestamp, which has one expression per dialect.

Most answers come from the rollups the triggers of ``store/rollups.py`` keep (a few rows per
day instead of every run). A time range is answered from the rollups for the whole UTC days it
covers and from the runs themselves (through the ``started_at`` index) for the part days at its
ends, so the results are those of aggregating the runs directly. Filters the rollups do not
cover (workflow, session, user, user group, a tag together with an agent) aggregate the runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, select, true

from waxell_observe.store.day_ranges import Part, day_bounds, split_range
from waxell_observe.store.reader import RunFilter, iso, list_runs
from waxell_observe.store.schema import (
    audit_events,
    llm_calls,
    rollup_calls,
    rollup_runs,
    rollup_sessions,
    rollup_tags,
    rollup_users,
    runs,
    spans,
)

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


def _money(value: float) -> float:
    return round(float(value), 10) + 0.0  # + 0.0: never "-0.0"


def _rollup_filterable(run_filter: RunFilter) -> bool:
    """Whether ``rollup_runs`` / ``rollup_tags`` can answer totals for ``run_filter``."""
    f = run_filter
    if f.workflow_name or f.session_id or f.user_id or f.user_group or f.parent_run_id is not None:
        return False
    if f.tag_key:
        return not f.agent_name and f.tag_indexed
    return True


def run_totals(conn: Connection, run_filter: RunFilter | None = None) -> dict[str, Any]:
    """``{"runs", "tokens", "cost", "errors", "error_rate"}`` over the runs matching ``run_filter``."""
    run_filter = run_filter or RunFilter()
    parts: list[tuple[int, int, float, int]] = []
    span = split_range(run_filter.since, run_filter.until) if _rollup_filterable(run_filter) else None
    if span is not None and span.whole:
        parts.append(_rollup_totals(conn, run_filter, span.first, span.last))
        parts.extend(_rollup_totals(conn, run_filter, day, day) for day in span.days)
        pieces = span.parts
    else:
        pieces = [Part(run_filter.since, run_filter.until)]
    for piece in pieces:
        found = _direct_totals(conn, replace(run_filter, since=None, until=None), piece.conditions(conn))
        parts.append(found if piece.sign > 0 else (-found[0], -found[1], -found[2], -found[3]))
    count = sum(p[0] for p in parts)
    error_count = sum(p[3] for p in parts)
    return {
        "runs": count,
        "tokens": sum(p[1] for p in parts),
        "cost": _money(math.fsum(p[2] for p in parts)),
        "errors": error_count,
        "error_rate": round(error_count / count, 6) if count else 0.0,
    }


def _direct_totals(
    conn: Connection, run_filter: RunFilter, conditions: list[ColumnElement[bool]]
) -> tuple[int, int, float, int]:
    errors = func.coalesce(func.sum(case((runs.c.status == "error", 1), else_=0)), 0)
    query = select(
        func.count(),
        func.coalesce(func.sum(_TOKENS), 0),
        func.coalesce(func.sum(runs.c.total_cost), 0.0),
        errors,
    ).select_from(runs)
    query = run_filter.apply(query)
    if conditions:
        query = query.where(and_(*conditions))
    count, tokens, cost, error_count = conn.execute(query).one()
    return int(count), int(tokens), float(cost), int(error_count)


def _rollup_totals(
    conn: Connection, run_filter: RunFilter, first: str | None, last: str | None
) -> tuple[int, int, float, int]:
    table = rollup_tags if run_filter.tag_key else rollup_runs
    c = table.c
    conditions = day_bounds(c.day, first, last)
    if run_filter.tag_key:
        conditions.append(c.tag_key == run_filter.tag_key)
        if run_filter.tag_value:
            conditions.append(c.tag_value == run_filter.tag_value)
    elif run_filter.agent_name:
        conditions.append(c.agent_name == run_filter.agent_name)
    if run_filter.status:
        conditions.append(c.status == run_filter.status)
    if run_filter.roots_only:
        conditions.append(c.is_root.is_(True))
    query = select(
        func.coalesce(func.sum(c.runs), 0),
        func.coalesce(func.sum(c.tokens), 0),
        func.coalesce(func.sum(c.cost), 0.0),
        func.coalesce(func.sum(case((c.status == "error", c.runs), else_=0)), 0),
    ).where(and_(*conditions) if conditions else true())
    count, tokens, cost, error_count = conn.execute(query).one()
    return int(count), int(tokens), float(cost), int(error_count)


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
    query = select(key, value).where(key.in_(keys), value != "").group_by(key, value).order_by(key, value)
    for k, v in conn.execute(query):
        found[k].append(v)
    return found


def _entity_dict(name: str, row: Any) -> dict[str, Any]:
    return {
        name: row[0],
        "run_count": int(row.runs),
        "total_tokens": int(row.tokens),
        "total_cost": _money(row.cost),
        "first_seen": iso(row.first_seen),
        "last_seen": iso(row.last_seen),
    }


def _entities(
    conn: Connection, table: Any, key: Any, scope: list[ColumnElement[bool]], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of ``rollup_sessions`` / ``rollup_users`` rows, newest ``last_seen`` first (its index)."""
    where = and_(*scope) if scope else true()
    total = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()
    query = (
        select(key, table.c.runs, table.c.tokens, table.c.cost, table.c.first_seen, table.c.last_seen)
        .where(where)
        .order_by(table.c.last_seen.desc(), key)
        .limit(limit)
        .offset(offset)
    )
    return [_entity_dict(key.name, row) for row in conn.execute(query)], int(total)


def list_sessions(
    conn: Connection, *, limit: int = 50, offset: int = 0, agent_name: str = "", user_id: str = ""
) -> tuple[list[dict[str, Any]], int]:
    """Sessions, newest ``last_seen`` first, and how many there are in all.

    ``agent_name`` / ``user_id`` keep the sessions with at least one run of that agent / user
    (all their runs count)."""
    key = rollup_sessions.c.session_id
    scope: list[ColumnElement[bool]] = []
    for column, value in ((runs.c.agent_name, agent_name), (runs.c.user_id, user_id)):
        if value:
            scope.append(key.in_(select(runs.c.session_id).where(column == value, runs.c.session_id != "")))
    sessions, total = _entities(conn, rollup_sessions, key, scope, limit, offset)
    ids = [s["session_id"] for s in sessions]
    agents = _distinct_by(conn, runs.c.session_id, runs.c.agent_name, ids)
    users = _distinct_by(conn, runs.c.session_id, runs.c.user_id, ids)
    for session in sessions:
        session["agents"] = agents[session["session_id"]]
        session["user_ids"] = users[session["session_id"]]
    return sessions, total


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
        select(*_group_fields(runs.c.session_id))
        .where(runs.c.session_id == session_id)
        .group_by(runs.c.session_id)
    ).first()
    if row is None:
        return None
    session = _group_dict("session_id", row)
    session["agents"] = _distinct_by(conn, runs.c.session_id, runs.c.agent_name, [session_id])[session_id]
    session["user_ids"] = _distinct_by(conn, runs.c.session_id, runs.c.user_id, [session_id])[session_id]
    session["runs"] = list_runs(conn, RunFilter(session_id=session_id), limit=100_000, descending=False)
    io_query = (
        select(
            spans.c.run_id,
            spans.c.name,
            spans.c.input,
            spans.c.output,
            spans.c.attributes,
            spans.c.started_at,
        )
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
    return _entities(conn, rollup_users, rollup_users.c.user_id, [], limit, offset)


def _by_model(
    conn: Connection, conditions: list[ColumnElement[bool]], *, with_provider: bool
) -> list[dict[str, Any]]:
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


class _Sums:
    """Sums per key from the rollups and the part days, merged (money summed with ``fsum``)."""

    def __init__(self, counts: int) -> None:
        self.counts = counts
        self.values: dict[Any, tuple[list[int], list[float]]] = {}

    def add(self, key: Any, counts: Iterable[Any], cost: Any, sign: int = 1) -> None:
        entry = self.values.setdefault(key, ([0] * self.counts, []))
        for i, value in enumerate(counts):
            entry[0][i] += sign * int(value or 0)
        entry[1].append(sign * float(cost or 0.0))

    def items(self) -> list[tuple[Any, list[int], float]]:
        """``(key, counts, cost)`` of keys whose first count is not 0."""
        return [(k, c, math.fsum(m)) for k, (c, m) in self.values.items() if c[0]]


def costs(
    conn: Connection, *, since: float | None = None, until: float | None = None, agent_name: str = ""
) -> dict[str, Any]:
    """Cost by model, by agent and by UTC day of the runs started in ``[since, until)``."""
    by_agent, by_day, by_model = _Sums(2), _Sums(2), _Sums(3)
    span = split_range(since, until)
    if span.whole:
        for first, last in [(span.first, span.last), *((day, day) for day in span.days)]:
            _rollup_costs(conn, first, last, agent_name, by_agent, by_day, by_model)
    for part in span.parts:
        _direct_costs(conn, part, agent_name, by_agent, by_day, by_model)
    days = by_day.items()
    return {
        "by_model": [
            {
                "model": k[0],
                "provider": k[1],
                "calls": n[0],
                "tokens_in": n[1],
                "tokens_out": n[2],
                "cost": _money(cost),
            }
            for k, n, cost in sorted(by_model.items(), key=lambda e: (-e[2], e[0]))
        ],
        "by_agent": [
            {"agent_name": k, "runs": n[0], "tokens": n[1], "cost": _money(cost)}
            for k, n, cost in sorted(by_agent.items(), key=lambda e: (-e[2], e[0]))
        ],
        "by_day": [
            {"day": k, "runs": n[0], "tokens": n[1], "cost": _money(cost)} for k, n, cost in sorted(days)
        ],
        "total_cost": _money(math.fsum(cost for _k, _n, cost in days)),
    }


def _rollup_costs(
    conn: Connection,
    first: str | None,
    last: str | None,
    agent_name: str,
    by_agent: _Sums,
    by_day: _Sums,
    by_model: _Sums,
) -> None:
    r, c = rollup_runs.c, rollup_calls.c
    run_where = day_bounds(r.day, first, last) + ([r.agent_name == agent_name] if agent_name else [])
    call_where = day_bounds(c.day, first, last) + ([c.agent_name == agent_name] if agent_name else [])
    sums = (func.sum(r.runs), func.sum(r.tokens), func.sum(r.cost))
    for key, target in ((r.agent_name, by_agent), (r.day, by_day)):
        query = select(key, *sums).where(and_(*run_where) if run_where else true()).group_by(key)
        for row in conn.execute(query):
            target.add(row[0], row[1:3], row[3])
    by_models = (
        select(
            c.model,
            c.provider,
            func.sum(c.calls),
            func.sum(c.tokens_in),
            func.sum(c.tokens_out),
            func.sum(c.cost),
        )
        .where(and_(*call_where) if call_where else true())
        .group_by(c.model, c.provider)
    )
    for calls in conn.execute(by_models):
        by_model.add((calls[0], calls[1]), calls[2:5], calls[5])


def _direct_costs(
    conn: Connection, part: Part, agent_name: str, by_agent: _Sums, by_day: _Sums, by_model: _Sums
) -> None:
    """Costs of the runs of ``part``, from the runs and their calls."""
    conditions = part.conditions(conn)
    if agent_name:
        conditions.append(runs.c.agent_name == agent_name)
    where = and_(*conditions) if conditions else true()
    per_run = (
        select(part.day(conn).label("day"), runs.c.agent_name, (_TOKENS).label("tokens"), runs.c.total_cost)
        .where(where)
        .subquery("part")
    )
    query = select(
        per_run.c.day, per_run.c.agent_name, func.count(), func.coalesce(func.sum(per_run.c.tokens), 0),
        func.sum(per_run.c.total_cost),
    ).group_by(per_run.c.day, per_run.c.agent_name)  # fmt: skip
    for row in conn.execute(query):
        by_day.add(row[0], row[2:4], row[4], part.sign)
        by_agent.add(row[1], row[2:4], row[4], part.sign)
    calls: Any = llm_calls
    source: Any = llm_calls.join(runs, runs.c.run_id == llm_calls.c.run_id)
    if conn.dialect.name == "postgresql":
        # The calls of each run of the part (from ix_llm_calls_run_cover); PostgreSQL would
        # otherwise hash-join every call of the store against a few thousand runs.
        c = llm_calls.c
        calls = (
            select(c.model, c.provider, c.tokens_in, c.tokens_out, c.cost)
            .where(c.run_id == runs.c.run_id)
            .lateral("calls")
        )
        source = runs.join(calls, true())
    query = (
        select(
            calls.c.model,
            calls.c.provider,
            func.count(),
            func.sum(calls.c.tokens_in),
            func.sum(calls.c.tokens_out),
            func.sum(calls.c.cost),
        )
        .select_from(source)
        .where(where)
        .group_by(calls.c.model, calls.c.provider)
    )
    for row in conn.execute(query):
        by_model.add((row[0], row[1]), row[2:5], row[5], part.sign)


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
    counts = (
        select(rollup_runs.c.agent_name, func.sum(rollup_runs.c.runs).label("runs"))
        .group_by(rollup_runs.c.agent_name)
        .having(func.sum(rollup_runs.c.runs) != 0)
        .subquery("counts")
    )
    last = (
        select(func.max(runs.c.started_at)).where(runs.c.agent_name == counts.c.agent_name).scalar_subquery()
    )  # one index lookup per agent (ix_runs_agent_started)
    query = select(counts.c.agent_name, counts.c.runs, last.label("last_seen")).order_by(counts.c.agent_name)
    return [
        {"agent_name": r.agent_name, "runs": int(r.runs), "last_seen": iso(r.last_seen)}
        for r in conn.execute(query)
    ]
