"""Reading runs back, in the JSON shapes the CLI, the read API and the dashboard share.

``run_summary``: ``run_id, agent_name, workflow_name, status, error, session_id, user_id,
user_group, parent_run_id, root_run_id, started_at, ended_at, duration_ms, tokens_in,
tokens_out, total_tokens, total_cost, llm_call_count, step_count, span_count, tags`` (times as
ISO 8601 UTC strings). ``run_detail`` adds ``inputs, metadata, result, conversation,
governance, error_type, traceback, llm_calls, steps, spans, scores, children`` and ``active_ms`` /
``paused_ms`` (the duration without / spent in ``pause()`` spans).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select

from waxell_observe.store.active_time import active_and_paused, is_pause
from waxell_observe.store.schema import (
    TAG_KEY_LIMIT,
    TAG_VALUE_LIMIT,
    llm_calls,
    rollup_runs,
    rollup_tags,
    run_tags,
    runs,
    scores,
    spans,
    steps,
)

__all__ = ["RunFilter", "list_runs", "count_runs", "get_run", "run_summary", "iso", "SORTABLE_COLUMNS"]

SORTABLE_COLUMNS = {
    "started_at": runs.c.started_at,
    "ended_at": runs.c.ended_at,
    "agent_name": runs.c.agent_name,
    "status": runs.c.status,
    "total_cost": runs.c.total_cost,
    "tokens_in": runs.c.tokens_in,
    "llm_call_count": runs.c.llm_call_count,
}


def iso(ts: float | None) -> str | None:
    """An epoch time as an ISO 8601 UTC string (``None`` stays ``None``)."""
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat()


@dataclass
class RunFilter:
    """Which runs to list. Empty fields do not filter."""

    agent_name: str = ""
    workflow_name: str = ""
    status: str = ""
    session_id: str = ""
    user_id: str = ""
    user_group: str = ""
    parent_run_id: str | None = None
    tag_key: str = ""
    tag_value: str = ""
    since: float | None = None
    until: float | None = None
    roots_only: bool = False

    @property
    def tag_indexed(self) -> bool:
        """Whether ``run_tags`` answers the tag filter: key and value shorter than what it keeps
        (longer stored ones are cut to the limit, so they can never equal a shorter filter)."""
        return len(self.tag_key) < TAG_KEY_LIMIT and len(self.tag_value) < TAG_VALUE_LIMIT

    def tag_condition(self, *, per_run: bool = False) -> ColumnElement[bool]:
        """Runs with a string tag ``tag_key`` (equal to ``tag_value`` when given).

        Through the ``run_tags`` index: the set of tagged runs, or with ``per_run`` a lookup of
        each run's tag (better when most runs have the tag and only a page of them is read). A
        filter as long as the index's limits (or longer) reads the tags' JSON instead. Tags are
        strings wherever runs come from (SDK, wire protocol, OTLP); a non-string value written
        into the store by hand does not match.
        """
        if not self.tag_indexed:
            value: ColumnElement[str] = runs.c.tags[self.tag_key].as_string()
            return value == self.tag_value if self.tag_value else value.is_not(None)
        t = run_tags.c
        if per_run:
            found = select(t.run_id).where(t.run_id == runs.c.run_id, t.tag_key == self.tag_key)
            if self.tag_value:
                found = found.where(t.tag_value == self.tag_value)
            return found.exists()
        tagged = select(t.run_id).where(t.tag_key == self.tag_key)
        if self.tag_value:
            tagged = tagged.where(t.tag_value == self.tag_value)
        return runs.c.run_id.in_(tagged)

    def apply(self, query: Select[Any]) -> Select[Any]:
        conditions = []
        for name in ("agent_name", "workflow_name", "status", "session_id", "user_id", "user_group"):
            value = getattr(self, name)
            if value:
                conditions.append(runs.c[name] == value)
        if self.parent_run_id is not None:
            conditions.append(runs.c.parent_run_id == self.parent_run_id)
        if self.roots_only:
            conditions.append(runs.c.parent_run_id == "")
        if self.tag_key:
            conditions.append(self.tag_condition())
        if self.since is not None:
            conditions.append(runs.c.started_at >= self.since)
        if self.until is not None:
            conditions.append(runs.c.started_at < self.until)
        return query.where(and_(*conditions)) if conditions else query


def run_summary(row: Any) -> dict[str, Any]:
    m = row._mapping
    started, ended = m["started_at"], m["ended_at"]
    return {
        "run_id": m["run_id"],
        "agent_name": m["agent_name"],
        "workflow_name": m["workflow_name"],
        "status": m["status"],
        "error": m["error"],
        "session_id": m["session_id"],
        "user_id": m["user_id"],
        "user_group": m["user_group"],
        "parent_run_id": m["parent_run_id"],
        "root_run_id": m["root_run_id"],
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_ms": round((ended - started) * 1000.0, 3) if ended is not None else None,
        "tokens_in": m["tokens_in"],
        "tokens_out": m["tokens_out"],
        "total_tokens": m["tokens_in"] + m["tokens_out"],
        "total_cost": m["total_cost"],
        "llm_call_count": m["llm_call_count"],
        "step_count": m["step_count"],
        "span_count": m["span_count"],
        "tags": m["tags"] or {},
    }


def list_runs(
    conn: Connection,
    run_filter: RunFilter | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    order_by: str = "started_at",
    descending: bool = True,
) -> list[dict[str, Any]]:
    """Runs matching ``run_filter``, newest first by default."""
    column = SORTABLE_COLUMNS.get(order_by)
    if column is None:
        raise ValueError(f"cannot sort runs by {order_by!r}; one of: {', '.join(SORTABLE_COLUMNS)}")
    run_filter = run_filter or RunFilter()
    ordering = column.desc() if descending else column.asc()
    tiebreak = runs.c.run_id.desc() if descending else runs.c.run_id.asc()
    # The page's run ids first (from the sort column's index alone, however deep the page),
    # then only those rows, in one statement (one snapshot).
    indexed_tag = run_filter.tag_key and run_filter.tag_indexed
    if indexed_tag and run_filter.tag_value and order_by == "started_at":
        ids = _tagged_page_ids(run_filter, descending)
    elif indexed_tag and _common_tag(conn, run_filter.tag_key):
        # Walk the sort order and look up each run's tag: a page is found after a few lookups.
        untagged = replace(run_filter, tag_key="", tag_value="")
        ids = untagged.apply(select(runs.c.run_id)).where(run_filter.tag_condition(per_run=True))
        ids = ids.order_by(ordering, tiebreak)
    else:
        ids = run_filter.apply(select(runs.c.run_id)).order_by(ordering, tiebreak)
    page = ids.limit(limit).offset(offset).subquery("page")
    query = select(runs).join(page, page.c.run_id == runs.c.run_id).order_by(ordering, tiebreak)
    return [run_summary(row) for row in conn.execute(query)]


def _common_tag(conn: Connection, key: str) -> bool:
    """Whether at least one run in 20 has tag ``key`` (from the rollups: no run is read)."""
    tagged = (
        conn.execute(select(func.sum(rollup_tags.c.runs)).where(rollup_tags.c.tag_key == key)).scalar() or 0
    )
    stored = conn.execute(select(func.sum(rollup_runs.c.runs))).scalar() or 0
    return int(tagged) > 0 and int(tagged) * 20 >= int(stored)


def _tagged_page_ids(run_filter: RunFilter, descending: bool) -> Select[Any]:
    """Ids of the runs with tag ``key:value``, by start time, read in order from the ``run_tags``
    index (which carries each run's ``started_at``); other filters join the run."""
    t = run_tags.c
    query = select(t.run_id).where(t.tag_key == run_filter.tag_key, t.tag_value == run_filter.tag_value)
    if run_filter.since is not None:
        query = query.where(t.started_at >= run_filter.since)
    if run_filter.until is not None:
        query = query.where(t.started_at < run_filter.until)
    rest = replace(run_filter, tag_key="", tag_value="", since=None, until=None)
    if rest.apply(select(runs.c.run_id)).whereclause is not None:
        query = rest.apply(query.join(runs, runs.c.run_id == t.run_id))
    if descending:
        return query.order_by(t.started_at.desc(), t.run_id.desc())
    return query.order_by(t.started_at.asc(), t.run_id.asc())


def count_runs(conn: Connection, run_filter: RunFilter | None = None) -> int:
    """How many runs match ``run_filter``."""
    query = (run_filter or RunFilter()).apply(select(func.count()).select_from(runs))
    return int(conn.execute(query).scalar_one())


def _score_value(m: Any) -> Any:
    if m["data_type"] == "boolean":
        return m["string_value"] == "true" if m["string_value"] is not None else bool(m["numeric_value"])
    if m["data_type"] == "categorical":
        return m["string_value"]
    return m["numeric_value"]


def get_run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    """One run with all its records, or ``None`` when unknown. ``active_ms`` is its duration without
    the time it spent paused (``paused_ms``: ``pause()`` spans; ``active_ms`` None while running)."""
    row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
    if row is None:
        return None
    m = row._mapping
    detail = run_summary(row)
    detail.update(
        inputs=m["inputs"] or {},
        metadata=m["metadata"] or {},
        result=m["result"] or {},
        conversation=m["conversation"] or {},
        governance=m["governance"] or {},
        error_type=m["error_type"],
        traceback=m["traceback"],
        trace_id=m["trace_id"],
        interaction_mode=m["interaction_mode"],
        auto_collected=bool(m["auto_collected"]),
        source=m["source"],
    )
    detail["llm_calls"] = [
        {
            "id": c["id"],
            "position": c["position"],
            "model": c["model"],
            "provider": c["provider"],
            "tokens_in": c["tokens_in"],
            "tokens_out": c["tokens_out"],
            "cost": c["cost"],
            "task": c["task"],
            "prompt_preview": c["prompt_preview"],
            "response_preview": c["response_preview"],
            "duration_ms": c["duration_ms"],
            "status": c["status"],
            "error_type": c["error_type"],
            "error_message": c["error_message"],
            "started_at": iso(c["started_at"]),
            "parent_span_id": c["parent_span_id"],
            "attributes": c["attributes"] or {},
        }
        for c in (
            r._mapping
            for r in conn.execute(
                select(llm_calls).where(llm_calls.c.run_id == run_id).order_by(llm_calls.c.position)
            )
        )
    ]
    detail["steps"] = [
        {
            "name": s["name"],
            "position": s["position"],
            "seq": s["seq"],
            "output": s["output"],
            "started_at": iso(s["started_at"]),
        }
        for s in (
            r._mapping
            for r in conn.execute(select(steps).where(steps.c.run_id == run_id).order_by(steps.c.position))
        )
    ]
    span_rows = [
        r._mapping
        for r in conn.execute(select(spans).where(spans.c.run_id == run_id).order_by(spans.c.position))
    ]
    detail["active_ms"], detail["paused_ms"] = active_and_paused(
        m["started_at"],
        m["ended_at"],
        (
            (s["started_at"], s["started_at"] + (s["duration_ms"] or 0.0) / 1000.0)
            for s in span_rows
            if is_pause(s["kind"], s["attributes"])
        ),
    )
    detail["spans"] = [
        {
            "id": s["id"],
            "kind": s["kind"],
            "name": s["name"],
            "status": s["status"],
            "duration_ms": s["duration_ms"],
            "position": s["position"],
            "started_at": iso(s["started_at"]),
            "parent_span_id": s["parent_span_id"],
            "attributes": s["attributes"] or {},
            "input": s["input"],
            "output": s["output"],
            "error": s["error"],
        }
        for s in span_rows
    ]
    detail["scores"] = [
        {
            "name": s["name"],
            "data_type": s["data_type"],
            "value": _score_value(s),
            "comment": s["comment"],
            "created_at": iso(s["created_at"]),
            "source": s.get("source") or "sdk",
            **({"passed": bool(s["passed"])} if s.get("passed") is not None else {}),
        }
        for s in (
            r._mapping
            for r in conn.execute(
                select(scores).where(scores.c.run_id == run_id).order_by(scores.c.created_at, scores.c.id)
            )
        )
    ]
    detail["children"] = list_runs(conn, RunFilter(parent_run_id=run_id), limit=10_000, descending=False)
    return detail
