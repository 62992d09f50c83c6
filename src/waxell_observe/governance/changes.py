"""Telling this process's deciders that it changed the policies of a store (so they re-read at once).

Kept apart from :mod:`.policy_store` so that registering costs no SQLAlchemy import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["notify", "on_change"]

log = logging.getLogger("waxell_observe.governance")

_listeners: list[Callable[[str], None]] = []


def on_change(callback: Callable[[str], None]) -> None:
    """Call ``callback(store_url)`` after this process changed the policies of a store. Registering the
    same callback twice is a no-op."""
    if callback not in _listeners:
        _listeners.append(callback)


def notify(url: str) -> None:
    """The policies of the store at ``url`` changed (called after the change is committed)."""
    for callback in tuple(_listeners):
        try:
            callback(url)
        except Exception:  # a listener must not undo a committed change
            log.exception("policy change listener %r failed", callback)
