"""What a process must know about itself and about ``os.fork()``.

- :func:`current_pid`: the process id without a system call per use. ``os.getpid()`` is a system
  call, and on some virtual machines a slow one (microseconds). Hot paths that keep per-process
  state (caches keyed by pid, so a forked child starts fresh) use it: the pid is read once and
  refreshed in a forked child.
- :class:`ForkGate` (:data:`sqlite_gate`): work a fork must not land in the middle of.
- :func:`fork_safe`: module-level locks a child never inherits held.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

__all__ = ["ForkGate", "current_pid", "fork_safe", "sqlite_gate"]

logger = logging.getLogger("waxell_observe")

_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def current_pid() -> int:
    """This process's id (correct in forked children too)."""
    return _pid


class ForkGate:
    """Work that a fork must not cut in half, such as a thread inside a SQLite transaction.

    A forked child inherits the library's memory as it was at that instant: a mutex another thread
    held stays held, and a lock state that thread had taken stays recorded, in a child where that
    thread does not exist. SQLite's own bookkeeping is such state: a child forked while another
    thread was inside a transaction can hang, or find the file locked for good. Threads pass through
    the gate (``with gate:``) for the length of such work. A fork closes the gate (threads that come
    to it wait until the fork is done) and waits, at most ``wait_seconds``, until no other thread is
    inside. When the wait runs out, the fork goes ahead and a warning names the gate.

    A thread that forks while inside the gate itself is not waited for.
    """

    def __init__(self, name: str, wait_seconds: float = 10.0) -> None:
        self.name = name
        self.wait_seconds = wait_seconds
        self._changed = threading.Condition(threading.Lock())
        self._inside: dict[int, int] = {}
        self._forking = 0  # the thread id of a fork in progress; 0: none
        _fork_gates.append(self)

    def __enter__(self) -> None:
        self.enter(threading.get_ident())

    def __exit__(self, *_exc: object) -> None:
        self.leave(threading.get_ident())

    def enter(self, thread: int) -> None:
        """``thread`` is inside from now on. It waits while a fork of another thread is under way,
        unless it is inside already (a nested passage: the fork is waiting for it to leave)."""
        with self._changed:
            while self._forking and self._forking != thread and thread not in self._inside:
                self._changed.wait()
            self._inside[thread] = self._inside.get(thread, 0) + 1

    def leave(self, thread: int) -> None:
        """``thread`` (the one given to :meth:`enter`) is out again."""
        with self._changed:
            left = self._inside.get(thread, 0) - 1
            if left > 0:
                self._inside[thread] = left
            else:
                self._inside.pop(thread, None)
            self._changed.notify_all()

    def inside(self) -> int:
        """How many passages are under way (every thread's)."""
        with self._changed:
            return sum(self._inside.values())

    def _close_for_fork(self) -> None:
        # Closed at once, so a steady stream of entrants cannot hold a fork back. A thread waiting
        # to enter holds none of the fork-safe locks: the fork took them all before it came here.
        me = threading.get_ident()
        deadline = time.monotonic() + self.wait_seconds
        with self._changed:
            self._forking = me
            while any(thread != me for thread in self._inside):
                left = deadline - time.monotonic()
                if left <= 0:
                    logger.warning(
                        "waxell-observe: os.fork() went ahead after %g s while another thread was still "
                        "inside %s; the child may find it locked",
                        self.wait_seconds,
                        self.name,
                    )
                    break
                self._changed.wait(left)

    def _open_in_parent(self) -> None:
        with self._changed:
            self._forking = 0
            self._changed.notify_all()

    def _open_in_child(self) -> None:
        # The other threads are gone, and so are their passages; the lock is made anew (a thread
        # that waited to enter held nothing, but the condition's waiters belong to the parent).
        me = threading.get_ident()
        self._changed = threading.Condition(threading.Lock())
        self._inside = {me: self._inside[me]} if me in self._inside else {}
        self._forking = 0


_fork_gates: list[ForkGate] = []


def _close_gates() -> None:
    for gate in _fork_gates:
        gate._close_for_fork()


def _open_gates_in_parent() -> None:
    for gate in _fork_gates:
        gate._open_in_parent()


def _open_gates_in_child() -> None:
    for gate in _fork_gates:
        gate._open_in_child()


if hasattr(os, "register_at_fork"):
    # Registered before the handler of the fork-safe locks (below) and before any module that
    # imports this one registers its own: the "before" handlers run in the reverse order of
    # registration, so a fork first takes every lock, then waits at the gates, then forks at once.
    # The other order deadlocks: a thread holding a fork-safe lock (the drainer opening a store)
    # would find the gate closed, and the fork would wait for that lock for ever.
    os.register_at_fork(
        before=_close_gates, after_in_parent=_open_gates_in_parent, after_in_child=_open_gates_in_child
    )

sqlite_gate = ForkGate("SQLite")
"""Every thread of this library passes through it while it uses a SQLite connection (a store's
transaction, a governance counter's statement): a fork never lands inside SQLite."""


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
