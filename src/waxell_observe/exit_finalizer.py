"""Runs still open when the interpreter exits are completed, not lost (reference SDK §2.2 item 8).

A context entered and never left — ``ctx.__enter__()`` without its exit, a ``with`` block in a daemon
thread still running at exit, ``sys.exit()`` from another thread — would otherwise leave its run
``running`` forever. At interpreter exit, before the exit drain delivers what is left, every run still
open is completed with status ``interrupted``, ``error_type`` ``Interrupted`` and an error saying why.
Registered as the built-in plugin ``exit_finalizer``. (A process killed by a signal it does not handle,
``SIGTERM`` included, runs no exit code at all: its journal is adopted by the next process.)
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import TYPE_CHECKING

import waxell_observe.lifecycle  # noqa: F401 - its exit drain is registered first, so this runs before it
from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = ["INTERRUPTED_ERROR", "INTERRUPTED_ERROR_TYPE"]

logger = logging.getLogger("waxell_observe")

INTERRUPTED_ERROR_TYPE = "Interrupted"
INTERRUPTED_ERROR = "the process exited while the run was open"

_lock = threading.Lock()
_open: dict[str, Run] = {}


@hookimpl
def on_run_start(run: Run) -> None:
    with _lock:
        _open[run.run_id] = run


@hookimpl
def on_run_end(run: Run) -> None:
    with _lock:
        _open.pop(run.run_id, None)


def _finish_open_runs() -> None:
    with _lock:
        left = list(_open.values())
    if not left:
        return  # nothing open: exit does not import the context machinery
    from waxell_observe.context.waxell_context import WaxellContext

    for run in left:
        if run.ended_at:
            continue  # ended on another thread meanwhile
        run.status = "interrupted"
        run.error_type = INTERRUPTED_ERROR_TYPE
        run.error = INTERRUPTED_ERROR
        try:
            WaxellContext._announce_end(run)  # on_run_end: the pipeline journals the end frame
        except Exception:  # noqa: BLE001 - never fail interpreter exit
            logger.exception("waxell-observe: could not complete run %s at exit", run.run_id)
    logger.warning("waxell-observe: %d run(s) still open at exit completed as interrupted", len(left))


def _forget_after_fork() -> None:
    """A forked child has no open run of its own (the parent completes its runs)."""
    global _lock
    _lock = threading.Lock()
    _open.clear()


atexit.register(_finish_open_runs)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
