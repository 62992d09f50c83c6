"""A decider: the policies of one store, compiled into a cached :class:`PolicyEngine` over the store's
counters (:func:`~.usage_factory.usage_for_store`).

Used in process by the embedded mode (:mod:`.embedded_decider`) and by the server (``policy_routes``), so a
policy behaves the same in both. Policies are read from the store once and kept compiled; a change is
noticed by reading the one-row ``policy_state.version`` at most every ``poll_interval`` seconds. Between
polls a check touches no file and no database unless a stateful policy (budget, rate limit, kill switch)
applies to the run.

Nothing heavy happens while a store holds no policy: for a SQLite file the version is read with the
standard ``sqlite3`` module (a missing file is not created), so SQLAlchemy, the store and the policy models
are only loaded once there are policies to enforce.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from waxell_observe.process import sqlite_gate
from waxell_observe.vocabulary import STATEFUL_POLICY_CATEGORIES

from .usage import DEFAULT_SLOT_TTL_SECONDS

if TYPE_CHECKING:
    from waxell_observe.store.database import Store

    from .engine import PolicyEngine
    from .models import Policy
    from .request import PolicyRequest
    from .results import PolicyCheckResult
    from .sql_usage import SqlUsage

__all__ = ["STATEFUL_CATEGORIES", "Decider", "ScopeFacts", "sqlite_path_of"]

log = logging.getLogger("waxell_observe.governance")

#: Categories whose answer depends on counters kept in the store.
STATEFUL_CATEGORIES = STATEFUL_POLICY_CATEGORIES

#: Categories besides ``content`` that read the texts a run recorded since the previous mid-execution check.
TEXT_SCANNING_CATEGORIES = frozenset({"output-egress-format", "prompt-injection-guard"})


def sqlite_path_of(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (None for other databases, in-memory or URI-style ones)."""
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+")[0] != "sqlite":
        return None
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def _sqlite_version(path: str) -> int:
    """``policy_state.version`` of a SQLite file, read without SQLAlchemy; 0 when the file or the table
    does not exist (nothing is created)."""
    with sqlite_gate:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=60)
        except sqlite3.OperationalError:
            return 0  # no such file: no policies
        try:
            row = conn.execute("SELECT version FROM policy_state WHERE id = 1").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
        finally:
            conn.close()
    return int(row[0]) if row else 0


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
        #: a policy scans texts recorded during the run (previews, messages, tool outputs): content,
        #: output-egress-format, prompt-injection-guard
        self.mid_content = any(
            p.rules.scan_inputs or p.rules.scan_outputs  # type: ignore[attr-defined]
            for p in categories.get("content", ())
        ) or not TEXT_SCANNING_CATEGORIES.isdisjoint(categories)

    @property
    def records_run(self) -> bool:
        """True when a finished run must be counted (its usage, or its outcome)."""
        return self.budget or self.kill_switch


def _plugins_changed() -> None:
    """The governance plugin's ``waxell_active`` answer may have changed (policies appeared or
    all went away): drop the plugin manager's cached dispatch lists."""
    from waxell_observe import plugins

    if plugins._pm is not None:
        plugins._pm.invalidate()  # type: ignore[attr-defined]


class Decider:
    """Evaluate the policies stored in a store: ``store``, or the one at ``url`` (opened on first need).

    ``owner`` / ``slot_ttl_seconds`` go to the usage source (``owner=""`` on a server: its slots belong
    to remote runs and only expire). ``clock`` (epoch seconds) is read once per evaluation and may be
    swapped with :meth:`set_clock` (tests, ``policies test --at``). ``poll_interval``: seconds between
    two reads of the policies version (0: every check).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        url: str | None = None,
        owner: str | None = None,
        slot_ttl_seconds: float = DEFAULT_SLOT_TTL_SECONDS,
        clock: Callable[[], float] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        if store is None and not url:
            raise ValueError("a Decider needs a store or a store url")
        self._store = store
        self.url: str = store.url if store is not None else str(url)
        self._sqlite_path = sqlite_path_of(self.url)
        self._owner = owner
        self._slot_ttl = slot_ttl_seconds
        self._usage: SqlUsage | None = None
        self._clock: Callable[[], float] = clock or time.time
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._engine: PolicyEngine | None = None
        self._version = -1
        self._checked = float("-inf")
        self._facts: dict[tuple[str, str, str], ScopeFacts] = {}
        self._empty = True

    @property
    def store(self) -> Store:
        """The store (opened, and its schema created, on first use)."""
        if self._store is None:
            from waxell_observe.store import get_store

            self._store = get_store(self.url)
        return self._store

    @property
    def usage(self) -> SqlUsage:
        """The store's counters; stamped with the decider's clock (``now`` follows ``set_clock``)."""
        if self._usage is None:
            from .usage_factory import usage_for_store

            self._usage = usage_for_store(
                self.store, owner=self._owner, slot_ttl_seconds=self._slot_ttl, clock=self.now
            )
        return self._usage

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

    def quiet_until(self) -> float:
        """The ``time.monotonic()`` time until which :attr:`empty` stays as it is now without
        looking at the store again (this process's own changes call :meth:`expire`)."""
        return self._checked + self.poll_interval

    @property
    def empty(self) -> bool:
        """True when no enabled policy is stored (as of the last poll, at most ``poll_interval`` ago)."""
        if time.monotonic() - self._checked >= self.poll_interval:
            self.refresh()
        return self._empty

    def engine(self) -> PolicyEngine:
        """The engine for the current policies (re-read when their version changed)."""
        if time.monotonic() - self._checked >= self.poll_interval or self._engine is None:
            self.refresh()
        if self._engine is None:  # light and empty so far: compile the (empty) engine for real
            self.refresh(force=True)
        assert self._engine is not None
        return self._engine

    def refresh(self, *, force: bool = False) -> None:
        """Read the policies version now, and the policies when it changed (or with ``force``)."""
        with self._lock:
            if self._sqlite_path is not None and self._store is None:
                version = _sqlite_version(self._sqlite_path)
                if version == 0 and not force:  # never any policy: stay light, create nothing
                    self._set_policies((), 0, compile_engine=False)
                    self._checked = time.monotonic()
                    return
            from .policy_store import policies_version, stored_policies

            with self.store.read() as conn:
                version = policies_version(conn)
                policies = (
                    stored_policies(conn)
                    if force or version != self._version or self._engine is None
                    else None
                )
            if policies is not None:
                self._set_policies(policies, version, compile_engine=True)
                log.debug("loaded %d policies (version %d) from %s", len(policies), version, self.url)
            self._checked = time.monotonic()

    def _set_policies(self, policies: Iterable[Policy], version: int, *, compile_engine: bool) -> None:
        policies = list(policies)
        if compile_engine:
            from .engine import PolicyEngine

            self._engine = PolicyEngine(policies, self.usage, self.now)
        else:
            self._engine = None
        self._facts = {}
        was_empty = self._empty
        self._empty = not any(p.enabled for p in policies)
        self._version = version
        if was_empty != self._empty:
            _plugins_changed()

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
        from .sql_usage import RunUsage

        usage = (
            RunUsage(run_id, agent_name, workflow_name, user_group, models=models, error=error)
            if count
            else None
        )
        self.usage.finish(usage, holders=holders)
        return True

    def __repr__(self) -> str:
        return f"Decider({self.url!r}, version={self._version})"
