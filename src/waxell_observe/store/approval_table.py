"""The ``approvals`` table (on the store's ``schema.metadata``), read and written by ``store/approvals.py``.

A store opened before this module was imported has no such table yet: :func:`ensure_table` creates it
on first use (once per store and process; safe when several processes do it at once).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, Index, String, Table, Text

from waxell_observe.store.schema import Id, Json, metadata
from waxell_observe.vocabulary.approvals import PENDING

if TYPE_CHECKING:
    from waxell_observe.store import Store

__all__ = ["approvals", "ensure_table"]

approvals = Table(
    "approvals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("run_id", Id, nullable=False, default=""),
    Column("agent_name", String(256), nullable=False, default=""),
    Column("workflow_name", String(256), nullable=False, default=""),
    Column("action_type", String(256), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("policy_name", String(256), nullable=False, default=""),
    Column("category", String(64), nullable=False, default=""),
    Column("approvers", Json, nullable=False, default=list),
    Column("requested_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("status", String(16), nullable=False, default=PENDING),
    Column("decided_by", String(256), nullable=False, default=""),
    Column("decided_at", Float, nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Column("metadata", Json, nullable=False, default=dict),
    Index("ix_approvals_status_requested", "status", "requested_at"),
    Index("ix_approvals_run", "run_id"),
)
"""Approvals a blocked run waits for: ``pending`` until a person answers (``approved`` / ``denied``,
by ``decided_by``) or ``expires_at`` passes (``expired``); statuses from
``waxell_observe.vocabulary.approvals``."""

_PG_LOCK = 0x5741_5841  # advisory lock id serialising the table's creation on PostgreSQL
_ready: weakref.WeakSet[Store] = weakref.WeakSet()
_lock = threading.Lock()


def ensure_table(store: Store) -> None:
    """Create the table and its indexes in ``store`` unless this process did so already."""
    if store in _ready:
        return
    with _lock:
        if store in _ready:
            return
        with store.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
            approvals.create(conn, checkfirst=True)
        _ready.add(store)
