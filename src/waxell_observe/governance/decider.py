"""A decider: the policies of one store, compiled into a cached :class:`PolicyEngine` over :class:`SqlUsage`.

Used in process by the embedded mode (:mod:`.local_plugin`) and by the server (``policy_routes``), so a
policy behaves the same in both. Policies are read from the store once and kept compiled; a change is
noticed by reading the one-row ``policy_state.version`` at most every ``poll_interval`` seconds. Between
polls a check touches no file and no database unless a stateful policy (budget, rate limit, kill
switch) applies to the run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from waxell_observe.store.database import Store

from .engine import PolicyEngine
from .models import Policy
from .policy_store import policies_version, stored_policies
from .request import PolicyRequest
from .results import PolicyCheckResult
from .sql_usage import DEFAULT_SLOT_TTL_SECONDS, RunUsage, usage_for_store

__all__ = ["STATEFUL_CATEGORIES", "Decider", "ScopeFacts"]

log = logging.getLogger("waxell_observe.governance")

#: Categories whose answer depends on counters kept in the store.
STATEFUL_CATEGORIES = frozenset({"budget", "rate-limit", "kill-switch"})


class ScopeFacts:
    """What the policies covering one identity need from a run (cached per identity and version)."""

    __slots__ = ("any", "budget", "concurrency", "kill_switch", "mid_content", "phases", "stateful")

    def __init__(self, policies: Iterable[Policy]) -> None:
        from .rules import EVALUATORS

        categories: dict[str, list[Policy]] = {}
        for p in policies:
            categories.setdefault(p.category, []).append(p)
        self.any = bool(categories)
        #: the phases in which at least one of these policies is evaluated
        self.phases: frozenset[str] = frozenset().union(*(EVALUATORS[c].phases for c in categories))
        self.budget = "budget" in categories
        self.kill_switch = "kill-switch" in categories
        self.concurrency = any(
            getattr(p.rules, "max_concurrent", None) is not None for p in categories.get("rate-limit", ())
        )
        self.stateful = bool(STATEFUL_CATEGORIES.intersection(categories))
        #: a content policy scans texts recorded during the run (previews, messages, tool outputs)
        self.mid_content = any(
            p.rules.scan_inputs or p.rules.scan_outputs  # type: ignore[attr-defined]
            for p in categories.get("content", ())
        )

    @property
    def records_run(self) -> bool:
        """True when a finished run must be counted (its usage, or its outcome)."""
        return self.budget or self.kill_switch


class Decider:
    """Evaluate the policies stored in ``store``.

    ``owner`` / ``slot_ttl_seconds`` go to :class:`SqlUsage` (``owner=""`` on a server: its slots belong
    to remote runs and only expire). ``clock`` (epoch seconds) is read once per evaluation and may be
    swapped with :meth:`set_clock` (tests, ``policies test --at``). ``poll_interval``: seconds between
    two reads of the policies version (0: every check).
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        slot_ttl_seconds: float = DEFAULT_SLOT_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.store = store
        self._clock: Callable[[], float] = clock or time.time
        # counters are stamped with the decider's clock too (``now`` follows ``set_clock``)
        self.usage = usage_for_store(store, owner=owner, slot_ttl_seconds=slot_ttl_seconds, clock=self.now)
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._engine = PolicyEngine((), self.usage, self.now)
        self._version = -1
        self._checked = float("-inf")
        self._facts: dict[tuple[str, str, str], ScopeFacts] = {}
        self._empty = True

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        return self._clock()

    def set_clock(self, clock: Callable[[], float] | None) -> None:
        """Use ``clock`` (epoch seconds) for evaluations and counters; None restores ``time.time``."""
        self._clock = clock or time.time

    # ------------------------------------------------------------------ policies

    def expire(self) -> None:
        """Re-read the policies version at the next check (not only after ``poll_interval``)."""
        self._checked = float("-inf")

    @property
    def version(self) -> int:
        """The policies version the cached engine was built from (-1 before the first load)."""
        return self._version

    def engine(self) -> PolicyEngine:
        """The engine for the current policies (re-read when their version changed)."""
        if time.monotonic() - self._checked < self.poll_interval:
            return self._engine
        return self.refresh()

    def refresh(self, *, force: bool = False) -> PolicyEngine:
        """Read the policies version now, and the policies when it changed (or with ``force``)."""
        with self._lock:
            with self.store.read() as conn:
                version = policies_version(conn)
                if force or version != self._version:
                    policies = stored_policies(conn)
                else:
                    policies = None
            if policies is not None:
                self._engine = PolicyEngine(policies, self.usage, self.now)
                self._facts = {}
                self._empty = not any(p.enabled for p in policies)
                self._version = version
                log.debug("loaded %d policies (version %d) from %s", len(policies), version, self.store.url)
            self._checked = time.monotonic()
            return self._engine

    @property
    def empty(self) -> bool:
        """True when no enabled policy is loaded (as of the last poll)."""
        self.engine()
        return self._empty

    def facts(self, agent_name: str, workflow_name: str = "", user_group: str = "") -> ScopeFacts:
        """What the policies covering this identity need (cached)."""
        engine = self.engine()
        key = (agent_name, workflow_name, user_group)
        facts = self._facts.get(key)
        if facts is None:
            facts = ScopeFacts(engine.policies_for(agent_name, workflow_name, user_group))
            if len(self._facts) >= 4096:
                self._facts.clear()
            self._facts[key] = facts
        return facts

    # ------------------------------------------------------------------ deciding

    def evaluate(self, request: PolicyRequest, phase: str, *, dry_run: bool = False) -> PolicyCheckResult:
        """Evaluate the stored policies (see :meth:`PolicyEngine.evaluate`)."""
        return self.engine().evaluate(request, phase, dry_run=dry_run)

    def finish_run(
        self,
        run_id: str,
        agent_name: str,
        workflow_name: str = "",
        user_group: str = "",
        *,
        models: Mapping[str, tuple[int, float]] | None = None,
        error: bool = False,
        holds_slot: bool = False,
        extra_holders: Iterable[str] = (),
        always_count: bool = False,
    ) -> bool:
        """A run ended: count its usage and outcome when a budget or kill switch covers it (or
        ``always_count``), and free its concurrency slots. One write transaction; nothing at all when
        there is nothing to do. Returns True when something was written."""
        facts = self.facts(agent_name, workflow_name, user_group)
        count = always_count or facts.records_run
        holders = [h for h in (run_id, *extra_holders) if h] if (holds_slot or facts.concurrency) else []
        if not count and not holders:
            return False
        usage = (
            RunUsage(run_id, agent_name, workflow_name, user_group, models=models, error=error)
            if count
            else None
        )
        self.usage.finish(usage, holders=holders)
        return True

    def __repr__(self) -> str:
        return f"Decider({self.store.url!r}, version={self._version})"
