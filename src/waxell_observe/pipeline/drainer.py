"""The drainer: one background thread per process that moves journal frames to destinations.

For every journal it drains (this process's own, and those of dead processes it adopted) it
keeps one :class:`Consumer` per destination, each with its own acknowledged position, saved
next to the journal (``ack-<hash>``), so a destination that is down holds back nobody else
and a process adopting the journal resumes where the dead one stopped. Route frames tell
which destinations a frame goes to; every segment starts with the routes again.

Delivery is at least once: a crash between a write and its acknowledgement delivers the
batch again, and every destination's writes are idempotent (record ids chosen by the SDK).

A destination whose writes take a round trip (:class:`~waxell_observe.pipeline.destination.Pipelined`:
the control plane) gets its next batch while it is still storing the previous one: the batch is
handed over on this thread and sent on a daemon thread of its own (:class:`Sending`), at most
``max_in_flight`` at once. Acknowledgements stay in journal order: a batch is acknowledged when
it and every batch before it were delivered; when one fails, the batches after it are given up
(their outcomes ignored once they end) and handed over again after it.

Failures: :class:`~waxell_observe.pipeline.destination.RetryLater` backs the consumer off
(exponential with jitter, ``Retry-After`` honoured); any other error splits the batch in
halves until the frame at fault is found, which is dropped and counted with its reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from waxell_observe.pipeline import frames as fr
from waxell_observe.pipeline.destination import Delivered, Destination, RetryLater
from waxell_observe.pipeline.drain import (
    BATCH_FRAMES,
    GATHER_BYTES,
    Consumer,
    Drain,
    InFlight,
    _backlog_bytes,
    hopeless,
)
from waxell_observe.pipeline.journal import Journal
from waxell_observe.pipeline.layout import peek, segment_numbers, split_position
from waxell_observe.pipeline.ownership import journal_directories, remove_journal, try_adopt
from waxell_observe.pipeline.sending import Sending

__all__ = ["Drainer", "Consumer", "Drain", "DestinationFactory", "hopeless"]

logger = logging.getLogger("waxell_observe")

IDLE_WAIT = 0.05
GATHER_SECONDS = 0.1
ADOPT_INTERVAL = 1.0
BASE_BACKOFF = 0.1
MAX_BACKOFF = 2.0
"""Seconds between retries at most (before jitter: half to all of it), after failures that were quick
(a closed port, an error answer): such a destination is tried again at least this often, so a backlog
starts moving within that time of a restart, and a try costs one connection attempt."""
SLOW_MAX_BACKOFF = 10.0
"""The cap after a failed delivery that took :data:`SLOW_ATTEMPT` seconds or more (a hung server: each
try holds the drainer for its timeout, so it is not repeated every two seconds)."""
SLOW_ATTEMPT = 1.0

_NOT_THE_DATA = (ImportError, RuntimeError, OSError, MemoryError, RecursionError)
"""Errors of the process or the machine, not of the frames being delivered: never a reason to drop."""

DestinationFactory = Callable[[str, dict[str, Any]], Destination | None]
"""``(kind, settings) -> Destination`` for one entry of a route (``store``, ``remote``, ...)."""


class Drainer:
    """Drains journals to destinations on one daemon thread."""

    def __init__(self, factory: DestinationFactory, root_for_adoption: Callable[[], list[Path]]) -> None:
        self._factory = factory
        self._roots = root_for_adoption
        self.destinations: dict[str, Destination] = {}
        self.drains: list[Drain] = []
        self.sent: dict[str, int] = {}
        self.dropped: dict[str, dict[str, int]] = {}
        self.errors: dict[str, list[str]] = {}
        self.adopted = 0
        self.error_count = 0
        """Errors seen since the process started (``errors`` keeps the last ones per destination)."""
        self._lock = threading.RLock()
        self._progress = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._next_adopt = 0.0
        self._unresolved_logged: set[tuple[Path, str]] = set()
        self._factory_failed: set[str] = set()
        self._urgent = 0
        """Flushes waiting: deliver whatever is there without gathering."""

    # -- journals ------------------------------------------------------------------------------

    def add_journal(self, journal: Journal) -> None:
        with self._lock:
            self.drains.append(Drain(journal.directory, journal=journal))
        self.ensure_running()

    def ensure_running(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive() and not self._stop:
            return
        with self._lock:
            current = self._thread
            if current is not None and current.is_alive():
                if not self._stop:
                    return
                current.join(0.5)  # a stopping thread finishes its delivery first: never two at once
                if current.is_alive():
                    return
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="waxell-drainer", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop:
            try:
                busy = self.cycle()
            except Exception:  # noqa: BLE001 - the drainer must survive anything; logged
                logger.exception("waxell-observe: the journal drainer failed a cycle")
                busy = False
            if self._stop:
                break
            if not busy:
                self._wake.wait(IDLE_WAIT)
                self._wake.clear()

    def cycle(self) -> bool:
        """Deliver what is waiting once around; True when something was delivered."""
        busy = False
        now = time.monotonic()
        if now >= self._next_adopt:
            self._next_adopt = now + ADOPT_INTERVAL
            self.adopt()
            for drain in list(self.drains):  # destinations that could not be opened: try again
                for route, (spec, pos) in list(drain.unresolved.items()):
                    self._add_route(drain, route, [fr.ROUTE, route, "", dict(spec)], pos)
        for drain in list(self.drains):
            self._scan_routes(drain)
            for consumer in list(drain.consumers.values()):
                if self._stop:
                    return False
                if consumer.backing_off and not consumer.in_flight and not consumer.abandoned:
                    continue
                if self._step(consumer):
                    busy = True
            self._release(drain)
        with self._progress:
            self._progress.notify_all()
        return busy

    def _scan_routes(self, drain: Drain) -> None:
        """Move ``drain.scan`` to the end of what is written, registering the routes met (this
        process's own journal tells its routes directly; another's is read frame by frame)."""
        journal = drain.journal
        if journal is not None:
            head = journal.head()
            log = journal.route_log
            while drain.routes_seen < len(log):
                route, data, pos = log[drain.routes_seen]
                drain.routes_seen += 1
                if route not in drain.routes:
                    try:
                        self._add_route(drain, route, fr.decode(data), pos)
                    except Exception:  # noqa: BLE001 - cannot happen for frames we encoded; logged
                        logger.exception("waxell-observe: unreadable route frame in %s", drain.directory)
            drain.scan = head
            return
        end = None
        for pos, following, kind, route in drain.reader.walk(drain.scan, end):
            if kind == fr.ROUTE and route not in drain.routes:
                stored = drain.reader.frame_at(pos)
                if stored is None:
                    break
                try:
                    self._add_route(drain, route, fr.decode(stored), pos)
                except Exception:  # noqa: BLE001 - a torn route frame: its frames cannot be routed
                    logger.exception("waxell-observe: unreadable route frame in %s", drain.directory)
            drain.scan = following

    def _add_route(self, drain: Drain, route: int, frame: list[Any], pos: int) -> None:
        spec = frame[3] if len(frame) > 3 and isinstance(frame[3], dict) else {}
        keys: list[str] = drain.routes.get(route, [])
        for kind, settings in spec.items():
            destination = self._destination(kind, settings if isinstance(settings, dict) else {})
            if destination is None:
                # Not deliverable now (an import failed, a plugin is missing): the route's frames
                # stay journaled, and the destination is tried again later.
                pending = drain.unresolved.setdefault(route, ({}, pos))
                pending[0][kind] = settings
                if (drain.directory, kind) not in self._unresolved_logged:
                    self._unresolved_logged.add((drain.directory, kind))
                    self._note_error(
                        str(kind), f"cannot open destination {kind!r}; its records stay journaled"
                    )
                continue
            if route in drain.unresolved:
                drain.unresolved[route][0].pop(kind, None)
                if not drain.unresolved[route][0]:
                    del drain.unresolved[route]
            keys.append(destination.key)
            consumer = drain.consumers.get(destination.key)
            if consumer is None:
                start = drain.acks.get(destination.key, pos)
                consumer = drain.consumers[destination.key] = Consumer(drain, destination, max(start, 0))
                consumer.recall_notes()
            consumer.routes.add(route)
        drain.routes[route] = keys

    def _destination(self, kind: str, settings: dict[str, Any]) -> Destination | None:
        try:
            made = self._factory(kind, settings)
        except Exception:  # noqa: BLE001 - a destination that cannot be made is logged (once), not fatal
            if kind not in self._factory_failed:
                self._factory_failed.add(kind)
                logger.exception(
                    "waxell-observe: cannot open destination %s; its records stay journaled", kind
                )
            return None
        if made is None:
            return None
        existing = self.destinations.get(made.key)
        if existing is not None:
            return existing
        self.destinations[made.key] = made
        return made

    def _step(self, consumer: Consumer) -> bool:
        """Acknowledge what was delivered, then hand the consumer its next batch; True when
        something moved."""
        busy = self._harvest(consumer) if consumer.in_flight or consumer.abandoned else False
        if consumer.backing_off or consumer.abandoned:
            return busy
        destination = consumer.destination
        depth = getattr(destination, "max_in_flight", 1)
        pipelined = depth > 1 and hasattr(destination, "submit")
        if consumer.in_flight and not pipelined:
            return busy
        if pipelined and self._in_flight_to(destination) >= depth:
            return busy
        drain = consumer.drain
        end = drain.scan
        start = consumer.read_position
        if start >= end:
            return busy
        if (
            not self._urgent
            and not self._stop
            and _backlog_bytes(start, end) < GATHER_BYTES
            and time.monotonic() - consumer.last_delivery < GATHER_SECONDS
        ):
            return busy
        limit = min(consumer.batch_frames, getattr(destination, "max_batch_frames", BATCH_FRAMES))
        raw, after = drain.reader.read(start, max_frames=limit, end=end)
        if not raw:
            return busy
        routes = consumer.routes
        batch: list[list[Any]] = []
        name = destination.name
        passed: dict[int, int] = {}
        for data in raw:
            kind, route = peek(data)
            if kind == fr.ROUTE or route not in routes:
                continue
            passed[route] = passed.get(route, 0) + 1
            try:
                batch.append(fr.decode(data))
            except Exception as exc:  # noqa: BLE001 - a torn or foreign frame: counted
                self._count_drop(name, f"unreadable journal frame ({type(exc).__name__})", 1)
        if pipelined:
            consumer.in_flight.append(InFlight(batch, after, passed, self._submit(destination, batch)))
            consumer.last_delivery = time.monotonic()
            return True
        if batch and not self._deliver(consumer, batch):
            return busy
        self._advance(consumer, after, passed)
        return True

    def _in_flight_to(self, destination: Destination) -> int:
        """Batches in flight to ``destination`` from every journal (adopted ones share it)."""
        return sum(
            len(consumer.in_flight) + len(consumer.abandoned)
            for drain in self.drains
            for consumer in drain.consumers.values()
            if consumer.destination is destination
        )

    def _submit(self, destination: Any, batch: list[list[Any]]) -> Sending:
        """Hand ``batch`` to a pipelined destination; the rest of its delivery runs on its own thread."""
        if not batch:
            return Sending.ended(Delivered())
        try:
            send = destination.submit(batch)
        except Exception as exc:  # noqa: BLE001 - judged in journal order, as a failed delivery
            return Sending.ended(error=exc)
        return Sending.start(send, self._wake.set)

    def _harvest(self, consumer: Consumer) -> bool:
        """Acknowledge, in journal order, the batches in flight whose delivery ended; at the first
        that failed, give up those after it (they are handed over again once it is through)."""
        if consumer.abandoned:
            running = []
            for sending in consumer.abandoned:
                if not sending.done():
                    running.append(sending)
                elif isinstance(sending.outcome, Delivered) and sending.outcome.notes:
                    consumer.keep_notes(sending.outcome.notes)  # ids the server chose are facts still
            consumer.abandoned = running
        busy = False
        while consumer.in_flight and consumer.in_flight[0].sending.done():
            item = consumer.in_flight.popleft()
            error = item.sending.error
            if error is not None:
                consumer.abandoned.extend(later.sending for later in consumer.in_flight)
                consumer.in_flight.clear()
                if not self._failed(consumer, item.batch, error):
                    return busy
            elif item.batch:
                self._accept(consumer, item.batch, item.sending.outcome)
            self._advance(consumer, item.after, item.passed)
            busy = True
        return busy

    def _advance(self, consumer: Consumer, after: int, passed: dict[int, int]) -> None:
        """Acknowledge up to ``after`` (the frames of each route in ``passed`` are through)."""
        consumer.position = after
        for route, count in passed.items():
            consumer.passed[route] = consumer.passed.get(route, 0) + count
        consumer.last_delivery = time.monotonic()
        consumer.save()

    def _deliver(self, consumer: Consumer, batch: list[list[Any]]) -> bool:
        """Deliver ``batch``; False when the consumer must back off (nothing acknowledged)."""
        started = time.monotonic()
        try:
            outcome = consumer.destination.deliver(batch)
        except Exception as exc:  # noqa: BLE001 - judged by _failed
            return self._failed(consumer, batch, exc, held=time.monotonic() - started)
        self._accept(consumer, batch, outcome)
        return True

    def _failed(
        self, consumer: Consumer, batch: list[list[Any]], exc: BaseException, *, held: float = 0.0
    ) -> bool:
        """A delivery of ``batch`` raised ``exc`` after holding the drainer ``held`` seconds: back off
        (False), or find the frame at fault, drop only it and deliver the rest (True when all of that
        went through)."""
        destination = consumer.destination
        if isinstance(exc, RetryLater):
            self._back_off(consumer, exc, held)
            return False
        if isinstance(exc, _NOT_THE_DATA) or not isinstance(exc, Exception):
            # says nothing about the frames: keep them, try again later
            logger.error(
                "waxell-observe: %s failed to deliver (%s); retrying", destination.name, exc, exc_info=exc
            )
            self._back_off(consumer, RetryLater(f"{type(exc).__name__}: {exc}"), held)
            return False
        if len(batch) == 1:
            reason = f"{type(exc).__name__}: {exc}"
            logger.error(
                "waxell-observe: %s refused a %s record for good (%s); dropped",
                destination.name, fr.KIND_NAMES[batch[0][0]] if 0 <= batch[0][0] < 7 else "?", reason,
                exc_info=exc,
            )  # fmt: skip
            self._note_error(destination.name, reason)
            self._count_drop(destination.name, reason, 1)
            return True
        middle = len(batch) // 2
        return self._deliver(consumer, batch[:middle]) and self._deliver(consumer, batch[middle:])

    def _accept(self, consumer: Consumer, batch: list[list[Any]], outcome: Delivered | None) -> None:
        """``batch`` was delivered: count what was sent and what was refused, keep the notes."""
        destination = consumer.destination
        refused = outcome.refused if isinstance(outcome, Delivered) else {}
        if isinstance(outcome, Delivered) and outcome.notes:
            consumer.keep_notes(outcome.notes)
        recalled = outcome.recalled if isinstance(outcome, Delivered) else {}
        count = len(batch) - sum(refused.values())
        for reason, number in refused.items():
            self._note_error(destination.name, reason)
            self._count_drop(destination.name, reason, number)
        moved: list[tuple[str, int]] = []
        with self._lock:
            sent = self.sent.get(destination.name, 0) + count
            for reason, number in recalled.items():  # counted as sent in an earlier batch: dropped now
                number = min(number, sent)
                sent -= number
                moved.append((reason, number))
            self.sent[destination.name] = sent
        for reason, number in moved:
            if number:
                self._count_drop(destination.name, reason, number)
        if consumer.failures:
            logger.info("waxell-observe: %s reachable again (%s)", destination.name, destination.key)
        consumer.failures = 0
        consumer.retry_at = 0.0
        consumer.persistent = False

    def _back_off(self, consumer: Consumer, retry: RetryLater, held: float) -> None:
        """Try ``consumer`` again later; ``held``: seconds the failed delivery held the drainer (0 for a
        pipelined one, which failed on its own thread)."""
        consumer.failures += 1
        cap = SLOW_MAX_BACKOFF if held >= SLOW_ATTEMPT else MAX_BACKOFF
        delay = min(cap, BASE_BACKOFF * (2 ** min(consumer.failures - 1, 16)))
        delay *= 0.5 + random.random() / 2.0
        if retry.after is not None:
            delay = max(delay, retry.after)
        consumer.retry_at = time.monotonic() + delay
        consumer.persistent = retry.persistent
        consumer.last_error = str(retry)
        name = consumer.destination.name
        if consumer.failures == 1:
            logger.warning(
                "waxell-observe: %s unavailable (%s); records stay journaled, retrying in %.2fs",
                name, retry, delay,
            )  # fmt: skip
            self._note_error(name, str(retry))
        else:
            logger.debug("waxell-observe: %s still unavailable (%s)", name, retry)

    def _count_drop(self, name: str, reason: str, count: int) -> None:
        with self._lock:
            reasons = self.dropped.setdefault(name, {})
            first = reason not in reasons
            reasons[reason] = reasons.get(reason, 0) + count
        if first:
            logger.warning("waxell-observe: %s dropped %d record(s): %s", name, count, reason)

    def _note_error(self, name: str, text: str) -> None:
        with self._lock:
            self.error_count += 1
            errors = self.errors.setdefault(name, [])
            errors.append(text)
            del errors[:-20]

    def _release(self, drain: Drain) -> None:
        """Delete what every destination of ``drain`` has passed; finish adopted journals."""
        if drain.unresolved:
            return  # frames wait for a destination that could not be opened yet: keep everything
        if not drain.consumers:
            if not drain.own and drain.scan_done():
                self._finish_adopted(drain)
            return
        lowest = min(c.position for c in drain.consumers.values())
        segment, _ = split_position(lowest)
        if drain.journal is not None:
            drain.journal.release_before(lowest)
            return
        for number in segment_numbers(drain.directory):
            if number < segment:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(drain.directory / f"seg-{number:08d}.wj")
        if all(c.position >= drain.scan for c in drain.consumers.values()) and drain.scan_done():
            self._finish_adopted(drain)

    def _finish_adopted(self, drain: Drain) -> None:
        drain.reader.close()
        remove_journal(drain.directory)
        if drain.lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(drain.lock_fd)
        with self._lock:
            if drain in self.drains:
                self.drains.remove(drain)

    # -- adoption ------------------------------------------------------------------------------

    def adopt(self) -> int:
        """Take over the journals of dead processes under the known roots; returns how many."""
        mine = {drain.directory for drain in self.drains}
        taken = 0
        for root in self._roots():
            for directory in journal_directories(root):
                if directory in mine:
                    continue
                fd = try_adopt(directory)
                if fd is None:
                    continue
                drain = Drain(directory, lock_fd=fd)
                with self._lock:
                    self.drains.append(drain)
                taken += 1
        if taken:
            self.adopted += taken
            logger.info("waxell-observe: adopted %d journal(s) of ended processes", taken)
        return taken

    # -- flush and stop ------------------------------------------------------------------------

    def pending(self, drain: Drain, consumer: Consumer) -> int:
        """Frames routed to ``consumer`` that it has not passed yet (this process's own journal:
        from the journal's per-route counts, no reading)."""
        journal = drain.journal
        if journal is None:
            return 0
        counts = dict(journal.counts)
        return sum(max(0, counts.get(route, 0) - consumer.passed.get(route, 0)) for route in consumer.routes)

    def wait(self, targets: dict[Drain, int], deadline: float | None, *, only: str | None = None) -> bool:
        """Wait until every consumer (or only the one of destination ``only``) of the drains in
        ``targets`` passed its target position. False at the ``deadline``, or as soon as every
        consumer still behind is failing and will not retry before it (or failing persistently)."""
        self.ensure_running()
        with self._lock:
            self._urgent += 1
        self._wake.set()
        try:
            with self._progress:
                while True:
                    behind = self._behind(targets, only)
                    if not behind:
                        return True
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return False
                    if all(c is not None and hopeless(c, deadline) for c in behind):
                        return False
                    remaining = 0.05 if deadline is None else max(0.0, min(0.05, deadline - now))
                    self._wake.set()
                    self._progress.wait(remaining)
        finally:
            with self._lock:
                self._urgent -= 1

    @staticmethod
    def _behind(targets: dict[Drain, int], only: str | None) -> list[Consumer | None]:
        behind: list[Consumer | None] = []
        for drain, target in targets.items():
            if drain.scan < target or (only is None and drain.unresolved):
                behind.append(None)  # routes not scanned that far yet, or a destination not opened yet
                continue
            for key, consumer in list(drain.consumers.items()):
                if (only is None or key == only) and consumer.position < target:
                    behind.append(consumer)
        return behind

    def stop(self, timeout: float) -> None:
        """Ask the thread to stop and wait at most ``timeout`` (a delivery in progress may outlive
        the wait: the thread is a daemon and stops at its next check)."""
        self._stop = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, timeout))
        self._thread = thread if thread is not None and thread.is_alive() else None

    def running(self) -> bool:
        """The thread is alive, or a batch it handed over is still being sent."""
        if self._thread is not None and self._thread.is_alive():
            return True
        return any(
            sending.thread is not None and sending.thread.is_alive()
            for drain in list(self.drains)
            for consumer in list(drain.consumers.values())
            for sending in [*(item.sending for item in list(consumer.in_flight)), *consumer.abandoned]
        )
