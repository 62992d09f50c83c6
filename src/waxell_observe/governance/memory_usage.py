"""An in-process :class:`~.usage.UsageSource`: for tests and single-process use.

Thread-safe (one lock). Usage and outcomes are fed by the caller with :meth:`InMemoryUsage.record_usage`
and :meth:`InMemoryUsage.record_outcome`; admissions and slots are kept by :meth:`admit`/:meth:`release`.
Data older than ``retention_seconds`` is pruned as new data arrives.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .matching import model_matches
from .usage import Admission, BreakerState, RateWindow, UsageScope

__all__ = ["InMemoryUsage"]


@dataclass(slots=True)
class _UsageEvent:
    at: float
    agent_name: str
    workflow_name: str
    user_group: str
    run_id: str
    model: str
    tokens: int
    cost: float


@dataclass(slots=True)
class _Outcome:
    at: float
    agent_name: str
    workflow_name: str
    user_group: str
    error: bool


class InMemoryUsage:
    """A :class:`~.usage.UsageSource` kept in memory.

    ``slot_ttl_seconds`` expires concurrency slots whose holder never released them (e.g. a crashed
    run); None keeps them until released.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        retention_seconds: float = 2 * 86400,
        slot_ttl_seconds: float | None = 6 * 3600,
    ) -> None:
        self._clock = clock
        self._retention = retention_seconds
        self._slot_ttl = slot_ttl_seconds
        self._lock = threading.Lock()
        self._usage: deque[_UsageEvent] = deque()
        self._outcomes: deque[_Outcome] = deque()
        self._admissions: dict[str, list[tuple[float, str]]] = defaultdict(list)  # key -> sorted (at, holder)
        self._slots: dict[str, dict[str, float]] = defaultdict(dict)  # key -> holder -> taken at
        self._breakers: dict[str, BreakerState] = {}

    # ------------------------------------------------------------------ feeding

    def record_usage(
        self,
        *,
        agent_name: str,
        workflow_name: str = "",
        user_group: str = "",
        tokens: int = 0,
        cost: float = 0.0,
        model: str = "",
        run_id: str = "",
        at: float | None = None,
    ) -> None:
        """Count ``tokens``/``cost`` (one LLM call, or a run's totals) against the scopes it falls in."""
        at = self._clock() if at is None else at
        with self._lock:
            self._usage.append(
                _UsageEvent(at, agent_name, workflow_name, user_group, run_id, model, tokens, cost)
            )
            self._prune(self._usage, at)

    def record_outcome(
        self,
        *,
        agent_name: str,
        workflow_name: str = "",
        user_group: str = "",
        error: bool = False,
        run_id: str = "",
        at: float | None = None,
    ) -> None:
        """Record the end of a run (``error=True`` for a failed run) and free its slots (``run_id``)."""
        at = self._clock() if at is None else at
        with self._lock:
            self._outcomes.append(_Outcome(at, agent_name, workflow_name, user_group, error))
            self._prune(self._outcomes, at)
            if run_id:
                for slots in self._slots.values():
                    slots.pop(run_id, None)

    def _prune(self, events: deque, now: float) -> None:  # type: ignore[type-arg]
        horizon = now - self._retention
        while events and events[0].at < horizon:
            events.popleft()

    # ------------------------------------------------------------------ UsageSource

    def usage_since(
        self,
        scope: UsageScope,
        since: float,
        *,
        model: str | None = None,
        exclude_run_id: str | None = None,
    ) -> tuple[int, float]:
        tokens = 0
        cost = 0.0
        with self._lock:
            for e in self._usage:
                if e.at < since:
                    continue
                if exclude_run_id and e.run_id == exclude_run_id:
                    continue
                if model is not None and not model_matches(e.model, model):
                    continue
                if scope.matches(e.agent_name, e.workflow_name, e.user_group):
                    tokens += e.tokens
                    cost += e.cost
        return tokens, cost

    def outcomes_since(self, scope: UsageScope, since: float) -> tuple[int, int]:
        errors = total = 0
        with self._lock:
            for o in self._outcomes:
                if o.at >= since and scope.matches(o.agent_name, o.workflow_name, o.user_group):
                    total += 1
                    errors += o.error
        return errors, total

    def runs_started_since(self, scope: UsageScope, since: float) -> int:
        with self._lock:
            hits = self._admissions.get(scope.key, [])
            return len(hits) - bisect.bisect_left(hits, (since, ""))

    def runs_in_flight(self, scope: UsageScope, now: float) -> int:
        with self._lock:
            return len(self._live_slots(scope.key, now))

    def admit(
        self,
        scope: UsageScope,
        holder: str,
        now: float,
        windows: Sequence[RateWindow],
        max_concurrent: int | None,
    ) -> Admission:
        with self._lock:
            hits = self._admissions[scope.key]
            if windows:
                longest = max(w.seconds for w in windows)
                cut = bisect.bisect_left(hits, (now - max(longest, 1.0), ""))
                if cut > 1024 or cut > len(hits) // 2:
                    del hits[:cut]
            for w in windows:
                start = bisect.bisect_right(hits, (now - w.seconds, "\U0010ffff"))
                count = len(hits) - start
                if count >= w.limit:
                    oldest = hits[len(hits) - w.limit][0]
                    return Admission(False, w.rule, w.limit, count, max(0.0, oldest + w.seconds - now))
            if max_concurrent is not None:
                live = self._live_slots(scope.key, now)
                if holder not in live and len(live) >= max_concurrent:
                    return Admission(False, "max_concurrent", max_concurrent, len(live), None)
                live[holder] = now
            if windows:
                bisect.insort(hits, (now, holder))
            return Admission(True)

    def release(self, scope: UsageScope, holder: str, *, revoke: bool = False) -> None:
        with self._lock:
            slots = self._slots.get(scope.key)
            if slots is not None:
                slots.pop(holder, None)
            if revoke:
                hits = self._admissions.get(scope.key)
                if hits:
                    for i in range(len(hits) - 1, -1, -1):
                        if hits[i][1] == holder:
                            del hits[i]
                            break

    def get_breaker(self, scope: UsageScope) -> BreakerState | None:
        with self._lock:
            return self._breakers.get(scope.key)

    def set_breaker(self, scope: UsageScope, state: BreakerState | None) -> None:
        with self._lock:
            if state is None:
                self._breakers.pop(scope.key, None)
            else:
                self._breakers[scope.key] = state

    def _live_slots(self, key: str, now: float) -> dict[str, float]:
        slots = self._slots[key]
        if self._slot_ttl is not None:
            stale = [h for h, taken in slots.items() if now - taken > self._slot_ttl]
            for h in stale:
                del slots[h]
        return slots
