"""Run lineage across processes through environment variables (reference SDK §2.2).

While a run is active, this process exports it for the processes it starts::

    WAXELL_PARENT_WORKFLOW_ID   the active run's id
    WAXELL_ROOT_WORKFLOW_ID     its root run's id (its own when it is a root)
    WAXELL_PARENT_SESSION_ID    its session id (when it has one)
    WAXELL_PARENT_USER_ID       its user id (when it has one)

A run opened with no enclosing context reads them: its parent and root run ids, and (when neither the
context nor a ``session()`` block gave them) its session and user come from there, so a child
process's runs hang under the run that started it. While this process has runs of its own active,
the values the variables had before its first run are read instead.

"The active run" is the one innermost run when the active runs form a single chain (a run and the
runs nested in it): a subprocess started inside a nested run names that run as its parent. With two
runs active side by side (threads, ``asyncio`` tasks) there is no one parent: the variables are
removed while that lasts. When the last run ends, the variables are put back as they were before
the first one started. Registered as the built-in plugin ``lineage`` (``WAXELL_DISABLE_PLUGINS=lineage``
turns the export off; reading stays on).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from waxell_observe.plugins import hookimpl

if TYPE_CHECKING:
    from waxell_observe.run import Run

__all__ = [
    "LINEAGE_VARIABLES",
    "PARENT_SESSION_ID",
    "PARENT_USER_ID",
    "PARENT_WORKFLOW_ID",
    "ROOT_WORKFLOW_ID",
    "inherit",
]

PARENT_WORKFLOW_ID = "WAXELL_PARENT_WORKFLOW_ID"
ROOT_WORKFLOW_ID = "WAXELL_ROOT_WORKFLOW_ID"
PARENT_SESSION_ID = "WAXELL_PARENT_SESSION_ID"
PARENT_USER_ID = "WAXELL_PARENT_USER_ID"
LINEAGE_VARIABLES = (PARENT_WORKFLOW_ID, ROOT_WORKFLOW_ID, PARENT_SESSION_ID, PARENT_USER_ID)

_lock = threading.Lock()
_active: dict[str, Run] = {}
"""Every run this process has active, by run id."""
_children: dict[str, int] = {}
"""run id -> how many of its child runs are active (only runs with at least one)."""
_leaves: dict[str, Run] = {}
"""The active runs with no active child run."""
_exported = ""
"""The run whose lineage the variables hold ("" when none or cleared)."""
_saved: dict[str, str | None] = {}
"""The variables as they were before the first active run."""


def inherit(run: Run) -> None:
    """Give a run opened outside any context the lineage a parent process exported. While this
    process has active runs the variables are its own: the values they had before are read."""
    if _active:
        with _lock:
            values = {name: _saved.get(name) or "" for name in LINEAGE_VARIABLES}
    else:
        environ = os.environ
        values = {name: environ.get(name, "") for name in LINEAGE_VARIABLES}
    parent = values[PARENT_WORKFLOW_ID]
    if parent and not run.parent_run_id:
        run.parent_run_id = parent
        run.root_run_id = values[ROOT_WORKFLOW_ID] or parent
    if not run.session_id:
        run.session_id = values[PARENT_SESSION_ID]
    if not run.user_id:
        run.user_id = values[PARENT_USER_ID]


@hookimpl
def on_run_start(run: Run) -> None:
    with _lock:
        if not _active:
            _saved.clear()
            _saved.update({name: os.environ.get(name) for name in LINEAGE_VARIABLES})
        _active[run.run_id] = run
        _leaves[run.run_id] = run
        parent = run.parent_run_id
        if parent in _active:
            _children[parent] = _children.get(parent, 0) + 1
            _leaves.pop(parent, None)
        _export()


@hookimpl
def on_run_end(run: Run) -> None:
    global _exported
    with _lock:
        if _active.pop(run.run_id, None) is None:
            return  # never started here (or already ended)
        _leaves.pop(run.run_id, None)
        _children.pop(run.run_id, None)
        parent = run.parent_run_id
        if parent in _children:
            _children[parent] -= 1
            if not _children[parent]:
                del _children[parent]
                _leaves[parent] = _active[parent]
        if not _active:
            _leaves.clear()
            _children.clear()
            _exported = ""
            for name, value in _saved.items():
                _set(name, value)
            _saved.clear()
            return
        _export()


def _export() -> None:
    """Point the variables at the one innermost active run, or remove them when there are several."""
    global _exported
    if len(_leaves) == 1:
        (run,) = _leaves.values()
        if run.run_id == _exported:
            return
        _exported = run.run_id
        _set(PARENT_WORKFLOW_ID, run.run_id)
        _set(ROOT_WORKFLOW_ID, run.root_run_id or run.run_id)
        _set(PARENT_SESSION_ID, run.session_id or None)
        _set(PARENT_USER_ID, run.user_id or None)
    elif _exported or any(name in os.environ for name in LINEAGE_VARIABLES):
        _exported = ""
        for name in LINEAGE_VARIABLES:
            _set(name, None)


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _forget_after_fork() -> None:
    """A forked child has no active run (its parent completes them); the variables it inherited
    name the parent's run, which is this process's parent lineage now."""
    global _lock, _exported
    _lock = threading.Lock()
    _active.clear()
    _children.clear()
    _leaves.clear()
    _saved.clear()
    _exported = ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
