"""The ``otel_bridge`` plugin: ``init()`` adds the bridge's processor to the program's global
OpenTelemetry ``TracerProvider``.

Registered under the ``waxell_observe`` entry-point group and loaded when the program imports the
OpenTelemetry SDK (``opentelemetry.sdk.trace``, the ``waxell_observe.triggers`` entry point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe.plugins import hookimpl
from waxell_observe_otel_bridge import _instrument

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["NAME", "TRIGGERS", "on_instrument", "on_uninstrument"]

NAME = _instrument.NAME
"""The name ``init(instrument=[...])`` selects this integration by."""

TRIGGERS = ("opentelemetry.sdk.trace",)
"""The modules whose import loads this plugin (the ``waxell_observe.triggers`` entry points)."""


@hookimpl
def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
    """Record the global provider's AI spans when requested (or everything is)."""
    if libraries is not None and NAME not in libraries:
        return None
    if not config.enabled or not _instrument.instrument():
        return None
    return [NAME]


@hookimpl
def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
    """Stop recording the global provider's AI spans."""
    if libraries is not None and NAME not in libraries:
        return None
    return [NAME] if _instrument.uninstrument() else None
