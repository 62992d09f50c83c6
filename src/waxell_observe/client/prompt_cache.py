"""The client's prompt cache: fetched prompts by ``(name, label, version)``, LRU, time-limited.

An entry is fresh for the client's ``prompt_cache_ttl`` seconds; one fetched for a pinned
version (a version never changes) for at least :data:`PINNED_TTL` seconds. At most
:data:`MAX_ENTRIES` entries; the least recently used goes first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from waxell_observe.types import PromptInfo

__all__ = ["MAX_ENTRIES", "PINNED_TTL", "PromptCache"]

MAX_ENTRIES = 1000
PINNED_TTL = 3600.0

Key = tuple[str, str, int]


class PromptCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, tuple[float, PromptInfo]] = OrderedDict()

    def get(self, key: Key, ttl: float) -> PromptInfo | None:
        """The entry of ``key`` if it is younger than its lifetime (``ttl``; pinned: longer)."""
        if ttl <= 0:
            return None
        lifetime = max(ttl, PINNED_TTL) if key[2] else ttl
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > lifetime:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Key, info: PromptInfo) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), info)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def invalidate(self, name: str = "") -> None:
        """Drop every entry of ``name`` (any label or version), or all entries when ``name`` is empty."""
        with self._lock:
            if not name:
                self._entries.clear()
                return
            for key in [k for k in self._entries if k[0] == name]:
                del self._entries[key]
