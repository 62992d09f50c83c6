"""The run the ingest functions add records to: looked up (and locked) once per request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from waxell_observe.store.schema import runs

__all__ = ["RunRef", "derived_id", "lock_run", "run_exists", "run_ref"]


@dataclass(frozen=True)
class RunRef:
    """What the ingest functions need to know about the run they add records to."""

    run_id: str
    agent_name: str
    workflow_name: str
    started_at: float
    metadata: dict[str, Any]
    tags: dict[str, Any]


def derived_id(run_id: str, namespace: str, position: int) -> str:
    """A stable record id from the run and the record's position (makes retries idempotent)."""
    return hashlib.sha256(f"{run_id}/{namespace}/{position}".encode()).hexdigest()[:32]


def run_exists(conn: Connection, run_id: str) -> bool:
    return conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id)).first() is not None


_REF_COLUMNS = (
    runs.c.run_id,
    runs.c.agent_name,
    runs.c.workflow_name,
    runs.c.started_at,
    runs.c.metadata,
    runs.c.tags,
)


def run_ref(row: Any) -> RunRef:
    """A :class:`RunRef` from a row holding ``run_id, agent_name, workflow_name, started_at,
    metadata, tags``."""
    return RunRef(
        row.run_id, row.agent_name, row.workflow_name, row.started_at, row.metadata or {}, row.tags or {}
    )


def lock_run(conn: Connection, run_id: str) -> RunRef | None:
    """The run, locked for this transaction (PostgreSQL ``FOR UPDATE``; SQLite writes are
    serialised anyway), or ``None`` when unknown."""
    query = select(*_REF_COLUMNS).where(runs.c.run_id == run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else run_ref(row)
