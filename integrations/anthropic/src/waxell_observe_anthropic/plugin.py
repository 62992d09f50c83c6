"""The ``anthropic`` plugin: ``init()`` instruments the Anthropic SDK through ``on_instrument``.

Registered under the ``waxell_observe`` entry-point group. Loading it imports nothing of the SDK.
"""

from __future__ import annotations

from waxell_observe.config import ObserveConfig
from waxell_observe.plugins import hookimpl

__all__ = ["NAME", "on_instrument", "on_uninstrument"]

NAME = "anthropic"
"""The name ``init(instrument=[...])`` selects this integration by."""


@hookimpl
def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
    """Instrument the Anthropic SDK when it is requested (or everything is) and installed."""
    if libraries is not None and NAME not in libraries:
        return None
    if not config.enabled:
        return None
    from waxell_observe_anthropic._instrument import installed, instrument, is_instrumented

    if not installed():
        return None
    instrument()
    return [NAME] if is_instrumented() else None


@hookimpl
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Undo :func:`on_instrument`."""
    if libraries is not None and NAME not in libraries:
        return None
    from waxell_observe_anthropic._instrument import uninstrument

    return [NAME] if uninstrument() else None
