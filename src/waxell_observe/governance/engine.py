"""The policy engine: evaluates loaded policies against a request, in one phase, with no I/O of its own.

Construction compiles every enabled policy once (scope matchers, regexes, limits); ``evaluate`` picks
the policies whose scope covers the request and whose category runs in the phase (cached per identity),
runs them in priority order (lower first, then file order), records one :class:`PolicyEvaluation` each
with its duration, and returns the strictest answer. Numbers from outside the request come from the
injected :class:`~.usage.UsageSource`; the same engine serves the embedded mode and the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from time import perf_counter

from .models import Policy
from .request import PolicyRequest, normalize_checkpoint
from .results import (
    ACTION_SEVERITY,
    BLOCKED_ACTIONS,
    PROPAGATED_METADATA_KEYS,
    PolicyCheckResult,
    PolicyEvaluation,
    merge_metadata,
)
from .rules import EvalContext, Outcome, RuleEvaluator, evaluator_for
from .usage import BreakerState, UsageScope, UsageSource

__all__ = ["PolicyEngine"]

log = logging.getLogger("waxell_observe.governance")

_CACHE_LIMIT = 2048


class PolicyEngine:
    """Evaluate policies. ``usage`` may be None when no policy needs counters (they then allow).

    ``clock`` returns epoch seconds; it is read once per :meth:`evaluate`.
    """

    def __init__(
        self,
        policies: Iterable[Policy],
        usage: UsageSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._usage = usage
        self._policies: list[Policy] = list(policies)
        ordered = sorted(
            ((p.priority, i, p) for i, p in enumerate(self._policies) if p.enabled),
            key=lambda t: (t[0], t[1]),
        )
        self._evaluators: list[RuleEvaluator] = [evaluator_for(p) for _, _, p in ordered]
        self._cache: dict[tuple[str, str, str, str], tuple[RuleEvaluator, ...]] = {}

    # ------------------------------------------------------------------ inspection

    @property
    def policies(self) -> list[Policy]:
        """Every policy given, enabled or not, in the order given."""
        return list(self._policies)

    @property
    def usage(self) -> UsageSource | None:
        return self._usage

    def policies_for(self, agent_name: str, workflow_name: str = "", user_group: str = "") -> list[Policy]:
        """Enabled policies whose scope covers this identity, in evaluation order (for manifests)."""
        return [e.policy for e in self._evaluators if e.scope.matches(agent_name, workflow_name, user_group)]

    def scopes(self) -> list[UsageScope]:
        """The usage scopes of every enabled policy (for stores that keep counters per scope)."""
        return [ev.scope for ev in self._evaluators]

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, request: PolicyRequest, phase: str, *, dry_run: bool = False) -> PolicyCheckResult:
        """Evaluate every applicable policy in ``phase`` (``pre_execution``/``mid_execution``/
        ``post_execution``, or ``pre``/``mid``/``post``, or a gate surface such as ``tool.before``:
        see :func:`~.request.normalize_checkpoint`; an evaluator runs where its ``phases`` name it).

        With ``dry_run`` nothing is recorded in the usage source (no admission, no breaker change):
        for ``policies test``. When the final answer refuses the run (block/throttle), rate-limit
        admissions made by this check are revoked.
        """
        key = (phase, request.agent_name, request.workflow_name, request.user_group)
        evaluators = self._cache.get(key)
        if evaluators is None:
            evaluators = self._select(key)
        if not evaluators:
            return PolicyCheckResult("allow")
        phase = normalize_checkpoint(phase)
        ctx = EvalContext(self._clock(), self._usage, request, dry_run)
        evaluations: list[PolicyEvaluation] = []
        best: PolicyEvaluation | None = None
        best_rank = -1
        severity = ACTION_SEVERITY
        for ev in evaluators:
            started = perf_counter()
            try:
                outcome = ev.evaluate(request, phase, ctx)
            except Exception as exc:  # a broken policy must not break the agent
                log.warning("policy %r failed to evaluate", ev.name, exc_info=True)
                outcome = Outcome(
                    "warn", f"Policy evaluation failed: {type(exc).__name__}: {exc}", {"error": True}
                )
            evaluation = PolicyEvaluation(
                ev.name,
                ev.category,
                outcome.action,
                outcome.reason,
                (perf_counter() - started) * 1000.0,
                dict(outcome.metadata) if outcome.metadata else {},
                phase,
            )
            evaluations.append(evaluation)
            rank = severity.get(outcome.action, 2)
            if rank > best_rank or (
                rank == best_rank and best is not None and not best.reason and outcome.reason
            ):
                best, best_rank = evaluation, rank
        assert best is not None
        metadata = self._final_metadata(evaluations)
        if best.action in BLOCKED_ACTIONS and ctx.admissions:
            self._revoke(ctx)
            metadata.pop("admission_id", None)
        return PolicyCheckResult(best.action, best.reason, metadata, evaluations)

    def release(self, holder: str) -> None:
        """Free the concurrency slots held by ``holder`` (a run id or an ``admission_id``) in every
        rate-limit policy; call when the run ends, also on error. Idempotent."""
        if self._usage is None or not holder:
            return
        for ev in self._evaluators:
            if ev.category == "rate-limit" and getattr(ev, "max_concurrent", None) is not None:
                try:
                    self._usage.release(ev.scope, holder)
                except Exception:
                    log.warning("could not release slot of %r in policy %r", holder, ev.name, exc_info=True)

    def reset_breaker(self, policy_name: str) -> bool:
        """Close the error-rate breaker of a kill-switch policy by hand; False if there is no such policy."""
        for ev in self._evaluators:
            if ev.category == "kill-switch" and ev.name == policy_name and self._usage is not None:
                self._usage.set_breaker(ev.scope, BreakerState(recovered_at=self._clock()))
                return True
        return False

    # ------------------------------------------------------------------ internals

    def _select(self, key: tuple[str, str, str, str]) -> tuple[RuleEvaluator, ...]:
        phase_name, agent, workflow, group = key
        phase = normalize_checkpoint(phase_name)
        selected = tuple(
            ev for ev in self._evaluators if phase in ev.phases and ev.scope.matches(agent, workflow, group)
        )
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = selected
        return selected

    @staticmethod
    def _final_metadata(evaluations: list[PolicyEvaluation]) -> dict[str, object]:
        """Caller instructions lifted from the evaluations (see ``results.merge_metadata``)."""
        if any(e.metadata and not PROPAGATED_METADATA_KEYS.isdisjoint(e.metadata) for e in evaluations):
            return merge_metadata(
                ((e.action, e.metadata) for e in evaluations), only=PROPAGATED_METADATA_KEYS
            )
        return {}

    def _revoke(self, ctx: EvalContext) -> None:
        assert self._usage is not None
        for scope, holder in ctx.admissions:
            try:
                self._usage.release(scope, holder, revoke=True)
            except Exception:
                log.warning("could not revoke admission of %r", holder, exc_info=True)
