"""Zero-code capture: LangChain runs recorded without passing callbacks, after ``init()``.

LangChain's supported extension point for this is
``langchain_core.tracers.context.register_configure_hook``: every callback manager it
configures asks each registered variable for a handler and adds it (inherited by child
runs) unless a handler of the registered class is already there. We register a slot whose
``get()`` returns the process-wide :class:`AutoLangChainHandler` while instrumented and
``None`` otherwise, and :class:`WaxellLangChainHandler` as the class, so:

* a run that already has a user-created ``WaxellLangChainHandler`` gets no second one
  (the init() handler is a subclass, and so is recognised too) — nothing is recorded twice;
* the hook works in every thread and task, including threads started without a copy of
  the context (a ``ContextVar`` set at ``init()`` would be empty there);
* :func:`uninstrument` turns it off (LangChain has no way to unregister a hook).
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["instrument", "uninstrument", "is_instrumented", "auto_handler"]

_lock = threading.Lock()
_registered = False


class _HandlerSlot:
    """What LangChain's configure hook reads (through ``get()``, like a ``ContextVar``)."""

    __slots__ = ("handler",)

    def __init__(self) -> None:
        self.handler: Any = None

    def get(self, default: Any = None) -> Any:
        handler = self.handler
        return handler if handler is not None else default


_slot = _HandlerSlot()


def instrument() -> bool:
    """Install the configure hook (once) and turn it on. Returns True when LangChain is there."""
    global _registered
    try:
        from langchain_core.tracers.context import register_configure_hook
    except ImportError:
        return False
    from waxell_observe_langchain.handler import AutoLangChainHandler, WaxellLangChainHandler

    with _lock:
        if not _registered:
            register_configure_hook(_slot, True, WaxellLangChainHandler)  # type: ignore[arg-type]
            _registered = True
        if _slot.handler is None:
            _slot.handler = AutoLangChainHandler()
    return True


def uninstrument() -> bool:
    """Turn the configure hook off. Returns True when it was on."""
    with _lock:
        was_on = _slot.handler is not None
        _slot.handler = None
    return was_on


def is_instrumented() -> bool:
    """True while LangChain runs are captured without callbacks."""
    return _slot.handler is not None


def auto_handler() -> Any:
    """The handler the hook adds (``None`` when not instrumented)."""
    return _slot.handler
