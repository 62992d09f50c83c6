"""``waxell_observe.integrations.anthropic``: the Anthropic integration's public names.

Re-exports ``instrument``, ``uninstrument`` and ``is_instrumented`` from the
``waxell-observe-anthropic`` distribution, imported on first use (which does not import the
``anthropic`` SDK itself). ``waxell_observe.init()`` turns the integration on by itself; these are
for turning it on or off by hand. When the distribution is not installed, using a name raises an
``ImportError`` that says what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from waxell_observe.integrations import lazy_exports

if TYPE_CHECKING:
    from waxell_observe_anthropic import instrument, is_instrumented, uninstrument

__all__ = ["instrument", "is_instrumented", "uninstrument"]

INSTALL_HINT = (
    "the Anthropic integration is not installed: pip install waxell-observe-anthropic (it brings anthropic)"
)

__getattr__, __dir__ = lazy_exports(globals(), "waxell_observe_anthropic", INSTALL_HINT)
