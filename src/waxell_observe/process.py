"""The current process id, without a system call per use.

``os.getpid()`` is a system call, and on some virtual machines a slow one (microseconds).
Hot paths that keep per-process state (caches keyed by pid, so a forked child starts fresh)
use :func:`current_pid` instead: the pid is read once and refreshed in a forked child.
"""

from __future__ import annotations

import os

__all__ = ["current_pid"]

_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def current_pid() -> int:
    """This process's id (correct in forked children too)."""
    return _pid
