"""Runs still open when the process ends are completed, not lost (reference SDK §2.2 item 8).

A run still open when the process ends is completed with status ``interrupted``, ``error_type``
``Interrupted`` and an error saying why; when its context enforces policies the ``run.error`` gate is
asked first (its warnings are recorded on the run); the records are then delivered. The three endings:

* **Interpreter exit** (``atexit``): a context entered and never left, a ``with`` block still running in a
  daemon thread, ``sys.exit()`` from another thread. Completed before the exit drain
  (:mod:`waxell_observe.lifecycle`, 2 s) delivers what is left.
* **SIGTERM** (``kill``, ``docker stop``, Kubernetes, systemd): Python runs no exit code for it, so a
  handler of ours completes the open runs, delivers (:data:`SIGNAL_TIMEOUT_SECONDS` in all; what is not
  delivered by then stays journaled for the next process), then puts the default action back and sends
  itself SIGTERM again: the process still dies of SIGTERM (exit status ``-15`` / ``143``), as without us.
  The handler is installed lazily (when the configuration is first set, by ``init()`` or the first run,
  else at a later run start), from the main thread only, and only when SIGTERM has its default action:
  a handler the program installed before is never replaced, and one it installs later replaces ours.
  ``WAXELL_SIGNAL_FINALIZER=0`` (``false``/``no``/``off``) installs nothing; not on Windows. A second
  SIGTERM while ours runs ends the process at once.
* **SIGINT** (Ctrl-C): no handler of ours. Python's raises ``KeyboardInterrupt`` in the main thread, which
  unwinds every ``with`` block and ``@observe`` call there: their runs complete as ``interrupted`` /
  ``Interrupted`` (:class:`~waxell_observe.WaxellContext`); the runs of other threads at interpreter exit.

Registered as the built-in plugin ``exit_finalizer`` (``WAXELL_DISABLE_PLUGINS=exit_finalizer`` turns all
of it off). A process killed by a signal it does not handle (``SIGKILL``, or SIGTERM with the finalizer
off) runs no exit code at all: its journal is delivered by the next process.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import waxell_observe.lifecycle  # noqa: F401 - its exit drain is registered first, so this runs before it
from waxell_observe.current import current_context
from waxell_observe.plugins import hookimpl
from waxell_observe.vocabulary import INTERRUPTED_ERROR_TYPE

if TYPE_CHECKING:
    from waxell_observe.config import ObserveConfig
    from waxell_observe.context import WaxellContext
    from waxell_observe.run import Run

__all__ = [
    "INTERRUPTED_ERROR",
    "INTERRUPTED_ERROR_TYPE",
    "SIGNAL_TIMEOUT_SECONDS",
    "SIGTERM_ERROR",
    "install_signal_handler",
]

logger = logging.getLogger("waxell_observe")

INTERRUPTED_ERROR = "the process exited while the run was open"
SIGTERM_ERROR = "the process received SIGTERM while the run was open"

SIGNAL_TIMEOUT_SECONDS = 5.0
"""The most SIGTERM's handler takes before the process dies: completing the runs (their ``run.error``
gates are asked during the first :data:`_GATES_SECONDS`), then delivery (at most the exit drain's
:data:`~waxell_observe.lifecycle.EXIT_TIMEOUT_SECONDS`)."""
_GATES_SECONDS = 1.5
"""``run.error`` gates are asked only this long after the ending began (the rest is for delivery)."""

_OFF = frozenset({"0", "false", "no", "off"})

_open: dict[str, tuple[Run, WaxellContext | None]] = {}
_signal_pending = True
"""True until the main thread had its chance to install the SIGTERM handler."""


@hookimpl
def on_configure(config: ObserveConfig) -> None:
    if _signal_pending:
        install_signal_handler()


@hookimpl
def on_run_start(run: Run) -> None:
    ctx = current_context.get()  # the context announcing this run (it is current already)
    # One dict operation each, atomic under the GIL (str keys): no lock on the agent's path.
    _open[run.run_id] = (run, ctx if ctx is not None and ctx._run is run else None)
    if _signal_pending:
        install_signal_handler()


@hookimpl
def on_run_end(run: Run) -> None:
    _open.pop(run.run_id, None)


def _finish_open_runs(error: str = INTERRUPTED_ERROR, gates_until: float | None = None) -> int:
    """Complete every open run as interrupted (``error``); ``run.error`` gates are asked until the
    monotonic time ``gates_until`` (default: :data:`_GATES_SECONDS` from now). Returns how many."""
    left = list(_open.values())  # copied in one C call: atomic under the GIL
    if not left:
        return 0  # nothing open: exit does not import the context machinery
    from waxell_observe.context.waxell_context import WaxellContext
    from waxell_observe.gating.recorders import at_run_failure

    if gates_until is None:
        gates_until = time.monotonic() + _GATES_SECONDS
    done = 0
    for run, ctx in left:
        if run.ended_at:
            continue  # ended on another thread meanwhile
        if ctx is not None and ctx.enforce_policy and not ctx._finished and time.monotonic() < gates_until:
            try:
                at_run_failure(ctx, INTERRUPTED_ERROR_TYPE, error)
            except Exception:  # noqa: BLE001 - never fail the process's end
                logger.exception("waxell-observe: the run.error gate of run %s failed", run.run_id)
        run.status = "interrupted"
        run.error_type = INTERRUPTED_ERROR_TYPE
        run.error = error
        try:
            WaxellContext._announce_end(run)  # on_run_end: the pipeline journals the end frame
        except Exception:  # noqa: BLE001 - never fail the process's end
            logger.exception("waxell-observe: could not complete run %s", run.run_id)
        if ctx is not None:
            ctx._finished = True  # a later exit of the context (the ambient run's) completes nothing again
        done += 1
    return done


def _at_exit() -> None:
    count = _finish_open_runs()
    if count:
        logger.warning("waxell-observe: %d run(s) still open at exit completed as interrupted", count)


# -- SIGTERM ------------------------------------------------------------------------------------------


def _signals_wanted() -> bool:
    return (
        os.name == "posix" and (os.environ.get("WAXELL_SIGNAL_FINALIZER") or "").strip().lower() not in _OFF
    )


def install_signal_handler() -> bool:
    """Install the SIGTERM handler (see the module) if this is the main thread, the finalizer is wanted
    and SIGTERM has its default action. Returns True when installed now. Called by the plugin hooks."""
    global _signal_pending
    if threading.current_thread() is not threading.main_thread():
        return False  # signal.signal() works only there: a later run on the main thread installs it
    _signal_pending = False
    if not _signals_wanted():
        return False
    import signal

    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False  # the program's handler (or SIG_IGN) stays
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter
        return False
    return True


def _on_sigterm(signum: int, frame: Any) -> None:
    """Complete the open runs and deliver on a thread of its own (a lock the interrupted code holds
    cannot hang the process: the wait is bounded), then die of the signal."""
    import signal

    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    finisher = threading.Thread(
        target=_finish_after_signal, args=(time.monotonic() + SIGNAL_TIMEOUT_SECONDS,), daemon=True
    )
    finisher.name = "waxell-sigterm-finalizer"
    finisher.start()
    finisher.join(SIGNAL_TIMEOUT_SECONDS)
    if finisher.is_alive():
        logger.warning(
            "waxell-observe: SIGTERM: delivery not done in %.0f s; ending anyway", SIGNAL_TIMEOUT_SECONDS
        )
    signal.pthread_kill(threading.get_ident(), signum)  # to this thread: delivered before the call returns
    os._exit(128 + signum)  # only if the program blocked the signal in this thread


def _finish_after_signal(deadline: float) -> None:
    from waxell_observe import lifecycle, plugins

    try:
        count = _finish_open_runs(SIGTERM_ERROR, gates_until=time.monotonic() + _GATES_SECONDS)
        if count:
            logger.warning("waxell-observe: SIGTERM: %d open run(s) completed as interrupted", count)
        if plugins._pm is not None:
            budget = min(lifecycle.EXIT_TIMEOUT_SECONDS, deadline - time.monotonic() - 0.25)
            lifecycle.shutdown(timeout=max(budget, 0.1))
    except Exception:  # noqa: BLE001 - never fail the process's end
        logger.exception("waxell-observe: completing the runs after SIGTERM failed")


def _forget_after_fork() -> None:
    """A forked child has no open run of its own (the parent completes its runs)."""
    _open.clear()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
