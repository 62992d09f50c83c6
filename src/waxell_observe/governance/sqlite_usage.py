"""The store's governance counters on a SQLite file, through plain ``sqlite3`` connections.

Same tables, same transactions and same answers as :class:`~.sql_usage.SqlUsage` (which it extends), but
the few small statements a policy check runs go straight to ``sqlite3`` on a connection kept per thread,
instead of through a SQLAlchemy pool: a budget read costs microseconds instead of a few hundred, which is
what keeps a pre-execution check with stateful policies near the 100 µs target on the agent's thread.
Admission is still ONE ``BEGIN IMMEDIATE`` transaction (the same lock every writer of the file takes).
PostgreSQL and in-memory SQLite stores use :class:`~.sql_usage.SqlUsage`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from waxell_observe.store.database import SQLITE_BUSY_TIMEOUT_MS, Store

from .matching import model_matches
from .processes import Liveness, live_and_stale
from .sql_usage import (
    ADMISSION_RETENTION_SECONDS,
    HOUR,
    OUTCOME_BUCKET,
    OUTCOME_RETENTION_SECONDS,
    USAGE_RETENTION_SECONDS,
    RunUsage,
    SqlUsage,
    _sum_outcomes,
)
from .usage import Admission, BreakerState, RateWindow, UsageScope

__all__ = ["SqliteUsage", "sqlite_file"]


def sqlite_file(store: Store) -> str | None:
    """The database file of a SQLite store, or None (PostgreSQL, in-memory)."""
    if not store.is_sqlite:
        return None
    database = store.engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.expanduser(database)


class _Connections(threading.local):
    conn: sqlite3.Connection | None = None
    pid: int = -1


class SqliteUsage(SqlUsage):
    """:class:`SqlUsage` with its hot statements on per-thread ``sqlite3`` connections to ``path``."""

    def __init__(self, store: Store, path: str, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.path = path
        self._local = _Connections()

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        conn = local.conn
        if conn is None or local.pid != os.getpid():  # a fork child opens its own
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            local.conn, local.pid = conn, os.getpid()
        return conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._conn().execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error), taking turns within the process."""
        assert self._turns is not None
        with self._turns:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ------------------------------------------------------------------ recording

    def finish(self, usage: RunUsage | None, *, holders: Iterable[str] = (), at: float | None = None) -> bool:
        at = self._clock() if at is None else at
        holders = [h for h in holders if h]
        counted = False
        with self._transaction() as conn:
            if usage is not None:
                inserted = conn.execute(
                    "INSERT INTO gov_run_outcomes (run_id, ended_at, "
                    "agent_name, workflow_name, user_group, error, "
                    "tokens, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
                    (usage.run_id, at, usage.agent_name, usage.workflow_name, usage.user_group,
                     int(bool(usage.error)), int(usage.tokens), float(usage.cost)),
                ).rowcount  # fmt: skip
                counted = inserted == 1
                if counted:
                    conn.execute(
                        "INSERT INTO gov_outcome_buckets (bucket, "
                        "agent_name, workflow_name, user_group, errors, total) "
                        "VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (bucket, "
                        "agent_name, workflow_name, user_group) "
                        "DO UPDATE SET errors = errors + excluded.errors, total = total + 1",
                        (int(at // OUTCOME_BUCKET) * OUTCOME_BUCKET, usage.agent_name, usage.workflow_name,
                         usage.user_group, int(bool(usage.error))),
                    )  # fmt: skip
                    bucket = int(at // HOUR) * HOUR
                    conn.executemany(
                        "INSERT INTO gov_usage (bucket, agent_name, "
                        "workflow_name, user_group, model, tokens, cost) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                        "(bucket, agent_name, workflow_name, user_group, "
                        "model) DO UPDATE SET tokens = tokens + excluded.tokens, cost = cost + excluded.cost",
                        [
                            (
                                bucket,
                                usage.agent_name,
                                usage.workflow_name,
                                usage.user_group,
                                model,
                                int(t),
                                float(c),
                            )
                            for model, (t, c) in sorted(usage.models.items())
                            if t or c
                        ],
                    )
            if holders:
                conn.execute(
                    f"DELETE FROM gov_slots WHERE holder IN ({','.join('?' * len(holders))})", holders
                )
            if self._due_for_pruning():
                self._prune_raw(conn, at)
        return counted

    # ------------------------------------------------------------------ reads

    def usage_since(
        self,
        scope: UsageScope,
        since: float,
        *,
        model: str | None = None,
        exclude_run_id: str | None = None,
    ) -> tuple[int, float]:
        bucket = int(since // HOUR) * HOUR
        if model is None:
            rows = self._read(
                "SELECT agent_name, workflow_name, user_group, '', sum(tokens), sum(cost) FROM gov_usage "
                "WHERE bucket >= ? GROUP BY agent_name, workflow_name, user_group",
                (bucket,),
            )
        else:
            rows = self._read(
                "SELECT agent_name, workflow_name, user_group, model, sum(tokens), sum(cost) FROM gov_usage "
                "WHERE bucket >= ? GROUP BY agent_name, workflow_name, user_group, model",
                (bucket,),
            )
        tokens = 0
        cost = 0.0
        for agent, workflow, group, row_model, row_tokens, row_cost in rows:
            if model is not None and not model_matches(row_model, model):
                continue
            if scope.matches(agent, workflow, group):
                tokens += int(row_tokens or 0)
                cost += float(row_cost or 0.0)
        return tokens, cost

    def outcomes_since(self, scope: UsageScope, since: float) -> tuple[int, int]:
        first = -(-since // OUTCOME_BUCKET) * OUTCOME_BUCKET
        rows = self._read(
            "SELECT agent_name, workflow_name, user_group, sum(total), sum(errors) FROM gov_outcome_buckets "
            "WHERE bucket >= ? GROUP BY agent_name, workflow_name, user_group",
            (first,),
        )
        rows += self._read(
            "SELECT agent_name, workflow_name, user_group, count(*), sum(error) FROM gov_run_outcomes "
            "WHERE ended_at >= ? AND ended_at < ? GROUP BY agent_name, workflow_name, user_group",
            (since, first),
        )
        return _sum_outcomes(scope, rows)

    def runs_started_since(self, scope: UsageScope, since: float) -> int:
        return int(
            self._read(
                "SELECT count(*) FROM gov_admissions WHERE scope_key = ? AND at > ?", (scope.key, since)
            )[0][0]
        )

    def runs_in_flight(self, scope: UsageScope, now: float) -> int:
        rows = self._read(
            "SELECT owner FROM gov_slots WHERE scope_key = ? AND expires_at > ?", (scope.key, now)
        )
        alive = Liveness()
        return sum(1 for (owner,) in rows if alive(owner))

    # ------------------------------------------------------------------ admission

    def admit(
        self,
        scope: UsageScope,
        holder: str,
        now: float,
        windows: Sequence[RateWindow],
        max_concurrent: int | None,
    ) -> Admission:
        key = scope.key
        with self._transaction() as conn:
            for w in windows:
                (count,) = conn.execute(
                    "SELECT count(*) FROM gov_admissions WHERE scope_key = ? AND at > ?",
                    (key, now - w.seconds),
                ).fetchone()
                if count >= w.limit:
                    (oldest,) = conn.execute(
                        "SELECT at FROM gov_admissions WHERE scope_key "
                        "= ? AND at > ? ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
                        (key, now - w.seconds, w.limit - 1),
                    ).fetchone()
                    return Admission(False, w.rule, w.limit, count, max(0.0, oldest + w.seconds - now))
            if max_concurrent is not None:
                held = self._live_holders(conn, key, now)
                if holder not in held:
                    if len(held) >= max_concurrent:
                        return Admission(False, "max_concurrent", max_concurrent, len(held), None)
                    conn.execute(
                        "INSERT INTO gov_slots (scope_key, holder, "
                        "taken_at, expires_at, owner) VALUES (?, ?, ?, ?, ?)",
                        (key, holder, now, now + self.slot_ttl, self.owner),
                    )
            if windows:
                conn.execute(
                    "INSERT INTO gov_admissions (scope_key, holder, at) VALUES (?, ?, ?)", (key, holder, now)
                )
            if self._due_for_pruning():
                self._prune_raw(conn, now)
        return Admission(True)

    def _live_holders(self, conn: sqlite3.Connection, key: str, now: float) -> set[str]:
        rows = conn.execute(
            "SELECT holder, owner, expires_at FROM gov_slots WHERE scope_key = ?", (key,)
        ).fetchall()
        live, stale = live_and_stale(rows, now)
        if stale:
            conn.executemany(
                "DELETE FROM gov_slots WHERE scope_key = ? AND holder = ?", [(key, h) for h in stale]
            )
        return live

    def release(self, scope: UsageScope, holder: str, *, revoke: bool = False) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM gov_slots WHERE scope_key = ? AND holder = ?", (scope.key, holder))
            if revoke:
                conn.execute(
                    "DELETE FROM gov_admissions WHERE id = (SELECT max(id) FROM gov_admissions "
                    "WHERE scope_key = ? AND holder = ?)",
                    (scope.key, holder),
                )

    # ------------------------------------------------------------------ breakers

    def get_breaker(self, scope: UsageScope) -> BreakerState | None:
        rows = self._read("SELECT state FROM gov_breakers WHERE scope_key = ?", (scope.key,))
        if not rows:
            return None
        state = json.loads(rows[0][0]) if isinstance(rows[0][0], str) else rows[0][0]
        return BreakerState.from_dict(state) if isinstance(state, Mapping) else None

    def set_breaker(self, scope: UsageScope, state: BreakerState | None) -> None:
        with self._transaction() as conn:
            if state is None:
                conn.execute("DELETE FROM gov_breakers WHERE scope_key = ?", (scope.key,))
                return
            conn.execute(
                "INSERT INTO gov_breakers (scope_key, state, "
                "updated_at) VALUES (?, ?, ?) ON CONFLICT (scope_key) "
                "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (scope.key, json.dumps(state.to_dict()), self._clock()),
            )

    # ------------------------------------------------------------------ housekeeping

    @staticmethod
    def _prune_raw(conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM gov_admissions WHERE at < ?", (now - ADMISSION_RETENTION_SECONDS,))
        conn.execute("DELETE FROM gov_run_outcomes WHERE ended_at < ?", (now - OUTCOME_RETENTION_SECONDS,))
        conn.execute("DELETE FROM gov_outcome_buckets WHERE bucket < ?", (now - OUTCOME_RETENTION_SECONDS,))
        conn.execute("DELETE FROM gov_usage WHERE bucket < ?", (now - USAGE_RETENTION_SECONDS,))
        conn.execute("DELETE FROM gov_slots WHERE expires_at <= ?", (now,))

    def __repr__(self) -> str:
        return f"SqliteUsage({self.path!r})"
