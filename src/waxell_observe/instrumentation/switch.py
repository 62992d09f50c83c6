"""A provider integration's on/off switch: which SDK, which methods, and whether they are patched."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.util import find_spec

from waxell_observe.instrumentation.patching import Patcher, Target

__all__ = ["Instrumentation"]


class Instrumentation:
    """Turns one provider integration on and off.

    ``name`` is what ``init(instrument=[...])`` selects the integration by, ``sdk`` the top-level
    module of the SDK it patches (default: ``name``) and ``targets`` the methods it patches. The
    bound methods :meth:`instrument`, :meth:`uninstrument`, :meth:`is_instrumented` and
    :meth:`installed` are what an integration package exports as its public functions.
    """

    def __init__(self, name: str, targets: Iterable[Target], *, sdk: str | None = None) -> None:
        if not name:
            raise ValueError("an instrumentation needs a name (what init(instrument=[...]) selects it by)")
        self.name = name
        self.sdk = sdk or name
        self.patcher = Patcher(name, tuple(targets))

    def installed(self) -> bool:
        """True when the SDK can be imported (checked without importing it)."""
        try:
            return find_spec(self.sdk) is not None
        except (ImportError, ValueError):
            return False

    def instrument(self) -> bool:
        """Instrument the SDK (now, or when it is imported). False if already instrumented or the
        SDK is not installed."""
        if not self.installed():
            return False
        return self.patcher.apply()

    def uninstrument(self) -> bool:
        """Restore the SDK's original methods. False if it was not instrumented."""
        return self.patcher.remove()

    def is_instrumented(self) -> bool:
        """True while the instrumentation is on."""
        return self.patcher.active

    def __repr__(self) -> str:
        state = "on" if self.patcher.active else "off"
        return f"<Instrumentation {self.name!r} ({self.sdk}) {state}>"
