"""``time-of-day-gating`` and ``operations``: when an agent may act, and for how long.

* time-of-day-gating (pre-execution, ``llm.before``, ``tool.before``): the local time in ``timezone``
  (IANA, UTC by default) must fall inside one of ``allowed_windows`` (``days`` mon..sun, ``start`` and
  ``end`` as ``"HH:MM"``, end excluded; a window whose start is after its end runs past midnight, its
  early-morning part belonging to the day it started); the older ``allowed_hours_utc`` lists the UTC
  hours allowed. Workflows in ``exempt_workflow_types`` (the signal's ``workflow_type`` or the run's
  workflow) are never gated.
* operations (default action warn): the run's duration — the signal's ``duration_ms`` /
  ``duration_seconds``, else the time since the run started — over ``timeout_seconds``; now inside one
  of ``maintenance_windows`` (``{start, end}`` ISO 8601 date-times, UTC without an offset).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timezone

from ..models import OperationsPolicy, TimeOfDayGatingPolicy
from ..request import PRE_EXECUTION, PolicyRequest
from .base import ALLOW, EvalContext, Outcome, format_number
from .gate import GateEvaluator, Names, norm, number, signal_name

__all__ = ["OperationsEvaluator", "TimeOfDayGatingEvaluator"]

DAY_ABBREVIATIONS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimeOfDayGatingEvaluator(GateEvaluator):
    category = "time-of-day-gating"

    def __init__(self, policy: TimeOfDayGatingPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.tz_name = r.timezone
        self.tz = zoneinfo.ZoneInfo(r.timezone)
        self.windows = [(frozenset(w.days), w.start, w.end) for w in r.allowed_windows]
        self.hours_utc = frozenset(r.allowed_hours_utc) if r.allowed_hours_utc is not None else None
        self.exempt = Names(r.exempt_workflow_types)
        self._cached = (-1, True)  # (minute since the epoch, inside a window): one tuple, swapped whole

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if not self.windows and self.hours_utc is None:
            return ALLOW
        if self.exempt:
            workflow = signal_name(request.signal, "workflow_type") if request.signal else ""
            if self.exempt.match(workflow or norm(request.workflow_name)) is not None:
                return ALLOW
        if self.hours_utc is not None:
            hour = datetime.fromtimestamp(ctx.now, timezone.utc).hour
            if hour not in self.hours_utc:
                return self.violation(
                    f"Outside the allowed UTC hours (now {hour:02d}:00 UTC; allowed: "
                    f"{', '.join(str(h) for h in sorted(self.hours_utc)) or 'none'})",
                    "allowed_hours_utc",
                )
        if self.windows:
            bucket = int(ctx.now // 60)
            cached_bucket, inside = self._cached
            if bucket != cached_bucket:  # the answer holds for the whole minute
                local = datetime.fromtimestamp(ctx.now, self.tz)
                day, minute = local.weekday(), local.hour * 60 + local.minute
                inside = any(_inside(days, start, end, day, minute) for days, start, end in self.windows)
                self._cached = (bucket, inside)
            if not inside:
                local = datetime.fromtimestamp(ctx.now, self.tz)
                day = local.weekday()
                return self.violation(
                    f"Outside the allowed time windows (local time {DAY_ABBREVIATIONS[day]} "
                    f"{local.strftime('%H:%M')} {self.tz_name})",
                    "allowed_windows",
                    local_time=local.strftime("%Y-%m-%d %H:%M"),
                    timezone=self.tz_name,
                )
        return ALLOW


def _inside(days: frozenset[int], start: int, end: int, day: int, minute: int) -> bool:
    if start < end:
        return day in days and start <= minute < end
    # past midnight: the evening part on a listed day, the morning part on the day after one
    return (day in days and minute >= start) or ((day - 1) % 7 in days and minute < end)


class OperationsEvaluator(GateEvaluator):
    category = "operations"
    default_action = "warn"

    def __init__(self, policy: OperationsPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.timeout = r.timeout_seconds
        self.windows = [
            (_epoch(w.start), _epoch(w.end), w.start.isoformat(), w.end.isoformat())
            for w in r.maintenance_windows
        ]

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        for start, end, shown_start, shown_end in self.windows:
            if start <= ctx.now < end:
                return self.violation(
                    f"Inside a maintenance window ({shown_start} to {shown_end})", "maintenance_windows"
                )
        if self.timeout is not None and phase != PRE_EXECUTION:
            duration = _duration(request, ctx.now)
            if duration is not None and duration > self.timeout:
                return self.violation(
                    f"Run took {format_number(duration)} s (timeout_seconds {format_number(self.timeout)})",
                    "timeout_seconds",
                    duration_seconds=round(duration, 3),
                    limit=self.timeout,
                )
        return ALLOW


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp()


def _duration(request: PolicyRequest, now: float) -> float | None:
    signal = request.signal
    if signal:
        ms = number(signal.get("duration_ms"))
        if ms is not None:
            return ms / 1000.0
        seconds = number(signal.get("duration_seconds"))
        if seconds is not None:
            return seconds
    if request.session_started_at is not None:
        return max(0.0, now - float(request.session_started_at))
    return None
