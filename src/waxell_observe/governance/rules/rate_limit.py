"""``rate-limit``: runs started per minute / hour / day, and runs in flight, in the policy's scope.

Pre-execution only. Admission is one atomic :meth:`UsageSource.admit` call that also records it; a
slot taken for ``max_concurrent`` is held by the run id (or the check's ``admission_id``) until
:meth:`PolicyEngine.release` — at run completion, also on error. When the check as a whole refuses the
run, the engine revokes the admissions it made. In a dry run nothing is recorded.
"""

from __future__ import annotations

from ..models import RateLimitPolicy
from ..request import PRE_EXECUTION, PolicyRequest
from ..usage import RateWindow
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator

__all__ = ["RateLimitEvaluator"]

_WINDOW_LABEL = {"max_per_minute": "minute", "max_per_hour": "hour", "max_per_day": "day"}


class RateLimitEvaluator(RuleEvaluator):
    category = "rate-limit"
    phases = frozenset({PRE_EXECUTION})

    def __init__(self, policy: RateLimitPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        windows = [
            RateWindow("max_per_minute", 60.0, r.max_per_minute) if r.max_per_minute else None,
            RateWindow("max_per_hour", 3600.0, r.max_per_hour) if r.max_per_hour else None,
            RateWindow("max_per_day", 86400.0, r.max_per_day) if r.max_per_day else None,
        ]
        self.windows: tuple[RateWindow, ...] = tuple(w for w in windows if w is not None)
        self.max_concurrent = r.max_concurrent
        self.action = r.action

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        usage = ctx.usage
        if usage is None or (not self.windows and self.max_concurrent is None):
            return ALLOW
        if ctx.dry_run:
            return self._peek(ctx)
        holder = ctx.holder
        admission = usage.admit(self.scope, holder, ctx.now, self.windows, self.max_concurrent)
        if admission.admitted:
            ctx.admissions.append((self.scope, holder))
            if self.max_concurrent is not None:
                return Outcome("allow", "", {"admission_id": holder})
            return ALLOW
        return self._refused(
            admission.rule, admission.limit, admission.current, admission.retry_after_seconds
        )

    def _peek(self, ctx: EvalContext) -> Outcome:
        """Dry run: count without recording."""
        usage = ctx.usage
        assert usage is not None
        for w in self.windows:
            count = usage.runs_started_since(self.scope, ctx.now - w.seconds)
            if count >= w.limit:
                return self._refused(w.rule, w.limit, count, None)
        if self.max_concurrent is not None:
            held = usage.runs_in_flight(self.scope, ctx.now)
            if held >= self.max_concurrent:
                return self._refused("max_concurrent", self.max_concurrent, held, None)
        return ALLOW

    def _refused(self, rule: str, limit: int, current: int, retry_after: float | None) -> Outcome:
        if rule == "max_concurrent":
            reason = f"Concurrency limit reached: {current} of {limit} runs in flight"
        else:
            plural = "run" if limit == 1 else "runs"
            reason = f"Rate limit exceeded: {limit} {plural} per {_WINDOW_LABEL.get(rule, rule)}"
        metadata: dict[str, object] = {"rule": rule, "limit": limit, "current": current}
        if retry_after is not None:
            metadata["retry_after_seconds"] = round(retry_after, 3)
        return Outcome(self.action, reason, metadata)
