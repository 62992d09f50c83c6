"""The process's pipeline: journals on the agent's side, the drainer behind them.

:func:`pipeline` returns the process's :class:`Pipeline`. The record hooks
(:mod:`waxell_observe.pipeline.plugin`) call :meth:`Pipeline.record`, which encodes nothing
itself: it finds (cached per configuration object) the journal and route for the run's
configuration and appends the frame. Everything else — reading the journal, writing the
store, talking to a control plane, adopting the journals of dead processes — happens on the
drainer's thread.

After ``os.fork()`` the child starts with a fresh pipeline: its records go to a journal of
its own, drained by its own thread (or, if it leaves through ``os._exit``, adopted by the
parent's drainer within a second or by the next process).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from waxell_observe.delivery.report import DeliveryReport
from waxell_observe.pipeline import frames
from waxell_observe.pipeline.destination import Destination
from waxell_observe.pipeline.drainer import Drainer, hopeless
from waxell_observe.pipeline.journal import Journal
from waxell_observe.process import fork_safe

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig

__all__ = ["Pipeline", "pipeline", "import_guard", "JOURNAL_MAX_BYTES", "recover", "reset", "existing"]

logger = logging.getLogger("waxell_observe")

import_guard = fork_safe(threading.RLock())
"""Held by the drainer while it imports what a destination needs (SQLAlchemy, httpx): a fork
waits for the import to finish, so a child never inherits a half-imported module."""


def _journal_max_bytes() -> int:
    raw = os.environ.get("WAXELL_JOURNAL_MAX_MB", "").strip()
    if raw:
        try:
            return max(1, int(float(raw) * (1 << 20)))
        except ValueError:
            logger.warning("waxell-observe: ignoring WAXELL_JOURNAL_MAX_MB=%r (expected megabytes)", raw)
    return 4 << 30


JOURNAL_MAX_BYTES = _journal_max_bytes()


REPORT_NAMES = {"store": "embedded"}
"""The name a report gives the destination of a route-spec kind, where they differ (a destination
reports under its own ``name``; this names one that is not open yet the same way)."""


def route_spec(config: ObserveConfig) -> dict[str, Any]:
    """Where the runs of ``config`` go, as written in route frames: the store or the control
    plane, and what plugins add (``on_route``)."""
    spec: dict[str, Any]
    if config.mode == "remote":
        spec = {"remote": {"api_url": config.api_url, "api_key": config.api_key}}
    else:
        spec = {"store": {"url": config.db_url}}
    from waxell_observe.plugins import plugin_manager

    try:
        answers = plugin_manager().hook.on_route(config=config)
    except Exception:  # noqa: BLE001 - a plugin never breaks recording; logged
        logger.exception("waxell-observe: a plugin failed to name its destinations (on_route)")
        answers = []
    for answer in answers:
        if isinstance(answer, dict):
            for kind, settings in answer.items():
                if kind not in spec and isinstance(settings, dict):
                    spec[str(kind)] = settings
    return spec


def make_destination(kind: str, settings: dict[str, Any]) -> Destination | None:
    """The destination for one route entry (built on the drainer's thread): ours, or a plugin's
    (``on_destination``)."""
    with import_guard:
        if kind == "store":
            from waxell_observe.pipeline.store_destination import StoreDestination

            return StoreDestination(str(settings.get("url") or ""))
        if kind == "remote":
            from waxell_observe.pipeline.remote_destination import RemoteDestination

            return RemoteDestination(str(settings.get("api_url") or ""), str(settings.get("api_key") or ""))
        from waxell_observe.plugins import plugin_manager

        made = plugin_manager().hook.on_destination(kind=kind, settings=settings)
        if made is not None:
            return made  # type: ignore[no-any-return]
    logger.warning(
        "waxell-observe: a journal names an unknown destination %r; its records cannot be delivered", kind
    )
    return None


class Pipeline:
    """Journals and the drainer of this process."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.journals: dict[str, Journal] = {}
        self.roots: set[str] = set()
        self._routes: dict[tuple[str, str], int] = {}
        self._cache: tuple[Any, Journal, int] | None = None
        self._lock = threading.Lock()
        self.drainer = Drainer(make_destination, self._adoption_roots)
        self.dropped: dict[str, int] = {}

    def _adoption_roots(self) -> list[Path]:
        return [Path(root) for root in sorted(self.roots)]

    # -- the agent's side ---------------------------------------------------------------------

    def route(self, config: ObserveConfig) -> tuple[Journal, int]:
        """The journal and route id for runs of ``config`` (cached for the same object)."""
        cache = self._cache
        if cache is not None and cache[0] is config and not cache[1].closed:
            return cache[1], cache[2]
        with self._lock:
            journal, route = self._route(config.journal_root, route_spec(config))
            self._cache = (config, journal, route)
            return journal, route

    def store_route(self, config: ObserveConfig) -> tuple[Journal, int]:
        """The journal and route id for frames meant for ``config``'s embedded store alone (the
        audit rows of runs a policy refused: no run exists for other destinations to hold)."""
        with self._lock:
            return self._route(config.journal_root, {"store": {"url": config.db_url}})

    def _route(self, root: str, spec: dict[str, Any]) -> tuple[Journal, int]:
        """(lock held) The journal of ``root`` and the id of the route to ``spec`` in it."""
        journal = self._journal(root)
        key = (journal.directory.name, repr(sorted(spec.items())))
        route = self._routes.get(key)
        if route is None:
            route = len(self._routes) + 1
            journal.add_route(route, frames.encode_route(route, spec))
            self._routes[key] = route
        return journal, route

    def _journal(self, root: str) -> Journal:
        journal = self.journals.get(root)
        if journal is None or journal.closed:
            journal = Journal(Path(root), max_bytes=JOURNAL_MAX_BYTES)
            self.journals[root] = journal
            self.roots.add(root)
            self.drainer.add_journal(journal)
        return journal

    # -- flush, shutdown, report --------------------------------------------------------------

    def flush(self, timeout: float | None) -> DeliveryReport:
        """Wait until everything journaled so far by this process is delivered (or ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        targets = {drain: drain.head() for drain in list(self.drainer.drains) if drain.own}
        if targets:
            self.drainer.wait(targets, deadline)
        return self.report()

    def _finish_adopted(self, deadline: float | None) -> None:
        drainer = self.drainer
        with drainer._lock:
            drainer._urgent += 1
        try:
            while deadline is None or time.monotonic() < deadline:
                adopted = [drain for drain in list(drainer.drains) if not drain.own]
                consumers = [c for drain in adopted for c in drain.consumers.values()]
                if not adopted or (consumers and all(hopeless(c, deadline) for c in consumers)):
                    return  # done, or every destination left fails for good / past the deadline
                drainer.wake()
                time.sleep(0.01)
        finally:
            with drainer._lock:
                drainer._urgent -= 1

    def _remote_key(self, config: ObserveConfig) -> str:
        from waxell_observe.pipeline.remote_destination import remote_key

        return remote_key(config.api_url, config.api_key)

    def remote_destination(self, config: ObserveConfig) -> Any:
        """The control-plane destination of ``config`` once the drainer opened it (else ``None``)."""
        return self.drainer.destinations.get(self._remote_key(config))

    def destination_error(self, config: ObserveConfig) -> str:
        key = self._remote_key(config)
        for drain in list(self.drainer.drains):
            consumer = drain.consumers.get(key)
            if consumer is not None and consumer.failures:
                return consumer.last_error
        return ""

    def flush_destination(self, config: ObserveConfig, timeout: float) -> bool:
        """Deliver what ``config``'s runs journaled so far to their control plane; True when done."""
        self.route(config)
        key = self._remote_key(config)
        deadline = time.monotonic() + timeout
        targets = {drain: drain.head() for drain in list(self.drainer.drains) if drain.own}
        return self.drainer.wait(targets, deadline, only=key)

    def shutdown(self, timeout: float | None) -> DeliveryReport:
        """Deliver within ``timeout``, then stop the drainer; what is left stays journaled for the
        next process (or any other running one) to deliver."""
        started = time.monotonic()
        reserve = 0.05 if timeout is None else min(0.1, timeout / 10)
        self.flush(None if timeout is None else max(0.0, timeout - reserve))
        # Time left: finish the journals adopted from ended processes too (a short program that
        # starts after a crash delivers what the crash left, not only its own records).
        self._finish_adopted(None if timeout is None else started + max(0.0, timeout - reserve))
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        self.drainer.stop(0.02 if left is None else min(left, 0.05))
        report = self.report()
        # A drainer still delivering (a request in flight past the budget) keeps reading the
        # journal's mappings until it notices the stop: leave them mapped for it.
        still_reading = self.drainer.running()
        with self._lock:
            for drain in list(self.drainer.drains):
                if drain.journal is not None:
                    complete = drain.done()
                    drain.journal.close(remove=complete, unmap=not still_reading)
                    self.drainer.drains.remove(drain)
                elif drain.lock_fd is not None:  # adopted and not finished: let another process go on
                    with contextlib.suppress(OSError):
                        os.close(drain.lock_fd)
                    self.drainer.drains.remove(drain)
            self.journals.clear()
            self._cache = None
            self._routes.clear()
        if not self.drainer.running():  # else a request may be in flight: closing could wait for it
            for destination in list(self.drainer.destinations.values()):
                with contextlib.suppress(Exception):
                    destination.close()
        self.drainer.destinations.clear()
        return report

    def report(self) -> DeliveryReport:
        """Per destination: records delivered, still journaled (safe on disk), dropped with reasons."""
        drainer = self.drainer
        names: dict[str, DeliveryReport] = {}
        journal_drops: dict[str, int] = {}
        for open_journal in list(self.journals.values()):
            for reason, count in open_journal.dropped.items():
                journal_drops[reason] = journal_drops.get(reason, 0) + count
        with drainer._lock:
            drains = list(drainer.drains)
            sent = dict(drainer.sent)
            dropped = {name: dict(reasons) for name, reasons in drainer.dropped.items()}
            errors = {name: list(texts) for name, texts in drainer.errors.items()}
        for drain in drains:
            if not drain.own:
                continue
            journal = drain.journal
            waiting = {route: spec for route, (spec, _pos) in list(drain.unresolved.items())}
            if journal is not None:  # routes the drainer has not met yet (it may not have run at all)
                for route, data, _pos in journal.route_log[drain.routes_seen :]:
                    if route not in drain.routes:
                        waiting[route] = frames.decode(data)[3]
            for route, spec in waiting.items():
                for kind in spec:  # a destination not opened yet: everything of its route waits
                    name = REPORT_NAMES.get(str(kind), str(kind))
                    report = names.setdefault(name, DeliveryReport(sink=name))
                    report.journaled += journal.counts.get(route, 0) if journal is not None else 0
            for consumer in list(drain.consumers.values()):
                name = consumer.destination.name
                report = names.setdefault(name, DeliveryReport(sink=name))
                report.journaled += drainer.pending(drain, consumer)
        for name in set(sent) | set(dropped) | set(names):
            report = names.setdefault(name, DeliveryReport(sink=name))
            report.pending = report.journaled
            report.sent = sent.get(name, 0)
            report.drop_reasons = dropped.get(name, {})
            report.dropped = sum(report.drop_reasons.values())
            report.errors = errors.get(name, [])
        if journal_drops:
            report = names.setdefault("journal", DeliveryReport(sink="journal"))
            report.drop_reasons = journal_drops
            report.dropped = sum(journal_drops.values())
        return DeliveryReport.merge(list(names.values()))

    def problems(self) -> tuple[int, int, int]:
        """(records dropped by destinations, records not journaled, delivery errors) so far."""
        drainer = self.drainer
        with drainer._lock:
            dropped = sum(sum(reasons.values()) for reasons in drainer.dropped.values())
            errors = drainer.error_count
        lost = sum(sum(journal.dropped.values()) for journal in list(self.journals.values()))
        return dropped, lost, errors

    # -- fork ---------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        for drain in self.drainer.drains:
            if drain.lock_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(drain.lock_fd)
        roots = self.roots
        self.__init__()  # type: ignore[misc]
        self.roots = set(roots)


_pipeline: Pipeline | None = None
_create_lock = fork_safe(threading.Lock())  # a fork waits while another thread creates the pipeline


def pipeline() -> Pipeline:
    """The process's pipeline (created on first use)."""
    current = _pipeline
    if current is not None:
        return current
    return _create()


def _create() -> Pipeline:
    global _pipeline
    with _create_lock:
        if _pipeline is None:
            _pipeline = Pipeline()
        return _pipeline


def existing() -> Pipeline | None:
    """The pipeline if one was created (nothing recorded otherwise)."""
    return _pipeline


def recover(timeout: float = 10.0, root: str | None = None) -> DeliveryReport:
    """Deliver now what processes that ended left journaled under ``root`` (default: the
    configured journal directory): adopt their journals and drain them, at most ``timeout``
    seconds. ``waxell-observe`` commands that read the store call this first, so what a program
    left at exit shows up. Returns what was delivered (journals left unfinished are let go)."""
    from waxell_observe.config import get_config

    current = pipeline()
    current.roots.add(root or get_config().journal_root)
    current.drainer.adopt()
    current.drainer.ensure_running()
    current._finish_adopted(time.monotonic() + timeout)
    return current.report()


def reset(timeout: float = 0.2) -> DeliveryReport | None:
    """Shut the process's pipeline down (within ``timeout``) and forget it: the next record starts
    a new one. What was not delivered stays journaled. For tests and embedding applications."""
    global _pipeline
    with _create_lock:
        current, _pipeline = _pipeline, None
    if current is None:
        return None
    report = current.shutdown(timeout)
    dropped, lost, errors = current.problems()
    retired_problems[0] += dropped
    retired_problems[1] += lost
    retired_problems[2] += errors
    return report


retired_problems = [0, 0, 0]
"""Problems of pipelines :func:`reset` retired: records dropped, not journaled, delivery errors."""


def _after_fork_child() -> None:
    if _pipeline is not None:
        _pipeline._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)
