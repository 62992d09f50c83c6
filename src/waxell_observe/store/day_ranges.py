"""Time ranges of the aggregates: whole UTC days (answered from the rollups) and the part days at
the ends of a range (answered from the runs).

A run's day is what the database's day expression (``rollups.day_sql``) gives for its
``started_at``; that expression rounds the time first (SQLite to the millisecond, PostgreSQL to
the microsecond), so a run half a millisecond before midnight can belong to the next day. The
parts therefore reach ``MARGIN`` seconds past the whole days and keep only the runs whose day
(by the expression itself) lies outside them: a range is split exactly as the database would
group its runs by day.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, literal, literal_column

from waxell_observe.store.rollups import day_sql
from waxell_observe.store.schema import runs

__all__ = ["DAY", "MARGIN", "DayRange", "Part", "day_bounds", "day_column", "day_name", "split_range"]

DAY = 86_400.0
MARGIN = 0.01
"""Seconds of slack at midnights (far more than the expressions' rounding)."""


def day_column(conn: Connection) -> ColumnElement[str]:
    """The UTC day of ``runs.started_at``, exactly as the rollups compute it."""
    return literal_column(day_sql(conn.dialect.name, "runs.started_at"))


def day_name(number: int) -> str:
    """``YYYY-MM-DD`` of the UTC day ``number`` days after 1970-01-01."""
    day = _dt.datetime(1970, 1, 1) + _dt.timedelta(days=number)
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


@dataclass
class Part:
    """Runs started in ``[lo, hi)`` read from the runs themselves, keeping only those whose day
    is before ``before`` / after ``after`` / equal to ``on`` (when set); ``sign`` -1 when they
    are to be taken away from a whole day of the rollups rather than added."""

    lo: float | None
    hi: float | None
    before: str | None = None
    after: str | None = None
    on: str | None = None
    sign: int = 1

    def day(self, conn: Connection) -> ColumnElement[str]:
        """The day of ``runs.started_at`` for runs of this part: a constant away from midnights
        (the day expression is only evaluated for the few runs within ``MARGIN`` of one)."""
        exact = day_column(conn)
        lo, hi = self.lo, self.hi
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo > 3 * DAY:
            return exact
        whens = []
        number = math.floor(lo / DAY)
        while number * DAY < hi:
            inside = and_(
                runs.c.started_at >= number * DAY + MARGIN, runs.c.started_at < (number + 1) * DAY - MARGIN
            )
            whens.append((inside, literal(day_name(number))))
            number += 1
        return case(*whens, else_=exact) if whens else exact

    def conditions(self, conn: Connection) -> list[ColumnElement[bool]]:
        """``started_at`` within the part, and its day on the right side of the whole days."""
        conditions: list[ColumnElement[bool]] = []
        if self.lo is not None:
            conditions.append(runs.c.started_at >= self.lo)
        if self.hi is not None:
            conditions.append(runs.c.started_at < self.hi)
        if self.before is not None:
            conditions.append(self.day(conn) < self.before)
        if self.after is not None:
            conditions.append(self.day(conn) > self.after)
        if self.on is not None:
            conditions.append(self.day(conn) == self.on)
        return conditions


@dataclass
class DayRange:
    """``[since, until)`` as whole UTC days read from the rollups — ``first``..``last``
    (inclusive; ``None``: open end) and the single ``days`` — plus parts read from the runs.
    ``whole`` is False when not even one whole day fits (then ``parts`` is the whole range).

    A part day is read directly when the range covers less than half of it; otherwise the
    rollups' whole day is used and the runs of that day outside the range are taken away, so
    at most half a day of runs is read at either end."""

    whole: bool = True
    first: str | None = None
    last: str | None = None
    days: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)


def day_bounds(column: Any, first: str | None, last: str | None) -> list[ColumnElement[bool]]:
    """Conditions keeping rollup rows of the days ``first``..``last`` (``None``: open end)."""
    conditions = []
    if first is not None:
        conditions.append(column >= first)
    if last is not None:
        conditions.append(column <= last)
    return conditions


def split_range(since: float | None, until: float | None) -> DayRange:
    """``[since, until)`` (``None``: open) as whole days plus parts."""
    bounded = (
        since is None or math.isfinite(since) and abs(since) < 1e11,
        until is None or math.isfinite(until) and abs(until) < 1e11,
    )
    if not all(bounded):
        return DayRange(whole=False, parts=[Part(since, until)])
    first_n = None if since is None else math.ceil((since + MARGIN) / DAY)
    last_n = None if until is None else math.floor(until / DAY) - 1
    if first_n is not None and last_n is not None and first_n > last_n:
        return DayRange(whole=False, parts=[Part(since, until)])
    result = DayRange(
        first=None if first_n is None else day_name(first_n),
        last=None if last_n is None else day_name(last_n),
    )
    if since is not None and first_n is not None:
        start = (first_n - 1) * DAY  # the day `since` falls in (runs from `since` on are in it)
        if start + MARGIN <= since < start + DAY / 2:
            result.days.append(day_name(first_n - 1))
            result.parts.append(Part(start - MARGIN, since, on=day_name(first_n - 1), sign=-1))
        else:
            result.parts.append(Part(since, first_n * DAY + MARGIN, before=result.first))
    if until is not None and last_n is not None:
        start = (last_n + 1) * DAY  # the day `until` falls in (runs before `until` are in it)
        if start + DAY / 2 < until <= start + DAY - MARGIN:
            result.days.append(day_name(last_n + 1))
            result.parts.append(Part(until, start + DAY + MARGIN, on=day_name(last_n + 1), sign=-1))
        else:
            result.parts.append(Part(start - MARGIN, until, after=result.last))
    return result
