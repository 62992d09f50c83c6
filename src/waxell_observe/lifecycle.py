"""Process-wide lifecycle: ``flush``, ``shutdown`` and the ``atexit`` drain."""

from __future__ import annotations

import atexit
import logging
import threading
import time

from waxell_observe.delivery.report import DeliveryReport

__all__ = ["flush", "shutdown", "EXIT_TIMEOUT_SECONDS"]

logger = logging.getLogger("waxell_observe")

EXIT_TIMEOUT_SECONDS = 2.0
"""How long interpreter exit may wait for delivery; what is left is spooled or reported."""

_shutdown_lock = threading.Lock()


def flush(timeout: float | None = None) -> DeliveryReport:
    """Block until everything recorded so far is delivered (or ``timeout`` seconds pass).

    Returns a :class:`~waxell_observe.delivery.report.DeliveryReport`: records ``sent``
    and ``dropped`` since the process started, and those still ``pending`` if the timeout
    expired, in total and per sink (``report.sinks``).
    """
    from waxell_observe.plugins import plugin_manager

    reports = plugin_manager().hook.on_flush(timeout=timeout)
    return DeliveryReport.merge([r for r in reports if isinstance(r, DeliveryReport)])


def shutdown(timeout: float | None = EXIT_TIMEOUT_SECONDS * 5) -> DeliveryReport:
    """Flush everything (at most ``timeout`` seconds), then stop the background workers.

    Safe to call more than once; recording afterwards starts the workers again.
    """
    from waxell_observe.plugins import plugin_manager

    with _shutdown_lock:
        started = time.monotonic()
        reports = plugin_manager().hook.on_shutdown(timeout=timeout)
        report = DeliveryReport.merge([r for r in reports if isinstance(r, DeliveryReport)])
        if report.dropped or report.pending:
            logger.warning(
                "waxell-observe: shutdown after %.2fs: %d sent, %d dropped, %d pending, %d spooled",
                time.monotonic() - started,
                report.sent,
                report.dropped,
                report.pending,
                report.spooled,
            )
        return report


def _at_exit() -> None:
    from waxell_observe import plugins

    if plugins._pm is None:  # nothing was ever recorded: nothing to drain
        return
    try:
        shutdown(timeout=EXIT_TIMEOUT_SECONDS)
    except Exception:  # noqa: BLE001 - never fail interpreter exit
        logger.exception("waxell-observe: shutdown at exit failed")


atexit.register(_at_exit)
