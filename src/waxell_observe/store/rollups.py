"""Rollups of the read side, kept exact in the transaction of every write.

The dashboard's aggregates (run totals, costs by day / agent / model, sessions, users, the tag
filter) read small tables instead of every run. They follow every write whatever wrote it — the
SDK's batch writer, the server's ingest, the OTLP receiver, ``store.writer`` or plain SQL — in
the same transaction as the write itself, two ways:

* **per row** (``rollup_rows``): triggers on ``runs`` and ``llm_calls`` for ordinary writes. An
  ignored duplicate insert (idempotent re-delivery) fires no trigger; an update moves the run's
  contribution from its old key to its new one. About a dozen statements per run: fine for a
  request that writes one run, the main cost of a bulk write;
* **per batch** (``rollup_sets``): ``store.batch.write_batch`` switches the per-row triggers off
  for its own transaction (:func:`batch_mode`) and applies the whole batch's change in a few
  set-based statements per rollup table — on PostgreSQL through statement-level triggers over
  each statement's transition tables, on SQLite from a snapshot of the batch's runs taken before
  writing them (one writer at a time: the snapshot cannot go stale).

Both give what :func:`rebuild` recomputes from scratch (the tests compare them).

Tables (``store/schema.py``):

* ``rollup_runs`` (day, agent, status, root-ness) and ``rollup_tags`` (day, tag key and value,
  status, root-ness): runs, tokens and cost;
* ``rollup_calls`` (day and agent of the run, model, provider): calls, tokens in/out, cost;
* ``run_tags``: one row per string-valued tag of each run (indexed by key, value and start time;
  keys and values cut to ``TAG_KEY_LIMIT`` / ``TAG_VALUE_LIMIT`` characters);
* ``rollup_sessions`` / ``rollup_users``: runs, tokens, cost, first and last seen.

On SQLite (one writer at a time) every rollup keeps one row per key, updated in place. On
PostgreSQL, where several servers and processes write at once, the three day-keyed rollups are
append-only logs of changes — a writer never waits for another transaction's lock on a shared
row such as "agent X today" — and :func:`compact` folds them into one row per key (a background
thread of the :class:`~waxell_observe.store.database.Store` does it about once a second while
writes come in). Readers ``GROUP BY`` the key, so they read the same either way. Sessions and
users, where concurrent writers rarely meet, are updated in place on both.

``first_seen`` / ``last_seen`` only move outwards when a run is added; when a run's times shrink
or it leaves a session or user, the bounds are recomputed from ``runs`` (through its index).

A "day" is the UTC day of the run's ``started_at`` as ``YYYY-MM-DD``, computed with the SQL
expression the read queries use (:func:`day_sql`), so a rollup day holds exactly the runs a query
grouping by day would put there.

On PostgreSQL, :func:`compact` and :func:`rebuild` take the same advisory lock
(:func:`lock_compaction`): a rebuild deletes and recomputes every row, and a compaction that
committed a folded row after the rebuild's delete statement started would otherwise survive it
and count its runs twice.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from waxell_observe.store import rollup_rows, rollup_sets
from waxell_observe.store.rollup_sql import (
    APPEND_TABLES,
    BATCH_SETTING,
    ENTITIES,
    day_sql,
    last,
    root,
    tags_of,
    tokens,
)

if TYPE_CHECKING:
    from waxell_observe.store.database import Store

__all__ = [
    "ROLLUPS_VERSION",
    "day_sql",
    "install",
    "batch_mode",
    "rebuild",
    "compact",
    "lock_compaction",
    "try_lock_compaction",
    "Compactor",
]

logger = logging.getLogger("waxell_observe")

ROLLUPS_VERSION = "3"
"""Version of the trigger definitions and rollup layout; a store recorded with another version
gets its triggers replaced and its rollups rebuilt when opened (``schema_info`` key ``rollups``).
2: per-row triggers only. 3: per-row triggers that stand aside for batches (``batch_mode``), and
PostgreSQL's statement-level triggers."""

_COMPACT_LOCK = 0x5741_5843  # advisory lock id: one compaction (or rebuild) at a time per database


def lock_compaction(conn: Connection) -> None:
    """PostgreSQL: wait for, then hold until the end of the caller's transaction, the lock under
    which the rollups are compacted or rebuilt (a no-op on SQLite, which has one writer anyway).
    May be taken again in the same transaction."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_COMPACT_LOCK})")


def try_lock_compaction(conn: Connection) -> bool:
    """Like :func:`lock_compaction` without waiting; returns whether the lock is now held."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({_COMPACT_LOCK})").scalar())


def install(conn: Connection) -> None:
    """Create (or replace) the rollups' indexes and triggers (inside the caller's transaction):
    the per-row triggers of every store, and on PostgreSQL the per-statement ones of batches."""
    if conn.dialect.name == "postgresql":
        for statement in [*rollup_rows.ddl("postgresql"), *rollup_sets.pg_statement_ddl()]:
            conn.exec_driver_sql(statement)
        return
    rollup_rows.drop_sqlite_triggers(conn)
    for statement in rollup_rows.ddl("sqlite"):
        conn.exec_driver_sql(statement)


@contextmanager
def batch_mode(conn: Connection) -> Iterator[bool]:
    """Inside the caller's write transaction: the per-row triggers stand aside while the block runs,
    because the block maintains the rollups itself (``store.batch``). Yields whether they do.

    On PostgreSQL the per-statement triggers (:func:`rollup_sets.pg_statement_ddl`) take over, so
    every statement in the block is still followed exactly, with its transition tables. On SQLite
    nothing takes over: when this yields True, the block must apply
    :func:`rollup_sets.run_changes` / :func:`rollup_sets.call_changes` to whatever it writes to
    ``runs`` and ``llm_calls``. The switch lives in the transaction only (a row of
    ``rollup_batch`` inserted and deleted in it — SQLite has one writer, so no other connection
    sees it — or ``SET LOCAL``); when the block raises, the caller's rollback undoes it with
    everything else.

    It yields False, switching nothing, when the store's triggers are not this version's
    (``schema_info``: another version of waxell-observe opened the store since and installed its
    own, which would not stand aside): the block's writes are then followed row by row by whatever
    triggers there are, and a SQLite block must not apply the changes itself. On PostgreSQL
    ``runs`` and ``llm_calls`` are locked first (``ROW EXCLUSIVE``, what any insert takes; changing
    a trigger needs a lock that conflicts with it), so the triggers checked are the ones that fire
    until the transaction ends; on SQLite the write transaction already excludes every other writer.
    """
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("LOCK TABLE runs, llm_calls IN ROW EXCLUSIVE MODE")
    installed = conn.exec_driver_sql("SELECT value FROM schema_info WHERE key = 'rollups'").scalar()
    if installed != ROLLUPS_VERSION:
        yield False
        return
    if postgres:
        conn.exec_driver_sql(f"SELECT set_config('{BATCH_SETTING}', 'batch', true)")
        yield True
        conn.exec_driver_sql(f"SELECT set_config('{BATCH_SETTING}', '', true)")
        return
    conn.exec_driver_sql(f"INSERT INTO {rollup_rows.SQLITE_BATCH_TABLE} (active) VALUES (1)")
    yield True
    conn.exec_driver_sql(f"DELETE FROM {rollup_rows.SQLITE_BATCH_TABLE}")


def rebuild(conn: Connection) -> None:
    """Recompute every rollup from ``runs`` and ``llm_calls`` (inside the caller's transaction).

    Used once when a store gets the rollups (existing runs are counted), and by tests to check that
    what the triggers kept equals what a recomputation gives. Takes the compaction lock first
    (:func:`lock_compaction`): a compaction is never half-seen.
    """
    lock_compaction(conn)
    dialect = conn.dialect.name
    day = day_sql(dialect, "r.started_at")
    merged = "true" if dialect == "postgresql" else "1"
    for table in (
        "rollup_runs",
        "rollup_calls",
        "rollup_tags",
        "run_tags",
        "rollup_sessions",
        "rollup_users",
    ):
        conn.exec_driver_sql(f"DELETE FROM {table}")
    conn.exec_driver_sql(
        f"INSERT INTO rollup_runs (day, agent_name, status, is_root, runs, tokens, cost, merged) "
        f"SELECT {day}, r.agent_name, r.status, {root('r')}, "
        f"count(*), sum({tokens('r')}), sum(r.total_cost), {merged} FROM runs AS r GROUP BY 1, 2, 3, 4"
    )
    conn.exec_driver_sql(
        "INSERT INTO rollup_calls (day, agent_name, model, "
        "provider, calls, tokens_in, tokens_out, cost, merged) "
        f"SELECT {day}, r.agent_name, c.model, c.provider, count(*), sum(c.tokens_in), sum(c.tokens_out), "
        f"sum(c.cost), {merged} FROM llm_calls AS c JOIN runs AS r ON r.run_id = c.run_id GROUP BY 1, 2, 3, 4"
    )
    source, key, value, condition = tags_of(dialect, "r")
    conn.exec_driver_sql(
        f"INSERT INTO run_tags (run_id, tag_key, tag_value, started_at) "
        f"SELECT r.run_id, {key}, {value}, r.started_at FROM runs AS r, {source} "
        f"WHERE {condition} ON CONFLICT (run_id, tag_key) DO NOTHING"
    )
    conn.exec_driver_sql(
        f"INSERT INTO rollup_tags (tag_key, tag_value, day, status, is_root, runs, tokens, cost, merged) "
        f"SELECT t.tag_key, t.tag_value, {day}, r.status, {root('r')}, count(*), sum({tokens('r')}), "
        f"sum(r.total_cost), {merged} FROM run_tags AS t JOIN "
        "runs AS r ON r.run_id = t.run_id GROUP BY 1, 2, 3, 4, 5"
    )
    for table, column in ENTITIES:
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({column}, runs, tokens, cost, first_seen, last_seen) "
            f"SELECT r.{column}, count(*), sum({tokens('r')}), sum(r.total_cost), min(r.started_at), "
            f"max({last('r')}) FROM runs AS r WHERE r.{column} <> '' GROUP BY r.{column}"
        )


def compact(conn: Connection) -> None:
    """Fold the pending changes of PostgreSQL's append-only rollups into one row per key.

    A no-op on SQLite (its rollups are always compact). Keys that hold nothing any more are dropped.
    Changes committed by other transactions while this runs stay pending for the next time. Waits
    for (then holds) the compaction lock, so it never overlaps a rebuild or another compaction.
    """
    if conn.dialect.name != "postgresql":
        return
    lock_compaction(conn)
    for table, (keys, sums, nonzero) in APPEND_TABLES.items():
        columns = ", ".join(keys)
        join = " AND ".join(f"t.{k} = p.{k}" for k in keys)
        totals = ", ".join(f"sum({c})" for c in sums)
        conn.exec_driver_sql(
            f"WITH pending AS (SELECT DISTINCT {columns} FROM {table} WHERE NOT merged), "
            f"moved AS (DELETE FROM {table} AS t USING pending AS p WHERE {join} RETURNING t.*) "
            f"INSERT INTO {table} ({columns}, {', '.join(sums)}, merged) "
            f"SELECT {columns}, {totals}, true FROM moved GROUP BY {columns} HAVING sum({nonzero}) <> 0"
        )


class Compactor:
    """Compacts a PostgreSQL store's rollups on a daemon thread, about once per ``interval`` seconds
    while writes come in (:meth:`notify` after each write; nothing runs while the store is idle)."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pid = -1
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def notify(self) -> None:
        """A write committed: compact within ``interval`` seconds."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():  # first write, or a fork child: start this process's thread
                    self._wake = threading.Event()
                    self._thread = threading.Thread(target=self._loop, name="waxell-rollups", daemon=True)
                    self._pid = os.getpid()
                    self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run_once(self) -> bool:
        """Compact now unless another process is compacting; returns whether this call did."""
        with self.store.engine.connect() as conn, conn.begin():
            if not try_lock_compaction(conn):
                return False
            compact(conn)
            return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(self.interval):
                return
            self._wake.clear()
            try:
                self.run_once()
            except OperationalError as exc:
                # The database is unreachable (or went away): the writers report that; the
                # changes stay pending (readers sum them) until a write succeeds again.
                logger.debug(
                    "waxell-observe: rollups of %s not compacted: %s", _safe_url(self.store.url), exc
                )
            except Exception as exc:  # noqa: BLE001 - logged; retried after the next write
                logger.warning(
                    "waxell-observe: compacting the rollups of %s failed: %s", _safe_url(self.store.url), exc
                )


def _safe_url(url: str) -> str:
    """``url`` without its password (for logs)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
