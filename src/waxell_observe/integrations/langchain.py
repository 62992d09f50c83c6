"""``waxell_observe.integrations.langchain``: the LangChain integration's public names.

Re-exports :class:`WaxellLangChainHandler` (and ``instrument`` / ``uninstrument`` /
``is_instrumented``) from the ``waxell-observe-langchain`` distribution, imported on first
use. When it is not installed, using a name raises an ``ImportError`` that says what to
install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe_langchain import WaxellLangChainHandler, instrument, is_instrumented, uninstrument

__all__ = ["WaxellLangChainHandler", "instrument", "uninstrument", "is_instrumented"]

INSTALL_HINT = (
    "the LangChain integration is not installed: pip install waxell-observe-langchain "
    "(it brings langchain-core)"
)


def _load() -> Any:
    try:
        return importlib.import_module("waxell_observe_langchain")
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})", name=exc.name) from exc


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(_load(), name)
    except ImportError as exc:
        if "is not installed" in str(exc):
            raise
        raise ImportError(f"{INSTALL_HINT} ({exc})", name=exc.name) from exc
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
