"""A run's active time: its duration minus the time it spent paused (``pause()`` spans, attribute
``_phase="pause_marker"``), so that a run that waited an hour for a person does not look like an agent
that worked for an hour. Overlapping pauses (nested, or in concurrent tasks) count once; a pause is
clipped to the run's window."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from waxell_observe.vocabulary.human import PAUSE_PHASE, PHASE_ATTRIBUTE

__all__ = ["is_pause", "paused_ms", "active_and_paused"]


def is_pause(kind: str, attributes: Mapping[str, Any] | None) -> bool:
    """Whether a span (``kind``, ``attributes``) is a pause marker."""
    return kind == "io" and attributes is not None and attributes.get(PHASE_ATTRIBUTE) == PAUSE_PHASE


def paused_ms(intervals: Iterable[tuple[float, float]], start: float, end: float | None) -> float:
    """Milliseconds covered by the ``(started_at, ended_at)`` intervals (seconds) inside
    ``[start, end]`` (``end`` None: no upper bound), overlaps counted once."""
    clipped = sorted((max(a, start), b if end is None else min(b, end)) for a, b in intervals if b > a)
    total = 0.0
    current_start, current_end = None, None
    for a, b in clipped:
        if b <= a:
            continue
        if current_end is None or a > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = a, b
        else:
            current_end = max(current_end, b)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return round(total * 1000.0, 3)


def active_and_paused(
    started_at: float | None, ended_at: float | None, pauses: Iterable[tuple[float, float]]
) -> tuple[float | None, float]:
    """``(active_ms, paused_ms)`` of a run: ``active_ms`` is None while the run has no end."""
    if started_at is None:
        return None, 0.0
    paused = paused_ms(pauses, started_at, ended_at)
    if ended_at is None:
        return None, paused
    return round(max((ended_at - started_at) * 1000.0 - paused, 0.0), 3), paused
