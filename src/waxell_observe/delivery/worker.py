"""A bounded queue drained in batches by one daemon thread.

The agent's thread only appends to a deque (no lock, no I/O). The worker wakes every
``interval`` seconds, or at once when a batch is full or a flush is asked for, and hands
batches to ``handle_batch``. A handler signals a temporary failure by raising
:class:`RetryLater`; the batch is then retried with exponential backoff and jitter until it
succeeds or a shutdown deadline passes. Any other exception drops the batch, counted and
logged. Items beyond ``max_queue`` are dropped and counted, never silently.

After ``os.fork()`` the child gets an empty queue and a fresh thread on first use: the
parent's pending items stay the parent's to deliver.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from waxell_observe.delivery.report import DeliveryReport

__all__ = ["BackgroundWorker", "RetryLater"]

logger = logging.getLogger("waxell_observe")

T = TypeVar("T")


class RetryLater(Exception):
    """Raised by a batch handler: the batch could not be handled now, try again later.

    ``after``: seconds to wait at least (e.g. from a ``Retry-After`` header).
    """

    def __init__(self, message: str = "", *, after: float | None = None) -> None:
        super().__init__(message)
        self.after = after


class _Marker:
    """A flush marker travelling through the queue: set when the worker reaches it."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


_workers: weakref.WeakSet[BackgroundWorker[object]] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for worker in list(_workers):
        worker._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)


class BackgroundWorker(Generic[T]):
    """Deliver items of type ``T`` in batches on a background thread."""

    def __init__(
        self,
        name: str,
        handle_batch: Callable[[list[T]], None],
        *,
        max_queue: int = 100_000,
        batch_size: int = 512,
        interval: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self.name = name
        self._handle_batch = handle_batch
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval = interval
        self.max_backoff = max_backoff
        self.sent = 0
        self.dropped = 0
        self.errors: list[str] = []
        self._init_runtime()
        _workers.add(self)  # type: ignore[arg-type]

    def _init_runtime(self) -> None:
        self._queue: deque[T | _Marker] = deque()
        self._wake = threading.Event()
        self._count_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._deadline: float | None = None
        self._in_flight = 0

    def _reset_after_fork(self) -> None:
        self._init_runtime()
        self.sent = 0
        self.dropped = 0
        self.errors = []

    # -- the agent's side ---------------------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue ``item``; False (and counted as dropped) when the queue is full."""
        queue = self._queue
        if len(queue) >= self.max_queue:
            self._count_drop(1, "queue full")
            return False
        queue.append(item)
        if self._thread is None:
            self._start()
        elif len(queue) >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    def _count_drop(self, count: int, why: str) -> None:
        with self._count_lock:
            first = self.dropped == 0
            self.dropped += count
        if first:
            logger.warning("waxell-observe: %s dropped %d record(s): %s", self.name, count, why)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._stopping:
                return
            thread = threading.Thread(target=self._run, name=f"waxell-{self.name}", daemon=True)
            self._thread = thread
            thread.start()

    @property
    def pending(self) -> int:
        """Items queued or being handled right now."""
        # A copy first: the worker pops from the deque while this counts (iterating it would raise).
        return sum(1 for item in list(self._queue) if not isinstance(item, _Marker)) + self._in_flight

    def flush(self, timeout: float | None = None) -> DeliveryReport:
        """Wait until everything queued before this call is handled (or ``timeout`` passes)."""
        if self._queue or self._in_flight:
            marker = _Marker()
            self._queue.append(marker)
            if self._thread is None:
                self._start()
            self._wake.set()
            marker.event.wait(timeout)
        return self.report()

    def shutdown(self, timeout: float | None = None) -> DeliveryReport:
        """Flush within ``timeout``, then stop the thread. Later ``put`` calls restart it."""
        self._deadline = None if timeout is None else time.monotonic() + timeout
        report = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            remaining = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
            thread.join(remaining)
        if thread is None or not thread.is_alive():
            self._thread = None
            self._stopping = False
        self._deadline = None
        return report if report.pending == 0 else self.report()

    def take_pending(self) -> list[T]:
        """Remove and return the items still queued (for a spool), after a shutdown."""
        items: list[T] = []
        while self._queue:
            item = self._queue.popleft()
            if not isinstance(item, _Marker):
                items.append(item)
            else:
                item.event.set()
        return items

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            sink=self.name,
            sent=self.sent,
            dropped=self.dropped,
            pending=self.pending,
            errors=list(self.errors),
        )

    # -- the worker's side --------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                if self._stopping:
                    return
                self._wake.wait(self.interval)
                self._wake.clear()
                continue
            batch: list[T] = []
            markers: list[_Marker] = []
            while queue and len(batch) < self.batch_size:
                item = queue.popleft()
                if isinstance(item, _Marker):
                    markers.append(item)
                    break
                batch.append(item)
            if batch:
                self._in_flight = len(batch)
                delivered = self._deliver(batch)
                self._in_flight = 0
                if not delivered:
                    # Shutdown deadline passed: put the batch back for take_pending().
                    queue.extendleft(reversed(batch))
                    for marker in markers:
                        marker.event.set()
                    return
            for marker in markers:
                marker.event.set()

    def _deliver(self, batch: list[T]) -> bool:
        attempt = 0
        while True:
            try:
                self._handle_batch(batch)
            except RetryLater as retry:
                attempt += 1
                delay = min(self.max_backoff, 0.05 * (2 ** min(attempt, 10)))
                delay = delay * (0.5 + random.random() / 2)
                if retry.after is not None:
                    delay = max(delay, retry.after)
                if self._deadline is not None and time.monotonic() + delay > self._deadline:
                    return False
                if attempt == 1:
                    logger.info("waxell-observe: %s will retry a batch: %s", self.name, retry)
                self._sleep(delay)
                continue
            except Exception as exc:  # noqa: BLE001 - the worker must survive any handler error
                logger.exception("waxell-observe: %s failed to deliver %d record(s)", self.name, len(batch))
                self.errors.append(f"{type(exc).__name__}: {exc}")
                del self.errors[:-20]
                self._count_drop(len(batch), f"{type(exc).__name__}: {exc}")
                return True
            self.sent += len(batch)
            return True

    def _sleep(self, delay: float) -> None:
        end = time.monotonic() + delay
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return
            time.sleep(min(remaining, 0.05))
