"""The background thread of online evaluation: evaluators run here, never on the agent's thread.

A finished sampled run becomes a :class:`Job` on a bounded queue; one daemon thread per process
takes jobs in order, calls each evaluator (an async one is run to completion on the thread) and
stores the scores on the run with source ``online`` where the run went (its store or its control
plane). A full queue drops the job (counted on the evaluator and logged); a failing evaluator or
write is logged and counted, and the thread goes on. At interpreter exit the queued runs are given
up to :data:`EXIT_TIMEOUT` seconds to be evaluated.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from waxell_observe.evaluation.scores import Score, call_evaluator

__all__ = ["Job", "OnlineWorker", "worker", "on_worker_thread"]

logger = logging.getLogger("waxell_observe")

QUEUE_SIZE = 10_000
"""Jobs waiting at most; more are dropped (the agent never waits for its evaluators)."""

EXIT_TIMEOUT = 10.0
"""At interpreter exit, seconds to wait for the queued runs to be evaluated (then they are given up)."""


@dataclass
class Job:
    """One run to evaluate: what the evaluators may name, and where its scores go."""

    run_id: str
    available: dict[str, Any]
    evaluators: Sequence[Any]
    """The :class:`~waxell_observe.evaluation.online.OnlineEvaluator` s that sampled the run."""
    store: Callable[[str, list[dict[str, Any]]], None]
    done: threading.Event = field(default_factory=threading.Event)


class OnlineWorker:
    """The queue and the thread that empties it (started on the first job, again after a fork)."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=size)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._exit_hook = False
        self.thread_ident: int | None = None

    def submit(self, job: Job) -> bool:
        """Queue ``job`` (on the agent's thread: never blocks); ``False`` when the queue is full."""
        with self._lock:
            self._ensure_thread()
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                return False
            self._pending += 1
        return True

    def wait(self, timeout: float) -> bool:
        """Wait until every queued job was evaluated; ``False`` when ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    @property
    def pending(self) -> int:
        return self._pending

    def _ensure_thread(self) -> None:
        if os.getpid() != self._pid:  # a forked child: the parent's thread and queue are not ours
            self._pid = os.getpid()
            self._queue = queue.Queue(maxsize=self._queue.maxsize)
            self._pending = 0
            self._thread = None
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="waxell-online-evaluator", daemon=True)
            self._thread.start()
            if not self._exit_hook:
                self._exit_hook = True
                atexit.register(self._drain_at_exit)

    def _drain_at_exit(self) -> None:
        """At exit: let the queued runs be evaluated (a short script ends right after its runs)."""
        if os.getpid() != self._pid or not self._pending:
            return
        if not self.wait(EXIT_TIMEOUT):
            logger.warning(
                "waxell-observe: %d runs were not evaluated online before exit (waited %.0f s)",
                self._pending,
                EXIT_TIMEOUT,
            )

    def _loop(self) -> None:
        self.thread_ident = threading.get_ident()
        jobs = self._queue
        while True:
            job = jobs.get()
            try:
                evaluate_job(job)
            except Exception:  # noqa: BLE001 - the thread must outlive any job
                logger.exception("waxell-observe: online evaluation of run %s failed", job.run_id)
            finally:
                job.done.set()
                with self._idle:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()


def evaluate_job(job: Job) -> None:
    """Call every evaluator of ``job`` and store what they gave (one write per evaluator)."""
    for online in job.evaluators:
        try:
            scores: list[Score] = call_evaluator(online.evaluator, job.available, online.name)
        except Exception as exc:  # noqa: BLE001 - one evaluator failing leaves the others
            online.count("failed")
            logger.warning(
                "waxell-observe: online evaluator %r failed on run %s: %r", online.name, job.run_id, exc
            )
            continue
        rows = [score.as_dict() for score in scores]
        try:
            if rows:
                job.store(job.run_id, rows)
        except Exception as exc:  # noqa: BLE001 - a write failing is logged, the thread goes on
            online.count("failed")
            logger.warning(
                "waxell-observe: could not store the scores of online evaluator %r on run %s: %r",
                online.name,
                job.run_id,
                exc,
            )
            continue
        online.count("evaluated")


_worker: OnlineWorker | None = None
_worker_lock = threading.Lock()


def worker() -> OnlineWorker:
    """The process's worker."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = OnlineWorker()
        return _worker


def on_worker_thread() -> bool:
    """Whether the caller is the worker's thread (runs it starts, e.g. a judge's, are not evaluated)."""
    current = _worker
    return current is not None and current.thread_ident == threading.get_ident()
