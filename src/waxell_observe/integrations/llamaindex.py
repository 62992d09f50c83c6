"""``waxell_observe.integrations.llamaindex``: the LlamaIndex integration's public names.

Re-exports ``instrument`` / ``uninstrument`` / ``is_instrumented`` and the handler classes
(:class:`WaxellEventHandler`, :class:`WaxellSpanHandler`) from the
``waxell-observe-llamaindex`` distribution, imported on first use. When it is not
installed, using a name raises an ``ImportError`` that says what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe.integrations import lazy_exports

if TYPE_CHECKING:
    from waxell_observe_llamaindex import (
        WaxellEventHandler,
        WaxellSpanHandler,
        instrument,
        is_instrumented,
        uninstrument,
    )

__all__ = ["WaxellEventHandler", "WaxellSpanHandler", "instrument", "is_instrumented", "uninstrument"]

INSTALL_HINT = (
    "the LlamaIndex integration is not installed: pip install waxell-observe-llamaindex "
    "(it brings llama-index-core)"
)

__getattr__, __dir__ = lazy_exports(globals(), "waxell_observe_llamaindex", INSTALL_HINT)
