"""Calls run on daemon threads of their own, so the delivery worker never waits on the network.

The delivery worker hands each run's delivery to a :class:`Sender` (a few threads sharing one
job queue) and, while requests are in flight, keeps draining the agents' queue. A control
plane that accepts connections and never answers then stalls only the senders: records keep
being encoded and, at interpreter exit, little is left to do but write them to the spool.
Sender threads are daemons and never joined, so a hung request cannot hold the process (a
``concurrent.futures`` pool would be joined at exit).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Job", "Sender"]


class Job:
    """A call handed to a :class:`Sender`: ``done`` is set once ``result`` or ``error`` is."""

    __slots__ = ("call", "done", "error", "result")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class Sender:
    """Runs submitted calls on ``threads`` daemon threads (started with the first call)."""

    def __init__(self, name: str, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.name = name
        self.size = threads
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.any_done = threading.Event()
        """Set whenever a call finishes (the caller clears it before looking at its jobs)."""

    def submit(self, call: Callable[[], Any]) -> Job:
        job = Job(call)
        if not self._threads:
            with self._lock:
                while len(self._threads) < self.size:
                    thread = threading.Thread(
                        target=self._run, name=f"{self.name}-{len(self._threads) + 1}", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()
        self._jobs.put(job)
        return job

    def stop(self) -> None:
        """Let every thread end after the call it has in flight (if any)."""
        for _ in self._threads:
            self._jobs.put(None)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job.result = job.call()
            except BaseException as exc:  # noqa: BLE001 - handed back to the worker, which decides
                job.error = exc
            finally:
                job.done.set()
                self.any_done.set()
