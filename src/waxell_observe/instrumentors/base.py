"""``BaseInstrumentor`` (reference §6.4): what an instrumentor of one library offers.

A subclass implements :meth:`~BaseInstrumentor.instrument` (patch the library; ``True`` when this call
did, ``False`` when it was already on or the library is missing) and :meth:`~BaseInstrumentor.uninstrument`
(undo it), and keeps ``_instrumented`` up to date for :meth:`~BaseInstrumentor.is_instrumented`.

It is an abstract base class with a subclass hook: any object with ``instrument``, ``uninstrument`` and
``is_instrumented`` methods counts as one for ``isinstance`` — the switches of our integrations
(:class:`waxell_observe.instrumentation.Instrumentation`) included, without importing them here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["BaseInstrumentor"]

_METHODS = ("instrument", "uninstrument", "is_instrumented")


class BaseInstrumentor(ABC):
    """An instrumentor of one library: :meth:`instrument`, :meth:`uninstrument`, :meth:`is_instrumented`."""

    _instrumented: bool = False

    @abstractmethod
    def instrument(self) -> bool:
        """Patch the library. ``True`` when this call instrumented it; ``False`` when it was already
        instrumented or the library is not installed."""

    @abstractmethod
    def uninstrument(self) -> Any:
        """Undo :meth:`instrument` (nothing happens when it was not instrumented)."""

    def is_instrumented(self) -> bool:
        """True while the library is instrumented."""
        return self._instrumented

    @classmethod
    def __subclasshook__(cls, other: type) -> Any:
        if cls is BaseInstrumentor:
            found = all(any(name in vars(base) for base in other.__mro__) for name in _METHODS)
            return True if found else NotImplemented
        return NotImplemented
