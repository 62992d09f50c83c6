"""The usage source: the numbers policies need that live outside one run.

The engine never counts by itself. It asks a :class:`UsageSource` — the store in embedded mode and on
the server, :class:`~.memory_usage.InMemoryUsage` in tests and single-process use. Admission to rate
limits is a single call (:meth:`UsageSource.admit`) so the store can check-and-record in one
transaction: there is no count-then-admit race between processes.

Every counter is addressed by a :class:`UsageScope`: the policy's stable ``key`` (its name) plus its
scope globs, so an implementation may keep counters per key, or compute from raw runs filtered with
:meth:`UsageScope.matches`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .matching import compile_globs

__all__ = ["DEFAULT_SLOT_TTL_SECONDS", "Admission", "BreakerState", "RateWindow", "UsageScope", "UsageSource"]

#: How long a concurrency slot that was never released is kept by the store (seconds).
DEFAULT_SLOT_TTL_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class UsageScope:
    """Which runs a counter covers. ``key`` identifies the counter (the policy name).

    Empty glob tuples mean "every agent / workflow / user group".
    """

    key: str
    agents: tuple[str, ...] = ()
    workflows: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    _agent: Callable[[str], bool] | None = field(default=None, init=False, repr=False, compare=False)
    _workflow: Callable[[str], bool] | None = field(default=None, init=False, repr=False, compare=False)
    _group: Callable[[str], bool] | None = field(default=None, init=False, repr=False, compare=False)
    _memo: dict[tuple[str, str, str], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_agent", compile_globs(self.agents))
        object.__setattr__(self, "_workflow", compile_globs(self.workflows))
        object.__setattr__(self, "_group", compile_globs(self.user_groups))

    @classmethod
    def for_policy(cls, policy: Any) -> UsageScope:
        """The scope of a :class:`~.models.Policy` ("*" collapses to everything)."""
        s = policy.scope

        def norm(globs: Sequence[str]) -> tuple[str, ...]:
            return () if not globs or "*" in globs else tuple(globs)

        return cls(policy.name, norm(s.agents), norm(s.workflows), norm(s.user_groups))

    def matches(self, agent_name: str, workflow_name: str = "", user_group: str = "") -> bool:
        """True when a run with this identity is inside the scope."""
        key = (agent_name, workflow_name, user_group)
        try:
            return self._memo[key]
        except KeyError:
            pass
        inside = (
            (self._agent is None or self._agent(agent_name))
            and (self._workflow is None or self._workflow(workflow_name))
            and (self._group is None or self._group(user_group))
        )
        if len(self._memo) >= 4096:
            self._memo.clear()
        self._memo[key] = inside
        return inside


class RateWindow(NamedTuple):
    """A sliding window of a rate limit: at most ``limit`` admissions in ``seconds``."""

    rule: str  # the rule name, e.g. "max_per_minute"
    seconds: float
    limit: int


class Admission(NamedTuple):
    """Answer of :meth:`UsageSource.admit`."""

    admitted: bool
    rule: str = ""  # the rule that refused ("max_per_minute", ..., "max_concurrent")
    limit: int = 0
    current: int = 0  # admissions in the window / slots held, at the time of refusal
    retry_after_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class BreakerState:
    """State of an error-rate circuit breaker (kill-switch), persisted by the usage source."""

    tripped_at: float | None = None  # set while the breaker is open
    recovered_at: float | None = None  # outcomes before this do not count any more
    error_rate: float = 0.0
    samples: int = 0

    @property
    def open(self) -> bool:
        return self.tripped_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tripped_at": self.tripped_at,
            "recovered_at": self.recovered_at,
            "error_rate": self.error_rate,
            "samples": self.samples,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerState:
        return cls(
            tripped_at=data.get("tripped_at"),
            recovered_at=data.get("recovered_at"),
            error_rate=float(data.get("error_rate") or 0.0),
            samples=int(data.get("samples") or 0),
        )


@runtime_checkable
class UsageSource(Protocol):
    """Everything the engine needs to know beyond the current request. Times are epoch seconds."""

    def usage_since(
        self,
        scope: UsageScope,
        since: float,
        *,
        model: str | None = None,
        exclude_run_id: str | None = None,
    ) -> tuple[int, float]:
        """``(tokens, cost_usd)`` recorded since ``since`` by runs in ``scope``.

        Counts usage as soon as it is recorded (a finished run's usage at the latest when it ends).
        ``model`` restricts to calls whose model matches it by the llm-policy rule
        (:func:`~.matching.model_matches`); ``exclude_run_id`` leaves one run out (the engine adds
        that run's own totals from the request, so they are not counted twice).
        """
        ...

    def outcomes_since(self, scope: UsageScope, since: float) -> tuple[int, int]:
        """``(errors, total)`` of runs in ``scope`` that ended since ``since``."""
        ...

    def runs_started_since(self, scope: UsageScope, since: float) -> int:
        """Admissions recorded by :meth:`admit` for ``scope.key`` since ``since`` (read-only view)."""
        ...

    def runs_in_flight(self, scope: UsageScope, now: float) -> int:
        """Concurrency slots held for ``scope.key`` (stale slots excluded; read-only view)."""
        ...

    def admit(
        self,
        scope: UsageScope,
        holder: str,
        now: float,
        windows: Sequence[RateWindow],
        max_concurrent: int | None,
    ) -> Admission:
        """Atomically: if every window has fewer than ``limit`` admissions in its last ``seconds`` and
        fewer than ``max_concurrent`` slots are held, record an admission for ``holder`` at ``now``
        (and take a slot when ``max_concurrent`` is set) and return ``Admission(True)``; otherwise
        record nothing and say which rule refused and when to retry."""
        ...

    def release(self, scope: UsageScope, holder: str, *, revoke: bool = False) -> None:
        """Free the slot ``holder`` holds for ``scope.key`` (idempotent). ``revoke`` also forgets its
        admission, for a check whose final answer refused the run."""
        ...

    def get_breaker(self, scope: UsageScope) -> BreakerState | None:
        """The breaker state stored for ``scope.key``, or None."""
        ...

    def set_breaker(self, scope: UsageScope, state: BreakerState | None) -> None:
        """Store (or clear, with None) the breaker state for ``scope.key``."""
        ...
