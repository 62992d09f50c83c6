"""``waxell_observe.integrations.openai``: the OpenAI integration's public names.

Re-exports ``instrument``, ``uninstrument`` and ``is_instrumented`` from the
``waxell-observe-openai`` distribution, imported on first use (which does not import the
``openai`` SDK itself). ``waxell_observe.init()`` turns the integration on by itself; these are
for turning it on or off by hand. When the distribution is not installed, using a name raises an
``ImportError`` that says what to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waxell_observe_openai import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]

INSTALL_HINT = "the OpenAI integration is not installed: pip install waxell-observe-openai (it brings openai)"


def _load() -> Any:
    try:
        return importlib.import_module("waxell_observe_openai")
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})", name=exc.name) from exc


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_load(), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
