"""``scheduling``: when runs may start (pre-execution; a violation blocks).

Local time in ``timezone`` (IANA). ``allowed_hours`` is half-open: ``{start: 9, end: 17}`` admits
09:00 to 16:59; ``start > end`` wraps past midnight. ``allowed_days`` uses 0 = Monday.
``blackout_dates`` are local dates. ``maintenance_windows`` (``{day, start, end}``, whole local hours, end
excluded, 0 = Monday) refuse runs inside them. A violation answers ``action`` / ``action_on_violation``,
else block.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from waxell_observe.vocabulary import POLICY_CATEGORY_PHASES

from ..models import SchedulingPolicy
from ..request import PolicyRequest
from .base import ALLOW, EvalContext, Outcome, RuleEvaluator
from .gate import violation_action

__all__ = ["SchedulingEvaluator"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class SchedulingEvaluator(RuleEvaluator):
    category = "scheduling"
    phases = POLICY_CATEGORY_PHASES["scheduling"]

    def __init__(self, policy: SchedulingPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.tz_name = r.timezone
        self.tz = zoneinfo.ZoneInfo(r.timezone)
        self.hours = (r.allowed_hours.start, r.allowed_hours.end) if r.allowed_hours else None
        self.days = frozenset(r.allowed_days) if r.allowed_days is not None else None
        self.blackout = frozenset(d.isoformat() for d in r.blackout_dates)
        self.maintenance = [(w.day, w.start, w.end) for w in r.maintenance_windows]
        self.action = violation_action(r, "block")

    def evaluate(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        local = datetime.fromtimestamp(ctx.now, self.tz)
        today = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        if today in self.blackout:
            return Outcome(
                self.action, f"Blackout date {today} ({self.tz_name})", self._meta("blackout_dates", local)
            )
        for day, start, end in self.maintenance:
            if local.weekday() == day and start <= local.hour < end:
                return Outcome(
                    self.action,
                    f"Inside the maintenance window {DAY_NAMES[day]} {start:02d}:00-{end:02d}:00 "
                    f"{self.tz_name} (local time {local.strftime('%H:%M')})",
                    self._meta("maintenance_windows", local),
                )
        if self.days is not None and local.weekday() not in self.days:
            allowed = ", ".join(DAY_NAMES[d] for d in sorted(self.days)) or "none"
            return Outcome(
                self.action,
                f"{DAY_NAMES[local.weekday()]} is not an allowed day (allowed: {allowed}; {self.tz_name})",
                self._meta("allowed_days", local),
            )
        if self.hours is not None:
            start, end = self.hours
            hour = local.hour
            inside = start <= hour < end if start < end else (hour >= start or hour < end)
            if not inside:
                return Outcome(
                    self.action,
                    f"Outside allowed hours {start:02d}:00-{end:02d}:00 {self.tz_name} "
                    f"(local time {local.strftime('%H:%M')})",
                    self._meta("allowed_hours", local),
                )
        return ALLOW

    def _meta(self, rule: str, local: datetime) -> dict[str, str]:
        return {"rule": rule, "local_time": local.strftime("%Y-%m-%d %H:%M"), "timezone": self.tz_name}
