"""The app's governance decider: one :class:`~waxell_observe.governance.decider.Decider` per app, over the
policies and counters in ``app.state.store`` (the same engine and counters as the embedded mode)."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import Request

from waxell_observe.governance.decider import Decider
from waxell_observe.governance.embedded_decider import _slot_ttl

__all__ = ["ALLOW", "decider"]

ALLOW: dict[str, Any] = {"action": "allow", "reason": "", "metadata": {}, "evaluations": []}
"""The answer when no policy objects."""

_decider_lock = threading.Lock()


def decider(request: Request) -> Decider:
    """The app's decider (created on first use over ``app.state.store``)."""
    state = request.app.state
    found: Decider | None = getattr(state, "governance_decider", None)
    if found is not None:
        return found
    with _decider_lock:
        found = getattr(state, "governance_decider", None)
        if found is None:
            # slots belong to remote runs: freed at complete/, else when they expire
            found = Decider(state.store, owner="", slot_ttl_seconds=_slot_ttl())
            state.governance_decider = found
    return found
