"""Attaching the handlers to LlamaIndex's root instrumentation dispatcher, and detaching them.

The root dispatcher (``get_dispatcher()``) lives in ``llama_index_instrumentation``, a
small package; every LlamaIndex module's dispatcher propagates to it. Attaching there works
whether the rest of LlamaIndex is imported before or after, and does not import
``llama_index.core`` (which is slow to import).
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

__all__ = ["instrument", "uninstrument", "is_instrumented", "installed"]

_lock = threading.Lock()


def installed() -> bool:
    """True when LlamaIndex's instrumentation is importable."""
    for name in ("llama_index_instrumentation", "llama_index.core"):
        try:
            if importlib.util.find_spec(name) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def _root_dispatcher() -> Any:
    try:
        from llama_index_instrumentation import get_dispatcher
    except ImportError:
        from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
    return get_dispatcher()


def _loaded_dispatcher(dispatcher: Any) -> Any:
    """``dispatcher``, or the root one when LlamaIndex is loaded (``None`` when it is not:
    nothing can be attached then, and loading it just to look would be slow)."""
    if dispatcher is not None:
        return dispatcher
    import sys

    if "llama_index_instrumentation" not in sys.modules and "llama_index.core" not in sys.modules:
        return None
    return _root_dispatcher()


def _ours(dispatcher: Any) -> tuple[list[Any], list[Any]]:
    from waxell_observe_llamaindex.handlers import WaxellEventHandler, WaxellSpanHandler

    events = [h for h in dispatcher.event_handlers if isinstance(h, WaxellEventHandler)]
    spans = [h for h in dispatcher.span_handlers if isinstance(h, WaxellSpanHandler)]
    return events, spans


def instrument(dispatcher: Any = None) -> bool:
    """Attach waxell-observe's handlers to ``dispatcher`` (default: LlamaIndex's root one).

    Idempotent. Returns True when the handlers are attached, False when LlamaIndex is not
    installed.
    """
    if dispatcher is None:
        if not installed():
            return False
        dispatcher = _root_dispatcher()
    from waxell_observe_llamaindex.gates import PATCHER
    from waxell_observe_llamaindex.handlers import WaxellEventHandler, WaxellSpanHandler

    with _lock:
        events, spans = _ours(dispatcher)
        if not spans:
            dispatcher.add_span_handler(WaxellSpanHandler())
        if not events:
            dispatcher.add_event_handler(WaxellEventHandler())
    PATCHER.apply()  # the tool.before and retrieval.after gates
    return True


def uninstrument(dispatcher: Any = None) -> bool:
    """Detach waxell-observe's handlers. Returns True when some were attached."""
    from waxell_observe_llamaindex.gates import PATCHER

    PATCHER.remove()
    dispatcher = _loaded_dispatcher(dispatcher)
    if dispatcher is None:
        return False
    with _lock:
        events, spans = _ours(dispatcher)
        if not events and not spans:
            return False
        dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h not in events]
        dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h not in spans]
    return True


def is_instrumented(dispatcher: Any = None) -> bool:
    """True while waxell-observe's handlers are attached to ``dispatcher`` (default: root)."""
    dispatcher = _loaded_dispatcher(dispatcher)
    if dispatcher is None:
        return False
    events, spans = _ours(dispatcher)
    return bool(events and spans)
