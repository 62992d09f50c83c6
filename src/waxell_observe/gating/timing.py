"""Per-run gate time: how long the surface gates of a run took, in total and per surface.

Kept in the run's metadata under :data:`~waxell_observe.vocabulary.GATE_TIME_METADATA_KEY`
(``{"overhead_ms", "gate_calls", "surfaces": {surface: {"ms", "calls"}}}``), so it is stored with the run
and shown by the read API and the dashboard; the OpenTelemetry exporter stamps it on the run span as
``waxell.governance.overhead_ms``, ``waxell.governance.gate_calls`` and
``waxell.governance.surface.<surface_with_underscores>.ms|calls``. Only gates that consulted policies count
(a gate with no policy in sight costs a few dictionary lookups).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe.vocabulary.gates import GATE_TIME_METADATA_KEY

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = ["add", "gate_time"]


def add(run: Run, surface: str, elapsed_ms: float) -> None:
    """Count one gate at ``surface`` that took ``elapsed_ms`` on ``run``."""
    entry: dict[str, Any] | None = run.metadata.get(GATE_TIME_METADATA_KEY)
    if not isinstance(entry, dict):
        entry = run.metadata[GATE_TIME_METADATA_KEY] = {"overhead_ms": 0.0, "gate_calls": 0, "surfaces": {}}
    entry["overhead_ms"] = round(entry["overhead_ms"] + elapsed_ms, 3)
    entry["gate_calls"] += 1
    per_surface = entry["surfaces"].get(surface)
    if per_surface is None:
        per_surface = entry["surfaces"][surface] = {"ms": 0.0, "calls": 0}
    per_surface["ms"] = round(per_surface["ms"] + elapsed_ms, 3)
    per_surface["calls"] += 1


def gate_time(run: Run) -> dict[str, Any]:
    """The run's gate time so far (empty when no gate consulted a policy)."""
    entry = run.metadata.get(GATE_TIME_METADATA_KEY)
    return dict(entry) if isinstance(entry, dict) else {}
