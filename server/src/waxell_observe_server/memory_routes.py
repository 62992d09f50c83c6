"""Agent memory on the server (reference §4; ``docs/memory.md``).

Write side, under ``/api/v1/observability/`` (the reference's prefix, not ``observe``):

* ``POST runs/{run_id}/memory/episodic/`` — ``slot_name, scope_key, memory_type, data`` and
  optional ``ttl_seconds``, ``max_items``: one item appended to the slot;
* ``POST runs/{run_id}/memory/semantic/`` — ``slot_name, scope_key, content, content_embedding``
  (1536 numbers), ``importance, tags, source_tool`` and optional ``fact_key``, ``metadata``: a fact
  (replacing the scope's fact of the same ``fact_key``).

Both answer 201 with the stored memory (``memory_id``, ...). The run need not be known yet (memory
writes may arrive before the run's records); when it is, the memory is filed under its agent.

Read side, under the read API (``/api/v1/read/``):

* ``GET runs/{run_id}/memory/`` — the run's memory operations (state, writes, recalls, summary) and
  the memories it stored;
* ``GET agents/{agent_name}/memories/`` — an agent's stored memories, newest first (filters
  ``tier``, ``scope_key``, ``slot_name``; ``include_expired``; ``limit``/``offset``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import Field
from sqlalchemy import select

from waxell_observe.store.memory import list_memories, run_memory, write_episodic, write_semantic
from waxell_observe.store.schema import runs
from waxell_observe_server.limits import ID_PATTERN, MAX_INT
from waxell_observe_server.sanitize import clean_text
from waxell_observe_server.wire_models import Name, _Body

__all__ = ["router", "read_router", "MEMORY_PREFIX", "EpisodicMemoryBody", "SemanticFactBody"]

MEMORY_PREFIX = "/api/v1/observability"
"""Where the memory write endpoints live (the reference SDK's client posts there)."""

router = APIRouter(prefix=MEMORY_PREFIX, tags=["memory"])
read_router = APIRouter(tags=["read"])

_RUN_ID = re.compile(ID_PATTERN)
_MAX_OFFSET = 1_000_000_000


class EpisodicMemoryBody(_Body):
    """``POST runs/{run_id}/memory/episodic/``."""

    slot_name: Annotated[Name, Field(max_length=256)]
    scope_key: Annotated[Name, Field(max_length=512)]
    memory_type: Annotated[str | None, Field(max_length=64)] = None
    """``dict`` / ``list`` / ``value`` (by the type of ``data``) when missing."""
    data: Any = None
    ttl_seconds: Annotated[int | None, Field(gt=0, le=MAX_INT)] = None
    max_items: Annotated[int | None, Field(gt=0, le=MAX_INT)] = None


class SemanticFactBody(_Body):
    """``POST runs/{run_id}/memory/semantic/``."""

    slot_name: Annotated[Name, Field(max_length=256)]
    scope_key: Annotated[Name, Field(max_length=512)]
    content: Annotated[Name, Field(max_length=8000)]
    content_embedding: list[float]
    importance: float | None = 0.7
    tags: list[str] | None = None
    source_tool: Annotated[str | None, Field(max_length=256)] = ""
    fact_key: Annotated[str | None, Field(max_length=256)] = None
    metadata: dict[str, Any] | None = None


def _run_id(run_id: str) -> str:
    if not _RUN_ID.match(run_id):
        raise HTTPException(status_code=404, detail=f"invalid run id {run_id[:80]!r}")
    return run_id


def _agent_of(conn: Any, run_id: str) -> str:
    row = conn.execute(select(runs.c.agent_name).where(runs.c.run_id == run_id)).first()
    return str(row.agent_name) if row is not None else ""


@router.post("/runs/{run_id}/memory/episodic/", status_code=201)
def episodic_memory(run_id: str, body: EpisodicMemoryBody, request: Request) -> dict[str, Any]:
    """Append one episodic memory to its slot; reply with the stored memory."""
    run_id = _run_id(run_id)
    try:
        with request.app.state.writer.write() as conn:
            return write_episodic(
                conn,
                run_id=run_id,
                slot_name=clean_text(body.slot_name),
                scope_key=clean_text(body.scope_key),
                data=body.data,
                memory_type=clean_text(body.memory_type) if body.memory_type else None,
                ttl_seconds=body.ttl_seconds,
                max_items=body.max_items,
                agent_name=_agent_of(conn, run_id),
            )
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@router.post("/runs/{run_id}/memory/semantic/", status_code=201)
def semantic_fact(run_id: str, body: SemanticFactBody, request: Request) -> dict[str, Any]:
    """Store one semantic fact; reply with the stored memory."""
    run_id = _run_id(run_id)
    try:
        with request.app.state.writer.write() as conn:
            return write_semantic(
                conn,
                run_id=run_id,
                slot_name=clean_text(body.slot_name),
                scope_key=clean_text(body.scope_key),
                content=clean_text(body.content),
                content_embedding=body.content_embedding,
                importance=0.7 if body.importance is None else body.importance,
                tags=[clean_text(tag) for tag in body.tags or []],
                fact_key=clean_text(body.fact_key) if body.fact_key else None,
                source_tool=clean_text(body.source_tool or ""),
                metadata=body.metadata,
                agent_name=_agent_of(conn, run_id),
            )
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None


@read_router.get("/runs/{run_id}/memory/")
def run_memory_detail(run_id: str, request: Request) -> dict[str, Any]:
    """The run's memory operations and the memories it stored; 404 when neither is known."""
    with request.app.state.store.read() as conn:
        memory = run_memory(conn, clean_text(run_id))
    if memory is None:
        raise HTTPException(status_code=404, detail=f"unknown run {run_id[:80]!r}")
    return memory


@read_router.get("/agents/{agent_name}/memories/")
def agent_memories(
    agent_name: str,
    request: Request,
    tier: Literal["", "episodic", "semantic"] = "",
    scope_key: str = "",
    slot_name: str = "",
    include_expired: bool = False,
    limit: int = Query(default=100, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=_MAX_OFFSET),
) -> dict[str, Any]:
    """An agent's stored memories, newest first, and how many match."""
    with request.app.state.store.read() as conn:
        memories, total = list_memories(
            conn,
            agent_name=clean_text(agent_name),
            tier=tier,
            scope_key=clean_text(scope_key) if scope_key else "",
            slot_name=clean_text(slot_name) if slot_name else "",
            include_expired=include_expired,
            limit=limit,
            offset=offset,
        )
    return {"memories": memories, "total": total, "limit": limit, "offset": offset}
