"""The ``on_instrument`` / ``on_uninstrument`` hook implementations of a provider integration.

A provider package's plugin module (the object its ``waxell_observe`` entry point names) is just::

    from waxell_observe.instrumentation import plugin_hooks
    from my_package._instrument import INSTRUMENTATION

    NAME = INSTRUMENTATION.name
    on_instrument, on_uninstrument = plugin_hooks(INSTRUMENTATION)
"""

from __future__ import annotations

from collections.abc import Callable

from waxell_observe.config import ObserveConfig
from waxell_observe.instrumentation.switch import Instrumentation
from waxell_observe.plugins import hookimpl

__all__ = ["plugin_hooks"]

InstrumentHook = Callable[[ObserveConfig, "frozenset[str] | None"], "list[str] | None"]
UninstrumentHook = Callable[["frozenset[str] | None"], "list[str] | None"]


def plugin_hooks(instrumentation: Instrumentation) -> tuple[InstrumentHook, UninstrumentHook]:
    """The two hook implementations that switch ``instrumentation`` on and off from ``init()``.

    ``on_instrument`` acts when the integration's name is requested (or every library is), the
    configuration is enabled and the SDK is installed, and answers ``[name]`` when the SDK is
    instrumented afterwards (also when it already was). ``on_uninstrument`` answers ``[name]``
    when it took the instrumentation off.
    """
    name = instrumentation.name

    @hookimpl
    def on_instrument(config: ObserveConfig, libraries: frozenset[str] | None) -> list[str] | None:
        if libraries is not None and name not in libraries:
            return None
        if not config.enabled or not instrumentation.installed():
            return None
        instrumentation.instrument()
        return [name] if instrumentation.is_instrumented() else None

    @hookimpl
    def on_uninstrument(libraries: frozenset[str] | None) -> list[str] | None:
        if libraries is not None and name not in libraries:
            return None
        return [name] if instrumentation.uninstrument() else None

    on_instrument.__doc__ = (
        f"Instrument the {name} SDK when it is requested (or everything is) and installed."
    )
    on_uninstrument.__doc__ = f"Take the {name} instrumentation off."
    return on_instrument, on_uninstrument
