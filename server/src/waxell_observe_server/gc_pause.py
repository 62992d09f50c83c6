"""Pausing Python's cyclic garbage collector while a large request is handled.

A batch of runs becomes tens of thousands of short-lived objects (parsed JSON, validated
models, rows) that all stay reachable until the reply is sent, then go away by reference
counting. While they are alive, every collection the allocations trigger walks them all and
frees nothing — and because they survive the young generations, they soon trigger full
collections of the whole process as well. Measured on a batch of 500 runs, that is about a
fifth of the handler's time. :func:`gc_paused` turns automatic collection off for the block
and back on when the last concurrent block ends (nothing is lost: cycles created meanwhile are
collected by the next automatic collection).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Automatic garbage collection off while any thread is inside such a block (re-entrant and
    thread-safe; collection stays off afterwards if it was off before the first block began)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
