"""Agent memory in the store (table ``memories``): what ``remember_episodic`` / ``remember_semantic``
write, through the control plane's memory endpoints or, in embedded mode, directly.

* **Episodic** memories are items in a slot: ``(scope_key, slot_name)`` holds a list of items, the
  newest last. ``max_items`` keeps only the newest that many items of the slot; ``ttl_seconds``
  makes an item expire (expired items are not listed, and are deleted by the next write to their
  slot).
* **Semantic** memories are facts: ``content`` with its embedding (:data:`EMBEDDING_DIMENSIONS`
  floats), an ``importance``, ``tags`` and the tool they came from. A fact with a ``fact_key``
  replaces the earlier fact of the same ``(scope_key, fact_key)``.

Every memory names the run that wrote it (``run_id``) and, when known, its agent. The run need not
be stored yet: a memory write can arrive before the run's records.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from waxell_observe.records import new_id
from waxell_observe.store.reader import iso
from waxell_observe.store.schema import Id, Json, metadata, runs

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "MEMORY_TIERS",
    "memories",
    "write_episodic",
    "write_semantic",
    "list_memories",
    "default_memory_type",
    "split_memory_state",
    "run_memory",
]

EMBEDDING_DIMENSIONS = 1536
"""The length of a semantic fact's ``content_embedding`` (OpenAI ``text-embedding-3-small``)."""
MEMORY_TIERS = ("episodic", "semantic")
_NAME_CHARS = 256
_SCOPE_CHARS = 512
_CONTENT_CHARS = 8000

memories = Table(
    "memories",
    metadata,
    Column("memory_id", String(32), primary_key=True),
    Column("run_id", Id, nullable=False),
    Column("agent_name", String(256), nullable=False, default=""),
    Column("tier", String(16), nullable=False),
    Column("scope_key", String(_SCOPE_CHARS), nullable=False),
    Column("slot_name", String(_NAME_CHARS), nullable=False),
    Column("memory_type", String(64), nullable=False, default=""),
    Column("data", Json, nullable=True),
    Column("content", Text, nullable=False, default=""),
    Column("embedding", Json, nullable=True),
    Column("importance", Float, nullable=True),
    Column("tags", Json, nullable=False, default=list),
    Column("fact_key", String(_NAME_CHARS), nullable=False, default=""),
    Column("source_tool", String(_NAME_CHARS), nullable=False, default=""),
    Column("metadata", Json, nullable=False, default=dict),
    Column("ttl_seconds", Integer, nullable=True),
    Column("max_items", Integer, nullable=True),
    Column("expires_at", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_memories_run", "run_id", "created_at"),
    Index("ix_memories_slot", "scope_key", "slot_name", "created_at"),
    Index("ix_memories_agent", "agent_name", "created_at"),
)
"""Memories written by agents (created with the other tables when a store is opened)."""


def default_memory_type(data: Any) -> str:
    """The episodic ``memory_type`` when none is given: ``dict``, ``list`` or ``value``."""
    if isinstance(data, dict):
        return "dict"
    if isinstance(data, list):
        return "list"
    return "value"


def _text(value: Any, what: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value.strip()):
        kind = "a non-empty string" if required else "a string"
        raise ValueError(f"{what} must be {kind}, got {value!r}")
    if len(value) > limit:
        raise ValueError(f"{what} must be at most {limit} characters, got {len(value)}")
    return value


def _positive(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer or None, got {value!r}")
    return value


def _embedding(values: Any) -> list[float]:
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"content_embedding must be a list of {EMBEDDING_DIMENSIONS} numbers")
    if len(values) != EMBEDDING_DIMENSIONS:
        raise ValueError(f"content_embedding must have {EMBEDDING_DIMENSIONS} numbers, got {len(values)}")
    floats = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"content_embedding must hold finite numbers, got {value!r}")
        floats.append(float(value))
    return floats


def write_episodic(
    conn: Connection,
    *,
    run_id: str,
    slot_name: str,
    scope_key: str,
    data: Any,
    memory_type: str | None = None,
    ttl_seconds: int | None = None,
    max_items: int | None = None,
    agent_name: str = "",
    now: float | None = None,
) -> dict[str, Any]:
    """Append ``data`` (JSON-safe) to the slot; apply ``max_items`` and drop the slot's expired
    items. Returns the stored memory."""
    now = time.time() if now is None else now
    _text(run_id, "run_id", 64)
    _text(slot_name, "slot_name", _NAME_CHARS)
    _text(scope_key, "scope_key", _SCOPE_CHARS)
    kind = default_memory_type(data) if memory_type is None else _text(memory_type, "memory_type", 64)
    ttl = _positive(ttl_seconds, "ttl_seconds")
    limit = _positive(max_items, "max_items")
    row = {
        "memory_id": new_id(),
        "run_id": run_id,
        "agent_name": _text(agent_name, "agent_name", 256, required=False),
        "tier": "episodic",
        "scope_key": scope_key,
        "slot_name": slot_name,
        "memory_type": kind,
        "data": data,
        "content": "",
        "embedding": None,
        "importance": None,
        "tags": [],
        "fact_key": "",
        "source_tool": "",
        "metadata": {},
        "ttl_seconds": ttl,
        "max_items": limit,
        "expires_at": None if ttl is None else now + ttl,
        "created_at": now,
        "updated_at": now,
    }
    slot = and_(
        memories.c.tier == "episodic", memories.c.scope_key == scope_key, memories.c.slot_name == slot_name
    )
    conn.execute(
        delete(memories).where(slot, memories.c.expires_at.is_not(None), memories.c.expires_at <= now)
    )
    conn.execute(insert(memories).values(**row))
    if limit is not None:
        keep = (
            select(memories.c.memory_id)
            .where(slot)
            .order_by(memories.c.created_at.desc(), memories.c.memory_id.desc())
            .limit(limit)
        )
        kept = {r.memory_id for r in conn.execute(keep)}
        conn.execute(delete(memories).where(slot, memories.c.memory_id.not_in(kept)))
    return _as_dict(row)


def write_semantic(
    conn: Connection,
    *,
    run_id: str,
    slot_name: str,
    scope_key: str,
    content: str,
    content_embedding: Sequence[float],
    importance: float = 0.7,
    tags: Sequence[str] | None = None,
    fact_key: str | None = None,
    source_tool: str = "",
    metadata: Mapping[str, Any] | None = None,
    agent_name: str = "",
    now: float | None = None,
) -> dict[str, Any]:
    """Store a fact (a new one, or the replacement of the fact with the same ``fact_key`` in the
    scope). Returns the stored memory (times as ISO 8601 UTC strings; ``has_embedding`` instead of
    the embedding)."""
    now = time.time() if now is None else now
    _text(run_id, "run_id", 64)
    _text(slot_name, "slot_name", _NAME_CHARS)
    _text(scope_key, "scope_key", _SCOPE_CHARS)
    _text(content, "content", _CONTENT_CHARS)
    embedding = _embedding(content_embedding)
    if (
        isinstance(importance, bool)
        or not isinstance(importance, (int, float))
        or not math.isfinite(importance)
    ):
        raise ValueError(f"importance must be a finite number, got {importance!r}")
    if tags is None:
        tags = []
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"tags must be a list of strings, got {tags!r}")
    key = "" if fact_key is None else _text(fact_key, "fact_key", _NAME_CHARS)
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    values = {
        "run_id": run_id,
        "agent_name": _text(agent_name, "agent_name", 256, required=False),
        "slot_name": slot_name,
        "memory_type": "fact",
        "content": content,
        "embedding": embedding,
        "importance": float(importance),
        "tags": list(tags),
        "source_tool": _text(source_tool, "source_tool", _NAME_CHARS, required=False),
        "metadata": dict(metadata or {}),
        "updated_at": now,
    }
    if key:
        existing = conn.execute(
            select(memories.c.memory_id, memories.c.created_at).where(
                memories.c.tier == "semantic", memories.c.scope_key == scope_key, memories.c.fact_key == key
            )
        ).first()
        if existing is not None:
            conn.execute(update(memories).where(memories.c.memory_id == existing.memory_id).values(**values))
            row = {
                **_blank(existing.memory_id, scope_key, key, existing.created_at),
                **values,
            }
            return _as_dict(row)
    row = {**_blank(new_id(), scope_key, key, now), **values}
    conn.execute(insert(memories).values(**row))
    return _as_dict(row)


def _blank(memory_id: str, scope_key: str, fact_key: str, created_at: float) -> dict[str, Any]:
    return {
        "memory_id": memory_id,
        "tier": "semantic",
        "scope_key": scope_key,
        "fact_key": fact_key,
        "data": None,
        "ttl_seconds": None,
        "max_items": None,
        "expires_at": None,
        "created_at": created_at,
    }


def _as_dict(row: Any) -> dict[str, Any]:
    get = row.get if isinstance(row, dict) else row._mapping.get
    return {
        "memory_id": get("memory_id"),
        "run_id": get("run_id"),
        "agent_name": get("agent_name") or get("run_agent") or "",
        "tier": get("tier"),
        "scope_key": get("scope_key"),
        "slot_name": get("slot_name"),
        "memory_type": get("memory_type") or "",
        "data": get("data"),
        "content": get("content") or "",
        "has_embedding": get("embedding") is not None,
        "importance": get("importance"),
        "tags": list(get("tags") or []),
        "fact_key": get("fact_key") or "",
        "source_tool": get("source_tool") or "",
        "metadata": dict(get("metadata") or {}),
        "ttl_seconds": get("ttl_seconds"),
        "max_items": get("max_items"),
        "expires_at": iso(get("expires_at")),
        "created_at": iso(get("created_at")),
        "updated_at": iso(get("updated_at")),
    }


def list_memories(
    conn: Connection,
    *,
    run_id: str = "",
    agent_name: str = "",
    tier: str = "",
    scope_key: str = "",
    slot_name: str = "",
    include_expired: bool = False,
    limit: int = 100,
    offset: int = 0,
    now: float | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Memories matching the filters, newest first, and how many match. ``agent_name`` matches
    the agent recorded with the memory or, when none was (a memory written before its run was
    stored), the agent of the run that wrote it; each memory names that agent."""
    now = time.time() if now is None else now
    conditions: list[Any] = []
    if run_id:
        conditions.append(memories.c.run_id == run_id)
    if agent_name:
        of_agent = select(runs.c.run_id).where(runs.c.agent_name == agent_name)
        conditions.append(
            or_(
                memories.c.agent_name == agent_name,
                and_(memories.c.agent_name == "", memories.c.run_id.in_(of_agent)),
            )
        )
    if tier:
        conditions.append(memories.c.tier == tier)
    if scope_key:
        conditions.append(memories.c.scope_key == scope_key)
    if slot_name:
        conditions.append(memories.c.slot_name == slot_name)
    if not include_expired:
        conditions.append(or_(memories.c.expires_at.is_(None), memories.c.expires_at > now))
    total = int(conn.execute(select(func.count()).select_from(memories).where(*conditions)).scalar_one())
    rows = conn.execute(
        select(memories, runs.c.agent_name.label("run_agent"))
        .select_from(memories.outerjoin(runs, runs.c.run_id == memories.c.run_id))
        .where(*conditions)
        .order_by(memories.c.created_at.desc(), memories.c.memory_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_as_dict(row) for row in rows], total


def split_memory_state(conversation: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run's memory operations from its stored conversation: ``state`` (what
    ``set_memory_state`` said: ``memory_items``, ``cross_session_loaded``, ``memory_item_count``),
    ``writes``, ``recalls`` and ``summary`` (empty values when the run recorded none)."""
    memory_state = (conversation or {}).get("memory_state")
    if not isinstance(memory_state, dict):
        memory_state = {}
    snapshot = memory_state.get("snapshot")
    summary = snapshot.get("summary") if isinstance(snapshot, dict) else None
    return {
        "state": {
            key: value
            for key, value in memory_state.items()
            if key not in ("memory_writes", "memory_recalls", "snapshot")
        },
        "writes": list(memory_state.get("memory_writes") or []),
        "recalls": list(memory_state.get("memory_recalls") or []),
        "summary": dict(summary) if isinstance(summary, dict) else {},
    }


def run_memory(conn: Connection, run_id: str, *, now: float | None = None) -> dict[str, Any] | None:
    """The memory of one run: ``run_id``, ``agent_name``, the operations it recorded
    (:func:`split_memory_state`) and the memories it stored (``stored``, oldest first, expired ones
    included with their ``expires_at``); ``None`` when the store knows neither the run nor a memory
    it wrote."""
    row = conn.execute(select(runs.c.agent_name, runs.c.conversation).where(runs.c.run_id == run_id)).first()
    stored, _ = list_memories(conn, run_id=run_id, include_expired=True, limit=10_000, now=now)
    if row is None and not stored:
        return None
    stored.reverse()
    agent_name = row.agent_name if row is not None else (stored[0]["agent_name"] if stored else "")
    return {
        "run_id": run_id,
        "agent_name": agent_name,
        **split_memory_state(row.conversation if row is not None else None),
        "stored": stored,
    }
