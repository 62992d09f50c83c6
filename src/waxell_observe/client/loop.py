"""The SDK's own event loop thread, on which the client's ``*_sync`` methods run their coroutine.

One daemon thread per process (started on first use, again in a forked child). A blocking
call waits at most :data:`SYNC_TIMEOUT` seconds for its coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["SYNC_TIMEOUT", "run_sync"]

SYNC_TIMEOUT = 180.0

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid = 0


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _pid
    loop = _loop
    if loop is not None and _pid == os.getpid() and not loop.is_closed():
        return loop
    with _lock:
        if _loop is None or _pid != os.getpid() or _loop.is_closed():
            new_loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            threading.Thread(target=serve, name="waxell-client-loop", daemon=True).start()
            ready.wait()
            _loop, _pid = new_loop, os.getpid()
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T], timeout: float = SYNC_TIMEOUT) -> T:
    """Run ``coroutine`` on the SDK's loop thread and wait for its result (or exception).

    Called on the loop thread itself (a coroutine calling a ``*_sync`` method), it would wait
    for itself: that raises ``RuntimeError`` instead.
    """
    loop = _running_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coroutine.close()
        raise RuntimeError("a *_sync client method was called on the client's own event loop: await it")
    future = asyncio.run_coroutine_threadsafe(coroutine, loop)
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise
