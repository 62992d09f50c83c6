"""waxell-observe for LlamaIndex: event and span handlers on the instrumentation dispatcher.

``instrument()`` attaches them to LlamaIndex's root dispatcher (``init()`` calls it), so
LLM calls, embeddings, retrievals, queries, syntheses and agent tool calls are recorded onto
the current run. LlamaIndex itself is imported only when one of these names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe_llamaindex.attach import instrument, is_instrumented, uninstrument
    from waxell_observe_llamaindex.handlers import WaxellEventHandler, WaxellSpanHandler

__all__ = ["instrument", "uninstrument", "is_instrumented", "WaxellEventHandler", "WaxellSpanHandler"]

_LAZY = {
    "WaxellEventHandler": "waxell_observe_llamaindex.handlers",
    "WaxellSpanHandler": "waxell_observe_llamaindex.handlers",
    "instrument": "waxell_observe_llamaindex.attach",
    "uninstrument": "waxell_observe_llamaindex.attach",
    "is_instrumented": "waxell_observe_llamaindex.attach",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'waxell_observe_llamaindex' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
