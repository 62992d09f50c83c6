"""One request at a time on a daemon thread of its own.

The delivery worker hands each HTTP request to a :class:`Sender` and, while the request is in
flight, keeps draining the agents' queue. A control plane that accepts connections and never
answers then stalls only the sender: records keep being encoded and, at interpreter exit,
little is left to do but write them to the spool. A sender thread is a daemon and never
joined, so a hung request cannot hold the process.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

__all__ = ["Sender", "Job"]

logger = logging.getLogger("waxell_observe")


class Job:
    """A call handed to a :class:`Sender`: ``done`` is set once ``result`` or ``error`` is."""

    __slots__ = ("call", "done", "result", "error")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class Sender:
    """Runs submitted calls in order on one daemon thread (started on first use)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, call: Callable[[], Any]) -> Job:
        job = Job(call)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        self._jobs.put(job)
        return job

    def stop(self) -> None:
        """Let the thread end after the call in flight (if any)."""
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
