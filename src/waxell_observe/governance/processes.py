"""Which process holds a concurrency slot, whether it is still alive, and the per-process lock SQLite
writers take turns on: the process-level helpers of the store's usage counters (:mod:`.sql_usage`,
:mod:`.sqlite_usage`).

A slot records the process that took it as ``host:pid:start-time`` (:func:`process_owner`); a slot
whose owner is a process of this host that is gone (killed, crashed, or its pid reused) is stale
(:func:`owner_alive`, read from Linux ``/proc`` where there is one).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable

from waxell_observe.store.database import Store

__all__ = ["HOST", "Liveness", "live_and_stale", "owner_alive", "process_owner", "sqlite_turns"]

HOST = socket.gethostname()


def _start_ticks(pid: int) -> str:
    """The start time of process ``pid`` (Linux ``/proc``), "" when unknown; tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: fields resume after the last ")"
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else ""


def process_owner(pid: int | None = None) -> str:
    """``host:pid:start-time`` of a process (default: this one): the owner recorded on its slots."""
    pid = os.getpid() if pid is None else pid
    return f"{HOST}:{pid}:{_start_ticks(pid)}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` names a process of this host that is gone (or a reused pid)."""
    host, _, rest = owner.partition(":")
    if host != HOST or not rest:
        return True  # another host (or no owner): only the expiry frees it
    pid_text, _, ticks = rest.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return True
    if ticks and os.path.isdir("/proc"):
        return _start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Liveness:
    """:func:`owner_alive`, asked once per owner (one instance per question about a set of slots)."""

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[str, bool] = {}

    def __call__(self, owner: str) -> bool:
        if not owner:
            return True
        try:
            return self._known[owner]
        except KeyError:
            self._known[owner] = result = owner_alive(owner)
            return result


def live_and_stale(rows: Iterable[tuple[str, str, float]], now: float) -> tuple[set[str], list[str]]:
    """Split ``(holder, owner, expires_at)`` slot rows into live holders and stale ones (expired, or
    owned by a process that is gone)."""
    alive = Liveness()
    live: set[str] = set()
    stale: list[str] = []
    for holder, owner, expires_at in rows:
        if expires_at <= now or not alive(owner):
            stale.append(holder)
        else:
            live.add(holder)
    return live, stale


_sqlite_locks: dict[str, threading.Lock] = {}
_sqlite_locks_guard = threading.Lock()


def _forget_locks_after_fork() -> None:
    # a lock held by another thread at fork time would stay held in the child: start afresh there
    global _sqlite_locks_guard
    _sqlite_locks.clear()
    _sqlite_locks_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_after_fork)


def sqlite_turns(store: Store) -> threading.Lock | None:
    """On SQLite, the lock the threads of this process take turns on before a governance write.

    SQLite has one writer at a time; threads that all start a write wait inside its busy handler, which
    sleeps in growing steps and leaves the lock idle most of the time. Taking turns in process first
    keeps admissions fast under many threads (other processes still wait through the busy handler).
    """
    if not store.is_sqlite:
        return None
    with _sqlite_locks_guard:
        return _sqlite_locks.setdefault(store.url, threading.Lock())
