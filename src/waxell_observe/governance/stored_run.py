"""A :class:`PolicyRequest` for a run kept in the store (the server decides on what it has stored).

The server's counterpart of :mod:`.run_request`: identity, inputs and conversation come from the ``runs``
row, LLM usage per model from ``llm_calls``, tool calls and retries from ``spans``, the step count from the
run's totals. Texts to scan and the result are given by the caller (the batch just received, the
completion's result).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select

from waxell_observe.store.schema import llm_calls, runs, spans

from .request import LLMCallInfo, PolicyRequest, ToolCallInfo

__all__ = ["StoredRun", "load_stored_run", "request_for_stored_run"]


class StoredRun:
    """The identity of a stored run (what scopes match on)."""

    __slots__ = ("agent_name", "inputs", "run_id", "user_group", "user_id", "workflow_name")

    def __init__(
        self, run_id: str, agent_name: str, workflow_name: str, user_group: str, user_id: str, inputs: Any
    ) -> None:
        self.run_id = run_id
        self.agent_name = agent_name
        self.workflow_name = workflow_name
        self.user_group = user_group
        self.user_id = user_id
        self.inputs = inputs


def load_stored_run(conn: Connection, run_id: str) -> StoredRun | None:
    """The identity of run ``run_id``, or None when it is unknown."""
    r = runs.c
    row = conn.execute(
        select(r.run_id, r.agent_name, r.workflow_name, r.user_group, r.user_id, r.inputs).where(
            r.run_id == run_id
        )
    ).first()
    if row is None:
        return None
    return StoredRun(row[0], row[1], row[2], row[3] or "", row[4] or "", row[5])


def request_for_stored_run(
    conn: Connection,
    run: StoredRun,
    *,
    input_texts: Sequence[str] = (),
    output_texts: Sequence[str] = (),
    result: Any = None,
) -> PolicyRequest:
    """What mid- and post-execution policies look at, read from the store."""
    c = llm_calls.c
    usage = conn.execute(
        select(c.model, func.sum(c.tokens_in), func.sum(c.tokens_out), func.sum(c.cost))
        .where(c.run_id == run.run_id)
        .group_by(c.model)
        .order_by(c.model)
    ).all()
    s = spans.c
    behaviour = conn.execute(
        select(s.kind, s.name, s.status)
        .where(and_(s.run_id == run.run_id, s.kind.in_(("tool", "retry"))))
        .order_by(s.position)
    ).all()
    r = runs.c
    row = conn.execute(
        select(r.step_count, r.conversation, r.started_at, r.metadata).where(r.run_id == run.run_id)
    ).first()
    step_count, conversation, started_at, metadata = row if row is not None else (0, {}, None, {})
    return PolicyRequest(
        agent_name=run.agent_name,
        workflow_name=run.workflow_name,
        user_group=run.user_group,
        user_id=run.user_id,
        run_id=run.run_id,
        inputs=run.inputs,
        llm_calls=[
            LLMCallInfo(model, int(tin or 0), int(tout or 0), float(cost or 0.0))
            for model, tin, tout, cost in usage
        ],
        step_count=int(step_count or 0),
        tool_calls=[ToolCallInfo(name, status or "ok") for kind, name, status in behaviour if kind == "tool"],
        retries=sum(1 for kind, _, _ in behaviour if kind == "retry"),
        conversation=dict(conversation or {}),
        session_started_at=started_at,
        input_texts=tuple(input_texts),
        output_texts=tuple(output_texts),
        result=result,
        metadata=dict(metadata or {}),
    )
