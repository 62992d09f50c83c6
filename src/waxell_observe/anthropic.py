"""``from waxell_observe.anthropic import anthropic``: the ``anthropic`` package, instrumented on import
(reference SDK §6.4) — as ``waxell_observe.instrumentors.instrument_all(["anthropic"])`` before using it.
Without the integration installed (``waxell-observe-anthropic``) the package is returned as it is and a
warning says why its calls are not recorded."""

from __future__ import annotations

import logging

import anthropic

from waxell_observe.instrumentors.registry import instrument_all

__all__ = ["anthropic"]

logger = logging.getLogger("waxell_observe")

if not instrument_all(["anthropic"]).get("anthropic", True):  # {} (SDK off) or True: nothing to say
    logger.warning("waxell-observe: anthropic is not instrumented (is waxell-observe-anthropic installed?)")
