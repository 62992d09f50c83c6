"""The store as a :class:`~.usage.UsageSource`: transactional counters shared by every process.

Budgets, rate limits and the error-rate breaker need numbers that outlive one run and one process.
:class:`SqlUsage` keeps them in the store's governance tables (``store/schema.py``), on SQLite and
PostgreSQL alike:

* ``gov_usage`` — tokens and cost of finished runs per UTC hour, identity and model, incremented with
  ``INSERT ... ON CONFLICT DO UPDATE`` (no lost updates);
* ``gov_run_outcomes`` — one row per finished run (error or not): the breaker's samples, and the guard
  that makes :meth:`SqlUsage.record_run` idempotent (a run is counted once even if reported twice);
* ``gov_admissions`` / ``gov_slots`` — rate-limit admissions and concurrency slots. :meth:`admit`
  checks every window and the slots and records the admission in ONE write transaction: on SQLite the
  store's ``BEGIN IMMEDIATE`` serialises writers; on PostgreSQL a transaction-scoped advisory lock per
  policy serialises the admissions of that policy;
* ``gov_breakers`` — kill-switch breaker state.

Stale slots: a slot records the process that took it (``host:pid:start-time``); when a process on the
same host is gone (killed, crashed), its slots are freed at the next admission. Every slot also expires
``slot_ttl_seconds`` after it was taken (for holders on other hosts, and the server's slots).

Usage is counted per UTC hour, so ``usage_since(since)`` counts from the start of the hour holding
``since`` (budgets ask from a UTC midnight: exact). A run's usage is counted when the run ends, so
``exclude_run_id`` needs no work: a run still being checked has not been counted yet.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from waxell_observe.store.database import Store
from waxell_observe.store.schema import (
    gov_admissions,
    gov_breakers,
    gov_outcome_buckets,
    gov_run_outcomes,
    gov_slots,
    gov_usage,
)

from .matching import model_matches
from .processes import Liveness, live_and_stale, process_owner, sqlite_turns
from .usage import DEFAULT_SLOT_TTL_SECONDS, Admission, BreakerState, RateWindow, UsageScope

__all__ = ["DEFAULT_SLOT_TTL_SECONDS", "RunUsage", "SqlUsage"]

log = logging.getLogger("waxell_observe.governance")

HOUR = 3600
#: Seconds per ``gov_outcome_buckets`` bucket.
OUTCOME_BUCKET = 10
#: How long counters are kept (the longest window anything asks about is a day).
USAGE_RETENTION_SECONDS = 3 * 86400
ADMISSION_RETENTION_SECONDS = 86400 + 60
OUTCOME_RETENTION_SECONDS = 2 * 86400
#: Prune old rows every this many writes of a process (pruning is part of that write's transaction).
PRUNE_EVERY = 200


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory lock id for a rate-limit policy."""
    digest = hashlib.blake2b(f"waxell-rate:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class RunUsage:
    """What a finished run contributes to the counters (see :meth:`SqlUsage.record_run`)."""

    __slots__ = ("agent_name", "error", "models", "run_id", "user_group", "workflow_name")

    def __init__(
        self,
        run_id: str,
        agent_name: str,
        workflow_name: str = "",
        user_group: str = "",
        *,
        models: Mapping[str, tuple[int, float]] | None = None,
        error: bool = False,
    ) -> None:
        self.run_id = run_id
        self.agent_name = agent_name
        self.workflow_name = workflow_name
        self.user_group = user_group
        #: model -> (tokens, cost)
        self.models: dict[str, tuple[int, float]] = dict(models or {})
        self.error = error

    @property
    def tokens(self) -> int:
        return sum(t for t, _ in self.models.values())

    @property
    def cost(self) -> float:
        return sum(c for _, c in self.models.values())


class SqlUsage:
    """A :class:`~.usage.UsageSource` over a :class:`~waxell_observe.store.Store`.

    ``owner``: recorded on the slots this instance takes (default: this process, so its slots are freed
    when it dies; give ``""`` on a server, whose slots belong to remote runs). ``slot_ttl_seconds``:
    a slot never released is freed this long after it was taken. ``clock``: epoch seconds, for pruning.
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        slot_ttl_seconds: float = DEFAULT_SLOT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if slot_ttl_seconds <= 0:
            raise ValueError(f"slot_ttl_seconds must be > 0, got {slot_ttl_seconds}")
        self.store = store
        self._owner = owner
        self._owner_pid = -1
        self.slot_ttl = float(slot_ttl_seconds)
        self._clock = clock
        self._postgres = store.dialect == "postgresql"
        self._dialect_insert = postgresql.insert if self._postgres else sqlite.insert
        self._writes = 0
        self._writes_lock = threading.Lock()
        self._turns = sqlite_turns(store)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (taking turns with this process's other writers on SQLite)."""
        if self._turns is None:
            with self.store.write() as conn:
                yield conn
            return
        with self._turns, self.store.write() as conn:
            yield conn

    @property
    def owner(self) -> str:
        """The owner written on slots (re-computed after a fork)."""
        if self._owner is not None:
            return self._owner
        pid = os.getpid()
        if pid != self._owner_pid:
            self._owner_pid = pid
            self._cached_owner = process_owner(pid)
        return self._cached_owner

    # ------------------------------------------------------------------ recording

    def finish(self, usage: RunUsage | None, *, holders: Iterable[str] = (), at: float | None = None) -> bool:
        """A run ended. In one write transaction: count ``usage`` — tokens and cost per model
        (``gov_usage``) and the outcome (``gov_run_outcomes``) — and free every concurrency slot held
        by ``holders`` (the run id, and admission ids it was given). Counting is idempotent per run id:
        returns False when the run was counted before (or ``usage`` is None)."""
        at = self._clock() if at is None else at
        holders = [h for h in holders if h]
        with self._write() as conn:
            counted = self._record_run(conn, usage, at) if usage is not None else False
            if holders:
                conn.execute(delete(gov_slots).where(gov_slots.c.holder.in_(holders)))
            if self._due_for_pruning():
                self._prune(conn, at)
        return counted

    def record_run(self, usage: RunUsage, *, at: float | None = None) -> bool:
        """Count a finished run (see :meth:`finish`); False when it was counted before."""
        return self.finish(usage, at=at)

    def _record_run(self, conn: Connection, usage: RunUsage, at: float) -> bool:
        statement = self._dialect_insert(gov_run_outcomes).values(
            run_id=usage.run_id,
            ended_at=at,
            agent_name=usage.agent_name,
            workflow_name=usage.workflow_name,
            user_group=usage.user_group,
            error=bool(usage.error),
            tokens=int(usage.tokens),
            cost=float(usage.cost),
        )
        inserted = conn.execute(
            statement.on_conflict_do_nothing(index_elements=["run_id"]).returning(gov_run_outcomes.c.run_id)
        ).first()
        if inserted is None:
            return False
        outcome = self._dialect_insert(gov_outcome_buckets).values(
            bucket=int(at // OUTCOME_BUCKET) * OUTCOME_BUCKET,
            agent_name=usage.agent_name,
            workflow_name=usage.workflow_name,
            user_group=usage.user_group,
            errors=int(bool(usage.error)),
            total=1,
        )
        conn.execute(
            outcome.on_conflict_do_update(
                index_elements=["bucket", "agent_name", "workflow_name", "user_group"],
                set_={
                    "errors": gov_outcome_buckets.c.errors + outcome.excluded.errors,
                    "total": gov_outcome_buckets.c.total + outcome.excluded.total,
                },
            )
        )
        bucket = int(at // HOUR) * HOUR
        rows = [
            {
                "bucket": bucket,
                "agent_name": usage.agent_name,
                "workflow_name": usage.workflow_name,
                "user_group": usage.user_group,
                "model": model,
                "tokens": int(tokens),
                "cost": float(cost),
            }
            for model, (tokens, cost) in sorted(usage.models.items())
            if tokens or cost
        ]
        if rows:
            upsert = self._dialect_insert(gov_usage)
            upsert = upsert.on_conflict_do_update(
                index_elements=["bucket", "agent_name", "workflow_name", "user_group", "model"],
                set_={
                    "tokens": gov_usage.c.tokens + upsert.excluded.tokens,
                    "cost": gov_usage.c.cost + upsert.excluded.cost,
                },
            )
            conn.execute(upsert, rows)
        return True

    # ------------------------------------------------------------------ UsageSource: reads

    def usage_since(
        self,
        scope: UsageScope,
        since: float,
        *,
        model: str | None = None,
        exclude_run_id: str | None = None,
    ) -> tuple[int, float]:
        bucket = int(since // HOUR) * HOUR
        columns = [gov_usage.c.agent_name, gov_usage.c.workflow_name, gov_usage.c.user_group]
        if model is not None:
            columns.append(gov_usage.c.model)
        query = (
            select(*columns, func.sum(gov_usage.c.tokens), func.sum(gov_usage.c.cost))
            .where(gov_usage.c.bucket >= bucket)
            .group_by(*columns)
        )
        tokens = 0
        cost = 0.0
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            if model is not None and not model_matches(row[3], model):
                continue
            if scope.matches(row[0], row[1], row[2]):
                tokens += int(row[-2] or 0)
                cost += float(row[-1] or 0.0)
        return tokens, cost

    def outcomes_since(self, scope: UsageScope, since: float) -> tuple[int, int]:
        # whole buckets from the first one starting at or after ``since``, and the exact runs before it
        first = -(-since // OUTCOME_BUCKET) * OUTCOME_BUCKET
        b = gov_outcome_buckets.c
        o = gov_run_outcomes.c
        whole = (
            select(b.agent_name, b.workflow_name, b.user_group, func.sum(b.total), func.sum(b.errors))
            .where(b.bucket >= first)
            .group_by(b.agent_name, b.workflow_name, b.user_group)
        )
        partial = (
            select(
                o.agent_name,
                o.workflow_name,
                o.user_group,
                func.count(),
                func.sum(case((o.error, 1), else_=0)),
            )
            .where(and_(o.ended_at >= since, o.ended_at < first))
            .group_by(o.agent_name, o.workflow_name, o.user_group)
        )
        with self.store.read() as conn:
            rows = [*conn.execute(whole).all(), *conn.execute(partial).all()]
        return _sum_outcomes(scope, rows)

    def runs_started_since(self, scope: UsageScope, since: float) -> int:
        a = gov_admissions.c
        with self.store.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(and_(a.scope_key == scope.key, a.at > since))
                ).scalar_one()
            )

    def runs_in_flight(self, scope: UsageScope, now: float) -> int:
        s = gov_slots.c
        with self.store.read() as conn:
            rows = conn.execute(
                select(s.owner).where(and_(s.scope_key == scope.key, s.expires_at > now))
            ).all()
        alive = Liveness()
        return sum(1 for (owner,) in rows if alive(owner))

    # ------------------------------------------------------------------ UsageSource: admission

    def admit(
        self,
        scope: UsageScope,
        holder: str,
        now: float,
        windows: Sequence[RateWindow],
        max_concurrent: int | None,
    ) -> Admission:
        a = gov_admissions.c
        with self._write() as conn:
            if self._postgres:
                conn.execute(select(func.pg_advisory_xact_lock(_lock_id(scope.key))))
            for w in windows:
                count = int(
                    conn.execute(
                        select(func.count()).where(and_(a.scope_key == scope.key, a.at > now - w.seconds))
                    ).scalar_one()
                )
                if count >= w.limit:
                    # the admission that has to leave the window before another fits
                    oldest = conn.execute(
                        select(a.at)
                        .where(and_(a.scope_key == scope.key, a.at > now - w.seconds))
                        .order_by(a.at.desc(), a.id.desc())
                        .offset(w.limit - 1)
                        .limit(1)
                    ).scalar_one()
                    return Admission(False, w.rule, w.limit, count, max(0.0, oldest + w.seconds - now))
            if max_concurrent is not None:
                held = self._live_slots(conn, scope.key, now)
                if holder not in held:
                    if len(held) >= max_concurrent:
                        return Admission(False, "max_concurrent", max_concurrent, len(held), None)
                    conn.execute(
                        insert(gov_slots).values(
                            scope_key=scope.key,
                            holder=holder,
                            taken_at=now,
                            expires_at=now + self.slot_ttl,
                            owner=self.owner,
                        )
                    )
            if windows:
                conn.execute(insert(gov_admissions).values(scope_key=scope.key, holder=holder, at=now))
            if self._due_for_pruning():
                self._prune(conn, now)
        return Admission(True)

    def release(self, scope: UsageScope, holder: str, *, revoke: bool = False) -> None:
        a = gov_admissions.c
        with self._write() as conn:
            conn.execute(
                delete(gov_slots).where(
                    and_(gov_slots.c.scope_key == scope.key, gov_slots.c.holder == holder)
                )
            )
            if revoke:
                latest = conn.execute(
                    select(func.max(a.id)).where(and_(a.scope_key == scope.key, a.holder == holder))
                ).scalar()
                if latest is not None:
                    conn.execute(delete(gov_admissions).where(a.id == latest))

    def _live_slots(self, conn: Connection, key: str, now: float) -> set[str]:
        """Holders of the live slots of ``key``; expired slots and those of dead processes are deleted."""
        s = gov_slots.c
        rows = conn.execute(select(s.holder, s.owner, s.expires_at).where(s.scope_key == key)).all()
        live, stale = live_and_stale(((h, o, e) for h, o, e in rows), now)
        if stale:
            log.info("freeing %d stale concurrency slot(s) of policy %r", len(stale), key)
            conn.execute(delete(gov_slots).where(and_(s.scope_key == key, s.holder.in_(stale))))
        return live

    # ------------------------------------------------------------------ UsageSource: breakers

    def get_breaker(self, scope: UsageScope) -> BreakerState | None:
        with self.store.read() as conn:
            state = conn.execute(
                select(gov_breakers.c.state).where(gov_breakers.c.scope_key == scope.key)
            ).scalar()
        return BreakerState.from_dict(state) if isinstance(state, Mapping) else None

    def set_breaker(self, scope: UsageScope, state: BreakerState | None) -> None:
        now = self._clock()
        with self._write() as conn:
            if state is None:
                conn.execute(delete(gov_breakers).where(gov_breakers.c.scope_key == scope.key))
                return
            statement = self._dialect_insert(gov_breakers).values(
                scope_key=scope.key, state=state.to_dict(), updated_at=now
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["scope_key"],
                    set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
                )
            )

    # ------------------------------------------------------------------ housekeeping

    def _due_for_pruning(self) -> bool:
        with self._writes_lock:
            self._writes += 1
            return self._writes % PRUNE_EVERY == 0

    def prune(self, now: float | None = None) -> None:
        """Delete counters older than anything a policy asks about (also done every few writes)."""
        with self._write() as conn:
            self._prune(conn, self._clock() if now is None else now)

    @staticmethod
    def _prune(conn: Connection, now: float) -> None:
        conn.execute(delete(gov_admissions).where(gov_admissions.c.at < now - ADMISSION_RETENTION_SECONDS))
        conn.execute(
            delete(gov_run_outcomes).where(gov_run_outcomes.c.ended_at < now - OUTCOME_RETENTION_SECONDS)
        )
        conn.execute(
            delete(gov_outcome_buckets).where(gov_outcome_buckets.c.bucket < now - OUTCOME_RETENTION_SECONDS)
        )
        conn.execute(delete(gov_usage).where(gov_usage.c.bucket < now - USAGE_RETENTION_SECONDS))
        conn.execute(delete(gov_slots).where(gov_slots.c.expires_at <= now))

    def reset(self) -> None:
        """Forget every counter, admission, slot and breaker (tests, ``policies`` maintenance)."""
        with self._write() as conn:
            for table in (
                gov_usage,
                gov_run_outcomes,
                gov_outcome_buckets,
                gov_admissions,
                gov_slots,
                gov_breakers,
            ):
                conn.execute(delete(table))

    def __repr__(self) -> str:
        return f"SqlUsage({self.store.url!r})"


def _sum_outcomes(scope: UsageScope, rows: Iterable[Sequence[Any]]) -> tuple[int, int]:
    """``(errors, total)`` over ``(agent, workflow, group, total, errors)`` rows inside ``scope``."""
    errors = total = 0
    for agent, workflow, group, count, failed in rows:
        if scope.matches(agent, workflow, group):
            total += int(count or 0)
            errors += int(failed or 0)
    return errors, total
