"""The context of an automatic run (calls outside runs, :mod:`waxell_observe.calls_outside_runs`).

Its own module so that registering the collector plugin does not import :class:`WaxellContext`
(and asyncio with it): a program pays for it at its first call outside a run.
"""

from __future__ import annotations

import time
from typing import Any

from waxell_observe.context import WaxellContext

__all__ = ["AutoRunContext"]


class AutoRunContext(WaxellContext):
    """A context whose run is marked ``auto_collected`` and starts when its first call started,
    before any destination sees it (the start is delivered as it is journaled: a control plane
    keeps the start time of ``runs/start/``)."""

    __slots__ = ("first_start",)

    def __init__(self, first_start: float, **settings: Any) -> None:
        super().__init__(**settings)
        self.first_start = first_start

    def __enter__(self) -> AutoRunContext:
        run = self._prepare()
        if run is not None:
            run.auto_collected = True
            self._admit(run, None, min(time.time(), self.first_start))
        return self
