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

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from waxell_observe.store.database import Store

from . import usage_statements as q
from .matching import model_matches
from .processes import Liveness, live_and_stale, process_owner
from .usage import DEFAULT_SLOT_TTL_SECONDS, Admission, BreakerState, RateWindow, UsageScope
from .usage_database import CoreDatabase, UsageDatabase, UsageTransaction

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
    """A :class:`~.usage.UsageSource` over a :class:`~waxell_observe.store.Store`: the decisions (what
    to count, when to admit, when a slot is stale) over the statements of :mod:`.usage_statements`, run
    by a :class:`~.usage_database.UsageDatabase` (here SQLAlchemy on the store;
    :class:`~.sqlite_usage.SqliteUsage` runs them on plain ``sqlite3``).

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
        database: UsageDatabase | None = None,
    ) -> None:
        if slot_ttl_seconds <= 0:
            raise ValueError(f"slot_ttl_seconds must be > 0, got {slot_ttl_seconds}")
        self.store = store
        self._owner = owner
        self._owner_pid = -1
        self.slot_ttl = float(slot_ttl_seconds)
        self._clock = clock
        self._db: UsageDatabase = CoreDatabase(store) if database is None else database
        self._writes = 0
        self._writes_lock = threading.Lock()

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
        with self._db.transaction() as tx:
            counted = self._record_run(tx, usage, at) if usage is not None else False
            if holders:
                tx.execute_many(q.DELETE_HOLDER_SLOTS, [(h,) for h in holders])
            if self._due_for_pruning():
                self._prune(tx, at)
        return counted

    def record_run(self, usage: RunUsage, *, at: float | None = None) -> bool:
        """Count a finished run (see :meth:`finish`); False when it was counted before."""
        return self.finish(usage, at=at)

    @staticmethod
    def _record_run(tx: UsageTransaction, usage: RunUsage, at: float) -> bool:
        identity = (usage.agent_name, usage.workflow_name, usage.user_group)
        error = bool(usage.error)
        outcome = (usage.run_id, at, *identity, error, int(usage.tokens), float(usage.cost))
        if not tx.rows(q.INSERT_OUTCOME, outcome):
            return False
        tx.execute(q.ADD_OUTCOME, (int(at // OUTCOME_BUCKET) * OUTCOME_BUCKET, *identity, int(error)))
        bucket = int(at // HOUR) * HOUR
        rows = [
            (bucket, *identity, model, int(tokens), float(cost))
            for model, (tokens, cost) in sorted(usage.models.items())
            if tokens or cost
        ]
        tx.execute_many(q.ADD_USAGE, rows)
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
        rows = self._db.rows(q.USAGE_BY_IDENTITY if model is None else q.USAGE_BY_MODEL, (bucket,))
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
        # whole buckets from the first one starting at or after ``since``, and the exact runs before it
        first = -(-since // OUTCOME_BUCKET) * OUTCOME_BUCKET
        rows = [
            *self._db.rows(q.OUTCOME_BUCKETS_SINCE, (first,)),
            *self._db.rows(q.OUTCOMES_BETWEEN, (since, first)),
        ]
        return _sum_outcomes(scope, rows)

    def runs_started_since(self, scope: UsageScope, since: float) -> int:
        return int(self._db.rows(q.COUNT_ADMISSIONS, (scope.key, since))[0][0])

    def runs_in_flight(self, scope: UsageScope, now: float) -> int:
        rows = self._db.rows(q.SLOT_OWNERS, (scope.key, now))
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
        key = scope.key
        with self._db.transaction() as tx:
            tx.lock(key)
            for w in windows:
                after = now - w.seconds
                count = int(tx.rows(q.COUNT_ADMISSIONS, (key, after))[0][0])
                if count >= w.limit:
                    # the admission that has to leave the window before another fits
                    ((oldest,),) = tx.rows(q.NTH_LATEST_ADMISSION, (key, after, 1, w.limit - 1))
                    return Admission(False, w.rule, w.limit, count, max(0.0, oldest + w.seconds - now))
            if max_concurrent is not None:
                held = self._live_slots(tx, key, now)
                if holder not in held:
                    if len(held) >= max_concurrent:
                        return Admission(False, "max_concurrent", max_concurrent, len(held), None)
                    tx.execute(q.INSERT_SLOT, (key, holder, now, now + self.slot_ttl, self.owner))
            if windows:
                tx.execute(q.INSERT_ADMISSION, (key, holder, now))
            if self._due_for_pruning():
                self._prune(tx, now)
        return Admission(True)

    def release(self, scope: UsageScope, holder: str, *, revoke: bool = False) -> None:
        with self._db.transaction() as tx:
            tx.execute(q.DELETE_SLOT, (scope.key, holder))
            if revoke:
                tx.execute(q.DELETE_LATEST_ADMISSION, (scope.key, holder))

    @staticmethod
    def _live_slots(tx: UsageTransaction, key: str, now: float) -> set[str]:
        """Holders of the live slots of ``key``; expired slots and those of dead processes are deleted."""
        live, stale = live_and_stale(((h, o, e) for h, o, e in tx.rows(q.SLOTS, (key,))), now)
        if stale:
            log.info("freeing %d stale concurrency slot(s) of policy %r", len(stale), key)
            tx.execute_many(q.DELETE_SLOT, [(key, h) for h in stale])
        return live

    # ------------------------------------------------------------------ UsageSource: breakers

    def get_breaker(self, scope: UsageScope) -> BreakerState | None:
        rows = self._db.rows(q.BREAKER, (scope.key,))
        state = self._db.json_out(rows[0][0]) if rows else None
        return BreakerState.from_dict(state) if isinstance(state, Mapping) else None

    def set_breaker(self, scope: UsageScope, state: BreakerState | None) -> None:
        now = self._clock()
        with self._db.transaction() as tx:
            if state is None:
                tx.execute(q.DELETE_BREAKER, (scope.key,))
            else:
                tx.execute(q.SET_BREAKER, (scope.key, self._db.json_in(state.to_dict()), now))

    # ------------------------------------------------------------------ housekeeping

    def _due_for_pruning(self) -> bool:
        with self._writes_lock:
            self._writes += 1
            return self._writes % PRUNE_EVERY == 0

    def prune(self, now: float | None = None) -> None:
        """Delete counters older than anything a policy asks about (also done every few writes)."""
        with self._db.transaction() as tx:
            self._prune(tx, self._clock() if now is None else now)

    @staticmethod
    def _prune(tx: UsageTransaction, now: float) -> None:
        admissions, outcomes, buckets, usage, slots = q.PRUNE
        tx.execute(admissions, (now - ADMISSION_RETENTION_SECONDS,))
        tx.execute(outcomes, (now - OUTCOME_RETENTION_SECONDS,))
        tx.execute(buckets, (now - OUTCOME_RETENTION_SECONDS,))
        tx.execute(usage, (now - USAGE_RETENTION_SECONDS,))
        tx.execute(slots, (now,))

    def reset(self) -> None:
        """Forget every counter, admission, slot and breaker (tests, ``policies`` maintenance)."""
        with self._db.transaction() as tx:
            for statement in q.RESET:
                tx.execute(statement)

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
