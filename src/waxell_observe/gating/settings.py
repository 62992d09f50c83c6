"""The environment variables of the surface gates (read on every gate: cheap, and tests may change them).

* ``WAXELL_SURFACE_GATE``: ``0/false/no/off`` turns every gate off; ``closed``/``strict`` = fail-closed.
* ``WAXELL_GATE_FAIL_CLOSED``: truthy = fail-closed (default fail-open).
* ``WAXELL_MANIFEST_TTL``: seconds a fetched manifest is kept (else the manifest's ``ttl_seconds``, else 60;
  clamped to 5–3600).
* ``WAXELL_MANIFEST_NEGATIVE_TTL``: seconds a failed manifest fetch is remembered (default 30, at most 600).
* ``WAXELL_GATE_CACHE_TTL``: seconds a control plane's verdict is reused for the same question (default 2,
  at most 60; 0 turns the cache off).
"""

from __future__ import annotations

import logging
import os

__all__ = [
    "DEFAULT_MANIFEST_TTL",
    "DEFAULT_NEGATIVE_TTL",
    "enabled",
    "fail_closed",
    "manifest_ttl",
    "negative_ttl",
    "verdict_ttl",
]

logger = logging.getLogger("waxell_observe")

DEFAULT_MANIFEST_TTL = 60.0
MIN_MANIFEST_TTL, MAX_MANIFEST_TTL = 5.0, 3600.0
DEFAULT_NEGATIVE_TTL = 30.0
MAX_NEGATIVE_TTL = 600.0
DEFAULT_VERDICT_TTL = 2.0
MAX_VERDICT_TTL = 60.0

_OFF = frozenset({"0", "false", "no", "off"})
_CLOSED = frozenset({"closed", "strict"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_warned: set[tuple[str, str]] = set()


def _gate_setting() -> str:
    return os.environ.get("WAXELL_SURFACE_GATE", "").strip().lower()


def enabled() -> bool:
    """False when ``WAXELL_SURFACE_GATE`` is ``0``/``false``/``no``/``off``."""
    return _gate_setting() not in _OFF


def fail_closed() -> bool:
    """True when a preventive gate refuses while governance cannot answer."""
    if _gate_setting() in _CLOSED:
        return True
    return os.environ.get("WAXELL_GATE_FAIL_CLOSED", "").strip().lower() in _TRUE


def _seconds(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        if (name, raw) not in _warned:
            _warned.add((name, raw))
            logger.error("waxell-observe: %s=%r is not a number of seconds; ignored", name, raw)
        return None
    return value


def manifest_ttl(manifest_ttl_seconds: float | None) -> float:
    """How long a fetched manifest is kept: ``WAXELL_MANIFEST_TTL``, else the manifest's own
    ``ttl_seconds``, else 60 s; clamped to 5–3600 s."""
    value = _seconds("WAXELL_MANIFEST_TTL")
    if value is None:
        value = manifest_ttl_seconds if manifest_ttl_seconds else DEFAULT_MANIFEST_TTL
    return min(max(float(value), MIN_MANIFEST_TTL), MAX_MANIFEST_TTL)


def negative_ttl() -> float:
    """How long a failed manifest fetch is remembered (``WAXELL_MANIFEST_NEGATIVE_TTL``, default 30 s,
    0–600)."""
    value = _seconds("WAXELL_MANIFEST_NEGATIVE_TTL")
    if value is None:
        return DEFAULT_NEGATIVE_TTL
    return min(max(value, 0.0), MAX_NEGATIVE_TTL)


def verdict_ttl() -> float:
    """How long a control plane's gate verdict is reused (``WAXELL_GATE_CACHE_TTL``, default 2 s, 0–60)."""
    value = _seconds("WAXELL_GATE_CACHE_TTL")
    if value is None:
        return DEFAULT_VERDICT_TTL
    return min(max(value, 0.0), MAX_VERDICT_TTL)
