"""Process-wide lifecycle: ``flush_sync`` (blocking), ``flush`` (its coroutine twin), ``shutdown`` and
the ``atexit`` drain."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when reports are merged: every init() imports this module
    from waxell_observe.delivery.report import DeliveryReport

__all__ = ["flush", "flush_sync", "shutdown", "EXIT_TIMEOUT_SECONDS"]

logger = logging.getLogger("waxell_observe")

EXIT_TIMEOUT_SECONDS = 2.0
"""How long interpreter exit may wait for delivery; what is left is spooled or reported."""
_EXIT_TEARDOWN_SECONDS = 0.25
"""Part of the exit budget left to the interpreter's own teardown after the plugins' shutdown."""

_shutdown_lock = threading.Lock()


def flush_sync(timeout: float | None = None) -> DeliveryReport:
    """Block until everything recorded so far is delivered (or ``timeout`` seconds pass).

    Returns a :class:`~waxell_observe.delivery.report.DeliveryReport`: records ``sent``
    and ``dropped`` since the process started, and those still ``pending`` if the timeout
    expired, in total and per sink (``report.sinks``).
    """
    from waxell_observe.delivery.report import DeliveryReport

    reports = _call_within("on_flush", timeout)
    return DeliveryReport.merge(_flatten(reports))


async def flush(timeout: float | None = None) -> DeliveryReport:
    """:func:`flush_sync` as a coroutine: the wait happens on a worker thread, so the event
    loop keeps running while the records are delivered. Same report."""
    import asyncio  # ~15 ms: a program that never awaits flush() does not pay for it

    return await asyncio.to_thread(flush_sync, timeout)


def _flatten(reports: list[Any]) -> list[DeliveryReport]:
    """Plugin reports, a merged one (the pipeline's, one per destination) opened up."""
    from waxell_observe.delivery.report import DeliveryReport

    flat: list[DeliveryReport] = []
    for report in reports:
        if not isinstance(report, DeliveryReport):
            continue
        if report.sink == "all":
            flat.extend(report.sinks.values())
        else:
            flat.append(report)
    return flat


def _call_within(hook_name: str, timeout: float | None) -> list[Any]:
    """Call every implementation of ``hook_name`` at once, each on its own thread with the whole
    ``timeout``, and wait at most ``timeout`` for them all: a plugin that blocks cannot starve the
    others (nor hold the caller past the budget). ``None`` waits for all."""
    from waxell_observe.plugins import plugin_manager

    caller = getattr(plugin_manager().hook, hook_name)
    impls = caller.get_hookimpls()
    if timeout is None or any(impl.hookwrapper or impl.wrapper for impl in impls):
        return list(caller(timeout=timeout))
    deadline = time.monotonic() + timeout
    ordered = list(reversed(impls))  # pluggy's order: tryfirst ones first
    first = [impl for impl in ordered if impl.tryfirst]
    rest = [impl for impl in ordered if not impl.tryfirst]
    results: list[Any] = []
    for impl in first:  # one after the other (e.g. buffered calls written before the pipeline drains)
        results.extend(_finish([_start(impl, hook_name, deadline)], hook_name, deadline))
    results.extend(_finish([_start(impl, hook_name, deadline) for impl in rest], hook_name, deadline))
    return results


_GRACE = 0.1
"""Plugins are told this much less than the time left, so that one returning at its own deadline
is still waited for."""


def _start(impl: Any, hook_name: str, deadline: float) -> _Call:
    remaining = max(0.0, deadline - time.monotonic() - _GRACE)
    kwargs = {"timeout": remaining} if "timeout" in impl.argnames else {}
    return _Call(impl.function, kwargs, impl.plugin_name, hook_name)


def _finish(calls: list[_Call], hook_name: str, deadline: float) -> list[Any]:
    results = []
    for call in calls:
        call.thread.join(max(0.0, deadline - time.monotonic()) + 0.02)
        if call.thread.is_alive():
            logger.warning(
                "waxell-observe: plugin %r did not return from %s in time; not waited for",
                call.plugin,
                hook_name,
            )
            continue
        results.extend(call.outcome)
    return results


class _Call:
    """One plugin's hook call on a daemon thread of its own."""

    def __init__(self, function: Any, kwargs: dict[str, Any], plugin: str, hook_name: str) -> None:
        self.plugin = plugin
        self.outcome: list[Any] = []
        self.thread = threading.Thread(
            target=self._run, args=(function, kwargs), name=f"waxell-{hook_name}-{plugin}"
        )
        self.thread.daemon = True
        self.thread.start()

    def _run(self, function: Any, kwargs: dict[str, Any]) -> None:
        self.outcome.append(function(**kwargs))


def shutdown(timeout: float | None = EXIT_TIMEOUT_SECONDS * 5) -> DeliveryReport:
    """Flush everything (at most ``timeout`` seconds), then stop the background workers.

    Safe to call more than once; recording afterwards starts the workers again. Also completes
    the process run ``init()`` opened for ``WAXELL_AGENT_NAME`` (first, so that it is delivered)
    and forgets ``init()`` (its default ``on_policy_block`` handler and process identity): a
    later ``init()`` acts again.
    """
    from waxell_observe import initialization
    from waxell_observe.delivery.report import DeliveryReport

    initialization.close_ambient_run()
    with _shutdown_lock:
        started = time.monotonic()
        reports = _call_within("on_shutdown", timeout)
        report = DeliveryReport.merge(_flatten(reports))
        initialization.forget()
        if report.dropped or report.pending or report.journaled:
            logger.warning(
                "waxell-observe: shutdown after %.2fs: %s",
                time.monotonic() - started,
                "; ".join(_describe(part) for part in (report.sinks.values() or [report])),
            )
        return report


def _describe(report: DeliveryReport) -> str:
    """One destination's line: sent, left journaled (delivered later), dropped with reasons."""
    text = f"{report.sink or 'all'}: {report.sent} sent"
    if report.journaled:
        text += f", {report.journaled} journaled (delivered by the next process)"
    elif report.pending:
        text += f", {report.pending} pending"
    if report.spooled:
        text += f", {report.spooled} spooled"
    if report.dropped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in report.drop_reasons.items())
        text += f", {report.dropped} dropped" + (f" ({reasons})" if reasons else "")
    return text


def _at_exit() -> None:
    from waxell_observe import plugins

    if plugins._pm is None:  # nothing was ever recorded: nothing to drain
        return
    try:
        shutdown(timeout=EXIT_TIMEOUT_SECONDS - _EXIT_TEARDOWN_SECONDS)
    except Exception:  # noqa: BLE001 - never fail interpreter exit
        logger.exception("waxell-observe: shutdown at exit failed")


atexit.register(_at_exit)
