"""Names of the surface gates that more than one part agrees on (the gates, the OpenTelemetry exporter,
the dashboard)."""

from __future__ import annotations

__all__ = ["GATE_TIME_METADATA_KEY", "GATE_TIME_FIELDS"]

GATE_TIME_METADATA_KEY = "governance_gates"
"""Key in a run's metadata of its per-run gate time:
``{"overhead_ms": float, "gate_calls": int, "surfaces": {surface: {"ms": float, "calls": int}}}``."""

GATE_TIME_FIELDS = ("overhead_ms", "gate_calls", "surfaces")
"""The fields of the gate time entry, in order."""
