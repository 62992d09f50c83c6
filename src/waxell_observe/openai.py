"""``from waxell_observe.openai import openai``: the ``openai`` package, instrumented on import
(reference SDK §6.4) — as ``waxell_observe.instrumentors.instrument_all(["openai"])`` before using it.
Without the integration installed (``waxell-observe-openai``) the package is returned as it is and a
warning says why its calls are not recorded."""

from __future__ import annotations

import logging

import openai

from waxell_observe.instrumentors.registry import instrument_all

__all__ = ["openai"]

logger = logging.getLogger("waxell_observe")

if not instrument_all(["openai"]).get("openai", True):  # {} (SDK off) or True: nothing to say
    logger.warning("waxell-observe: openai is not instrumented (is waxell-observe-openai installed?)")
