"""The ``pydantic_ai`` plugin: ``init()`` turns on Pydantic AI's instrumentation, fed to the bridge.

Registered under the ``waxell_observe`` entry-point group and loaded when the program imports
``pydantic_ai`` (the ``waxell_observe.triggers`` entry point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe.plugins import hookimpl
from waxell_observe_pydantic_ai import _instrument

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = _instrument.NAME
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("pydantic_ai",)
"""The modules whose import loads this plugin (the ``waxell_observe.triggers`` entry points)."""


@hookimpl
def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
    """Record Pydantic AI agents when requested (or everything is) and Pydantic AI is installed."""
    if libraries is not None and NAME not in libraries:
        return None
    if not config.enabled or not _instrument.instrument():
        return None
    return [NAME]


@hookimpl
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Stop recording Pydantic AI agents."""
    if libraries is not None and NAME not in libraries:
        return None
    return [NAME] if _instrument.uninstrument() else None
