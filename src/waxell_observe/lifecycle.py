"""Process-wide lifecycle: ``flush``, ``shutdown`` and the ``atexit`` drain."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

from waxell_observe.delivery.report import DeliveryReport

__all__ = ["flush", "shutdown", "EXIT_TIMEOUT_SECONDS"]

logger = logging.getLogger("waxell_observe")

EXIT_TIMEOUT_SECONDS = 2.0
"""How long interpreter exit may wait for delivery; what is left is spooled or reported."""
_EXIT_TEARDOWN_SECONDS = 0.25
"""Part of the exit budget left to the interpreter's own teardown after the plugins' shutdown."""

_shutdown_lock = threading.Lock()


def flush(timeout: float | None = None) -> DeliveryReport:
    """Block until everything recorded so far is delivered (or ``timeout`` seconds pass).

    Returns a :class:`~waxell_observe.delivery.report.DeliveryReport`: records ``sent``
    and ``dropped`` since the process started, and those still ``pending`` if the timeout
    expired, in total and per sink (``report.sinks``).
    """
    reports = _call_within("on_flush", timeout)
    return DeliveryReport.merge(_flatten(reports))


def _flatten(reports: list[Any]) -> list[DeliveryReport]:
    """Plugin reports, a merged one (the pipeline's, one per destination) opened up."""
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
    """Call every implementation of ``hook_name`` (in pluggy's order), each with the time left
    of ONE shared ``timeout``: all plugins together take at most ``timeout`` seconds."""
    from waxell_observe.plugins import plugin_manager

    caller = getattr(plugin_manager().hook, hook_name)
    impls = caller.get_hookimpls()
    if timeout is None or any(impl.hookwrapper or impl.wrapper for impl in impls):
        return list(caller(timeout=timeout))
    deadline = time.monotonic() + timeout
    results = []
    for impl in reversed(impls):  # pluggy calls the last registered (and tryfirst) first
        remaining = max(0.0, deadline - time.monotonic())
        kwargs = {"timeout": remaining} if "timeout" in impl.argnames else {}
        results.append(_bounded(impl.function, kwargs, remaining, impl.plugin_name, hook_name))
    return results


def _bounded(function: Any, kwargs: dict[str, Any], seconds: float, plugin: str, hook_name: str) -> Any:
    """Call ``function`` on a helper thread and wait at most ``seconds``: a plugin that blocks
    (ignoring its timeout) cannot hold ``flush()`` or interpreter exit past the budget."""
    outcome: list[Any] = []

    def call() -> None:
        outcome.append(function(**kwargs))

    thread = threading.Thread(target=call, name=f"waxell-{hook_name}-{plugin}", daemon=True)
    thread.start()
    thread.join(seconds + 0.01)
    if thread.is_alive():
        logger.warning(
            "waxell-observe: plugin %r did not return from %s within %.2fs; not waited for", plugin, hook_name, seconds
        )
        return None
    return outcome[0] if outcome else None


def shutdown(timeout: float | None = EXIT_TIMEOUT_SECONDS * 5) -> DeliveryReport:
    """Flush everything (at most ``timeout`` seconds), then stop the background workers.

    Safe to call more than once; recording afterwards starts the workers again.
    """
    with _shutdown_lock:
        started = time.monotonic()
        reports = _call_within("on_shutdown", timeout)
        report = DeliveryReport.merge(_flatten(reports))
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
