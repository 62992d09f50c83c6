"""``waxell_observe.integrations.langchain``: the LangChain integration's public names.

Re-exports :class:`WaxellLangChainHandler` (and ``instrument`` / ``uninstrument`` /
``is_instrumented``) from the ``waxell-observe-langchain`` distribution, imported on first
use. When it is not installed, using a name raises an ``ImportError`` that says what to
install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe.integrations import lazy_exports

if TYPE_CHECKING:
    from waxell_observe_langchain import WaxellLangChainHandler, instrument, is_instrumented, uninstrument

__all__ = ["WaxellLangChainHandler", "instrument", "is_instrumented", "uninstrument"]

INSTALL_HINT = (
    "the LangChain integration is not installed: pip install waxell-observe-langchain "
    "(it brings langchain-core)"
)

__getattr__, __dir__ = lazy_exports(globals(), "waxell_observe_langchain", INSTALL_HINT)
