"""The run span's gate-time attributes (spec §8): ``waxell.governance.overhead_ms``,
``waxell.governance.gate_calls`` and ``waxell.governance.surface.<surface_with_underscores>.ms|calls``, from
the run's metadata entry :data:`~waxell_observe.vocabulary.gates.GATE_TIME_METADATA_KEY`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waxell_observe.vocabulary import attributes as names
from waxell_observe.vocabulary.gates import GATE_TIME_METADATA_KEY

__all__ = ["gate_time_attributes"]


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def gate_time_attributes(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The gate-time attributes of a run with ``metadata`` (``{}`` when no gate consulted a policy)."""
    entry = metadata.get(GATE_TIME_METADATA_KEY)
    if not isinstance(entry, Mapping):
        return {}
    attributes: dict[str, Any] = {}
    overhead = _number(entry.get("overhead_ms"))
    calls = _number(entry.get("gate_calls"))
    if overhead is not None:
        attributes[names.GOVERNANCE_OVERHEAD_MS] = float(overhead)
    if calls is not None:
        attributes[names.GOVERNANCE_GATE_CALLS] = int(calls)
    surfaces = entry.get("surfaces")
    if isinstance(surfaces, Mapping):
        for surface, numbers in surfaces.items():
            if not isinstance(numbers, Mapping):
                continue
            ms, count = _number(numbers.get("ms")), _number(numbers.get("calls"))
            if ms is not None:
                attributes[names.governance_surface_attribute(str(surface), "ms")] = float(ms)
            if count is not None:
                attributes[names.governance_surface_attribute(str(surface), "calls")] = int(count)
    return attributes
