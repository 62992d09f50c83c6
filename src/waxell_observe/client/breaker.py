"""The connection breaker of the client: a host that keeps failing to answer is skipped a while.

Class-wide and keyed by host: after :data:`FAILURES_TO_OPEN` consecutive calls that ended
without an answer (refused connection, timeout) the host is skipped for
:data:`COOLDOWN_SECONDS` (calls return ``{}`` at once); the first call after the cooldown is
a probe, and any answer closes the breaker again.
"""

from __future__ import annotations

import threading
import time

__all__ = ["COOLDOWN_SECONDS", "FAILURES_TO_OPEN", "allows", "record", "reset"]

FAILURES_TO_OPEN = 2
COOLDOWN_SECONDS = 30.0

_lock = threading.Lock()
_failures: dict[str, int] = {}
_open_until: dict[str, float] = {}


def allows(host: str) -> bool:
    """False while ``host``'s breaker is open (the call is skipped)."""
    with _lock:
        until = _open_until.get(host)
        if until is None:
            return True
        if time.monotonic() < until:
            return False
        del _open_until[host]  # cooldown over: this call is the probe
        _failures[host] = FAILURES_TO_OPEN - 1  # a failed probe opens the breaker again
        return True


def record(host: str, *, answered: bool) -> None:
    """Count the outcome of one call to ``host`` (``answered``: the server replied, any status)."""
    with _lock:
        if answered:
            _failures.pop(host, None)
            _open_until.pop(host, None)
            return
        count = _failures.get(host, 0) + 1
        _failures[host] = count
        if count >= FAILURES_TO_OPEN:
            _open_until[host] = time.monotonic() + COOLDOWN_SECONDS


def reset() -> None:
    """Forget every host's state (``WaxellObserveClient.reset_connection_breaker()``)."""
    with _lock:
        _failures.clear()
        _open_until.clear()
