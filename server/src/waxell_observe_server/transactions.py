"""Write transactions of the server.

SQLite allows one writer at a time. Threads of one server process that all start a write
transaction at once would each wait for the database lock inside SQLite's busy handler,
which sleeps in growing steps (1 ms, 2 ms, 5 ms, ...) and wastes most of the time the lock
is free. The server's own threads therefore take turns on a process-wide lock first; other
processes (a second server, the embedded SDK) still wait through the busy handler.
PostgreSQL needs no such lock (rows are locked per run).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from waxell_observe.store import Store

__all__ = ["Writer"]


class Writer:
    """``with writer.write() as conn:`` — one write transaction of ``store``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock() if store.is_sqlite else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._lock is None:
            with self.store.write() as conn:
                yield conn
            return
        with self._lock, self.store.write() as conn:
            yield conn
