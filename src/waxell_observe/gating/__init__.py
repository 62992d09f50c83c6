"""Governance at every surface of a run (spec §8): gates before and after LLM calls, tools, retrievals,
memory, network requests, MCP calls, spawns and code execution.

* :func:`evaluate_surface` — the gate algorithm (:mod:`.evaluate`): the identity's manifest
  (:mod:`.manifest`), in-process evaluation by the policy engine, one batched control-plane call for
  the rest, the strictest answer; fail-open, or fail-closed on the preventive surfaces (:mod:`.settings`).
* :func:`preventive_gate` / :func:`detective_gate` — what recorders call (:mod:`.gates`).
* :func:`gate_tool` / :func:`gate_memory_delete` — the top-level pre-flights (:mod:`.api`).
* :class:`GateOutcome` — a gate's answer.

Per-run gate time is kept in the run's metadata (:mod:`.timing`). Integrations call the gates through
:mod:`waxell_observe.instrumentation.gates`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from waxell_observe.vocabulary import GATE_SURFACES, PREVENTIVE_SURFACES

if TYPE_CHECKING:
    from .api import gate_memory_delete, gate_tool
    from .evaluate import evaluate_surface
    from .gates import detective_gate, preventive_gate
    from .outcome import GateOutcome

__all__ = [
    "GATE_SURFACES",
    "PREVENTIVE_SURFACES",
    "GateOutcome",
    "detective_gate",
    "evaluate_surface",
    "forget",
    "gate_memory_delete",
    "gate_tool",
    "preventive_gate",
]


def forget() -> None:
    """Drop every cached manifest, engine and verdict (tests; the next gate starts afresh)."""
    from .evaluate import forget_engines
    from .manifest import forget_manifests

    forget_manifests()
    forget_engines()


_EXPORTS = {
    "gate_memory_delete": "api",
    "gate_tool": "api",
    "evaluate_surface": "evaluate",
    "detective_gate": "gates",
    "preventive_gate": "gates",
    "GateOutcome": "outcome",
}
"""Public name -> its module, imported on first use: ``init()`` imports :mod:`.network` (the network
gate's installer), which must not pull the whole gate machinery in before any request is made."""


def _load(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


if not TYPE_CHECKING:
    __getattr__ = _load
