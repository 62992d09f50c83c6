"""Runs still alive in this process, for answers that arrive after they were journaled.

A control plane answers ``complete/`` with the post-execution governance outcome. When the
run that asked is still referenced in this process, the outcome is stored on it
(``ctx.governance``). Only remote runs are registered (weakly: a registered run costs
nothing once its context is gone).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = ["register", "get", "apply_completion"]

_runs: weakref.WeakValueDictionary[str, Run] = weakref.WeakValueDictionary()


def register(run: Run) -> None:
    _runs[run.run_id] = run


def get(run_id: str) -> Run | None:
    return _runs.get(run_id)


def apply_completion(run_id: str, governance: Any) -> None:
    """Keep the ``complete/`` reply's post-execution outcome on the live run (when it says something)."""
    run = _runs.get(run_id)
    if run is None or not isinstance(governance, dict) or not governance.get("action"):
        return
    from waxell_observe.governance.results import PolicyCheckResult, strictest

    result = PolicyCheckResult.from_dict(governance)
    if result.action == "allow" and not result.evaluations and not result.retry_feedback:
        return
    local = run.governance
    if local is None or (local.action == "allow" and not local.evaluations):
        run.governance = result
    else:
        run.governance = strictest([local, result])
