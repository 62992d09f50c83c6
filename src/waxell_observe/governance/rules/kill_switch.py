"""``kill-switch``: a manual stop (``killed: true``) and an error-rate circuit breaker (pre-execution).

The breaker looks at runs in scope that ended in the last ``error_window_minutes``; with at least
``min_samples`` of them and an error rate of ``kill_on_error_rate`` or more, it trips and blocks new runs.
After ``auto_recover_after_minutes`` (0 or null: never) it closes again, forgetting the outcomes seen
before recovery. Breaker state lives in the usage source, so it is shared like the counters.
"""

from __future__ import annotations

from ..models import KillSwitchPolicy
from ..request import PRE_EXECUTION, PolicyRequest
from ..usage import BreakerState
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator

__all__ = ["KillSwitchEvaluator"]


class KillSwitchEvaluator(RuleEvaluator):
    category = "kill-switch"
    phases = frozenset({PRE_EXECUTION})

    def __init__(self, policy: KillSwitchPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.enabled = r.enabled
        self.killed = r.killed
        self.rate = r.kill_on_error_rate
        self.window = r.error_window_minutes * 60.0
        self.min_samples = r.min_samples
        self.recover_after = (r.auto_recover_after_minutes or 0) * 60.0

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if not self.enabled:
            return Outcome("skip", "Kill switch disabled")
        if self.killed:
            return Outcome("block", f"Kill switch engaged for policy {self.name!r}", {"rule": "killed"})
        usage = ctx.usage
        if self.rate is None or usage is None:
            return ALLOW
        now = ctx.now
        state = usage.get_breaker(self.scope)
        since = now - self.window
        if state is not None and state.tripped_at is not None:
            open_for = now - state.tripped_at
            if not self.recover_after or open_for < self.recover_after:
                metadata: dict[str, object] = {
                    "rule": "kill_on_error_rate",
                    "error_rate": state.error_rate,
                    "samples": state.samples,
                    "tripped_at": state.tripped_at,
                }
                reason = f"Circuit breaker open: error rate {state.error_rate:.0%} over {state.samples} runs"
                if self.recover_after:
                    remaining = self.recover_after - open_for
                    metadata["retry_after_seconds"] = round(remaining, 3)
                    reason += f"; auto-recovers in {remaining / 60:.0f} min"
                return Outcome("block", reason, metadata)
            state = BreakerState(recovered_at=now)
            if not ctx.dry_run:
                usage.set_breaker(self.scope, state)
        if state is not None and state.recovered_at is not None:
            since = max(since, state.recovered_at)
        errors, total = usage.outcomes_since(self.scope, since)
        if total >= self.min_samples and total and errors / total >= self.rate:
            error_rate = errors / total
            if not ctx.dry_run:
                usage.set_breaker(
                    self.scope,
                    BreakerState(
                        tripped_at=now, recovered_at=None, error_rate=round(error_rate, 4), samples=total
                    ),
                )
            metadata = {
                "rule": "kill_on_error_rate",
                "error_rate": round(error_rate, 4),
                "samples": total,
                "errors": errors,
                "tripped_at": now,
            }
            reason = f"Circuit breaker tripped: error rate {error_rate:.0%} ({errors} of {total} runs)"
            if self.recover_after:
                metadata["retry_after_seconds"] = self.recover_after
            return Outcome("block", reason, metadata)
        return ALLOW
