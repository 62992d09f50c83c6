"""Where ``remember_episodic`` / ``remember_semantic`` keep what they remember: the control plane's
memory endpoints (``WaxellObserveClient.write_episodic_memory_sync`` / ``write_semantic_fact_sync``)
in remote mode, the embedded store (``waxell_observe.store.memory``) in embedded mode.

In embedded mode a refused value or a store error raises (the context logs it and goes on: a memory
that could not be kept never breaks the agent); the client logs and answers ``{}`` for a refused or
undelivered request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from waxell_observe.config import ObserveConfig
from waxell_observe.pipeline.pipeline import import_guard
from waxell_observe.run import Run

__all__ = ["keep_episodic", "keep_semantic"]


def _client(run: Run, config: ObserveConfig) -> Any:
    with import_guard:  # the drainer may be importing httpx on its thread: never half-imported
        import httpx  # noqa: F401

        from waxell_observe.client import WaxellObserveClient
    client = run.client
    if client is not None and hasattr(client, "write_episodic_memory_sync"):
        return client
    return WaxellObserveClient(api_url=config.api_url, api_key=config.api_key)


def _store(config: ObserveConfig) -> Any:
    """The embedded store; SQLAlchemy imported under the pipeline's import guard (the drainer may
    be importing it on its thread)."""
    with import_guard:
        from waxell_observe.store import get_store

        return get_store(config.db_url)


def keep_episodic(
    run: Run,
    *,
    slot_name: str,
    scope_key: str,
    data: Any,
    memory_type: str | None,
    ttl_seconds: int | None,
    max_items: int | None,
) -> dict[str, Any]:
    """Store one episodic memory of ``run``; return what the store or the server answered."""
    config = run.config
    fields: dict[str, Any] = {
        "run_id": run.run_id,
        "slot_name": slot_name,
        "scope_key": scope_key,
        "data": data,
        "memory_type": memory_type,
        "ttl_seconds": ttl_seconds,
        "max_items": max_items,
    }
    if config.mode == "remote":
        reply: dict[str, Any] = _client(run, config).write_episodic_memory_sync(**fields)
        return reply
    store = _store(config)
    from waxell_observe.store.memory import write_episodic

    with store.write() as conn:
        return write_episodic(conn, agent_name=run.agent_name, **fields)


def keep_semantic(
    run: Run,
    *,
    slot_name: str,
    scope_key: str,
    content: str,
    content_embedding: Sequence[float],
    importance: float,
    tags: Sequence[str] | None,
    fact_key: str | None,
    source_tool: str,
) -> dict[str, Any]:
    """Store one semantic fact of ``run``; return what the store or the server answered."""
    config = run.config
    fields: dict[str, Any] = {
        "run_id": run.run_id,
        "slot_name": slot_name,
        "scope_key": scope_key,
        "content": content,
        "content_embedding": list(content_embedding),
        "importance": importance,
        "tags": list(tags or ()),
        "fact_key": fact_key,
        "source_tool": source_tool,
    }
    if config.mode == "remote":
        reply: dict[str, Any] = _client(run, config).write_semantic_fact_sync(**fields)
        return reply
    store = _store(config)
    from waxell_observe.store.memory import write_semantic

    with store.write() as conn:
        return write_semantic(conn, agent_name=run.agent_name, **fields)
