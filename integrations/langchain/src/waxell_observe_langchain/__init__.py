"""waxell-observe for LangChain: a callback handler, and zero-code capture after ``init()``.

``WaxellLangChainHandler`` records LangChain runs (chat models and LLMs, chains, tools,
retrievers, agent actions) into waxell-observe; ``instrument()`` captures every LangChain
run without passing callbacks (``init()`` calls it). LangChain itself is imported only when
one of these names is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe_langchain.auto import instrument, is_instrumented, uninstrument
    from waxell_observe_langchain.handler import AutoLangChainHandler, WaxellLangChainHandler

__all__ = ["WaxellLangChainHandler", "AutoLangChainHandler", "instrument", "uninstrument", "is_instrumented"]

_LAZY = {
    "WaxellLangChainHandler": "waxell_observe_langchain.handler",
    "AutoLangChainHandler": "waxell_observe_langchain.handler",
    "instrument": "waxell_observe_langchain.auto",
    "uninstrument": "waxell_observe_langchain.auto",
    "is_instrumented": "waxell_observe_langchain.auto",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'waxell_observe_langchain' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
