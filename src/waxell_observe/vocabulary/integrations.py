"""Where an installed integration stands in this process (``diagnose()["integrations"]``)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["INTEGRATION_STATES", "IntegrationState"]

IntegrationState = Literal[
    "active", "waiting", "loading", "loaded", "not_selected", "excluded", "disabled", "failed"
]
"""``active``: its library is instrumented. ``waiting``: armed by ``init()``, loaded when the
program imports one of its trigger modules. ``loading``: that import is happening now.
``loaded``: loaded, but it instrumented nothing (its library is missing, or it declined).
``not_selected``: ``init(instrument=[...])`` did not name it (or ``init()`` has not run).
``excluded``: named by ``exclude`` / ``WAXELL_EXCLUDE``. ``disabled``: named by
``WAXELL_DISABLE_PLUGINS``. ``failed``: loading it raised (logged)."""

INTEGRATION_STATES: tuple[str, ...] = get_args(IntegrationState)
"""Every state, as a tuple."""
