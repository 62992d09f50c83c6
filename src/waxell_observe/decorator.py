"""``waxell_observe.decorator``: the module path of ``observe`` / ``waxell_agent`` in the reference
SDK. The functions are the ones of :mod:`waxell_observe.decorators` (the same objects)."""

from __future__ import annotations

from waxell_observe.decorators import observe, waxell_agent

__all__ = ["observe", "waxell_agent"]
