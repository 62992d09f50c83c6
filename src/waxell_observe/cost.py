"""``waxell_observe.cost``: the reference SDK's cost helpers, over the SDK's price catalog
(:mod:`waxell_observe.pricing`)."""

from __future__ import annotations

import logging
import threading

from waxell_observe import pricing

__all__ = ["estimate_cost", "estimate_embedding_cost"]

logger = logging.getLogger("waxell_observe")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _unknown(model: str) -> float:
    with _warned_lock:
        first = model not in _warned
        _warned.add(model)
    if first:
        logger.warning("waxell-observe: no price known for model %r; its cost is recorded as 0.0", model)
    return 0.0


def estimate_cost(model: str, tokens_in: int, tokens_out: int, provider: str = "") -> float:
    """The USD cost of one call of ``model``; ``0.0`` (with one warning per model) when the model
    is not in the catalog. ``provider`` is accepted for compatibility (the model name decides)."""
    info = pricing.lookup(model)
    if info is None:
        return _unknown(model)
    return pricing.price(info, tokens_in, tokens_out)


def estimate_embedding_cost(model: str, tokens: int, provider: str = "") -> float:
    """The USD cost of embedding ``tokens`` tokens with ``model`` (priced as input tokens)."""
    return estimate_cost(model, tokens, 0, provider)
