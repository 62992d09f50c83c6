"""The current process id, without a system call per use.

``os.getpid()`` is a system call, and on some virtual machines a slow one (microseconds).
Hot paths that keep per-process state (caches keyed by pid, so a forked child starts fresh)
use :func:`current_pid` instead: the pid is read once and refreshed in a forked child.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["current_pid", "fork_safe"]

_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def current_pid() -> int:
    """This process's id (correct in forked children too)."""
    return _pid


_fork_safe_locks: list[Any] = []
_held_for_fork: list[Any] = []


def fork_safe(lock: Any) -> Any:
    """Make a module-level ``lock`` safe across ``os.fork()``: the fork waits until no other thread
    holds it (a child never inherits it held by a thread that does not exist in the child), and
    both processes get it released. Returns ``lock``.

    One pair of fork handlers serves every such lock: the locks taken before a fork are exactly
    the ones released after it, even when another thread registers a lock meanwhile (a blocking
    ``acquire`` in a fork handler lets other threads run)."""
    _fork_safe_locks.append(lock)
    return lock


def _before_fork() -> None:
    # Indexed over the live list: waiting for one lock lets other threads run, and a lock they
    # register meanwhile (a module imported on another thread) must be taken too.
    index = 0
    while index < len(_fork_safe_locks):
        lock = _fork_safe_locks[index]
        lock.acquire()
        _held_for_fork.append(lock)
        index += 1


def _after_fork_release() -> None:
    while _held_for_fork:
        _held_for_fork.pop().release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_release, after_in_child=_after_fork_release
    )
