"""Token and cost arithmetic of a Claude Code turn: pure functions, no SDK import.

The CLI reports usage in two places, and they overlap:

* each ``assistant`` message carries the usage of the API call it belongs to (several messages,
  one per content block, share one call's ``message.id`` and usage). The CLI takes that snapshot
  when a content block ends, before the call's final ``message_delta``, so its ``output_tokens``
  can fall short of the call's; with ``include_partial_messages`` the ``message_delta`` stream event
  brings the final figures. A call's usage is the largest figure of each field seen for it.
* the ``result`` message carries the turn's totals (``usage``: the sum over the turn's API calls) and
  the session's running cost (``total_cost_usd``: cumulative over the CLI process, so a
  ``ClaudeSDKClient`` session's later turns restate the earlier turns' cost).

:func:`shortfall` is what the result counts beyond the calls' own figures (added to the turn's
last call, so the run's tokens equal the CLI's totals and nothing is counted twice);
:func:`apportion` splits the turn's cost over its calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["USAGE_FIELDS", "Usage", "apportion", "merge", "read_usage", "shortfall", "token_counts"]

USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
"""The Anthropic usage fields a call's tokens are read from."""

Usage = dict[str, int]
"""A usage reading: each of :data:`USAGE_FIELDS` as a non-negative int."""


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return max(int(value), 0)


def read_usage(usage: Any) -> Usage | None:
    """The :data:`USAGE_FIELDS` of a usage mapping (or object); None when there is none."""
    if usage is None:
        return None
    if isinstance(usage, Mapping):
        return {name: _count(usage.get(name)) for name in USAGE_FIELDS}
    return {name: _count(getattr(usage, name, None)) for name in USAGE_FIELDS}


def merge(known: Usage | None, more: Usage | None) -> Usage | None:
    """Two readings of one call's usage: the larger figure of each field."""
    if known is None:
        return dict(more) if more is not None else None
    if more is None:
        return known
    return {name: max(known[name], more[name]) for name in USAGE_FIELDS}


def shortfall(total: Usage | None, parts: Iterable[Usage | None]) -> Usage:
    """What ``total`` counts beyond the sum of ``parts``, field by field (never negative)."""
    if total is None:
        return dict.fromkeys(USAGE_FIELDS, 0)
    summed = dict.fromkeys(USAGE_FIELDS, 0)
    for part in parts:
        if part is not None:
            for name in USAGE_FIELDS:
                summed[name] += part[name]
    return {name: max(total[name] - summed[name], 0) for name in USAGE_FIELDS}


def token_counts(usage: Usage | None) -> tuple[int, int, int, int]:
    """``(tokens_in, tokens_out, cached_tokens_in, cache_creation_tokens)`` as recorded: the whole
    prompt in (uncached + cache reads + cache writes, as the Anthropic integration records it), the
    cache reads as cached input."""
    if usage is None:
        return 0, 0, 0, 0
    cache_read = usage["cache_read_input_tokens"]
    cache_creation = usage["cache_creation_input_tokens"]
    return (
        usage["input_tokens"] + cache_read + cache_creation,
        usage["output_tokens"],
        cache_read,
        cache_creation,
    )


def apportion(total: float, weights: list[float]) -> list[float]:
    """``total`` split in proportion to ``weights`` (equally when they are all 0), rounded to 10
    places; the last share takes the rounding remainder, so the shares add up to ``total``."""
    if not weights:
        return []
    weighed = sum(weights)
    if weighed <= 0:
        weights, weighed = [1.0] * len(weights), float(len(weights))
    shares = [round(total * weight / weighed, 10) for weight in weights[:-1]]
    shares.append(round(total - sum(shares), 10))
    return shares
